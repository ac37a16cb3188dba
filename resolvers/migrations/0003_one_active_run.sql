-- At most one queued or running run per experiment: two users clicking "run" at once get the same run.
CREATE UNIQUE INDEX runs_one_active ON runs (experiment_uri) WHERE status IN ('QUEUED', 'RUNNING');
