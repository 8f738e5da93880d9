//! The inbound webhook pipeline. This module is the only place that calls
//! the stages, in order; a stage never calls another:
//!
//! 1. `tenancy::resolve` — channel id → channel, tenant and adapter
//! 2. `adapter::verify_and_parse` — signature/handshake, then events
//! 3. `guardrails::InboundCheck` — allow / rewrite / block / opt-out / opt-in
//!    (2 and 3 in one plugin visit), then `bounds::check` — what
//!    one webhook may store
//! 4. `InboundWriter::store` — one transaction (shared with concurrent
//!    webhooks by group commit): contacts, conversation,
//!    idempotent messages, monotonic statuses, processing jobs
//!
//! and the caller acknowledges only after step 4 committed. The stored
//! jobs then run through [`outbound`], the outbound half's one entry
//! (reply: persona → responder → outbound guardrails → the reply's parts;
//! delivery: render → provider → status), driven by `crate::worker`.

mod adapter;
pub mod bounds;
mod catalog;
pub mod delivery;
mod error;
mod guardrails;
pub mod jobs;
pub mod media;
pub mod media_fetch;
pub mod outbound;
mod plugins;
mod reply;
pub mod sandbox;
pub mod send;
mod shared;
pub mod split;
mod tenancy;
pub mod visitor;
pub mod webhook_delivery;
pub mod webhook_dispatch;

use std::sync::Arc;
use std::time::Instant;

use crate::domain::{HttpRequest, HttpResponse};
use crate::kv::KvStore;
use crate::runtime::{PluginRuntime, Verified};
use crate::secrets::Keyring;
use crate::storage::{Db, InboundItem, InboundOutcome, InboundWriter, OutboundWriter};

pub use adapter::NativeAdapter;
pub use catalog::{CatalogError, PluginCatalog};
pub use error::{Stage, WebhookError};
pub use plugins::Plugins;
pub use shared::SharedOutcome;
pub(crate) use tenancy::bind;
pub use tenancy::{ChannelCache, Transport};

/// Everything the pipeline needs; cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    pub db: Db,
    pub runtime: Arc<PluginRuntime>,
    pub catalog: Arc<PluginCatalog>,
    pub secrets: Keyring,
    pub kv: Arc<dyn KvStore>,
    /// Group-commit writer for stage 4.
    pub writer: InboundWriter,
    /// Group-commit writer for the outbound half's results (replies,
    /// accepted sends).
    pub outbound_writer: OutboundWriter,
    /// Short-lived cache for stage 1.
    pub channels: Arc<tenancy::ChannelCache>,
    /// Woken when a commit enqueued work, so idle workers start at once.
    pub wake: Arc<tokio::sync::Notify>,
    /// A compiled-in adapter for the benchmark's baseline; `None` in
    /// production.
    pub native_adapter: Option<Arc<dyn NativeAdapter>>,
}

/// What stages 2 and 3 made of a request.
enum Checked {
    /// The adapter answered a handshake (with its time in µs).
    Handshake(HttpResponse, u64),
    /// The items to store, with the two stages' times in µs.
    Items(Vec<InboundItem>, (u64, u64)),
}

/// How a webhook ended, for the HTTP layer.
#[derive(Debug)]
pub enum WebhookOutcome {
    /// The adapter answered a handshake; send its response as is.
    Handshake(HttpResponse),
    /// Events were committed.
    Stored(InboundOutcome),
}

impl Pipeline {
    /// One of `tenant_id`'s channels with its plugins, for the reply,
    /// delivery and send stages; another tenant's channel is unknown.
    pub(crate) async fn tenant_channel(
        &self,
        tenant_id: &str,
        channel_id: &str,
    ) -> Result<tenancy::Binding, WebhookError> {
        self.channel(channel_id, Some(tenant_id)).await
    }

