//! # Switchboard
//!
//! A multi-tenant messaging platform whose channel adapters and persona /
//! guardrail policies are sandboxed WebAssembly components.
//!
//! `docs/architecture.md` explains how the parts fit; in short, one-way:
//! [`server`] (HTTP) → [`pipeline`] (the inbound stages, and the outbound
//! half, `pipeline::outbound`, which the [`worker`]s run: reply, guardrail
//! and delivery stages) → [`runtime`] (plugin calls) and [`storage`] (sqlx,
//! SQLite or PostgreSQL).
//!
//! - [`cli`]: the `switchboard` commands (`serve`, `demo`, `plugin …`).
//! - [`authoring`]: the plugin author's loop (`plugin new|build|test`).
//! - [`server`]: the axum app: webhooks, the REST API, admin, metrics.
//! - [`pipeline`]: tenant resolution, adapter, guardrails, storage of a
//!   webhook; replies, sends and deliveries.
//! - [`worker`]: leases outbox jobs and runs them, with lease heartbeats.
//! - [`runtime`]: the wasm plugin runtime (wasmtime, component model):
//!   limits, fairness, caches, the one `bindgen!` site.
//! - [`orchestrator`]: persona prompts and the LLM responder.
//! - [`storage`]: the database: tenants, channels, messages, the outbox.
//! - [`domain`]: the host's own types and vocabulary (statuses, kinds, tasks).
//! - [`secrets`]: tenant data keys (wrapped by the master key) and the
//!   sealing of secrets.
//! - [`crypto`]: the ciphertext format and message content under a
//!   tenant's key (sealed fields, blind indexes); no I/O.
//! - [`outbound`]: the policy every outbound HTTP call passes.
//! - [`kv`]: the plugins' key-value import (its store trait).
//! - [`metrics`]: Prometheus counters and histograms.
//! - [`first_party`]: the platform's built-in plugins.

pub mod authoring;
#[cfg(feature = "native-baseline")]
mod bench_baseline;
pub mod cli;
pub mod crypto;
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
