//! Shared helpers: one runtime per test binary, requests, configs.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use switchboard::domain::{Header, HttpRequest};
use switchboard::runtime::{CallContext, LoadedPlugin, PluginRuntime, RuntimeOptions};

/// The runtime shared by the tests (one engine, as in production).
pub fn runtime() -> &'static PluginRuntime {
    static RT: OnceLock<PluginRuntime> = OnceLock::new();
    RT.get_or_init(|| PluginRuntime::new(RuntimeOptions::default()).expect("runtime"))
}

/// Load a component from a path constant.
pub fn load_path(path: &str) -> Arc<LoadedPlugin> {
    let bytes = std::fs::read(path).expect("component file");
    runtime().load(&bytes).expect("component loads")
}

/// A config map from pairs.
pub fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A context for `tenant` with the given config.
pub fn ctx(tenant: &str, plugin: &str, pairs: &[(&str, &str)]) -> CallContext {
    CallContext::for_tenant(tenant, plugin).with_config(config(pairs))
}

/// A POST request with headers and body.
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        url: url.into(),
        headers: headers
            .iter()
            .map(|(n, v)| Header {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        body: body.to_vec(),
    }
}

/// Hex HMAC-SHA256, computed independently of the plugin under test.
pub fn hmac_sha256_hex(key: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The plugin's own error out of a call that must fail with one.
pub fn guest_err<T: std::fmt::Debug>(
    result: Result<T, switchboard::runtime::PluginError>,
) -> switchboard::domain::GuestError {
    match result {
        Err(switchboard::runtime::PluginError::Guest(e)) => e,
        other => panic!("expected a guest error, got {other:?}"),
    }
}
