-- A compact audit log (issue 12: it grows by two events with every call). Who acted on which
-- credential of which org is written once, as an `audit_subjects` row, and each event names
-- it by a small integer: the four 36-character IDs and the name that every row repeated, and
-- the two indexes over them, were most of the log's bytes. The view `audit_events` shows the
-- events with the same columns as before, for readers (the API, the export, an operator's SQL).
-- Subjects hold '' rather than NULL, so that UNIQUE treats two absent values as equal.
CREATE TABLE audit_subjects (
    id                  INTEGER PRIMARY KEY,
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

-- No foreign key to audit_subjects: subjects are never removed, and on PostgreSQL the check
-- would take a share lock on a hot subject row for every event.
CREATE TABLE audit_entries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    subject_id INTEGER NOT NULL,
    action     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT
);

-- The same IDs, so an export's cursor still points at the right event, and no ID is reused.
INSERT INTO audit_entries (id, at, subject_id, action, outcome, detail)
SELECT e.id, e.at, s.id, e.action, e.outcome, e.detail
FROM audit_events e JOIN audit_subjects s
  ON s.org_id = COALESCE(e.org_id, '') AND s.credential_id = COALESCE(e.credential_id, '')
 AND s.actor_id = COALESCE(e.actor_id, '') AND s.actor_name = COALESCE(e.actor_name, '')
 AND s.credential_owner_id = COALESCE(e.credential_owner_id, '')
ORDER BY e.id;
DELETE FROM sqlite_sequence WHERE name = 'audit_entries';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'audit_entries', seq FROM sqlite_sequence WHERE name = 'audit_events';

DROP TABLE audit_events;
CREATE INDEX audit_entries_subject ON audit_entries (subject_id, id);

CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
WHEN (SELECT keep_ms FROM audit_retention WHERE id = 1) IS NULL
  OR OLD.at >= CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)
               - (SELECT keep_ms FROM audit_retention WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: only events past the retention period may be removed'); END;
CREATE TRIGGER audit_subjects_no_update BEFORE UPDATE ON audit_subjects
BEGIN SELECT RAISE(ABORT, 'audit_subjects is append-only'); END;
CREATE TRIGGER audit_subjects_no_delete BEFORE DELETE ON audit_subjects
BEGIN SELECT RAISE(ABORT, 'audit_subjects is append-only'); END;

CREATE VIEW audit_events AS
SELECT e.id, e.at, NULLIF(s.org_id, '') AS org_id, NULLIF(s.actor_id, '') AS actor_id,
       NULLIF(s.actor_name, '') AS actor_name, e.action,
       NULLIF(s.credential_id, '') AS credential_id,
       NULLIF(s.credential_owner_id, '') AS credential_owner_id, e.outcome, e.detail
FROM audit_entries e JOIN audit_subjects s ON s.id = e.subject_id;
