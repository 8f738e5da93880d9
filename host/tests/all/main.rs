//! One integration-test binary with a module per topic (as wasmtime's
//! `tests/all`), so the plugin runtime and its compiled components are
//! shared instead of rebuilt per file.

mod cli;
mod cli_author;
mod cli_demo;
mod cli_keys;
mod cli_serve;
mod common;
mod compat;
mod example_adapter;
mod fuzz;
mod guardrail_consent;
mod guardrail_disclaimers;
mod guardrail_pii_redact;
mod guardrail_prohibited_topics;
mod hostile;
mod media;
mod polyglot;
mod runtime_cache;
mod sandbox;
mod telegram;
mod twilio;
mod webchat;
mod whatsapp_cloud;
