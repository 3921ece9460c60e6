-- A compact audit log (issue 12: it grows by two events with every call). Who acted on which
-- credential of which org is written once, as an `audit_subjects` row, and each event names
-- it by a small integer: the four 36-character IDs and the name that every row repeated, and
-- the two indexes over them, were most of the log's bytes. The view `audit_events` shows the
-- events with the same columns as before, for readers (the API, the export, an operator's SQL).
-- Subjects hold '' rather than NULL, so that UNIQUE treats two absent values as equal.
-- Replicas still on the previous release may be writing events: hold them off until the
-- move is committed, so none lands in the old table after it was copied.
LOCK TABLE audit_events IN EXCLUSIVE MODE;

CREATE TABLE audit_subjects (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id              TEXT NOT NULL,
    credential_id       TEXT NOT NULL,
    actor_id            TEXT NOT NULL,
    actor_name          TEXT NOT NULL,
    credential_owner_id TEXT NOT NULL,
    UNIQUE (org_id, credential_id, actor_id, actor_name, credential_owner_id)
);
CREATE INDEX audit_subjects_credential ON audit_subjects (credential_id);

INSERT INTO audit_subjects (org_id, credential_id, actor_id, actor_name, credential_owner_id)
SELECT DISTINCT COALESCE(org_id, ''), COALESCE(credential_id, ''), COALESCE(actor_id, ''),
       COALESCE(actor_name, ''), COALESCE(credential_owner_id, '')
FROM audit_events;

-- No foreign key to audit_subjects: subjects are never removed, and the check would take a
-- share lock on a hot subject row for every event.
CREATE TABLE audit_entries (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    subject_id BIGINT NOT NULL,
    action     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT
);

-- The same IDs, so an export's cursor still points at the right event, and no ID is reused.
INSERT INTO audit_entries (id, at, subject_id, action, outcome, detail) OVERRIDING SYSTEM VALUE
SELECT e.id, e.at, s.id, e.action, e.outcome, e.detail
FROM audit_events e JOIN audit_subjects s
  ON s.org_id = COALESCE(e.org_id, '') AND s.credential_id = COALESCE(e.credential_id, '')
 AND s.actor_id = COALESCE(e.actor_id, '') AND s.actor_name = COALESCE(e.actor_name, '')
 AND s.credential_owner_id = COALESCE(e.credential_owner_id, '')
ORDER BY e.id;
SELECT setval(pg_get_serial_sequence('audit_entries', 'id'), last_value, is_called)
FROM audit_events_id_seq;

DROP TABLE audit_events;
CREATE INDEX audit_entries_subject ON audit_entries (subject_id, id);

-- The same rule as before (0008's function), now on the table that holds the events.
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE FUNCTION audit_subjects_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_subjects is append-only';
END;
$$;
CREATE TRIGGER audit_subjects_append_only BEFORE UPDATE OR DELETE ON audit_subjects
    FOR EACH ROW EXECUTE FUNCTION audit_subjects_append_only();

CREATE VIEW audit_events AS
SELECT e.id, e.at, NULLIF(s.org_id, '') AS org_id, NULLIF(s.actor_id, '') AS actor_id,
       NULLIF(s.actor_name, '') AS actor_name, e.action,
       NULLIF(s.credential_id, '') AS credential_id,
       NULLIF(s.credential_owner_id, '') AS credential_owner_id, e.outcome, e.detail
FROM audit_entries e JOIN audit_subjects s ON s.id = e.subject_id;
