//! The Switchboard REST calls outside the timed phase: creating the tenant and
//! channel, and counting what was stored.

use std::collections::HashSet;

use anyhow::{Context, Result, bail};
use reqwest::{Client, Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};

/// Page size asked for while verifying; the server may return fewer, we follow
/// `next_cursor` either way.
const PAGE_LIMIT: &str = "100";

pub struct Api {
    client: Client,
    base: Url,
}

impl Api {
    pub fn new(client: Client, base: &str) -> Result<Self> {
        let base = Url::parse(base).with_context(|| format!("--url {base:?} is not a URL"))?;
        if base.cannot_be_a_base() {
            bail!("--url {base} cannot carry a path");
        }
        Ok(Self { client, base })
    }

    /// `base` + path segments (each percent-encoded, so ids and cursors are
    /// safe whatever they contain) + query pairs. Keeps any path prefix of `--url`.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("--url cannot carry a path"))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Sends a request and returns the JSON body, failing with the server's
    /// own words when the status is not `expected`.
    async fn call(
        &self,
        method: Method,
        url: Url,
        token: &str,
        body: Option<&Value>,
        expected: StatusCode,
    ) -> Result<Value> {
        let what = format!("{method} {}", url.path());
        let mut request = self.client.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{what}: request failed"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("{what}: reading the response"))?;
        if status != expected {
            bail!("{what}: expected {expected}, got {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{what}: response is not JSON: {text}"))
    }
}

/// The fresh tenant and channel a run sends to.
pub struct Setup {
    pub tenant_id: String,
    pub tenant_slug: String,
    pub api_key: String,
    pub channel_id: String,
    pub webhook_url: String,
    pub app_secret: String,
    pub phone_number_id: String,
}

/// Creates a tenant `load-<run>` and a whatsapp-cloud channel with random
/// secrets, so runs never see each other's data.
pub async fn setup(
    api: &Api,
    admin_token: &str,
    run_id: &str,
    label: &str,
    graph_base: Option<&str>,
) -> Result<Setup> {
    let tenant_slug = format!("load-{run_id}");
    let name = if label.is_empty() {
        format!("Load test {run_id}")
    } else {
        format!("Load test {run_id} ({label})")
    };
    let tenant = api
        .call(
            Method::POST,
            api.url(&["v1", "admin", "tenants"], &[])?,
            admin_token,
            Some(&json!({ "slug": tenant_slug, "name": name })),
            StatusCode::CREATED,
        )
        .await
        .context("creating the tenant")?;
    let api_key = str_field(&tenant, "api_key")?;

    let app_secret = hex::encode(random_bytes::<32>()?);
    // A 15-digit number, like Meta's phone number ids; the leading 9 keeps the length fixed.
    let phone_number_id = format!(
        "9{:014}",
        u64::from_le_bytes(random_bytes::<8>()?) % 100_000_000_000_000
    );
    let mut body = json!({
        "name": format!("load {run_id}"),
        "adapter": "whatsapp-cloud",
        "config": {
            "app_secret": app_secret,
            "verify_token": hex::encode(random_bytes::<16>()?),
            "phone_number_id": phone_number_id,
            "access_token": format!("load-test-{run_id}"),
        },
    });
    // `--replies`: a static persona answers every message, delivered to
    // the local Graph API stand-in.
    if let Some(base) = graph_base {
        let persona = api
            .call(
                Method::POST,
                api.url(&["v1", "personas"], &[])?,
                &api_key,
                Some(&json!({ "name": "load", "responder": { "kind": "static", "text": "Thanks, {{contact_name}}!" } })),
                StatusCode::CREATED,
            )
            .await
            .context("creating the persona")?;
        body["persona_id"] = json!(id_field(&persona, "id")?);
        body["config"]["api_base_url"] = json!(base);
    }
    let channel = api
        .call(
            Method::POST,
            api.url(&["v1", "channels"], &[])?,
            &api_key,
            Some(&body),
            StatusCode::CREATED,
        )
        .await
        .context("creating the channel")?;

    Ok(Setup {
        tenant_id: id_field(&tenant, "id")?,
        tenant_slug,
        api_key,
        channel_id: id_field(&channel, "id")?,
        webhook_url: channel
            .get("webhook_url")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned(),
        app_secret,
        phone_number_id,
    })
}

