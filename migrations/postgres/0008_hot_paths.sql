-- Batched statements (group commit) carry their rows as one JSON array
-- parameter. jsonb_array_elements tells the planner it returns 100 rows,
-- which on small or fresh tables turns every batched lookup into a hash
-- join over a sequential scan; this wrapper says what a batch is (a few
-- rows), so lookups use the unique indexes. Not inlined: ROWS must hold.
-- jsonb, so an element is parsed once rather than once per field read.
CREATE FUNCTION batch_rows(rows text) RETURNS SETOF jsonb
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE ROWS 16
    AS $$ SELECT jsonb_array_elements(rows::jsonb) $$;

-- The fair job claim walks the tenants that have pending jobs one index
-- step at a time, then reads each one's oldest few jobs in order: its cost
-- follows the tenants with work, not the length of the queue.
CREATE INDEX outbox_tenant_due ON outbox (status, tenant_id, next_attempt_at);
