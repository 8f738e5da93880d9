-- The fair job claim walks the tenants that have pending jobs one index
-- step at a time, then reads each one's oldest few jobs in order: its cost
-- follows the tenants with work, not the length of the queue.
CREATE INDEX outbox_tenant_due ON outbox (status, tenant_id, next_attempt_at);
