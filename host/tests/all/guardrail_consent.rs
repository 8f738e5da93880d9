//! The first-party consent guardrail, run as a real component: whole-message
//! STOP/START/HELP keywords on inbound messages, configured replies and
//! extra keywords.

use std::sync::Arc;

use switchboard::domain::{Direction, GuardrailContext, Verdict};
use switchboard::runtime::LoadedPlugin;
use switchboard_artifacts::first_party::CONSENT;

use crate::common::{ctx, runtime};

const DEFAULT_OPT_OUT: &str =
    "You have been unsubscribed and will receive no more messages. Reply START to resubscribe.";
const DEFAULT_OPT_IN: &str =
    "You have been resubscribed and will receive messages again. Reply STOP to unsubscribe.";
const DEFAULT_HELP: &str =
    "Reply STOP to unsubscribe or START to resubscribe. Message and data rates may apply.";

fn plugin() -> Arc<LoadedPlugin> {
    runtime().load(CONSENT).expect("consent loads")
}

fn check(config: &[(&str, &str)], direction: Direction, text: &str) -> Verdict {
    let mut inst = runtime()
        .instantiate(&plugin(), &ctx("acme", "consent", config))
        .expect("instantiates");
    inst.check(&GuardrailContext {
        direction,
        text: text.into(),
        channel_adapter: "twilio-sms".into(),
        contact_address: "+15551230000".into(),
        first_reply: false,
        prohibited_topics: vec![],
        required_disclaimers: vec![],
    })
    .expect("check succeeds")
}

fn inbound(config: &[(&str, &str)], text: &str) -> Verdict {
    check(config, Direction::Inbound, text)
}

fn opt_out(reply: &str) -> Verdict {
    Verdict::OptOut {
        reply: Some(reply.into()),
    }
}

fn opt_in(reply: &str) -> Verdict {
    Verdict::OptIn {
        reply: Some(reply.into()),
    }
}

fn help(reply: &str) -> Verdict {
    Verdict::Block {
        reason: "help keyword".into(),
        reply: Some(reply.into()),
    }
}

#[test]
fn opt_out_keywords_opt_out_with_the_default_reply() {
    for k in [
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "stop",
        "  Stop \n",
    ] {
        assert_eq!(inbound(&[], k), opt_out(DEFAULT_OPT_OUT), "{k:?}");
    }
}

#[test]
fn opt_in_keywords_opt_in_with_the_default_reply() {
    for k in ["START", "YES", "UNSTOP", " start", "Yes\n"] {
        assert_eq!(inbound(&[], k), opt_in(DEFAULT_OPT_IN), "{k:?}");
    }
}

#[test]
fn help_keywords_are_answered_with_help_text() {
    for k in ["HELP", "INFO", "help ", "Info"] {
        assert_eq!(inbound(&[], k), help(DEFAULT_HELP), "{k:?}");
    }
}

#[test]
fn other_messages_are_allowed() {
    for t in [
        "stop please",
        "STOP.",
        "stop!",
        "please stop",
        "hello",
        "",
        "yes please",
    ] {
        assert_eq!(inbound(&[], t), Verdict::Allow, "{t:?}");
    }
}

#[test]
fn configured_replies_are_used() {
    let config = [
        ("opt_out_reply", "Bye. Text START to return."),
        ("opt_in_reply", "Welcome back."),
        ("help_reply", "Call 555-0100."),
    ];
    assert_eq!(
        inbound(&config, "stop"),
        opt_out("Bye. Text START to return.")
    );
    assert_eq!(inbound(&config, "START"), opt_in("Welcome back."));
    assert_eq!(inbound(&config, "help"), help("Call 555-0100."));
}

#[test]
fn extra_keywords_extend_the_lists() {
    let config = [
        ("extra_opt_out_keywords", "arret, opt out"),
        ("extra_opt_in_keywords", "subscribe"),
    ];
    assert_eq!(inbound(&config, "ARRET"), opt_out(DEFAULT_OPT_OUT));
    assert_eq!(inbound(&config, " Opt Out "), opt_out(DEFAULT_OPT_OUT));
    assert_eq!(inbound(&config, "subscribe"), opt_in(DEFAULT_OPT_IN));
    assert_eq!(inbound(&config, "stop"), opt_out(DEFAULT_OPT_OUT));
    assert_eq!(inbound(&[], "arret"), Verdict::Allow);
}

#[test]
fn outbound_messages_are_allowed() {
    assert_eq!(check(&[], Direction::Outbound, "STOP"), Verdict::Allow);
    assert_eq!(
        check(&[], Direction::Outbound, "Hello there"),
        Verdict::Allow
    );
}