/// What the API says is stored for the channel.
#[derive(Debug, Default)]
pub struct Census {
    pub conversations: u64,
    /// Inbound message rows (distinct message ids).
    pub inbound: u64,
    /// Distinct `external_id`s among inbound rows.
    pub external_ids: HashSet<String>,
    /// Rows with another direction (e.g. persona replies); reported, not checked.
    pub other_direction: u64,
    /// Items a paginated listing returned more than once: a pagination bug,
    /// kept apart so it is not mistaken for stored duplicates.
    pub repeated_in_listing: u64,
}

#[derive(Deserialize)]
struct Page {
    data: Vec<Value>,
    next_cursor: Option<String>,
}

/// Pages through every conversation of the channel and every message of each.
pub async fn census(api: &Api, api_key: &str, channel_id: &str) -> Result<Census> {
    let mut census = Census::default();

    let mut conversation_ids = Vec::new();
    let mut seen = HashSet::new();
    for item in all_pages(
        api,
        api_key,
        &["v1", "conversations"],
        &[("channel_id", channel_id)],
    )
    .await?
    {
        let id = id_field(&item, "id")?;
        if seen.insert(id.clone()) {
            conversation_ids.push(id);
        } else {
            census.repeated_in_listing += 1;
        }
    }
    census.conversations = conversation_ids.len() as u64;

    let mut message_ids = HashSet::new();
    for conversation in &conversation_ids {
        for message in all_pages(
            api,
            api_key,
            &["v1", "conversations", conversation, "messages"],
            &[],
        )
        .await?
        {
            if !message_ids.insert(id_field(&message, "id")?) {
                census.repeated_in_listing += 1;
                continue;
            }
            if message.get("direction").and_then(Value::as_str) == Some("inbound") {
                census.inbound += 1;
                census
                    .external_ids
                    .insert(str_field(&message, "external_id")?);
            } else {
                census.other_direction += 1;
            }
        }
    }
    Ok(census)
}

/// Follows `next_cursor` until it is null, collecting `data`.
async fn all_pages(
    api: &Api,
    api_key: &str,
    segments: &[&str],
    query: &[(&str, &str)],
) -> Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    // A server that hands back a cursor it already gave would loop forever.
    let mut cursors_seen = HashSet::new();
    loop {
        let mut pairs = query.to_vec();
        pairs.push(("limit", PAGE_LIMIT));
        if let Some(cursor) = &cursor {
            pairs.push(("cursor", cursor));
        }
        let url = api.url(segments, &pairs)?;
        let page: Page = serde_json::from_value(
            api.call(Method::GET, url, api_key, None, StatusCode::OK)
                .await?,
        )
        .with_context(|| {
            format!(
                "GET /{}: not a {{data, next_cursor}} page",
                segments.join("/")
            )
        })?;
        items.extend(page.data);
        match page.next_cursor {
            Some(next) => {
                if !cursors_seen.insert(next.clone()) {
                    bail!(
                        "GET /{}: next_cursor {next:?} was returned twice",
                        segments.join("/")
                    );
                }
                cursor = Some(next);
            }
            None => return Ok(items),
        }
    }
}

fn str_field(value: &Value, key: &str) -> Result<String> {
    match value.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => bail!("expected a string {key:?} in {value}"),
    }
}

/// Ids may be strings or numbers depending on the store; both become strings.
fn id_field(value: &Value, key: &str) -> Result<String> {
    match value.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => bail!("expected an id {key:?} in {value}"),
    }
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    Ok(bytes)
}
