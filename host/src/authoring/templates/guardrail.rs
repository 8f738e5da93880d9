//! A guardrail: blocks inbound messages that contain a blocked word, and
//! masks listed words in both directions. Configuration: `block_words`
//! (comma-separated, default "forbidden"), `mask_words`.

use switchboard_sdk::host::{self, LogLevel};
use switchboard_sdk::{BlockDetails, Direction, Guardrail, GuardrailContext, PluginError, Verdict};

fn words(key: &str, default: &str) -> Vec<String> {
    host::config_or(key, default)
        .split(',')
        .map(|w| w.trim().to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whole-word, case-insensitive positions of `word` in `text`.
fn find_word(text: &str, word: &str) -> Vec<usize> {
    let lower = text.to_lowercase();
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    lower
        .match_indices(word)
        .map(|(i, _)| i)
        .filter(|&i| !is_word(lower[..i].chars().last()) && !is_word(lower[i + word.len()..].chars().next()))
        .collect()
}

fn decide(context: &GuardrailContext) -> Result<Verdict, PluginError> {
    if context.direction == Direction::Inbound {
        if let Some(found) = words("block_words", "forbidden")
            .into_iter()
            .find(|w| !find_word(&context.text, w).is_empty())
        {
            host::log(LogLevel::Info, "blocked", &[("word", &found)]);
            return Ok(Verdict::Block(BlockDetails {
                reason: format!("contains blocked word `{found}`"),
                reply: None,
            }));
        }
    }
    // Lower-casing keeps byte offsets only for ASCII; mask on ASCII text.
    let mut text = context.text.clone();
    if text.is_ascii() {
        for w in words("mask_words", "") {
            for i in find_word(&text, &w) {
                text.replace_range(i..i + w.len(), &"*".repeat(w.len()));
            }
        }
    }
    Ok(if text == context.text {
        Verdict::Allow
    } else {
        Verdict::Rewrite(text)
    })
}

struct WordFilter;

impl Guardrail for WordFilter {
    fn check_inbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        decide(context)
    }
    fn check_outbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        decide(context)
    }
}

switchboard_sdk::export_guardrail!(WordFilter);
