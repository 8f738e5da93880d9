//! Webhook failures and the HTTP status each one means to a provider.

use crate::runtime::PluginError;
use crate::storage::StorageError;

/// Pipeline stages, named in errors and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Resolve,
    Verify,
    Parse,
    Guardrails,
    Store,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Resolve => "resolve",
            Stage::Verify => "verify",
            Stage::Parse => "parse",
            Stage::Guardrails => "guardrails",
            Stage::Store => "store",
        })
    }
}

/// Why a webhook was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No active channel with that id (404).
    #[error("unknown channel")]
    UnknownChannel,
    /// The channel is disabled by its tenant, or its tenant is suspended
    /// (409): nothing is stored, processed or sent until it is enabled.
    #[error("the channel is disabled")]
    ChannelDisabled,
    /// The channel was deleted (404): its webhook URL is gone for good and
    /// its queued sends fail.
    #[error("the channel was deleted")]
    ChannelDeleted,
    /// A web chat channel's messages come over the visitor socket.
    #[error("this channel takes no webhooks: web chat visitors write over the widget's socket")]
    NotAWebhookChannel,
    /// The signature or token did not verify (401); nothing is stored.
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// The body is malformed (400); nothing is stored.
    #[error("malformed webhook: {0}")]
    BadRequest(String),
    /// A plugin failed at a stage (502, fail closed).
    #[error("{stage} failed: {error}")]
    Plugin { stage: Stage, error: PluginError },
    /// What the webhook would store is over a bound (413); nothing is
    /// stored.
    #[error("{what} too large to store: {size} bytes, the limit is {limit}")]
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    /// The database is unavailable (503, so the provider retries).
    #[error("database unavailable")]
    Unavailable,
    /// A bug or inconsistent state (500); details are logged only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl WebhookError {
    pub(crate) fn from_storage(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(_) => WebhookError::Unavailable,
            other => WebhookError::Internal(other.into()),
        }
    }

    /// The HTTP status for the provider.
    pub fn status(&self) -> u16 {
        match self {
            WebhookError::UnknownChannel
            | WebhookError::ChannelDeleted
            | WebhookError::NotAWebhookChannel => 404,
            // Not a 2xx, so a provider that retries keeps the events until
            // the channel is enabled again; not a 5xx, which would page
            // the platform for a tenant's own choice.
            WebhookError::ChannelDisabled => 409,
            WebhookError::InvalidSignature(_) => 401,
            WebhookError::BadRequest(_) => 400,
            // The tenant's own flood: the provider retries later, and no
            // other tenant is refused.
            WebhookError::Plugin {
                error: PluginError::Busy { .. },
                ..
            } => 503,
            WebhookError::Plugin { .. } => 502,
            WebhookError::TooLarge { .. } => 413,
            WebhookError::Unavailable => 503,
            WebhookError::Internal(_) => 500,
        }
    }

    /// Seconds a client should wait before retrying, when the refusal is
    /// about load rather than the request.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            WebhookError::Plugin {
                error: PluginError::Busy { retry_after_secs },
                ..
            } => Some(*retry_after_secs),
            WebhookError::Unavailable => Some(1),
            _ => None,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::UnknownChannel => "unknown_channel",
            WebhookError::ChannelDisabled => "channel_disabled",
            WebhookError::ChannelDeleted => "channel_deleted",
            WebhookError::NotAWebhookChannel => "not_a_webhook_channel",
            WebhookError::InvalidSignature(_) => "invalid_signature",
            WebhookError::BadRequest(_) => "bad_request",
            WebhookError::Plugin {
                error: PluginError::Busy { .. },
                ..
            } => "tenant_busy",
            WebhookError::Plugin { .. } => "plugin_failed",
            WebhookError::TooLarge { .. } => "webhook_too_large",
            WebhookError::Unavailable => "unavailable",
            WebhookError::Internal(_) => "internal",
        }
    }
}
