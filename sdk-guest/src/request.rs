//! Pure request helpers: url-encoded parsing and path-segment checks. No
//! host calls, so they are unit-tested natively.

/// Whether a configuration value may be pasted into a URL path as one
/// segment: non-empty, ASCII letters and digits plus the `extra` bytes, so
/// a value like `../me` cannot change which endpoint is called.
pub fn is_path_segment(value: &str, extra: &[u8]) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// Decode a form-urlencoded body into pairs, keeping order and repeats.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Decode the query string of `url` (everything after the first `?`, up to a
/// `#`) into pairs.
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    let Some((_, rest)) = url.split_once('?') else {
        return Vec::new();
    };
    let query = rest.split('#').next().unwrap_or("");
    form_pairs(query.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_keeps_repeats_and_plus_as_space() {
        let pairs = form_pairs(b"Body=hello+world%21&MediaUrl0=a&MediaUrl0=b");
        assert_eq!(
            pairs,
            vec![
                ("Body".to_string(), "hello world!".to_string()),
                ("MediaUrl0".to_string(), "a".to_string()),
                ("MediaUrl0".to_string(), "b".to_string()),
            ]
        );
    }

    #[test]
    fn path_segments_refuse_what_could_change_the_path() {
        assert!(is_path_segment("123456123", b""));
        assert!(is_path_segment("123:ABC-x_y", b":_-"));
        for bad in ["", "../me", "a/b", "a?b", "a b", "a%2F"] {
            assert!(!is_path_segment(bad, b":_-"), "{bad}");
        }
    }

    #[test]
    fn query_decoding_stops_at_fragment() {
        let q =
            query_pairs("https://x.test/webhooks/c?hub.mode=subscribe&hub.challenge=12%2034#frag");
        assert_eq!(
            q,
            vec![
                ("hub.mode".into(), "subscribe".into()),
                ("hub.challenge".into(), "12 34".into())
            ]
        );
        assert!(query_pairs("https://x.test/no-query").is_empty());
    }

    // Properties over arbitrary input (the SDK side of the fuzzing suite):
    // the helpers every adapter runs on untrusted requests never panic, and
    // what they return round-trips.
    proptest::proptest! {
        #[test]
        fn form_pairs_round_trip(pairs in proptest::collection::vec(("\\PC{0,20}", "\\PC{0,40}"), 0..8)) {
            let encoded: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .finish();
            proptest::prop_assert_eq!(form_pairs(encoded.as_bytes()), pairs);
        }

        #[test]
        fn helpers_accept_any_input(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256), text in "\\PC{0,200}") {
            let _ = form_pairs(&bytes);
            let _ = query_pairs(&text);
            let _ = is_path_segment(&text, b"-_.");
        }
    }
}
