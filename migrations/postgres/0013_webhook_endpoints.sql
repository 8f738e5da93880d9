-- Event webhooks (issue 13): a tenant's endpoints receive its events,
-- signed the Standard Webhooks way.
--
-- `secrets_enc` is sealed with the tenant's data key (Keyring,
-- Purpose::WebhookSecret): the current signing secret and, for 24 h after a
-- rotation, the previous one. `cursor` is the last event number fanned out
-- to this endpoint: the dispatcher moves it with a conditional UPDATE in
-- the transaction that enqueues the deliveries, so each event is enqueued
-- once per endpoint whatever the number of replicas. `failing_since` is
-- when the current run of failed attempts began (NULL while healthy).
CREATE TABLE webhook_endpoints (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    url            TEXT NOT NULL,
    types          TEXT NOT NULL,
    secrets_enc    BYTEA NOT NULL,
    status         TEXT NOT NULL,
    cursor         BIGINT NOT NULL,
    failing_since  BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, id);
-- The dispatcher's scan: active endpoints only.
CREATE INDEX webhook_endpoints_active ON webhook_endpoints (status, tenant_id);

-- One row per attempt to POST an event to an endpoint (newest first by id).
CREATE TABLE webhook_deliveries (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    endpoint_id   TEXT NOT NULL,
    event_seq     BIGINT NOT NULL,
    attempt       BIGINT NOT NULL,
    status_code   BIGINT,
    error         TEXT,
    started_at    BIGINT NOT NULL,
    finished_at   BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, id);
-- An event's attempts at an endpoint (numbering them, the first one's time).
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (tenant_id, endpoint_id, event_seq);
