//! The `host` interface a plugin imports: log, config, kv, crypto. State is a
//! narrow per-call context ([`HostCtx`]) projected out of the store, in the
//! style of wasmtime's WASI view traits.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Digest;
use subtle::ConstantTimeEq;

use super::bindings::host::{self, HashAlgorithm, KvError, LogLevel};
use super::limits::KvQuota;
use crate::kv::{KvScope, KvStore};

/// One line a plugin logged (or printed).
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// `trace` … `error`, or `stdout`/`stderr` for captured output.
    pub level: &'static str,
    /// The message.
    pub message: String,
    /// Structured fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<(String, String)>,
}

/// Lines kept for one call, within a byte cap.
#[derive(Debug, Default)]
pub struct LogSink {
    pub(crate) lines: Vec<LogLine>,
    bytes: u64,
    cap: u64,
    pub(crate) dropped: u64,
}

impl LogSink {
    pub(crate) fn new(cap: u64) -> Self {
        LogSink {
            cap,
            ..Default::default()
        }
    }

    pub(crate) fn push(&mut self, line: LogLine) {
        let size = (line.message.len()
            + line
                .fields
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()) as u64
            + 16;
        if self.bytes + size > self.cap {
            self.dropped += 1;
            return;
        }
        self.bytes += size;
        self.lines.push(line);
    }
}

/// What one call of a plugin may see and touch.
pub struct HostCtx {
    pub(crate) config: Arc<BTreeMap<String, String>>,
    pub(crate) kv: Arc<dyn KvStore>,
    pub(crate) kv_scope: KvScope,
    pub(crate) kv_quota: KvQuota,
    pub(crate) logs: LogSink,
}

impl host::Host for HostCtx {
    fn log(&mut self, level: LogLevel, message: String, fields: Vec<(String, String)>) {
        let level = match level {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        self.logs.push(LogLine {
            level,
            message,
            fields,
        });
    }

    fn config(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }

    fn kv_get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.check_key(&key)?;
        self.kv
            .get(&self.kv_scope, &key)
            .map_err(|e| KvError::Unavailable(e.0))
    }

    fn kv_set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        self.check_key(&key)?;
        if value.len() > self.kv_quota.max_value_bytes as usize {
            return Err(KvError::ValueTooLarge(self.kv_quota.max_value_bytes));
        }
        match self
            .kv
            .set(&self.kv_scope, &key, &value, self.kv_quota.max_keys)
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(KvError::TooManyKeys(self.kv_quota.max_keys)),
            Err(e) => Err(KvError::Unavailable(e.0)),
        }
    }

    fn kv_delete(&mut self, key: String) -> Result<(), KvError> {
        self.check_key(&key)?;
        self.kv
            .delete(&self.kv_scope, &key)
            .map_err(|e| KvError::Unavailable(e.0))
    }

    fn hmac(&mut self, algorithm: HashAlgorithm, key: Vec<u8>, data: Vec<u8>) -> Vec<u8> {
        hmac_digest(algorithm, &key, &data)
    }

    fn sha256(&mut self, data: Vec<u8>) -> Vec<u8> {
        sha2::Sha256::digest(&data).to_vec()
    }

    fn constant_time_eq(&mut self, a: Vec<u8>, b: Vec<u8>) -> bool {
        // `ct_eq` on slices of different lengths returns false without
        // comparing; only the length leaks, which signatures don't hide.
        a.ct_eq(&b).into()
    }
}

impl HostCtx {
    fn check_key(&self, key: &str) -> Result<(), KvError> {
        if key.len() > self.kv_quota.max_key_bytes as usize {
            return Err(KvError::KeyTooLarge(self.kv_quota.max_key_bytes));
        }
        Ok(())
    }
}

/// HMAC with the requested hash.
pub(crate) fn hmac_digest(algorithm: HashAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    match algorithm {
        HashAlgorithm::Sha1 => {
            let mut mac =
                Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC accepts any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        HashAlgorithm::Sha256 => {
            let mut mac =
                Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_vectors() {
        // RFC 4231 test case 2 and RFC 2202 test case 2.
        let sha256 = hmac_digest(
            HashAlgorithm::Sha256,
            b"Jefe",
            b"what do ya want for nothing?",
        );
        assert_eq!(
            hex::encode(sha256),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let sha1 = hmac_digest(
            HashAlgorithm::Sha1,
            b"Jefe",
            b"what do ya want for nothing?",
        );
        assert_eq!(
            hex::encode(sha1),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn log_sink_drops_past_cap_and_counts() {
        let mut sink = LogSink::new(100);
        for i in 0..50 {
            sink.push(LogLine {
                level: "info",
                message: format!("line {i}"),
                fields: vec![],
            });
        }
        assert!(sink.lines.len() < 50 && !sink.lines.is_empty());
        assert_eq!(sink.lines.len() as u64 + sink.dropped, 50);
    }
}
