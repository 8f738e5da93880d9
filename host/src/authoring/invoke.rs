//! One call of a plugin on one input, as `plugin run` and `plugin test` do
//! it: a fresh instance under the platform's default limits, the export the
//! component's world has, the result as JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::domain::{Direction, GuardrailContext, HttpRequest, PersonaContext};
use crate::runtime::{CallContext, LoadedPlugin, PluginError, PluginRuntime, World};

/// What to call a plugin with.
#[derive(Debug, Clone)]
pub enum Input {
    /// An adapter: `verify`, then `parse` when the request is accepted.
    Request(HttpRequest),
    /// A guardrail's message or a persona's.
    Message { text: String, direction: Direction },
}

/// The outcome of one call: the JSON `plugin run` prints, the log lines and
/// the fuel used.
pub struct Invocation {
    pub outcome: Result<Value, PluginError>,
    pub logs: Vec<String>,
    pub fuel_consumed: u64,
}

/// Why the input does not fit the plugin's world.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WrongInput(&'static str);

/// Call `plugin` once with `input` and `config`.
pub fn invoke(
    rt: &PluginRuntime,
    plugin: &Arc<LoadedPlugin>,
    name: &str,
    config: BTreeMap<String, String>,
    input: Input,
) -> Result<Invocation, WrongInput> {
    let ctx = CallContext::for_tenant("cli", name).with_config(config);
    let mut inst = match rt.instantiate(plugin, &ctx) {
        Ok(i) => i,
        Err(e) => {
            return Ok(Invocation {
                outcome: Err(e),
                logs: vec![],
                fuel_consumed: 0,
            });
        }
    };
    let outcome = match (plugin.detected.world, input) {
        (World::ChannelAdapter, Input::Request(req)) => match inst.verify(&req) {
            Err(e) => Err(e),
            Ok(Some(handshake)) => Ok(json!({ "verify": "handshake", "response": handshake })),
            Ok(None) => inst
                .parse(&req)
                .map(|events| json!({ "verify": "accepted", "events": events })),
        },
        (World::ChannelAdapter, _) => return Err(WrongInput("an adapter needs a request")),
        (World::Guardrail, Input::Message { text, direction }) => {
            let ctx = GuardrailContext {
                direction,
                text,
                channel_adapter: "cli".into(),
                contact_address: "cli-user".into(),
                first_reply: true,
                prohibited_topics: vec![],
                required_disclaimers: vec![],
            };
            inst.check(&ctx).map(|v| json!({ "verdict": v }))
        }
        (World::Persona, Input::Message { text, .. }) => {
            let ctx = PersonaContext {
                name: name.into(),
                display_name: name.into(),
                contact_name: None,
                channel_adapter: "cli".into(),
                history: vec![],
                message: text,
            };
            inst.build_prompt(&ctx).map(|p| json!({ "prompt": p }))
        }
        (_, Input::Request(_)) => {
            return Err(WrongInput("a guardrail or persona needs a message"));
        }
    };
    let report = inst.finish();
    let logs = report
        .logs
        .iter()
        .map(|line| {
            let fields: String = line
                .fields
                .iter()
                .map(|(k, v)| format!(" {k}={v}"))
                .collect();
            format!("[plugin {}] {}{}", line.level, line.message, fields)
        })
        .collect();
    Ok(Invocation {
        outcome,
        logs,
        fuel_consumed: report.fuel_consumed,
    })
}

/// A failed call as JSON: the plugin's own error (its kind and detail), or
/// the runtime's code and message.
pub fn error_json(e: &PluginError) -> Value {
    let detail = match e {
        PluginError::Guest(g) => serde_json::to_value(g).unwrap_or_default(),
        _ => json!(e.to_string()),
    };
    json!({ "error": { "code": e.code(), "message": e.to_string(), "detail": detail } })
}
