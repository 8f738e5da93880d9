//! PII redaction guardrail: replaces e-mail addresses with `[EMAIL]`, phone
//! numbers with `[PHONE]` and payment card numbers with `[CARD]`, in both
//! directions. A message that changed is returned as `Rewrite`, otherwise
//! `Allow`.
//!
//! Config: `redact`, a comma list of `email`, `phone`, `card` (default all;
//! an unknown entry is a configuration error).
//!
//! Rules (hand-written scanning, no regex engine in the guest):
//! - **E-mail**: `local@domain` where the local part is letters, digits and
//!   `._%+-` (so plus-addressing works) and the domain is dot-separated
//!   labels of letters, digits and `-` ending in an alphabetic TLD of at
//!   least two letters (subdomains work).
//! - **Cards first**: a card-shaped sequence is digit groups joined by a
//!   single space or a single dash, starting at a digit not preceded by a
//!   letter or digit and not followed by one. At each group start, the
//!   longest prefix ending at a group end with 13–19 digits that passes the
//!   Luhn check becomes `[CARD]`. A card-shaped sequence of 13–19 digits
//!   that contains no Luhn-valid card (e.g. `4111 1111 1111 1112`) is left
//!   alone entirely: it is *not* then considered as a phone. With `card`
//!   not selected, cards are left alone too (never redacted as phones).
//! - **Phones** (in the text between cards): a run starts at a digit, `+`
//!   or `(` not preceded by a letter or digit and continues over digits and
//!   the separators space, `-`, `.`, `(`, `)` (a `+` only as its first
//!   character; at most three separator characters in a row). It ends at
//!   its last digit (plus a closing `)` when one is open) and must not be
//!   followed by a letter or digit. It is a phone when it has 7–15 digits
//!   and does not start with a date (`YYYY-MM-DD`/`YYYY.MM.DD`) or end with
//!   one (`DD-MM-YYYY`/`DD.MM.YYYY`); dates and shorter numbers are left
//!   alone.
//!
//! Known limitation: any other 7–15-digit run (order numbers, for
//! instance) is redacted as a phone number.

use switchboard_sdk::host::config_or;
use switchboard_sdk::{Guardrail, GuardrailContext, PluginError, Verdict};

/// Replacement for e-mail addresses.
pub const EMAIL: &str = "[EMAIL]";
/// Replacement for phone numbers.
pub const PHONE: &str = "[PHONE]";
/// Replacement for payment card numbers.
pub const CARD: &str = "[CARD]";

/// Which kinds of PII to redact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds {
    /// E-mail addresses.
    pub email: bool,
    /// Phone numbers.
    pub phone: bool,
    /// Payment card numbers.
    pub card: bool,
}

impl Kinds {
    /// Every kind.
    pub const ALL: Kinds = Kinds {
        email: true,
        phone: true,
        card: true,
    };
}

/// Parse the `redact` config value; empty means all kinds.
pub fn parse_kinds(raw: &str) -> Result<Kinds, String> {
    let entries: Vec<String> = raw
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .collect();
    if entries.is_empty() {
        return Ok(Kinds::ALL);
    }
    let mut kinds = Kinds {
        email: false,
        phone: false,
        card: false,
    };
    for e in entries {
        match e.as_str() {
            "email" => kinds.email = true,
            "phone" => kinds.phone = true,
            "card" => kinds.card = true,
            other => {
                return Err(format!(
                    "`redact` entries must be email, phone or card, not `{other}`"
                ));
            }
        }
    }
    Ok(kinds)
}

/// Redact `text`; the result equals `text` when nothing was found.
pub fn redact(text: &str, kinds: Kinds) -> String {
    let text = if kinds.email {
        redact_emails(text)
    } else {
        text.to_string()
    };
    if kinds.phone || kinds.card {
        redact_numbers(&text, kinds)
    } else {
        text
    }
}

fn is_local(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-".contains(c)
}

fn is_domain(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-'
}

fn valid_domain(domain: &[char]) -> bool {
    let s: String = domain.iter().collect();
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
}

