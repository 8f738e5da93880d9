-- Channels and tenants over their whole life (issue 12).
--
-- A channel is `active`, `disabled` (by its tenant) or `deleted` (its row
-- kept so its conversations stay readable until retention removes them).
-- `deleted_at` says when; a deleted channel's sealed configuration is
-- replaced by an empty one, so its secrets do not outlive it.
ALTER TABLE channels ADD COLUMN deleted_at BIGINT;
ALTER TABLE channels ADD COLUMN updated_at BIGINT;

-- A route key on a shared provider endpoint is assigned by the platform
-- admin (`PUT /v1/admin/channels/{id}/route`), no longer taken from the
-- tenant's configuration. A disabled channel keeps its key (enabling it
-- again restores its routing, and nobody else can take the number
-- meanwhile); a deleted one gives it up. Keys held by channels that are
-- not active today (only the channels of deleted tenants) are released
-- first, so the wider index can be built.
UPDATE channels SET route_key = NULL WHERE status <> 'active';
DROP INDEX channels_route;
CREATE UNIQUE INDEX channels_route ON channels (adapter, route_key) WHERE route_key IS NOT NULL AND status <> 'deleted';

-- When the platform admin last changed a tenant's name or status.
ALTER TABLE tenants ADD COLUMN updated_at BIGINT;
