//! A tenant's people (`/v1/members`): invite by email with a role (the
//! invitation link, shown once, lets the person set a password), list,
//! change a role, remove. Owners and admins manage members; only an owner
//! makes or changes an owner; a tenant always keeps one owner. Audited.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::domain::Role;

/// How long an invitation link works.
const INVITE_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct InviteMember {
    email: String,
    /// `owner`, `admin` or `agent`.
    role: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PatchMember {
    role: String,
}

fn role(value: &str) -> Result<Role, ApiError> {
    Role::parse(value).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_field",
            format!("`role` must be owner, admin or agent, not `{value}`"),
        )
    })
}

/// The email as a login: plausible, not empty, not huge.
pub(crate) fn check_email(email: &str) -> Result<(), ApiError> {
    let e = email.trim();
    let ok = e.len() <= 254
        && !e.chars().any(char::is_whitespace)
        && e.split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_field",
            "`email` must be an email address",
        ))
    }
}

/// Owners and admins manage members; changing an owner, or making one,
/// is an owner's.
fn may_manage(caller: &Caller, touches_owner: bool) -> Result<(), ApiError> {
    let r = caller.role();
    if !r.manages_settings() || (touches_owner && r != Role::Owner) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_for_role",
            if r.manages_settings() {
                "only an owner makes or changes an owner"
            } else {
                "only owners and admins manage members"
            },
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/members", tag = "members", request_body = InviteMember, responses((status = 201, description = "`{id, email, role, invite_url}`; the link is shown only here", body = Object), (status = 403, body = Object), (status = 409, description = "Already a member", body = Object), (status = 422, body = Object)), security(("api_key" = [])))]
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<InviteMember>,
) -> Result<impl IntoResponse, ApiError> {
    let (member, invite_url) = invite_as(&state, &caller, &body.email, &body.role).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "id": member.id, "email": member.email, "role": member.role, "invited": true, "invite_url": invite_url }),
        ),
    ))
}

/// Invite `email` as `role` for the caller: the member and the
/// invitation link (shown once).
pub(super) async fn invite_as(
    state: &AppState,
    caller: &Caller,
    email: &str,
    role_name: &str,
) -> Result<(crate::storage::MemberRecord, String), ApiError> {
    let role = role(role_name)?;
    may_manage(caller, role == Role::Owner)?;
    check_email(email)?;
    let (member, token) = state
        .db()
        .invite_member(
            &caller.tenant.id,
            &caller.actor(),
            email,
            role,
            INVITE_TTL_MS,
        )
        .await?;
    let invite_url = format!(
        "{}/console/invite/{token}",
        state.public_url.trim_end_matches('/')
    );
    Ok((member, invite_url))
}

#[utoipa::path(get, path = "/v1/members", tag = "members", responses((status = 200, description = "`{data: [{id, email, role, invited, created_at}]}`", body = Object)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    may_manage(&caller, false)?;
    let data = state.db().list_members(&caller.tenant.id).await?;
    Ok(Json(json!({ "data": data })))
}

#[utoipa::path(patch, path = "/v1/members/{id}", tag = "members", params(("id" = String, Path, description = "Member id")), request_body = PatchMember, responses((status = 200, body = Object), (status = 403, body = Object), (status = 404, body = Object), (status = 409, description = "The last owner", body = Object)), security(("api_key" = [])))]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchMember>,
) -> Result<impl IntoResponse, ApiError> {
    let role = role(&body.role)?;
    let current = state.db().get_member(&caller.tenant.id, &id).await?;
    may_manage(&caller, role == Role::Owner || current.role == Role::Owner)?;
    let member = state
        .db()
        .set_member_role(&caller.tenant.id, &caller.actor(), &id, role)
        .await?;
    Ok(Json(member))
}

#[utoipa::path(delete, path = "/v1/members/{id}", tag = "members", params(("id" = String, Path, description = "Member id")), responses((status = 204, description = "Removed; their sessions ended"), (status = 403, body = Object), (status = 404, body = Object), (status = 409, description = "The last owner", body = Object)), security(("api_key" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let current = state.db().get_member(&caller.tenant.id, &id).await?;
    may_manage(&caller, current.role == Role::Owner)?;
    state
        .db()
        .remove_member(&caller.tenant.id, &caller.actor(), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
