//! The console at `/console`: a business's team signs in (email and
//! password, a server-side session behind an `HttpOnly`, `SameSite=Lax`
//! cookie), works the inbox and its conversations (take over, answer,
//! hand back), and owners and admins see channels and manage members.
//! Pages are rendered on the server ([`pages`]); every form carries the
//! session's CSRF token; every answer carries a Content-Security-Policy
//! without inline scripts or styles. The console acts through the same
//! functions, and the same role rules, as the API.

mod admin;
mod pages;
mod plugins;
mod session;
mod wa_qr;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use serde_json::{Value, json};

use super::AppState;
use super::bindings::GuardrailEntry;
use crate::domain::Handler;
use crate::storage::{InboxFilter, OnFailure};
use pages::Frame;
pub use session::SignInLimits;
use session::{SESSION_TTL_MS, Signed, session_cookie};

const CONSOLE_JS: &str = include_str!("assets/console.js");
const CONSOLE_CSS: &str = include_str!("assets/console.css");

/// The console's routes (a plugin upload may be `max_plugin_bytes`).
pub fn routes(max_plugin_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", get(sign_in_page).post(sign_in))
        .route("/console/logout", post(sign_out))
        .route(
            "/console/invite/{token}",
            get(invite_page).post(accept_invite),
        )
        .route("/console/inbox", get(inbox))
        .route("/console/conversations/{id}", get(conversation))
        .route("/console/conversations/{id}/reply", post(reply))
        .route("/console/conversations/{id}/handoff", post(handoff))
        .route("/console/conversations/{id}/status", post(set_status))
        .route("/console/account", get(account))
        .route("/console/keys", get(api_keys).post(create_key))
        .route("/console/keys/{id}/revoke", post(revoke_key))
        .route("/console/audit", get(audit))
        .route("/console/usage", get(usage))
        .route("/console/personas", get(personas))
        .route(
            "/console/personas/{id}",
            get(edit_persona).post(save_persona),
        )
        .route("/console/personas/{id}/try", post(try_persona))
        .route("/console/account/password", post(change_password))
        .route("/console/channels", get(channels).post(create_channel))
        .route("/console/channels/new", get(new_channel))
        .route(
            "/console/channels/{id}",
            get(edit_channel).post(save_channel),
        )
        .route("/console/channels/{id}/delete", post(delete_channel))
        .route("/console/members", get(members).post(invite))
        .merge(plugins::routes(max_plugin_bytes))
        .merge(admin::routes())
        .route(
            "/console/assets/console.js",
            get(|| async { asset(CONSOLE_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console/assets/console.css",
            get(|| async { asset(CONSOLE_CSS, "text/css; charset=utf-8") }),
        )
        .layer(axum::middleware::map_response(security_headers))
}

/// What a browser needs told about every console answer: no inline code,
/// no framing, no caching of signed-in pages, no referrer to other sites.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

fn frame(s: &Signed) -> Frame<'_> {
    Frame {
        email: &s.session.member.email,
        role: s.session.member.role,
        csrf: &s.session.csrf,
        tenant_name: &s.caller.tenant.name,
    }
}

fn html(status: StatusCode, markup: maud::Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// A form without this session's CSRF token: refused.
fn csrf_refused(s: &Signed) -> Response {
    html(
        StatusCode::FORBIDDEN,
        pages::message(
            "Refused",
            Some(&frame(s)),
            "This form was not sent from this console page (its CSRF token is missing or wrong). Reload the page and try again.",
        ),
    )
}

fn settings_refused(s: &Signed) -> Response {
    html(
        StatusCode::FORBIDDEN,
        pages::message(
            "Not allowed",
            Some(&frame(s)),
            "Only owners and admins see channels, personas, plugins, members, API keys, usage and the audit log.",
        ),
    )
}

/// A settings form: refused unless it carries this session's CSRF token
/// and the member is an owner or an admin.
fn settings_form(s: &Signed, csrf: &str) -> Option<Response> {
    if !s.csrf_ok(csrf) {
        return Some(csrf_refused(s));
    }
    (!s.session.member.role.manages_settings()).then(|| settings_refused(s))
}

/// Where a channel's messages come in: a web chat channel's embed
/// snippet, any other's webhook URL.
fn channel_address(state: &AppState, ch: &crate::storage::ChannelRecord) -> String {
    if ch.adapter == crate::pipeline::visitor::ADAPTER {
        super::webchat::embed_snippet(&state.public_url, &ch.id)
    } else {
        state.webhook_url(&ch.id)
    }
}

fn failed(e: impl Into<super::ApiError>) -> Response {
    e.into().into_response()
}

async fn home(_: Signed) -> Redirect {
    Redirect::to("/console/inbox")
}

async fn sign_in_page() -> Response {
    html(StatusCode::OK, pages::sign_in(None, ""))
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
}

/// Whether a form post came from this site: a browser sends `Origin` on
/// every POST; one naming another site is a cross-site request.
fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (None, _) => true,
        (Some(o), Some(h)) => url::Url::parse(o).ok().is_some_and(|u| {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            u.host_str().is_some_and(|oh| format!("{oh}{port}") == h)
        }),
        (Some(_), None) => false,
    }
}

async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !same_origin(&headers) {
        return html(
            StatusCode::FORBIDDEN,
            pages::sign_in(Some("This sign-in did not come from this site."), ""),
        );
    }
    let email = crate::storage::normal_email(&form.email);
    let address = peer.ip().to_string();
    if !state.sign_ins.allowed(&email, &address) {
        return html(
            StatusCode::TOO_MANY_REQUESTS,
            pages::sign_in(
                Some("Too many failed attempts. Wait 15 minutes and try again."),
                &form.email,
            ),
        );
    }
    let candidates = match state.db().sign_in_candidates(&email).await {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    // The same work whether or not the account exists: no timing tells.
    let (hash, members) = match candidates {
        Some((hash, members)) => (hash, members),
        None => (crate::crypto::dummy_hash().to_string(), Vec::new()),
    };
    let password = form.password.clone();
    let verified =
        tokio::task::spawn_blocking(move || crate::crypto::verify_password(&password, &hash))
            .await
            .unwrap_or(false);
    let Some(member) = members.into_iter().next().filter(|_| verified) else {
        state.sign_ins.failed(&email, &address);
        return html(
            StatusCode::UNAUTHORIZED,
            pages::sign_in(Some("Wrong email or password."), &form.email),
        );
    };
    state.sign_ins.succeeded(&email);
    match state.db().create_session(&member, SESSION_TTL_MS).await {
        Ok((token, _csrf)) => signed_in(&state, &token),
        Err(e) => failed(e),
    }
}

fn signed_in(state: &AppState, token: &str) -> Response {
    with_cookie(
        Redirect::to("/console/inbox").into_response(),
        &session_cookie(state, Some(token)),
    )
}

/// `r` setting the cookie `cookie` (a `Set-Cookie` value).
fn with_cookie(mut r: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(state): State<AppState>,
    s: Signed,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !s.csrf_ok(&form.csrf) {
        return csrf_refused(&s);
    }
    if let Some(token) = super::auth::cookie_from(&headers, super::auth::SESSION_COOKIE)
        && let Err(e) = state.db().end_session(token).await
    {
        return failed(e);
    }
    with_cookie(
        Redirect::to("/console/login").into_response(),
        &session_cookie(&state, None),
    )
}

async fn invite_page(Path(token): Path<String>) -> Response {
    html(StatusCode::OK, pages::set_password(&token, None))
}

#[derive(Deserialize)]
struct PasswordForm {
    password: String,
}

async fn accept_invite(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    if !same_origin(&headers) {
        return html(
            StatusCode::FORBIDDEN,
            pages::set_password(&token, Some("This form did not come from this site.")),
        );
    }
    let password = form.password;
    let hash =
        match tokio::task::spawn_blocking(move || crate::crypto::hash_password(&password)).await {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                return html(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    pages::set_password(&token, Some(&e.to_string())),
                );
            }
            Err(_) => return failed(super::ApiError::internal()),
        };
    let member = match state.db().accept_invite(&token, &hash).await {
        Ok(m) => m,
        Err(crate::storage::StorageError::NotFound(_)) => {
            return html(
                StatusCode::NOT_FOUND,
                pages::message(
                    "Invitation not valid",
                    None,
                    "This invitation link was already used or has expired. Ask for a new one.",
                ),
            );
        }
        Err(e) => return failed(e),
    };
    match state.db().create_session(&member, SESSION_TTL_MS).await {
        Ok((token, _)) => signed_in(&state, &token),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct InboxQuery {
    channel: Option<String>,
    status: Option<String>,
    mine: Option<String>,
}

async fn inbox(State(state): State<AppState>, s: Signed, Query(q): Query<InboxQuery>) -> Response {
    let tenant = &s.caller.tenant.id;
    let waiting_for_me = q.mine.as_deref() == Some("1");
    let filter = InboxFilter {
        channel_id: q.channel.filter(|c| !c.is_empty()),
        status: q.status.filter(|c| c == "open" || c == "resolved"),
        waiting_for: waiting_for_me.then(|| s.session.member.id.clone()),
    };
    let cipher = match state.cipher(tenant).await {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let (rows, channels) = match tokio::try_join!(
        state.db().inbox(&cipher, &filter, 200),
        state.db().list_channels(tenant, &state.pipeline.secrets)
    ) {
        Ok(x) => x,
        Err(e) => return failed(e),
    };
    html(
        StatusCode::OK,
        pages::inbox(&frame(&s), &rows, &channels, &filter, waiting_for_me),
    )
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

async fn conversation(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let tenant = &s.caller.tenant.id;
    let load = async {
        let c = state.db().get_conversation(tenant, &id).await?;
        let cipher = state.cipher(tenant).await?;
        let channel = state
            .db()
            .get_channel(tenant, &c.channel_id, &state.pipeline.secrets)
            .await?;
        let contact = state.db().get_contact(&cipher, &c.contact_id).await?;
        let messages = state.db().list_messages(&cipher, &id, 500, None).await?;
        let members = state.db().list_members(tenant).await?;
        Ok::<_, crate::storage::StorageError>((c, channel, contact, messages, members))
    };
    let (c, channel, contact, messages, members) = match load.await {
        Ok(x) => x,
        Err(e) => return failed(e),
    };
    let name = contact
        .display_name
        .clone()
        .unwrap_or_else(|| "Unknown contact".to_string());
    html(
        StatusCode::OK,
        pages::conversation(
            &frame(&s),
            &c,
            &name,
            &channel,
            &messages.data,
            &members,
            q.notice.as_deref(),
        ),
    )
}

#[derive(Deserialize)]
struct ReplyForm {
    #[serde(default)]
    csrf: String,
    text: String,
}

async fn reply(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Response {
    if !s.csrf_ok(&form.csrf) {
        return csrf_refused(&s);
    }
    let back = match super::conversations::agent_reply(&state, &s.caller, &id, &form.text).await {
        Ok(_) => format!("/console/conversations/{id}"),
        Err(e) => format!(
            "/console/conversations/{id}?notice={}",
            url::form_urlencoded::byte_serialize(format!("Not sent: {}", e.message).as_bytes())
                .collect::<String>()
        ),
    };
    Redirect::to(&back).into_response()
}

#[derive(Deserialize)]
struct HandoffForm {
    #[serde(default)]
    csrf: String,
    to: String,
}

async fn handoff(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(form): Form<HandoffForm>,
) -> Response {
    if !s.csrf_ok(&form.csrf) {
        return csrf_refused(&s);
    }
    let Some(handler) = Handler::parse(&form.to) else {
        return failed(super::ApiError::bad_request("`to` must be human or bot"));
    };
    match super::conversations::hand_to(&state, &s.caller, &id, handler).await {
        Ok(_) => Redirect::to(&format!("/console/conversations/{id}")).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn channels(State(state): State<AppState>, s: Signed) -> Response {
    if !s.session.member.role.manages_settings() {
        return settings_refused(&s);
    }
    let list = match state
        .db()
        .list_channels(&s.caller.tenant.id, &state.pipeline.secrets)
        .await
    {
        Ok(l) => l,
        Err(e) => return failed(e),
    };
    let shown: Vec<_> = list
        .into_iter()
        .filter(|c| c.status != crate::domain::ChannelStatus::Deleted)
        .map(|c| {
            let url = channel_address(&state, &c);
            (c, url)
        })
        .collect();
    html(StatusCode::OK, pages::channels(&frame(&s), &shown))
}

async fn members(State(state): State<AppState>, s: Signed) -> Response {
    if !s.session.member.role.manages_settings() {
        return settings_refused(&s);
    }
    match state.db().list_members(&s.caller.tenant.id).await {
        Ok(list) => html(
            StatusCode::OK,
            pages::members(&frame(&s), &list, None, None),
        ),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    csrf: String,
    email: String,
    role: String,
}

async fn invite(
    State(state): State<AppState>,
    s: Signed,
    Form(form): Form<InviteForm>,
) -> Response {
    if !s.csrf_ok(&form.csrf) {
        return csrf_refused(&s);
    }
    let result = super::members::invite_as(&state, &s.caller, &form.email, &form.role).await;
    let list = match state.db().list_members(&s.caller.tenant.id).await {
        Ok(l) => l,
        Err(e) => return failed(e),
    };
    match result {
        Ok((_, url)) => html(
            StatusCode::CREATED,
            pages::members(&frame(&s), &list, Some(&url), None),
        ),
        Err(e) => html(
            e.status,
            pages::members(&frame(&s), &list, None, Some(&e.message)),
        ),
    }
}

#[derive(Deserialize)]
struct StatusForm {
    #[serde(default)]
    csrf: String,
    status: String,
}

async fn set_status(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Response {
    if !s.csrf_ok(&form.csrf) {
        return csrf_refused(&s);
    }
    let Some(status) = crate::domain::ConversationStatus::parse(&form.status) else {
        return failed(super::ApiError::bad_request(
            "`status` must be open or resolved",
        ));
    };
    let change = crate::storage::ConversationChange {
        status: Some(status),
        ..Default::default()
    };
    let changed = async {
        let cipher = state.cipher(&s.caller.tenant.id).await?;
        state
            .db()
            .change_conversation(&cipher, &s.caller.actor(), &id, &change)
            .await
    };
    match changed.await {
        Ok(_) => Redirect::to(&format!("/console/conversations/{id}")).into_response(),
        Err(e) => failed(e),
    }
}

async fn account(s: Signed) -> Response {
    html(StatusCode::OK, pages::account(&frame(&s), None))
}

#[derive(Deserialize)]
struct PasswordChangeForm {
    #[serde(default)]
    csrf: String,
    current: String,
    new: String,
}

/// A new password: the current one is checked, and every session of the
/// user ends (this one too), so a stolen session does not outlive it.
async fn change_password(
    State(state): State<AppState>,
    s: Signed,
    Form(form): Form<PasswordChangeForm>,
) -> Response {
    if !s.csrf_ok(&form.csrf) {
        return csrf_refused(&s);
    }
    let email = s.session.member.email.clone();
    let verified = match state.db().sign_in_candidates(&email).await {
        Ok(Some((hash, _))) => {
            let current = form.current.clone();
            tokio::task::spawn_blocking(move || crate::crypto::verify_password(&current, &hash))
                .await
                .unwrap_or(false)
        }
        Ok(None) => false,
        Err(e) => return failed(e),
    };
    if !verified {
        return html(
            StatusCode::UNAUTHORIZED,
            pages::account(&frame(&s), Some("The current password is wrong.")),
        );
    }
    let new = form.new;
    let hash = match tokio::task::spawn_blocking(move || crate::crypto::hash_password(&new)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            return html(
                StatusCode::UNPROCESSABLE_ENTITY,
                pages::account(&frame(&s), Some(&e.to_string())),
            );
        }
        Err(_) => return failed(super::ApiError::internal()),
    };
    if let Err(e) = state.db().change_password(&s.session.member, &hash).await {
        return failed(e);
    }
    with_cookie(
        Redirect::to("/console/login").into_response(),
        &session_cookie(&state, None),
    )
}

async fn personas(State(state): State<AppState>, s: Signed) -> Response {
    if !s.session.member.role.manages_settings() {
        return settings_refused(&s);
    }
    match state
        .db()
        .list_personas(&s.caller.tenant.id, &state.pipeline.secrets)
        .await
    {
        Ok(list) => html(StatusCode::OK, pages::personas(&frame(&s), &list)),
        Err(e) => failed(e),
    }
}

async fn persona_page(
    state: &AppState,
    s: &Signed,
    id: &str,
    status: StatusCode,
    tried: Option<&pages::TryResult<'_>>,
    notice: Option<pages::Notice<'_>>,
) -> Response {
    match state
        .db()
        .get_persona(&s.caller.tenant.id, id, &state.pipeline.secrets)
        .await
    {
        Ok(p) => html(status, pages::persona(&frame(s), &p, tried, notice)),
        Err(e) => failed(e),
    }
}

async fn edit_persona(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
) -> Response {
    if !s.session.member.role.manages_settings() {
        return settings_refused(&s);
    }
    persona_page(&state, &s, &id, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct PersonaForm {
    #[serde(default)]
    csrf: String,
    name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    custom_system_prompt: String,
    #[serde(default)]
    system_prompt_additions: String,
    #[serde(default)]
    prohibited_topics: String,
    #[serde(default)]
    required_disclaimers: String,
    formality: Option<String>,
    humor: Option<String>,
    emoji_usage: Option<String>,
    /// `static` or `openai`; absent keeps the responder as it is.
    responder_kind: Option<String>,
    #[serde(default)]
    responder_text: String,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    model: String,
    /// Write-only: empty keeps the stored key.
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    temperature: String,
    #[serde(default)]
    max_tokens: String,
}

/// The responder a persona form asks for, in the API's shape (so the
/// API's validation and its key rules apply): an empty key field keeps
/// the stored key; a static reply keeps its media.
fn responder_of(f: &PersonaForm, current: &Value) -> Value {
    // A number as typed, or the text itself (which validation refuses
    // with its reason).
    let number = |t: &str| {
        let t = t.trim();
        serde_json::from_str::<serde_json::Number>(t).map_or_else(|_| json!(t), |n| json!(n))
    };
    match f.responder_kind.as_deref() {
        Some("openai") => {
            let mut v =
                json!({ "kind": "openai", "base_url": f.base_url.trim(), "model": f.model.trim() });
            if !f.api_key.is_empty() {
                v["api_key"] = json!(f.api_key);
            }
            if !f.temperature.trim().is_empty() {
                v["temperature"] = number(&f.temperature);
            }
            if !f.max_tokens.trim().is_empty() {
                v["max_tokens"] = number(&f.max_tokens);
            }
            v
        }
        Some("static") => {
            let mut v = json!({ "kind": "static", "text": f.responder_text });
            if current["kind"] == "static" && current.get("media").is_some() {
                v["media"] = current["media"].clone();
            }
            v
        }
        _ => current.clone(),
    }
}

/// Every field of a persona from its form, the responder included; its
/// component stays as it is (the API changes that).
async fn save_persona(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(f): Form<PersonaForm>,
) -> Response {
    if let Some(refused) = settings_form(&s, &f.csrf) {
        return refused;
    }
    let current = match state
        .db()
        .get_persona(&s.caller.tenant.id, &id, &state.pipeline.secrets)
        .await
    {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let responder = responder_of(&f, &current.responder);
    let lines = |t: &str| t.lines().map(str::to_string).collect::<Vec<_>>();
    let number = |v: Option<String>| v.and_then(|v| v.trim().parse::<i64>().ok());
    let text = |t: String| Some(t).filter(|t| !t.trim().is_empty());
    let body = super::personas::PersonaBody {
        name: f.name,
        display_name: text(f.display_name),
        custom_system_prompt: text(f.custom_system_prompt),
        system_prompt_additions: text(f.system_prompt_additions),
        prohibited_topics: lines(&f.prohibited_topics),
        required_disclaimers: lines(&f.required_disclaimers),
        formality: number(f.formality),
        humor: number(f.humor),
        emoji_usage: f.emoji_usage,
        responder: Some(responder),
        persona: current.spec.persona.clone(),
        persona_config: current
            .spec
            .persona_config
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    };
    match super::personas::update(&state, &s.caller, &id, body).await {
        Ok(_) => {
            persona_page(
                &state,
                &s,
                &id,
                StatusCode::OK,
                None,
                Some(pages::Notice::Done("Saved.")),
            )
            .await
        }
        Err(e) => {
            persona_page(
                &state,
                &s,
                &id,
                e.status,
                None,
                Some(pages::Notice::Failed(&e.message)),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct TryForm {
    #[serde(default)]
    csrf: String,
    message: String,
}

/// The persona's answer to one message, in its sandbox (nothing stored
/// or sent).
async fn try_persona(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(form): Form<TryForm>,
) -> Response {
    if let Some(refused) = settings_form(&s, &form.csrf) {
        return refused;
    }
    let turns = vec![crate::domain::Turn {
        direction: crate::domain::Direction::Inbound,
        text: form.message.chars().take(4096).collect(),
    }];
    let tried = crate::pipeline::sandbox::try_persona(
        &state.pipeline,
        &state.responder,
        &s.caller.tenant.id,
        &id,
        None,
        turns,
    )
    .await;
    let error;
    let result = match &tried {
        Ok(t) => pages::TryResult {
            message: &form.message,
            reply: t
                .reply
                .as_ref()
                .and_then(|r| r.as_ref().ok())
                .map(String::as_str),
            blocked: t
                .reply
                .as_ref()
                .and_then(|r| r.as_ref().err())
                .map(|(_, reason)| reason.as_str()),
            hand_over: t.hand_over,
            system_prompt: &t.system_prompt,
            error: None,
        },
        Err(e) => {
            error = e.to_string();
            pages::TryResult {
                message: &form.message,
                reply: None,
                blocked: None,
                hand_over: false,
                system_prompt: "",
                error: Some(&error),
            }
        }
    };
    persona_page(&state, &s, &id, StatusCode::OK, Some(&result), None).await
}

/// The first-party adapters a channel can be created with, by name.
fn adapters(state: &AppState) -> Vec<(String, crate::domain::AdapterInfo)> {
    let catalog = &state.pipeline.catalog;
    catalog
        .first_party_names()
        .into_iter()
        .filter_map(|n| catalog.adapter_info(n).map(|i| (n.to_string(), i)))
        .collect()
}

#[derive(Deserialize)]
struct NewQuery {
    adapter: Option<String>,
}

async fn new_channel(
    State(state): State<AppState>,
    s: Signed,
    Query(q): Query<NewQuery>,
) -> Response {
    if !s.session.member.role.manages_settings() {
        return settings_refused(&s);
    }
    let all = adapters(&state);
    let Some((name, info)) = q
        .adapter
        .and_then(|a| all.iter().find(|(n, _)| *n == a).cloned())
    else {
        let names: Vec<String> = all.into_iter().map(|(n, _)| n).collect();
        return html(StatusCode::OK, pages::choose_adapter(&frame(&s), &names));
    };
    match state
        .db()
        .list_personas(&s.caller.tenant.id, &state.pipeline.secrets)
        .await
    {
        Ok(personas) => html(
            StatusCode::OK,
            pages::channel_form(&frame(&s), &name, &info, None, &personas, None, None),
        ),
        Err(e) => failed(e),
    }
}

/// The guardrail chain a channel form asks for: each reference with the
/// failure policy and settings typed for it (a new line gets none).
fn chain_of(f: &ChannelFields) -> Result<Vec<GuardrailEntry>, String> {
    f.guardrails
        .iter()
        .map(|r| {
            let config = match f.settings.get(r) {
                Some(text) => settings_of(r, text)?,
                None => BTreeMap::new(),
            };
            Ok(GuardrailEntry::Bound {
                plugin: r.clone(),
                on_failure: f.on_failure.get(r).copied().unwrap_or_default(),
                config,
            })
        })
        .collect()
}

/// `key = value` lines (blank lines skipped).
fn settings_of(reference: &str, text: &str) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!(
                "Settings of {reference}, line {}: `key = value` expected.",
                n + 1
            ));
        };
        out.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
    }
    Ok(out)
}

/// Whether the chain a form asks for is the channel's chain as it is
/// (then it is left alone: replacing it re-resolves every reference).
fn same_chain(current: &crate::storage::ChannelRecord, wanted: &[GuardrailEntry]) -> bool {
    let wanted = super::bindings::with_consent_first(wanted.to_vec());
    let bound: Vec<_> = current
        .bindings
        .iter()
        .filter(|b| b.slot == crate::storage::Slot::Guardrail)
        .collect();
    wanted.len() == current.guardrails.len()
        && wanted.len() == bound.len()
        && wanted.iter().zip(current.guardrails.iter().zip(bound)).all(
            |(w, (reference, b))| match w {
                GuardrailEntry::Bound {
                    plugin,
                    on_failure,
                    config,
                } => {
                    plugin == reference
                        && *on_failure == b.on_failure
                        && config.len() == b.config.len()
                        && config
                            .iter()
                            .all(|(k, v)| b.config.get(k).map(String::as_str) == v.as_str())
                }
                GuardrailEntry::Reference(r) => {
                    r == reference && b.config.is_empty() && b.on_failure == OnFailure::FailClosed
                }
            },
        )
}

/// A channel form's fields: `cfg.<key>` values, and the rest by name.
struct ChannelFields {
    csrf: String,
    adapter: String,
    name: String,
    persona: Option<String>,
    enabled: bool,
    config: Vec<(String, String)>,
    /// The chain as typed: one reference per line.
    guardrails: Vec<String>,
    /// Each listed guardrail's failure policy (`gfail.<reference>`).
    on_failure: BTreeMap<String, OnFailure>,
    /// Each listed guardrail's settings as typed (`gcfg.<reference>`).
    settings: BTreeMap<String, String>,
}

impl ChannelFields {
    fn of(pairs: Vec<(String, String)>) -> ChannelFields {
        let mut f = ChannelFields {
            csrf: String::new(),
            adapter: String::new(),
            name: String::new(),
            persona: None,
            enabled: false,
            config: Vec::new(),
            guardrails: Vec::new(),
            on_failure: BTreeMap::new(),
            settings: BTreeMap::new(),
        };
        for (k, v) in pairs {
            match k.as_str() {
                "csrf" => f.csrf = v,
                "adapter" => f.adapter = v,
                "name" => f.name = v,
                "persona_id" => f.persona = Some(v).filter(|p| !p.is_empty()),
                "enabled" => f.enabled = true,
                "guardrails" => {
                    f.guardrails = v
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_string)
                        .collect();
                }
                _ => {
                    if let Some(key) = k.strip_prefix("cfg.") {
                        f.config.push((key.to_string(), v));
                    } else if let Some(r) = k.strip_prefix("gcfg.") {
                        f.settings.insert(r.to_string(), v);
                    } else if let Some(r) = k.strip_prefix("gfail.") {
                        let policy = if v == "fail-open" {
                            OnFailure::FailOpen
                        } else {
                            OnFailure::FailClosed
                        };
                        f.on_failure.insert(r.to_string(), policy);
                    }
                }
            }
        }
        f
    }
}

async fn create_channel(
    State(state): State<AppState>,
    s: Signed,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let f = ChannelFields::of(pairs);
    if let Some(refused) = settings_form(&s, &f.csrf) {
        return refused;
    }
    let guardrails = match chain_of(&f) {
        Ok(g) => g,
        Err(e) => return failed(super::ApiError::bad_request(e)),
    };
    let body = super::channels::CreateChannel {
        name: f.name,
        adapter: f.adapter.clone(),
        config: f
            .config
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k, serde_json::Value::String(v.trim().to_string())))
            .collect(),
        guardrails,
        persona_id: f.persona,
    };
    match super::channels::create(&state, &s.caller, body).await {
        Ok(ch) => Redirect::to(&format!("/console/channels/{}", ch.id)).into_response(),
        Err(e) => {
            let info = adapters(&state).into_iter().find(|(n, _)| *n == f.adapter);
            let personas = state
                .db()
                .list_personas(&s.caller.tenant.id, &state.pipeline.secrets)
                .await
                .unwrap_or_default();
            match info {
                Some((name, info)) => html(
                    e.status,
                    pages::channel_form(
                        &frame(&s),
                        &name,
                        &info,
                        None,
                        &personas,
                        None,
                        Some(pages::Notice::Failed(&e.message)),
                    ),
                ),
                None => e.into_response(),
            }
        }
    }
}

async fn channel_page(
    state: &AppState,
    s: &Signed,
    id: &str,
    status: StatusCode,
    notice: Option<pages::Notice<'_>>,
) -> Response {
    let tenant = &s.caller.tenant.id;
    let loaded = async {
        let ch = state
            .db()
            .get_channel(tenant, id, &state.pipeline.secrets)
            .await?;
        let personas = state
            .db()
            .list_personas(tenant, &state.pipeline.secrets)
            .await?;
        Ok::<_, crate::storage::StorageError>((ch, personas))
    };
    let (ch, personas) = match loaded.await {
        Ok(x) => x,
        Err(e) => return failed(e),
    };
    let info =
        state
            .pipeline
            .catalog
            .adapter_info(&ch.adapter)
            .unwrap_or(crate::domain::AdapterInfo {
                name: ch.adapter.clone(),
                max_text_length: 0,
                supports_media: false,
                outbound_hosts: Vec::new(),
                config_keys: ch.config.keys().cloned().collect(),
                route_config_key: None,
                statuses: Vec::new(),
                secret_keys: None,
                accepted_media: Vec::new(),
            });
    let wa_me = ch
        .config
        .get(wa_qr::NUMBER_KEY)
        .and_then(|n| wa_qr::wa_link(n))
        .and_then(|link| wa_qr::qr_data_uri(&link).map(|qr| (link, qr)));
    let address = pages::ChannelAddress {
        url: channel_address(state, &ch),
        wa_me,
    };
    html(
        status,
        pages::channel_form(
            &frame(s),
            &ch.adapter.clone(),
            &info,
            Some(&ch),
            &personas,
            Some(&address),
            notice,
        ),
    )
}

async fn edit_channel(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
) -> Response {
    if !s.session.member.role.manages_settings() {
        return settings_refused(&s);
    }
    channel_page(&state, &s, &id, StatusCode::OK, None).await
}

async fn save_channel(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let f = ChannelFields::of(pairs);
    if let Some(refused) = settings_form(&s, &f.csrf) {
        return refused;
    }
    let chain = match chain_of(&f) {
        Ok(g) => g,
        Err(e) => {
            return channel_page(
                &state,
                &s,
                &id,
                StatusCode::BAD_REQUEST,
                Some(pages::Notice::Failed(&e)),
            )
            .await;
        }
    };
    let info = state.pipeline.catalog.adapter_info(&f.adapter);
    let secret = |k: &str| info.as_ref().is_none_or(|i| i.is_secret(k));
    // A secret left empty keeps its value; any other empty field removes it.
    let config = f
        .config
        .into_iter()
        .filter(|(k, v)| !(secret(k) && v.is_empty()))
        .map(|(k, v)| {
            let v = v.trim().to_string();
            (
                k,
                if v.is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::Value::String(v)
                },
            )
        })
        .collect();
    let current = match state
        .db()
        .get_channel(&s.caller.tenant.id, &id, &state.pipeline.secrets)
        .await
    {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let body = super::channel_changes::PatchChannel {
        name: Some(f.name),
        config: Some(config),
        guardrails: (!same_chain(&current, &chain)).then_some(chain),
        persona_id: Some(f.persona),
        enabled: Some(f.enabled),
    };
    match super::channel_changes::apply(&state, &s.caller, &id, body).await {
        Ok(_) => {
            channel_page(
                &state,
                &s,
                &id,
                StatusCode::OK,
                Some(pages::Notice::Done("Saved.")),
            )
            .await
        }
        Err(e) => {
            channel_page(
                &state,
                &s,
                &id,
                e.status,
                Some(pages::Notice::Failed(&e.message)),
            )
            .await
        }
    }
}

async fn delete_channel(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = settings_form(&s, &form.csrf) {
        return refused;
    }
    match super::channel_changes::remove(&state, &s.caller, &id).await {
        Ok(()) => Redirect::to("/console/channels").into_response(),
        Err(e) => e.into_response(),
    }
}

async fn keys_page(
    state: &AppState,
    s: &Signed,
    status: StatusCode,
    new_key: Option<&str>,
    notice: Option<&str>,
) -> Response {
    match state.db().list_api_keys(&s.caller.tenant.id).await {
        Ok(keys) => html(status, pages::api_keys(&frame(s), &keys, new_key, notice)),
        Err(e) => failed(e),
    }
}

async fn api_keys(State(state): State<AppState>, s: Signed) -> Response {
    if !s.session.member.role.manages_settings() {
        return settings_refused(&s);
    }
    keys_page(&state, &s, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct KeyForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

async fn create_key(
    State(state): State<AppState>,
    s: Signed,
    Form(form): Form<KeyForm>,
) -> Response {
    if let Some(refused) = settings_form(&s, &form.csrf) {
        return refused;
    }
    match super::platform::new_api_key(&state, &s.caller, &form.name).await {
        Ok((_, key)) => keys_page(&state, &s, StatusCode::CREATED, Some(&key), None).await,
        Err(e) => keys_page(&state, &s, e.status, None, Some(&e.message)).await,
    }
}

async fn revoke_key(
    State(state): State<AppState>,
    s: Signed,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = settings_form(&s, &form.csrf) {
        return refused;
    }
    match state
        .db()
        .revoke_api_key(&s.caller.tenant.id, &s.caller.actor(), &id)
        .await
    {
        Ok(()) => Redirect::to("/console/keys").into_response(),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
struct AuditFilter {
    action: Option<String>,
}

async fn audit(State(state): State<AppState>, s: Signed, Query(q): Query<AuditFilter>) -> Response {
    if !s.session.member.role.manages_settings() {
        return settings_refused(&s);
    }
    let action = q.action.unwrap_or_default();
    let filter = Some(action.trim()).filter(|a| !a.is_empty());
    match state
        .db()
        .audit_page(&s.caller.tenant.id, 200, None, filter)
        .await
    {
        Ok(page) => html(
            StatusCode::OK,
            pages::audit(&frame(&s), &page.data, &action),
        ),
        Err(e) => failed(e),
    }
}

async fn usage(State(state): State<AppState>, s: Signed) -> Response {
    if !s.session.member.role.manages_settings() {
        return settings_refused(&s);
    }
    let tenant = &s.caller.tenant.id;
    let loaded = async {
        let db = state.db();
        Ok::<_, crate::storage::StorageError>((
            db.usage_rows(tenant, None).await?,
            db.list_channels(tenant, &state.pipeline.secrets).await?,
            db.messages_this_month(tenant).await?,
            db.tenant_limits(tenant).await?.monthly_message_limit,
        ))
    };
    match loaded.await {
        Ok((rows, channels, used, limit)) => html(
            StatusCode::OK,
            pages::usage(&frame(&s), &rows, &channels, used, limit),
        ),
        Err(e) => failed(e),
    }
}
