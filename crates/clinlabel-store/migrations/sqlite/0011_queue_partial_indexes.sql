-- The queue and the lease index hold only the tasks they are for: a queued
-- task leaves `tasks_queue` when it is leased, and a finished one was never
-- in it again, so handing out and finishing a task move fewer index entries.
DROP INDEX tasks_queue;
CREATE INDEX tasks_queue ON tasks (kind, tier, deadline, priority, id) WHERE state = 'queued';
DROP INDEX tasks_leases;
CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE state = 'leased';
