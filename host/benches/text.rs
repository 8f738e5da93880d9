//! Untrusted-text benchmark (run with `cargo bench -p switchboard --bench
//! text`): the prompt sanitizer and the reply splitter on adversarial
//! inputs, against the previous (quadratic) algorithms, which are kept here
//! only as a reference. The previous ones are run on smaller inputs (they
//! take minutes on a megabyte): their time grows with the square of the
//! size, the current ones' linearly.

use std::time::{Duration, Instant};

use switchboard::domain::Prompt;
use switchboard::orchestrator::wrap_with_safety;
use switchboard::pipeline::split::split_text;

fn main() {
    println!("{:<44} {:>10} {:>12}", "case", "bytes", "time");
    for size in [16 << 10, 64 << 10, 1 << 20] {
        let nested = nested_header(size);
        let t = time(|| wrap_with_safety(&prompt(&nested), &[]).len());
        row("sanitize PLATFORM×k RULES×k (now)", nested.len(), t);
        let angles = format!("{}{}", "<".repeat(size / 2), ">".repeat(size / 2));
        let t = time(|| wrap_with_safety(&prompt(&angles), &[]).len());
        row("sanitize <<<…>>> (now)", angles.len(), t);
        if size <= 64 << 10 {
            let t = time(|| previous_sanitize(&nested).len());
            row("sanitize PLATFORM×k RULES×k (before)", nested.len(), t);
        }
    }
    for size in [16 << 10, 64 << 10, 1 << 20] {
        let text = "a".repeat(size);
        let t = time(|| split_text(&text, 1).len());
        row("split, max 1 (now: floor 16, 10 parts)", size, t);
        let words = "lorem ipsum dolor ".repeat(size / 18);
        let t = time(|| split_text(&words, 4096).len());
        row("split words, max 4096 (now)", words.len(), t);
        if size <= 64 << 10 {
            let t = time(|| previous_split(&text, 1).len());
            row("split, max 1 (before)", size, t);
            let t = time(|| previous_split(&text, 16).len());
            row("split, max 16 (before)", size, t);
        }
    }
}

fn row(case: &str, bytes: usize, t: Duration) {
    println!("{case:<44} {bytes:>10} {:>9.3} ms", t.as_secs_f64() * 1e3);
}

fn time(f: impl Fn() -> usize) -> Duration {
    let start = Instant::now();
    std::hint::black_box(f());
    start.elapsed()
}

fn prompt(system: &str) -> Prompt {
    Prompt {
        system: system.to_string(),
        context: None,
    }
}

/// `PLATFORM ` × k + `RULES` × k: k levels of nesting.
fn nested_header(size: usize) -> String {
    let k = size / "PLATFORM RULES".len();
    format!("{}{}", "PLATFORM ".repeat(k), "RULES".repeat(k))
}

/// The sanitizer before: remove every marker until nothing changes.
fn previous_sanitize(text: &str) -> String {
    let mut s = text.to_string();
    loop {
        let before = s.len();
        for needle in [
            "<<<END TENANT PERSONA>>>",
            "<<<TENANT PERSONA>>>",
            "PLATFORM RULES",
            "<<<",
            ">>>",
        ] {
            let lower = s.to_ascii_lowercase();
            let needle = needle.to_ascii_lowercase();
            let mut out = String::with_capacity(s.len());
            let mut last = 0;
            for (at, _) in lower.match_indices(&needle) {
                out.push_str(&s[last..at]);
                last = at + needle.len();
            }
            out.push_str(&s[last..]);
            s = out;
        }
        if s.len() == before {
            return s;
        }
    }
}

/// The splitter before: the whole rest recounted for every part, no
/// floor, no ceiling.
fn previous_split(text: &str, max: usize) -> Vec<String> {
    let text = text.trim();
    if max == 0 || text.chars().count() <= max {
        return vec![text.to_string()];
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if rest.chars().count() <= max {
            parts.push(rest.to_string());
            break;
        }
        let limit = rest
            .char_indices()
            .nth(max)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let cut = if rest[limit..].starts_with(char::is_whitespace) {
            limit
        } else {
            rest[..limit]
                .rfind(char::is_whitespace)
                .filter(|&i| i > 0)
                .unwrap_or(limit)
        };
        parts.push(rest[..cut].trim_end().to_string());
        rest = rest[cut..].trim_start();
    }
    parts
}
