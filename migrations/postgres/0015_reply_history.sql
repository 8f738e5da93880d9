-- The reply stage reads a conversation's latest turns before a message
-- (`ORDER BY created_at DESC, id DESC LIMIT 10`). Without this index the
-- planner walked the tenant's whole `messages_retention` range backwards
-- filtering by conversation: 1.7 ms per reply at 10,000 messages over 500
-- conversations, the largest single cost of the reply drain
-- (BENCHMARKS.md, issue 11).
CREATE INDEX messages_conversation_time ON messages (tenant_id, conversation_id, created_at, id);
