-- Authorization requests in flight are kept per credential (at most 16 each) and removed with
-- their credential: without this, both read every credential's rows.
CREATE INDEX oauth_states_credential ON oauth_states (credential_id, created_at);
