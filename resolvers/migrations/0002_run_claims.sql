-- Experiment runs: who holds a running run (claim), whether it is alive (heartbeat),
-- and why an incompatible pair was not run (missing terms).

ALTER TABLE runs ADD COLUMN claim text;
ALTER TABLE runs ADD COLUMN heartbeat_at timestamptz;
ALTER TABLE runs ADD COLUMN missing_terms text[] NOT NULL DEFAULT '{}';
CREATE INDEX runs_pair ON runs (model_version_uri, protocol_version_uri);
