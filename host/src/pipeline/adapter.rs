//! Stage 2: the channel's adapter component verifies and parses the webhook,
//! in one fresh instance, through the runtime's one way to call a plugin
//! (a blocking thread, within the tenant's share).

use std::sync::Arc;

use super::error::{Stage, WebhookError};
use super::tenancy::Binding;
use crate::domain::{GuestError, HttpRequest};
use crate::kv::KvStore;
use crate::runtime::{AdapterCall, PluginError, PluginRuntime, Verified};

pub async fn verify_and_parse(
    runtime: &Arc<PluginRuntime>,
    binding: &Binding,
    kv: Arc<dyn KvStore>,
    request: HttpRequest,
) -> Result<Verified, WebhookError> {
    #[cfg(feature = "native-baseline")]
    if super::native_baseline::enabled() && binding.channel.adapter == "whatsapp-cloud" {
        if let Some(result) =
            super::native_baseline::verify_and_parse(&request, &binding.channel.config)
        {
            return result.map(Verified::Events).map_err(|e| match e {
                GuestError::InvalidSignature(m) => WebhookError::InvalidSignature(m),
                GuestError::BadRequest(m) => WebhookError::BadRequest(m),
                other => WebhookError::Plugin {
                    stage: Stage::Parse,
                    error: PluginError::Guest(other),
                },
            });
        }
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