/// Replace e-mail addresses with [`EMAIL`].
pub fn redact_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut done = 0; // chars[..done] are in `out`
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '@' {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > done && is_local(chars[start - 1]) {
            start -= 1;
        }
        while start < i && chars[start] == '.' {
            start += 1;
        }
        let mut end = i + 1;
        while end < chars.len() && is_domain(chars[end]) {
            end += 1;
        }
        while end > i + 1 && matches!(chars[end - 1], '.' | '-') {
            end -= 1;
        }
        if start < i && valid_domain(&chars[i + 1..end]) {
            out.extend(&chars[done..start]);
            out.push_str(EMAIL);
            done = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.extend(&chars[done..]);
    out
}

/// Whether `digits` pass the Luhn check.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

fn is_sep(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')')
}

/// A run's digit groups and the separator strings between them.
fn groups(run: &[char]) -> (Vec<&[char]>, Vec<String>) {
    let mut groups = Vec::new();
    let mut seps = Vec::new();
    let mut i = 0;
    // Skip a leading `+`/`(` (not between groups).
    while i < run.len() && !run[i].is_ascii_digit() {
        i += 1;
    }
    while i < run.len() {
        let g = i;
        while i < run.len() && run[i].is_ascii_digit() {
            i += 1;
        }
        groups.push(&run[g..i]);
        let s = i;
        while i < run.len() && !run[i].is_ascii_digit() {
            i += 1;
        }
        if i < run.len() {
            seps.push(run[s..i].iter().collect());
        }
    }
    (groups, seps)
}

fn num(group: &[char]) -> u32 {
    group
        .iter()
        .fold(0, |n, c| n * 10 + c.to_digit(10).unwrap_or(0))
}

fn is_date(y: &[char], m: &[char], d: &[char], sep1: &str, sep2: &str) -> bool {
    sep1 == sep2
        && (sep1 == "-" || sep1 == ".")
        && y.len() == 4
        && matches!(y[0], '1' | '2')
        && (1..=2).contains(&m.len())
        && (1..=2).contains(&d.len())
        && (1..=12).contains(&num(m))
        && (1..=31).contains(&num(d))
}

fn contains_date(groups: &[&[char]], seps: &[String]) -> bool {
    let n = groups.len();
    n >= 3
        && (is_date(groups[0], groups[1], groups[2], &seps[0], &seps[1])
            || is_date(
                groups[n - 1],
                groups[n - 2],
                groups[n - 3],
                &seps[n - 2],
                &seps[n - 3],
            ))
}

/// A piece of text after the card pass: free text, or a span the phone pass
/// must not touch (a card, redacted or not, or a Luhn-failing card-shaped
/// run).
enum Piece {
    Text(String),
    Fixed(String),
}

/// A maximal card-shaped sequence from `start`: digit groups joined by a
/// single space or dash. Returns the end (exclusive) and, per group, its end
/// and the digits so far.
fn card_sequence(chars: &[char], start: usize) -> (usize, Vec<(usize, Vec<u8>)>) {
    let mut ends = Vec::new();
    let mut digits = Vec::new();
    let mut j = start;
    loop {
        while let Some(d) = chars.get(j).and_then(|c| c.to_digit(10)) {
            digits.push(d as u8);
            j += 1;
        }
        ends.push((j, digits.clone()));
        let joined = matches!(chars.get(j), Some(' ' | '-'))
            && chars.get(j + 1).is_some_and(|c| c.is_ascii_digit());
        if !joined {
            return (j, ends);
        }
        j += 1;
    }
}

