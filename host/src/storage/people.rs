//! People: users (email, argon2id hash), their memberships of tenants
//! with a role, invitations, and console sessions. Tokens (invitations,
//! sessions) are stored as SHA-256 hashes, so the tables alone open
//! nothing. A tenant always keeps at least one owner; every change is
//! audited.

use serde::Serialize;
use sqlx::Row;

use super::audit::audit;
use super::platform::key_hash;
use super::{Db, StorageError, is_unique_violation, new_id, new_secret_id, now_ms};
use crate::domain::{Role, TenantStatus};

/// A member as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MemberRecord {
    pub id: String,
    #[serde(skip)]
    pub tenant_id: String,
    #[serde(skip)]
    pub user_id: String,
    pub email: String,
    pub role: Role,
    /// The invitation has not been accepted yet.
    pub invited: bool,
    pub created_at: i64,
}

/// A live console session: whose, and its CSRF token.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub member: MemberRecord,
    pub csrf: String,
}

const LAST_OWNER: StorageError = StorageError::Refused {
    code: "last_owner",
    message: "a tenant keeps at least one owner: make another member owner first",
};

const MEMBER_COLUMNS: &str =
    "m.id, m.tenant_id, m.user_id, u.email, m.role, m.invite_hash, m.created_at";

fn member_from(r: &sqlx::any::AnyRow) -> Result<MemberRecord, StorageError> {
    let role: String = r.get("role");
    Ok(MemberRecord {
        id: r.get("id"),
        tenant_id: r.get("tenant_id"),
        user_id: r.get("user_id"),
        email: r.get("email"),
        role: Role::parse(&role)
            .ok_or_else(|| StorageError::Internal(anyhow::anyhow!("unknown role {role}")))?,
        invited: r.get::<Option<String>, _>("invite_hash").is_some(),
        created_at: r.get("created_at"),
    })
}

