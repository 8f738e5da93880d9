//! What the host grants a plugin: logging, its binding's configuration, a
//! small key-value store and crypto. There is nothing else — no files,
//! environment, sockets or network.

use crate::__bindings::base::switchboard::plugin::host as wit;
use crate::types::PluginError;

pub use wit::{HashAlgorithm, KvError, LogLevel};

/// Log a line with structured fields. The host caps lines per call.
pub fn log(level: LogLevel, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    wit::log(level, message, &fields);
}

/// Log at info level with no fields.
pub fn info(message: &str) {
    log(LogLevel::Info, message, &[]);
}

/// Log at warn level with no fields.
pub fn warn(message: &str) {
    log(LogLevel::Warn, message, &[]);
}

/// A configuration value of this binding (secrets arrive decrypted).
pub fn config(key: &str) -> Option<String> {
    wit::config(key)
}

/// A configuration value that must be set and non-empty.
pub fn require_config(key: &str) -> Result<String, PluginError> {
    match wit::config(key) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(PluginError::config(format!(
            "configuration key `{key}` is required"
        ))),
    }
}

/// A configuration value, or `default` when unset or empty.
pub fn config_or(key: &str, default: &str) -> String {
    wit::config(key)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// The plugin's key-value store, scoped by the host to this tenant and plugin.
pub mod kv {
    use super::wit;
    pub use wit::KvError;

    /// Read a value.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
        wit::kv_get(key)
    }
    /// Store a value.
    pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
        wit::kv_set(key, value)
    }
    /// Delete a value.
    pub fn delete(key: &str) -> Result<(), KvError> {
        wit::kv_delete(key)
    }
}

/// Hashes and MACs computed by the host, so plugins need not bundle crypto.
pub mod crypto {
    use super::wit;
    use wit::HashAlgorithm;

    /// HMAC-SHA256 of `data` under `key`.
    pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
        wit::hmac(HashAlgorithm::Sha256, key, data)
    }
    /// HMAC-SHA1 of `data` under `key`.
    pub fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
        wit::hmac(HashAlgorithm::Sha1, key, data)
    }
    /// SHA-256 of `data`.
    pub fn sha256(data: &[u8]) -> Vec<u8> {
        wit::sha256(data)
    }
    /// Compare in constant time.
    pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
        wit::constant_time_eq(a, b)
    }

    /// Check a hex-encoded HMAC (as in `X-Hub-Signature-256: sha256=<hex>`,
    /// without the prefix) in constant time. Malformed hex is a mismatch.
    pub fn verify_hmac_hex(
        algorithm: HashAlgorithm,
        key: &[u8],
        data: &[u8],
        expected_hex: &str,
    ) -> bool {
        let Ok(expected) = hex::decode(expected_hex.trim()) else {
            return false;
        };
        let actual = wit::hmac(algorithm, key, data);
        wit::constant_time_eq(&actual, &expected)
    }

    /// Check a base64-encoded HMAC (as in `X-Twilio-Signature`) in constant
    /// time. The comparison is done on the encoded form so no decoder is
    /// needed in the guest.
    pub fn verify_hmac_base64(
        algorithm: HashAlgorithm,
        key: &[u8],
        data: &[u8],
        expected_b64: &str,
    ) -> bool {
        let actual = wit::hmac(algorithm, key, data);
        wit::constant_time_eq(
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &actual).as_bytes(),
            expected_b64.trim().as_bytes(),
        )
    }
}
