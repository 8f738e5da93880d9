//! The `twilio-sms` component through the real server: signed form webhooks
//! in, deduplication, forged signatures, status callbacks.
//!
//! The channel's `webhook_url` is the URL "configured in Twilio". Most tests
//! set a public URL, as when the server sits behind a proxy — the adapter
//! signs over `webhook_url` + the query string received, whatever host the
//! request actually reached; one test leaves it unset, so the server fills in
//! the channel's own webhook URL.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};
use crate::on_both;

pub(crate) const AUTH_TOKEN: &str = "twilio-test-auth-token";
pub(crate) const PUBLIC_URL: &str = "https://sms.example.test/twilio/inbound";

/// A twilio-sms channel; returns its id.
async fn twilio_channel(s: &TestServer, key: &str) -> String {
    let body = json!({
        "name": "SMS",
        "adapter": "twilio-sms",
        // A number of its own: one active channel per number, and the
        // PostgreSQL database is shared by every test.
        "config": { "account_sid": "AC0123", "auth_token": AUTH_TOKEN, "from": own_number(), "webhook_url": PUBLIC_URL }
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
    assert_eq!(
        v["channel"]["config"]["auth_token"], "set",
        "the auth token is a secret: {v}"
    );
    v["id"].as_str().unwrap().to_string()
}

/// A random US-style number for a channel's `from`.
pub(crate) fn own_number() -> String {
    format!(
        "+1{}",
        u64::from_str_radix(&crate::harness::unique(), 16).unwrap() % 10_000_000_000
    )
}

/// Twilio's signature: base64(HMAC-SHA1(token, url + sorted key/value pairs)).
fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn form_encode(params: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                b => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// POST `params` to the channel's webhook (with `query`), signed as Twilio
/// would sign them for `PUBLIC_URL?query` under `token`.
pub(crate) async fn post_form(
    s: &TestServer,
    channel: &str,
    query: &str,
    params: &[(&str, &str)],
    token: &str,
) -> reqwest::Response {
    let suffix = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let signature = twilio_signature(token, &format!("{PUBLIC_URL}{suffix}"), params);
    s.http
        .post(s.url(&format!("/webhooks/{channel}{suffix}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .header("i-twilio-idempotency-token", "idem-1")
        .body(form_encode(params))
        .send()
        .await
        .unwrap()
}

const INBOUND: &[(&str, &str)] = &[
    ("ToCountry", "US"),
    ("SmsMessageSid", "SMe287d7109a5a925f182f0e07fe5b223b"),
    ("NumMedia", "0"),
    ("SmsSid", "SMe287d7109a5a925f182f0e07fe5b223b"),
    ("SmsStatus", "received"),
    ("Body", "Hello from SMS & more"),
    ("To", "+12028831111"),
    ("NumSegments", "1"),
    ("MessageSid", "SMe287d7109a5a925f182f0e07fe5b223b"),
    ("AccountSid", "AC0123"),
    ("From", "+14133881111"),
    ("ApiVersion", "2010-04-01"),
];

async fn signed_sms_is_stored_once(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("twilio").await;
    let ch = twilio_channel(&s, &key).await;
    let r = post_form(&s, &ch, "src=twilio", INBOUND, AUTH_TOKEN).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    // Twilio retries the same message: 200, nothing new.
    let r = post_form(&s, &ch, "src=twilio", INBOUND, AUTH_TOKEN).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["received"]["duplicates"], 1, "{v}");
    let msgs = s.all_messages(&key, &ch).await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let m = &msgs[0];
    assert_eq!(m["external_id"], "SMe287d7109a5a925f182f0e07fe5b223b");
    assert_eq!(m["direction"], "inbound");
    assert_eq!(m["text"], "Hello from SMS & more");
    let (status, contact) = s
        .get(
            &key,
            &format!("/v1/contacts/{}", m["contact_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(contact["phone"], "14133881111");
    assert_eq!(contact["identities"][0]["address"], "+14133881111");
    s.stop().await;
}
on_both!(signed_sms_is_stored_once);

async fn forged_twilio_signatures_are_401(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("twilio-forged").await;
    let ch = twilio_channel(&s, &key).await;
    // Wrong token.
    assert_eq!(
        post_form(&s, &ch, "", INBOUND, "not-the-token")
            .await
            .status(),
        401
    );
    // Signed for one query string, sent with another.
    let signature = twilio_signature(AUTH_TOKEN, &format!("{PUBLIC_URL}?a=1"), INBOUND);
    let r = s
        .http
        .post(s.url(&format!("/webhooks/{ch}?a=2")))
        .header("x-twilio-signature", signature)
        .body(form_encode(INBOUND))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // No signature at all.
    let r = s
        .http
        .post(s.url(&format!("/webhooks/{ch}")))
        .body(form_encode(INBOUND))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_signature");
    assert!(s.all_messages(&key, &ch).await.is_empty());
    s.stop().await;
}
on_both!(forged_twilio_signatures_are_401);

async fn status_callbacks_track_outbound_messages(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("twilio-status").await;
    let ch = twilio_channel(&s, &key).await;
    let sid = "SM0b6e2697aae04182a9f5b5c7a8994c7f";
    for status in ["sent", "delivered", "sent"] {
        let params = [
            ("MessageSid", sid),
            ("MessageStatus", status),
            ("To", "+14133881111"),
            ("From", "+12028831111"),
            ("AccountSid", "AC0123"),
        ];
        let r = post_form(&s, &ch, "", &params, AUTH_TOKEN).await;
        assert_eq!(r.status(), 200, "{status}: {:?}", r.text().await);
    }
    let msgs = s.all_messages(&key, &ch).await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0]["external_id"], sid);
    assert_eq!(msgs[0]["direction"], "outbound");
    assert_eq!(
        msgs[0]["status"], "delivered",
        "a late `sent` never moves it back"
    );

    // A carrier opt-out failure is terminal.
    let failed = "SMfailed000000000000000000000000";
    let params = [
        ("MessageSid", failed),
        ("MessageStatus", "failed"),
        ("ErrorCode", "21610"),
        ("To", "+14133881111"),
        ("From", "+12028831111"),
    ];
    assert_eq!(
        post_form(&s, &ch, "", &params, AUTH_TOKEN).await.status(),
        200
    );
    let msgs = s.all_messages(&key, &ch).await;
    let m = msgs.iter().find(|m| m["external_id"] == failed).unwrap();
    assert_eq!(m["status"], "failed");
    s.stop().await;
}
on_both!(status_callbacks_track_outbound_messages);

async fn unset_webhook_url_defaults_to_the_channels_own(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("twl-own").await;
    let body = json!({ "name": "SMS", "adapter": "twilio-sms", "config": { "account_sid": "AC0123", "auth_token": AUTH_TOKEN, "from": own_number() } });
    let r = s
        .http
        .post(s.url("/v1/channels"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let ch = v["id"].as_str().unwrap().to_string();
    let own = v["webhook_url"].as_str().unwrap().to_string();
    assert_eq!(v["channel"]["config"]["webhook_url"], own.as_str(), "{v}");
    let params = [
        ("MessageSid", "SMown1"),
        ("From", "+15550001111"),
        ("To", "+12028831111"),
        ("Body", "hi"),
        ("NumMedia", "0"),
    ];
    let sig = twilio_signature(AUTH_TOKEN, &own, &params);
    let r = s
        .http
        .post(&own)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sig)
        .body(form_encode(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(s.all_messages(&key, &ch).await.len(), 1);
    s.stop().await;
}
on_both!(unset_webhook_url_defaults_to_the_channels_own);

async fn carrier_opt_out_is_recorded_with_its_source(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (tenant, key) = s.tenant("twl-stop").await;
    // The self-generated STOP body, signed by twilio-python for this URL.
    let fx: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/twilio/selfgen_signed_inbound_whatsapp_and_stop.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let stop = &fx["sms_inbound_stop_with_optouttype"];
    let body = json!({ "name": "SMS", "adapter": "twilio-sms", "config": { "account_sid": "AC0123", "auth_token": fx["auth_token"], "webhook_url": fx["url"] } });
    let r = s
        .http
        .post(s.url("/v1/channels"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let ch = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .http
        .post(s.url(&format!("/webhooks/{ch}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-twilio-signature",
            stop["x_twilio_signature"].as_str().unwrap(),
        )
        .body(stop["raw_body"].as_str().unwrap().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let audit = s.db().audit_entries(&tenant, 20).await.unwrap();
    let opt_out = audit
        .iter()
        .find(|e| e.action == "consent.opt_out")
        .expect("opt-out recorded");
    assert_eq!(opt_out.detail["source"], "provider");
    assert_eq!(opt_out.detail["channel_id"], ch.as_str());
    let msgs = s.all_messages(&key, &ch).await;
    assert_eq!(msgs[0]["text"], "Stop");
    assert_eq!(opt_out.target, msgs[0]["contact_id"].as_str().unwrap());
    s.stop().await;
}
on_both!(carrier_opt_out_is_recorded_with_its_source);

async fn twilio_whatsapp_end_to_end(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("twl-wa").await;
    // The self-generated WhatsApp image body, signed by twilio-python for
    // the fixture's URL (configured as this channel's webhook_url).
    let fx: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/twilio/selfgen_signed_inbound_whatsapp_and_stop.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let image = &fx["whatsapp_inbound_image"];
    let body = json!({ "name": "WA", "adapter": "twilio-whatsapp", "config": { "account_sid": "AC00000000000000000000000000000000", "auth_token": fx["auth_token"], "webhook_url": fx["url"], "from": own_number() } });
    let r = s
        .http
        .post(s.url("/v1/channels"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let ch = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let raw = image["raw_body"].as_str().unwrap().to_string();
    let send = |body: String| {
        let req = s
            .http
            .post(s.url(&format!("/webhooks/{ch}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "x-twilio-signature",
                image["x_twilio_signature"].as_str().unwrap(),
            )
            .body(body);
        async move { req.send().await.unwrap() }
    };
    assert_eq!(send(raw.clone()).await.status(), 200);
    let r = send(raw.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["received"]["duplicates"],
        1
    );
    // One parameter changed after signing: forged.
    assert_eq!(
        send(raw.replace("NumSegments=1", "NumSegments=2"))
            .await
            .status(),
        401
    );
    let msgs = s.all_messages(&key, &ch).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["external_id"], "SM11111111111111111111111111111111");
    assert_eq!(msgs[0]["text"], "¿Tienen envío? 😀");
    assert_eq!(msgs[0]["attachments"][0]["mime_type"], "image/jpeg");
    let (_, contact) = s
        .get(
            &key,
            &format!("/v1/contacts/{}", msgs[0]["contact_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(contact["display_name"], "Ana María");
    s.stop().await;
}
on_both!(twilio_whatsapp_end_to_end);

/// A twilio-sms channel sending through `api_base` (a mock of the REST
/// API), answered by a static persona; returns (channel id, from number).
async fn replying_twilio_channel(s: &TestServer, key: &str, api_base: &str) -> (String, String) {
    let persona = s
        .persona(
            key,
            json!({ "name": "sms", "responder": { "kind": "static", "text": "Got it, thanks!" } }),
        )
        .await;
    let from = own_number();
    let body = json!({
        "name": "SMS",
        "adapter": "twilio-sms",
        "config": { "account_sid": "AC0123", "auth_token": AUTH_TOKEN, "from": from, "webhook_url": PUBLIC_URL, "api_base_url": api_base },
        "persona_id": persona,
    });
    let (status, v) = s.post_json(key, "/v1/channels", &body).await;
    assert_eq!(status, 201, "{v}");
    (v["id"].as_str().unwrap().to_string(), from)
}

/// Twilio's documented 201 answer to `POST …/Messages.json`.
fn twilio_created(sid: &str, to: &str, from: &str, body: &str) -> String {
    json!({
        "account_sid": "AC0123", "api_version": "2010-04-01", "body": body,
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000", "date_sent": null, "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
        "direction": "outbound-api", "error_code": null, "error_message": null, "from": from,
        "messaging_service_sid": null, "num_media": "0", "num_segments": "1", "price": null, "price_unit": null,
        "sid": sid, "status": "queued", "subresource_uris": { "media": format!("/2010-04-01/Accounts/AC0123/Messages/{sid}/Media.json") },
        "to": to, "uri": format!("/2010-04-01/Accounts/AC0123/Messages/{sid}.json")
    })
    .to_string()
}

async fn sms_reply_is_sent_through_the_rest_api(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = crate::mock::MockProvider::start(|r, n| {
        let form = r.form();
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        (
            201,
            twilio_created(
                &format!("SMmock{n:028}"),
                &get("To"),
                &get("From"),
                &get("Body"),
            ),
        )
    })
    .await;
    let (_, key) = s.tenant("twl-send").await;
    let (ch, from) = replying_twilio_channel(&s, &key, &api.base).await;
    assert_eq!(
        post_form(&s, &ch, "", INBOUND, AUTH_TOKEN).await.status(),
        200
    );

    let sent = api.wait_for(1).await;
    let req = &sent[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/2010-04-01/Accounts/AC0123/Messages.json");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("AC0123:{AUTH_TOKEN}"));
    assert_eq!(
        req.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    assert!(
        req.header("content-type")
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    let form = req.form();
    assert!(
        form.contains(&("To".into(), "+14133881111".into())),
        "{form:?}"
    );
    assert!(form.contains(&("From".into(), from.clone())), "{form:?}");
    assert!(
        form.contains(&("Body".into(), "Got it, thanks!".into())),
        "{form:?}"
    );

    let out = s.settled_outbound(&key, &ch, 1).await;
    let sid = format!("SMmock{:028}", 0);
    assert_eq!(out[0]["external_id"], sid.as_str());
    assert_eq!(out[0]["status"], "sent");
    // Twilio's status callback for it.
    let callback = [
        ("MessageSid", sid.as_str()),
        ("MessageStatus", "delivered"),
        ("AccountSid", "AC0123"),
        ("From", from.as_str()),
        ("To", "+14133881111"),
        ("ApiVersion", "2010-04-01"),
    ];
    assert_eq!(
        post_form(&s, &ch, "", &callback, AUTH_TOKEN).await.status(),
        200
    );
    let id = out[0]["id"].as_str().unwrap();
    s.eventually(&key, &format!("/v1/messages/{id}"), |m| {
        m["status"] == "delivered"
    })
    .await;
    s.stop().await;
}
on_both!(sms_reply_is_sent_through_the_rest_api);

async fn error_21610_fails_the_send_and_opts_the_contact_out(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = crate::mock::MockProvider::start(|_, _| {
        (
            400,
            json!({ "code": 21610, "message": "Attempt to send to unsubscribed recipient", "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400 }).to_string(),
        )
    })
    .await;
    let (tenant, key) = s.tenant("twl-21610").await;
    let (ch, _) = replying_twilio_channel(&s, &key, &api.base).await;
    assert_eq!(
        post_form(&s, &ch, "", INBOUND, AUTH_TOKEN).await.status(),
        200
    );
    let out = s.settled_outbound(&key, &ch, 1).await;
    assert_eq!(out[0]["status"], "failed");
    assert_eq!(out[0]["error"]["code"], "21610", "{}", out[0]);
    assert_eq!(api.requests().len(), 1, "not retried");
    let (_, contact) = s
        .get(
            &key,
            &format!("/v1/contacts/{}", out[0]["contact_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(contact["identities"][0]["opted_out"], true, "{contact}");
    assert_eq!(contact["identities"][0]["consent_source"], "provider");
    // The next message is answered by nobody: the reply is refused.
    let mut next = INBOUND.to_vec();
    next.retain(|(k, _)| !matches!(*k, "MessageSid" | "SmsSid" | "SmsMessageSid" | "Body"));
    next.extend([
        ("MessageSid", "SM2"),
        ("SmsSid", "SM2"),
        ("SmsMessageSid", "SM2"),
        ("Body", "hello?"),
    ]);
    assert_eq!(
        post_form(&s, &ch, "", &next, AUTH_TOKEN).await.status(),
        200
    );
    loop {
        let audit = s.db().audit_entries(&tenant, 50).await.unwrap();
        if audit.iter().any(|e| e.action == "reply.refused") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(api.requests().len(), 1);
    s.stop().await;
}
on_both!(error_21610_fails_the_send_and_opts_the_contact_out);
