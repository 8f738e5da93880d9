//! `/v1/plugins`: a tenant's uploaded components (validated before they are
//! stored, content-addressed, versioned) and the first-party plugins every
//! tenant can see.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Tenant;
use super::{ApiError, AppState};
use crate::pipeline::PluginCatalog;
use crate::runtime::{PluginRuntime, RejectionKind};
use crate::storage::{Db, PluginRecord};

/// Name and version, from the query string or multipart fields.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    name: Option<String>,
    version: Option<String>,
}

/// Upload a component: raw bytes with `?name=&version=`, or
/// `multipart/form-data` with a `file` part and `name` / `version` fields.
#[utoipa::path(post, path = "/v1/plugins", tag = "plugins", params(UploadQuery), request_body(content = Vec<u8>, content_type = "application/wasm", description = "The component, raw; or `multipart/form-data` with a `file` part and `name`/`version` fields"), responses((status = 201, description = "Validated and stored", body = Object), (status = 400, body = Object), (status = 409, body = Object), (status = 422, description = "not_wasm, core_module, compile_failed, incompatible, smoke_failed, plugin_too_large", body = Object)), security(("api_key" = [])))]
pub async fn upload_plugin(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(mut q): Query<UploadQuery>,
    request: Request,
) -> Result<impl IntoResponse, ApiError> {
    let max = state.max_plugin_bytes;
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let bytes = if is_multipart {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|e| {
                ApiError::bad_request(format!("invalid multipart body: {}", e.body_text()))
            })?;
        let form = read_multipart(multipart, max).await?;
        q.name = form.name.or(q.name);
        q.version = form.version.or(q.version);
        form.file
            .ok_or_else(|| ApiError::bad_request("the multipart body has no `file` part"))?
    } else {
        // Read at most one byte past the cap: enough to know it is too big
        // without buffering whatever a client sends.
        axum::body::to_bytes(request.into_body(), max.saturating_add(1))
            .await
            .map_err(|_| too_large(max))?
    };
    let (Some(name), Some(version)) = (q.name, q.version) else {
        return Err(ApiError::bad_request(
            "`name` and `version` are required (query parameters or multipart fields)",
        ));
    };
    let p = &state.pipeline;
    let record = upload(
        &p.db, &p.runtime, &p.catalog, &tenant.id, &name, &version, bytes, max,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// The fields of a multipart upload (the API's and the console's form).
#[derive(Default)]
pub(super) struct UploadForm {
    pub name: Option<String>,
    pub version: Option<String>,
    /// The console form's CSRF token.
    pub csrf: Option<String>,
    pub file: Option<Bytes>,
}

/// Read a multipart upload, refusing a file larger than `max` as soon as
/// it is (not after buffering it).
pub(super) async fn read_multipart(
    mut multipart: Multipart,
    max: usize,
) -> Result<UploadForm, ApiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(format!("invalid multipart body: {}", e.body_text()))
    };
    let mut form = UploadForm::default();
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let part = field.name().unwrap_or_default().to_string();
        match part.as_str() {
            "file" => {
                let mut buf = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    if buf.len() + chunk.len() > max {
                        return Err(too_large(max));
                    }
                    buf.extend_from_slice(&chunk);
                }
                form.file = Some(Bytes::from(buf));
            }
            "name" => form.name = Some(field.text().await.map_err(bad)?),
            "version" => form.version = Some(field.text().await.map_err(bad)?),
            "csrf" => form.csrf = Some(field.text().await.map_err(bad)?),
            _ => {}
        }
    }
    Ok(form)
}

fn too_large(max: usize) -> ApiError {
    ApiError::unprocessable(
        RejectionKind::TooLarge.code(),
        format!("the component is larger than the limit of {max} bytes"),
    )
}

