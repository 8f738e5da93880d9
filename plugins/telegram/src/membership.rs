//! `my_chat_member` updates: the bot's own membership in a chat changed.
//! In a private chat, `kicked` means the user blocked the bot (Telegram has
//! no STOP keyword), and `member` after `kicked` means they unblocked it.

use serde::Deserialize;
use switchboard_sdk::{ConsentSignal, InboundMessage};

use crate::message::{Chat, User, contact, group_id};

/// A `ChatMemberUpdated` object.
#[derive(Debug, Deserialize)]
pub struct ChatMemberUpdated {
    chat: Chat,
    from: Option<User>,
    date: Option<u64>,
    old_chat_member: Option<ChatMember>,
    new_chat_member: ChatMember,
}

/// The status part of a `ChatMember`.
#[derive(Debug, Deserialize)]
struct ChatMember {
    status: String,
}

/// The consent signal of a membership change, if it is one.
pub fn consent_signal(old_status: Option<&str>, new_status: &str) -> Option<ConsentSignal> {
    match (old_status, new_status) {
        (_, "kicked") => Some(ConsentSignal::OptOut),
        (Some("kicked"), "member") => Some(ConsentSignal::OptIn),
        _ => None,
    }
}

impl ChatMemberUpdated {
    /// A text-less message carrying the consent signal, or `None` for
    /// membership changes that are not one (e.g. the bot added to a group).
    pub fn into_consent(self, external_id: String) -> Option<InboundMessage> {
        let old = self.old_chat_member.as_ref().map(|m| m.status.as_str());
        let consent = consent_signal(old, &self.new_chat_member.status)?;
        Some(InboundMessage {
            external_id,
            sender: contact(&self.chat, self.from.as_ref()),
            recipient: None,
            group_id: group_id(&self.chat),
            timestamp: self.date,
            text: None,
            attachments: Vec::new(),
            location: None,
            reply_to: None,
            reaction: None,
            interactive: None,
            consent: Some(consent),
            kind: "my_chat_member".to_string(),
            route_key: None,
        })
    }
}
