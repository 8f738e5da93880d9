//! Prohibited-topics guardrail: stops replies (and, optionally, user
//! messages) that mention a prohibited topic.
//!
//! Topics come from the persona (`prohibited-topics` in the guardrail
//! context) and from the config key `phrases` (separated by `|`). A topic
//! matches case-insensitively on word boundaries: "gun" does not match
//! "begun" or "guns"; the words of a multi-word phrase match with any run of
//! whitespace between them. A boundary is only required next to a word
//! character (letter, digit or `_`) of the phrase, so "c++" still matches in
//! "I like c++.".
//!
//! Config:
//! - `action`: `block` (default) or `rewrite`, for outbound replies.
//! - `block_reply`: optional text sent to the user instead of a blocked reply.
//! - `rewrite_text`: the replacement text for `rewrite` (default
//!   [`DEFAULT_REWRITE_TEXT`]).
//! - `check_inbound`: `true` to also check user messages; those are always
//!   blocked (with `block_reply`, if set), so the persona never sees them.

use switchboard_sdk::host::{config, config_or};
use switchboard_sdk::{BlockDetails, Guardrail, GuardrailContext, PluginError, Verdict};

/// The default replacement text for the `rewrite` action.
pub const DEFAULT_REWRITE_TEXT: &str = "I'm sorry, I can't help with that topic.";

/// What to do with an outbound reply that mentions a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Block it (optionally replying with `reply`).
    Block { reply: Option<String> },
    /// Replace its text.
    Rewrite { text: String },
}

/// The guardrail's settings, read from config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Extra phrases from config.
    pub phrases: Vec<String>,
    /// The outbound action.
    pub action: Action,
    /// Whether inbound messages are checked.
    pub check_inbound: bool,
    /// Reply for blocked messages (also used for inbound blocks).
    pub block_reply: Option<String>,
}

/// Build settings from the raw config values (unset = `None`).
pub fn settings(
    phrases: Option<&str>,
    action: Option<&str>,
    block_reply: Option<&str>,
    rewrite_text: Option<&str>,
    check_inbound: Option<&str>,
) -> Result<Settings, String> {
    let block_reply = block_reply
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string);
    let action = match action.map(|a| a.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("block") => Action::Block {
            reply: block_reply.clone(),
        },
        Some("rewrite") => Action::Rewrite {
            text: rewrite_text
                .filter(|s| !s.is_empty())
                .unwrap_or(DEFAULT_REWRITE_TEXT)
                .to_string(),
        },
        Some(other) => {
            return Err(format!(
                "`action` must be `block` or `rewrite`, not `{other}`"
            ));
        }
    };
    let check_inbound = check_inbound.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    Ok(Settings {
        phrases: parse_phrases(phrases.unwrap_or("")),
        action,
        check_inbound,
        block_reply,
    })
}

/// Split a `|`-separated phrase list, trimming and dropping empty entries.
pub fn parse_phrases(raw: &str) -> Vec<String> {
    raw.split('|')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn lower(s: &str) -> Vec<char> {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Whether `text` mentions `phrase` (case-insensitive, word boundaries,
/// any whitespace between the phrase's words). An empty phrase never matches.
pub fn mentions(text: &str, phrase: &str) -> bool {
    let words: Vec<Vec<char>> = phrase.split_whitespace().map(lower).collect();
    let (Some(first), Some(last)) = (words.first(), words.last()) else {
        return false;
    };
    let need_start = first.first().copied().is_some_and(is_word);
    let need_end = last.last().copied().is_some_and(is_word);
    let text = lower(text);
    (0..text.len()).any(|start| {
        if need_start && start > 0 && is_word(text[start - 1]) {
            return false;
        }
        let mut pos = start;
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                let ws = text[pos..].iter().take_while(|c| c.is_whitespace()).count();
                if ws == 0 {
                    return false;
                }
                pos += ws;
            }
            if !text[pos..].starts_with(word) {
                return false;
            }
            pos += word.len();
        }
        !(need_end && pos < text.len() && is_word(text[pos]))
    })
}

/// The first of `topics` that `text` mentions, as configured (trimmed).
pub fn find_topic<'a>(text: &str, topics: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    topics
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .find(|t| mentions(text, t))
}

fn reason(topic: &str) -> String {
    format!("prohibited topic: {topic}")
}

fn all_topics<'a>(
    context: &'a GuardrailContext,
    settings: &'a Settings,
) -> impl Iterator<Item = &'a str> {
    context
        .prohibited_topics
        .iter()
        .chain(settings.phrases.iter())
        .map(String::as_str)
}

/// The verdict on an outbound reply.
pub fn check_outbound_with(context: &GuardrailContext, settings: &Settings) -> Verdict {
    match find_topic(&context.text, all_topics(context, settings)) {
        None => Verdict::Allow,
        Some(topic) => match &settings.action {
            Action::Block { reply } => Verdict::Block(BlockDetails {
                reason: reason(topic),
                reply: reply.clone(),
            }),
            Action::Rewrite { text } => Verdict::Rewrite(text.clone()),
        },
    }
}

/// The verdict on an inbound user message: always Allow unless
/// `check_inbound` is set; a match is always blocked.
pub fn check_inbound_with(context: &GuardrailContext, settings: &Settings) -> Verdict {
    if !settings.check_inbound {
        return Verdict::Allow;
    }
    match find_topic(&context.text, all_topics(context, settings)) {
        None => Verdict::Allow,
        Some(topic) => Verdict::Block(BlockDetails {
            reason: reason(topic),
            reply: settings.block_reply.clone(),
        }),
    }
}

