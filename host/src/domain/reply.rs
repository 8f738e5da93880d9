//! The reply stage's decision, as the outbound pipeline hands it to
//! storage.

use super::{MessageKind, OutboundPart};

/// What the reply stage decided for an inbound message; the outbound
/// pipeline stores it as it is.
#[derive(Debug, Clone)]
pub enum ReplyPlan {
    /// Send these parts, in order, as messages of `kind`.
    Send {
        parts: Vec<OutboundPart>,
        kind: MessageKind,
    },
    /// An outbound guardrail blocked the reply: stored, never sent.
    Blocked { text: String, reason: String },
    /// The contact opted out: nothing is generated or sent; recorded.
    Refused,
    /// Nothing to send (no persona bound).
    Nothing,
}

/// LLM tokens spent on a reply.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenUsage {
    pub prompt: u32,
    pub completion: u32,
}
