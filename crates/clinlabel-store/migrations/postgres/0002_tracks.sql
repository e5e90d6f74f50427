-- Specialist tracks and the certifications that tie taskers to them.

CREATE TABLE tracks (
    id                  TEXT PRIMARY KEY,
    slug                TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL,
    -- A tasker whose rolling gold accuracy falls under this is suspended.
    accuracy_threshold  DOUBLE PRECISION NOT NULL,
    active              BIGINT NOT NULL DEFAULT 1,
    created_at          BIGINT NOT NULL
);
CREATE INDEX tracks_by_name ON tracks (name, id);

CREATE TABLE certifications (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    track_id    TEXT NOT NULL REFERENCES tracks (id),
    -- 'active' or 'suspended'; 'expired' is derived from expires_at.
    status      TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    score       DOUBLE PRECISION,
    reason      TEXT,
    updated_at  BIGINT NOT NULL,
    UNIQUE (user_id, track_id)
);
CREATE INDEX certifications_by_track ON certifications (track_id, status, expires_at);
CREATE INDEX certifications_by_user ON certifications (user_id);
