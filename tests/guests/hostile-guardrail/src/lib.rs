//! A hostile guardrail for the sandbox tests, in both directions: as its
//! binding's `guard-mode` configuration says, it sleeps for an hour (only the
//! host's call deadline can end that), spins until its fuel runs out, or
//! rewrites every message to 16 MiB (more than the output cap) or to 100 KiB
//! (within the cap, more than one message may store). Any other mode allows
//! the message.

// Only meaningful as a wasm component; natively this crate is empty.
#![cfg(target_arch = "wasm32")]

use switchboard_sdk::prelude::*;

struct HostileGuard;

fn check(_context: &GuardrailContext) -> Result<Verdict, PluginError> {
    match host::config("guard-mode").as_deref() {
        Some("sleep") => {
            std::thread::sleep(std::time::Duration::from_secs(3600));
            Ok(Verdict::Allow)
        }
        Some("loop") => {
            let mut i: u64 = 0;
            loop {
                i = std::hint::black_box(i.wrapping_add(1));
            }
        }
        Some("huge-rewrite") => Ok(Verdict::Rewrite("x".repeat(16 << 20))),
        // Within the output cap, over what one message may store.
        Some("rewrite-100k") => Ok(Verdict::Rewrite("x".repeat(100 << 10))),
        // Reports which configuration it can read: the channel's (secret
        // or not) or its own binding's.
        Some("read-config") => Ok(Verdict::Rewrite(format!(
            "app_secret={:?} access_token={:?} phone_number_id={:?} guard-mode={:?} tone={:?}",
            host::config("app_secret"),
            host::config("access_token"),
            host::config("phone_number_id"),
            host::config("guard-mode"),
            host::config("tone"),
        ))),
        _ => Ok(Verdict::Allow),
    }
}

impl Guardrail for HostileGuard {
    fn check_inbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        check(context)
    }
    fn check_outbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        check(context)
    }
}

switchboard_sdk::export_guardrail!(HostileGuard);
