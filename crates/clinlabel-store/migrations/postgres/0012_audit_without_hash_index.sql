-- An audit event's hash is random, so its index took a leaf page anywhere in
-- the index for every event appended: on the routing hot path (two events per
-- assignment) the largest share of the pages a commit writes. Only the chain
-- check read it, to classify a break it found (where the predecessor a row
-- names went); that lookup now scans, on a trail already known broken.
DROP INDEX audit_by_hash;
