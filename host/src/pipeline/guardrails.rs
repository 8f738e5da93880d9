//! Stage 3, and the last check of every outgoing text: the channel's
//! guardrail chain, in order. A rewrite feeds the next guardrail; a block
//! (and, on a customer's message, an opt-out or opt-in) ends the chain. A
//! failing guardrail refuses unless its binding is `fail-open`. Each
//! guardrail reads only the configuration it is bound with.

use std::sync::Arc;

use super::catalog::PluginCatalog;
use super::error::{Stage, WebhookError};
use super::plugins::Plugins;
use super::tenancy::{Binding, BoundGuardrail};
use crate::domain::{ConsentSignal, Direction, Event, GuardrailContext, InboundMessage, Verdict};
use crate::kv::KvStore;
use crate::runtime::{CallContext, LimitOverrides, PluginError, PluginRuntime};
use crate::storage::{ConsentSource, Disposition, InboundItem};

/// A channel's guardrail chain, ready to run in a plugin visit.
#[derive(Clone)]
struct Chain {
    guardrails: Arc<[BoundGuardrail]>,
    tenant: String,
    kv: Arc<dyn KvStore>,
    limits: LimitOverrides,
}

/// What the chain decided about one text.
enum Outcome {
    /// Every guardrail let it through, perhaps rewritten.
    Pass(String),
    /// Guardrail `by` stopped it with `stop`, at `text`.
    Stopped {
        text: String,
        by: String,
        stop: Stop,
    },
    /// Guardrail `by`, bound fail-closed, failed.
    Failed {
        text: String,
        by: String,
        error: PluginError,
    },
}

/// The verdicts that end the chain.
enum Stop {
    Block {
        reason: String,
        reply: Option<String>,
    },
    OptOut {
        reply: Option<String>,
    },
    OptIn {
        reply: Option<String>,
    },
}

impl Chain {
    fn of(binding: &Binding, kv: Arc<dyn KvStore>) -> Self {
        Chain {
            guardrails: binding.guardrails.clone(),
            tenant: binding.channel.tenant_id.clone(),
            kv,
            limits: binding.limits,
        }
    }

    /// The chain followed by `rails` (run last, after the channel's own).
    fn then(mut self, rails: Vec<BoundGuardrail>) -> Self {
        if !rails.is_empty() {
            self.guardrails = self.guardrails.iter().cloned().chain(rails).collect();
        }
        self
    }

    /// Run every guardrail on `context.text` (blocking: call on a plugin
    /// thread).
    fn run(&self, runtime: &PluginRuntime, mut context: GuardrailContext) -> Outcome {
        for g in self.guardrails.iter() {
            let call = CallContext {
                tenant: self.tenant.clone(),
                plugin: g.name.clone(),
                config: g.config.clone(),
                kv: self.kv.clone(),
                limits: self.limits,
            };
            let verdict = runtime
                .instantiate(&g.plugin, &call)
                .and_then(|mut i| i.check(&context));
            let stop = match verdict {
                Ok(Verdict::Allow) => continue,
                Ok(Verdict::Rewrite { text }) => {
                    context.text = text;
                    continue;
                }
                // Consent changes only come from the customer; on a reply
                // these verdicts mean nothing.
                Ok(Verdict::OptOut { .. } | Verdict::OptIn { .. })
                    if context.direction == Direction::Outbound =>
                {
                    continue;
                }
                Ok(Verdict::Block { reason, reply }) => Stop::Block { reason, reply },
                Ok(Verdict::OptOut { reply }) => Stop::OptOut { reply },
                Ok(Verdict::OptIn { reply }) => Stop::OptIn { reply },
                Err(error) if skips_failure(g, &error) => {
                    tracing::warn!(tenant = %self.tenant, guardrail = %g.name, direction = ?context.direction, error = %error, code = error.code(), "guardrail failed; skipped (fail-open)");
                    continue;
                }
                Err(error) => {
                    return Outcome::Failed {
                        text: context.text,
                        by: g.name.clone(),
                        error,
                    };
                }
            };
            return Outcome::Stopped {
                text: context.text,
                by: g.name.clone(),
                stop,
            };
        }
        Outcome::Pass(context.text)
    }
}

/// Whether a fail-open binding lets the chain go on past this failure. A
/// runtime that cannot run the call now is not the guardrail failing: the
/// webhook is refused so the provider retries.
fn skips_failure(g: &BoundGuardrail, error: &PluginError) -> bool {
    g.fail_open
        && !matches!(
            error,
            PluginError::Unavailable(_) | PluginError::Busy { .. }
        )
}

/// The chain on each message of a webhook, before anything is stored:
/// prepared here, run in the pipeline's plugin visit for stages 2 and 3.
pub struct InboundCheck {
    chain: Chain,
    adapter: String,
}

