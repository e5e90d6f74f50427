-- Lifecycle steps 3, 5, 6: batches, gold items, tasks and leases, annotations,
-- reviews in three tiers, gold results and notifications.

ALTER TABLE projects ADD COLUMN qa_seed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN batch_id TEXT;
ALTER TABLE items ADD COLUMN gold BIGINT NOT NULL DEFAULT 0;
CREATE INDEX items_by_batch ON items (batch_id, seq);

CREATE TABLE gold_answers (
    item_id     TEXT PRIMARY KEY REFERENCES items (id),
    project_id  TEXT NOT NULL REFERENCES projects (id),
    answer      TEXT NOT NULL,
    created_by  TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL
);
CREATE INDEX gold_answers_by_project ON gold_answers (project_id);

CREATE TABLE batches (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL REFERENCES projects (id),
    seq               BIGINT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('annotating', 'spot_check', 'awaiting_approval', 'approved')),
    spot_check_seed   BIGINT,
    spot_check_items  TEXT,
    decided_by        TEXT REFERENCES users (id),
    decided_at        BIGINT,
    created_at        BIGINT NOT NULL,
    UNIQUE (project_id, seq)
);
CREATE INDEX batches_by_state ON batches (state, project_id);

CREATE TABLE tasks (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL REFERENCES projects (id),
    track_id          TEXT NOT NULL,
    item_id           TEXT NOT NULL REFERENCES items (id),
    -- annotate: a fresh annotation; review: tier 1, 2 or 3 of one annotation;
    -- rework: the author revises a returned annotation.
    kind              TEXT NOT NULL CHECK (kind IN ('annotate', 'review', 'rework')),
    tier              BIGINT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('queued', 'leased', 'done', 'cancelled')),
    assignee_id       TEXT,
    -- Reviews: the annotation's author, who never reviews it.
    excluded_id       TEXT,
    annotation_id     TEXT,
    lease_expires_at  BIGINT,
    deadline          BIGINT NOT NULL,
    priority          BIGINT NOT NULL,
    gold              BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
-- The queue in the order work is handed out: the pick walks this index and
-- stops at the first task the person may take.
CREATE INDEX tasks_queue ON tasks (kind, state, tier, deadline, priority, id);
CREATE INDEX tasks_by_item ON tasks (item_id, kind, assignee_id);
CREATE INDEX tasks_by_assignee ON tasks (assignee_id, state, kind);
CREATE INDEX tasks_leases ON tasks (state, lease_expires_at);
CREATE INDEX tasks_by_annotation ON tasks (annotation_id);
-- One person, one annotation of an item: never the same item twice.
CREATE UNIQUE INDEX tasks_one_annotation_per_person ON tasks (item_id, assignee_id)
    WHERE kind = 'annotate' AND state IN ('leased', 'done');

CREATE TABLE task_skips (
    item_id  TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    task_id  TEXT NOT NULL,
    reason   TEXT NOT NULL,
    at       BIGINT NOT NULL,
    PRIMARY KEY (item_id, user_id)
);

CREATE TABLE annotations (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id),
    item_id     TEXT NOT NULL REFERENCES items (id),
    task_id     TEXT NOT NULL,
    author_id   TEXT NOT NULL REFERENCES users (id),
    round       BIGINT NOT NULL,
    body        TEXT NOT NULL,
    stage       TEXT NOT NULL CHECK (stage IN ('tier1', 'tier2', 'rework', 'accepted')),
    tier2       BIGINT NOT NULL,
    gold        BIGINT NOT NULL,
    score       DOUBLE PRECISION,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX annotations_by_item ON annotations (item_id, author_id);
CREATE INDEX annotations_by_project ON annotations (project_id, stage);
CREATE INDEX annotations_by_author ON annotations (author_id, stage);

CREATE TABLE reviews (
    id             TEXT PRIMARY KEY,
    annotation_id  TEXT NOT NULL REFERENCES annotations (id),
    task_id        TEXT NOT NULL,
    tier           BIGINT NOT NULL,
    round          BIGINT NOT NULL,
    reviewer_id    TEXT NOT NULL REFERENCES users (id),
    decision       TEXT NOT NULL CHECK (decision IN ('accept', 'reject')),
    comments       TEXT NOT NULL,
    overall        TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX reviews_by_annotation ON reviews (annotation_id, created_at);

CREATE TABLE gold_results (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    track_id    TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    score       DOUBLE PRECISION NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX gold_results_by_user ON gold_results (user_id, track_id, at);
CREATE INDEX gold_results_by_project ON gold_results (project_id, user_id);

CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    read_at     BIGINT
);
CREATE INDEX notifications_by_user ON notifications (user_id, created_at);
