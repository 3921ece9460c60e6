-- The web console (issue 10): sign-in sessions and one-time sign-in links. Both are kept as
-- SHA-256 digests of their secret, so any replica serves them and a copy of the database
-- holds no usable cookie or link.
CREATE TABLE console_sessions (
    digest        BLOB PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    -- The absolute end (7 days after sign-in); the idle end is last_seen_at + 8 hours.
    expires_at    BIGINT NOT NULL,
    -- Signed in with this API token: the session ends when the token is revoked or expires.
    token_id      TEXT REFERENCES api_tokens (id) ON DELETE CASCADE
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);

CREATE TABLE login_links (
    digest      BLOB PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX login_links_user ON login_links (user_id);
