//! Personas: how a tenant's automated replies sound and who writes them.
//! The responder is sealed at rest because an `openai` responder carries an
//! API key; it is opened only for the worker and redacted for the API.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::audit::audit;
use super::{Db, StorageError, is_unique_violation, new_id, now_ms};
use crate::secrets::{Keyring, Purpose};

/// The non-secret persona fields, stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonaSpec {
    pub display_name: String,
    #[serde(default)]
    pub custom_system_prompt: Option<String>,
    #[serde(default)]
    pub system_prompt_additions: Option<String>,
    #[serde(default)]
    pub prohibited_topics: Vec<String>,
    #[serde(default)]
    pub required_disclaimers: Vec<String>,
    pub formality: u8,
    pub humor: u8,
    /// `none`, `minimal` or `normal`.
    pub emoji_usage: String,
    /// A persona component (first-party name or the tenant's plugin id)
    /// that builds the prompt instead of the fields above.
    #[serde(default)]
    pub persona: Option<String>,
    /// What the persona component reads through `config`, and all it can
    /// read (never a channel's configuration).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub persona_config: std::collections::BTreeMap<String, String>,
}

/// A persona with its responder opened. `Debug` shows the responder's
/// kind only (it may hold an API key).
#[derive(Clone)]
pub struct PersonaRecord {
    pub id: String,
    pub name: String,
    pub spec: PersonaSpec,
    /// The responder configuration (`{kind, …}`), secrets included.
    pub responder: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for PersonaRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonaRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("spec", &self.spec)
            .field("responder", &kind_of(&self.responder))
            .finish_non_exhaustive()
    }
}

/// What [`Db::delete_persona`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum PersonaDeletion {
    Deleted,
    /// Nothing: these channels use it (at most 100 named).
    InUse(Vec<String>),
}

