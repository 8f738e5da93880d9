//! What the inbound guardrails decided for a message, and the job that
//! decision gives a stored message: a rule of the domain, applied by the
//! inbound transaction (which alone knows whether a consent keyword
//! changed anything).

use super::{AutoReply, MessageKind, Task};

/// Where a consent change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentSource {
    /// A guardrail matched a keyword (STOP, START, …).
    Keyword,
    /// The provider signalled it (Twilio `OptOutType`, Telegram `kicked`).
    Provider,
}

impl ConsentSource {
    /// The name stored and audited.
    pub fn name(self) -> &'static str {
        match self {
            ConsentSource::Keyword => "keyword",
            ConsentSource::Provider => "provider",
        }
    }
}

/// What the inbound guardrails decided for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Store and process (possibly after a rewrite, already applied).
    Accept,
    /// Store for a human: the channel has no persona, so there is nothing
    /// to process (a persona bound later answers new messages, not these).
    Inbox,
    /// Store as blocked, with the reason; the persona never sees it. A
    /// guardrail's `reply` (e.g. the HELP text) is sent instead.
    Blocked {
        reason: String,
        reply: Option<String>,
    },
    /// The user opted out: the contact × channel is marked opted out and
    /// the change audited with its source. `reply` is the confirmation, the
    /// one message an opted-out contact still gets.
    OptOut {
        source: ConsentSource,
        reply: Option<String>,
    },
    /// The user opted back in; `reply` confirms it.
    OptIn {
        source: ConsentSource,
        reply: Option<String>,
    },
}

impl Disposition {
    /// The fixed answer a guardrail chose, if any.
    fn auto_reply(&self) -> Option<&str> {
        match self {
            Disposition::Accept | Disposition::Inbox => None,
            Disposition::Blocked { reply, .. }
            | Disposition::OptOut { reply, .. }
            | Disposition::OptIn { reply, .. } => reply.as_deref(),
        }
    }

    /// The consent change it asks for: (opted out, source).
    pub fn consent(&self) -> Option<(bool, ConsentSource)> {
        match self {
            Disposition::OptOut { source, .. } => Some((true, *source)),
            Disposition::OptIn { source, .. } => Some((false, *source)),
            _ => None,
        }
    }

    /// The job a stored message gets: accepted messages go to the persona;
    /// a guardrail's fixed answer (consent confirmation, HELP) is sent as
    /// is; a consent keyword that changed nothing gets no answer (an opt-in
    /// from a contact who never opted out is processed as a message).
    pub fn task(&self, message_id: &str, channel_id: &str, consent_changed: bool) -> Option<Task> {
        let process = |auto_reply: Option<(&str, MessageKind)>| Task::Process {
            message_id: message_id.to_string(),
            channel_id: channel_id.to_string(),
            auto_reply: auto_reply.map(|(text, kind)| AutoReply {
                text: text.to_string(),
                kind,
            }),
        };
        match (self, self.auto_reply()) {
            (Disposition::Accept, _) => Some(process(None)),
            (Disposition::OptIn { .. }, _) if !consent_changed => Some(process(None)),
            (Disposition::OptOut { .. } | Disposition::OptIn { .. }, _) if !consent_changed => None,
            (Disposition::OptOut { .. }, Some(reply)) => {
                Some(process(Some((reply, MessageKind::OptOutConfirmation))))
            }
            (_, Some(reply)) => Some(process(Some((reply, MessageKind::AutoReply)))),
            (_, None) => None,
        }
    }
}
