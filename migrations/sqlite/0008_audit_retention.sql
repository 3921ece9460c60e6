-- Audit retention (issue 12): events older than the configured period may be removed, in
-- small batches, by one replica at a time. One row: the period the database enforces
-- (`keep_ms`, NULL: keep forever; at least a day) and the pruning lease. The append-only trigger now lets
-- only events past that period go, judged by the database's clock.
CREATE TABLE audit_retention (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    keep_ms      BIGINT CHECK (keep_ms IS NULL OR keep_ms >= 86400000),
    pruner       TEXT,
    pruner_until BIGINT
);
INSERT INTO audit_retention (id, keep_ms) VALUES (1, NULL);

DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN (SELECT keep_ms FROM audit_retention WHERE id = 1) IS NULL
  OR OLD.at >= CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)
               - (SELECT keep_ms FROM audit_retention WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: only events past the retention period may be removed'); END;