/// Cards are found first: at each digit group not preceded by a letter or
/// digit, the longest card-shaped prefix with 13–19 digits passing Luhn is a
/// card. A card-shaped sequence of 13–19 digits that contains no card is
/// kept verbatim (and hidden from the phone pass).
fn card_pass(chars: &[char], kinds: Kinds) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut i = 0;
    while i < chars.len() {
        if !(chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric())) {
            i += 1;
            continue;
        }
        let (end, groups) = card_sequence(chars, i);
        let first_group_end = groups[0].0;
        if chars.get(end).is_some_and(|c| c.is_alphanumeric()) {
            i = first_group_end;
            continue;
        }
        let card = groups
            .iter()
            .rev()
            .find(|(_, d)| (13..=19).contains(&d.len()) && luhn(d))
            .map(|(e, _)| *e);
        let total = groups.last().map_or(0, |(_, d)| d.len());
        let fixed_end = match card {
            Some(e) => Some(e),
            None if (13..=19).contains(&total) => Some(end),
            None => None,
        };
        let Some(fixed_end) = fixed_end else {
            i = first_group_end;
            continue;
        };
        pieces.push(Piece::Text(chars[text_start..i].iter().collect()));
        let original: String = chars[i..fixed_end].iter().collect();
        pieces.push(Piece::Fixed(if card.is_some() && kinds.card {
            CARD.to_string()
        } else {
            original
        }));
        i = fixed_end;
        text_start = fixed_end;
    }
    pieces.push(Piece::Text(chars[text_start..].iter().collect()));
    pieces
}

fn is_phone(run: &[char]) -> bool {
    let digits = run.iter().filter(|c| c.is_ascii_digit()).count();
    let (groups, seps) = groups(run);
    (7..=15).contains(&digits) && !contains_date(&groups, &seps)
}

/// The phone pass over free text (see the crate docs for the run rules).
fn phone_pass(text: &str, out: &mut String) {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts = (c.is_ascii_digit() || c == '+' || c == '(')
            && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !starts {
            out.push(c);
            i += 1;
            continue;
        }
        // Extend over digits and separators; `end` is just past the last digit.
        let mut end = None;
        let mut gap = 0;
        let mut j = i;
        while j < chars.len() {
            let d = chars[j];
            if d.is_ascii_digit() {
                gap = 0;
                end = Some(j + 1);
            } else if is_sep(d) || (d == '+' && j == i) {
                gap += 1;
                if gap > 3 {
                    break;
                }
            } else {
                break;
            }
            j += 1;
        }
        let Some(mut end) = end else {
            out.push(c);
            i += 1;
            continue;
        };
        let opens = chars[i..end].iter().filter(|&&c| c == '(').count();
        let closes = chars[i..end].iter().filter(|&&c| c == ')').count();
        if opens > closes && chars.get(end) == Some(&')') {
            end += 1;
        }
        let followed = chars.get(end).is_some_and(|c| c.is_alphanumeric());
        if !followed && is_phone(&chars[i..end]) {
            out.push_str(PHONE);
        } else {
            out.extend(&chars[i..end]);
        }
        i = end;
    }
}

/// Replace card numbers, then phone numbers (as selected by `kinds`).
pub fn redact_numbers(text: &str, kinds: Kinds) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for piece in card_pass(&chars, kinds) {
        match piece {
            Piece::Fixed(s) => out.push_str(&s),
            Piece::Text(s) if kinds.phone => phone_pass(&s, &mut out),
            Piece::Text(s) => out.push_str(&s),
        }
    }
    out
}

/// The verdict for `text`: `Rewrite` when something was redacted.
pub fn verdict(text: &str, kinds: Kinds) -> Verdict {
    let redacted = redact(text, kinds);
    if redacted == text {
        Verdict::Allow
    } else {
        Verdict::Rewrite(redacted)
    }
}

fn check(context: &GuardrailContext) -> Result<Verdict, PluginError> {
    let kinds =
        parse_kinds(&config_or("redact", "email,phone,card")).map_err(PluginError::config)?;
    Ok(verdict(&context.text, kinds))
}

/// The guardrail.
pub struct PiiRedact;

impl Guardrail for PiiRedact {
    fn check_inbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        check(context)
    }
    fn check_outbound(context: &GuardrailContext) -> Result<Verdict, PluginError> {
        check(context)
    }
}

