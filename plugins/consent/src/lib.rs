//! Consent guardrail: recognises whole-message opt-out (STOP, …), opt-in
//! (START, …) and help (HELP, INFO) keywords on inbound messages, following
//! Twilio's default keyword lists. Matching is case-insensitive after
//! trimming surrounding whitespace; "stop please" is not a keyword.
//!
//! Config: `opt_out_reply`, `opt_in_reply`, `help_reply` (confirmation
//! texts), `extra_opt_out_keywords`, `extra_opt_in_keywords`
//! (comma-separated additions to the default lists).

use switchboard_sdk::host::config_or;
use switchboard_sdk::{BlockDetails, Guardrail, GuardrailContext, PluginError, Verdict};

/// Default opt-out keywords (Twilio's standard list).
pub const OPT_OUT_KEYWORDS: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// Default opt-in keywords.
pub const OPT_IN_KEYWORDS: &[&str] = &["START", "YES", "UNSTOP"];
/// Help keywords.
pub const HELP_KEYWORDS: &[&str] = &["HELP", "INFO"];

/// Default confirmation of an opt-out.
pub const DEFAULT_OPT_OUT_REPLY: &str =
    "You have been unsubscribed and will receive no more messages. Reply START to resubscribe.";
/// Default confirmation of an opt-in.
pub const DEFAULT_OPT_IN_REPLY: &str =
    "You have been resubscribed and will receive messages again. Reply STOP to unsubscribe.";
/// Default answer to a help keyword.
pub const DEFAULT_HELP_REPLY: &str =
    "Reply STOP to unsubscribe or START to resubscribe. Message and data rates may apply.";

/// The reason recorded when a help keyword is answered.
pub const HELP_REASON: &str = "help keyword";

/// Which kind of keyword a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
    Help,
}

/// The guardrail's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub opt_out_reply: String,
    pub opt_in_reply: String,
    pub help_reply: String,
    pub extra_opt_out: Vec<String>,
    pub extra_opt_in: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            opt_out_reply: DEFAULT_OPT_OUT_REPLY.to_string(),
            opt_in_reply: DEFAULT_OPT_IN_REPLY.to_string(),
            help_reply: DEFAULT_HELP_REPLY.to_string(),
            extra_opt_out: Vec::new(),
            extra_opt_in: Vec::new(),
        }
    }
}

/// What to do with an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    OptOut(String),
    OptIn(String),
    Help(String),
}

/// Split a comma-separated keyword list, dropping empty entries.
pub fn parse_keywords(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

fn is_one_of<'a>(folded: &str, keywords: impl IntoIterator<Item = &'a str>) -> bool {
    keywords
        .into_iter()
        .any(|k| k.trim().to_lowercase() == folded)
}

/// Classify a whole message: trimmed of whitespace, compared case-insensitively.
pub fn classify(text: &str, extra_opt_out: &[String], extra_opt_in: &[String]) -> Option<Keyword> {
    let folded = text.trim().to_lowercase();
    if folded.is_empty() {
        return None;
    }
    if is_one_of(
        &folded,
        OPT_OUT_KEYWORDS
            .iter()
            .copied()
            .chain(extra_opt_out.iter().map(String::as_str)),
    ) {
        Some(Keyword::OptOut)
    } else if is_one_of(
        &folded,
        OPT_IN_KEYWORDS
            .iter()
            .copied()
            .chain(extra_opt_in.iter().map(String::as_str)),
    ) {
        Some(Keyword::OptIn)
    } else if is_one_of(&folded, HELP_KEYWORDS.iter().copied()) {
        Some(Keyword::Help)
    } else {
        None
    }
}

