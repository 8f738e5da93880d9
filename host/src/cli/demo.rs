//! `switchboard demo`: the whole loop on one terminal. It starts the
//! embedded server with a demo tenant, persona and WhatsApp Cloud channel
//! whose Graph API is simulated in-process; each line typed goes out as a
//! correctly signed webhook through the real pipeline, and the reply the
//! simulated Graph API receives is printed with its delivery status.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use clap::Args;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::domain::{Direction, MessageStatus};
use crate::outbound::OutboundPolicy;
use crate::server::{ServerConfig, start};
use crate::storage::PersonaSpec;

/// `demo` flags.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data directory; default: a fresh temporary one, removed on exit.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address the server listens on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Your name as the WhatsApp user.
    #[arg(long, default_value = "Demo User")]
    pub name: String,
    /// How long to wait for a reply, in seconds.
    #[arg(long, default_value_t = 60)]
    pub reply_timeout: u64,
}

const APP_SECRET: &str = "demo-app-secret";
const PHONE_NUMBER_ID: &str = "100200300400";
const USER_NUMBER: &str = "15550100200";

/// What the simulated Graph API received.
struct Sent {
    wamid: String,
    body: Value,
}

pub fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let temp = match &args.data_dir {
        Some(_) => None,
        None => Some(tempfile::tempdir()?),
    };
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.as_ref().expect("temp dir").path().to_path_buf());

    // The simulated Graph API.
    let (tx, mut sent_rx) = mpsc::unbounded_channel::<Sent>();
    let graph = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let graph_addr = graph.local_addr()?;
    let app = axum::Router::new()
        .route("/v21.0/{pnid}/messages", axum::routing::post(graph_send))
        .with_state(Arc::new(GraphState {
            tx,
            next: Default::default(),
        }));
    tokio::spawn(async move {
        let _ = axum::serve(graph, app).await;
    });

    // The LLM, when configured; a local one (Ollama) must be allowed.
    let llm = std::env::var("SWITCHBOARD_LLM_BASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let mut allow = format!("127.0.0.1:{}", graph_addr.port());
    if let Some(u) = llm.as_deref().and_then(|u| url::Url::parse(u).ok())
        && let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default())
    {
        allow.push_str(&format!(",{}:{port}", host.trim_matches(['[', ']'])));
    }
    if let Ok(extra) = std::env::var("SWITCHBOARD_OUTBOUND_ALLOW") {
        allow.push_str(&format!(",{extra}"));
    }

    let mut config = ServerConfig::new(data_dir.clone());
    config.listen = args.listen;
    config.outbound = OutboundPolicy::parse(&allow);
    config.workers.poll_interval = Duration::from_millis(50);
    let server = start(config, false).await?;
    let base = format!("http://{}", server.addr);
    let p = server.state().pipeline.clone();

    // Tenant, persona and channel, straight through storage.
    let slug = format!("demo-{}", &crate::storage::new_secret_id("x")[2..10]);
    let tenant = p.db.create_tenant(&slug, "Demo Coffee Co.").await?;
    let (responder, responder_label) = match &llm {
        Some(url) => {
            let model =
                std::env::var("SWITCHBOARD_LLM_MODEL").unwrap_or_else(|_| "gpt-4o-mini".into());
            let key = std::env::var("SWITCHBOARD_LLM_API_KEY").unwrap_or_default();
            let label = format!("openai-compatible model `{model}` at {url}");
            (
                json!({ "kind": "openai", "base_url": url, "model": model, "api_key": key, "temperature": 0.3, "max_tokens": 300 }),
                label,
            )
        }
        None => (
            json!({ "kind": "static", "text": "Hi {{contact_name}}! Thanks for messaging Demo Coffee Co. A barista will get back to you shortly. (Set SWITCHBOARD_LLM_BASE_URL for AI replies.)" }),
            "static auto-reply (set SWITCHBOARD_LLM_BASE_URL, _MODEL, _API_KEY for an LLM)"
                .to_string(),
        ),
    };
    let spec = PersonaSpec {
        display_name: "Bean, the Demo Coffee Co. assistant".into(),
        custom_system_prompt: None,
        system_prompt_additions: Some(
            "Demo Coffee Co. sells coffee beans and brewing gear online; shipping takes 2-4 days."
                .into(),
        ),
        prohibited_topics: vec!["politics".into()],
        required_disclaimers: vec!["I'm an automated assistant.".into()],
        formality: 40,
        humor: 30,
        emoji_usage: "minimal".into(),
        persona: None,
        persona_config: Default::default(),
    };
    let persona =
        p.db.create_persona(&tenant.id, "demo", "barista", &spec, &responder, &p.secrets)
            .await?;
    let channel_config = [
        ("app_secret", APP_SECRET.to_string()),
        ("verify_token", "demo-verify".to_string()),
        ("phone_number_id", PHONE_NUMBER_ID.to_string()),
        ("access_token", "EAAG-demo".to_string()),
        ("api_base_url", format!("http://{graph_addr}/v21.0")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let new = p.catalog.new_channel(
        "WhatsApp (simulated)".into(),
        "whatsapp-cloud".into(),
        channel_config,
        vec![
            "consent".into(),
            "pii-redact".into(),
            "prohibited-topics".into(),
            "disclaimers".into(),
        ],
        |id| format!("{base}/webhooks/{id}"),
    );
    let channel = p.db.create_channel(&tenant.id, &new, &p.secrets).await?;
    p.db.set_channel_persona(&tenant.id, "demo", &channel.id, Some(&persona.id))
        .await?;
    let webhook = format!("{base}/webhooks/{}", channel.id);
    let webchat_page = webchat(&p, &tenant.id, &persona.id, &base, server.addr.ip()).await?;

    println!("Switchboard demo");
    println!(
        "  server      {base}  (admin token: {})",
        server.admin_token
    );
    println!("  tenant      {slug}  (API key: {})", tenant.api_key);
    println!(
        "  channel     whatsapp-cloud {}  →  simulated Graph API at http://{graph_addr}",
        channel.id
    );
    println!(
        "  web chat    {webchat_page}  (open it in a browser: the same persona answers there)"
    );
    println!("  persona     {}  — {responder_label}", persona.name);
    println!("  guardrails  consent, pii-redact, prohibited-topics, disclaimers");
    println!();
    println!(
        "You are {} (+{USER_NUMBER}) on WhatsApp. Type a message and press Enter;",
        args.name
    );
    println!("STOP, START and HELP work as on a real number. Ctrl-D quits.");
    println!();

    crate::outbound::install_tls_provider();
    let http = reqwest::Client::new();
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    let mut n = 0u32;
    loop {
        stdout.write_all(b"you> ").await?;
        stdout.flush().await?;
        let Some(line) = lines.next_line().await? else {
            println!();
            break;
        };
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        n += 1;
        let body = inbound_webhook(&format!("wamid.demo-in-{n}"), &args.name, text);
        let status = post_signed(&http, &webhook, &body).await?;
        if status != 200 {
            println!("  (webhook answered HTTP {status})");
            continue;
        }
        // Replies may come in several parts; wait for the first (or for
        // the message's processing to end without one), then take
        // whatever follows quickly.
        let wait = Duration::from_secs(args.reply_timeout);
        let mut parts = match first_part(&p, &tenant.id, &mut sent_rx, wait).await {
            Answer::Sent(s) => vec![s],
            Answer::Settled => {
                println!(
                    "  (no reply: {})",
                    why_silent(&p, &tenant.id, &channel.id).await
                );
                continue;
            }
            Answer::TimedOut => {
                println!(
                    "  (no reply within {} s: the responder is still working or did not answer; see the log)",
                    args.reply_timeout
                );
                continue;
            }
        };
        while let Ok(Some(s)) =
            tokio::time::timeout(Duration::from_millis(300), sent_rx.recv()).await
        {
            parts.push(s);
        }
        for part in &parts {
            let text = part.body["text"]["body"]
                .as_str()
                .unwrap_or("(non-text message)");
            println!("bot> {text}");
            // The user's phone reports delivery and reading.
            for s in ["delivered", "read"] {
                post_signed(&http, &webhook, &status_webhook(&part.wamid, s)).await?;
            }
            let shown = final_status(&p, &tenant.id, &channel.id, &part.wamid).await;
            println!("     [{} · {shown}]", part.wamid);
        }
    }
    server.shutdown().await?;
    drop(temp);
    Ok(ExitCode::SUCCESS)
}

/// A web chat channel with the demo's persona, and a local page (on an
/// origin of its own, as a business's site would be) embedding its
/// widget; returns the page's URL.
async fn webchat(
    p: &crate::pipeline::Pipeline,
    tenant_id: &str,
    persona_id: &str,
    base: &str,
    ip: std::net::IpAddr,
) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await?;
    let page = format!("http://{}", listener.local_addr()?);
    let config = [
        ("allowed_origins", format!("[\"{page}\"]")),
        ("title", "Demo Coffee Co.".to_string()),
        (
            "greeting",
            "Hi! Ask us about beans, brewing or your order.".to_string(),
        ),
        ("color", "#6f4e37".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let new = p.catalog.new_channel(
        "Website chat".into(),
        crate::pipeline::visitor::ADAPTER.into(),
        config,
        vec!["consent".into(), "pii-redact".into()],
        |id| format!("{base}/webhooks/{id}"),
    );
    let channel = p.db.create_channel(tenant_id, &new, &p.secrets).await?;
    p.db.set_channel_persona(tenant_id, "demo", &channel.id, Some(persona_id))
        .await?;
    let html = crate::server::webchat::demo_page(base, &channel.id);
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let html = html.clone();
            async move { axum::response::Html(html) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("{page}/"))
}

struct GraphState {
    tx: mpsc::UnboundedSender<Sent>,
    next: std::sync::atomic::AtomicU32,
}

/// `POST /{version}/{phone-number-id}/messages`, answered like Meta does.
async fn graph_send(
    State(state): State<Arc<GraphState>>,
    Path(_pnid): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer EAAG-demo") {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({ "error": { "message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190 } }),
            ),
        );
    }
    let n = state
        .next
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let wamid = format!("wamid.demo-out-{n}");
    let to = body["to"].clone();
    let _ = state.tx.send(Sent {
        wamid: wamid.clone(),
        body,
    });
    (
        axum::http::StatusCode::OK,
        axum::Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": to, "wa_id": to }],
            "messages": [{ "id": wamid }]
        })),
    )
}

