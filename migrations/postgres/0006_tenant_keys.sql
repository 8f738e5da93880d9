-- Secrets at rest use envelope encryption: each tenant's secrets are sealed
-- with AES-256-GCM under the tenant's own data key, and the data key is
-- stored here wrapped (encrypted) by the platform master key, whose id sits
-- beside it so `switchboard keys rotate` knows what it re-wraps. Deleting a
-- tenant overwrites wrapped_key and sets destroyed_at: without the data key
-- the tenant's ciphertexts are unreadable (crypto-shredding), and a
-- destroyed row also stops a new key from being created for that tenant.
CREATE TABLE tenant_keys (
    tenant_id      TEXT PRIMARY KEY REFERENCES tenants(id),
    wrapped_key    BYTEA NOT NULL,
    master_key_id  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    destroyed_at   BIGINT
);
