-- The console (issue 14): people, their memberships and sessions, and
-- who handles a conversation.
--
-- A user is a person with an email and an argon2id password hash (NULL
-- until an invitation is accepted). A member is a user's place in one
-- tenant with a role (owner, admin, agent); `invite_hash` is the SHA-256
-- of the one-time invitation token (NULL once used). A session is stored
-- by the SHA-256 of its cookie value, so the table alone opens nothing;
-- it belongs to one membership and ends when the member is removed or
-- the password changes.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE members (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    user_id            TEXT NOT NULL REFERENCES users(id),
    role               TEXT NOT NULL,
    invite_hash        TEXT UNIQUE,
    invite_expires_at  BIGINT,
    created_at         BIGINT NOT NULL,
    UNIQUE (tenant_id, user_id)
);
CREATE INDEX members_user ON members (user_id);

CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY,
    member_id   TEXT NOT NULL REFERENCES members(id),
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_member ON sessions (member_id);

-- `handler`: 'bot' (the persona answers) or 'human' (an agent took over:
-- inbound is stored and shown, no reply is generated).
ALTER TABLE conversations ADD COLUMN handler TEXT NOT NULL DEFAULT 'bot';
ALTER TABLE conversations ADD COLUMN assignee_id TEXT;

-- The member who wrote an outbound message (an agent's reply); NULL for
-- the persona, guardrails and API sends.
ALTER TABLE messages ADD COLUMN author_id TEXT;
