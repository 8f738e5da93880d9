//! What an outbound stage is handed to call a channel's plugins: the
//! runtime, the catalog that resolves a reference to a component, and the
//! store a call's `kv` sees. A stage given this can call plugins and read
//! nothing else, write nothing at all: what it decides goes back to its
//! caller (`pipeline::outbound`), which records it.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::catalog::{CatalogError, PluginCatalog};
use super::tenancy::Binding;
use crate::domain::{
    AdapterInfo, HttpRequest, HttpResponse, OutboundMessage, PersonaContext, Prompt, Receipt,
    TemplateMessage,
};
use crate::kv::KvStore;
use crate::runtime::{LoadedPlugin, PluginError, PluginInstance, PluginRuntime};
use crate::storage::Db;

/// Borrowed from the [`Pipeline`](super::Pipeline) for one job.
#[derive(Clone, Copy)]
pub struct Plugins<'a> {
    pub runtime: &'a Arc<PluginRuntime>,
    pub catalog: &'a PluginCatalog,
    pub kv: &'a Arc<dyn KvStore>,
    /// Only to resolve a tenant's uploaded plugin by reference.
    pub(super) db: &'a Db,
}

impl Plugins<'_> {
    /// The channel adapter's `info` (name, limits, declared hosts), asked
    /// once per loaded component; `None` if the adapter cannot answer.
    pub async fn adapter_info(&self, binding: &Binding) -> Option<AdapterInfo> {
        if let Some(info) = binding.adapter.cached_info() {
            return Some(info.clone());
        }
        let ctx = binding.adapter_call(self.kv.clone());
        let plugin = binding.adapter.clone();
        let cap = ctx.limits.concurrent_calls;
        let tenant = ctx.tenant.clone();
        self.runtime
            .blocking(&tenant, cap, move |rt| rt.adapter_info(&plugin, &ctx).ok())
            .await
            .ok()
            .flatten()
    }

    /// The channel adapter's text limit (0, or an adapter that cannot
    /// answer: no splitting).
    pub async fn max_text_length(&self, binding: &Binding) -> usize {
        self.adapter_info(binding)
            .await
            .map_or(0, |i| i.max_text_length as usize)
    }

    /// `render`: a message as the provider's HTTP request.
    pub async fn render(
        &self,
        binding: &Binding,
        msg: OutboundMessage,
    ) -> Result<HttpRequest, PluginError> {
        self.adapter(binding, move |inst| inst.render(&msg)).await
    }

    /// `render-template`: a provider-approved template as its request.
    pub async fn render_template(
        &self,
        binding: &Binding,
        msg: TemplateMessage,
    ) -> Result<HttpRequest, PluginError> {
        self.adapter(binding, move |inst| inst.render_template(&msg))
            .await
    }

    /// `parse-send-response`: the provider's answer as a receipt, or its
    /// error.
    pub async fn parse_send_response(
        &self,
        binding: &Binding,
        response: HttpResponse,
    ) -> Result<Receipt, PluginError> {
        self.adapter(binding, move |inst| inst.parse_send_response(&response))
            .await
    }

    /// A persona component's `build-prompt`, run with the configuration the
    /// persona binds it with.
    pub async fn build_prompt(
        &self,
        binding: &Binding,
        reference: &str,
        config: Arc<BTreeMap<String, String>>,
        context: PersonaContext,
    ) -> Result<Prompt, PromptError> {
        let plugin = self.resolve(&binding.channel.tenant_id, reference).await?;
        let call = binding.call(reference, config, self.kv.clone());
        Ok(self
            .runtime
            .run(&plugin, call, move |inst| inst.build_prompt(&context))
            .await
            .and_then(|r| r)?)
    }

    /// A reference resolved for the binding's tenant (never another
    /// tenant's plugin).
    async fn resolve(
        &self,
        tenant_id: &str,
        reference: &str,
    ) -> Result<Arc<LoadedPlugin>, CatalogError> {
        self.catalog
            .resolve(self.db, self.runtime, tenant_id, reference)
            .await
    }

    /// One call of the channel's adapter, with its configuration.
    async fn adapter<R: Send + 'static>(
        &self,
        binding: &Binding,
        f: impl FnOnce(&mut PluginInstance) -> Result<R, PluginError> + Send + 'static,
    ) -> Result<R, PluginError> {
        self.runtime
            .run(&binding.adapter, binding.adapter_call(self.kv.clone()), f)
            .await
            .and_then(|r| r)
    }
}

/// Why a persona component gave no prompt (the caller falls back to the
/// persona's fields).
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("persona component unavailable: {0}")]
    Unavailable(#[from] CatalogError),
    #[error("persona component failed: {0}")]
    Failed(#[from] PluginError),
}
