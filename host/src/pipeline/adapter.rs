//! Stage 2: the channel's adapter component verifies and parses the webhook,
//! in one fresh instance, in the pipeline's one plugin visit for stages 2
//! and 3 (within the tenant's share: `PluginRuntime::blocking`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::{Stage, WebhookError};
use super::tenancy::Binding;
use crate::domain::{Event, GuestError, HttpRequest};
use crate::runtime::{
    AdapterCall, CallContext, LoadedPlugin, PluginError, PluginRuntime, Verified,
};

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

/// The benchmark's compiled-in adapter's answer, when it handles this
/// channel; `None` hands the request to the component.
pub fn native(
    native: Option<&dyn NativeAdapter>,
    binding: &Binding,
    request: &HttpRequest,
) -> Option<Result<Verified, WebhookError>> {
    let handled =
        native?.verify_and_parse(&binding.channel.adapter, request, &binding.channel.config)?;
    Some(handled.map(Verified::Events).map_err(|e| match e {
        GuestError::InvalidSignature(m) => WebhookError::InvalidSignature(m),
        GuestError::BadRequest(m) => WebhookError::BadRequest(m),
        other => WebhookError::Plugin {
            stage: Stage::Parse,
            error: PluginError::Guest(other),
        },
    }))
}

/// Verify, then parse, in one fresh instance of `adapter`, on this thread:
/// call it inside a visit (`PluginRuntime::blocking`, the pipeline's visit
/// for stages 2 and 3).
pub fn verify_and_parse(
    runtime: &PluginRuntime,
    adapter: &Arc<LoadedPlugin>,
    ctx: &CallContext,
    request: HttpRequest,
) -> Result<Verified, WebhookError> {
    let called = runtime
        .with_instance(adapter, ctx, move |inst| {
            inst.verify_then_parse(request).map_err(|(call, e)| {
                let stage = match call {
                    AdapterCall::Verify => Stage::Verify,
                    AdapterCall::Parse => Stage::Parse,
                };
                (stage, e)
            })
        })
        .map_err(|e| (Stage::Verify, e))
        .and_then(|r| r);
    called.map_err(|(stage, error)| match error {
        PluginError::Guest(GuestError::InvalidSignature(m)) => WebhookError::InvalidSignature(m),
        PluginError::Guest(GuestError::BadRequest(m)) => WebhookError::BadRequest(m),
        error => WebhookError::Plugin { stage, error },
    })
}
