//! Start a server, create tenants and channels, sign Meta webhooks.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use switchboard::server::{RunningServer, ServerConfig, start};

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// PostgreSQL from the environment, if configured.
    pub fn postgres() -> Option<Backend> {
        std::env::var("SWITCHBOARD_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .map(Backend::Postgres)
    }
}

/// Define a test twice: `sqlite` and `postgres` (the latter is a no-op with
/// a notice when PostgreSQL is not configured).
#[macro_export]
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::harness::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::harness::Backend::postgres() {
                    Some(b) => super::$name(b).await,
                    None => {
                        eprintln!("SWITCHBOARD_TEST_POSTGRES_URL unset: PostgreSQL run skipped")
                    }
                }
            }
        }
    };
}

/// A running server with a temporary data directory.
pub struct TestServer {
    pub base: String,
    pub admin_token: String,
    pub http: reqwest::Client,
    server: Option<RunningServer>,
    _dir: tempfile::TempDir,
}

pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(dir.path().to_path_buf());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.admin_token = Some("test-admin-token-0123456789abcdef0123".into());
        // One compiled-component cache for every server of this test binary,
        // so each start loads the first-party plugins instead of compiling.
        static CACHE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
        config.component_cache_dir = Some(
            CACHE
                .get_or_init(|| tempfile::tempdir().unwrap())
                .path()
                .to_path_buf(),
        );
        if let Backend::Postgres(url) = backend {
            config.database_url = Some(url);
        }
        // Servers of one test run share the PostgreSQL database like
        // replicas do, and so a master key: any worker may run any job.
        config.master_key = Some(switchboard::secrets::MasterKey::from_bytes([7u8; 32]));
        // Mock providers listen on loopback; retries are fast in tests.
        config.outbound = switchboard::outbound::OutboundPolicy::parse("127.0.0.1:*");
        config.workers.poll_interval = std::time::Duration::from_millis(20);
        config.workers.delivery.base_delay = std::time::Duration::from_millis(50);
        config.workers.delivery.max_delay = std::time::Duration::from_millis(400);
        config.workers.delivery.max_attempts = 3;
        config.responder_retry.base_delay = std::time::Duration::from_millis(10);
        config.responder_retry.max_delay = std::time::Duration::from_millis(50);
        tweak(&mut config);
        let server = start(config, false).await.expect("server starts");
        TestServer {
            base: format!("http://{}", server.addr),
            admin_token: server.admin_token.clone(),
            http: {
                switchboard::outbound::install_tls_provider();
                reqwest::Client::new()
            },
            server: Some(server),
            _dir: dir,
        }
    }

    /// A client of a server running elsewhere (a real `switchboard serve`
    /// process) at `base`, with its admin token.
    pub fn attach(base: String, admin_token: String) -> TestServer {
        switchboard::outbound::install_tls_provider();
        TestServer {
            base,
            admin_token,
            http: reqwest::Client::new(),
            server: None,
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.unwrap();
        }
    }

    /// The database URL this server uses (for a second replica).
    pub fn database_url(&self, backend: &Backend) -> String {
        match backend {
            Backend::Sqlite => switchboard::storage::default_url(self._dir.path()),
            Backend::Postgres(url) => url.clone(),
        }
    }

    /// The data directory (the SQLite database and its WAL live here).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// The server's database handle.
    pub fn db(&self) -> &switchboard::storage::Db {
        self.server.as_ref().unwrap().state().db()
    }

    /// What storage holds of a tenant's messages, opened with its key
    /// (text, payload, error): for tests proving what never reaches
    /// storage, encryption aside.
    pub async fn stored_message_contents(&self, tenant_id: &str) -> Vec<String> {
        let state = self.server.as_ref().unwrap().state();
        let cipher = state.cipher(tenant_id).await.unwrap();
        state.db().stored_message_contents(&cipher).await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A tenant with a unique slug; returns (id, api key).
    pub async fn tenant(&self, prefix: &str) -> (String, String) {
        let slug = format!("{prefix}-{}", unique());
        let r = self
            .http
            .post(self.url("/v1/admin/tenants"))
            .bearer_auth(&self.admin_token)
            .json(&json!({ "slug": slug, "name": prefix }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        let v: Value = r.json().await.unwrap();
        (
            v["id"].as_str().unwrap().to_string(),
            v["api_key"].as_str().unwrap().to_string(),
        )
    }

    /// A whatsapp-cloud channel with a phone-number id of its own (the
    /// PostgreSQL database is shared by every test); returns its id.
    pub async fn whatsapp_channel(&self, key: &str) -> String {
        let pnid = format!("9{}", u64::from_str_radix(&unique(), 16).unwrap());
        self.whatsapp_channel_for(key, &pnid).await
    }

    /// A whatsapp-cloud channel for phone-number id `pnid` (the shared
    /// endpoint routes it there only once the admin assigns it:
    /// [`Self::assign_route`]); returns its id.
    pub async fn whatsapp_channel_for(&self, key: &str, pnid: &str) -> String {
        let body = json!({
            "name": "WhatsApp",
            "adapter": "whatsapp-cloud",
            "config": { "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "phone_number_id": pnid, "access_token": "EAAG-test" }
        });
        let r = self
            .http
            .post(self.url("/v1/channels"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        let v: Value = r.json().await.unwrap();
        assert!(
            v["webhook_url"]
                .as_str()
                .unwrap()
                .ends_with(v["id"].as_str().unwrap())
        );
        v["id"].as_str().unwrap().to_string()
    }

    /// POST a body signed with `secret` to a channel's webhook.
    pub async fn post_signed(&self, channel: &str, body: &[u8], secret: &str) -> reqwest::Response {
        signed_request(&self.http, &self.base, channel, body, secret)
            .send()
            .await
            .unwrap()
    }

    /// GET with a tenant key; returns (status, json).
    pub async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, key, path, None).await
    }

    /// One request with a bearer token and an optional JSON body; returns
    /// (status, json or null).
    pub async fn call(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Every message of a channel, across conversations and pages.
    pub async fn all_messages(&self, key: &str, channel: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/conversations?channel_id={channel}&limit=50");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (status, page) = self.get(key, &path).await;
            assert_eq!(status, 200, "{page}");
            for conv in page["data"].as_array().unwrap() {
                let mut mcursor: Option<String> = None;
                loop {
                    let mut p = format!(
                        "/v1/conversations/{}/messages?limit=100",
                        conv["id"].as_str().unwrap()
                    );
                    if let Some(c) = &mcursor {
                        p.push_str(&format!("&cursor={c}"));
                    }
                    let (s, msgs) = self.get(key, &p).await;
                    assert_eq!(s, 200);
                    out.extend(msgs["data"].as_array().unwrap().iter().cloned());
                    match msgs["next_cursor"].as_str() {
                        Some(c) => mcursor = Some(c.to_string()),
                        None => break,
                    }
                }
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        out
    }
}

impl TestServer {
    /// POST JSON with a tenant key; returns (status, json).
    pub async fn post_json(&self, key: &str, path: &str, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, key, path, Some(body))
            .await
    }

    /// PATCH JSON with a bearer token; returns (status, json).
    pub async fn patch_json(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, token, path, Some(body))
            .await
    }

    /// DELETE with a bearer token; returns (status, json or null).
    pub async fn delete(&self, token: &str, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, token, path, None).await
    }

    /// The platform admin assigns `route_key` to a channel (shared
    /// endpoints route only keys the admin assigned); returns (status,
    /// json).
    pub async fn put_route(&self, channel: &str, route_key: Option<&str>) -> (u16, Value) {
        let path = format!("/v1/admin/channels/{channel}/route");
        let body = json!({ "route_key": route_key });
        self.call(reqwest::Method::PUT, &self.admin_token, &path, Some(&body))
            .await
    }

    /// [`Self::put_route`], which must succeed.
    pub async fn assign_route(&self, channel: &str, route_key: &str) {
        let (status, v) = self.put_route(channel, Some(route_key)).await;
        assert_eq!(status, 200, "{v}");
    }

    /// Create a persona; returns its id.
    pub async fn persona(&self, key: &str, body: Value) -> String {
        let (status, v) = self.post_json(key, "/v1/personas", &body).await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// A whatsapp-cloud channel whose Graph API is `graph_base` (a mock),
    /// with `guardrails` and `persona`; returns its id.
    pub async fn whatsapp_channel_to(
        &self,
        key: &str,
        graph_base: &str,
        guardrails: &[&str],
        persona: Option<&str>,
    ) -> String {
        let pnid = format!("8{}", u64::from_str_radix(&unique(), 16).unwrap());
        let body = json!({
            "name": "WhatsApp",
            "adapter": "whatsapp-cloud",
            "config": {
                "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "phone_number_id": pnid,
                "access_token": "EAAG-test", "api_base_url": format!("{graph_base}/v21.0"),
            },
            "guardrails": guardrails,
            "persona_id": persona,
        });
        let (status, v) = self.post_json(key, "/v1/channels", &body).await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// Poll `path` until `done` holds (panics after 20 s with the last body).
    pub async fn eventually(&self, key: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (status, v) = self.get(key, path).await;
            if status == 200 && done(&v) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition not met on {path}: {status} {v}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// The outbound messages of a channel, oldest first.
    pub async fn outbound(&self, key: &str, channel: &str) -> Vec<Value> {
        self.all_messages(key, channel)
            .await
            .into_iter()
            .filter(|m| m["direction"] == "outbound")
            .collect()
    }

    /// Wait until the channel has `n` outbound messages whose status is
    /// not `queued`; returns them.
    pub async fn settled_outbound(&self, key: &str, channel: &str, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let out = self.outbound(key, channel).await;
            if out.len() >= n && out.iter().all(|m| m["status"] != "queued") {
                return out;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} settled outbound messages: {out:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}

/// The dashboard's test text message with another id and text (sender
/// 16315551181, "test user name").
/// A WhatsApp webhook signed with `secret`, for `channel` on the server at
/// `base` (for tasks that do not hold the [`TestServer`]).
fn signed_request(
    http: &reqwest::Client,
    base: &str,
    channel: &str,
    body: &[u8],
    secret: &str,
) -> reqwest::RequestBuilder {
    http.post(format!("{base}/webhooks/{channel}"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature(secret, body))
        .body(body.to_vec())
}

/// [`TestServer::post_signed`] from a spawned task; returns the status.
pub async fn post_signed_with(
    http: &reqwest::Client,
    base: &str,
    channel: &str,
    body: &[u8],
    secret: &str,
) -> u16 {
    signed_request(http, base, channel, body, secret)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A WhatsApp text from `from` (a `wa_id`: the phone's digits) named `name`.
pub fn wa_from(id: &str, text: &str, from: &str, name: &str) -> Vec<u8> {
    let mut v = fixture("meta_dashboard_test_text_message.json");
    let value = &mut v["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["wa_id"] = json!(from);
    value["contacts"][0]["profile"]["name"] = json!(name);
    value["messages"][0]["from"] = json!(from);
    value["messages"][0]["id"] = json!(id);
    value["messages"][0]["text"]["body"] = json!(text);
    serde_json::to_vec(&v).unwrap()
}

pub fn wa_text(id: &str, text: &str) -> Vec<u8> {
    let mut v = fixture("meta_dashboard_test_text_message.json");
    v["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!(id);
    v["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = json!(text);
    serde_json::to_vec(&v).unwrap()
}

/// pywa's status callback for message `wamid` with `status`.
pub fn wa_status(wamid: &str, status: &str) -> Vec<u8> {
    let mut v = fixture("pywa_status_delivered.json");
    v["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = json!(wamid);
    v["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = json!(status);
    serde_json::to_vec(&v).unwrap()
}

/// `sha256=<hex>` over exactly these bytes.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A fixture from `tests/fixtures/meta_whatsapp/`, parsed.
pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../tests/fixtures/meta_whatsapp/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}

/// A fixture as the compact bytes we send (and sign).
pub fn fixture_body(name: &str) -> Vec<u8> {
    serde_json::to_vec(&fixture(name)).unwrap()
}

/// A short random suffix for names that must not collide across runs.
pub fn unique() -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).unwrap();
    hex::encode(b)
}

/// A `multipart/form-data` body with text `fields` and a component as
/// its `file` part, built by hand to keep the test client small; returns
/// (content type, body).
pub fn multipart(fields: &[(&str, &str)], file: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("----sb{}", unique());
    let mut body = Vec::new();
    for (field, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"plugin.wasm\"\r\nContent-Type: application/wasm\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Upload raw component bytes as `name@version` with a tenant key;
/// returns (status, json).
pub async fn upload_plugin(
    s: &TestServer,
    key: &str,
    name: &str,
    version: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let r = s
        .http
        .post(s.url(&format!("/v1/plugins?name={name}&version={version}")))
        .bearer_auth(key)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}