/// Emails are compared trimmed and lowercased.
pub fn normal_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl Db {
    /// The user with `email`, created without a password if new.
    async fn user_for(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        email: &str,
        password_hash: Option<&str>,
        now: i64,
    ) -> Result<String, StorageError> {
        if let Some(r) = sqlx::query("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&mut **tx)
            .await?
        {
            return Ok(r.get("id"));
        }
        let id = new_id("usr");
        sqlx::query("INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(&id)
            .bind(email)
            .bind(password_hash.map(str::to_string))
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(id)
    }

    /// Make `email` (with `password_hash`) an owner of a new tenant.
    /// An existing user keeps their password.
    pub async fn create_owner(
        &self,
        tenant_id: &str,
        email: &str,
        password_hash: &str,
    ) -> Result<MemberRecord, StorageError> {
        let email = normal_email(email);
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let user = Self::user_for(&mut tx, &email, Some(password_hash), now).await?;
        let id = new_id("mem");
        insert_member(&mut tx, &id, tenant_id, &user, Role::Owner, None, now).await?;
        audit(
            &mut tx,
            Some(tenant_id),
            "admin",
            "member.create",
            &id,
            &serde_json::json!({ "role": "owner" }),
        )
        .await?;
        tx.commit().await?;
        self.get_member(tenant_id, &id).await
    }

    /// Invite `email` as `role`; returns the member and the invitation
    /// token (shown once), valid for `ttl_ms`.
    pub async fn invite_member(
        &self,
        tenant_id: &str,
        actor: &str,
        email: &str,
        role: Role,
        ttl_ms: i64,
    ) -> Result<(MemberRecord, String), StorageError> {
        let email = normal_email(email);
        let now = now_ms();
        let token = new_secret_id("inv");
        let mut tx = self.write.begin().await?;
        let user = Self::user_for(&mut tx, &email, None, now).await?;
        let id = new_id("mem");
        insert_member(
            &mut tx,
            &id,
            tenant_id,
            &user,
            role,
            Some((&key_hash(&token), now + ttl_ms)),
            now,
        )
        .await?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "member.invite",
            &id,
            &serde_json::json!({ "role": role.as_str() }),
        )
        .await?;
        tx.commit().await?;
        Ok((self.get_member(tenant_id, &id).await?, token))
    }

    /// The tenant's members, oldest first.
    pub async fn list_members(&self, tenant_id: &str) -> Result<Vec<MemberRecord>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM members m JOIN users u ON u.id = m.user_id \
             WHERE m.tenant_id = $1 ORDER BY m.created_at, m.id"
        )))
        .bind(tenant_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(member_from).collect()
    }

    pub async fn get_member(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<MemberRecord, StorageError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM members m JOIN users u ON u.id = m.user_id \
             WHERE m.tenant_id = $1 AND m.id = $2"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.write)
        .await?
        .ok_or(StorageError::NotFound("member"))?;
        member_from(&row)
    }

    /// Change a member's role; the last owner stays an owner.
    pub async fn set_member_role(
        &self,
        tenant_id: &str,
        actor: &str,
        id: &str,
        role: Role,
    ) -> Result<MemberRecord, StorageError> {
        let mut tx = self.write.begin().await?;
        let current = lock_member(&mut tx, tenant_id, id).await?;
        if current == Role::Owner
            && role != Role::Owner
            && other_owners(&mut tx, tenant_id, id).await? == 0
        {
            return Err(LAST_OWNER);
        }
        sqlx::query("UPDATE members SET role = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(role.as_str())
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "member.update",
            id,
            &serde_json::json!({ "role": role.as_str(), "was": current.as_str() }),
        )
        .await?;
        tx.commit().await?;
        self.get_member(tenant_id, id).await
    }

    /// Remove a member and end their sessions; the last owner stays.
    pub async fn remove_member(
        &self,
        tenant_id: &str,
        actor: &str,
        id: &str,
    ) -> Result<(), StorageError> {
        let mut tx = self.write.begin().await?;
        let current = lock_member(&mut tx, tenant_id, id).await?;
        if current == Role::Owner && other_owners(&mut tx, tenant_id, id).await? == 0 {
            return Err(LAST_OWNER);
        }
        sqlx::query("DELETE FROM sessions WHERE member_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE conversations SET assignee_id = NULL WHERE tenant_id = $1 AND assignee_id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM members WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "member.remove",
            id,
            &serde_json::json!({ "role": current.as_str() }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The invitation `token` (unexpired, unused): set the user's password,
    /// use the invitation up, and end the user's other sessions.
    pub async fn accept_invite(
        &self,
        token: &str,
        password_hash: &str,
    ) -> Result<MemberRecord, StorageError> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let row = sqlx::query("SELECT id, tenant_id, user_id FROM members WHERE invite_hash = $1 AND invite_expires_at > $2")
            .bind(key_hash(token))
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StorageError::NotFound("invitation"))?;
        let (id, tenant_id, user_id): (String, String, String) =
            (row.get("id"), row.get("tenant_id"), row.get("user_id"));
        sqlx::query(
            "UPDATE members SET invite_hash = NULL, invite_expires_at = NULL WHERE id = $1",
        )
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        set_password(&mut tx, &user_id, password_hash, now).await?;
        audit(
            &mut tx,
            Some(&tenant_id),
            &format!("member:{id}"),
            "member.accept",
            &id,
            &serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        self.get_member(&tenant_id, &id).await
    }

    /// Change a user's password; every session of theirs ends.
    pub async fn change_password(
        &self,
        member: &MemberRecord,
        password_hash: &str,
    ) -> Result<(), StorageError> {
        let mut tx = self.write.begin().await?;
        set_password(&mut tx, &member.user_id, password_hash, now_ms()).await?;
        audit(
            &mut tx,
            Some(&member.tenant_id),
            &format!("member:{}", member.id),
            "member.password",
            &member.id,
            &serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// For signing in: the user's password hash and their memberships of
    /// active tenants (accepted ones), oldest first.
    pub async fn sign_in_candidates(
        &self,
        email: &str,
    ) -> Result<Option<(String, Vec<MemberRecord>)>, StorageError> {
        let email = normal_email(email);
        let Some(user) = sqlx::query("SELECT id, password_hash FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&self.read)
            .await?
        else {
            return Ok(None);
        };
        let Some(hash) = user.get::<Option<String>, _>("password_hash") else {
            return Ok(None);
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM members m JOIN users u ON u.id = m.user_id \
             JOIN tenants t ON t.id = m.tenant_id \
             WHERE m.user_id = $1 AND m.invite_hash IS NULL AND t.status = $2 ORDER BY m.created_at, m.id"
        )))
        .bind(user.get::<String, _>("id"))
        .bind(TenantStatus::Active.as_str())
        .fetch_all(&self.read)
        .await?;
        Ok(Some((
            hash,
            rows.iter().map(member_from).collect::<Result<_, _>>()?,
        )))
    }

    /// A new session of `member` for `ttl_ms`: (cookie token, CSRF token).
    pub async fn create_session(
        &self,
        member: &MemberRecord,
        ttl_ms: i64,
    ) -> Result<(String, String), StorageError> {
        let token = new_secret_id("ses");
        let csrf = new_secret_id("csrf");
        let now = now_ms();
        // Expired sessions go as new ones come.
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.write)
            .await?;
        sqlx::query("INSERT INTO sessions (id_hash, member_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(key_hash(&token))
            .bind(&member.id)
            .bind(&csrf)
            .bind(now)
            .bind(now + ttl_ms)
            .execute(&self.write)
            .await?;
        Ok((token, csrf))
    }

    /// The live session of a cookie token (its tenant active).
    pub async fn session(&self, token: &str) -> Result<Option<SessionRecord>, StorageError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS}, s.csrf FROM sessions s JOIN members m ON m.id = s.member_id \
             JOIN users u ON u.id = m.user_id JOIN tenants t ON t.id = m.tenant_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND t.status = $3"
        )))
        .bind(key_hash(token))
        .bind(now_ms())
        .bind(TenantStatus::Active.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            Ok(SessionRecord {
                member: member_from(&r)?,
                csrf: r.get("csrf"),
            })
        })
        .transpose()
    }

    /// End a session (sign out).
    pub async fn end_session(&self, token: &str) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(key_hash(token))
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

