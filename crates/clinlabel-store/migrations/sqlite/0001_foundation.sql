-- Foundation: organisations, users, sessions, API tokens, sign-in throttling,
-- one-time setup tokens, wrapped data keys and the audit trail.
-- Portable habits (see FINDINGS.md): TEXT ids made by the application, BIGINT
-- epoch-millisecond times, BIGINT 0/1 flags, TEXT JSON.

CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('client', 'provider')),
    created_at  BIGINT NOT NULL
);
CREATE INDEX organisations_by_name ON organisations (name, id);

CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES organisations (id),
    email                TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL,
    role                 TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    disabled             BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    password_changed_at  BIGINT NOT NULL
);
CREATE INDEX users_by_org ON users (org_id, created_at, id);
CREATE INDEX users_by_created ON users (created_at, id);

CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    expires_at    BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, created_at);

CREATE TABLE login_failures (
    throttle_key  TEXT NOT NULL,
    at            BIGINT NOT NULL
);
CREATE INDEX login_failures_by_key ON login_failures (throttle_key, at);

CREATE TABLE setup_tokens (
    token_hash  TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE TABLE data_keys (
    scope          TEXT PRIMARY KEY,
    master_key_id  TEXT NOT NULL,
    wrapped        BLOB NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE audit_head (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_events (
    seq          BIGINT PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor_id     TEXT,
    org_id       TEXT,
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    details      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_by_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_by_action ON audit_events (action, seq);
CREATE INDEX audit_by_target ON audit_events (target_type, target_id, seq);
CREATE INDEX audit_by_org ON audit_events (org_id, seq);
CREATE INDEX audit_by_time ON audit_events (at);
CREATE INDEX audit_by_hash ON audit_events (hash);

-- Append-only: the trail can be added to, never changed.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
