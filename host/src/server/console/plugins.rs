//! The console's plugins page: upload a component (validated exactly as
//! `POST /v1/plugins` validates it), see each plugin's versions and the
//! channels running it, activate a version on a channel and roll it back
//! (`/v1/channels/{id}/plugins/{name}/activate` and `…/rollback`).

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;

use super::super::{ApiError, AppState};
use super::pages::{self, Frame, Notice};
use super::session::Signed;
use super::{failed, frame, html, settings_form, settings_refused};
use crate::storage::{ChannelRecord, PluginRecord, Slot};

pub fn routes(max_plugin_bytes: usize) -> Router<AppState> {
    use axum::routing::{get, post};
    Router::new()
        .route(
            "/console/plugins",
            get(plugins)
                .post(upload)
                .layer(axum::extract::DefaultBodyLimit::max(
                    max_plugin_bytes.saturating_add(64 << 10),
                )),
        )
        .route("/console/plugins/{name}/activate", post(activate))
        .route("/console/plugins/{name}/rollback", post(rollback))
}

/// A first-party plugin as the page lists it.
struct FirstParty {
    name: String,
    world: String,
    exports: Vec<String>,
}

async fn page(
    state: &AppState,
    s: &Signed,
    status: StatusCode,
    notice: Option<Notice<'_>>,
) -> Response {
    let tenant = &s.caller.tenant.id;
    let p = &state.pipeline;
    let loaded = async {
        Ok::<_, crate::storage::StorageError>((
            p.db.list_plugins(tenant).await?,
            p.db.list_channels(tenant, &p.secrets).await?,
        ))
    };
    let (own, channels) = match loaded.await {
        Ok(x) => x,
        Err(e) => return failed(e),
    };
    let channels: Vec<ChannelRecord> = channels
        .into_iter()
        .filter(|c| c.status != crate::domain::ChannelStatus::Deleted)
        .collect();
    let first_party: Vec<FirstParty> = p
        .catalog
        .first_party_names()
        .into_iter()
        .filter_map(|n| {
            p.catalog.first_party(n).map(|l| FirstParty {
                name: n.to_string(),
                world: l.detected.world.to_string(),
                exports: l.detected.exports.clone(),
            })
        })
        .collect();
    html(
        status,
        markup(&frame(s), &own, &channels, &first_party, notice),
    )
}

/// The tenant's plugins grouped by name, versions oldest first.
fn by_name(own: &[PluginRecord]) -> Vec<(&str, Vec<&PluginRecord>)> {
    let mut groups: Vec<(&str, Vec<&PluginRecord>)> = Vec::new();
    for r in own {
        match groups.iter_mut().find(|(n, _)| *n == r.name) {
            Some((_, v)) => v.push(r),
            None => groups.push((&r.name, vec![r])),
        }
    }
    for (_, v) in &mut groups {
        v.sort_by_key(|r| r.created_at);
    }
    groups
}

