-- Gold references of image items (issue 8): the reference shapes, label maps
-- and per-frame answers (clinlabel_domain::imaging::ImageAnnotation, JSON)
-- a tasker's submission is scored against, beside the reference answers.
ALTER TABLE gold_answers ADD COLUMN image TEXT;
