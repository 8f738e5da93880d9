-- The conversation loop: personas, per-channel consent state, delivery
-- attempts and LLM token usage.

-- A tenant's persona. The non-secret fields are JSON in `spec`; the
-- responder (which may hold an LLM API key) is sealed like channel secrets.
CREATE TABLE personas (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    name           TEXT NOT NULL,
    spec           TEXT NOT NULL,
    responder_enc  BYTEA NOT NULL,
    responder_kind TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- Consent is per contact x channel: the identity row is exactly that.
ALTER TABLE contact_identities ADD COLUMN opted_out INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contact_identities ADD COLUMN consent_source TEXT;
ALTER TABLE contact_identities ADD COLUMN consent_updated_at BIGINT;

-- Outbound messages: which inbound message they answer, their place in a
-- split reply, and how many provider calls they took.
ALTER TABLE messages ADD COLUMN reply_to_id TEXT;
ALTER TABLE messages ADD COLUMN part INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;

-- Every provider call for an outbound message, kept for the API.
CREATE TABLE delivery_attempts (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    message_id   TEXT NOT NULL REFERENCES messages(id),
    attempt      INTEGER NOT NULL,
    outcome      TEXT NOT NULL,
    http_status  INTEGER,
    error_code   TEXT,
    error        TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX delivery_attempts_message ON delivery_attempts (tenant_id, message_id);

ALTER TABLE usage ADD COLUMN llm_prompt_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN llm_completion_tokens BIGINT NOT NULL DEFAULT 0;

-- Expired leases are found by this index as well as due jobs.
CREATE INDEX outbox_lease ON outbox (status, lease_until);
