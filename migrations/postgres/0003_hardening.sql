-- Hardening (issue 8): a web service whose credential was removed by force keeps a marker and
-- refuses to run until a credential is bound again, so it never goes out unsigned.
ALTER TABLE web_services ADD COLUMN credential_removed BOOLEAN NOT NULL DEFAULT FALSE;

-- API tokens have a life: an expiry (default 90 days), revocation, and when they were last
-- used (approximately: written when a replica reads the token, at most once per cache period).
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN revoked_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
-- People leave: a disabled user's tokens stop working at once.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