switchboard_sdk::export_guardrail!(PiiRedact);

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> String {
        redact(text, Kinds::ALL)
    }

    #[test]
    fn emails() {
        assert_eq!(
            all("mail me at jane.doe+news@mail.example.co.uk."),
            "mail me at [EMAIL]."
        );
        assert_eq!(
            all("a@b.io and x_y-z%1@sub.domain.org"),
            "[EMAIL] and [EMAIL]"
        );
        assert_eq!(all("<bob@example.com>"), "<[EMAIL]>");
        assert_eq!(
            all("not an email: user@localhost, @handle, a@b.c, x@1.23"),
            "not an email: user@localhost, @handle, a@b.c, x@1.23"
        );
        assert_eq!(all("Ünïcode: jo@example.com ok"), "Ünïcode: [EMAIL] ok");
    }

    #[test]
    fn phones() {
        assert_eq!(all("Call +1 (555) 123-4567 now"), "Call [PHONE] now");
        assert_eq!(all("or 555.123.4567."), "or [PHONE].");
        assert_eq!(all("(555-123-4567)"), "[PHONE]");
        assert_eq!(all("5551234567"), "[PHONE]");
        assert_eq!(all("+44 20 7946 0958"), "[PHONE]");
        assert_eq!(all("555-1234"), "[PHONE]");
        assert_eq!(all("555-123"), "555-123");
        assert_eq!(all("tel:555-123-4567"), "tel:[PHONE]");
        assert_eq!(all("555-123-4567 (mobile)"), "[PHONE] (mobile)");
    }

    #[test]
    fn leaves_dates_and_short_numbers() {
        for text in [
            "Meet on 2024-01-15 at 10:30",
            "15.01.2024",
            "2024.1.5",
            "01/15/2024",
            "I have 3 cats, 12 dogs and 123456 ants",
            "v1.2.3",
            "abc5551234567",
            "5551234567abc",
            "",
        ] {
            assert_eq!(all(text), text);
        }
    }

    #[test]
    fn cards() {
        assert!(luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
        assert!(!luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]));
        assert!(!luhn(&[]));
        assert_eq!(all("card 4111 1111 1111 1111 exp"), "card [CARD] exp");
        assert_eq!(all("4111-1111-1111-1111"), "[CARD]");
        assert_eq!(all("4111111111111111."), "[CARD].");
        assert_eq!(all("Amex 3782 822463 10005"), "Amex [CARD]");
        // Luhn-failing card-shaped runs are left alone (not phones either).
        assert_eq!(all("4111 1111 1111 1112"), "4111 1111 1111 1112");
        assert_eq!(all("1234567890123"), "1234567890123");
        // Double separators are not card-shaped; 16 digits is too long for a phone.
        assert_eq!(all("4111  1111  1111  1111"), "4111  1111  1111  1111");
    }

    #[test]
    fn adjacent_phone_and_card() {
        assert_eq!(all("555.123.4567 4111 1111 1111 1111"), "[PHONE] [CARD]");
        assert_eq!(all("4111 1111 1111 1111 555-123-4567"), "[CARD] [PHONE]");
        assert_eq!(
            all("555-1234 4111 1111 1111 1112"),
            "[PHONE] 4111 1111 1111 1112"
        );
    }

    #[test]
    fn mixed_text() {
        assert_eq!(
            all(
                "Hi, I'm ann@example.com, phone 555.123.4567, card 4111-1111-1111-1111, born 1990-05-17."
            ),
            "Hi, I'm [EMAIL], phone [PHONE], card [CARD], born 1990-05-17."
        );
    }

    #[test]
    fn config_subsets() {
        let text = "ann@example.com 555.123.4567 4111 1111 1111 1111";
        assert_eq!(parse_kinds("").unwrap(), Kinds::ALL);
        assert_eq!(parse_kinds(" , ").unwrap(), Kinds::ALL);
        let email = parse_kinds("email").unwrap();
        assert_eq!(
            redact(text, email),
            "[EMAIL] 555.123.4567 4111 1111 1111 1111"
        );
        let phone_card = parse_kinds(" Phone , CARD ").unwrap();
        assert_eq!(redact(text, phone_card), "ann@example.com [PHONE] [CARD]");
        let card = parse_kinds("card").unwrap();
        assert_eq!(redact(text, card), "ann@example.com 555.123.4567 [CARD]");
        assert!(parse_kinds("email,ssn").is_err());
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict("nothing here", Kinds::ALL), Verdict::Allow);
        assert_eq!(
            verdict("x@example.com", Kinds::ALL),
            Verdict::Rewrite("[EMAIL]".into())
        );
    }
}
