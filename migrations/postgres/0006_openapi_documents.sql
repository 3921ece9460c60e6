-- OpenAPI documents kept for an org (issue 11), so its members set up several web services
-- from one upload. One row per distinct document in an org (by SHA-256 of its bytes).
CREATE TABLE openapi_documents (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    digest      TEXT NOT NULL,
    title       TEXT,
    body        BYTEA NOT NULL,
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (org_id, digest)
);