/// A Telegram bot command that is a consent keyword: `/stop`, `/start`
/// (also with a deep-link payload, `/start ref42`) and `/help`, optionally
/// addressed to the bot (`/stop@AcmeBot`), case-insensitively.
pub fn telegram_command(text: &str) -> Option<&'static str> {
    let text = text.trim();
    let (command, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let command = command.split_once('@').map_or(command, |(c, _)| c);
    match command.to_lowercase().as_str() {
        "/stop" if rest.trim().is_empty() => Some("STOP"),
        "/help" if rest.trim().is_empty() => Some("HELP"),
        "/start" => Some("START"),
        _ => None,
    }
}

/// Decide what to do with an inbound message.
pub fn decide(text: &str, settings: &Settings) -> Decision {
    match classify(text, &settings.extra_opt_out, &settings.extra_opt_in) {
        Some(Keyword::OptOut) => Decision::OptOut(settings.opt_out_reply.clone()),
        Some(Keyword::OptIn) => Decision::OptIn(settings.opt_in_reply.clone()),
        Some(Keyword::Help) => Decision::Help(settings.help_reply.clone()),
        None => Decision::Allow,
    }
}

/// Convert a decision to the contract's verdict.
pub fn to_verdict(decision: Decision) -> Verdict {
    match decision {
        Decision::Allow => Verdict::Allow,
        Decision::OptOut(reply) => Verdict::OptOut(Some(reply)),
        Decision::OptIn(reply) => Verdict::OptIn(Some(reply)),
        Decision::Help(reply) => Verdict::Block(BlockDetails {
            reason: HELP_REASON.to_string(),
            reply: Some(reply),
        }),
    }
}

/// The guardrail component.
pub struct Consent;

fn settings_from_config() -> Settings {
    Settings {
        opt_out_reply: config_or("opt_out_reply", DEFAULT_OPT_OUT_REPLY),
        opt_in_reply: config_or("opt_in_reply", DEFAULT_OPT_IN_REPLY),
        help_reply: config_or("help_reply", DEFAULT_HELP_REPLY),
        extra_opt_out: parse_keywords(&config_or("extra_opt_out_keywords", "")),
        extra_opt_in: parse_keywords(&config_or("extra_opt_in_keywords", "")),
    }
}

impl Guardrail for Consent {
    fn check_inbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        // On Telegram the bot's commands are how people say these words.
        let text = match context.channel_adapter.as_str() {
            "telegram" => telegram_command(&context.text).unwrap_or(&context.text),
            _ => &context.text,
        };
        Ok(to_verdict(decide(text, &settings_from_config())))
    }
}

