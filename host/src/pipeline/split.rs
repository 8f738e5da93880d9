//! Splitting an outgoing text into the parts a channel can carry.
//!
//! The text is untrusted (an LLM reply of up to a megabyte, a guardrail's
//! rewrite) and the limit is declared by the channel's adapter, which a
//! tenant may have uploaded. So the split is linear in the text, never
//! makes parts shorter than [`MIN_PART_CHARS`] (an adapter declaring a
//! limit of 1 would otherwise turn one reply into a million messages) and
//! never makes more than [`MAX_PARTS`] parts: the last one then ends with
//! [`TRUNCATION_MARK`] and the rest of the text is dropped.

/// The smallest part length honoured: an adapter-declared limit below it
/// (but not 0, "no limit") is raised to it.
pub const MIN_PART_CHARS: usize = 16;

/// The most parts one text becomes.
pub const MAX_PARTS: usize = 10;

/// Ends the last part when the text did not fit in [`MAX_PARTS`] parts.
pub const TRUNCATION_MARK: char = '…';

/// Texts longer than this (in bytes) are split on a blocking thread by
/// [`split_text_blocking`].
const INLINE_BYTES: usize = 64 << 10;

/// Split `text` into parts of at most `max` characters (at least
/// [`MIN_PART_CHARS`]), at whitespace where possible, keeping order, at
/// most [`MAX_PARTS`] of them (the last then ends with
/// [`TRUNCATION_MARK`]). `max == 0` means no limit: one part.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let max = match max {
        0 => 0,
        m => m.max(MIN_PART_CHARS),
    };
    split_words(text, max, MAX_PARTS)
}

/// [`split_text`] on a blocking thread when the text is large, so a
/// megabyte reply does not hold an async worker thread.
pub async fn split_text_blocking(text: String, max: usize) -> Vec<String> {
    if text.len() <= INLINE_BYTES {
        return split_text(&text, max);
    }
    match tokio::task::spawn_blocking(move || split_text(&text, max)).await {
        Ok(parts) => parts,
        Err(e) => match e.try_into_panic() {
            // A panic (a bug) propagates as it would inline.
            Ok(payload) => std::panic::resume_unwind(payload),
            // Cancelled: only when the runtime shuts down, which drops the
            // caller's task too.
            Err(e) => panic!("splitting on a blocking thread: {e}"),
        },
    }
}

/// The splitting itself, without the floor: parts of at most `max`
/// characters (`max >= 2`, or 0 for no limit), at most `max_parts`
/// (`>= 1`) of them.
///
/// Linear: each part scans at most `max` characters past its start, and
/// of two consecutive windows the second starts where the first's
/// whitespace-free tail began, so two windows consume at least `max`
/// characters. Nothing counts the whole remaining text per part.
fn split_words(text: &str, max: usize, max_parts: usize) -> Vec<String> {
    let text = text.trim();
    if max == 0 {
        return vec![text.to_string()];
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let last = parts.len() + 1 == max_parts;
        // The last allowed part keeps one character for the mark.
        let window = if last { max - 1 } else { max };
        // Byte index just past the first `window` characters, or `None`
        // when the rest fits in one part (`max` characters).
        let Some(limit) = byte_after(rest, window) else {
            parts.push(rest.to_string());
            break;
        };
        if last && byte_after(rest, max).is_none() {
            // It fits the last part exactly; no truncation needed.
            parts.push(rest.to_string());
            break;
        }
        // Prefer the last whitespace in the window (a paragraph or
        // sentence end would read better still, but words are the floor).
        let cut = if rest[limit..].starts_with(char::is_whitespace) {
            // The window ends exactly at a word boundary.
            limit
        } else {
            rest[..limit]
                .rfind(char::is_whitespace)
                .filter(|&i| i > 0)
                .unwrap_or(limit)
        };
        let part = rest[..cut].trim_end();
        if last {
            let mut part = part.to_string();
            part.push(TRUNCATION_MARK);
            parts.push(part);
            break;
        }
        parts.push(part.to_string());
        rest = rest[cut..].trim_start();
    }
    parts
}

