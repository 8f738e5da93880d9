//! The console's pages, rendered on the server (maud escapes every value).
//! No inline script or style: the page loads `/console/assets/console.js`
//! and `console.css`, under a Content-Security-Policy that allows nothing
//! else.

use maud::{DOCTYPE, Markup, html};

use crate::domain::{Direction, Handler, Role};
use crate::storage::{
    ChannelRecord, ConversationRecord, InboxFilter, InboxRow, MemberRecord, MessageRecord,
    PersonaRecord,
};

/// Who is signed in, for the page frame.
pub struct Frame<'a> {
    pub email: &'a str,
    pub role: Role,
    pub csrf: &'a str,
    pub tenant_name: &'a str,
}

/// A channel kind's icon: a labelled badge.
fn kind_icon(adapter: &str) -> Markup {
    let (class, label, letters) = match adapter {
        a if a.contains("whatsapp") => ("kind-whatsapp", "WhatsApp", "WA"),
        a if a.contains("sms") => ("kind-sms", "SMS", "SMS"),
        a if a.contains("telegram") => ("kind-telegram", "Telegram", "TG"),
        "webchat" => ("kind-webchat", "Web chat", "WEB"),
        _ => ("kind-other", "Other channel", "•"),
    };
    html! { span.kind.(class) role="img" aria-label=(label) title=(label) { (letters) } }
}

pub(super) fn time(ms: i64) -> Markup {
    let secs = ms / 1000;
    let iso = chrono_like(secs);
    html! { time datetime=(iso) { (iso.replace('T', " ").trim_end_matches('Z')) } }
}

/// `YYYY-MM-DDTHH:MM:SSZ` from Unix seconds (UTC), without a date crate.
fn chrono_like(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The page frame of a signed-in member (or of nobody): head, the
/// console's navigation for the member's role, sign-out.
pub fn page(title: &str, frame: Option<&Frame<'_>>, live: Option<&str>, body: Markup) -> Markup {
    let header = html! {
        @if let Some(f) = frame {
            nav aria-label="Console" {
                a href="/console/inbox" { "Inbox" }
                @if f.role.manages_settings() {
                    a href="/console/channels" { "Channels" }
                    a href="/console/personas" { "Personas" }
                    a href="/console/plugins" { "Plugins" }
                    a href="/console/members" { "Members" }
                    a href="/console/keys" { "API keys" }
                    a href="/console/usage" { "Usage" }
                    a href="/console/audit" { "Audit" }
                }
                a href="/console/account" { "Account" }
            }
            div.who {
                span { (f.email) " · " (f.role.as_str()) " · " (f.tenant_name) }
                form method="post" action="/console/logout" {
                    input type="hidden" name="csrf" value=(f.csrf);
                    button.link type="submit" { "Sign out" }
                }
            }
        }
    };
    shell(title, frame.map(|f| f.csrf), live, header, body)
}

/// Every console page: head (the stylesheet, the script, the CSRF token
/// for the script's requests), the top bar with `header`, then `body`.
pub(super) fn shell(
    title: &str,
    csrf: Option<&str>,
    live: Option<&str>,
    header: Markup,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Switchboard" }
                link rel="stylesheet" href="/console/assets/console.css";
                @if let Some(csrf) = csrf {
                    meta name="csrf-token" content=(csrf);
                }
                @if let Some(live) = live {
                    meta name="live" content=(live);
                }
                script src="/console/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/console" { "Switchboard" }
                    (header)
                }
                main id="main" { (body) }
            }
        }
    }
}