impl Db {
    /// Store a new persona. `Conflict` when the tenant has one by that name.
    pub async fn create_persona(
        &self,
        tenant_id: &str,
        actor: &str,
        name: &str,
        spec: &PersonaSpec,
        responder: &serde_json::Value,
        secrets: &Keyring,
    ) -> Result<PersonaRecord, StorageError> {
        let id = new_id("ps");
        let now = now_ms();
        // Sealed before the transaction: a tenant's first seal writes its
        // data key, and SQLite has one writer connection.
        let sealed = seal_responder(secrets, tenant_id, &id, responder).await?;
        let mut tx = self.write.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO personas (id, tenant_id, name, spec, responder_enc, responder_kind, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&id)
        .bind(tenant_id)
        .bind(name)
        .bind(to_json(spec)?)
        .bind(sealed)
        .bind(kind_of(responder))
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StorageError::Conflict("persona")),
            other => other?,
        };
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "persona.create",
            &id,
            &serde_json::json!({ "name": name, "spec": spec, "responder": kind_of(responder) }),
        )
        .await?;
        tx.commit().await?;
        Ok(PersonaRecord {
            id,
            name: name.to_string(),
            spec: spec.clone(),
            responder: responder.clone(),
            created_at: now,
            updated_at: now,
        })
    }

    /// Replace a persona's fields and responder.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_persona(
        &self,
        tenant_id: &str,
        actor: &str,
        id: &str,
        name: &str,
        spec: &PersonaSpec,
        responder: &serde_json::Value,
        secrets: &Keyring,
    ) -> Result<PersonaRecord, StorageError> {
        let before = self.get_persona(tenant_id, id, secrets).await?;
        let now = now_ms();
        let sealed = seal_responder(secrets, tenant_id, id, responder).await?;
        let mut tx = self.write.begin().await?;
        let updated = sqlx::query(
            "UPDATE personas SET name = $1, spec = $2, responder_enc = $3, responder_kind = $4, updated_at = $5 WHERE id = $6 AND tenant_id = $7",
        )
        .bind(name)
        .bind(to_json(spec)?)
        .bind(sealed)
        .bind(kind_of(responder))
        .bind(now)
        .bind(id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await;
        match updated {
            Err(e) if is_unique_violation(&e) => return Err(StorageError::Conflict("persona")),
            other => other?,
        };
        // Before/after without secrets: the responder shows its kind only.
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "persona.update",
            id,
            &serde_json::json!({
                "before": { "name": before.name, "spec": before.spec, "responder": kind_of(&before.responder) },
                "after": { "name": name, "spec": spec, "responder": kind_of(responder) },
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(PersonaRecord {
            id: id.to_string(),
            name: name.to_string(),
            spec: spec.clone(),
            responder: responder.clone(),
            created_at: before.created_at,
            updated_at: now,
        })
    }

    /// One of the tenant's personas, responder opened.
    pub async fn get_persona(
        &self,
        tenant_id: &str,
        id: &str,
        secrets: &Keyring,
    ) -> Result<PersonaRecord, StorageError> {
        let row = sqlx::query("SELECT id, name, spec, responder_enc, created_at, updated_at FROM personas WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StorageError::NotFound("persona"))?;
        persona_from(&row, tenant_id, secrets).await
    }

    /// The tenant's personas, by name.
    pub async fn list_personas(
        &self,
        tenant_id: &str,
        secrets: &Keyring,
    ) -> Result<Vec<PersonaRecord>, StorageError> {
        let rows = sqlx::query("SELECT id, name, spec, responder_enc, created_at, updated_at FROM personas WHERE tenant_id = $1 ORDER BY name LIMIT 500")
            .bind(tenant_id)
            .fetch_all(&self.read)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(persona_from(r, tenant_id, secrets).await?);
        }
        Ok(out)
    }

    /// Delete one of the tenant's personas, unless a channel (not a
    /// deleted one) uses it: then nothing changes and those channels are
    /// named. `NotFound` when it is not the tenant's.
    pub async fn delete_persona(
        &self,
        tenant_id: &str,
        actor: &str,
        id: &str,
    ) -> Result<PersonaDeletion, StorageError> {
        let mut tx = self.write.begin().await?;
        let name: String =
            sqlx::query("SELECT name FROM personas WHERE id = $1 AND tenant_id = $2")
                .bind(id)
                .bind(tenant_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StorageError::NotFound("persona"))?
                .get("name");
        let users: Vec<String> = sqlx::query(
            "SELECT id FROM channels WHERE tenant_id = $1 AND persona_id = $2 AND status <> 'deleted' ORDER BY id LIMIT 100",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.get("id"))
        .collect();
        if !users.is_empty() {
            return Ok(PersonaDeletion::InUse(users));
        }
        sqlx::query("DELETE FROM personas WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "persona.delete",
            id,
            &serde_json::json!({ "name": name }),
        )
        .await?;
        tx.commit().await?;
        Ok(PersonaDeletion::Deleted)
    }

    /// Bind a persona (or none) to one of the tenant's channels. The persona
    /// must be the tenant's own.
    pub async fn set_channel_persona(
        &self,
        tenant_id: &str,
        actor: &str,
        channel_id: &str,
        persona_id: Option<&str>,
    ) -> Result<(), StorageError> {
        let mut tx = self.write.begin().await?;
        if let Some(p) = persona_id {
            sqlx::query("SELECT 1 FROM personas WHERE id = $1 AND tenant_id = $2")
                .bind(p)
                .bind(tenant_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StorageError::NotFound("persona"))?;
        }
        let before: Option<String> =
            sqlx::query("SELECT persona_id FROM channels WHERE id = $1 AND tenant_id = $2")
                .bind(channel_id)
                .bind(tenant_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StorageError::NotFound("channel"))?
                .get("persona_id");
        sqlx::query("UPDATE channels SET persona_id = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(persona_id.map(str::to_string))
            .bind(channel_id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "channel.persona",
            channel_id,
            &serde_json::json!({ "before": before, "after": persona_id }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn to_json(spec: &PersonaSpec) -> Result<String, StorageError> {
    serde_json::to_string(spec).map_err(|e| StorageError::Internal(e.into()))
}

fn kind_of(responder: &serde_json::Value) -> String {
    responder["kind"].as_str().unwrap_or("unknown").to_string()
}

async fn seal_responder(
    secrets: &Keyring,
    tenant_id: &str,
    persona_id: &str,
    responder: &serde_json::Value,
) -> Result<Vec<u8>, StorageError> {
    Ok(secrets
        .seal(
            tenant_id,
            Purpose::PersonaResponder { persona_id },
            responder.to_string().as_bytes(),
        )
        .await?)
}

async fn persona_from(
    row: &sqlx::any::AnyRow,
    tenant_id: &str,
    secrets: &Keyring,
) -> Result<PersonaRecord, StorageError> {
    let id: String = row.get("id");
    let spec: String = row.get("spec");
    let sealed: Vec<u8> = row.get("responder_enc");
    let opened = secrets
        .open(
            tenant_id,
            Purpose::PersonaResponder { persona_id: &id },
            &sealed,
        )
        .await
        .map_err(|e| {
            StorageError::Internal(anyhow::anyhow!("opening a persona's responder: {e}"))
        })?;
    // serde_json's error would quote the offending input: keep only its kind.
    let responder = serde_json::from_slice(&opened).map_err(|e| {
        StorageError::Internal(anyhow::anyhow!(
            "persona responder is not JSON ({:?})",
            e.classify()
        ))
    })?;
    Ok(PersonaRecord {
        id,
        name: row.get("name"),
        spec: serde_json::from_str(&spec).map_err(|e| StorageError::Internal(e.into()))?,
        responder,
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}
