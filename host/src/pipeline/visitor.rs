//! Web chat visitors into the inbound pipeline. The server's visitor
//! socket authenticates a visitor and hands each of their frames here; the
//! frame goes through the same stages as a provider's webhook (the
//! `webchat` adapter's `verify` and `parse`, the guardrails, the bounds,
//! the group-commit store), in a request only the host builds: the
//! adapter's `verify` refuses anything without the visitor header, and a
//! web chat channel's webhook URL refuses everything
//! ([`WebhookError::NotAWebhookChannel`]).

use serde_json::json;

use super::tenancy::{Binding, Transport};
use super::{Pipeline, WebhookError, WebhookOutcome};
use crate::domain::{Header, HttpRequest};
use crate::storage::InboundOutcome;

/// The first-party adapter whose channels use the visitor transport
/// (defined with the transport, in `tenancy`).
pub use super::tenancy::VISITOR_ADAPTER as ADAPTER;

/// The header naming the visitor on the requests the host builds for the
/// adapter (the adapter's `VISITOR_HEADER`).
const VISITOR_HEADER: &str = "x-switchboard-visitor";

/// A visitor the socket authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visitor {
    /// The contact's address on the channel: `visitor:<id>` (anonymous)
    /// or `user:<id>` (a page's verified user).
    pub address: String,
    /// A page's verified user id.
    pub user_id: Option<String>,
}

impl Visitor {
    /// An anonymous visitor, by the id in their token.
    pub fn anonymous(id: &str) -> Visitor {
        Visitor {
            address: format!("visitor:{id}"),
            user_id: None,
        }
    }

    /// A page's verified user.
    pub fn user(user_id: &str) -> Visitor {
        Visitor {
            address: format!("user:{user_id}"),
            user_id: Some(user_id.to_string()),
        }
    }
}

impl Pipeline {
    /// The active web chat channel `channel_id`; any other channel is
    /// unknown here.
    pub async fn visitor_channel(&self, channel_id: &str) -> Result<Binding, WebhookError> {
        let binding = self.channel(channel_id, None).await?;
        if binding.transport != Transport::Visitor {
            return Err(WebhookError::UnknownChannel);
        }
        Ok(binding)
    }

    /// Run one frame of `visitor` (as the widget sent it) through the
    /// inbound stages of web chat channel `channel_id`, resolved afresh
    /// so a disabled or deleted channel stops taking frames at once.
    pub async fn handle_visitor_frame(
        &self,
        channel_id: &str,
        visitor: &Visitor,
        frame: serde_json::Value,
    ) -> Result<InboundOutcome, WebhookError> {
        let binding = self.visitor_channel(channel_id).await?;
        let body = json!({
            "visitor": { "address": visitor.address, "user_id": visitor.user_id },
            "frame": frame,
        });
        let request = HttpRequest {
            method: "POST".into(),
            url: format!("webchat://{channel_id}"),
            headers: vec![Header {
                name: VISITOR_HEADER.into(),
                value: visitor.address.clone(),
            }],
            body: serde_json::to_vec(&body).unwrap_or_default(),
        };
        match self.inbound_stages(&binding, request).await? {
            WebhookOutcome::Stored(outcome) => Ok(outcome),
            // The adapter answers no handshakes; one would be a bug in it.
            WebhookOutcome::Handshake(_) => Err(WebhookError::BadRequest(
                "the web chat adapter answered a handshake".into(),
            )),
        }
    }
}