pub fn sign_in(error: Option<&str>, email: &str) -> Markup {
    page(
        "Sign in",
        None,
        None,
        html! {
            section.card.narrow {
                h1 { "Sign in" }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/console/login" {
                    label for="email" { "Email" }
                    input id="email" name="email" type="email" autocomplete="username" required value=(email);
                    label for="password" { "Password" }
                    input id="password" name="password" type="password" autocomplete="current-password" required;
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

pub fn set_password(token: &str, error: Option<&str>) -> Markup {
    page(
        "Set your password",
        None,
        None,
        html! {
            section.card.narrow {
                h1 { "Set your password" }
                p { "You were invited to a Switchboard team. Choose a password (at least " (crate::crypto::MIN_PASSWORD_CHARS) " characters) to sign in." }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action={ "/console/invite/" (token) } {
                    label for="password" { "Password" }
                    input id="password" name="password" type="password" autocomplete="new-password" required;
                    button type="submit" { "Set password" }
                }
            }
        },
    )
}

pub fn message(title: &str, frame: Option<&Frame<'_>>, text: &str) -> Markup {
    page(
        title,
        frame,
        None,
        html! { section.card { h1 { (title) } p { (text) } } },
    )
}

pub fn inbox(
    frame: &Frame<'_>,
    rows: &[InboxRow],
    channels: &[ChannelRecord],
    filter: &InboxFilter,
    waiting_for_me: bool,
) -> Markup {
    let status = filter.status.as_deref().unwrap_or("");
    page(
        "Inbox",
        Some(frame),
        Some("inbox"),
        html! {
            h1 { "Inbox" }
            form.filters method="get" action="/console/inbox" {
                label for="channel" { "Channel" }
                select id="channel" name="channel" {
                    option value="" { "All channels" }
                    @for c in channels {
                        option value=(c.id) selected[filter.channel_id.as_deref() == Some(c.id.as_str())] { (c.name) }
                    }
                }
                label for="status" { "Status" }
                select id="status" name="status" {
                    option value="" selected[status.is_empty()] { "All" }
                    option value="open" selected[status == "open"] { "Open" }
                    option value="resolved" selected[status == "resolved"] { "Resolved" }
                }
                label.check {
                    input type="checkbox" name="mine" value="1" checked[waiting_for_me];
                    "Waiting for me"
                }
                button type="submit" { "Filter" }
            }
            div id="live-region" {
                @if rows.is_empty() {
                    p.empty { "No conversations yet." }
                } @else {
                    ul.inbox aria-label="Conversations" {
                        @for r in rows {
                            li.waiting[r.waiting] {
                                a href={ "/console/conversations/" (r.id) } {
                                    span.contact { (r.contact_name.as_deref().unwrap_or("Unknown contact")) }
                                    span.channel { (kind_icon(&r.adapter)) " " (r.channel_name) }
                                    span.last { @if r.last_inbound { "" } @else { "You: " } (r.last_text.as_deref().unwrap_or("(no text)")) }
                                    span.meta {
                                        @if r.waiting { span.badge.wait { "Waiting for a human" } }
                                        @if r.handler == Handler::Human { span.badge { "Human" } } @else { span.badge.bot { "Bot" } }
                                        @if r.status == "resolved" { span.badge { "Resolved" } }
                                        (time(r.last_message_at))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A customer's message (not the business's).
fn is_inbound(m: &MessageRecord) -> bool {
    Direction::parse(&m.direction) == Some(Direction::Inbound)
}

/// Who wrote a message, as the conversation shows it.
fn author(m: &MessageRecord, contact: &str, members: &[MemberRecord]) -> String {
    if is_inbound(m) {
        return contact.to_string();
    }
    match (m.kind.as_str(), &m.author_id) {
        ("agent", Some(id)) => members
            .iter()
            .find(|x| &x.id == id)
            .map_or_else(|| "An agent".to_string(), |x| x.email.clone()),
        ("proactive" | "template", _) => "API".to_string(),
        _ => "Bot".to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
/// An attachment in words: its kind, and its file name or type.
fn attachment_label(a: &serde_json::Value) -> String {
    let kind = a["kind"].as_str().unwrap_or("file");
    match a["filename"].as_str().or(a["mime_type"].as_str()) {
        Some(detail) => format!("{kind}: {detail}"),
        None => kind.to_string(),
    }
}

pub fn conversation(
    frame: &Frame<'_>,
    c: &ConversationRecord,
    contact: &str,
    channel: &ChannelRecord,
    messages: &[MessageRecord],
    members: &[MemberRecord],
    notice: Option<&str>,
) -> Markup {
    page(
        contact,
        Some(frame),
        Some(&format!("conversation:{}", c.id)),
        html! {
            div.conv-head id="conv-head" {
                h1 { (contact) }
                p.channel { (kind_icon(&channel.adapter)) " " (channel.name) }
                form method="post" action={ "/console/conversations/" (c.id) "/handoff" } {
                    input type="hidden" name="csrf" value=(frame.csrf);
                    @if c.handler == Handler::Human.as_str() {
                        input type="hidden" name="to" value="bot";
                        span.badge { "A person is handling this conversation" }
                        button type="submit" { "Hand back" }
                    } @else {
                        input type="hidden" name="to" value="human";
                        span.badge.bot { "The bot is answering" }
                        button type="submit" { "Take over" }
                    }
                }
            }
            @if let Some(n) = notice { p.error role="alert" { (n) } }
            form.status method="post" action={ "/console/conversations/" (c.id) "/status" } {
                input type="hidden" name="csrf" value=(frame.csrf);
                @if c.status == "resolved" {
                    input type="hidden" name="status" value="open";
                    span.badge { "Resolved" }
                    button type="submit" { "Reopen" }
                } @else {
                    input type="hidden" name="status" value="resolved";
                    button type="submit" { "Resolve" }
                }
            }
            div id="live-region" {
                ol.messages aria-label="Messages" {
                    @for m in messages {
                        li.msg.(if is_inbound(m) { "in" } else { "out" }) {
                            span.author { (author(m, contact, members)) }
                            p.text { (m.text.as_deref().unwrap_or("(no text)")) }
                            @if let Some(list) = m.attachments.as_array().filter(|a| !a.is_empty()) {
                                ul.attachments aria-label="Attachments" {
                                    @for (n, a) in list.iter().enumerate() {
                                        @let what = attachment_label(a);
                                        li {
                                            // An inbound attachment is fetched through the API
                                            // (the session's cookie authorises the GET); an
                                            // outbound one is the URL it was sent from.
                                            @if is_inbound(m) {
                                                a href={ "/v1/messages/" (m.id) "/media/" (n) } download { (what) }
                                            } @else if let Some(url) = a["url"].as_str().filter(|u| u.starts_with("https://")) {
                                                a href=(url) rel="noopener noreferrer" { (what) }
                                            } @else {
                                                (what)
                                            }
                                            @if let Some(c) = a["caption"].as_str() { " — " (c) }
                                        }
                                    }
                                }
                            }
                            span.meta { (m.status) " · " (time(m.created_at)) }
                        }
                    }
                }
            }
            form.reply method="post" action={ "/console/conversations/" (c.id) "/reply" } {
                input type="hidden" name="csrf" value=(frame.csrf);
                label for="reply" { "Reply" }
                textarea id="reply" name="text" rows="3" required {}
                button type="submit" { "Send" }
            }
        },
    )
}

pub fn channels(frame: &Frame<'_>, channels: &[(ChannelRecord, String)]) -> Markup {
    page(
        "Channels",
        Some(frame),
        None,
        html! {
            h1 { "Channels" }
            p { a.button href="/console/channels/new" { "New channel" } }
            ul.cards {
                @for (c, url) in channels {
                    li.card {
                        h2 { (kind_icon(&c.adapter)) " " a href={ "/console/channels/" (c.id) } { (c.name) } }
                        p { "Adapter " code { (c.adapter) } " · " (c.status.as_str()) }
                        (copy_field(&format!("url-{}", c.id), address_label(&c.adapter), url))
                    }
                }
            }
        },
    )
}

pub fn members(
    frame: &Frame<'_>,
    members: &[MemberRecord],
    invite_url: Option<&str>,
    notice: Option<&str>,
) -> Markup {
    page(
        "Members",
        Some(frame),
        None,
        html! {
            h1 { "Members" }
            @if let Some(n) = notice { p.error role="alert" { (n) } }
            @if let Some(url) = invite_url {
                div.card role="status" {
                    p { "Shown once: send it to the person." }
                    (copy_field("invite-url", "Invitation link", url))
                }
            }
            table {
                thead { tr { th { "Email" } th { "Role" } th { "State" } } }
                tbody {
                    @for m in members {
                        tr { td { (m.email) } td { (m.role.as_str()) } td { @if m.invited { "Invited" } @else { "Active" } } }
                    }
                }
            }
            h2 { "Invite someone" }
            form method="post" action="/console/members" {
                input type="hidden" name="csrf" value=(frame.csrf);
                label for="invite-email" { "Email" }
                input id="invite-email" name="email" type="email" required;
                label for="invite-role" { "Role" }
                select id="invite-role" name="role" {
                    option value="agent" { "Agent" }
                    option value="admin" { "Admin" }
                    @if frame.role == Role::Owner { option value="owner" { "Owner" } }
                }
                button type="submit" { "Invite" }
            }
        },
    )
}

pub fn account(frame: &Frame<'_>, notice: Option<&str>) -> Markup {
    page(
        "Account",
        Some(frame),
        None,
        html! {
            h1 { "Account" }
            section.card.narrow {
                h2 { "Change your password" }
                p { "Changing it signs you out everywhere, this browser included." }
                @if let Some(n) = notice { p.error role="alert" { (n) } }
                form method="post" action="/console/account/password" {
                    input type="hidden" name="csrf" value=(frame.csrf);
                    label for="current" { "Current password" }
                    input id="current" name="current" type="password" autocomplete="current-password" required;
                    label for="new" { "New password" }
                    input id="new" name="new" type="password" autocomplete="new-password" required;
                    button type="submit" { "Change password" }
                }
            }
        },
    )
}

/// What trying a persona gave, for the page.
pub struct TryResult<'a> {
    pub message: &'a str,
    pub reply: Option<&'a str>,
    pub blocked: Option<&'a str>,
    pub hand_over: bool,
    pub system_prompt: &'a str,
    pub error: Option<&'a str>,
}

pub fn personas(frame: &Frame<'_>, personas: &[PersonaRecord]) -> Markup {
    page(
        "Personas",
        Some(frame),
        None,
        html! {
            h1 { "Personas" }
            @if personas.is_empty() { p.empty { "No personas yet (create one with POST /v1/personas)." } }
            ul.cards {
                @for p in personas {
                    li.card {
                        h2 { a href={ "/console/personas/" (p.id) } { (p.spec.display_name) } " " span.badge { (p.name) } }
                        @if !p.spec.prohibited_topics.is_empty() {
                            p { "Never talks about: " (p.spec.prohibited_topics.join(", ")) }
                        }
                        p { a href={ "/console/personas/" (p.id) } { "Edit and try it" } }
                    }
                }
            }
        },
    )
}

/// One persona: every field, editable, and its try-it sandbox.
pub fn persona(
    frame: &Frame<'_>,
    p: &PersonaRecord,
    tried: Option<&TryResult<'_>>,
    notice: Option<Notice<'_>>,
) -> Markup {
    let s = &p.spec;
    let emoji = s.emoji_usage.as_str();
    page(
        &s.display_name,
        Some(frame),
        None,
        html! {
            h1 { (s.display_name) " " span.badge { (p.name) } }
            (notice_line(notice))
            form.card method="post" action={ "/console/personas/" (p.id) } {
                input type="hidden" name="csrf" value=(frame.csrf);
                label for="p-name" { "Name" }
                input id="p-name" name="name" type="text" required value=(p.name);
                label for="p-display" { "Display name" }
                input id="p-display" name="display_name" type="text" value=(s.display_name);
                label for="p-prompt" { "Custom system prompt" }
                textarea id="p-prompt" name="custom_system_prompt" rows="4" { (s.custom_system_prompt.as_deref().unwrap_or("")) }
                label for="p-additions" { "System prompt additions" }
                textarea id="p-additions" name="system_prompt_additions" rows="3" { (s.system_prompt_additions.as_deref().unwrap_or("")) }
                label for="p-topics" { "Prohibited topics (one per line)" }
                textarea id="p-topics" name="prohibited_topics" rows="3" { (s.prohibited_topics.join("\n")) }
                label for="p-disclaimers" { "Required disclaimers (one per line)" }
                textarea id="p-disclaimers" name="required_disclaimers" rows="2" { (s.required_disclaimers.join("\n")) }
                label for="p-formality" { "Formality (0-100)" }
                input id="p-formality" name="formality" type="number" min="0" max="100" value=(s.formality);
                label for="p-humor" { "Humor (0-100)" }
                input id="p-humor" name="humor" type="number" min="0" max="100" value=(s.humor);
                label for="p-emoji" { "Emoji" }
                select id="p-emoji" name="emoji_usage" {
                    @for e in ["none", "minimal", "normal"] { option value=(e) selected[emoji == e] { (e) } }
                }
                @let r = &p.responder;
                @let kind = r["kind"].as_str().unwrap_or("static");
                @let text = |k: &str| r[k].as_str().map(str::to_string).or_else(|| r[k].as_number().map(ToString::to_string)).unwrap_or_default();
                label for="p-responder" { "Responder" }
                select id="p-responder" name="responder_kind" {
                    option value="static" selected[kind == "static"] { "A fixed reply" }
                    option value="openai" selected[kind == "openai"] { "An OpenAI-compatible model" }
                }
                fieldset.guardrail {
                    legend { "A fixed reply" }
                    label for="p-static" { "Reply text" }
                    textarea id="p-static" name="responder_text" rows="2" { @if kind == "static" { (text("text")) } }
                    p.hint { "{{contact_name}} is filled in." }
                }
                fieldset.guardrail {
                    legend { "An OpenAI-compatible model" }
                    label for="p-base-url" { "Base URL" }
                    input id="p-base-url" name="base_url" type="text" placeholder="https://api.openai.com/v1" value=(if kind == "openai" { text("base_url") } else { String::new() });
                    label for="p-model" { "Model" }
                    input id="p-model" name="model" type="text" value=(if kind == "openai" { text("model") } else { String::new() });
                    @let key_set = kind == "openai" && r["api_key"].as_str().is_some_and(|k| !k.is_empty());
                    label for="p-api-key" { "API key" @if key_set { " (set: leave empty to keep)" } }
                    input id="p-api-key" name="api_key" type="password" autocomplete="off";
                    label for="p-temperature" { "Temperature (0-2, optional)" }
                    input id="p-temperature" name="temperature" type="text" inputmode="decimal" value=(if kind == "openai" { text("temperature") } else { String::new() });
                    label for="p-max-tokens" { "Max tokens (optional)" }
                    input id="p-max-tokens" name="max_tokens" type="text" inputmode="numeric" value=(if kind == "openai" { text("max_tokens") } else { String::new() });
                }
                button type="submit" { "Save persona" }
            }
            section.card {
                h2 { "Try it" }
                p { "A conversation in this page only: the persona's real prompt, responder and guardrails; nothing is stored or sent." }
                form method="post" action={ "/console/personas/" (p.id) "/try" } {
                    input type="hidden" name="csrf" value=(frame.csrf);
                    label for={ "try-" (p.id) } { "Try a message" }
                    textarea id={ "try-" (p.id) } name="message" rows="2" required {}
                    button type="submit" { "Try it" }
                }
                @if let Some(t) = tried {
                    div.tried role="status" {
                        p { strong { "You: " } (t.message) }
                        @if let Some(e) = t.error { p.error { (e) } }
                        @if let Some(r) = t.reply { p { strong { "Persona: " } (r) } }
                        @if let Some(b) = t.blocked { p.error { "Blocked by a guardrail: " (b) } }
                        @if t.hand_over { p { span.badge.wait { "Hands over to a person" } } }
                        details {
                            summary { "The full system prompt" }
                            pre { (t.system_prompt) }
                        }
                    }
                }
            }
        },
    )
}

/// Choose the kind of a new channel.
pub fn choose_adapter(frame: &Frame<'_>, adapters: &[String]) -> Markup {
    page(
        "New channel",
        Some(frame),
        None,
        html! {
            h1 { "New channel" }
            form.card method="get" action="/console/channels/new" {
                label for="adapter" { "Adapter" }
                select id="adapter" name="adapter" {
                    @for a in adapters { option value=(a) { (a) } }
                }
                button type="submit" { "Next" }
            }
        },
    )
}

/// A read-only value with its label and a copy button (`console.js`).
pub(super) fn copy_field(id: &str, label: &str, value: &str) -> Markup {
    html! {
        label for=(id) { (label) }
        div.copy {
            input id=(id) type="text" readonly value=(value);
            button type="button" data-copy=(id) { "Copy" }
        }
    }
}

/// What a channel's address is called: web chat is embedded, the others
/// take webhooks.
fn address_label(adapter: &str) -> &'static str {
    if adapter == crate::pipeline::visitor::ADAPTER {
        "Embed snippet"
    } else {
        "Webhook URL"
    }
}

/// A form's outcome, as a status or an alert.
pub(super) fn notice_line(notice: Option<Notice<'_>>) -> Markup {
    html! {
        @match notice {
            Some(Notice::Done(n)) => p.ok role="status" { (n) },
            Some(Notice::Failed(n)) => p.error role="alert" { (n) },
            None => {},
        }
    }
}

/// Where a channel's messages come in, as its page shows it: the webhook
/// URL (or web chat snippet), and for a WhatsApp number its `wa.me` link
/// with the link's QR code.
pub struct ChannelAddress {
    pub url: String,
    pub wa_me: Option<(String, String)>,
}

/// A form's outcome, shown above it.
#[derive(Clone, Copy)]
pub enum Notice<'a> {
    Done(&'a str),
    Failed(&'a str),
}

/// The channel form: a new channel of `adapter`, or `existing`. Secret
/// keys are write-only: their fields start empty, and an empty one keeps
/// the stored value.
#[allow(clippy::too_many_arguments)]
pub fn channel_form(
    frame: &Frame<'_>,
    adapter: &str,
    info: &crate::domain::AdapterInfo,
    existing: Option<&ChannelRecord>,
    personas: &[PersonaRecord],
    address: Option<&ChannelAddress>,
    notice: Option<Notice<'_>>,
) -> Markup {
    let action = match existing {
        Some(c) => format!("/console/channels/{}", c.id),
        None => "/console/channels".to_string(),
    };
    let title = existing.map_or_else(|| format!("New {adapter} channel"), |c| c.name.clone());
    let current = |k: &str| {
        existing
            .and_then(|c| c.config.get(k).cloned())
            .unwrap_or_default()
    };
    page(
        &title,
        Some(frame),
        None,
        html! {
            h1 { (kind_icon(adapter)) " " (title) }
            (notice_line(notice))
            @if let Some(a) = address {
                (copy_field("webhook-url", address_label(adapter), &a.url))
                @if let Some((link, qr)) = &a.wa_me {
                    figure.qr {
                        img src=(qr) width="192" height="192" alt={ "QR code of " (link) };
                        figcaption { "Customers scan it to message this number: " a href=(link) rel="noopener" { (link) } }
                    }
                }
            }
            form.card method="post" action=(action) {
                input type="hidden" name="csrf" value=(frame.csrf);
                input type="hidden" name="adapter" value=(adapter);
                label for="name" { "Name" }
                input id="name" name="name" type="text" required value=(existing.map(|c| c.name.as_str()).unwrap_or(""));
                @for key in &info.config_keys {
                    @let secret = info.is_secret(key);
                    @let id = format!("cfg-{key}");
                    label for=(id) {
                        (key)
                        @if secret {
                            " (secret"
                            @if existing.is_some() { @if current(key).is_empty() { ", not set" } @else { ", set: leave empty to keep" } }
                            ")"
                        }
                    }
                    @if secret {
                        input id=(id) name={ "cfg." (key) } type="password" autocomplete="off";
                    } @else {
                        input id=(id) name={ "cfg." (key) } type="text" value=(current(key));
                    }
                }
                label for="guardrails" { "Guardrails (one per line, in order; consent is always first)" }
                textarea id="guardrails" name="guardrails" rows="3" {
                    (existing.map(|c| c.guardrails.join("\n")).unwrap_or_else(|| "consent".to_string()))
                }
                p.hint { "First-party: consent, pii-redact, prohibited-topics, disclaimers; or one of your plugins (name, name@version)." }
                @if let Some(c) = existing {
                    @for (i, (reference, b)) in c.guardrails.iter().zip(c.bindings.iter().filter(|b| b.slot == crate::storage::Slot::Guardrail)).enumerate() {
                        fieldset.guardrail {
                            legend { "Guardrail " (reference) }
                            @if reference != "consent" {
                                label for={ "gfail-" (i) } { "If " (reference) " fails" }
                                select id={ "gfail-" (i) } name={ "gfail." (reference) } {
                                    option value="fail-closed" selected[b.on_failure == crate::storage::OnFailure::FailClosed] { "Refuse the message (fail closed)" }
                                    option value="fail-open" selected[b.on_failure == crate::storage::OnFailure::FailOpen] { "Skip this guardrail (fail open)" }
                                }
                            }
                            label for={ "gcfg-" (i) } { "Settings of " (reference) " (key = value, one per line)" }
                            textarea id={ "gcfg-" (i) } name={ "gcfg." (reference) } rows="2" {
                                @for (k, v) in &b.config { (k) " = " (v) "\n" }
                            }
                        }
                    }
                }
                label for="persona" { "Persona" }
                select id="persona" name="persona_id" {
                    option value="" { "None (a person answers)" }
                    @for p in personas {
                        option value=(p.id) selected[existing.and_then(|c| c.persona_id.as_deref()) == Some(p.id.as_str())] { (p.spec.display_name) }
                    }
                }
                @if let Some(c) = existing {
                    label.check {
                        input type="checkbox" name="enabled" value="1" checked[c.status == crate::domain::ChannelStatus::Active];
                        "Enabled"
                    }
                }
                button type="submit" { @if existing.is_some() { "Save" } @else { "Create channel" } }
            }
            @if let Some(c) = existing {
                form method="post" action={ "/console/channels/" (c.id) "/delete" } {
                    input type="hidden" name="csrf" value=(frame.csrf);
                    button.danger type="submit" { "Delete channel" }
                }
            }
        },
    )
}

pub fn api_keys(
    frame: &Frame<'_>,
    keys: &[crate::storage::ApiKeyRecord],
    new_key: Option<&str>,
    notice: Option<&str>,
) -> Markup {
    page(
        "API keys",
        Some(frame),
        None,
        html! {
            h1 { "API keys" }
            @if let Some(n) = notice { p.error role="alert" { (n) } }
            @if let Some(k) = new_key {
                div.card role="status" {
                    p { "Shown only now: store it in your secrets manager." }
                    (copy_field("new-key", "New API key", k))
                }
            }
            table {
                thead { tr { th { "Name" } th { "Key" } th { "Created" } th { "Last used" } th { "" } } }
                tbody {
                    @for k in keys {
                        tr {
                            td { (k.name) }
                            td { code { (k.prefix) "…" } }
                            td { (time(k.created_at)) }
                            td { @if let Some(t) = k.last_used_at { (time(t)) } @else { "never" } }
                            td {
                                @if k.revoked_at.is_some() { "Revoked" } @else {
                                    form method="post" action={ "/console/keys/" (k.id) "/revoke" } {
                                        input type="hidden" name="csrf" value=(frame.csrf);
                                        button.danger type="submit" aria-label={ "Revoke " (k.name) } { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "New key" }
            form method="post" action="/console/keys" {
                input type="hidden" name="csrf" value=(frame.csrf);
                label for="key-name" { "Name" }
                input id="key-name" name="name" type="text" required maxlength="100";
                button type="submit" { "Create key" }
            }
        },
    )
}

pub fn audit(frame: &Frame<'_>, entries: &[crate::storage::AuditEntry], action: &str) -> Markup {
    page(
        "Audit",
        Some(frame),
        None,
        html! {
            h1 { "Audit" }
            form.filters method="get" action="/console/audit" {
                label for="action" { "Action" }
                input id="action" name="action" type="text" value=(action) placeholder="e.g. channel.update";
                button type="submit" { "Filter" }
            }
            table {
                thead { tr { th { "When" } th { "Who" } th { "Action" } th { "Target" } th { "Detail" } } }
                tbody {
                    @for e in entries {
                        tr {
                            td { (time(e.created_at)) }
                            td { (e.actor) }
                            td { code { (e.action) } }
                            td { code { (e.target) } }
                            td { code.detail { (e.detail.to_string()) } }
                        }
                    }
                }
            }
        },
    )
}

/// Messages per month and channel, as a table and a bar chart (SVG: its
/// sizes are attributes, which the CSP allows, not inline styles).
pub fn usage(
    frame: &Frame<'_>,
    rows: &[crate::storage::UsageRow],
    channels: &[ChannelRecord],
    used: i64,
    limit: Option<i64>,
) -> Markup {
    let name = |id: &str| {
        channels
            .iter()
            .find(|c| c.id == id)
            .map_or(id.to_string(), |c| c.name.clone())
    };
    let max = rows
        .iter()
        .map(|r| r.inbound + r.outbound)
        .max()
        .unwrap_or(0)
        .max(1);
    let bar_h = 26;
    let height = rows.len() * bar_h + 4;
    html! {
        (page("Usage", Some(frame), None, html! {
            h1 { "Usage" }
            p {
                "This month: " strong { (used) } " messages"
                @if let Some(l) = limit { " of " (l) " allowed" }
                "."
            }
            @if !rows.is_empty() {
                svg.chart role="img" aria-label="Messages per month and channel" width="100%" height=(height) viewBox={ "0 0 600 " (height) } preserveAspectRatio="none" {
                    @for (i, r) in rows.iter().enumerate() {
                        @let y = i * bar_h + 2;
                        @let w_in = (r.inbound as f64 / max as f64) * 380.0;
                        @let w_out = (r.outbound as f64 / max as f64) * 380.0;
                        text x="0" y=(y + 17) class="chart-label" { (r.period) " " (name(&r.channel_id)) }
                        rect x="210" y=(y) width=(format!("{w_in:.1}")) height="20" class="bar-in" {}
                        rect x=(format!("{:.1}", 210.0 + w_in)) y=(y) width=(format!("{w_out:.1}")) height="20" class="bar-out" {}
                    }
                }
                p.legend { span.swatch.in {} " inbound " span.swatch.out {} " outbound" }
            }
            table {
                thead { tr { th { "Month" } th { "Channel" } th { "Inbound" } th { "Outbound" } th { "LLM tokens" } } }
                tbody {
                    @for r in rows {
                        tr {
                            td { (r.period) }
                            td { (name(&r.channel_id)) }
                            td { (r.inbound) }
                            td { (r.outbound) }
                            td { (r.llm_prompt_tokens + r.llm_completion_tokens) }
                        }
                    }
                }
            }
        }))
    }
}
