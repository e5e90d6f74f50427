-- Uploads (issue 4): which files each upload produced or found already
-- stored, a claim while an upload is being processed, and its outcome.

ALTER TABLE uploads ADD COLUMN processing_at BIGINT;
-- JSON counts once complete: files, accepted, rejected, duplicates, items.
ALTER TABLE uploads ADD COLUMN summary TEXT;

CREATE TABLE upload_files (
    upload_id  TEXT NOT NULL REFERENCES uploads (id),
    file_id    TEXT NOT NULL REFERENCES files (id),
    -- 1 when the file was already stored (same SHA-256 in the project).
    duplicate  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (upload_id, file_id)
);
CREATE INDEX upload_files_by_file ON upload_files (file_id);