/// The byte index just past the first `n` characters of `s`, or `None`
/// when `s` has at most `n` characters. Scans at most `n + 1` characters.
fn byte_after(s: &str, n: usize) -> Option<usize> {
    s.char_indices().nth(n).map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_text("hello there", 20), vec!["hello there"]);
        assert_eq!(split_text("hello there", 0), vec!["hello there"]);
        assert_eq!(split_text("  padded  ", 20), vec!["padded"]);
    }

    #[test]
    fn long_text_splits_at_words_in_order() {
        let parts = split_words("one two three four five six", 9, MAX_PARTS);
        assert_eq!(parts, vec!["one two", "three", "four five", "six"]);
        for p in &parts {
            assert!(chars(p) <= 9, "{p}");
        }
        assert_eq!(parts.join(" "), "one two three four five six");
    }

    #[test]
    fn a_word_longer_than_the_limit_is_cut() {
        assert_eq!(
            split_words("abcdefghij", 4, MAX_PARTS),
            vec!["abcd", "efgh", "ij"]
        );
    }

    #[test]
    fn counts_characters_not_bytes() {
        let parts = split_words("ééééé ééééé", 5, MAX_PARTS);
        assert_eq!(parts, vec!["ééééé", "ééééé"]);
        let parts = split_text(&"é".repeat(40), 16);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| chars(p) <= 16), "{parts:?}");
    }

    #[test]
    fn a_tiny_declared_limit_is_raised_to_the_floor() {
        let text = "a".repeat(MIN_PART_CHARS * 3);
        for declared in [1, 2, MIN_PART_CHARS - 1] {
            let parts = split_text(&text, declared);
            assert_eq!(parts.len(), 3, "declared {declared}: {parts:?}");
            assert!(parts.iter().all(|p| chars(p) == MIN_PART_CHARS));
        }
        // Above the floor, the declared limit is used as is.
        let parts = split_text(&text, MIN_PART_CHARS + 8);
        assert_eq!(parts.len(), 2);
        assert_eq!(chars(&parts[0]), MIN_PART_CHARS + 8);
    }

    #[test]
    fn at_most_max_parts_and_the_last_is_marked() {
        // Exactly MAX_PARTS full parts: nothing dropped, no mark.
        let exact = "x".repeat(MIN_PART_CHARS * MAX_PARTS);
        let parts = split_text(&exact, 1);
        assert_eq!(parts.len(), MAX_PARTS);
        assert!(parts.iter().all(|p| !p.contains(TRUNCATION_MARK)));
        assert_eq!(parts.concat(), exact);

        // One character more: the last part is truncated and marked.
        let over = format!("{exact}y");
        let parts = split_text(&over, 1);
        assert_eq!(parts.len(), MAX_PARTS);
        let last = parts.last().unwrap();
        assert!(last.ends_with(TRUNCATION_MARK), "{last}");
        assert_eq!(chars(last), MIN_PART_CHARS);
        assert!(parts.iter().all(|p| chars(p) <= MIN_PART_CHARS));
        // Words are kept whole in the marked part too.
        let words = "word ".repeat(200);
        let parts = split_text(&words, 20);
        assert_eq!(parts.len(), MAX_PARTS);
        assert_eq!(parts.last().unwrap(), "word word word word…");
        assert!(
            parts[..MAX_PARTS - 1]
                .iter()
                .all(|p| p == "word word word word")
        );
    }

    /// The inputs that were quadratic before (every part recounted the
    /// whole rest): a megabyte with the smallest limit, with and without
    /// whitespace, multibyte. Asserts the result, not the time; with the
    /// old code these took minutes.
    #[test]
    fn megabyte_inputs_split_correctly() {
        let inputs = [
            "a".repeat(1 << 20),
            "ab ".repeat(350_000),
            "é".repeat(500_000),
            format!("x {}", "y".repeat(1 << 20)),
        ];
        for text in &inputs {
            for max in [1, 16, 4096] {
                let parts = split_text(text, max);
                let max = max.max(MIN_PART_CHARS);
                assert!(!parts.is_empty() && parts.len() <= MAX_PARTS);
                assert!(parts.iter().all(|p| chars(p) <= max && !p.is_empty()));
                assert!(parts.last().unwrap().ends_with(TRUNCATION_MARK));
            }
            // No ceiling (the inner function): every character is kept.
            let parts = split_words(text, 2, usize::MAX);
            let non_space = |s: &str| s.chars().filter(|c| !c.is_whitespace()).count();
            assert_eq!(
                parts.iter().map(|p| non_space(p)).sum::<usize>(),
                non_space(text)
            );
            assert!(parts.iter().all(|p| chars(p) <= 2));
        }
    }

    #[tokio::test]
    async fn large_texts_are_split_off_the_async_threads_with_the_same_result() {
        let text = "word ".repeat(100_000);
        let inline = split_text(&text, 50);
        assert_eq!(split_text_blocking(text, 50).await, inline);
        let small = "hello there".to_string();
        assert_eq!(split_text_blocking(small, 0).await, vec!["hello there"]);
    }
}