    /// What the outbound stages are handed to call a channel's plugins.
    pub fn plugins(&self) -> Plugins<'_> {
        Plugins {
            runtime: &self.runtime,
            catalog: &self.catalog,
            kv: &self.kv,
            db: &self.db,
        }
    }

    /// Stage 1: a channel by id (from the webhook URL) with its plugins;
    /// with `tenant`, only that tenant's.
    async fn channel(
        &self,
        channel_id: &str,
        tenant: Option<&str>,
    ) -> Result<tenancy::Binding, WebhookError> {
        tenancy::resolve(
            &self.db,
            &self.secrets,
            &self.catalog,
            &self.runtime,
            &self.channels,
            channel_id,
            tenant,
        )
        .await
    }

    /// The last stage: store a channel's checked items through the group
    /// commit writer, sealed under its tenant's key.
    pub(crate) async fn store(
        &self,
        binding: &tenancy::Binding,
        items: Vec<InboundItem>,
    ) -> Result<InboundOutcome, WebhookError> {
        let cipher = self
            .secrets
            .cipher(&binding.channel.tenant_id)
            .await
            .map_err(|e| WebhookError::from_storage(e.into()))?;
        self.writer
            .store(&cipher, &binding.channel.id, items)
            .await
            .map_err(WebhookError::from_storage)
    }

    /// Stages 2 and 3, in one plugin visit (`PluginRuntime::blocking`):
    /// the adapter's verify + parse, then (on the events `keep` keeps) the
    /// channel's guardrail chain. One visit, not one per stage: a visit
    /// that goes to a plugin thread (a tenant whose calls were long) costs
    /// a hand-off there and back, more CPU than the wasm it runs
    /// (BENCHMARKS.md, sessions 9 and 10).
    async fn check(
        &self,
        binding: &tenancy::Binding,
        request: HttpRequest,
        keep: impl Fn(&crate::domain::Event) -> bool + Send + 'static,
    ) -> Result<Checked, WebhookError> {
        let native = adapter::native(self.native_adapter.as_deref(), binding, &request);
        let chain = guardrails::InboundCheck::of(binding, self.kv.clone());
        let parse = match native {
            Some(verified) => Ok(verified?),
            None => Err((
                binding.adapter.clone(),
                binding.adapter_call(self.kv.clone()),
            )),
        };
        // Nothing for a plugin to do: the benchmark's native adapter on a
        // channel without guardrails.
        let no_visit = parse.is_ok() && chain.is_empty();
        let visit = move |rt: &PluginRuntime| {
            let t = Instant::now();
            let verified = match parse {
                Ok(verified) => verified,
                Err((plugin, ctx)) => adapter::verify_and_parse(rt, &plugin, &ctx, request)?,
            };
            let adapter_us = t.elapsed().as_micros() as u64;
            let events = match verified {
                Verified::Handshake(response) => {
                    return Ok(Checked::Handshake(response, adapter_us));
                }
                Verified::Events(events) => events.into_iter().filter(|e| keep(e)).collect(),
            };
            let t = Instant::now();
            let items = chain.run(rt, events)?;
            Ok(Checked::Items(
                items,
                (adapter_us, t.elapsed().as_micros() as u64),
            ))
        };
        if no_visit {
            return visit(&self.runtime);
        }
        let (tenant, cap) = (
            binding.channel.tenant_id.clone(),
            binding.limits.concurrent_calls,
        );
        self.runtime
            .blocking(&tenant, cap, visit)
            .await
            .map_err(|error| WebhookError::Plugin {
                stage: Stage::Verify,
                error,
            })?
    }

    /// Run one webhook through the stages.
    pub async fn handle_webhook(
        &self,
        channel_id: &str,
        request: HttpRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        let started = Instant::now();
        let mut adapter = String::from("unknown");
        let result = self.webhook_stages(channel_id, request, &mut adapter).await;
        let outcome = match &result {
            Ok(WebhookOutcome::Handshake(_)) => "handshake",
            Ok(WebhookOutcome::Stored(_)) => "stored",
            Err(e) => e.code(),
        };
        crate::metrics::metrics().webhook(&adapter, outcome, started.elapsed());
        result
    }

    async fn webhook_stages(
        &self,
        channel_id: &str,
        request: HttpRequest,
        adapter_name: &mut String,
    ) -> Result<WebhookOutcome, WebhookError> {
        let span = tracing::Span::current();
        let binding = self.channel(channel_id, None).await?;
        span.record("tenant", binding.channel.tenant_id.as_str());
        span.record("plugin", binding.channel.adapter.as_str());
        adapter_name.clone_from(&binding.channel.adapter);
        if binding.transport != Transport::Provider {
            return Err(WebhookError::NotAWebhookChannel);
        }
        self.inbound_stages(&binding, request).await
    }

    /// Stages 2-4 for a resolved channel: a provider's webhook, or a
    /// visitor's frame ([`visitor`]).
    async fn inbound_stages(
        &self,
        binding: &tenancy::Binding,
        request: HttpRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        let started = Instant::now();
        let (items, timing) = match self.check(binding, request, |_| true).await? {
            Checked::Handshake(response, adapter_us) => {
                tracing::info!(adapter_us, "handshake answered");
                return Ok(WebhookOutcome::Handshake(response));
            }
            Checked::Items(items, timing) => (items, timing),
        };
        let items = guardrails::without_persona(items, binding);
        bounds::check(&items)?;
        let (adapter_us, guardrails_us) = timing;

        let t = Instant::now();
        let outcome = self.store(binding, items).await?;
        let store_us = t.elapsed().as_micros() as u64;
        crate::metrics::metrics().db("store_inbound", t.elapsed());
        if outcome.queued > 0 {
            self.wake.notify_waiters();
        }

        tracing::info!(
            adapter_us,
            guardrails_us,
            store_us,
            total_us = started.elapsed().as_micros() as u64,
            inserted = outcome.inserted,
            duplicates = outcome.duplicates,
            statuses = outcome.statuses_applied,
            "webhook stored"
        );
        Ok(WebhookOutcome::Stored(outcome))
    }
}