async fn insert_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    tenant_id: &str,
    user_id: &str,
    role: Role,
    invite: Option<(&str, i64)>,
    now: i64,
) -> Result<(), StorageError> {
    let inserted = sqlx::query("INSERT INTO members (id, tenant_id, user_id, role, invite_hash, invite_expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(id)
        .bind(tenant_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(invite.map(|(h, _)| h.to_string()))
        .bind(invite.map(|(_, e)| e))
        .bind(now)
        .execute(&mut **tx)
        .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            Err(StorageError::Conflict("a member with this email"))
        }
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// The member's role, with its row locked for the transaction (on SQLite
/// the write transaction is already exclusive).
async fn lock_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &str,
    id: &str,
) -> Result<Role, StorageError> {
    // Serialise owner changes per tenant: every change touches the
    // tenant's row first, so two removals cannot both see another owner.
    sqlx::query("UPDATE tenants SET name = name WHERE id = $1")
        .bind(tenant_id)
        .execute(&mut **tx)
        .await?;
    let row = sqlx::query("SELECT role FROM members WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StorageError::NotFound("member"))?;
    let role: String = row.get("role");
    Role::parse(&role).ok_or_else(|| StorageError::Internal(anyhow::anyhow!("unknown role {role}")))
}

async fn other_owners(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &str,
    id: &str,
) -> Result<i64, StorageError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM members WHERE tenant_id = $1 AND role = 'owner' AND id <> $2 AND invite_hash IS NULL")
        .bind(tenant_id)
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.get::<i64, _>("n"))
}

async fn set_password(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
    password_hash: &str,
    now: i64,
) -> Result<(), StorageError> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(now)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "DELETE FROM sessions WHERE member_id IN (SELECT id FROM members WHERE user_id = $1)",
    )
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
