//! The first-party `pii-redact` guardrail, run as a real component. Its unit
//! tests cover the scanning rules natively; these prove the export,
//! configuration passing and verdict conversions through the runtime.

use std::sync::Arc;

use switchboard::domain::{Direction, GuardrailContext, Verdict};
use switchboard::runtime::LoadedPlugin;
use switchboard_artifacts::first_party::PII_REDACT;

use crate::common::{ctx, runtime};

fn plugin() -> Arc<LoadedPlugin> {
    runtime().load(PII_REDACT).expect("pii-redact loads")
}

fn check(config: &[(&str, &str)], direction: Direction, text: &str) -> Verdict {
    let mut inst = runtime()
        .instantiate(&plugin(), &ctx("acme", "pii-redact", config))
        .expect("instantiates");
    inst.check(&GuardrailContext {
        direction,
        text: text.into(),
        channel_adapter: "telegram".into(),
        contact_address: "42".into(),
        first_reply: false,
        prohibited_topics: Vec::new(),
        required_disclaimers: Vec::new(),
    })
    .expect("check succeeds")
}

fn rewrite(text: &str) -> Verdict {
    Verdict::Rewrite { text: text.into() }
}

const MIXED: &str = "Reach jane+news@mail.example.com or +1 (555) 123-4567; card 4111-1111-1111-1111, due 2024-01-15.";

#[test]
fn redacts_both_directions() {
    let expected = rewrite("Reach [EMAIL] or [PHONE]; card [CARD], due 2024-01-15.");
    assert_eq!(check(&[], Direction::Inbound, MIXED), expected);
    assert_eq!(check(&[], Direction::Outbound, MIXED), expected);
}

#[test]
fn clean_text_and_luhn_failures_are_allowed() {
    assert_eq!(
        check(
            &[],
            Direction::Outbound,
            "See you on 2024-01-15 at 10, room 42."
        ),
        Verdict::Allow
    );
    assert_eq!(
        check(&[], Direction::Inbound, "ref 4111 1111 1111 1112"),
        Verdict::Allow
    );
}

#[test]
fn config_selects_kinds() {
    assert_eq!(
        check(&[("redact", "email")], Direction::Inbound, MIXED),
        rewrite("Reach [EMAIL] or +1 (555) 123-4567; card 4111-1111-1111-1111, due 2024-01-15.")
    );
    assert_eq!(
        check(
            &[("redact", "phone,card")],
            Direction::Outbound,
            "a@b.io 555.123.4567 4111 1111 1111 1111"
        ),
        rewrite("a@b.io [PHONE] [CARD]")
    );
}

#[test]
fn unknown_kind_is_an_error() {
    let mut inst = runtime()
        .instantiate(&plugin(), &ctx("acme", "pii-redact", &[("redact", "ssn")]))
        .expect("instantiates");
    let result = inst.check(&GuardrailContext {
        direction: Direction::Inbound,
        text: "a@b.io".into(),
        channel_adapter: "telegram".into(),
        contact_address: "42".into(),
        first_reply: false,
        prohibited_topics: Vec::new(),
        required_disclaimers: Vec::new(),
    });
    assert!(result.is_err(), "{result:?}");
}