switchboard_sdk::export_guardrail!(Consent);

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decision {
        decide(text, &Settings::default())
    }

    #[test]
    fn every_opt_out_keyword_opts_out() {
        for k in OPT_OUT_KEYWORDS {
            assert_eq!(d(k), Decision::OptOut(DEFAULT_OPT_OUT_REPLY.into()), "{k}");
            assert_eq!(
                d(&k.to_lowercase()),
                Decision::OptOut(DEFAULT_OPT_OUT_REPLY.into()),
                "{k}"
            );
        }
    }

    #[test]
    fn every_opt_in_keyword_opts_in() {
        for k in OPT_IN_KEYWORDS {
            assert_eq!(d(k), Decision::OptIn(DEFAULT_OPT_IN_REPLY.into()), "{k}");
            assert_eq!(
                d(&k.to_lowercase()),
                Decision::OptIn(DEFAULT_OPT_IN_REPLY.into()),
                "{k}"
            );
        }
    }

    #[test]
    fn help_keywords_answer_with_help() {
        for k in HELP_KEYWORDS {
            assert_eq!(d(k), Decision::Help(DEFAULT_HELP_REPLY.into()), "{k}");
        }
        assert_eq!(d(" info\n"), Decision::Help(DEFAULT_HELP_REPLY.into()));
    }

    #[test]
    fn telegram_commands_are_consent_keywords() {
        for (text, word) in [
            ("/stop", "STOP"),
            ("/STOP@AcmeBot", "STOP"),
            (" /start ", "START"),
            ("/start ref42", "START"),
            ("/help", "HELP"),
            ("/help@AcmeBot", "HELP"),
        ] {
            assert_eq!(telegram_command(text), Some(word), "{text}");
        }
        for text in [
            "/stop now",
            "/stopall",
            "stop",
            "/menu",
            "/helpme",
            "please /stop",
        ] {
            assert_eq!(telegram_command(text), None, "{text}");
        }
    }

    #[test]
    fn case_and_whitespace_variants_match() {
        for t in ["Stop", "sToP", "  STOP  ", "\tstop\n", "\r\nUnsubscribe "] {
            assert_eq!(classify(t, &[], &[]), Some(Keyword::OptOut), "{t:?}");
        }
        assert_eq!(classify(" Start ", &[], &[]), Some(Keyword::OptIn));
        assert_eq!(classify("unstop", &[], &[]), Some(Keyword::OptIn));
    }

    #[test]
    fn other_messages_are_allowed() {
        for t in [
            "stop please",
            "STOP PLEASE",
            "please stop",
            "STOP.",
            "stop!",
            "s t o p",
            "",
            "   ",
            "hello",
            "yes please",
            "help me",
            "stopall now",
        ] {
            assert_eq!(d(t), Decision::Allow, "{t:?}");
        }
    }

    #[test]
    fn default_replies_say_how_to_come_back() {
        assert!(DEFAULT_OPT_OUT_REPLY.contains("START"));
        assert!(DEFAULT_OPT_IN_REPLY.contains("STOP"));
        assert!(DEFAULT_HELP_REPLY.contains("STOP"));
    }

    #[test]
    fn extra_keywords_extend_the_lists() {
        let settings = Settings {
            extra_opt_out: parse_keywords(" arret, Opt Out ,,"),
            extra_opt_in: parse_keywords("subscribe"),
            ..Settings::default()
        };
        assert_eq!(
            settings.extra_opt_out,
            vec!["arret".to_string(), "Opt Out".to_string()]
        );
        assert_eq!(
            decide("ARRET", &settings),
            Decision::OptOut(DEFAULT_OPT_OUT_REPLY.into())
        );
        assert_eq!(
            decide(" opt out ", &settings),
            Decision::OptOut(DEFAULT_OPT_OUT_REPLY.into())
        );
        assert_eq!(
            decide("Subscribe", &settings),
            Decision::OptIn(DEFAULT_OPT_IN_REPLY.into())
        );
        assert_eq!(
            decide("STOP", &settings),
            Decision::OptOut(DEFAULT_OPT_OUT_REPLY.into())
        );
        assert_eq!(d("arret"), Decision::Allow);
        assert!(parse_keywords("").is_empty());
    }

    #[test]
    fn configured_texts_are_used() {
        let settings = Settings {
            opt_out_reply: "bye".into(),
            opt_in_reply: "welcome back".into(),
            help_reply: "call us".into(),
            ..Settings::default()
        };
        assert_eq!(decide("stop", &settings), Decision::OptOut("bye".into()));
        assert_eq!(
            decide("yes", &settings),
            Decision::OptIn("welcome back".into())
        );
        assert_eq!(decide("help", &settings), Decision::Help("call us".into()));
    }

    #[test]
    fn verdicts_match_the_contract() {
        assert!(matches!(to_verdict(Decision::Allow), Verdict::Allow));
        assert!(
            matches!(to_verdict(Decision::OptOut("a".into())), Verdict::OptOut(Some(r)) if r == "a")
        );
        assert!(
            matches!(to_verdict(Decision::OptIn("b".into())), Verdict::OptIn(Some(r)) if r == "b")
        );
        assert!(matches!(
            to_verdict(Decision::Help("c".into())),
            Verdict::Block(BlockDetails { reason, reply: Some(r) }) if reason == HELP_REASON && r == "c"
        ));
    }
}
