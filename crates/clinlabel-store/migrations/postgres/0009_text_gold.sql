-- Gold references of notes (issue 7): the reference spans, relations and
-- sentence answers (clinlabel_text::annotation::TextAnnotation, JSON) a
-- tasker's submission is scored against (clinlabel_text::qa::gold_score).
ALTER TABLE gold_answers ADD COLUMN text TEXT;
