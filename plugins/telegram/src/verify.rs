//! Webhook authentication: Telegram sends the `secret_token` given to
//! `setWebhook` back in `X-Telegram-Bot-Api-Secret-Token` on every POST.
//! There is no body signature, so the header is all there is to check.
//!
//! The decision is pure; the constant-time comparison comes in through
//! [`Crypto`] so the host does it in production and tests can substitute a
//! stand-in natively.

use switchboard_sdk::PluginError;

/// The header Telegram echoes the webhook secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// The crypto primitive verification needs.
pub trait Crypto {
    /// Compare without leaking where the inputs differ.
    fn constant_time_eq(&self, a: &[u8], b: &[u8]) -> bool;
}

/// Check the secret-token header against the configured `secret_token`.
/// A missing, empty or different header is an invalid-signature error whose
/// message says which (never the expected value).
pub fn check_secret_token(
    header: Option<&str>,
    secret_token: &str,
    crypto: &dyn Crypto,
) -> Result<(), PluginError> {
    let header = header.filter(|h| !h.is_empty()).ok_or_else(|| {
        PluginError::invalid_signature(
            "missing X-Telegram-Bot-Api-Secret-Token header (set secret_token with setWebhook)",
        )
    })?;
    match crypto.constant_time_eq(header.as_bytes(), secret_token.as_bytes()) {
        true => Ok(()),
        false => Err(PluginError::invalid_signature(
            "X-Telegram-Bot-Api-Secret-Token does not match the channel's secret_token",
        )),
    }
}
