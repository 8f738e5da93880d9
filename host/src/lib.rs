//! # Switchboard
//!
//! A multi-tenant messaging platform whose channel adapters and persona /
//! guardrail policies are sandboxed WebAssembly components.
//!
//! - [`runtime`]: the wasm plugin runtime (wasmtime, component model).
//! - [`domain`]: the host's message types.
//! - [`kv`]: storage behind the plugins' key-value import.
//! - [`first_party`]: the platform's built-in plugins.

pub mod cli;
pub mod domain;
pub mod first_party;
pub mod kv;
pub mod metrics;
pub mod orchestrator;
pub mod outbound;
pub mod pipeline;
pub mod runtime;
pub mod secrets;
pub mod server;
pub mod storage;
pub mod worker;
