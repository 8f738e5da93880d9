//! The platform's own words for messages and jobs: what a stored message is
//! (`MessageKind`), where it stands (`MessageStatus`, with the order
//! statuses may advance in), and what a worker is asked to do (`Task`).
//! Each maps to its column value in exactly one place, here; everything
//! else uses the enums.

use serde::{Deserialize, Serialize};

use super::DeliveryStatus;

/// Where a stored message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// An inbound message, stored.
    Received,
    /// An outbound message waiting for its delivery job.
    Queued,
    Sent,
    Delivered,
    Read,
    Played,
    /// The provider (or a permanent error) refused it: final.
    Failed,
    /// An outbound guardrail stopped it: stored, never sent. Final.
    Blocked,
    /// Not sent because the contact opted out: final.
    Refused,
}

impl MessageStatus {
    const ALL: [MessageStatus; 9] = [
        MessageStatus::Received,
        MessageStatus::Queued,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Read,
        MessageStatus::Played,
        MessageStatus::Failed,
        MessageStatus::Blocked,
        MessageStatus::Refused,
    ];

    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Received => "received",
            MessageStatus::Queued => "queued",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Played => "played",
            MessageStatus::Failed => "failed",
            MessageStatus::Blocked => "blocked",
            MessageStatus::Refused => "refused",
        }
    }

    /// A column value back; `None` for one this version does not know.
    pub fn parse(s: &str) -> Option<MessageStatus> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The order statuses advance in (stored beside the status, so a
    /// provider callback can only move a message forward in one UPDATE):
    /// read and played are the furthest a delivery goes; every final
    /// status ranks above them all ([`MessageStatus::FINAL_RANK`]).
    pub fn rank(self) -> i32 {
        match self {
            MessageStatus::Received | MessageStatus::Queued => 0,
            MessageStatus::Sent => 1,
            MessageStatus::Delivered => 2,
            MessageStatus::Read | MessageStatus::Played => 3,
            MessageStatus::Failed | MessageStatus::Blocked | MessageStatus::Refused => {
                Self::FINAL_RANK
            }
        }
    }

    /// The rank of the final statuses; nothing moves a message past it.
    pub const FINAL_RANK: i32 = 9;
    /// The highest rank a failure report may still override: a message the
    /// contact read has arrived, whatever a later callback says.
    pub const FAILABLE_BELOW: i32 = 3;
}

impl From<DeliveryStatus> for MessageStatus {
    fn from(s: DeliveryStatus) -> Self {
        match s {
            DeliveryStatus::Queued => MessageStatus::Queued,
            DeliveryStatus::Sent => MessageStatus::Sent,
            DeliveryStatus::Delivered => MessageStatus::Delivered,
            DeliveryStatus::Read => MessageStatus::Read,
            DeliveryStatus::Played => MessageStatus::Played,
            DeliveryStatus::Failed => MessageStatus::Failed,
        }
    }
}

impl std::fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one provider call for a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptOutcome {
    /// The provider accepted it.
    Sent,
    /// A retryable failure: the job tries again.
    Retry,
    /// A permanent failure.
    Failed,
    /// Not sent: the contact opted out (not counted as an attempt).
    Refused,
}

impl AttemptOutcome {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Sent => "sent",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Refused => "refused",
        }
    }
}

/// What kind of outbound message the platform wrote. (Inbound messages
/// carry the kind their adapter reports: `text`, `image`, …)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageKind {
    /// A persona's reply.
    Reply,
    /// A guardrail's fixed answer (HELP, opt-in confirmation).
    AutoReply,
    /// A business-initiated message (`POST /v1/messages`).
    Proactive,
    /// A member's reply in a conversation (the console, or
    /// `POST /v1/conversations/{id}/messages`); `author_id` names them.
    Agent,
    /// A business-initiated template message; the template is the payload.
    Template,
    /// The confirmation of an opt-out: the one message an opted-out contact
    /// may still receive.
    OptOutConfirmation,
    /// A row a status callback created for a message we have no record of
    /// yet (sent outside Switchboard, or racing our own send's record).
    Placeholder,
}

