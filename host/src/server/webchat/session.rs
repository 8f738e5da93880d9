//! One visitor socket: the `session` frame, the conversation's history
//! (or everything since the widget's last cursor), then its messages as
//! they change, while the visitor's own frames go through the inbound
//! pipeline. Like the tenant's event socket, it reads the tenant's ordered
//! event stream after the last event it handled, so a reconnect with the
//! last cursor misses nothing and repeats nothing.

use std::collections::HashSet;

use axum::extract::ws::{Message, WebSocket};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::events::{PING_EVERY, RESCAN_EVERY, SEND_TIMEOUT, close, read_after};
use super::config::WebchatConfig;
use super::limits::SocketSlot;
use crate::crypto::TenantCipher;
use crate::domain::{Direction, EventType, MessageStatus};
use crate::pipeline::WebhookError;
use crate::pipeline::visitor::Visitor;
use crate::storage::{MessageRecord, cursor};

/// History sent to a widget that has no cursor.
const HISTORY: u32 = 50;
/// The longest message, in characters (the adapter's limit, checked here
/// first so the widget gets its own error code).
const MAX_TEXT_CHARS: usize = 4096;
/// Outbound message ids remembered per socket for `delivered` frames.
const SHOWN_MAX: usize = 1_000;
const MESSAGE_EVENTS: [EventType; 2] = [EventType::MessageCreated, EventType::MessageUpdated];

/// An opened socket's context, checked by the handshake.
pub(super) struct Session {
    pub(super) state: AppState,
    pub(super) cipher: TenantCipher,
    pub(super) channel_id: String,
    pub(super) visitor: Visitor,
    /// The anonymous visitor's token, to keep.
    pub(super) token: Option<String>,
    pub(super) config: WebchatConfig,
    /// The widget's last cursor, if it has one.
    pub(super) after: Option<i64>,
    /// Held while the socket is open.
    pub(super) _slot: SocketSlot,
}

/// What the widget sends.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Incoming {
    Message { client_id: String, text: String },
    Delivered { id: String },
}

/// The part of a message event the socket reads.
#[derive(Deserialize)]
struct MessageEvent {
    id: String,
    data: MessageRecordView,
}

#[derive(Deserialize)]
struct MessageRecordView {
    id: String,
    channel_id: String,
    conversation_id: String,
    direction: String,
    external_id: String,
    text: Option<String>,
    status: String,
    created_at: i64,
}

impl From<MessageRecord> for MessageRecordView {
    fn from(m: MessageRecord) -> Self {
        MessageRecordView {
            id: m.id,
            channel_id: m.channel_id,
            conversation_id: m.conversation_id,
            direction: m.direction,
            external_id: m.external_id,
            text: m.text,
            status: m.status,
            created_at: m.created_at,
        }
    }
}

/// Why the socket ends.
enum End {
    /// The widget went away (or the send failed): nothing more to say.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

struct Live {
    s: Session,
    socket: WebSocket,
    conversation: Option<String>,
    /// The last event handled.
    after: i64,
    /// Outbound messages this socket showed (the only ids it reports
    /// delivered).
    shown: HashSet<String>,
    typing: bool,
}

impl Session {
    pub(super) async fn run(self, socket: WebSocket) {
        let db = self.state.db().clone();
        // Subscribe before reading anything: a commit in between is then
        // seen as a change.
        let mut committed = db.event_hub().subscribe(self.cipher.tenant_id());
        let mut live = Live {
            conversation: None,
            after: 0,
            shown: HashSet::new(),
            typing: false,
            socket,
            s: self,
        };
        let end = match live.start().await {
            Ok(()) => live.follow(&mut committed).await,
            Err(end) => end,
        };
        if let End::Close(code, reason) = end {
            close(&mut live.socket, code, reason).await;
        }
    }
}

impl Live {
    /// The session frame, then the history or the changes since the
    /// widget's cursor.
    async fn start(&mut self) -> Result<(), End> {
        let db = self.s.state.db().clone();
        let c = &self.s.config;
        let session = json!({
            "type": "session",
            "visitor_token": self.s.token,
            "title": c.title,
            "greeting": c.greeting,
            "color": c.color,
        });
        self.send(&session).await?;
        self.conversation = db
            .visitor_conversation(&self.s.cipher, &self.s.channel_id, &self.s.visitor.address)
            .await
            .map_err(|e| server_error(&e))?;
        match self.s.after {
            Some(after) => self.after = after,
            None => {
                // Read the stream's position first: a message stored
                // after it is sent (again) by `follow`, and the widget
                // updates it in place.
                self.after = db
                    .last_event(self.s.cipher.tenant_id())
                    .await
                    .map_err(|e| server_error(&e))?;
                if let Some(conversation) = self.conversation.clone() {
                    let history = db
                        .latest_messages(&self.s.cipher, &conversation, HISTORY)
                        .await
                        .map_err(|e| server_error(&e))?;
                    let at = cursor(self.after);
                    for m in history {
                        self.show(m.into(), &at).await?;
                    }
                }
            }
        }
        self.catch_up().await
    }

