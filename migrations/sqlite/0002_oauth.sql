-- OAuth 2.0 client state that every replica must see.

-- One row per authorization request in flight: single use (deleted when the redirect comes
-- back), expiring, bound to the credential, the PKCE verifier (sealed) and the issuer the
-- request went to. Only a SHA-256 digest of the state is stored.
CREATE TABLE oauth_states (
    state_digest        TEXT PRIMARY KEY,
    credential_id       TEXT NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    issuer              TEXT NOT NULL,
    verifier_key_id     TEXT NOT NULL,
    verifier_wrapped    BLOB NOT NULL,
    verifier_ciphertext BLOB NOT NULL,
    created_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);

-- At most one token refresh per credential across all replicas: the holder extends the lease
-- while its refresh runs; a lease whose holder died expires and may be taken over.
CREATE TABLE oauth_leases (
    credential_id TEXT PRIMARY KEY REFERENCES credentials (id) ON DELETE CASCADE,
    holder        TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
