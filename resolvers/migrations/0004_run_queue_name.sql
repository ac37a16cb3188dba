-- The arq queue a run belongs to (WEBLAB_QUEUE_NAME), so that recovery in one deployment never queues the
-- runs of another that shares the database. Rows from before this column (NULL) belong to whichever
-- deployment recovers them, as they did.
ALTER TABLE runs ADD COLUMN queue_name text;
CREATE INDEX runs_queue_status ON runs (queue_name, status);
