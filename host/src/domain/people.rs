//! The console's words: a member's role in a tenant, and who handles a
//! conversation. Each maps to its column value here, once.

use serde::{Deserialize, Serialize};

/// What a member may do in their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including members and owners.
    Owner,
    /// Everything but changing owners.
    Admin,
    /// Reads and answers conversations; changes no settings.
    Agent,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Channels, personas, plugins, keys, limits and members.
    pub fn manages_settings(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// Who answers a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Handler {
    /// The channel's persona replies.
    Bot,
    /// A person took over: inbound is stored and shown, nothing is
    /// generated.
    Human,
}

impl Handler {
    pub fn as_str(self) -> &'static str {
        match self {
            Handler::Bot => "bot",
            Handler::Human => "human",
        }
    }

    pub fn parse(s: &str) -> Option<Handler> {
        [Handler::Bot, Handler::Human]
            .into_iter()
            .find(|h| h.as_str() == s)
    }
}

/// Where a conversation stands for the business's team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    Open,
    Resolved,
}

impl ConversationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<ConversationStatus> {
        [ConversationStatus::Open, ConversationStatus::Resolved]
            .into_iter()
            .find(|h| h.as_str() == s)
    }
}
