-- Hardening (issue 8): a web service whose credential was removed by force keeps a marker and
-- refuses to run until a credential is bound again, so it never goes out unsigned.
ALTER TABLE web_services ADD COLUMN credential_removed BOOLEAN NOT NULL DEFAULT FALSE;
