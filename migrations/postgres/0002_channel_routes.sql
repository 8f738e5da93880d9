-- Shared provider endpoints: a channel's routing key (the value of its
-- adapter's `route-config-key`, e.g. the WhatsApp phone-number id). One
-- active channel per adapter and key, so a key can never route to two
-- tenants.
ALTER TABLE channels ADD COLUMN route_key TEXT;
CREATE UNIQUE INDEX channels_route ON channels (adapter, route_key) WHERE route_key IS NOT NULL AND status = 'active';
