//! The platform admin's console at `/console/admin`: sign in with the
//! admin token, see every tenant with its usage this month and its limits,
//! create one (with its first owner), suspend or reactivate one, and set
//! its monthly message limit. It acts through the same functions as
//! `/v1/admin/...`.
//!
//! The admin is no tenant's member, so an admin session is not a
//! `sessions` row: it is a cookie signed with a key derived from the admin
//! token (HMAC-SHA256 over its expiry and a random nonce). Every replica
//! checks it with the token alone; changing the admin token ends every
//! admin session; it expires after [`ADMIN_TTL_MS`]. Signing out clears
//! the cookie in the browser (a copied cookie stays valid until it
//! expires: the price of keeping no server-side state for the admin).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hmac::{Hmac, Mac};
use maud::{Markup, html};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::super::AppState;
use super::super::auth::cookie;
use super::pages::{self, Notice};
use super::{failed, html, same_origin, with_cookie};
use crate::domain::TenantStatus;
use crate::storage::{TenantLimits, TenantRecord};

/// The admin session cookie (`HttpOnly`, `SameSite=Strict`, only sent to
/// `/console/admin`).
const ADMIN_COOKIE: &str = "sb_admin";
/// How long an admin session lasts.
const ADMIN_TTL_MS: i64 = 8 * 3600 * 1000;
/// The sign-in limits' account key for the admin token.
const ADMIN_ACCOUNT: &str = "platform-admin";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/admin", get(tenants))
        .route("/console/admin/login", get(sign_in_page).post(sign_in))
        .route("/console/admin/logout", post(sign_out))
        .route("/console/admin/tenants", post(create_tenant))
        .route("/console/admin/tenants/{id}/status", post(set_status))
        .route("/console/admin/tenants/{id}/limits", post(set_limit))
}

/// The session key: one-way from the admin token, for this purpose only.
fn session_key(state: &AppState) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"switchboard console admin session\0");
    h.update(state.admin_token.as_bytes());
    h.finalize().into()
}

fn sign(key: &[u8; 32], parts: &[&str]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p.as_bytes());
        mac.update(b"\0");
    }
    hex::encode(mac.finalize().into_bytes())
}

/// A new session's cookie value: `expiry.nonce.signature`.
fn new_session(state: &AppState) -> Result<String, getrandom::Error> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce)?;
    let nonce = hex::encode(nonce);
    let expires = (crate::storage::now_ms() + ADMIN_TTL_MS).to_string();
    let mac = sign(&session_key(state), &["session", &expires, &nonce]);
    Ok(format!("{expires}.{nonce}.{mac}"))
}

fn admin_cookie(state: &AppState, value: Option<&str>) -> String {
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let (value, age) = match value {
        Some(v) => (v, ADMIN_TTL_MS / 1000),
        None => ("", 0),
    };
    format!(
        "{ADMIN_COOKIE}={value}; Path=/console/admin; HttpOnly; SameSite=Strict; Max-Age={age}{secure}"
    )
}

/// Extractor: the platform admin, signed in (else a redirect to the
/// admin's sign-in page).
pub struct AdminSigned {
    csrf: String,
}

