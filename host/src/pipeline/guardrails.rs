//! Stage 3: the channel's inbound guardrail chain, in order, on each
//! message. A rewrite feeds the next guardrail; a block, opt-out or opt-in
//! ends the chain for that message. A failing guardrail refuses the
//! message unless its binding is `fail-open`.

use std::sync::Arc;

use super::error::{Stage, WebhookError};
use super::tenancy::Binding;
use crate::domain::{ConsentSignal, Direction, Event, GuardrailContext, InboundMessage, Verdict};
use crate::kv::KvStore;
use crate::runtime::{CallContext, PluginError, PluginRuntime};
use crate::storage::{ConsentSource, Disposition, InboundItem};

pub async fn check_inbound(
    runtime: &Arc<PluginRuntime>,
    binding: &Binding,
    kv: Arc<dyn KvStore>,
    events: Vec<Event>,
) -> Result<Vec<InboundItem>, WebhookError> {
    if binding.guardrails.is_empty() {
        return Ok(events.into_iter().map(accept).collect());
    }
    let chain = binding.guardrails.clone();
    let limits = binding.limits;
    let fail_open = binding.fail_open.clone();
    let tenant = binding.channel.tenant_id.clone();
    let config = binding.policy_config.clone();
    let adapter_name = binding.channel.adapter.clone();
    let tenant_id = binding.channel.tenant_id.clone();
    let chain_run = runtime.blocking(&tenant_id, limits.concurrent_calls, move |runtime| {
        let mut items = Vec::with_capacity(events.len());
        for event in events {
            let Event::Message(mut msg) = event else {
                items.push(accept(event));
                continue;
            };
            let mut disposition = provider_consent(&msg);
            if let (Disposition::Accept, Some(text)) = (&disposition, msg.text.clone()) {
                let mut text = text;
                for (name, plugin) in &chain {
                    let ctx = CallContext {
                        tenant: tenant.clone(),
                        plugin: name.clone(),
                        config: config.clone(),
                        kv: kv.clone(),
                        limits,
                    };
                    let context = GuardrailContext {
                        direction: Direction::Inbound,
                        text: text.clone(),
                        channel_adapter: adapter_name.clone(),
                        contact_address: msg.sender.address.clone(),
                        first_reply: false,
                        prohibited_topics: vec![],
                        required_disclaimers: vec![],
                    };
                    let verdict = match runtime
                        .instantiate(plugin, &ctx)
                        .and_then(|mut inst| inst.check(&context))
                    {
                        Ok(verdict) => verdict,
                        Err(error) if skips_failure(&fail_open, name, &error) => {
                            tracing::warn!(tenant = %tenant, guardrail = %name, error = %error, code = error.code(), "inbound guardrail failed; skipped (fail-open)");
                            continue;
                        }
                        Err(error) => {
                            return Err(WebhookError::Plugin {
                                stage: Stage::Guardrails,
                                error,
                            });
                        }
                    };
                    match verdict {
                        Verdict::Allow => {}
                        Verdict::Rewrite { text: t } => text = t,
                        Verdict::Block { reason, reply } => {
                            disposition = Disposition::Blocked { reason, reply };
                            break;
                        }
                        Verdict::OptOut { reply } => {
                            disposition = Disposition::OptOut {
                                source: ConsentSource::Keyword,
                                reply,
                            };
                            break;
                        }
                        Verdict::OptIn { reply } => {
                            disposition = Disposition::OptIn {
                                source: ConsentSource::Keyword,
                                reply,
                            };
                            break;
                        }
                    }
                }
                msg.text = Some(text);
            }
            items.push(InboundItem::Message(msg, disposition));
        }
        Ok(items)
    });
    chain_run.await.map_err(|error| WebhookError::Plugin {
        stage: Stage::Guardrails,
        error,
    })?
}

/// Whether a fail-open binding lets the chain go on past this failure. A
/// runtime that cannot run the call now is not the guardrail failing: the
/// webhook is refused so the provider retries.
pub(crate) fn skips_failure(
    fail_open: &std::collections::HashSet<String>,
    name: &str,
    error: &PluginError,
) -> bool {
    fail_open.contains(name)
        && !matches!(
            error,
            PluginError::Unavailable(_) | PluginError::Busy { .. }
        )
}

/// Messages of a channel without a persona wait for a human: stored, with
/// no processing job (fixed guardrail answers such as HELP still go out).
pub fn without_persona(items: Vec<InboundItem>, binding: &Binding) -> Vec<InboundItem> {
    if binding.channel.persona_id.is_some() {
        return items;
    }
    items
        .into_iter()
        .map(|item| match item {
            InboundItem::Message(m, Disposition::Accept) => {
                InboundItem::Message(m, Disposition::Inbox)
            }
            other => other,
        })
        .collect()
}

fn accept(event: Event) -> InboundItem {
    match event {
        Event::Message(m) => {
            let d = provider_consent(&m);
            InboundItem::Message(m, d)
        }
        Event::Status(s) => InboundItem::Status(s),
    }
}

/// A consent signal the provider attached (Twilio `OptOutType`, Telegram
/// `kicked`) decides before any guardrail runs: the user already said it.
/// No confirmation is sent: the provider sends its own (Twilio) or can no
/// longer deliver (a blocked Telegram bot).
fn provider_consent(m: &InboundMessage) -> Disposition {
    let source = ConsentSource::Provider;
    match m.consent {
        Some(ConsentSignal::OptOut) => Disposition::OptOut {
            source,
            reply: None,
        },
        Some(ConsentSignal::OptIn) => Disposition::OptIn {
            source,
            reply: None,
        },
        Some(ConsentSignal::Help) | None => Disposition::Accept,
    }
}