impl MessageKind {
    const ALL: [MessageKind; 7] = [
        MessageKind::Reply,
        MessageKind::AutoReply,
        MessageKind::Proactive,
        MessageKind::Agent,
        MessageKind::Template,
        MessageKind::OptOutConfirmation,
        MessageKind::Placeholder,
    ];

    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Reply => "text",
            MessageKind::AutoReply => "auto-reply",
            MessageKind::Proactive => "proactive",
            MessageKind::Agent => "agent",
            MessageKind::Template => "template",
            MessageKind::OptOutConfirmation => "opt-out-confirmation",
            MessageKind::Placeholder => "unknown",
        }
    }

    /// A column value back; `None` for an inbound kind.
    pub fn parse(s: &str) -> Option<MessageKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a worker is asked to do: one outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// Answer inbound message `message_id` of `channel_id`: the persona's
    /// reply, or the guardrail's fixed `auto_reply`.
    Process {
        message_id: String,
        channel_id: String,
        auto_reply: Option<AutoReply>,
    },
    /// Send these stored parts, in order.
    Deliver {
        channel_id: String,
        message_ids: Vec<String>,
    },
    /// POST event number `event_seq` of the job's tenant to webhook
    /// endpoint `endpoint_id` (one job per endpoint and event).
    WebhookDelivery { endpoint_id: String, event_seq: i64 },
}

/// A guardrail's fixed answer to an inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoReply {
    pub text: String,
    pub kind: MessageKind,
}

/// The kinds of [`Task`], as the `kind` column and metrics name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Process,
    Deliver,
    WebhookDelivery,
}

