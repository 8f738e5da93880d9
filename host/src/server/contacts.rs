//! A tenant's contacts: read, list and find, the timeline across every
//! channel, and merging two contacts that are one customer.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::auth::Tenant;
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::storage::MergeError;

/// Longest `q` accepted (a name or an address is far shorter).
const MAX_QUERY_BYTES: usize = 256;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactsQuery {
    /// Only contacts with an identity on this channel.
    channel_id: Option<String>,
    /// Find by name (case-insensitive prefix), phone or channel address
    /// (prefix).
    q: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Page size, 1 to 500 (default 100).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The contact merged into this one (and deleted).
    from: String,
}

/// `GET /v1/contacts`: the tenant's contacts with their identities.
#[utoipa::path(get, path = "/v1/contacts", tag = "contacts", params(ContactsQuery), responses((status = 200, description = "`{data, next_cursor}`, newest first; each contact as `GET /v1/contacts/{id}` shows it", body = Object), (status = 400, body = Object)), security(("api_key" = [])))]
pub async fn list_contacts(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(q): Query<ContactsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    if q.q.as_ref().is_some_and(|s| s.len() > MAX_QUERY_BYTES) {
        return Err(ApiError::bad_request(format!(
            "q is longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    let page = state
        .db()
        .list_contacts(
            &state.cipher(&tenant.id).await?,
            q.channel_id.as_deref(),
            q.q.as_deref(),
            q.limit.unwrap_or(50),
            q.cursor.as_deref(),
        )
        .await?;
    Ok(Json(page))
}

/// `GET /v1/contacts/{id}`.
#[utoipa::path(get, path = "/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path, description = "Contact id")), responses((status = 200, description = "The contact with its channel identities, each with its own consent (`opted_out`)", body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn get_contact(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let cipher = state.cipher(&tenant.id).await?;
    Ok(Json(state.db().get_contact(&cipher, &id).await?))
}

/// `GET /v1/contacts/{id}/messages`: the customer's timeline across all
/// their conversations.
#[utoipa::path(get, path = "/v1/contacts/{id}/messages", tag = "contacts", params(("id" = String, Path, description = "Contact id"), TimelineQuery), responses((status = 200, description = "`{data, next_cursor}`: messages of every channel, oldest first", body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn contact_messages(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    Query(q): Query<TimelineQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let page = state
        .db()
        .contact_messages(
            &state.cipher(&tenant.id).await?,
            &id,
            q.limit.unwrap_or(100),
            q.cursor.as_deref(),
        )
        .await?;
    Ok(Json(page))
}

/// `POST /v1/contacts/{id}/merge`: move `from`'s identities (with their
/// consent), conversations and messages into this contact and delete
/// `from`. Audited as `contact.merge`.
#[utoipa::path(post, path = "/v1/contacts/{id}/merge", tag = "contacts", params(("id" = String, Path, description = "The contact that remains")), request_body = MergeBody, responses((status = 200, description = "The merged contact, as `GET /v1/contacts/{id}` shows it", body = Object), (status = 400, body = Object), (status = 404, description = "Either contact is not the tenant's", body = Object), (status = 422, description = "`same_contact`: `from` is this contact", body = Object)), security(("api_key" = [])))]
pub async fn merge_contact(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MergeBody>,
) -> Result<impl IntoResponse, ApiError> {
    let cipher = state.cipher(&tenant.id).await?;
    match state
        .db()
        .merge_contacts(&cipher, "api", &id, &body.from)
        .await
    {
        Ok(_) => {}
        Err(e @ MergeError::SameContact) => {
            return Err(ApiError::unprocessable("same_contact", e.to_string()));
        }
        Err(MergeError::Storage(e)) => return Err(e.into()),
    }
    Ok(Json(state.db().get_contact(&cipher, &id).await?))
}
