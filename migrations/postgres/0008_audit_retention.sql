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

CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keep BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        SELECT keep_ms INTO keep FROM audit_retention WHERE id = 1;
        IF keep IS NOT NULL
           AND OLD.at < CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) - keep THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: only events past the retention period may be removed';
END;
$$;