fn markup(
    frame: &Frame<'_>,
    own: &[PluginRecord],
    channels: &[ChannelRecord],
    first_party: &[FirstParty],
    notice: Option<Notice<'_>>,
) -> Markup {
    pages::page(
        "Plugins",
        Some(frame),
        None,
        html! {
            h1 { "Plugins" }
            (pages::notice_line(notice))
            section.card {
                h2 { "Upload a component" }
                form method="post" action="/console/plugins" enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(frame.csrf);
                    label for="plugin-name" { "Plugin name" }
                    input id="plugin-name" name="name" type="text" required pattern="[a-z0-9][a-z0-9-]{0,62}";
                    label for="plugin-version" { "Version" }
                    input id="plugin-version" name="version" type="text" required placeholder="1.0.0";
                    label for="plugin-file" { "Component (.wasm)" }
                    input id="plugin-file" name="file" type="file" accept=".wasm,application/wasm" required;
                    button type="submit" { "Upload" }
                }
                p.hint { "Checked before it is stored: a WebAssembly component of the adapter or guardrail world, compiled and smoke-tested in the sandbox. Bind it to a channel on the channel's page (adapter, or a line in its guardrails)." }
            }
            h2 { "Your plugins" }
            @let groups = by_name(own);
            @if groups.is_empty() { p { "None uploaded yet." } }
            @for (name, versions) in &groups {
                section.card {
                    h3 { (name) " " small { "(" (versions[0].world) ")" } }
                    div.scroll {
                        table {
                            thead { tr { th { "Version" } th { "SHA-256" } th { "Size" } th { "Uploaded" } } }
                            tbody {
                                @for v in versions {
                                    tr {
                                        td { (v.version) }
                                        td { code title=(v.sha256) { (v.sha256.get(..12).unwrap_or(&v.sha256)) "…" } }
                                        td { (v.size / 1024) " KiB" }
                                        td { (pages::time(v.created_at)) }
                                    }
                                }
                            }
                        }
                    }
                    @let users: Vec<_> = channels.iter().filter_map(|c| {
                        let bound: Vec<_> = c.bindings.iter().filter(|b| b.plugin == *name).collect();
                        (!bound.is_empty()).then_some((c, bound))
                    }).collect();
                    @if users.is_empty() {
                        p.hint { "No channel runs it." }
                    }
                    @for (c, bound) in &users {
                        @let b = bound[0];
                        @let running = b.pinned.as_ref().map_or("latest", |v| v.version.as_str());
                        div.binding {
                            p {
                                a href={ "/console/channels/" (c.id) } { (c.name) } ": "
                                (if b.slot == Slot::Adapter { "adapter" } else { "guardrail" })
                                ", runs " strong { (running) }
                                @if let Some(prev) = &b.previous { " (before: " (prev.version) ")" }
                            }
                            form.inline method="post" action={ "/console/plugins/" (name) "/activate" } {
                                input type="hidden" name="csrf" value=(frame.csrf);
                                input type="hidden" name="channel_id" value=(c.id);
                                @let id = format!("activate-{}-{}", name, c.id);
                                label for=(id) { "Version for " (c.name) }
                                select id=(id) name="version" {
                                    @for v in versions.iter().rev() {
                                        option value=(v.version) selected[v.version == running] { (v.version) }
                                    }
                                }
                                button type="submit" aria-label={ "Activate " (name) " on " (c.name) } { "Activate" }
                            }
                            @if b.previous.is_some() {
                                form.inline method="post" action={ "/console/plugins/" (name) "/rollback" } {
                                    input type="hidden" name="csrf" value=(frame.csrf);
                                    input type="hidden" name="channel_id" value=(c.id);
                                    button type="submit" aria-label={ "Roll back " (name) " on " (c.name) } { "Roll back" }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "First-party plugins" }
            div.scroll {
                table {
                    thead { tr { th { "Name" } th { "World" } th { "Exports" } } }
                    tbody {
                        @for fp in first_party {
                            tr { td { code { (fp.name) } } td { (fp.world) } td { (fp.exports.join(", ")) } }
                        }
                    }
                }
            }
        },
    )
}

async fn plugins(State(state): State<AppState>, s: Signed) -> Response {
    if !s.session.member.role.manages_settings() {
        return settings_refused(&s);
    }
    page(&state, &s, StatusCode::OK, None).await
}

/// The upload form: its CSRF token is checked before the component is
/// validated (which compiles it).
async fn upload(State(state): State<AppState>, s: Signed, request: Request) -> Response {
    let max = state.max_plugin_bytes;
    let form = match Multipart::from_request(request, &state).await {
        Ok(m) => super::super::plugins::read_multipart(m, max).await,
        Err(e) => Err(ApiError::bad_request(format!(
            "invalid multipart body: {}",
            e.body_text()
        ))),
    };
    let form = match form {
        Ok(f) => f,
        Err(e) => {
            return page(&state, &s, e.status, Some(Notice::Failed(&e.message))).await;
        }
    };
    if let Some(refused) = settings_form(&s, form.csrf.as_deref().unwrap_or_default()) {
        return refused;
    }
    let (Some(name), Some(version), Some(file)) = (form.name, form.version, form.file) else {
        return page(
            &state,
            &s,
            StatusCode::BAD_REQUEST,
            Some(Notice::Failed(
                "A plugin name, a version and a component file are all needed.",
            )),
        )
        .await;
    };
    let p = &state.pipeline;
    let (name, version) = (name.trim(), version.trim());
    match super::super::plugins::upload(
        &p.db,
        &p.runtime,
        &p.catalog,
        &s.caller.tenant.id,
        name,
        version,
        file,
        max,
    )
    .await
    {
        Ok(_) => {
            let done = format!("Uploaded {name} {version}.");
            page(&state, &s, StatusCode::CREATED, Some(Notice::Done(&done))).await
        }
        Err(e) => {
            let why = format!("Not uploaded: {}", e.message);
            page(&state, &s, e.status, Some(Notice::Failed(&why))).await
        }
    }
}

#[derive(Deserialize)]
struct ActivateForm {
    #[serde(default)]
    csrf: String,
    channel_id: String,
    #[serde(default)]
    version: String,
}

async fn activate(
    State(state): State<AppState>,
    s: Signed,
    Path(name): Path<String>,
    Form(f): Form<ActivateForm>,
) -> Response {
    if let Some(refused) = settings_form(&s, &f.csrf) {
        return refused;
    }
    let done = super::super::bindings::pin_version(
        &state,
        &s.caller.tenant.id,
        &f.channel_id,
        &name,
        &f.version,
    )
    .await;
    finish(
        &state,
        &s,
        done,
        &format!("{name} {} is active.", f.version),
    )
    .await
}

async fn rollback(
    State(state): State<AppState>,
    s: Signed,
    Path(name): Path<String>,
    Form(f): Form<ActivateForm>,
) -> Response {
    if let Some(refused) = settings_form(&s, &f.csrf) {
        return refused;
    }
    let done =
        super::super::bindings::roll_back(&state, &s.caller.tenant.id, &f.channel_id, &name).await;
    finish(
        &state,
        &s,
        done,
        &format!("{name} is back on its previous version."),
    )
    .await
}

async fn finish<T>(state: &AppState, s: &Signed, done: Result<T, ApiError>, ok: &str) -> Response {
    match done {
        Ok(_) => page(state, s, StatusCode::OK, Some(Notice::Done(ok))).await,
        Err(e) => page(state, s, e.status, Some(Notice::Failed(&e.message))).await,
    }
}
