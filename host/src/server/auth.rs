//! Bearer authentication: the platform-admin token and tenant API keys.

use std::path::Path;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::domain::TenantStatus;
use crate::storage::TenantRecord;

/// The shortest platform-admin token `serve` accepts. The token opens
/// every tenant's data, so it must not be guessable: the generated one has
/// 48 hex digits of randomness, and a configured one should be as random
/// (`openssl rand -hex 32`). The floor refuses the obviously weak (empty,
/// `admin`, `secret`) without refusing the tokens operators' own tooling
/// already passes (the shared benchmark's `adm-bench-<pid>`).
pub const MIN_ADMIN_TOKEN_CHARS: usize = 12;

/// The admin token from configuration, else `<data-dir>/admin-token`
/// (created on first start). Returns whether it was just generated. An
/// empty or short token, configured or stored, is an error: the server
/// must not start with an admin token anyone could guess (an empty one
/// would even match a bare `Authorization: Bearer `).
pub fn admin_token(configured: Option<String>, data_dir: &Path) -> anyhow::Result<(String, bool)> {
    if let Some(t) = configured {
        let t = t.trim();
        if t.chars().count() < MIN_ADMIN_TOKEN_CHARS {
            anyhow::bail!(
                "the admin token (--admin-token / SWITCHBOARD_ADMIN_TOKEN) is {} characters; at least {MIN_ADMIN_TOKEN_CHARS} are required (e.g. `openssl rand -hex 32`), or leave it unset to have one generated",
                t.chars().count()
            );
        }
        return Ok((t.to_string(), false));
    }
    let path = data_dir.join("admin-token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim();
        if t.chars().count() < MIN_ADMIN_TOKEN_CHARS {
            anyhow::bail!(
                "{} holds an admin token of {} characters; at least {MIN_ADMIN_TOKEN_CHARS} are required: delete the file to have a new one generated, or set --admin-token",
                path.display(),
                t.chars().count()
            );
        }
        return Ok((t.to_string(), false));
    }
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    let token = format!("adm_{}", hex::encode(bytes));
    crate::secrets::write_private(&path, token.as_bytes())?;
    Ok((token, true))
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Extractor: the request carries the platform-admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        if bool::from(token.as_bytes().ct_eq(state.admin_token.as_bytes())) {
            Ok(Admin)
        } else {
            Err(ApiError::unauthorized())
        }
    }
}

/// Extractor: the tenant whose API key the request carries.
pub struct Tenant(pub TenantRecord);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let Some((tenant, key_id)) = state.db().tenant_by_api_key(key).await? else {
            return Err(ApiError::unauthorized());
        };
        // The key is right, the tenant is not allowed in: 403, so the
        // business sees why rather than a key problem.
        if tenant.status != TenantStatus::Active {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "tenant_suspended",
                "this tenant is suspended; contact the platform operator",
            ));
        }
        let limits = state.limiter.limits(state.db(), &tenant.id).await?;
        if let Some(rps) = limits.api_rate_limit_rps.filter(|r| *r > 0)
            && let Err(limited) = state.limiter.check(&tenant.id, rps as u64)
        {
            return Err(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "more than {rps} requests per second; retry after {} s",
                    limited.retry_after_secs
                ),
            )
            .with_header("retry-after", limited.retry_after_secs)
            .with_header("ratelimit-limit", limited.limit)
            .with_header("ratelimit-remaining", 0)
            .with_header("ratelimit-reset", limited.retry_after_secs)
            .with_header("ratelimit-policy", format!("{};w=1", limited.limit)));
        }
        if state.limiter.should_touch(&key_id) {
            // Best effort: a failed write must not fail the request.
            if let Err(e) = state
                .db()
                .touch_api_key(&key_id, crate::storage::now_ms())
                .await
            {
                tracing::debug!(error = %e, "recording an API key's last use failed");
            }
        }
        Ok(Tenant(tenant))
    }
}
