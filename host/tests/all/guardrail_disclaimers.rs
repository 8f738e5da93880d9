//! The first-party disclaimers guardrail, run as a real component: the
//! persona's required disclaimers (plus configured extras) are appended to
//! outbound replies, once per conversation or on every reply.

use std::sync::Arc;

use switchboard::domain::{Direction, GuardrailContext, Verdict};
use switchboard::runtime::LoadedPlugin;
use switchboard_artifacts::first_party::DISCLAIMERS;

use crate::common::{ctx, runtime};

fn plugin() -> Arc<LoadedPlugin> {
    runtime().load(DISCLAIMERS).expect("disclaimers loads")
}

fn check(
    config: &[(&str, &str)],
    direction: Direction,
    text: &str,
    first_reply: bool,
    disclaimers: &[&str],
) -> Verdict {
    let mut inst = runtime()
        .instantiate(&plugin(), &ctx("acme", "disclaimers", config))
        .expect("instantiates");
    inst.check(&GuardrailContext {
        direction,
        text: text.into(),
        channel_adapter: "whatsapp-cloud".into(),
        contact_address: "+15551230000".into(),
        first_reply,
        prohibited_topics: vec![],
        required_disclaimers: disclaimers.iter().map(|d| d.to_string()).collect(),
    })
    .expect("check succeeds")
}

fn outbound(
    config: &[(&str, &str)],
    text: &str,
    first_reply: bool,
    disclaimers: &[&str],
) -> Verdict {
    check(config, Direction::Outbound, text, first_reply, disclaimers)
}

fn rewrite(text: &str) -> Verdict {
    Verdict::Rewrite { text: text.into() }
}

const REQUIRED: &[&str] = &[
    "Not financial advice.",
    "You are chatting with an AI assistant.",
];

#[test]
fn once_mode_is_the_default_and_only_rewrites_the_first_reply() {
    assert_eq!(
        outbound(&[], "Hello!", true, REQUIRED),
        rewrite("Hello!\n\nNot financial advice.\nYou are chatting with an AI assistant.")
    );
    assert_eq!(
        outbound(&[], "Hello again!", false, REQUIRED),
        Verdict::Allow
    );
    assert_eq!(
        outbound(&[("mode", "once")], "Hello again!", false, REQUIRED),
        Verdict::Allow
    );
}

#[test]
fn every_mode_rewrites_every_reply() {
    let config = [("mode", "every")];
    assert_eq!(
        outbound(&config, "Second answer", false, REQUIRED),
        rewrite("Second answer\n\nNot financial advice.\nYou are chatting with an AI assistant.")
    );
    assert_eq!(
        outbound(&config, "First answer", true, REQUIRED),
        rewrite("First answer\n\nNot financial advice.\nYou are chatting with an AI assistant.")
    );
}

#[test]
fn disclaimers_already_in_the_text_are_not_repeated() {
    assert_eq!(
        outbound(&[], "Buy low. NOT FINANCIAL ADVICE.", true, REQUIRED),
        rewrite("Buy low. NOT FINANCIAL ADVICE.\n\nYou are chatting with an AI assistant.")
    );
    assert_eq!(
        outbound(
            &[],
            "Hi\n\nnot financial advice.\nyou are chatting with an ai assistant.",
            true,
            REQUIRED
        ),
        Verdict::Allow
    );
}

#[test]
fn no_disclaimers_allows() {
    assert_eq!(outbound(&[], "Hello!", true, &[]), Verdict::Allow);
    assert_eq!(
        outbound(&[("mode", "every")], "Hello!", false, &[]),
        Verdict::Allow
    );
}

#[test]
fn configured_extra_disclaimers_are_added() {
    let config = [(
        "disclaimers",
        "Msg & data rates may apply.|Reply STOP to opt out.",
    )];
    assert_eq!(
        outbound(&config, "Hi", true, &["Not financial advice."]),
        rewrite("Hi\n\nNot financial advice.\nMsg & data rates may apply.\nReply STOP to opt out.")
    );
    assert_eq!(
        outbound(&config, "Hi", true, &[]),
        rewrite("Hi\n\nMsg & data rates may apply.\nReply STOP to opt out.")
    );
    assert_eq!(outbound(&config, "Hi", false, &[]), Verdict::Allow);
}

#[test]
fn inbound_messages_are_allowed() {
    assert_eq!(
        check(
            &[("mode", "every")],
            Direction::Inbound,
            "Hello",
            true,
            REQUIRED
        ),
        Verdict::Allow
    );
}
