//! Shared provider endpoints (`POST /webhooks/shared/{adapter}`): one
//! provider account (a Meta app, a Twilio account) serving many tenants.
//!
//! The adapter's `route-key` names the channels a request is for (taken from
//! what the provider says about the recipient, never the sender); each named
//! channel then verifies the request with its own configuration and keeps
//! only the events whose `route-key` is its own, so no event crosses into
//! another channel — or tenant. Keys no channel answers to are logged and
//! acknowledged, so the provider does not retry them forever.

use serde::Serialize;

use super::error::{Stage, WebhookError};
use super::{Pipeline, adapter, guardrails, tenancy};
use crate::domain::{Event, HttpRequest};
use crate::runtime::CallContext;
use crate::storage::InboundOutcome;

/// What a shared webhook did.
#[derive(Debug, Default, Serialize)]
pub struct SharedOutcome {
    /// Per routed channel: its id and what was stored.
    pub channels: Vec<(String, InboundOutcome)>,
    /// Keys no active channel answers to (nothing stored for them).
    pub unknown_keys: Vec<String>,
}

impl Pipeline {
    /// Run a shared-endpoint webhook: route, verify per channel, split,
    /// check, store per channel.
    pub async fn handle_shared_webhook(
        &self,
        adapter_name: &str,
        request: HttpRequest,
    ) -> Result<SharedOutcome, WebhookError> {
        let plugin = self
            .catalog
            .first_party(adapter_name)
            .ok_or(WebhookError::UnknownChannel)?;
        if self
            .catalog
            .adapter_info(adapter_name)
            .and_then(|i| i.route_config_key)
            .is_none()
        {
            return Err(WebhookError::UnknownChannel);
        }

        // Route with no tenant and no configuration: the keys only say which
        // channels to ask; nothing is trusted before a channel verifies.
        let req = request.clone();
        // Routing runs before any tenant is known: it shares the
        // platform's own gate, keyed by the adapter.
        let ctx = CallContext::for_tenant(&format!("platform:{adapter_name}"), adapter_name);
        let keys = self
            .runtime
            .run(&plugin, ctx, move |inst| inst.route_key(&req))
            .await
            .and_then(|r| r)
            .map_err(|error| match error {
                crate::runtime::PluginError::Guest(crate::domain::GuestError::BadRequest(m)) => {
                    WebhookError::BadRequest(m)
                }
                error => WebhookError::Plugin {
                    stage: Stage::Resolve,
                    error,
                },
            })?;

        let mut outcome = SharedOutcome::default();
        let mut routed = Vec::new();
        for key in keys {
            match self
                .db
                .channel_by_route(adapter_name, &key, &self.secrets)
                .await
                .map_err(WebhookError::from_storage)?
            {
                Some(channel) => routed.push((key, channel)),
                None => outcome.unknown_keys.push(key),
            }
        }
        if !outcome.unknown_keys.is_empty() {
            tracing::warn!(adapter = adapter_name, keys = ?outcome.unknown_keys, "shared webhook for keys no channel answers to; acknowledged, nothing stored");
        }

        // Verify and split for every channel before storing anything, so a
        // forged request stores nothing at all.
        let mut batches = Vec::with_capacity(routed.len());
        for (key, channel) in routed {
            let binding = tenancy::bind(&self.db, &self.catalog, &self.runtime, channel).await?;
            let events = match adapter::verify_and_parse(
                &self.runtime,
                self.native_adapter.as_deref(),
                &binding,
                self.kv.clone(),
                request.clone(),
            )
            .await?
            {
                crate::runtime::Verified::Events(events) => events,
                crate::runtime::Verified::Handshake(_) => {
                    return Err(WebhookError::BadRequest(
                        "handshakes are answered on the channel's own webhook URL".into(),
                    ));
                }
            };
            let mine: Vec<Event> = events
                .into_iter()
                .filter(|e| route_key(e) == Some(key.as_str()))
                .collect();
            let items =
                guardrails::check_inbound(&self.runtime, &binding, self.kv.clone(), mine).await?;
            let items = guardrails::without_persona(items, &binding);
            batches.push((binding, items));
        }
        for (binding, items) in batches {
            let stored = self
                .writer
                .store(&binding.channel.tenant_id, &binding.channel.id, items)
                .await
                .map_err(WebhookError::from_storage)?;
            tracing::info!(tenant = %binding.channel.tenant_id, channel = %binding.channel.id, inserted = stored.inserted, "shared webhook stored");
            if stored.queued > 0 {
                self.wake.notify_waiters();
            }
            outcome.channels.push((binding.channel.id.clone(), stored));
        }
        Ok(outcome)
    }
}

fn route_key(e: &Event) -> Option<&str> {
    match e {
        Event::Message(m) => m.route_key.as_deref(),
        Event::Status(s) => s.route_key.as_deref(),
    }
}
