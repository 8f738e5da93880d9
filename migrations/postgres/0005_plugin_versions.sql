-- Plugin bindings by name and version: each channel's adapter and guardrail
-- bindings as a JSON list of {slot, plugin, plugin_id, version, pinned,
-- previous, on_failure}. NULL for channels created before this migration;
-- their `adapter` and `guardrails` references are read as bindings then.
ALTER TABLE channels ADD COLUMN bindings TEXT;
