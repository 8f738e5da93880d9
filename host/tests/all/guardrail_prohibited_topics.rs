//! The first-party `prohibited-topics` guardrail, run as a real component.
//! Its unit tests cover the matching rules natively; these prove the export,
//! configuration passing and verdict conversions through the runtime.

use std::sync::Arc;

use switchboard::domain::{Direction, GuardrailContext, Verdict};
use switchboard::runtime::LoadedPlugin;
use switchboard_artifacts::first_party::PROHIBITED_TOPICS;

use crate::common::{ctx, runtime};

fn plugin() -> Arc<LoadedPlugin> {
    runtime()
        .load(PROHIBITED_TOPICS)
        .expect("prohibited-topics loads")
}

fn check(config: &[(&str, &str)], direction: Direction, text: &str, topics: &[&str]) -> Verdict {
    let mut inst = runtime()
        .instantiate(&plugin(), &ctx("acme", "prohibited-topics", config))
        .expect("instantiates");
    inst.check(&GuardrailContext {
        direction,
        text: text.into(),
        channel_adapter: "telegram".into(),
        contact_address: "42".into(),
        first_reply: false,
        prohibited_topics: topics.iter().map(|t| t.to_string()).collect(),
        required_disclaimers: Vec::new(),
    })
    .expect("check succeeds")
}

#[test]
fn outbound_persona_topic_blocks_by_default() {
    assert_eq!(
        check(
            &[],
            Direction::Outbound,
            "Let me tell you about POLITICS today.",
            &["politics"]
        ),
        Verdict::Block {
            reason: "prohibited topic: politics".into(),
            reply: None
        }
    );
}

#[test]
fn outbound_config_phrase_with_block_reply() {
    assert_eq!(
        check(
            &[
                ("phrases", "crypto | stock tips"),
                ("block_reply", "I can't discuss that.")
            ],
            Direction::Outbound,
            "Here are my stock\n  tips:",
            &[]
        ),
        Verdict::Block {
            reason: "prohibited topic: stock tips".into(),
            reply: Some("I can't discuss that.".into())
        }
    );
}

#[test]
fn outbound_rewrite_action() {
    assert_eq!(
        check(
            &[("action", "rewrite")],
            Direction::Outbound,
            "Buy a gun.",
            &["gun"]
        ),
        Verdict::Rewrite {
            text: "I'm sorry, I can't help with that topic.".into()
        }
    );
    assert_eq!(
        check(
            &[
                ("action", "rewrite"),
                ("rewrite_text", "Let's change the subject.")
            ],
            Direction::Outbound,
            "gun",
            &["gun"]
        ),
        Verdict::Rewrite {
            text: "Let's change the subject.".into()
        }
    );
}

#[test]
fn word_boundaries_allow() {
    assert_eq!(
        check(
            &[("phrases", "gun")],
            Direction::Outbound,
            "The show has begun.",
            &[]
        ),
        Verdict::Allow
    );
}

#[test]
fn inbound_only_when_enabled() {
    assert_eq!(
        check(
            &[],
            Direction::Inbound,
            "what about politics?",
            &["politics"]
        ),
        Verdict::Allow
    );
    assert_eq!(
        check(
            &[("check_inbound", "true"), ("action", "rewrite")],
            Direction::Inbound,
            "what about politics?",
            &["politics"]
        ),
        Verdict::Block {
            reason: "prohibited topic: politics".into(),
            reply: None
        }
    );
}

#[test]
fn invalid_action_is_an_error() {
    let mut inst = runtime()
        .instantiate(
            &plugin(),
            &ctx("acme", "prohibited-topics", &[("action", "explode")]),
        )
        .expect("instantiates");
    let result = inst.check(&GuardrailContext {
        direction: Direction::Outbound,
        text: "hello".into(),
        channel_adapter: "telegram".into(),
        contact_address: "42".into(),
        first_reply: false,
        prohibited_topics: Vec::new(),
        required_disclaimers: Vec::new(),
    });
    assert!(result.is_err(), "{result:?}");
}
