//! Authentication: the platform-admin token, tenant API keys (bearer), and
//! console sessions (a cookie, with a CSRF token on every state-changing
//! request and the member's role checked against the route).

use std::path::Path;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::domain::{Role, TenantStatus};
use crate::storage::{MemberRecord, TenantRecord};

/// The console's session cookie (`HttpOnly`, `SameSite=Lax`, `Secure` over
/// HTTPS): its value is the session token.
pub const SESSION_COOKIE: &str = "sb_session";
/// The header (or form field `csrf`) carrying a session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

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

/// Extractor: the tenant a request acts for (see [`Caller`]).
pub struct Tenant(pub TenantRecord);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Tenant(
            Caller::from_request_parts(parts, state).await?.tenant,
        ))
    }
}

/// Extractor: who calls for a tenant: an API key (the tenant's full
/// authority), or a member signed in to the console, whose session must
/// carry its CSRF token on a state-changing request and whose role must
/// allow the route. Both are held to the tenant's API rate limit.
pub struct Caller {
    pub tenant: TenantRecord,
    /// The signed-in member; `None` for an API key.
    pub member: Option<MemberRecord>,
}

impl Caller {
    /// What the caller may do: an API key acts as an owner.
    pub fn role(&self) -> Role {
        self.member.as_ref().map_or(Role::Owner, |m| m.role)
    }

    /// The audit log's name for the caller.
    pub fn actor(&self) -> String {
        self.member
            .as_ref()
            .map_or_else(|| "api".to_string(), |m| format!("member:{}", m.id))
    }
}

/// The value of cookie `name`.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    cookie_from(&parts.headers, name)
}

/// The value of cookie `name` in `headers`.
pub fn cookie_from<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a request method changes state (and so needs the CSRF token).
pub fn changes_state(method: &axum::http::Method) -> bool {
    !matches!(
        *method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    )
}

/// What an agent may do through the API: read and answer conversations
/// (and the contacts and events they need); every setting is an owner's
/// or an admin's.
pub fn agent_may(method: &axum::http::Method, path: &str) -> bool {
    let read = *method == axum::http::Method::GET;
    path.starts_with("/v1/conversations")
        || (read && (path.starts_with("/v1/contacts") || path.starts_with("/v1/messages/")))
        || (read && path == "/v1/events")
        || (*method == axum::http::Method::POST && path == "/v1/events/tokens")
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (tenant, member, key_id) = match bearer(parts) {
            Some(key) => {
                let Some((tenant, key_id)) = state.db().tenant_by_api_key(key).await? else {
                    return Err(ApiError::unauthorized());
                };
                (tenant, None, Some(key_id))
            }
            None => {
                let token = cookie(parts, SESSION_COOKIE).ok_or_else(ApiError::unauthorized)?;
                let session = state
                    .db()
                    .session(token)
                    .await?
                    .ok_or_else(ApiError::unauthorized)?;
                if changes_state(&parts.method) {
                    let given = parts
                        .headers
                        .get(CSRF_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    if !bool::from(given.as_bytes().ct_eq(session.csrf.as_bytes())) {
                        return Err(ApiError::new(
                            axum::http::StatusCode::FORBIDDEN,
                            "csrf_failed",
                            format!(
                                "a signed-in request that changes something must carry the session's CSRF token in `{CSRF_HEADER}`"
                            ),
                        ));
                    }
                }
                if session.member.role == Role::Agent && !agent_may(&parts.method, parts.uri.path())
                {
                    return Err(ApiError::new(
                        axum::http::StatusCode::FORBIDDEN,
                        "forbidden_for_role",
                        "agents read and answer conversations; this needs an owner or an admin",
                    ));
                }
                let tenant = state.db().tenant(&session.member.tenant_id).await?;
                (tenant, Some(session.member), None)
            }
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
        if let Some(key_id) = key_id
            && state.limiter.should_touch(&key_id)
        {
            // Best effort: a failed write must not fail the request.
            if let Err(e) = state
                .db()
                .touch_api_key(&key_id, crate::storage::now_ms())
                .await
            {
                tracing::debug!(error = %e, "recording an API key's last use failed");
            }
        }
        Ok(Caller { tenant, member })
    }
}