impl InboundCheck {
    pub fn of(binding: &Binding, kv: Arc<dyn KvStore>) -> Self {
        InboundCheck {
            chain: Chain::of(binding, kv),
            adapter: binding.channel.adapter.clone(),
        }
    }

    /// Whether the channel binds no guardrail (so no visit is needed).
    pub fn is_empty(&self) -> bool {
        self.chain.guardrails.is_empty()
    }

    /// Each event as the item to store, with its message's disposition
    /// (blocking: call inside a visit, `PluginRuntime::blocking`).
    pub fn run(
        &self,
        runtime: &PluginRuntime,
        events: Vec<Event>,
    ) -> Result<Vec<InboundItem>, WebhookError> {
        let mut items = Vec::with_capacity(events.len());
        for event in events {
            let Event::Message(mut msg) = event else {
                items.push(accept(event));
                continue;
            };
            let mut disposition = provider_consent(&msg);
            if let (false, Disposition::Accept, Some(text)) =
                (self.is_empty(), &disposition, msg.text.clone())
            {
                let context = GuardrailContext {
                    direction: Direction::Inbound,
                    text,
                    channel_adapter: self.adapter.clone(),
                    contact_address: msg.sender.address.clone(),
                    first_reply: false,
                    prohibited_topics: vec![],
                    required_disclaimers: vec![],
                };
                let text = match self.chain.run(runtime, context) {
                    Outcome::Pass(text) => text,
                    Outcome::Stopped { text, stop, .. } => {
                        let source = ConsentSource::Keyword;
                        disposition = match stop {
                            Stop::Block { reason, reply } => Disposition::Blocked { reason, reply },
                            Stop::OptOut { reply } => Disposition::OptOut { source, reply },
                            Stop::OptIn { reply } => Disposition::OptIn { source, reply },
                        };
                        text
                    }
                    Outcome::Failed { error, .. } => {
                        return Err(WebhookError::Plugin {
                            stage: Stage::Guardrails,
                            error,
                        });
                    }
                };
                msg.text = Some(text);
            }
            items.push(InboundItem::Message(msg, disposition));
        }
        Ok(items)
    }
}

/// The first-party guardrails that enforce a persona's rails on every
/// reply: `prohibited-topics` when it lists topics, `disclaimers` when it
/// requires some, each unless the channel already binds it. They run after
/// the channel's chain and fail closed, whatever the tenant bound or its
/// custom prompt says.
fn persona_rails(
    catalog: &PluginCatalog,
    binding: &Binding,
    base: &GuardrailContext,
) -> Vec<BoundGuardrail> {
    let wanted = [
        ("prohibited-topics", !base.prohibited_topics.is_empty()),
        ("disclaimers", !base.required_disclaimers.is_empty()),
    ];
    wanted
        .into_iter()
        .filter(|(name, needed)| *needed && !binding.guardrails.iter().any(|g| g.name == *name))
        .filter_map(|(name, _)| {
            let plugin = catalog.first_party(name);
            if plugin.is_none() {
                tracing::error!(guardrail = name, "first-party rail missing from this build");
            }
            Some(BoundGuardrail {
                name: name.to_string(),
                plugin: plugin?,
                fail_open: false,
                config: Arc::default(),
            })
        })
        .collect()
}

/// The chain on an outgoing text (`base` says to whom and what the persona
/// requires), then the persona's rails. `Ok(Err((text, reason)))` when it
/// is blocked, by a verdict or by a fail-closed guardrail that failed;
/// `Err` when the chain could not run now (retry later).
pub async fn check_outbound(
    plugins: &Plugins<'_>,
    binding: &Binding,
    base: GuardrailContext,
    text: String,
) -> Result<Result<String, (String, String)>, PluginError> {
    let rails = persona_rails(plugins.catalog, binding, &base);
    if binding.guardrails.is_empty() && rails.is_empty() {
        return Ok(Ok(text));
    }
    let chain = Chain::of(binding, plugins.kv.clone()).then(rails);
    let context = GuardrailContext { text, ..base };
    let (tenant, cap) = (chain.tenant.clone(), chain.limits.concurrent_calls);
    // The runtime could not run the chain now (the tenant's share is busy,
    // the runtime is stopping): the caller retries, nothing is blocked.
    let outcome = plugins
        .runtime
        .blocking(&tenant, cap, move |runtime| chain.run(runtime, context))
        .await?;
    Ok(match outcome {
        Outcome::Pass(text) => Ok(text),
        Outcome::Stopped { text, by, stop } => {
            let reason = match stop {
                Stop::Block { reason, .. } => reason,
                // Not reached: outbound, the chain goes on past these.
                Stop::OptOut { .. } | Stop::OptIn { .. } => "consent verdict".to_string(),
            };
            Err((text, format!("{by}: {reason}")))
        }
        Outcome::Failed { text, by, error } => Err((
            text,
            format!(
                "{by} failed ({}); blocked by the fail-closed policy",
                error.code()
            ),
        )),
    })
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
