-- Switchboard core schema. Every tenant-owned table carries tenant_id, and
-- every query filters by it. Ids are opaque text; times are Unix milliseconds.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active',
    created_at  BIGINT NOT NULL
);

-- Keys are stored as SHA-256 of the secret; the secret is shown once.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    key_hash    TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- Component bytes are content-addressed: one row per distinct sha256.
CREATE TABLE plugin_blobs (
    sha256      TEXT PRIMARY KEY,
    bytes       BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE plugins (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    sha256       TEXT NOT NULL REFERENCES plugin_blobs(sha256),
    world        TEXT NOT NULL,
    wit_version  TEXT NOT NULL,
    size         BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (tenant_id, name, version)
);
CREATE INDEX plugins_tenant ON plugins (tenant_id);

-- config_enc holds the binding configuration (secrets included), sealed
-- with the platform key; it is never returned as is.
CREATE TABLE channels (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    adapter     TEXT NOT NULL,
    config_enc  BYTEA NOT NULL,
    config_keys TEXT NOT NULL,
    guardrails  TEXT NOT NULL,
    persona_id  TEXT,
    status      TEXT NOT NULL DEFAULT 'active',
    created_at  BIGINT NOT NULL
);
CREATE INDEX channels_tenant ON channels (tenant_id);

CREATE TABLE contacts (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    display_name  TEXT,
    phone         TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX contacts_tenant ON contacts (tenant_id);

-- One contact, several channel addresses (phone numbers, BSUIDs, chat ids).
CREATE TABLE contact_identities (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    contact_id  TEXT NOT NULL REFERENCES contacts(id),
    channel_id  TEXT NOT NULL REFERENCES channels(id),
    address     TEXT NOT NULL,
    user_id     TEXT,
    created_at  BIGINT NOT NULL,
    UNIQUE (channel_id, address)
);
CREATE INDEX contact_identities_contact ON contact_identities (tenant_id, contact_id);

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    channel_id       TEXT NOT NULL REFERENCES channels(id),
    contact_id       TEXT NOT NULL REFERENCES contacts(id),
    status           TEXT NOT NULL DEFAULT 'open',
    created_at       BIGINT NOT NULL,
    last_message_at  BIGINT NOT NULL,
    UNIQUE (channel_id, contact_id)
);
CREATE INDEX conversations_tenant_channel ON conversations (tenant_id, channel_id, id);

-- (channel, direction, external_id) is unique: a provider retry of the same
-- webhook inserts nothing. status_rank makes status updates monotonic in SQL.
CREATE TABLE messages (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    channel_id       TEXT NOT NULL REFERENCES channels(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    contact_id       TEXT NOT NULL REFERENCES contacts(id),
    direction        TEXT NOT NULL,
    external_id      TEXT NOT NULL,
    kind             TEXT NOT NULL,
    text             TEXT,
    attachments      TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    status_rank      INTEGER NOT NULL,
    error            TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (channel_id, direction, external_id)
);
CREATE INDEX messages_conversation ON messages (tenant_id, conversation_id, id);

-- Durable jobs: processing of inbound messages, deliveries, event webhooks.
CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE usage (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    period      TEXT NOT NULL,
    channel_id  TEXT NOT NULL,
    inbound     BIGINT NOT NULL DEFAULT 0,
    outbound    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, period, channel_id)
);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, created_at);

-- The plugins' key-value store, scoped by tenant and plugin.
CREATE TABLE plugin_kv (
    tenant_id   TEXT NOT NULL,
    plugin      TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       BYTEA NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, plugin, key)
);
