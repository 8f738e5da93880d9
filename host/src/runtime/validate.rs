//! Validation of an uploaded component before it can be bound: within the
//! size cap, a wasm component (not a core module), of a known world version,
//! compiles, and passes the smoke call under the default limits. Each check
//! that refuses says which one and why, so the API and the CLI can report
//! the exact reason.

use std::sync::Arc;

use sha2::Digest;

use super::{LoadedPlugin, PluginError, PluginRuntime};
use crate::domain::AdapterInfo;

/// Which check refused a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// Larger than the configured cap.
    TooLarge,
    /// Not wasm at all.
    NotWasm,
    /// A core wasm module rather than a component.
    CoreModule,
    /// Unknown or newer world version, no plugin world, imports the host
    /// does not grant, or exports that do not match the contract.
    Incompatible,
    /// wasmtime could not compile it.
    CompileFailed,
    /// The smoke call trapped, ran out of a limit or returned an error.
    SmokeFailed,
    /// The runtime could not run the smoke call now (retryable).
    Unavailable,
}

impl RejectionKind {
    /// The stable error code clients see.
    pub fn code(self) -> &'static str {
        match self {
            RejectionKind::TooLarge => "plugin_too_large",
            RejectionKind::NotWasm => "not_wasm",
            RejectionKind::CoreModule => "core_module",
            RejectionKind::Incompatible => "incompatible",
            RejectionKind::CompileFailed => "compile_failed",
            RejectionKind::SmokeFailed => "smoke_failed",
            RejectionKind::Unavailable => "unavailable",
        }
    }
}

/// Why a component was refused; the message is safe to show its author.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub kind: RejectionKind,
    pub message: String,
}

impl Rejection {
    pub(crate) fn new(kind: RejectionKind, message: impl Into<String>) -> Self {
        Rejection {
            kind,
            message: message.into(),
        }
    }

    /// The stable error code clients see.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

/// A component that passed every check.
#[derive(Debug)]
pub struct Validated {
    pub plugin: Arc<LoadedPlugin>,
    /// What an adapter declared in its smoke call.
    pub info: Option<AdapterInfo>,
}

impl PluginRuntime {
    /// Run every upload check on `bytes`, cheapest first.
    pub fn validate_upload(&self, bytes: &[u8], max_bytes: usize) -> Result<Validated, Rejection> {
        if bytes.len() > max_bytes {
            return Err(Rejection::new(
                RejectionKind::TooLarge,
                format!(
                    "the component is {} bytes; the limit is {max_bytes} bytes",
                    bytes.len()
                ),
            ));
        }
        // Nothing is cached (in memory or on disk) until every check passed:
        // a component that fails leaves nothing behind.
        let sha256 = hex::encode(sha2::Sha256::digest(bytes));
        let (plugin, fresh) = match self.cached(&sha256) {
            Some(p) => (p, false),
            None => (self.prepare(bytes, sha256)?, true),
        };
        let info = self.smoke_test(&plugin).map_err(|e| match e {
            PluginError::Unavailable(_) | PluginError::Busy { .. } => {
                Rejection::new(RejectionKind::Unavailable, e.to_string())
            }
            other => Rejection::new(
                RejectionKind::SmokeFailed,
                format!("the smoke call failed ({}): {other}", other.code()),
            ),
        })?;
        if fresh {
            self.admit(&plugin);
        }
        Ok(Validated { plugin, info })
    }
}
