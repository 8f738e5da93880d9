//! Settings a tenant chooses for itself (as opposed to the plan limits the
//! platform admin sets, in `platform.rs`).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::audit::audit;
use super::{Db, StorageError};

/// A tenant's own settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettings {
    /// A first-seen channel address whose phone number (E.164) is already
    /// a contact's joins that contact instead of creating another (a
    /// WhatsApp `wa_id` and an SMS `From`, say). Off by default: a shared
    /// or recycled number would otherwise join two people.
    pub link_identities_by_phone: bool,
}

impl Db {
    /// The tenant's settings.
    pub async fn tenant_settings(&self, tenant_id: &str) -> Result<TenantSettings, StorageError> {
        let r = sqlx::query(
            "SELECT CAST(link_identities_by_phone AS BIGINT) AS link FROM tenants WHERE id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound("tenant"))?;
        Ok(TenantSettings {
            link_identities_by_phone: r.get::<i64, _>("link") != 0,
        })
    }

    /// Replace the tenant's settings; audited as `tenant.settings` with
    /// before and after.
    pub async fn set_tenant_settings(
        &self,
        tenant_id: &str,
        actor: &str,
        settings: &TenantSettings,
    ) -> Result<(), StorageError> {
        let mut tx = self.write.begin().await?;
        let before = sqlx::query(
            "SELECT CAST(link_identities_by_phone AS BIGINT) AS link FROM tenants WHERE id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StorageError::NotFound("tenant"))?;
        let before = TenantSettings {
            link_identities_by_phone: before.get::<i64, _>("link") != 0,
        };
        sqlx::query("UPDATE tenants SET link_identities_by_phone = $1 WHERE id = $2")
            .bind(i32::from(settings.link_identities_by_phone))
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "tenant.settings",
            tenant_id,
            &serde_json::json!({ "before": before, "after": settings }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