fn inbound_webhook(id: &str, name: &str, text: &str) -> Vec<u8> {
    let ts = crate::storage::now_ms() / 1000;
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "0", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550009999", "phone_number_id": PHONE_NUMBER_ID },
            "contacts": [{ "profile": { "name": name }, "wa_id": USER_NUMBER }],
            "messages": [{ "from": USER_NUMBER, "id": id, "timestamp": ts.to_string(), "type": "text", "text": { "body": text } }]
        }}]}]
    }))
    .expect("JSON")
}

fn status_webhook(wamid: &str, status: &str) -> Vec<u8> {
    let ts = crate::storage::now_ms() / 1000;
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "0", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550009999", "phone_number_id": PHONE_NUMBER_ID },
            "statuses": [{ "id": wamid, "status": status, "timestamp": ts.to_string(), "recipient_id": USER_NUMBER }]
        }}]}]
    }))
    .expect("JSON")
}

/// POST with Meta's `X-Hub-Signature-256`.
async fn post_signed(http: &reqwest::Client, url: &str, body: &[u8]) -> anyhow::Result<u16> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("any key");
    mac.update(body);
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(body.to_vec())
        .send()
        .await?;
    Ok(r.status().as_u16())
}

/// The status the platform recorded for a sent message, once the status
/// callbacks were applied.
async fn final_status(
    p: &crate::pipeline::Pipeline,
    tenant: &str,
    channel: &str,
    wamid: &str,
) -> String {
    let mut last = "unknown".to_string();
    for _ in 0..40 {
        if let Some(m) = latest_outbound(p, tenant, channel, |m| m.external_id == wamid).await {
            last = m.status.clone();
            if last == "read" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    last
}

/// How the wait for a reply ended.
enum Answer {
    /// The provider got the reply's first part.
    Sent(Sent),
    /// Every job of the tenant finished and nothing was sent.
    Settled,
    /// Still working after the reply timeout.
    TimedOut,
}

/// Wait for the first part of the answer to the message just posted, or
/// until its processing is over without one (no job of the tenant left
/// pending or leased), so every typed line ends with an outcome.
async fn first_part(
    p: &crate::pipeline::Pipeline,
    tenant: &str,
    sent: &mut mpsc::UnboundedReceiver<Sent>,
    limit: Duration,
) -> Answer {
    let deadline = tokio::time::Instant::now() + limit;
    let mut idle_checks = 0;
    loop {
        tokio::select! {
            s = sent.recv() => return s.map_or(Answer::Settled, Answer::Sent),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let mut busy = false;
        for status in ["pending", "leased"] {
            busy |=
                p.db.list_jobs(tenant, status, 1)
                    .await
                    .map_or(true, |jobs| !jobs.is_empty());
        }
        // Twice idle in a row: a job finishing can enqueue its follow-up
        // in the same transaction, but a send in flight reaches `sent`
        // just after.
        idle_checks = if busy { 0 } else { idle_checks + 1 };
        if idle_checks >= 2 {
            return match sent.try_recv() {
                Ok(s) => Answer::Sent(s),
                Err(_) => Answer::Settled,
            };
        }
        if tokio::time::Instant::now() >= deadline {
            return Answer::TimedOut;
        }
    }
}

/// Why nothing was sent: the last outbound message's state, or the
/// contact's consent.
async fn why_silent(p: &crate::pipeline::Pipeline, tenant: &str, channel: &str) -> String {
    let error_of = |m: &crate::storage::MessageRecord| {
        m.error
            .as_ref()
            .map(|e| e["message"].as_str().map_or(e.to_string(), str::to_string))
            .unwrap_or_default()
    };
    let opted_out = async {
        let convs =
            p.db.list_conversations(tenant, Some(channel), 1, None)
                .await
                .ok()?;
        let cipher = p.secrets.cipher(tenant).await.ok()?;
        let contact =
            p.db.get_contact(&cipher, &convs.data.first()?.contact_id)
                .await
                .ok()?;
        Some(
            contact
                .identities
                .iter()
                .any(|i| i["channel_id"] == channel && i["opted_out"] == true),
        )
    };
    if opted_out.await == Some(true) {
        return "you opted out on this channel; send START to opt back in".into();
    }
    match latest_outbound(p, tenant, channel, |_| true).await {
        Some(m) if MessageStatus::parse(&m.status) == Some(MessageStatus::Blocked) => {
            format!("the reply was blocked by a guardrail: {}", error_of(&m))
        }
        Some(m)
            if matches!(
                MessageStatus::parse(&m.status),
                Some(MessageStatus::Failed | MessageStatus::Refused)
            ) =>
        {
            format!("the reply could not be sent: {}", error_of(&m))
        }
        _ => "no reply was written (see the log)".into(),
    }
}

async fn latest_outbound(
    p: &crate::pipeline::Pipeline,
    tenant: &str,
    channel: &str,
    want: impl Fn(&crate::storage::MessageRecord) -> bool,
) -> Option<crate::storage::MessageRecord> {
    let convs =
        p.db.list_conversations(tenant, Some(channel), 1, None)
            .await
            .ok()?;
    let conv = convs.data.first()?;
    let cipher = p.secrets.cipher(tenant).await.ok()?;
    let mut cursor = None;
    let mut found = None;
    loop {
        let page =
            p.db.list_messages(&cipher, &conv.id, 500, cursor.as_deref())
                .await
                .ok()?;
        for m in page.data {
            if Direction::parse(&m.direction) == Some(Direction::Outbound) && want(&m) {
                found = Some(m);
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return found,
        }
    }
}
