//! `X-Twilio-Signature` verification.
//!
//! Twilio signs every webhook with base64(HMAC-SHA1(auth_token, url + params))
//! where `url` is the full URL it called (including the query string) and
//! `params` is every POST parameter sorted by key, each key followed by its
//! value (a repeated key contributes each distinct value, sorted). JSON bodies
//! carry no params; instead the URL has `bodySHA256=<hex sha256 of body>`.
//!
//! The URL Twilio called is reconstructed from the binding's `webhook_url`
//! (what was configured in Twilio, so a proxy in front of the host does not
//! matter) plus the query string as received. Like Twilio's SDKs, the URL is
//! tried as configured and with the scheme's default port (`:443`/`:80`)
//! added or removed; a non-default port is never removed.
//!
//! The crypto comes in through [`Crypto`], so the host does it in
//! production and native tests use the `hmac`/`sha1`/`sha2` crates.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use switchboard_sdk::{HttpRequest, PluginError, form_pairs, query_pairs};

/// The header Twilio signs webhooks with.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
/// The query parameter carrying the body hash of JSON webhooks.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

/// The crypto primitives verification needs.
pub trait Crypto {
    /// HMAC-SHA1 of `data` under `key`.
    fn hmac_sha1(&self, key: &[u8], data: &[u8]) -> Vec<u8>;
    /// SHA-256 of `data`.
    fn sha256(&self, data: &[u8]) -> Vec<u8>;
    /// Compare without leaking where the inputs differ.
    fn constant_time_eq(&self, a: &[u8], b: &[u8]) -> bool;
}

/// Check a webhook's `X-Twilio-Signature`. `webhook_url` is the URL
/// configured in Twilio (any query or fragment it has is replaced by the
/// request's own query string). Every failure is an invalid-signature error
/// naming the check that failed, never the expected value.
pub fn check_signature(
    request: &HttpRequest,
    auth_token: &str,
    webhook_url: &str,
    crypto: &dyn Crypto,
) -> Result<(), PluginError> {
    let claimed = request
        .header(SIGNATURE_HEADER)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            PluginError::invalid_signature(
                "missing X-Twilio-Signature header (Twilio signs every webhook with it)",
            )
        })?;

    let query = raw_query(&request.url);
    let url = signed_url(webhook_url, query);
    let body_hash = query_pairs(&request.url)
        .into_iter()
        .find(|(k, _)| k == BODY_SHA256_PARAM)
        .map(|(_, v)| v);
    let params = match body_hash {
        // A JSON body: it is not signed as params, its hash is (via the URL).
        Some(expected) => {
            let actual = hex::encode(crypto.sha256(&request.body));
            if !crypto.constant_time_eq(
                actual.as_bytes(),
                expected.trim().to_ascii_lowercase().as_bytes(),
            ) {
                return Err(PluginError::invalid_signature(
                    "the body's SHA-256 does not match the bodySHA256 query parameter: the body was altered in transit",
                ));
            }
            String::new()
        }
        None => sorted_params(&form_pairs(&request.body)),
    };

    for candidate in url_variants(&url) {
        let mut data = candidate.into_bytes();
        data.extend_from_slice(params.as_bytes());
        let actual = base64::engine::general_purpose::STANDARD
            .encode(crypto.hmac_sha1(auth_token.as_bytes(), &data));
        if crypto.constant_time_eq(actual.as_bytes(), claimed.as_bytes()) {
            return Ok(());
        }
    }
    Err(PluginError::invalid_signature(
        "X-Twilio-Signature does not match: wrong auth_token, webhook_url differs from the URL configured in Twilio, or the parameters were altered",
    ))
}

/// The raw query string of `url` (between the first `?` and any `#`), as
/// received; empty when there is none.
pub fn raw_query(url: &str) -> &str {
    let without_fragment = url.split('#').next().unwrap_or("");
    without_fragment.split_once('?').map_or("", |(_, q)| q)
}

/// `webhook_url` without its own query/fragment, plus `?query` when the
/// request had one.
pub fn signed_url(webhook_url: &str, query: &str) -> String {
    let base = webhook_url.split(['?', '#']).next().unwrap_or("");
    if query.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{query}")
    }
}

/// The parameter part of the signed string: keys sorted byte-wise, each key
/// followed by its value, a repeated key once per distinct value in sorted
/// order (as twilio-python's `RequestValidator` does).
pub fn sorted_params(pairs: &[(String, String)]) -> String {
    let mut by_key: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (k, v) in pairs {
        by_key.entry(k.as_str()).or_default().insert(v.as_str());
    }
    let mut out = String::new();
    for (k, values) in by_key {
        for v in values {
            out.push_str(k);
            out.push_str(v);
        }
    }
    out
}

/// The URLs to try: as given, then with the scheme's default port removed
/// (when present) or added (when there is no port).
pub fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // userinfo@host:port — the port is after the last ':' that follows the
    // host (an IPv6 literal is in brackets).
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let hostport = &authority[host_start..];
    let port_colon = match hostport.rfind(':') {
        Some(i) if !hostport[i..].contains(']') => Some(host_start + i),
        _ => None,
    };
    let variant = match port_colon {
        Some(i) if &authority[i + 1..] == default_port => {
            format!("{scheme}://{}{tail}", &authority[..i])
        }
        Some(_) => return out,
        None => format!("{scheme}://{authority}:{default_port}{tail}"),
    };
    out.push(variant);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_add_or_remove_only_the_default_port() {
        assert_eq!(
            url_variants("https://a.test/x?y=1"),
            ["https://a.test/x?y=1", "https://a.test:443/x?y=1"]
        );
        assert_eq!(
            url_variants("https://a.test:443/x"),
            ["https://a.test:443/x", "https://a.test/x"]
        );
        assert_eq!(
            url_variants("http://u:p@a.test/x"),
            ["http://u:p@a.test/x", "http://u:p@a.test:80/x"]
        );
        assert_eq!(
            url_variants("http://u:p@a.test:80"),
            ["http://u:p@a.test:80", "http://u:p@a.test"]
        );
        assert_eq!(
            url_variants("http://a.test:1234/x"),
            ["http://a.test:1234/x"]
        );
        assert_eq!(
            url_variants("https://[::1]/x"),
            ["https://[::1]/x", "https://[::1]:443/x"]
        );
    }

    #[test]
    fn signed_url_replaces_the_configured_query() {
        assert_eq!(
            signed_url("https://a.test/hook", "a=1&b=2"),
            "https://a.test/hook?a=1&b=2"
        );
        assert_eq!(
            signed_url("https://a.test/hook?old=1", ""),
            "https://a.test/hook"
        );
        assert_eq!(
            raw_query("https://a.test/h?x=It%27s+ok#frag"),
            "x=It%27s+ok"
        );
    }

    #[test]
    fn params_sort_bytewise_and_dedupe_repeats() {
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        let pairs = [
            p("ReasonConferenceEnded", "test"),
            p("Reason", "P"),
            p("Digits", "5678"),
            p("Digits", "1234"),
            p("Digits", "1234"),
        ];
        assert_eq!(
            sorted_params(&pairs),
            "Digits1234Digits5678ReasonPReasonConferenceEndedtest"
        );
    }
}
