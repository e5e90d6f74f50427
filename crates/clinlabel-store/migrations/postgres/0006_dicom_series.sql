-- DICOM at ingest (issues 4 and 8): every accepted DICOM file is
-- de-identified before it is stored (its files row then holds the
-- de-identified blob; the original is not kept), and the instances of one
-- series — whatever upload brought them — make one item.

-- One row per series of a project, created with its item. The primary key
-- is what makes two concurrent uploads of one new series share one item.
CREATE TABLE dicom_series (
    project_id   TEXT NOT NULL REFERENCES projects (id),
    -- De-identified Series Instance UID.
    series_uid   TEXT NOT NULL,
    -- The series' item (inserted in the same transaction, just after).
    item_id      TEXT NOT NULL,
    study_uid    TEXT NOT NULL,
    modality     TEXT,
    instances    BIGINT NOT NULL,
    frames       BIGINT NOT NULL,
    -- Instances whose pixels may carry burned-in text (flagged for the PM).
    burned_in    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (project_id, series_uid)
);
CREATE UNIQUE INDEX dicom_series_by_item ON dicom_series (item_id);

CREATE TABLE dicom_instances (
    file_id      TEXT PRIMARY KEY REFERENCES files (id),
    project_id   TEXT NOT NULL REFERENCES projects (id),
    item_id      TEXT NOT NULL REFERENCES items (id),
    -- De-identified SOP Instance UID.
    sop_uid      TEXT,
    frames       BIGINT NOT NULL,
    -- clinlabel_dicom::ImageMeta of the de-identified instance (JSON): the
    -- geometry the series is ordered by and the frame service describes.
    meta         TEXT NOT NULL,
    -- The de-identification report (JSON): every action, counts, flags.
    deid_report  TEXT NOT NULL,
    burned_in    TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX dicom_instances_by_item ON dicom_instances (item_id, created_at);
