-- Keyway schema, SQLite flavour. Times are Unix milliseconds; IDs are text.
-- Kept column-for-column in step with ../postgres/0001_init.sql: the store runs one set of queries on both.

CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('member', 'admin')),
    created_at  INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

-- Bearer tokens: only a SHA-256 digest of the secret part is kept.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest      BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE credentials (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs (id),
    owner_id         TEXT NOT NULL REFERENCES users (id),
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    shared           BOOLEAN NOT NULL,
    status           TEXT NOT NULL,
    allowed_hosts    TEXT NOT NULL,   -- JSON array of host patterns
    settings         TEXT NOT NULL,   -- JSON, kind-specific and never secret
    mtls             TEXT,            -- JSON: certificate chain, CA, summary; never the key
    token_expires_at INTEGER,
    secret_version   INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (owner_id, name)
);
CREATE INDEX credentials_org ON credentials (org_id);

-- One sealed value per credential and field; key_id names the master key wrapping the data key.
CREATE TABLE credential_secrets (
    credential_id TEXT NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    field         TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    wrapped_key   BLOB NOT NULL,
    ciphertext    BLOB NOT NULL,
    PRIMARY KEY (credential_id, field)
);
CREATE INDEX credential_secrets_key ON credential_secrets (key_id);

-- Saved request definitions; filled in by the dispatcher. Here so credential removal can see its users:
-- RESTRICT makes the database itself refuse to remove a credential still in use, on every replica.
CREATE TABLE web_services (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs (id),
    owner_id      TEXT NOT NULL REFERENCES users (id),
    name          TEXT NOT NULL,
    credential_id TEXT REFERENCES credentials (id) ON DELETE RESTRICT,
    request       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX web_services_credential ON web_services (credential_id);

-- Master keys seen by this database: a check value proves a configured key is the same key,
-- and passphrase keys keep their Argon2id salt and parameters here.
CREATE TABLE vault_keys (
    key_id           TEXT PRIMARY KEY,
    check_wrapped    BLOB NOT NULL,
    check_ciphertext BLOB NOT NULL,
    kdf_params       TEXT,
    created_at       INTEGER NOT NULL
);

-- Append-only. The id gives the one order all replicas agree on.
CREATE TABLE audit_events (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    at                  INTEGER NOT NULL,
    org_id              TEXT,
    actor_id            TEXT,
    actor_name          TEXT,
    action              TEXT NOT NULL,
    credential_id       TEXT,
    credential_owner_id TEXT,
    outcome             TEXT NOT NULL,
    detail              TEXT
);
CREATE INDEX audit_events_org ON audit_events (org_id, id);
CREATE INDEX audit_events_credential ON audit_events (credential_id, id);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