impl AdminSigned {
    fn csrf_ok(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

impl FromRequestParts<AppState> for AdminSigned {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/console/admin/login").into_response();
        let value = cookie(parts, ADMIN_COOKIE).ok_or_else(to_sign_in)?;
        let mut it = value.splitn(3, '.');
        let (Some(expires), Some(nonce), Some(mac)) = (it.next(), it.next(), it.next()) else {
            return Err(to_sign_in());
        };
        let key = session_key(state);
        let expected = sign(&key, &["session", expires, nonce]);
        let fresh = expires
            .parse::<i64>()
            .is_ok_and(|e| e > crate::storage::now_ms());
        if !bool::from(mac.as_bytes().ct_eq(expected.as_bytes())) || !fresh {
            return Err(to_sign_in());
        }
        Ok(AdminSigned {
            csrf: sign(&key, &["csrf", nonce]),
        })
    }
}

fn csrf_refused() -> Response {
    html(
        StatusCode::FORBIDDEN,
        pages::message(
            "Refused",
            None,
            "This form was not sent from this console page (its CSRF token is missing or wrong). Reload the page and try again.",
        ),
    )
}

/// The admin pages' frame: their own navigation and sign-out.
fn admin_page(title: &str, csrf: &str, body: Markup) -> Markup {
    let header = html! {
        nav aria-label="Platform admin" {
            a href="/console/admin" { "Tenants" }
        }
        div.who {
            span { "Platform admin" }
            form method="post" action="/console/admin/logout" {
                input type="hidden" name="csrf" value=(csrf);
                button.link type="submit" { "Sign out" }
            }
        }
    };
    pages::shell(title, Some(csrf), None, header, body)
}

fn sign_in_markup(error: Option<&str>) -> Markup {
    pages::shell(
        "Platform admin",
        None,
        None,
        html! {},
        html! {
            section.card.narrow {
                h1 { "Platform admin" }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/console/admin/login" {
                    label for="token" { "Admin token" }
                    input id="token" name="token" type="password" autocomplete="current-password" required;
                    button type="submit" { "Sign in" }
                }
                p.hint { "The token `serve` printed on its first start, or SWITCHBOARD_ADMIN_TOKEN. Team members sign in at " a href="/console/login" { "/console/login" } "." }
            }
        },
    )
}

async fn sign_in_page() -> Response {
    html(StatusCode::OK, sign_in_markup(None))
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
}

async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if !same_origin(&headers) {
        return html(
            StatusCode::FORBIDDEN,
            sign_in_markup(Some("This sign-in did not come from this site.")),
        );
    }
    let address = peer.ip().to_string();
    if !state.sign_ins.allowed(ADMIN_ACCOUNT, &address) {
        return html(
            StatusCode::TOO_MANY_REQUESTS,
            sign_in_markup(Some(
                "Too many failed attempts. Wait 15 minutes and try again.",
            )),
        );
    }
    let given = form.token.trim();
    if !bool::from(given.as_bytes().ct_eq(state.admin_token.as_bytes())) {
        state.sign_ins.failed(ADMIN_ACCOUNT, &address);
        return html(
            StatusCode::UNAUTHORIZED,
            sign_in_markup(Some("That is not the admin token.")),
        );
    }
    state.sign_ins.succeeded(ADMIN_ACCOUNT);
    let Ok(value) = new_session(&state) else {
        return failed(super::super::ApiError::internal());
    };
    with_cookie(
        Redirect::to("/console/admin").into_response(),
        &admin_cookie(&state, Some(&value)),
    )
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(state): State<AppState>,
    a: AdminSigned,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !a.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    with_cookie(
        Redirect::to("/console/admin/login").into_response(),
        &admin_cookie(&state, None),
    )
}

/// One tenant's line: the tenant, messages this month, its limits.
struct TenantLine {
    tenant: TenantRecord,
    used: i64,
    limits: TenantLimits,
}

#[derive(Deserialize)]
struct PageQuery {
    cursor: Option<String>,
}

/// What a tenant creation showed once: its API key and owner.
struct Created {
    slug: String,
    api_key: String,
    owner: Option<String>,
}

async fn tenants_page(
    state: &AppState,
    a: &AdminSigned,
    cursor: Option<&str>,
    status: StatusCode,
    created: Option<&Created>,
    notice: Option<Notice<'_>>,
) -> Response {
    let loaded = async {
        let db = state.db();
        let page = db.list_tenants(100, cursor).await?;
        let mut lines = Vec::with_capacity(page.data.len());
        for tenant in page.data {
            let (used, limits) = if tenant.status == TenantStatus::Deleted {
                (0, TenantLimits::default())
            } else {
                (
                    db.messages_this_month(&tenant.id).await?,
                    db.tenant_limits(&tenant.id).await?,
                )
            };
            lines.push(TenantLine {
                tenant,
                used,
                limits,
            });
        }
        Ok::<_, crate::storage::StorageError>((lines, page.next_cursor))
    };
    match loaded.await {
        Ok((lines, next)) => html(
            status,
            tenants_markup(&a.csrf, &lines, next.as_deref(), created, notice),
        ),
        Err(e) => failed(e),
    }
}

