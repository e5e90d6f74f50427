-- Lifecycle step 7: certified deliveries with versions, their files (blobs),
-- the signed manifest and QA certification; the data room's links (tokens
-- stored hashed), per-project download rights of client members, and the
-- log of downloads (each also an audit event).

-- The export pages through a project's items by id.
CREATE INDEX items_by_project_id ON items (project_id, id);

CREATE TABLE deliveries (
    id                 TEXT PRIMARY KEY,
    project_id         TEXT NOT NULL REFERENCES projects (id),
    version            BIGINT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('building', 'built', 'certified', 'failed')),
    error              TEXT,
    -- The canonical manifest.json bytes (UTF-8 JSON), its SHA-256 and the
    -- service's Ed25519 signature of them (hex).
    manifest           TEXT,
    manifest_sha256    TEXT,
    manifest_sig       TEXT,
    -- The QA certification's canonical bytes and signature (hex).
    certification      TEXT,
    certification_sig  TEXT,
    -- The completion report as JSON (what the web pages show).
    report             TEXT,
    items              BIGINT NOT NULL DEFAULT 0,
    annotations        BIGINT NOT NULL DEFAULT 0,
    built_by           TEXT NOT NULL REFERENCES users (id),
    created_at         BIGINT NOT NULL,
    built_at           BIGINT,
    certified_by       TEXT REFERENCES users (id),
    certified_at       BIGINT,
    UNIQUE (project_id, version)
);
CREATE INDEX deliveries_by_state ON deliveries (state, created_at);

CREATE TABLE delivery_files (
    id           TEXT PRIMARY KEY,
    delivery_id  TEXT NOT NULL REFERENCES deliveries (id),
    seq          BIGINT NOT NULL,
    path         TEXT NOT NULL,
    role         TEXT NOT NULL,
    format       TEXT,
    media_type   TEXT NOT NULL,
    blob_id      TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    crc32        BIGINT NOT NULL,
    UNIQUE (delivery_id, path)
);
CREATE INDEX delivery_files_by_delivery ON delivery_files (delivery_id, seq);

CREATE TABLE data_room_links (
    id           TEXT PRIMARY KEY,
    delivery_id  TEXT NOT NULL REFERENCES deliveries (id),
    -- NULL: the whole delivery (zip and every file); else one file.
    file_id      TEXT REFERENCES delivery_files (id),
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    label        TEXT,
    created_by   TEXT NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    revoked_by   TEXT REFERENCES users (id)
);
CREATE INDEX data_room_links_by_delivery ON data_room_links (delivery_id, created_at);

CREATE TABLE data_room_downloaders (
    project_id  TEXT NOT NULL REFERENCES projects (id),
    user_id     TEXT NOT NULL REFERENCES users (id),
    granted_by  TEXT NOT NULL REFERENCES users (id),
    granted_at  BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE delivery_downloads (
    id           TEXT PRIMARY KEY,
    delivery_id  TEXT NOT NULL REFERENCES deliveries (id),
    link_id      TEXT NOT NULL REFERENCES data_room_links (id),
    file_id      TEXT,
    user_id      TEXT NOT NULL REFERENCES users (id),
    what         TEXT NOT NULL,
    range_start  BIGINT,
    range_end    BIGINT,
    at           BIGINT NOT NULL
);
CREATE INDEX delivery_downloads_by_delivery ON delivery_downloads (delivery_id, at);