impl TaskKind {
    pub const ALL: [TaskKind; 3] = [
        TaskKind::Process,
        TaskKind::Deliver,
        TaskKind::WebhookDelivery,
    ];

    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Process => "inbound.process",
            TaskKind::Deliver => "message.deliver",
            TaskKind::WebhookDelivery => "webhook.deliver",
        }
    }

    pub fn parse(s: &str) -> Option<TaskKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for TaskKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Task {
    pub fn kind(&self) -> TaskKind {
        match self {
            Task::Process { .. } => TaskKind::Process,
            Task::Deliver { .. } => TaskKind::Deliver,
            Task::WebhookDelivery { .. } => TaskKind::WebhookDelivery,
        }
    }

    /// The `payload` column. (The shape predates this type: an auto-reply
    /// is stored as its text and its kind's column value.)
    pub fn payload(&self) -> serde_json::Value {
        match self {
            Task::Process {
                message_id,
                channel_id,
                auto_reply: None,
            } => serde_json::json!({ "message_id": message_id, "channel_id": channel_id }),
            Task::Process {
                message_id,
                channel_id,
                auto_reply: Some(a),
            } => serde_json::json!({
                "message_id": message_id, "channel_id": channel_id,
                "auto_reply": a.text, "kind": a.kind.as_str(),
            }),
            Task::Deliver {
                channel_id,
                message_ids,
            } => serde_json::json!({ "channel_id": channel_id, "message_ids": message_ids }),
            Task::WebhookDelivery {
                endpoint_id,
                event_seq,
            } => serde_json::json!({ "endpoint_id": endpoint_id, "event_seq": event_seq }),
        }
    }

    /// A stored row back; the error says what is wrong with it.
    pub fn from_row(kind: &str, payload: &serde_json::Value) -> Result<Task, String> {
        let kind = TaskKind::parse(kind).ok_or_else(|| format!("unknown job kind `{kind}`"))?;
        let bad = |e: serde_json::Error| format!("{kind} job payload: {e}");
        match kind {
            TaskKind::Process => {
                #[derive(Deserialize)]
                struct P {
                    message_id: String,
                    channel_id: String,
                    #[serde(default)]
                    auto_reply: Option<String>,
                    #[serde(default)]
                    kind: Option<String>,
                }
                let p: P = serde_json::from_value(payload.clone()).map_err(bad)?;
                let auto_reply = match p.auto_reply {
                    None => None,
                    Some(text) => Some(AutoReply {
                        text,
                        kind: match p.kind.as_deref() {
                            None => MessageKind::AutoReply,
                            Some(k) => MessageKind::parse(k)
                                .ok_or_else(|| format!("unknown auto-reply kind `{k}`"))?,
                        },
                    }),
                };
                Ok(Task::Process {
                    message_id: p.message_id,
                    channel_id: p.channel_id,
                    auto_reply,
                })
            }
            TaskKind::Deliver => {
                #[derive(Deserialize)]
                struct D {
                    channel_id: String,
                    message_ids: Vec<String>,
                }
                let d: D = serde_json::from_value(payload.clone()).map_err(bad)?;
                Ok(Task::Deliver {
                    channel_id: d.channel_id,
                    message_ids: d.message_ids,
                })
            }
            TaskKind::WebhookDelivery => {
                #[derive(Deserialize)]
                struct W {
                    endpoint_id: String,
                    event_seq: i64,
                }
                let w: W = serde_json::from_value(payload.clone()).map_err(bad)?;
                Ok(Task::WebhookDelivery {
                    endpoint_id: w.endpoint_id,
                    event_seq: w.event_seq,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_kinds_round_trip_through_their_column_values() {
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
        }
        for k in MessageKind::ALL {
            assert_eq!(MessageKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(MessageStatus::parse("lost"), None);
        for d in [
            super::super::Direction::Inbound,
            super::super::Direction::Outbound,
        ] {
            assert_eq!(super::super::Direction::parse(d.as_str()), Some(d));
            // The column value is the JSON one.
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        }
        assert_eq!(super::super::Direction::parse("sideways"), None);
    }

    #[test]
    fn ranks_order_statuses() {
        use MessageStatus::*;
        assert!(Queued.rank() < Sent.rank());
        assert!(Sent.rank() < Delivered.rank());
        assert!(Delivered.rank() < Read.rank());
        assert_eq!(Read.rank(), Played.rank());
        assert_eq!(Read.rank(), MessageStatus::FAILABLE_BELOW);
        for f in [Failed, Blocked, Refused] {
            assert_eq!(f.rank(), MessageStatus::FINAL_RANK);
            assert!(f.rank() > Read.rank());
        }
    }

    #[test]
    fn tasks_round_trip_through_their_rows() {
        let tasks = [
            Task::Process {
                message_id: "msg_1".into(),
                channel_id: "ch_1".into(),
                auto_reply: None,
            },
            Task::Process {
                message_id: "msg_2".into(),
                channel_id: "ch_1".into(),
                auto_reply: Some(AutoReply {
                    text: "You are unsubscribed.".into(),
                    kind: MessageKind::OptOutConfirmation,
                }),
            },
            Task::Deliver {
                channel_id: "ch_1".into(),
                message_ids: vec!["msg_3".into(), "msg_4".into()],
            },
            Task::WebhookDelivery {
                endpoint_id: "we_1".into(),
                event_seq: 42,
            },
        ];
        for t in tasks {
            let back = Task::from_row(t.kind().as_str(), &t.payload()).unwrap();
            assert_eq!(back, t);
        }
        assert!(
            Task::from_row("inbound.process", &serde_json::json!({ "channel_id": "x" }))
                .unwrap_err()
                .contains("message_id")
        );
        assert!(Task::from_row("mail.send", &serde_json::json!({})).is_err());
    }
}

/// What changed, as an event of a tenant's stream (`GET /v1/events`) names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    MessageCreated,
    MessageUpdated,
    ConversationCreated,
    ConversationUpdated,
    ContactUpdated,
    ChannelUpdated,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::MessageCreated,
        EventType::MessageUpdated,
        EventType::ConversationCreated,
        EventType::ConversationUpdated,
        EventType::ContactUpdated,
        EventType::ChannelUpdated,
    ];

    /// The wire name and column value.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::MessageCreated => "message.created",
            EventType::MessageUpdated => "message.updated",
            EventType::ConversationCreated => "conversation.created",
            EventType::ConversationUpdated => "conversation.updated",
            EventType::ContactUpdated => "contact.updated",
            EventType::ChannelUpdated => "channel.updated",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}