    /// Follow the stream and the widget until either ends.
    async fn follow(&mut self, committed: &mut tokio::sync::watch::Receiver<i64>) -> End {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            let step = tokio::select! {
                changed = committed.changed() => match changed {
                    Ok(()) => self.catch_up().await,
                    Err(_) => Err(End::Gone),
                },
                incoming = self.socket.recv() => match incoming {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => Err(End::Gone),
                    Some(Ok(Message::Text(text))) => self.incoming(text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => self.error("invalid_frame", "frames are JSON text", None).await,
                    Some(Ok(_)) => Ok(()),
                },
                _ = ping.tick() => match self.socket.send(Message::Ping(Default::default())).await {
                    Ok(()) => Ok(()),
                    Err(_) => Err(End::Gone),
                },
                _ = tokio::time::sleep(RESCAN_EVERY) => self.catch_up().await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Send this conversation's message changes after `after`.
    async fn catch_up(&mut self) -> Result<(), End> {
        let db = self.s.state.db().clone();
        loop {
            let (batch, full) = read_after(&db, &self.s.cipher, self.after, &MESSAGE_EVENTS)
                .await
                .map_err(|e| server_error(&e))?;
            for (seq, frame) in batch {
                let Ok(event) = serde_json::from_str::<MessageEvent>(&frame) else {
                    self.after = seq;
                    continue;
                };
                let m = event.data;
                if m.channel_id == self.s.channel_id && self.conversation.is_none() {
                    // Another tab of this visitor may have started the
                    // conversation: look once per message on the channel.
                    self.conversation = db
                        .visitor_conversation(
                            &self.s.cipher,
                            &self.s.channel_id,
                            &self.s.visitor.address,
                        )
                        .await
                        .map_err(|e| server_error(&e))?;
                }
                if self.conversation.as_deref() == Some(m.conversation_id.as_str()) {
                    self.show(m, &event.id).await?;
                }
                self.after = seq;
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Send one message frame, if the visitor may see it: their own
    /// messages always, the business's once delivered (never while queued,
    /// nor when a guardrail or consent stopped it).
    async fn show(&mut self, m: MessageRecordView, at: &str) -> Result<(), End> {
        let status = MessageStatus::parse(&m.status);
        let outbound = Direction::parse(&m.direction) == Some(Direction::Outbound);
        if outbound
            && !matches!(
                status,
                Some(MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read)
            )
        {
            return Ok(());
        }
        let client_id = (!outbound)
            .then(|| {
                m.external_id
                    .strip_prefix(&format!("{}/", self.s.visitor.address))
                    .map(str::to_string)
            })
            .flatten();
        self.send(&json!({
            "type": "message",
            "id": m.id,
            "direction": m.direction,
            "text": m.text,
            "status": m.status,
            "created_at": m.created_at,
            "client_id": client_id,
            "cursor": at,
        }))
        .await?;
        if outbound {
            if self.typing {
                self.typing = false;
                self.send(&json!({ "type": "typing", "active": false }))
                    .await?;
            }
            if self.shown.len() < SHOWN_MAX {
                self.shown.insert(m.id);
            }
        }
        Ok(())
    }

    /// One frame from the widget.
    async fn incoming(&mut self, text: &str) -> Result<(), End> {
        let frame: Incoming = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                return self
                    .error("invalid_frame", &format!("not a visitor frame: {e}"), None)
                    .await;
            }
        };
        match frame {
            Incoming::Message { client_id, text } => self.message(client_id, text).await,
            Incoming::Delivered { id } => {
                // Only what this socket showed; anything else is ignored
                // (a visitor cannot mark another's messages).
                if self.shown.contains(&id) {
                    let frame = json!({ "type": "delivered", "id": id });
                    if let Err(e) = submit(&self.s, frame).await {
                        tracing::debug!(error = %e, "a delivered frame was not recorded");
                    }
                }
                Ok(())
            }
        }
    }

    async fn message(&mut self, client_id: String, text: String) -> Result<(), End> {
        let id = Some(client_id.as_str());
        if text.chars().count() > MAX_TEXT_CHARS {
            let why = format!("messages are at most {MAX_TEXT_CHARS} characters");
            return self.error("message_too_long", &why, id).await;
        }
        let limits = &self.s.state.visitors;
        if !limits.allow_message(&self.s.channel_id, &self.s.visitor.address) {
            let why = format!(
                "at most {} messages a minute; wait a moment",
                super::limits::MAX_MESSAGES_PER_MINUTE
            );
            return self.error("rate_limited", &why, id).await;
        }
        let frame = json!({ "type": "message", "client_id": client_id, "text": text });
        let outcome = match submit(&self.s, frame).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let (code, why) = match &e {
                    WebhookError::BadRequest(why) => ("invalid_frame", why.clone()),
                    WebhookError::TooLarge { .. } => ("message_too_long", e.to_string()),
                    WebhookError::ChannelDisabled | WebhookError::ChannelDeleted => {
                        self.error("unavailable", "this chat is closed", id).await?;
                        return Err(End::Close(1000, "channel closed"));
                    }
                    _ => (
                        "unavailable",
                        "the message could not be stored; try again".to_string(),
                    ),
                };
                tracing::info!(channel = %self.s.channel_id, error = %e, "a visitor's message was refused");
                return self.error(code, &why, id).await;
            }
        };
        let external_id = format!("{}/{client_id}", self.s.visitor.address);
        let stored = self
            .s
            .state
            .db()
            .inbound_message(&self.s.cipher, &self.s.channel_id, &external_id)
            .await
            .map_err(|e| server_error(&e))?;
        let Some((message_id, conversation)) = stored else {
            return self
                .error("blocked", "the message was not accepted", id)
                .await;
        };
        self.conversation = Some(conversation);
        self.send(&json!({ "type": "ack", "client_id": client_id, "id": message_id }))
            .await?;
        if outcome.queued > 0 && !self.typing {
            self.typing = true;
            self.send(&json!({ "type": "typing", "active": true }))
                .await?;
        }
        // The message itself arrives as an event: send it now rather than
        // at the next wake.
        self.catch_up().await
    }

    async fn error(
        &mut self,
        code: &str,
        message: &str,
        client_id: Option<&str>,
    ) -> Result<(), End> {
        self.send(
            &json!({ "type": "error", "code": code, "message": message, "client_id": client_id }),
        )
        .await
    }

    async fn send(&mut self, frame: &Value) -> Result<(), End> {
        match tokio::time::timeout(
            SEND_TIMEOUT,
            self.socket.send(Message::text(frame.to_string())),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Close(1008, "slow consumer")),
        }
    }
}

/// Run a visitor's frame through the inbound pipeline. (A free function:
/// the socket is not `Sync`, so nothing holding it may wait here.)
async fn submit(s: &Session, frame: Value) -> Result<crate::storage::InboundOutcome, WebhookError> {
    s.state
        .pipeline
        .handle_visitor_frame(&s.channel_id, &s.visitor, frame)
        .await
}

fn server_error(e: &crate::storage::StorageError) -> End {
    tracing::warn!(error = %e, "a visitor socket could not read storage");
    End::Close(1011, "server error")
}
