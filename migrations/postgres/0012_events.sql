-- Live events (issue 13): one durable, ordered stream per tenant.
--
-- `event_sequences` holds each tenant's last event number. A transaction
-- that writes events takes its next numbers from it as its last statement,
-- which locks the tenant's row until commit: so a tenant's events commit
-- in the order of their numbers, and a reader that has seen number n has
-- seen every event before it (no gap at a cursor, whatever the
-- concurrency). `data` is sealed under the tenant's data key like message
-- content.
CREATE TABLE event_sequences (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants(id),
    seq        BIGINT NOT NULL
);

CREATE TABLE events (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    seq         BIGINT NOT NULL,
    type        TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
-- Retention deletes by age.
CREATE INDEX events_created ON events (created_at);

-- Short-lived tokens a browser passes as `?token=` to open the event
-- WebSocket (it cannot set an Authorization header). Only a hash is kept.
CREATE TABLE event_tokens (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    expires_at  BIGINT NOT NULL
);
