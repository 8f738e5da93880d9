//! The webhook body: one Bot API `Update`, and which of its kinds become
//! events. Pure.
//!
//! Deduplication: every event's `external_id` is the `update_id`. Telegram
//! redelivers the *same* update (same `update_id`) until the webhook answers
//! 2xx, and `update_id`s are unique per bot, i.e. per channel. A
//! `message_id` would not do: it is only unique within one chat, and an
//! edit (`edited_message`) repeats the original `message_id` although it is
//! a new update that should be stored.

use serde::Deserialize;
use switchboard_sdk::{Event, PluginError};

use crate::membership::ChatMemberUpdated;
use crate::message::Message;

/// The part of an `Update` the adapter reads; other kinds are ignored.
#[derive(Debug, Deserialize)]
pub struct Update {
    /// Unique per bot, increasing.
    pub update_id: i64,
    pub message: Option<Message>,
    pub edited_message: Option<Message>,
    pub channel_post: Option<Message>,
    pub edited_channel_post: Option<Message>,
    pub my_chat_member: Option<ChatMemberUpdated>,
}

/// Turn a webhook body into events.
///
/// `message`, `edited_message`, `channel_post` and `edited_channel_post`
/// give one message event; `my_chat_member` gives a consent message when the
/// user blocks (opt-out) or unblocks (opt-in) the bot. Every other update
/// kind (reactions, boosts, paid media, kinds newer than this adapter) gives
/// no events: answering with an error would only make Telegram retry it.
/// A body that is not an `Update` is a bad request.
pub fn parse_update(body: &[u8]) -> Result<Vec<Event>, PluginError> {
    let update: Update = serde_json::from_slice(body)
        .map_err(|e| PluginError::bad_request(format!("body is not a Telegram Update: {e}")))?;
    let external_id = update.update_id.to_string();
    let message = update
        .message
        .or(update.edited_message)
        .or(update.channel_post)
        .or(update.edited_channel_post);
    if let Some(message) = message {
        return Ok(vec![Event::Message(message.into_inbound(external_id))]);
    }
    if let Some(member) = update.my_chat_member {
        return Ok(member
            .into_consent(external_id)
            .map(Event::Message)
            .into_iter()
            .collect());
    }
    Ok(Vec::new())
}
