//! Liveness and readiness probes, and the answer to an unknown route.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::{ApiError, AppState};

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is up", body = Object)))]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "Database reachable and first-party plugins loaded", body = Object), (status = 503, description = "Not ready", body = Object)))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let db = state.db().ping().await;
    let plugins = state.pipeline.catalog.ready();
    let status = if db && plugins {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "ready": db && plugins, "database": db, "first_party_plugins": plugins })),
    )
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("route")
}
