-- Lifecycle steps 1–2: agreements, projects, quotes, the rate card, uploads,
-- files and dataset items.

ALTER TABLE tracks ADD COLUMN rate_multiplier DOUBLE PRECISION NOT NULL DEFAULT 1.0;

CREATE TABLE agreement_versions (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('nda', 'dpa')),
    version       BIGINT NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    body_sha256   TEXT NOT NULL,
    published_at  BIGINT NOT NULL,
    published_by  TEXT NOT NULL REFERENCES users (id),
    UNIQUE (kind, version)
);

CREATE TABLE agreement_signatures (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organisations (id),
    agreement_id  TEXT NOT NULL REFERENCES agreement_versions (id),
    signer_id     TEXT NOT NULL REFERENCES users (id),
    signer_name   TEXT NOT NULL,
    signed_at     BIGINT NOT NULL,
    ip            TEXT NOT NULL,
    body_sha256   TEXT NOT NULL,
    UNIQUE (org_id, agreement_id)
);
CREATE INDEX agreement_signatures_by_org ON agreement_signatures (org_id, signed_at);

CREATE TABLE rate_card (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    card        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE projects (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organisations (id),
    name               TEXT NOT NULL,
    modality           TEXT NOT NULL,
    state              TEXT NOT NULL,
    -- The specification as JSON, without the guidelines.
    spec               TEXT NOT NULL,
    spec_version       BIGINT NOT NULL,
    -- Guidelines (Markdown), encrypted under the project's data key.
    guidelines         BYTEA NOT NULL,
    track_id           TEXT NOT NULL REFERENCES tracks (id),
    deadline           BIGINT NOT NULL,
    created_by         TEXT NOT NULL REFERENCES users (id),
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX projects_by_org ON projects (org_id, updated_at, id);
CREATE INDEX projects_by_state ON projects (state, updated_at, id);

CREATE TABLE quotes (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects (id),
    spec_version    BIGINT NOT NULL,
    pricing         TEXT NOT NULL,
    total_cents     BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('proposed', 'approved', 'rejected', 'superseded')),
    created_by      TEXT NOT NULL REFERENCES users (id),
    created_at      BIGINT NOT NULL,
    decided_by      TEXT REFERENCES users (id),
    decided_at      BIGINT,
    client_comment  TEXT
);
CREATE INDEX quotes_by_project ON quotes (project_id, created_at);

CREATE TABLE uploads (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects (id),
    name             TEXT NOT NULL,
    size             BIGINT NOT NULL,
    received         BIGINT NOT NULL,
    parts            BIGINT NOT NULL,
    declared_sha256  TEXT,
    purpose          TEXT NOT NULL CHECK (purpose IN ('data', 'guideline')),
    state            TEXT NOT NULL CHECK (state IN ('open', 'complete', 'failed')),
    file_id          TEXT,
    error            TEXT,
    created_by       TEXT NOT NULL REFERENCES users (id),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX uploads_by_project ON uploads (project_id, created_at);

CREATE TABLE upload_parts (
    upload_id  TEXT NOT NULL REFERENCES uploads (id),
    idx        BIGINT NOT NULL,
    blob_id    TEXT NOT NULL,
    size       BIGINT NOT NULL,
    PRIMARY KEY (upload_id, idx)
);

CREATE TABLE files (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id),
    -- Where the file came from: its own name, or `archive.zip/inner/path`.
    name         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size         BIGINT NOT NULL,
    blob_id      TEXT NOT NULL,
    media_type   TEXT NOT NULL,
    -- 'data' becomes items; 'guideline' is an attachment to the guidelines.
    purpose      TEXT NOT NULL CHECK (purpose IN ('data', 'guideline')),
    status       TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    reason       TEXT,
    items        BIGINT NOT NULL,
    uploaded_by  TEXT NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    UNIQUE (project_id, sha256)
);
CREATE INDEX files_by_project ON files (project_id, created_at, id);

CREATE TABLE items (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id),
    file_id     TEXT NOT NULL REFERENCES files (id),
    seq         BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    -- Byte range of the item inside its file's plaintext.
    byte_start  BIGINT NOT NULL,
    byte_end    BIGINT NOT NULL,
    meta        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX items_by_project ON items (project_id, seq);
CREATE INDEX items_by_file ON items (file_id, seq);
