-- Users, credentials, collaborator grants and experiment runs.
-- Everything else the platform knows lives in git and in the triple store.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    email         text NOT NULL,
    password_hash text NOT NULL,
    roles         text[] NOT NULL DEFAULT '{}' CHECK (roles <@ ARRAY['admin', 'moderator']::text[]),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    name        text NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE sessions (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE collaborators (
    entity_uri  text NOT NULL,
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_uri, user_id)
);
CREATE INDEX collaborators_user ON collaborators (user_id);

CREATE TABLE runs (
    id                   uuid PRIMARY KEY,
    experiment_uri       text NOT NULL,
    model_version_uri    text NOT NULL,
    protocol_version_uri text NOT NULL,
    status               text NOT NULL DEFAULT 'QUEUED'
        CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCESS', 'PARTIAL', 'FAILED', 'INAPPLICABLE', 'CANCELLED')),
    queue                text NOT NULL DEFAULT 'bulk' CHECK (queue IN ('interactive', 'bulk')),
    attempts             integer NOT NULL DEFAULT 0,
    progress_done        integer NOT NULL DEFAULT 0,
    progress_total       integer NOT NULL DEFAULT 0,
    queued_at            timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    finished_at          timestamptz,
    worker               text,
    error                text,
    archive_path         text,
    created_by           bigint REFERENCES users ON DELETE SET NULL
);
CREATE INDEX runs_experiment ON runs (experiment_uri, queued_at DESC);
CREATE INDEX runs_status ON runs (status);
