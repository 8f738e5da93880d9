//! The console's plugins page and channel page over HTTP on both
//! databases: uploading a component through the page's form (validated as
//! the API validates it, refused without the CSRF token or for an agent),
//! activating a version on a channel and rolling it back; and on a
//! channel's page, the `wa.me` QR code of a WhatsApp number and each
//! guardrail's own settings and failure policy.

use serde_json::{Value, json};

use crate::console::{
    FormBody, Member, invited, no_redirects, page_as, post_as, sign_in, tenant_with_owner,
};
use crate::harness::{Backend, TestServer, multipart};
use crate::on_both;

async fn page(s: &TestServer, m: &Member, path: &str) -> (u16, String) {
    page_as(s, &m.cookie, path).await
}

async fn form(s: &TestServer, m: &Member, path: &str, pairs: &[(&str, &str)]) -> (u16, String) {
    post_as(s, &m.cookie, path, pairs).await
}

/// The upload form as a browser posts it.
async fn upload(
    s: &TestServer,
    m: &Member,
    csrf: &str,
    name: &str,
    version: &str,
    file: &[u8],
) -> (u16, String) {
    let (content_type, body) = multipart(
        &[("csrf", csrf), ("name", name), ("version", version)],
        file,
    );
    let r = no_redirects()
        .post(s.url("/console/plugins"))
        .header("cookie", &m.cookie)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn wasm(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn api(s: &TestServer, key: &str, path: &str) -> Value {
    s.http
        .get(s.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The version the channel's adapter binding runs, and the one before.
async fn adapter_version(s: &TestServer, key: &str, channel: &str) -> (Value, Value) {
    let ch = api(s, key, &format!("/v1/channels/{channel}")).await;
    let b = &ch["bindings"][0];
    (b["version"].clone(), b["previous_version"].clone())
}

async fn plugins_are_uploaded_activated_and_rolled_back_in_the_console(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key, email) = tenant_with_owner(&s, "plugins-page").await;
    let owner = sign_in(&s, &email, crate::console::PASSWORD).await;
    let (_, _, agent) = invited(&s, &owner, "agent").await;

    // An agent sees neither the page nor may upload.
    assert_eq!(page(&s, &agent, "/console/plugins").await.0, 403);
    let simple = wasm(switchboard_artifacts::examples::SIMPLE_JSON_ADAPTER);
    let (status, _) = upload(&s, &agent, &agent.csrf, "chat", "1.0.0", &simple).await;
    assert_eq!(status, 403);

    let (status, body) = page(&s, &owner, "/console/plugins").await;
    assert_eq!(status, 200);
    for label in [
        r#"<label for="plugin-name">Plugin name</label>"#,
        r#"<label for="plugin-version">Version</label>"#,
        r#"<label for="plugin-file">Component (.wasm)</label>"#,
        "First-party plugins",
        "whatsapp-cloud",
    ] {
        assert!(body.contains(label), "{label}: {body}");
    }

    // Without the CSRF token: refused, nothing stored.
    let (status, _) = upload(&s, &owner, "", "chat", "1.0.0", &simple).await;
    assert_eq!(status, 403);
    let listed = api(&s, &key, "/v1/plugins").await;
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["first_party"] == true),
        "{listed}"
    );

    // Two versions; a file that is not a component says why.
    let (status, body) = upload(&s, &owner, &owner.csrf, "chat", "1.0.0", &simple).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("Uploaded chat 1.0.0."), "{body}");
    let hostile = wasm(switchboard_artifacts::test_guests::HOSTILE);
    let (status, _) = upload(&s, &owner, &owner.csrf, "chat", "2.0.0", &hostile).await;
    assert_eq!(status, 201);
    let (status, body) = upload(&s, &owner, &owner.csrf, "chat", "3.0.0", b"not wasm").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("Not uploaded:"), "{body}");
    let versions: Vec<String> = api(&s, &key, "/v1/plugins").await["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "chat")
        .map(|p| p["version"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(versions, ["1.0.0", "2.0.0"]);

    // A channel on 1.0.0 is listed under the plugin.
    let r = s
        .http
        .post(s.url("/v1/channels"))
        .bearer_auth(&key)
        .json(&json!({ "name": "Support chat", "adapter": "chat@1.0.0", "config": { "secret": "simplechat-secret", "mode": "ok" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let channel = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = page(&s, &owner, "/console/plugins").await;
    assert!(body.contains("Version for Support chat"), "{body}");
    assert!(body.contains("runs <strong>1.0.0</strong>"), "{body}");
    assert!(!body.contains("Roll back chat on Support chat"), "{body}");

    // Activate 2.0.0 (refused without the token), then roll back.
    let no_token = [("csrf", ""), ("channel_id", &channel), ("version", "2.0.0")];
    assert_eq!(
        form(&s, &owner, "/console/plugins/chat/activate", &no_token)
            .await
            .0,
        403
    );
    assert_eq!(adapter_version(&s, &key, &channel).await.0, "1.0.0");
    let (status, body) = form(
        &s,
        &owner,
        "/console/plugins/chat/activate",
        &[
            ("csrf", &owner.csrf),
            ("channel_id", &channel),
            ("version", "2.0.0"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("chat 2.0.0 is active."), "{body}");
    assert_eq!(
        adapter_version(&s, &key, &channel).await,
        (json!("2.0.0"), json!("1.0.0"))
    );
    // A version that does not exist: the page says so.
    let (status, body) = form(
        &s,
        &owner,
        "/console/plugins/chat/activate",
        &[
            ("csrf", &owner.csrf),
            ("channel_id", &channel),
            ("version", "9.9.9"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("has no version"), "{body}");
    let (status, body) = form(
        &s,
        &owner,
        "/console/plugins/chat/rollback",
        &[("csrf", &owner.csrf), ("channel_id", &channel)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(adapter_version(&s, &key, &channel).await.0, "1.0.0");
}
on_both!(plugins_are_uploaded_activated_and_rolled_back_in_the_console);

async fn a_channel_page_shows_its_qr_code_and_guardrail_settings(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key, email) = tenant_with_owner(&s, "channel-page").await;
    let owner = sign_in(&s, &email, crate::console::PASSWORD).await;

    // Created from the form, with the number customers message.
    let r = no_redirects()
        .post(s.url("/console/channels"))
        .header("cookie", &owner.cookie)
        .form_body(&[
            ("csrf", &owner.csrf),
            ("adapter", "whatsapp-cloud"),
            ("name", "Front desk"),
            ("cfg.phone_number_id", "pn-qr-1"),
            ("cfg.app_secret", "app-secret"),
            ("cfg.access_token", "token"),
            ("cfg.display_phone_number", "+1 555 000 9999"),
            ("guardrails", "consent\nprohibited-topics"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let path = r.headers()["location"].to_str().unwrap().to_string();
    let id = path.trim_start_matches("/console/channels/").to_string();

    let (status, body) = page(&s, &owner, &path).await;
    assert_eq!(status, 200);
    assert!(
        body.contains(r#"alt="QR code of https://wa.me/15550009999""#),
        "{body}"
    );
    assert!(
        body.contains(r#"src="data:image/svg+xml;base64,"#),
        "{body}"
    );
    assert!(
        body.contains(r#"<label for="gcfg-1">Settings of prohibited-topics (key = value, one per line)</label>"#),
        "{body}"
    );

    // Settings and failure policy of one guardrail, saved from the form.
    let save = |settings: &'static str, fail: &'static str| {
        vec![
            ("adapter", "whatsapp-cloud"),
            ("name", "Front desk"),
            ("cfg.phone_number_id", "pn-qr-1"),
            ("cfg.display_phone_number", "+1 555 000 9999"),
            ("guardrails", "consent\nprohibited-topics"),
            ("gcfg.consent", ""),
            ("gcfg.prohibited-topics", settings),
            ("gfail.prohibited-topics", fail),
            ("enabled", "1"),
        ]
    };
    let mut pairs = save("phrases = lottery, casino\naction = block", "fail-open");
    pairs.push(("csrf", &owner.csrf));
    let (status, body) = form(&s, &owner, &path, &pairs).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Saved."), "{body}");
    let ch = api(&s, &key, &format!("/v1/channels/{id}")).await;
    let topics = &ch["bindings"][2];
    assert_eq!(topics["plugin"], "prohibited-topics", "{ch}");
    assert_eq!(
        topics["config"],
        json!({ "phrases": "lottery, casino", "action": "block" })
    );
    assert_eq!(topics["on_failure"], "fail-open");
    // The page shows them back; the secrets kept their values.
    let (_, body) = page(&s, &owner, &path).await;
    assert!(body.contains("phrases = lottery, casino"), "{body}");
    assert_eq!(ch["config"]["app_secret"], "set", "{ch}");

    // A line that is not `key = value` is refused, and nothing changes.
    let mut pairs = save("lottery", "fail-closed");
    pairs.push(("csrf", &owner.csrf));
    let (status, body) = form(&s, &owner, &path, &pairs).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("Settings of prohibited-topics, line 1"),
        "{body}"
    );
    let again = api(&s, &key, &format!("/v1/channels/{id}")).await;
    assert_eq!(again["bindings"][2]["on_failure"], "fail-open");
}
on_both!(a_channel_page_shows_its_qr_code_and_guardrail_settings);
