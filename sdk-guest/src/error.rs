//! Short constructors for [`PluginError`](crate::PluginError).

use crate::types::{PluginError, ProviderError};

impl PluginError {
    /// The request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        PluginError::BadRequest(message.into())
    }
    /// The signature or token is missing or wrong.
    pub fn invalid_signature(message: impl Into<String>) -> Self {
        PluginError::InvalidSignature(message.into())
    }
    /// The operation or message kind is not supported.
    pub fn unsupported(message: impl Into<String>) -> Self {
        PluginError::Unsupported(message.into())
    }
    /// A configuration key is missing or invalid.
    pub fn config(message: impl Into<String>) -> Self {
        PluginError::Config(message.into())
    }
    /// Something unexpected happened inside the plugin.
    pub fn internal(message: impl Into<String>) -> Self {
        PluginError::Internal(message.into())
    }
}

impl ProviderError {
    /// A provider error with the given retryability and message.
    pub fn new(retryable: bool, code: Option<String>, message: impl Into<String>) -> Self {
        ProviderError {
            retryable,
            retry_after_secs: None,
            code,
            message: message.into(),
            consent_revoked: false,
        }
    }
}
