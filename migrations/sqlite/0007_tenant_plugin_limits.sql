-- Per-tenant plugin limits and concurrency shares; NULL means the platform
-- default (the `serve` flags / SWITCHBOARD_* variables).
ALTER TABLE tenants ADD COLUMN plugin_fuel BIGINT;
ALTER TABLE tenants ADD COLUMN plugin_deadline_ms BIGINT;
ALTER TABLE tenants ADD COLUMN plugin_memory_mib BIGINT;
ALTER TABLE tenants ADD COLUMN max_concurrent_plugin_calls BIGINT;
ALTER TABLE tenants ADD COLUMN max_concurrent_jobs BIGINT;
