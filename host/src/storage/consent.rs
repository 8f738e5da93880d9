//! Consent: whether a contact may be messaged on a channel, and where each
//! change came from. A change is recorded with its audit row in the
//! caller's transaction; a repeat (a second STOP) changes nothing.

use sqlx::{Any, Transaction};

use super::StorageError;
use super::audit::audit;
pub use crate::domain::ConsentSource;

/// A contact's consent changing on one channel, because of `message_id`
/// (what the contact sent, or the message a provider refused).
pub(crate) struct ConsentChange<'a> {
    pub channel_id: &'a str,
    /// The identity's blind address index (`TenantCipher::address_index`).
    pub address_index: &'a str,
    pub contact_id: &'a str,
    pub message_id: &'a str,
    pub opted_out: bool,
    pub source: ConsentSource,
}

impl ConsentChange<'_> {
    /// Apply it and audit it (`consent.opt_out` / `consent.opt_in`, with
    /// the provider's `error_code` when one caused it); false when the
    /// contact was already in that state, and nothing was written.
    pub(crate) async fn record(
        &self,
        tx: &mut Transaction<'_, Any>,
        tenant_id: &str,
        error_code: Option<&str>,
        now: i64,
    ) -> Result<bool, StorageError> {
        let r = sqlx::query("UPDATE contact_identities SET opted_out = $1, consent_source = $2, consent_updated_at = $3 WHERE channel_id = $4 AND address_index = $5 AND tenant_id = $6 AND opted_out <> $1")
            .bind(i32::from(self.opted_out))
            .bind(self.source.name())
            .bind(now)
            .bind(self.channel_id)
            .bind(self.address_index)
            .bind(tenant_id)
            .execute(&mut **tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        let action = if self.opted_out {
            "consent.opt_out"
        } else {
            "consent.opt_in"
        };
        let mut detail = serde_json::json!({
            "channel_id": self.channel_id, "message_id": self.message_id, "source": self.source.name(),
        });
        if let Some(code) = error_code {
            detail["error_code"] = serde_json::json!(code);
        }
        audit(
            tx,
            Some(tenant_id),
            self.source.name(),
            action,
            self.contact_id,
            &detail,
        )
        .await?;
        Ok(true)
    }
}