fn tenants_markup(
    csrf: &str,
    lines: &[TenantLine],
    next: Option<&str>,
    created: Option<&Created>,
    notice: Option<Notice<'_>>,
) -> Markup {
    admin_page(
        "Tenants",
        csrf,
        html! {
            h1 { "Tenants" }
            (pages::notice_line(notice))
            @if let Some(c) = created {
                div.card role="status" {
                    p { "Tenant " strong { (c.slug) } " created. Its first API key, shown only now:" }
                    (pages::copy_field("new-tenant-key", "API key", &c.api_key))
                    @if let Some(o) = &c.owner {
                        p { "Its owner " (o) " signs in at " a href="/console/login" { "/console/login" } "." }
                    }
                }
            }
            div.scroll {
                table {
                    thead { tr {
                        th { "Tenant" } th { "Status" } th { "Messages this month" }
                        th { "Monthly message limit" } th { "Other limits" } th { "Created" } th { "" }
                    } }
                    tbody {
                        @for l in lines {
                            @let t = &l.tenant;
                            @let live = t.status != TenantStatus::Deleted;
                            tr {
                                td { strong { (t.name) } br; code { (t.slug) } }
                                td { (t.status.as_str()) }
                                td {
                                    (l.used)
                                    @if let Some(max) = l.limits.monthly_message_limit { " of " (max) }
                                }
                                td {
                                    @if live {
                                        form.inline method="post" action={ "/console/admin/tenants/" (t.id) "/limits" } {
                                            input type="hidden" name="csrf" value=(csrf);
                                            @let id = format!("limit-{}", t.id);
                                            label.sr-only for=(id) { "Monthly message limit of " (t.slug) }
                                            input id=(id) name="monthly_message_limit" type="number" min="1" placeholder="no limit"
                                                value=[l.limits.monthly_message_limit];
                                            button type="submit" aria-label={ "Save limit of " (t.slug) } { "Save" }
                                        }
                                    }
                                }
                                td { (limits_text(&l.limits)) }
                                td { (pages::time(t.created_at)) }
                                td.actions {
                                    @if live {
                                        @let (to, label) = if t.status == TenantStatus::Active { ("suspended", "Suspend") } else { ("active", "Reactivate") };
                                        form method="post" action={ "/console/admin/tenants/" (t.id) "/status" } {
                                            input type="hidden" name="csrf" value=(csrf);
                                            input type="hidden" name="status" value=(to);
                                            button.danger[to == "suspended"] type="submit" aria-label={ (label) " " (t.slug) } { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = next {
                p { a href={ "/console/admin?cursor=" (n) } { "Next page" } }
            }
            section.card {
                h2 { "New tenant" }
                form method="post" action="/console/admin/tenants" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="slug" { "Slug" }
                    input id="slug" name="slug" type="text" required pattern="[a-z0-9][a-z0-9-]{0,62}";
                    label for="name" { "Name" }
                    input id="name" name="name" type="text" required;
                    label for="owner-email" { "Owner email (optional)" }
                    input id="owner-email" name="owner_email" type="email" autocomplete="off";
                    label for="owner-password" { "Owner password" }
                    input id="owner-password" name="owner_password" type="password" autocomplete="new-password";
                    button type="submit" { "Create tenant" }
                }
            }
        },
    )
}

/// The limits set on a tenant beyond the platform defaults, in words.
fn limits_text(l: &TenantLimits) -> String {
    let set: Vec<String> = [
        ("API", l.api_rate_limit_rps, " req/s"),
        ("retention", l.retention_days, " days"),
        ("plugin deadline", l.plugin_deadline_ms, " ms"),
        ("plugin memory", l.plugin_memory_mib, " MiB"),
        ("plugin calls", l.max_concurrent_plugin_calls, " at once"),
        ("jobs", l.max_concurrent_jobs, " at once"),
    ]
    .into_iter()
    .filter_map(|(what, v, unit)| v.map(|v| format!("{what} {v}{unit}")))
    .collect();
    if set.is_empty() {
        "platform defaults".to_string()
    } else {
        set.join(", ")
    }
}

async fn tenants(
    State(state): State<AppState>,
    a: AdminSigned,
    Query(q): Query<PageQuery>,
) -> Response {
    tenants_page(&state, &a, q.cursor.as_deref(), StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    csrf: String,
    slug: String,
    name: String,
    #[serde(default)]
    owner_email: String,
    #[serde(default)]
    owner_password: String,
}

async fn create_tenant(
    State(state): State<AppState>,
    a: AdminSigned,
    Form(f): Form<CreateForm>,
) -> Response {
    if !a.csrf_ok(&f.csrf) {
        return csrf_refused();
    }
    let owner = Some(f.owner_email.trim())
        .filter(|e| !e.is_empty())
        .map(|email| super::super::tenants::Owner {
            email: email.to_string(),
            password: f.owner_password.clone(),
        });
    let owner_email = owner.as_ref().map(|o| o.email.clone());
    match super::super::tenants::create(&state, f.slug.trim(), &f.name, owner).await {
        Ok((t, _)) => {
            let created = Created {
                slug: t.slug,
                api_key: t.api_key,
                owner: owner_email,
            };
            tenants_page(&state, &a, None, StatusCode::CREATED, Some(&created), None).await
        }
        Err(e) => failed_on_tenants(&state, &a, &e).await,
    }
}

/// After a change: back to the tenants page, or that page with why not.
async fn back_to_tenants<T>(
    state: &AppState,
    a: &AdminSigned,
    done: Result<T, super::super::ApiError>,
) -> Response {
    match done {
        Ok(_) => Redirect::to("/console/admin").into_response(),
        Err(e) => failed_on_tenants(state, a, &e).await,
    }
}

async fn failed_on_tenants(
    state: &AppState,
    a: &AdminSigned,
    e: &super::super::ApiError,
) -> Response {
    tenants_page(
        state,
        a,
        None,
        e.status,
        None,
        Some(Notice::Failed(&e.message)),
    )
    .await
}

#[derive(Deserialize)]
struct StatusForm {
    #[serde(default)]
    csrf: String,
    status: String,
}

async fn set_status(
    State(state): State<AppState>,
    a: AdminSigned,
    Path(id): Path<String>,
    Form(f): Form<StatusForm>,
) -> Response {
    if !a.csrf_ok(&f.csrf) {
        return csrf_refused();
    }
    let status = match f.status.as_str() {
        "active" => TenantStatus::Active,
        "suspended" => TenantStatus::Suspended,
        _ => {
            return failed(super::super::ApiError::bad_request(
                "`status` must be active or suspended",
            ));
        }
    };
    let changed = super::super::tenants::change(&state, &id, None, Some(status)).await;
    back_to_tenants(&state, &a, changed).await
}

#[derive(Deserialize)]
struct LimitForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    monthly_message_limit: String,
}

/// The monthly message limit; every other limit stays as it is (the API
/// sets those).
async fn set_limit(
    State(state): State<AppState>,
    a: AdminSigned,
    Path(id): Path<String>,
    Form(f): Form<LimitForm>,
) -> Response {
    if !a.csrf_ok(&f.csrf) {
        return csrf_refused();
    }
    let typed = f.monthly_message_limit.trim();
    let limit = if typed.is_empty() {
        None
    } else {
        match typed.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return tenants_page(
                    &state,
                    &a,
                    None,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    None,
                    Some(Notice::Failed(
                        "The monthly message limit must be a whole number, or empty for none.",
                    )),
                )
                .await;
            }
        }
    };
    let changed = async {
        let mut limits = state.db().tenant_limits(&id).await?;
        limits.monthly_message_limit = limit;
        super::super::platform::apply_limits(&state, &id, limits).await
    };
    back_to_tenants(&state, &a, changed.await).await
}
