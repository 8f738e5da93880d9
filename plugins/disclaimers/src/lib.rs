//! Disclaimers guardrail: appends the persona's required disclaimers to
//! outbound replies, after a blank line, one per line.
//!
//! Config: `mode` = `once` (default; only the conversation's first reply)
//! or `every` (every reply); `disclaimers` = extra disclaimers separated by
//! `|`, added to the persona's list. A disclaimer the reply already contains
//! (case-insensitively) is not added again.

use switchboard_sdk::host::config_or;
use switchboard_sdk::{Guardrail, GuardrailContext, PluginError, Verdict};

/// When to append disclaimers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only on the first reply of a conversation.
    Once,
    /// On every reply.
    Every,
}

impl Mode {
    /// Parse the `mode` setting; anything but `every` means `once`.
    pub fn parse(value: &str) -> Mode {
        if value.trim().eq_ignore_ascii_case("every") {
            Mode::Every
        } else {
            Mode::Once
        }
    }
}

/// Split the `disclaimers` setting on `|`, dropping empty entries.
pub fn parse_extra(list: &str) -> Vec<String> {
    list.split('|')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect()
}

/// The reply text with the missing disclaimers appended, or `None` when
/// nothing is to be added.
pub fn apply(
    text: &str,
    first_reply: bool,
    mode: Mode,
    required: &[String],
    extra: &[String],
) -> Option<String> {
    if mode == Mode::Once && !first_reply {
        return None;
    }
    let folded_text = text.to_lowercase();
    let mut added: Vec<&str> = Vec::new();
    let mut added_folded: Vec<String> = Vec::new();
    for disclaimer in required.iter().chain(extra) {
        let disclaimer = disclaimer.trim();
        if disclaimer.is_empty() {
            continue;
        }
        let folded = disclaimer.to_lowercase();
        if folded_text.contains(&folded) || added_folded.contains(&folded) {
            continue;
        }
        added.push(disclaimer);
        added_folded.push(folded);
    }
    if added.is_empty() {
        return None;
    }
    let body = text.trim_end();
    let block = added.join("\n");
    Some(if body.is_empty() {
        block
    } else {
        format!("{body}\n\n{block}")
    })
}

/// The guardrail component.
pub struct Disclaimers;

impl Guardrail for Disclaimers {
    fn check_outbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        let mode = Mode::parse(&config_or("mode", "once"));
        let extra = parse_extra(&config_or("disclaimers", ""));
        Ok(
            match apply(
                &context.text,
                context.first_reply,
                mode,
                &context.required_disclaimers,
                &extra,
            ) {
                Some(text) => Verdict::Rewrite(text),
                None => Verdict::Allow,
            },
        )
    }
}

switchboard_sdk::export_guardrail!(Disclaimers);

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn once_mode_appends_only_on_the_first_reply() {
        let req = list(&["Not financial advice."]);
        assert_eq!(
            apply("Hello!", true, Mode::Once, &req, &[]).as_deref(),
            Some("Hello!\n\nNot financial advice.")
        );
        assert_eq!(apply("Hello!", false, Mode::Once, &req, &[]), None);
    }

    #[test]
    fn every_mode_appends_on_every_reply() {
        let req = list(&["A.", "B."]);
        assert_eq!(
            apply("Hi", false, Mode::Every, &req, &[]).as_deref(),
            Some("Hi\n\nA.\nB.")
        );
        assert_eq!(
            apply("Hi", true, Mode::Every, &req, &[]).as_deref(),
            Some("Hi\n\nA.\nB.")
        );
    }

    #[test]
    fn disclaimers_already_present_are_skipped() {
        let req = list(&["Not financial advice.", "AI assistant."]);
        assert_eq!(
            apply(
                "Buy low. NOT FINANCIAL ADVICE.",
                true,
                Mode::Once,
                &req,
                &[]
            )
            .as_deref(),
            Some("Buy low. NOT FINANCIAL ADVICE.\n\nAI assistant.")
        );
        assert_eq!(
            apply(
                "x\n\nnot financial advice.\nai assistant.",
                true,
                Mode::Every,
                &req,
                &[]
            ),
            None
        );
    }

    #[test]
    fn nothing_to_add_allows() {
        assert_eq!(apply("Hi", true, Mode::Every, &[], &[]), None);
        assert_eq!(
            apply("Hi", true, Mode::Every, &list(&["", "  "]), &[]),
            None
        );
    }

    #[test]
    fn extra_disclaimers_are_added_after_the_persona_ones() {
        let extra = parse_extra(" Msg rates apply. | |Reply STOP to opt out.|");
        assert_eq!(extra, list(&["Msg rates apply.", "Reply STOP to opt out."]));
        assert_eq!(
            apply("Hi ", true, Mode::Once, &list(&["AI."]), &extra).as_deref(),
            Some("Hi\n\nAI.\nMsg rates apply.\nReply STOP to opt out.")
        );
        assert_eq!(
            apply("Hi", true, Mode::Once, &[], &extra).as_deref(),
            Some("Hi\n\nMsg rates apply.\nReply STOP to opt out.")
        );
        assert!(parse_extra("").is_empty());
    }

    #[test]
    fn duplicates_are_added_once() {
        assert_eq!(
            apply("Hi", true, Mode::Once, &list(&["AI."]), &list(&["ai."])).as_deref(),
            Some("Hi\n\nAI.")
        );
    }

    #[test]
    fn empty_text_gets_only_the_disclaimers() {
        assert_eq!(
            apply("", true, Mode::Once, &list(&["AI."]), &[]).as_deref(),
            Some("AI.")
        );
    }

    #[test]
    fn mode_parsing() {
        assert_eq!(Mode::parse("every"), Mode::Every);
        assert_eq!(Mode::parse(" EVERY "), Mode::Every);
        assert_eq!(Mode::parse("once"), Mode::Once);
        assert_eq!(Mode::parse("bogus"), Mode::Once);
    }
}