fn load_settings() -> Result<Settings, PluginError> {
    let action = config_or("action", "block");
    settings(
        config("phrases").as_deref(),
        Some(&action),
        config("block_reply").as_deref(),
        config("rewrite_text").as_deref(),
        config("check_inbound").as_deref(),
    )
    .map_err(PluginError::config)
}

/// The guardrail.
pub struct ProhibitedTopics;

impl Guardrail for ProhibitedTopics {
    fn check_inbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        Ok(check_inbound_with(context, &load_settings()?))
    }
    fn check_outbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        Ok(check_outbound_with(context, &load_settings()?))
    }
}

switchboard_sdk::export_guardrail!(ProhibitedTopics);

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::Direction;

    fn ctx(direction: Direction, text: &str, topics: &[&str]) -> GuardrailContext {
        GuardrailContext {
            direction,
            text: text.to_string(),
            channel_adapter: "telegram".into(),
            contact_address: "42".into(),
            first_reply: false,
            prohibited_topics: topics.iter().map(|t| t.to_string()).collect(),
            required_disclaimers: Vec::new(),
        }
    }

    fn defaults() -> Settings {
        settings(None, None, None, None, None).unwrap()
    }

    #[test]
    fn word_boundaries() {
        assert!(mentions("Where can I buy a gun?", "gun"));
        assert!(mentions("GUN laws", "gun"));
        assert!(!mentions("It has begun.", "gun"));
        assert!(!mentions("guns and roses", "gun"));
        assert!(!mentions("gunshot", "gun"));
        assert!(mentions("gun", "gun"));
        assert!(mentions("(gun)", "gun"));
        assert!(!mentions("anything", ""));
        assert!(!mentions("anything", "   "));
    }

    #[test]
    fn multi_word_phrases() {
        assert!(mentions(
            "Let's discuss medical advice today",
            "medical advice"
        ));
        assert!(mentions("Medical \n\t  ADVICE here", "medical  advice"));
        assert!(!mentions("medicaladvice", "medical advice"));
        assert!(!mentions("paramedical advice", "medical advice"));
        assert!(!mentions("medical advices", "medical advice"));
        assert!(mentions("i love c++.", "C++"));
    }

    #[test]
    fn non_ascii_case_folding() {
        assert!(mentions("ÜBER alles", "über"));
        assert!(!mentions("xüber", "über"));
    }

    #[test]
    fn parses_phrases_and_settings() {
        assert_eq!(
            parse_phrases(" crypto | | stock tips|"),
            vec!["crypto", "stock tips"]
        );
        assert_eq!(defaults().action, Action::Block { reply: None });
        assert!(!defaults().check_inbound);
        let s = settings(Some("x"), Some("Rewrite"), None, None, Some("TRUE")).unwrap();
        assert_eq!(
            s.action,
            Action::Rewrite {
                text: DEFAULT_REWRITE_TEXT.into()
            }
        );
        assert!(s.check_inbound);
        let s = settings(None, Some("rewrite"), None, Some("No."), None).unwrap();
        assert_eq!(s.action, Action::Rewrite { text: "No.".into() });
        let s = settings(None, Some("block"), Some("Sorry."), None, Some("yes")).unwrap();
        assert_eq!(
            s.action,
            Action::Block {
                reply: Some("Sorry.".into())
            }
        );
        assert!(!s.check_inbound);
        assert!(settings(None, Some("drop"), None, None, None).is_err());
    }

    #[test]
    fn outbound_block_and_rewrite() {
        let c = ctx(
            Direction::Outbound,
            "Sure, here are some Stock  Tips for you",
            &["politics"],
        );
        let s = settings(
            Some("crypto|stock tips"),
            None,
            Some("Can't do that."),
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            check_outbound_with(&c, &s),
            Verdict::Block(BlockDetails {
                reason: "prohibited topic: stock tips".into(),
                reply: Some("Can't do that.".into())
            })
        );
        let c = ctx(Direction::Outbound, "Let's talk Politics.", &[" politics "]);
        assert_eq!(
            check_outbound_with(&c, &defaults()),
            Verdict::Block(BlockDetails {
                reason: "prohibited topic: politics".into(),
                reply: None
            })
        );
        let s = settings(None, Some("rewrite"), None, None, None).unwrap();
        assert_eq!(
            check_outbound_with(&c, &s),
            Verdict::Rewrite(DEFAULT_REWRITE_TEXT.into())
        );
        let c = ctx(Direction::Outbound, "The game has begun.", &["gun"]);
        assert_eq!(check_outbound_with(&c, &defaults()), Verdict::Allow);
    }

    #[test]
    fn inbound_only_when_enabled() {
        let c = ctx(Direction::Inbound, "tell me about politics", &["politics"]);
        assert_eq!(check_inbound_with(&c, &defaults()), Verdict::Allow);
        let s = settings(None, Some("rewrite"), None, None, Some("true")).unwrap();
        assert_eq!(
            check_inbound_with(&c, &s),
            Verdict::Block(BlockDetails {
                reason: "prohibited topic: politics".into(),
                reply: None
            })
        );
        let c = ctx(Direction::Inbound, "hello", &["politics"]);
        assert_eq!(check_inbound_with(&c, &s), Verdict::Allow);
    }
}
