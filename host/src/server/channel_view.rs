//! A channel as the API shows it: its configuration with the adapter's
//! declared secrets hidden, its webhook URL, and each plugin binding with
//! the version it runs now. Every handler that answers with a channel
//! answers with this.

use serde_json::{Value, json};

use super::AppState;
use crate::domain::AdapterInfo;
use crate::storage::ChannelRecord;

/// A channel as the API shows it, with its bindings.
pub(crate) async fn channel_view(state: &AppState, ch: &ChannelRecord) -> Value {
    let info = adapter_info(state, ch).await;
    let mut v = channel_json(state, ch, info.as_ref());
    v["bindings"] = json!(bindings_json(state, ch).await);
    v
}

/// What the channel's adapter (the version it runs now) declares; `None`
/// when it cannot be loaded or does not answer.
async fn adapter_info(state: &AppState, ch: &ChannelRecord) -> Option<AdapterInfo> {
    let p = &state.pipeline;
    let binding = crate::pipeline::bind(&p.db, &p.catalog, &p.runtime, ch.clone())
        .await
        .ok()?;
    p.plugins().adapter_info(&binding).await
}

/// A channel as the API shows it: the values of the keys its adapter
/// declares secret (all of them when it declares nothing, or `info` is
/// unknown) only as set/unset.
pub(crate) fn channel_json(
    state: &AppState,
    ch: &ChannelRecord,
    info: Option<&AdapterInfo>,
) -> Value {
    let secret = |k: &str| info.is_none_or(|i| i.is_secret(k));
    let mut config = serde_json::Map::new();
    for (k, v) in ch.config.iter() {
        config.insert(
            k.clone(),
            if secret(k) {
                json!(if v.is_empty() { "unset" } else { "set" })
            } else {
                // A list was stored as its JSON (`plugin_config`): show it as one.
                serde_json::from_str::<Vec<String>>(v)
                    .map(|list| json!(list))
                    .unwrap_or_else(|_| json!(v))
            },
        );
    }
    // Declared secrets the tenant has not configured show as unset.
    for key in info.map(|i| i.config_keys.as_slice()).unwrap_or_default() {
        if secret(key) {
            config.entry(key.clone()).or_insert(json!("unset"));
        }
    }
    let embed = (ch.adapter == crate::pipeline::visitor::ADAPTER)
        .then(|| super::webchat::embed_snippet(&state.public_url, &ch.id));
    json!({
        "id": ch.id,
        "name": ch.name,
        "adapter": ch.adapter,
        "config": config,
        "guardrails": ch.guardrails,
        "persona_id": ch.persona_id,
        "webhook_url": state.webhook_url(&ch.id),
        "status": ch.status,
        "route_key": ch.route_key,
        "created_at": ch.created_at,
        "embed": embed,
    })
}

/// The channel's bindings as the API shows them, with the version each
/// runs now (what `latest` resolves to at this moment).
pub(crate) async fn bindings_json(state: &AppState, ch: &ChannelRecord) -> Vec<Value> {
    let p = &state.pipeline;
    let mut out = Vec::with_capacity(ch.bindings.len());
    for b in &ch.bindings {
        let current = p
            .catalog
            .current_version(&p.db, &ch.tenant_id, b)
            .await
            .ok()
            .flatten();
        out.push(json!({
            "slot": b.slot,
            "plugin": b.plugin,
            "version": current.map(|c| c.version),
            "pinned": b.pinned.is_some(),
            "first_party": p.catalog.is_first_party(&b.plugin) && b.pinned.is_none(),
            "previous_version": b.previous.as_ref().map(|v| v.version.clone()),
            "on_failure": b.on_failure,
            "config": b.config,
        }));
    }
    out
}
