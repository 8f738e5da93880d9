//! Shared provider endpoints (`POST /webhooks/shared/{adapter}`): one
//! provider account (a Meta app, a Twilio account) serving many tenants.
//!
//! The adapter's `route-key` names the keys a request is for (taken from
//! what the provider says about the recipient, never the sender). A key
//! routes to the channel the platform admin assigned it to (`PUT
//! /v1/admin/channels/{id}/route`), never to one whose tenant merely put
//! the number in its configuration: numbers belong to the platform. Each
//! routed channel then verifies the request with its own configuration and
//! keeps only the events whose `route-key` is its own, so no event crosses
//! into another channel — or tenant — and each channel succeeds or fails
//! on its own: one tenant's bad secret, disabled channel or busy plugins
//! never costs another tenant its events. Keys no channel answers to are
//! logged and acknowledged, so the provider does not retry them forever.

use super::error::{Stage, WebhookError};
use super::{Pipeline, bounds, guardrails, tenancy};
use crate::domain::{Event, HttpRequest};
use crate::runtime::CallContext;
use crate::storage::{ChannelRecord, ChannelState, InboundOutcome};

/// What a shared webhook did.
#[derive(Debug, Default)]
pub struct SharedOutcome {
    /// Per routed channel that stored its events: its id and what was
    /// stored.
    pub channels: Vec<(String, InboundOutcome)>,
    /// Keys no channel answers to (nothing stored for them).
    pub unknown_keys: Vec<String>,
    /// Keys whose channel refused its events, and why; nothing of theirs
    /// was stored, everyone else's was.
    pub failed: Vec<(String, WebhookError)>,
}

impl SharedOutcome {
    /// The refusal to answer the provider with, if any. A failure the
    /// provider should retry (the database, a tenant's busy plugins) is
    /// answered so it does retry: the channels that stored their events
    /// will find them duplicates. Otherwise the request is refused only
    /// when every routed channel refused it (a forged request is 401), and
    /// acknowledged when any channel took its events, so one tenant's
    /// misconfiguration cannot make the provider retry, and then give up
    /// on, the whole platform's endpoint.
    pub fn refusal(&self) -> Option<&WebhookError> {
        if let Some((_, e)) = self.failed.iter().find(|(_, e)| e.status() >= 500) {
            return Some(e);
        }
        if self.channels.is_empty() {
            return self.failed.first().map(|(_, e)| e);
        }
        None
    }
}

impl Pipeline {
    /// Run a shared-endpoint webhook: route, then per routed channel
    /// verify, split, check and store, each channel on its own.
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
        for key in keys {
            let channel = match self
                .db
                .channel_by_route(adapter_name, &key, &self.secrets)
                .await
            {
                Ok(Some(ChannelState::Active(channel))) => channel,
                Ok(Some(ChannelState::Disabled { .. })) => {
                    outcome.failed.push((key, WebhookError::ChannelDisabled));
                    continue;
                }
                Ok(Some(ChannelState::Deleted { .. }) | None) => {
                    outcome.unknown_keys.push(key);
                    continue;
                }
                Err(e) => {
                    outcome.failed.push((key, WebhookError::from_storage(e)));
                    continue;
                }
            };
            let channel_id = channel.id.clone();
            let tenant_id = channel.tenant_id.clone();
            match self.shared_channel(channel, &key, &request).await {
                Ok(stored) => {
                    tracing::info!(tenant = %tenant_id, channel = %channel_id, inserted = stored.inserted, "shared webhook stored");
                    if stored.queued > 0 {
                        self.wake.notify_waiters();
                    }
                    outcome.channels.push((channel_id, stored));
                }
                Err(e) => {
                    tracing::info!(tenant = %tenant_id, channel = %channel_id, error = %e, "shared webhook refused by one channel; the others are not affected");
                    outcome.failed.push((key, e));
                }
            }
        }
        if !outcome.unknown_keys.is_empty() {
            tracing::warn!(adapter = adapter_name, keys = ?outcome.unknown_keys, "shared webhook for keys no channel answers to; acknowledged, nothing stored");
        }
        Ok(outcome)
    }

    /// One routed channel's part of a shared webhook: verify with its own
    /// configuration, keep its own events, check and store them.
    async fn shared_channel(
        &self,
        channel: ChannelRecord,
        key: &str,
        request: &HttpRequest,
    ) -> Result<InboundOutcome, WebhookError> {
        let binding = tenancy::bind(&self.db, &self.catalog, &self.runtime, channel).await?;
        let key = key.to_string();
        let items = match self
            .check(&binding, request.clone(), move |e| {
                route_key(e) == Some(&key)
            })
            .await?
        {
            super::Checked::Items(items, _) => items,
            super::Checked::Handshake(..) => {
                return Err(WebhookError::BadRequest(
                    "handshakes are answered on the channel's own webhook URL".into(),
                ));
            }
        };
        let items = guardrails::without_persona(items, &binding);
        bounds::check(&items)?;
        self.store(&binding, items).await
    }
}

fn route_key(e: &Event) -> Option<&str> {
    match e {
        Event::Message(m) => m.route_key.as_deref(),
        Event::Status(s) => s.route_key.as_deref(),
    }
}