/// Validate and store a component for a tenant (the API and the CLI alike);
/// returns the plugin as the API shows it. Identical bytes are stored once.
#[allow(clippy::too_many_arguments)]
pub async fn upload(
    db: &Db,
    runtime: &std::sync::Arc<PluginRuntime>,
    catalog: &PluginCatalog,
    tenant_id: &str,
    name: &str,
    version: &str,
    bytes: Bytes,
    max_bytes: usize,
) -> Result<Value, ApiError> {
    super::tenants::validate_slug(name)
        .map_err(|_| ApiError::bad_request("`name` must be 1-63 characters of a-z, 0-9 and '-'"))?;
    validate_version(version)?;
    if catalog.is_first_party(name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("`{name}` is the name of a first-party plugin; choose another name"),
        ));
    }
    let slot = runtime.try_upload(tenant_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "upload_in_progress",
            "another upload of this tenant is being validated; retry when it has finished",
        )
        .with_header("retry-after", 1)
    })?;
    let runtime = runtime.clone();
    let validated = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        runtime
            .validate_upload(&bytes, max_bytes)
            .map(|v| (v, bytes))
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let (validated, bytes) = validated.map_err(|r| match r.kind {
        RejectionKind::Unavailable => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, r.code(), r.message)
        }
        _ => ApiError::unprocessable(r.code(), r.message),
    })?;
    let plugin = &validated.plugin;
    let d = &plugin.detected;
    let rec = db
        .insert_plugin(
            tenant_id,
            name,
            version,
            &plugin.sha256,
            d.world.name(),
            &d.version,
            &bytes,
        )
        .await?;
    catalog.forget_latest(tenant_id, name);
    Ok(plugin_json(&rec, Some(&d.exports)))
}

/// Versions appear in URLs and `name@version` references.
fn validate_version(version: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&version.len())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-+_".contains(&b))
        && version != "latest";
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "`version` must be 1-64 characters of A-Z, a-z, 0-9, '.', '-', '+' and '_', and not `latest`",
        ))
    }
}

fn plugin_json(rec: &PluginRecord, exports: Option<&[String]>) -> Value {
    let mut v = json!({
        "id": rec.id,
        "name": rec.name,
        "version": rec.version,
        "sha256": rec.sha256,
        "world": rec.world,
        "wit_version": rec.wit_version,
        "size": rec.size,
        "created_at": rec.created_at,
        "first_party": false,
    });
    if let Some(exports) = exports {
        v["exports"] = json!(exports);
    }
    v
}

/// The tenant's plugins, then the first-party ones (by name; no id).
#[utoipa::path(get, path = "/v1/plugins", tag = "plugins", responses((status = 200, description = "The tenant's plugins, then the first-party ones", body = Object)), security(("api_key" = [])))]
pub async fn list_plugins(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<impl IntoResponse, ApiError> {
    let p = &state.pipeline;
    let mut data: Vec<Value> =
        p.db.list_plugins(&tenant.id)
            .await?
            .iter()
            .map(|r| plugin_json(r, None))
            .collect();
    for name in p.catalog.first_party_names() {
        if let Some(plugin) = p.catalog.first_party(name) {
            let d = &plugin.detected;
            data.push(json!({
                "name": name,
                "first_party": true,
                "sha256": plugin.sha256,
                "world": d.world,
                "wit_version": d.version,
                "exports": d.exports,
                "size": plugin.size,
            }));
        }
    }
    Ok(Json(json!({ "data": data, "next_cursor": null })))
}

/// One of the tenant's plugins; another tenant's id is not found.
#[utoipa::path(get, path = "/v1/plugins/{id}", tag = "plugins", params(("id" = String, Path, description = "Plugin id")), responses((status = 200, body = Object), (status = 404, body = Object)), security(("api_key" = [])))]
pub async fn get_plugin(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let p = &state.pipeline;
    let rec = p.db.get_plugin(&tenant.id, &id).await?;
    // Exports come from the compiled component (cached), not the database.
    let exports = match p.runtime.cached(&rec.sha256) {
        Some(l) => Some(l.detected.exports.clone()),
        None => match p.db.plugin_bytes(&rec.sha256).await {
            // Loading may compile: on a blocking thread.
            Ok(bytes) => p
                .runtime
                .load_blocking(bytes)
                .await
                .ok()
                .map(|l| l.detected.exports.clone()),
            Err(_) => None,
        },
    };
    Ok(Json(plugin_json(&rec, exports.as_deref())))
}
