-- Tenant platform: plan limits, retention, named API keys with last use,
-- idempotent proactive sends.

-- NULL limits mean the platform default (unlimited unless configured).
ALTER TABLE tenants ADD COLUMN monthly_message_limit BIGINT;
ALTER TABLE tenants ADD COLUMN api_rate_limit_rps INTEGER;
ALTER TABLE tenants ADD COLUMN retention_days INTEGER;
-- Set once automated replies paused for the month, so it is recorded once.
ALTER TABLE tenants ADD COLUMN replies_paused_period TEXT;

ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT 'default';
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;

-- An Idempotency-Key answers with the original result for the same body.
CREATE TABLE idempotency_keys (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    response      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE INDEX messages_retention ON messages (tenant_id, created_at);
CREATE INDEX messages_contact ON messages (tenant_id, contact_id);
