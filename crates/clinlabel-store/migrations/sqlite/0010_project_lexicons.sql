-- A project's lexicon (issue 7): the PM's term list for the dictionary
-- matcher (`term<TAB>label[<TAB>system:code[<TAB>display]]`), stored as an
-- encrypted blob under the project's data key. One per project; a new one
-- replaces it, with a new id (the server's matcher cache is keyed by it).
CREATE TABLE project_lexicons (
    project_id   TEXT PRIMARY KEY REFERENCES projects (id),
    id           TEXT NOT NULL,
    blob_id      TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size         BIGINT NOT NULL,
    terms        BIGINT NOT NULL,
    -- JSON object: terms per entity type.
    labels       TEXT NOT NULL,
    uploaded_by  TEXT NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL
);
