//! A guardrail that fails on purpose, for the per-binding failure policy:
//! a message containing `explode` traps (a Rust panic), one containing
//! `guest-error` returns an error variant; anything else gets a rewrite
//! that marks it as seen, so a test can tell the guardrail ran.

// Only meaningful as a wasm component; natively this crate is empty.
#![cfg(target_arch = "wasm32")]

use switchboard_sdk::prelude::*;

struct Flaky;

fn check(context: &GuardrailContext) -> Result<Verdict, PluginError> {
    if context.text.contains("explode") {
        panic!("flaky guardrail exploded on purpose");
    }
    if context.text.contains("guest-error") {
        return Err(PluginError::internal("flaky guardrail failed on purpose"));
    }
    Ok(Verdict::Rewrite(format!(
        "{} [flaky-checked]",
        context.text
    )))
}

impl Guardrail for Flaky {
    fn check_inbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        check(context)
    }
    fn check_outbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        check(context)
    }
}

switchboard_sdk::export_guardrail!(Flaky);
