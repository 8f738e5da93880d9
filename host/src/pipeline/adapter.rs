//! Stage 2: the channel's adapter component verifies and parses the webhook,
//! in one fresh instance, through the runtime's one way to call a plugin
//! (a blocking thread, within the tenant's share).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::{Stage, WebhookError};
use super::tenancy::Binding;
use crate::domain::{Event, GuestError, HttpRequest};
use crate::kv::KvStore;
use crate::runtime::{AdapterCall, PluginError, PluginRuntime, Verified};

/// An adapter compiled into the host instead of run as a component. Only
/// the benchmark's baseline (`--features native-baseline`) provides one,
/// plugged in where the server is assembled, so the load test can measure
/// the pipeline without the sandbox; production pipelines have `None`.
pub trait NativeAdapter: Send + Sync {
    /// Verify and parse `request` for adapter `adapter`; `None` hands it
    /// to the component.
    fn verify_and_parse(
        &self,
        adapter: &str,
        request: &HttpRequest,
        config: &BTreeMap<String, String>,
    ) -> Option<Result<Vec<Event>, GuestError>>;
}

pub async fn verify_and_parse(
    runtime: &Arc<PluginRuntime>,
    native: Option<&dyn NativeAdapter>,
    binding: &Binding,
    kv: Arc<dyn KvStore>,
    request: HttpRequest,
) -> Result<Verified, WebhookError> {
    let handled = native.and_then(|n| {
        n.verify_and_parse(&binding.channel.adapter, &request, &binding.channel.config)
    });
    if let Some(result) = handled {
        return result.map(Verified::Events).map_err(|e| match e {
            GuestError::InvalidSignature(m) => WebhookError::InvalidSignature(m),
            GuestError::BadRequest(m) => WebhookError::BadRequest(m),
            other => WebhookError::Plugin {
                stage: Stage::Parse,
                error: PluginError::Guest(other),
            },
        });
    }
    let ctx = binding.adapter_call(kv);
    let called = runtime
        .run(&binding.adapter, ctx, move |inst| {
            inst.verify_then_parse(request).map_err(|(call, e)| {
                let stage = match call {
                    AdapterCall::Verify => Stage::Verify,
                    AdapterCall::Parse => Stage::Parse,
                };
                (stage, e)
            })
        })
        .await
        .map_err(|e| (Stage::Verify, e))
        .and_then(|r| r);
    called.map_err(|(stage, error)| match error {
        PluginError::Guest(GuestError::InvalidSignature(m)) => WebhookError::InvalidSignature(m),
        PluginError::Guest(GuestError::BadRequest(m)) => WebhookError::BadRequest(m),
        error => WebhookError::Plugin { stage, error },
    })
}
