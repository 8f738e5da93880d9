//! The `telegram` adapter over HTTP: a channel created through the API,
//! Bot API updates from `tests/fixtures/telegram/` posted to its webhook
//! with the `X-Telegram-Bot-Api-Secret-Token` header.

use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};
use crate::on_both;

const SECRET_TOKEN: &str = "tg-secret_token-1";

/// A fixture's bytes, exactly as saved.
fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../tests/fixtures/telegram/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A telegram channel; returns its id.
async fn telegram_channel(s: &TestServer, key: &str) -> String {
    let body = json!({
        "name": "Telegram",
        "adapter": "telegram",
        "config": { "bot_token": "123:ABC", "secret_token": SECRET_TOKEN }
    });
    let r = s
        .http
        .post(s.url("/v1/channels"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// POST an update with the given secret header (or none).
async fn post_update(
    s: &TestServer,
    channel: &str,
    body: &[u8],
    secret: Option<&str>,
) -> reqwest::Response {
    let mut req = s
        .http
        .post(s.url(&format!("/webhooks/{channel}")))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(secret) = secret {
        req = req.header("x-telegram-bot-api-secret-token", secret);
    }
    req.send().await.unwrap()
}

async fn update_is_stored_once(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("tg-store").await;
    let ch = telegram_channel(&s, &key).await;
    let body = fixture("courier_helloMsg.json");
    let r = post_update(&s, &ch, &body, Some(SECRET_TOKEN)).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["received"]["inserted"], 1, "{v}");
    // Telegram redelivers the same update_id: 200 again, nothing new.
    let r = post_update(&s, &ch, &body, Some(SECRET_TOKEN)).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["received"]["duplicates"], 1, "{v}");
    assert_eq!(v["received"]["inserted"], 0, "{v}");

    let msgs = s.all_messages(&key, &ch).await;
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m["external_id"], "174114370");
    assert_eq!(m["direction"], "inbound");
    assert_eq!(m["text"], "Hello World");
    assert_eq!(m["kind"], "text");
    assert_eq!(m["channel_id"], ch.as_str());
    let (status, contact) = s
        .get(
            &key,
            &format!("/v1/contacts/{}", m["contact_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 200, "{contact}");
    assert_eq!(contact["display_name"], "Nic Pottier");
    assert_eq!(contact["identities"][0]["address"], "3527065");
    s.stop().await;
}
on_both!(update_is_stored_once);

async fn wrong_or_missing_secret_is_401(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("tg-forged").await;
    let ch = telegram_channel(&s, &key).await;
    let body = fixture("courier_helloMsg.json");
    let r = post_update(&s, &ch, &body, Some("not-the-secret")).await;
    assert_eq!(r.status(), 401);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_signature");
    assert_eq!(post_update(&s, &ch, &body, None).await.status(), 401);
    assert!(s.all_messages(&key, &ch).await.is_empty());
    s.stop().await;
}
on_both!(wrong_or_missing_secret_is_401);

async fn blocked_bot_and_other_updates_are_accepted(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("tg-kicked").await;
    let ch = telegram_channel(&s, &key).await;
    let r = post_update(
        &s,
        &ch,
        &fixture("teloxide_update_0_my_chat_member.json"),
        Some(SECRET_TOKEN),
    )
    .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    // Update kinds the adapter ignores are still answered 200, so Telegram
    // does not redeliver them.
    let r = post_update(
        &s,
        &ch,
        &fixture("teloxide_update_71651297_chat_boost.json"),
        Some(SECRET_TOKEN),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["received"]["inserted"], 0, "{v}");
    s.stop().await;
}
on_both!(blocked_bot_and_other_updates_are_accepted);

async fn replies_go_to_send_message_and_a_blocked_bot_opts_out(backend: Backend) {
    let s = TestServer::start(backend).await;
    // First sendMessage succeeds (the documented `{ok, result: Message}`),
    // the second finds the bot blocked.
    let api = crate::mock::MockProvider::start(|r, n| {
        if n == 0 {
            let chat = r.json()["chat_id"].clone();
            (
                200,
                json!({ "ok": true, "result": { "message_id": 4242, "date": 1700000000, "chat": { "id": chat, "type": "private" }, "text": r.json()["text"] } }).to_string(),
            )
        } else {
            (
                403,
                json!({ "ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user" }).to_string(),
            )
        }
    })
    .await;
    let (_, key) = s.tenant("tg-send").await;
    let persona = s
        .persona(
            &key,
            json!({ "name": "tg", "responder": { "kind": "static", "text": "Hello {{contact_name}}" } }),
        )
        .await;
    let body = json!({
        "name": "Telegram",
        "adapter": "telegram",
        "config": { "bot_token": "123:ABC", "secret_token": SECRET_TOKEN, "api_base_url": api.base },
        "persona_id": persona,
    });
    let (status, v) = s.post_json(&key, "/v1/channels", &body).await;
    assert_eq!(status, 201, "{v}");
    let ch = v["id"].as_str().unwrap().to_string();

    let update = fixture("teloxide_update_306197398_message.json");
    assert_eq!(
        post_update(&s, &ch, &update, Some(SECRET_TOKEN))
            .await
            .status(),
        200
    );
    let sent = api.wait_for(1).await;
    assert_eq!(sent[0].path, "/bot123:ABC/sendMessage");
    let body = sent[0].json();
    let incoming: Value = serde_json::from_slice(&update).unwrap();
    assert_eq!(body["chat_id"], incoming["message"]["chat"]["id"]);
    assert!(
        body["text"].as_str().unwrap().starts_with("Hello "),
        "{body}"
    );
    assert!(body.get("reply_parameters").is_none(), "{body}");
    let out = s.settled_outbound(&key, &ch, 1).await;
    assert_eq!(out[0]["external_id"], "4242");

    // Another message from the same chat; the bot was blocked meanwhile.
    let mut again = incoming.clone();
    again["update_id"] = json!(incoming["update_id"].as_i64().unwrap() + 1);
    again["message"]["message_id"] = json!(incoming["message"]["message_id"].as_i64().unwrap() + 1);
    let again = serde_json::to_vec(&again).unwrap();
    assert_eq!(
        post_update(&s, &ch, &again, Some(SECRET_TOKEN))
            .await
            .status(),
        200
    );
    let out = s.settled_outbound(&key, &ch, 2).await;
    assert_eq!(out[1]["status"], "failed");
    assert_eq!(out[1]["error"]["code"], "403", "{}", out[1]);
    let (_, contact) = s
        .get(
            &key,
            &format!("/v1/contacts/{}", out[1]["contact_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(contact["identities"][0]["opted_out"], true, "{contact}");
    s.stop().await;
}
on_both!(replies_go_to_send_message_and_a_blocked_bot_opts_out);

/// `/stop`, `/start` and `/help` are the consent keywords on Telegram: the
/// consent guardrail reads the bot's commands (with or without the bot's
/// name) as STOP, START and HELP.
async fn bot_commands_are_consent_keywords(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("tg-commands").await;
    let ch = telegram_channel(&s, &key).await;
    let hello: Value = serde_json::from_slice(&fixture("courier_helloMsg.json")).unwrap();
    let command = |n: i64, text: &str| {
        let mut u = hello.clone();
        u["update_id"] = json!(hello["update_id"].as_i64().unwrap() + n);
        u["message"]["message_id"] = json!(hello["message"]["message_id"].as_i64().unwrap() + n);
        u["message"]["text"] = json!(text);
        serde_json::to_vec(&u).unwrap()
    };
    let opted_out = |contact: &Value| contact["identities"][0]["opted_out"].clone();

    let r = post_update(&s, &ch, &command(1, "/stop@AcmeBot"), Some(SECRET_TOKEN)).await;
    assert_eq!(r.status(), 200);
    let msgs = s.all_messages(&key, &ch).await;
    let contact_path = format!("/v1/contacts/{}", msgs[0]["contact_id"].as_str().unwrap());
    let (_, contact) = s.get(&key, &contact_path).await;
    assert_eq!(opted_out(&contact), true, "{contact}");

    let r = post_update(&s, &ch, &command(2, "/start"), Some(SECRET_TOKEN)).await;
    assert_eq!(r.status(), 200);
    let (_, contact) = s.get(&key, &contact_path).await;
    assert_eq!(opted_out(&contact), false, "{contact}");

    // A command that is not a consent word is just a message.
    let r = post_update(&s, &ch, &command(3, "/stop now"), Some(SECRET_TOKEN)).await;
    assert_eq!(r.status(), 200);
    let (_, contact) = s.get(&key, &contact_path).await;
    assert_eq!(opted_out(&contact), false, "{contact}");
    s.stop().await;
}
on_both!(bot_commands_are_consent_keywords);
