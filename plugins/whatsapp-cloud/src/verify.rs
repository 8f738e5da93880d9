//! Webhook authentication: Meta's GET subscription handshake and the
//! `X-Hub-Signature-256` HMAC on every POST.
//!
//! The decisions are pure; the HMAC and the constant-time comparison come in
//! through [`Crypto`] so the host does the crypto in production and tests
//! can substitute a stand-in natively.

use switchboard_sdk::{HttpRequest, HttpResponse, PluginError};

/// The header Meta signs webhook POSTs with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The crypto primitives verification needs.
pub trait Crypto {
    /// HMAC-SHA256 of `data` under `key`.
    fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> Vec<u8>;
    /// Compare without leaking where the inputs differ.
    fn constant_time_eq(&self, a: &[u8], b: &[u8]) -> bool;
}

/// Answer Meta's `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`:
/// 200 with the challenge as plain text when the mode is `subscribe` and the
/// token equals `verify_token`, otherwise 403.
pub fn handshake(request: &HttpRequest, verify_token: &str, crypto: &dyn Crypto) -> HttpResponse {
    let mode = request.query_param("hub.mode");
    let token = request.query_param("hub.verify_token").unwrap_or_default();
    let challenge = request.query_param("hub.challenge");
    let token_ok = crypto.constant_time_eq(token.as_bytes(), verify_token.as_bytes());
    match (mode.as_deref(), challenge) {
        (Some("subscribe"), Some(challenge)) if token_ok => HttpResponse::text(200, challenge),
        _ => HttpResponse::text(403, "verification failed"),
    }
}

/// Check `X-Hub-Signature-256: sha256=<hex>` against HMAC-SHA256 of the raw
/// `body` under `app_secret`. Every failure is an invalid-signature error
/// whose message says which check failed (never the expected value).
pub fn check_signature(
    header: Option<&str>,
    body: &[u8],
    app_secret: &[u8],
    crypto: &dyn Crypto,
) -> Result<(), PluginError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            PluginError::invalid_signature(
                "missing X-Hub-Signature-256 header (Meta signs every webhook POST with it)",
            )
        })?;
    let hex = strip_prefix_ignore_case(header, "sha256=").ok_or_else(|| {
        let scheme = header.split_once('=').map_or("none", |(scheme, _)| scheme);
        PluginError::invalid_signature(format!(
            "X-Hub-Signature-256 must be `sha256=<hex digest>`; got scheme `{scheme}`"
        ))
    })?;
    let claimed = decode_hex(hex)
        .filter(|bytes| bytes.len() == 32)
        .ok_or_else(|| {
            PluginError::invalid_signature(
                "X-Hub-Signature-256 is not a 64-digit hex SHA-256 digest",
            )
        })?;
    let actual = crypto.hmac_sha256(app_secret, body);
    match crypto.constant_time_eq(&actual, &claimed) {
        true => Ok(()),
        false => Err(PluginError::invalid_signature(
            "X-Hub-Signature-256 does not match the body: wrong app_secret, or the body was altered in transit",
        )),
    }
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

/// Decode hex of either case; `None` for odd length or a non-hex digit.
/// Upper-case is accepted because the bytes, not the spelling, are signed.
pub fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    hex.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}
