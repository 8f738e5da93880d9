//! Media both ways over loopback HTTP, on both databases: `POST
//! /v1/messages` with media reaches each provider (a local fake) in its wire
//! format; an unsupported type is a 422 with nothing stored or queued; and
//! `GET /v1/messages/{id}/media/{n}` fetches an inbound attachment through
//! each provider's protocol (WhatsApp's two bearer steps, Telegram's
//! getFile, Twilio's Basic auth), capped in size and scoped to the tenant.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use crate::harness::{APP_SECRET, Backend, TestServer, unique, wa_text};
use crate::mock::Recorded;
use crate::on_both;

/// The bytes every fake serves as "the media": not UTF-8, so a test that
/// passes cannot be comparing text.
fn media_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8 | 0x80).collect()
}

type Answer = dyn Fn(&Recorded, &str) -> Response + Send + Sync;

/// A fake provider: records every request and answers with `answer(request,
/// its own base URL)`.
struct Fake {
    base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct FakeState {
    requests: Arc<Mutex<Vec<Recorded>>>,
    answer: Arc<Answer>,
    base: String,
}

async fn fake_handler(
    State(st): State<FakeState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = Recorded {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body: body.to_vec(),
    };
    st.requests.lock().unwrap().push(r.clone());
    (st.answer)(&r, &st.base)
}

impl Fake {
    async fn start(answer: impl Fn(&Recorded, &str) -> Response + Send + Sync + 'static) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = FakeState {
            requests: requests.clone(),
            answer: Arc::new(answer),
            base: base.clone(),
        };
        let app = axum::Router::new().fallback(fake_handler).with_state(state);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fake {
            base,
            requests,
            task,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Wait for a request matching `pred` (panics after 20 s).
    async fn wait_for(&self, pred: impl Fn(&Recorded) -> bool) -> Recorded {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(r) = self.requests().into_iter().find(|r| pred(r)) {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no matching request: {:?}",
                self.requests()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

fn json_response(status: u16, v: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

fn bytes_response(content_type: &str, bytes: Vec<u8>) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(Body::from(bytes))
        .unwrap()
}

/// GET the media endpoint: (status, content-type, body bytes).
async fn get_media(s: &TestServer, key: &str, id: &str, n: usize) -> (u16, String, Vec<u8>) {
    let r = s
        .http
        .get(s.url(&format!("/v1/messages/{id}/media/{n}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (
        status,
        ct,
        r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
    )
}

/// The channel's inbound messages (as the API lists them).
async fn inbound(s: &TestServer, key: &str, channel: &str) -> Vec<Value> {
    s.all_messages(key, channel)
        .await
        .into_iter()
        .filter(|m| m["direction"] == "inbound")
        .collect()
}

// ------------------------------------------------------------ WhatsApp

const WA_TOKEN: &str = "EAAG-test";

/// The Graph API: sends accepted; media id `65463453` looked up (bearer
/// checked) to a URL on this fake, which serves the bytes (bearer checked);
/// media id `big` to a file over the server's cap.
async fn graph() -> Fake {
    Fake::start(|r, base| {
        let bearer = r.header("authorization") == Some(&format!("Bearer {WA_TOKEN}"));
        if !bearer {
            return json_response(401, json!({ "error": { "message": "Invalid OAuth access token", "code": 190 } }));
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", p) if p.ends_with("/messages") => json_response(
                200,
                json!({ "messaging_product": "whatsapp", "contacts": [{ "input": "x", "wa_id": "x" }], "messages": [{ "id": format!("wamid.media-{}", unique()) }] }),
            ),
            ("GET", "/v21.0/65463453") => json_response(
                200,
                json!({ "url": format!("{base}/lookaside/65463453?ext=1"), "mime_type": "image/jpeg", "id": "65463453" }),
            ),
            ("GET", "/v21.0/big") => json_response(200, json!({ "url": format!("{base}/lookaside/big") })),
            ("GET", "/lookaside/65463453?ext=1") => bytes_response("image/jpeg", media_bytes(3000)),
            ("GET", "/lookaside/big") => bytes_response("video/mp4", media_bytes(5000)),
            _ => json_response(404, json!({ "error": { "message": "no such path", "code": 100 } })),
        }
    })
    .await
}

/// A customer's image message (pywa's fixture) with media id `media_id`.
fn wa_image(id: &str, media_id: &str) -> Vec<u8> {
    let mut v = crate::harness::fixture("pywa_message_image.json");
    let m = &mut v["entry"][0]["changes"][0]["value"]["messages"][0];
    m["id"] = json!(id);
    m["image"]["id"] = json!(media_id);
    serde_json::to_vec(&v).unwrap()
}

async fn whatsapp_sends_media_by_link_and_refuses_unsupported_types(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = graph().await;
    let (_, key) = s.tenant("wamedia").await;
    let ch = s.whatsapp_channel_to(&key, &graph.base, &[], None).await;
    // The customer writes first (WhatsApp's 24-hour window).
    let r = s
        .post_signed(
            &ch,
            &wa_text(&format!("wamid.{}", unique()), "hi"),
            APP_SECRET,
        )
        .await;
    assert_eq!(r.status(), 200);
    let to = "16315551181";

    // Unsupported: refused at the API, nothing stored, nothing sent.
    let (status, v) = s
        .post_json(
            &key,
            "/v1/messages",
            &json!({ "channel_id": ch, "to": to, "media": [{ "url": "http://127.0.0.1:9/a.gif", "mime_type": "image/gif" }] }),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_media");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("image/gif") && message.contains("whatsapp-cloud"),
        "{message}"
    );
    // Malformed: a bad MIME type, a URL the provider cannot be sent to.
    for media in [
        json!([{ "url": "https://cdn.example.com/a.png", "mime_type": "png" }]),
        json!([{ "url": "http://cdn.example.com/a.png", "mime_type": "image/png" }]),
        json!([{ "url": "https://10.0.0.8/a.png", "mime_type": "image/png" }]),
    ] {
        let (status, v) = s
            .post_json(
                &key,
                "/v1/messages",
                &json!({ "channel_id": ch, "to": to, "media": media }),
            )
            .await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (422, Some("invalid_media")),
            "{v}"
        );
    }
    let (status, v) = s
        .post_json(&key, "/v1/messages", &json!({ "channel_id": ch, "to": to }))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("content_required")),
        "{v}"
    );
    assert!(s.outbound(&key, &ch).await.is_empty(), "nothing stored");
    let (_, jobs) = s.get(&key, "/v1/dead-letters").await;
    assert_eq!(jobs["data"], json!([]));

    // A short text with one image: one message, the text as its caption.
    let url = "http://127.0.0.1:9/invoice.jpg";
    let (status, v) = s
        .post_json(
            &key,
            "/v1/messages",
            &json!({ "channel_id": ch, "to": to, "text": "Your invoice", "media": [{ "url": url, "mime_type": "image/jpeg" }] }),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(
        v["attachments"][0]["url"], url,
        "stored with the message: {v}"
    );
    let sent = graph
        .wait_for(|r| r.method == "POST" && r.json()["type"] == "image")
        .await;
    assert_eq!(
        sent.json()["image"],
        json!({ "link": url, "caption": "Your invoice" })
    );
    assert_eq!(sent.json()["to"], to);

    // Audio and a document: audio has no caption on WhatsApp, so its
    // caption follows as a text; the document keeps its own.
    let (status, v) = s
        .post_json(
            &key,
            "/v1/messages",
            &json!({ "channel_id": ch, "to": to, "media": [
                { "url": "http://127.0.0.1:9/note.ogg", "mime_type": "audio/ogg", "caption": "A voice note" },
                { "url": "http://127.0.0.1:9/terms.pdf", "mime_type": "application/pdf", "caption": "Terms" }
            ] }),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["parts"].as_array().unwrap().len(), 3, "{v}");
    let doc = graph
        .wait_for(|r| r.method == "POST" && r.json()["type"] == "document")
        .await;
    assert_eq!(
        doc.json()["document"],
        json!({ "link": "http://127.0.0.1:9/terms.pdf", "caption": "Terms", "filename": "terms.pdf" })
    );
    let sends: Vec<Value> = graph
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.json())
        .collect();
    let audio = sends
        .iter()
        .position(|b| b["type"] == "audio")
        .expect("audio sent");
    assert_eq!(
        sends[audio]["audio"],
        json!({ "link": "http://127.0.0.1:9/note.ogg" })
    );
    assert_eq!(
        sends[audio + 1]["text"]["body"],
        "A voice note",
        "{sends:?}"
    );
    s.stop().await;
}
on_both!(whatsapp_sends_media_by_link_and_refuses_unsupported_types);

async fn whatsapp_inbound_media_is_fetched_in_two_steps(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.max_media_bytes = 4096).await;
    let graph = graph().await;
    let (_, key, owner) = crate::console::tenant_with_owner(&s, "wafetch").await;
    let (_, other) = s.tenant("wafetch-other").await;
    let ch = s.whatsapp_channel_to(&key, &graph.base, &[], None).await;
    let r = s
        .post_signed(
            &ch,
            &wa_image(&format!("wamid.{}", unique()), "65463453"),
            APP_SECRET,
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = s
        .post_signed(
            &ch,
            &wa_image(&format!("wamid.{}", unique()), "big"),
            APP_SECRET,
        )
        .await;
    assert_eq!(r.status(), 200);
    let messages = inbound(&s, &key, &ch).await;
    let id_of = |media_id: &str| {
        messages
            .iter()
            .find(|m| m["attachments"][0]["id"] == media_id)
            .unwrap_or_else(|| panic!("no message with media {media_id}: {messages:?}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let id = id_of("65463453");

    let (status, ct, body) = get_media(&s, &key, &id, 0).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(ct, "image/jpeg");
    assert_eq!(body, media_bytes(3000));
    // The lookup, then the download, both with the channel's token.
    let gets: Vec<String> = graph
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(gets, vec!["/v21.0/65463453", "/lookaside/65463453?ext=1"]);

    // Out of range, another tenant, an unknown id: 404.
    assert_eq!(get_media(&s, &key, &id, 1).await.0, 404);
    assert_eq!(get_media(&s, &other, &id, 0).await.0, 404);
    assert_eq!(get_media(&s, &key, "msg_nope", 0).await.0, 404);

    // Over the cap (4096 bytes): a clear 413.
    let r = s
        .http
        .get(s.url(&format!("/v1/messages/{}/media/0", id_of("big"))))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "media_too_large", "{v}");

    // In the console, the conversation lists the attachment; its link
    // (the session's cookie authorises the GET) gives the same bytes.
    let member = crate::console::sign_in(&s, &owner, crate::console::PASSWORD).await;
    let conversation = messages.iter().find(|m| m["id"] == id.as_str()).unwrap()["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = s
        .http
        .get(s.url(&format!("/console/conversations/{conversation}")))
        .header("cookie", &member.cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let link = format!("/v1/messages/{id}/media/0");
    assert!(page.contains(&format!(r#"href="{link}""#)), "{page}");
    assert!(page.contains("image: image/jpeg"), "{page}");
    let r = s
        .http
        .get(s.url(&link))
        .header("cookie", &member.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), media_bytes(3000));
    s.stop().await;
}
on_both!(whatsapp_inbound_media_is_fetched_in_two_steps);

// ------------------------------------------------------------ Telegram

const TG_TOKEN: &str = "123:ABC";
const TG_SECRET: &str = "tg-media-secret";

async fn bot_api() -> Fake {
    Fake::start(|r, _| {
        let ok = |result: Value| json_response(200, json!({ "ok": true, "result": result }));
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", p) if p.starts_with(&format!("/bot{TG_TOKEN}/send")) => {
                ok(json!({ "message_id": 77, "date": 0, "chat": { "id": 3527065, "type": "private" } }))
            }
            ("GET", p) if p == format!("/bot{TG_TOKEN}/getFile?file_id=AgAD-big") => {
                ok(json!({ "file_id": "AgAD-big", "file_unique_id": "u", "file_path": "photos/file_7.jpg" }))
            }
            ("GET", p) if p == format!("/file/bot{TG_TOKEN}/photos/file_7.jpg") => {
                bytes_response("image/jpeg", media_bytes(2500))
            }
            _ => json_response(404, json!({ "ok": false, "error_code": 404, "description": "Not Found" })),
        }
    })
    .await
}

async fn telegram_channel(s: &TestServer, key: &str, api: &str) -> String {
    let (status, v) = s
        .post_json(
            key,
            "/v1/channels",
            &json!({ "name": "Telegram", "adapter": "telegram", "config": { "bot_token": TG_TOKEN, "secret_token": TG_SECRET, "api_base_url": api } }),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn tg_photo(update_id: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "update_id": update_id,
        "message": {
            "message_id": 5, "date": 1700000000, "caption": "look",
            "from": { "id": 3527065, "is_bot": false, "first_name": "Ann" },
            "chat": { "id": 3527065, "type": "private", "first_name": "Ann" },
            "photo": [
                { "file_id": "AgAD-small", "file_unique_id": "s", "width": 90, "height": 90 },
                { "file_id": "AgAD-big", "file_unique_id": "b", "width": 800, "height": 800 }
            ]
        }
    }))
    .unwrap()
}

async fn telegram_media_both_ways(backend: Backend) {
    let s = TestServer::start(backend).await;
    let api = bot_api().await;
    let (_, key) = s.tenant("tgmedia").await;
    let ch = telegram_channel(&s, &key, &api.base).await;
    let r = s
        .http
        .post(s.url(&format!("/webhooks/{ch}")))
        .header("content-type", "application/json")
        .header("x-telegram-bot-api-secret-token", TG_SECRET)
        .body(tg_photo(u64::from_str_radix(&unique()[..8], 16).unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let messages = inbound(&s, &key, &ch).await;
    let id = messages[0]["id"].as_str().unwrap().to_string();

    // Inbound: getFile, then the file.
    let (status, ct, body) = get_media(&s, &key, &id, 0).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!((ct.as_str(), body), ("image/jpeg", media_bytes(2500)));

    // Outbound: sendPhoto with the caption, sendDocument for a PDF.
    let (status, v) = s
        .post_json(
            &key,
            "/v1/messages",
            &json!({ "channel_id": ch, "to": "3527065", "text": "Here it is", "media": [{ "url": "https://cdn.example.com/p.png", "mime_type": "image/png" }] }),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let (status, v) = s
        .post_json(
            &key,
            "/v1/messages",
            &json!({ "channel_id": ch, "to": "3527065", "media": [{ "url": "https://cdn.example.com/t.pdf", "mime_type": "application/pdf", "caption": "Terms" }] }),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let photo = api.wait_for(|r| r.path.ends_with("/sendPhoto")).await;
    assert_eq!(
        photo.json(),
        json!({ "chat_id": 3527065, "photo": "https://cdn.example.com/p.png", "caption": "Here it is" })
    );
    let doc = api.wait_for(|r| r.path.ends_with("/sendDocument")).await;
    assert_eq!(
        doc.json(),
        json!({ "chat_id": 3527065, "document": "https://cdn.example.com/t.pdf", "caption": "Terms" })
    );
    s.stop().await;
}
on_both!(telegram_media_both_ways);

// ------------------------------------------------------------ Twilio

async fn twilio_media_both_ways(backend: Backend) {
    use crate::twilio::{AUTH_TOKEN, own_number, post_form};
    let s = TestServer::start(backend).await;
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("AC0123:{AUTH_TOKEN}")
        )
    );
    let api = Fake::start(move |r, base| match (r.method.as_str(), r.path.as_str()) {
        // The CDN wants no credentials, and must not be given Twilio's.
        ("GET", "/cdn/ME2") if r.header("authorization").is_none() => {
            bytes_response("video/mp4", media_bytes(2200))
        }
        _ if r.header("authorization") != Some(basic.as_str()) => {
            json_response(401, json!({ "code": 20003, "message": "Authenticate", "status": 401 }))
        }
        ("POST", "/2010-04-01/Accounts/AC0123/Messages.json") => json_response(
            201,
            json!({ "sid": format!("SM{}", unique()), "status": "queued", "account_sid": "AC0123" }),
        ),
        ("GET", "/2010-04-01/Accounts/AC0123/Messages/MM1/Media/ME1") => {
            bytes_response("image/png", media_bytes(1800))
        }
        // Twilio's usual answer: a redirect to its CDN.
        ("GET", "/2010-04-01/Accounts/AC0123/Messages/MM2/Media/ME2") => Response::builder()
            .status(307)
            .header("location", format!("{base}/cdn/ME2"))
            .body(Body::empty())
            .unwrap(),
        _ => json_response(404, json!({ "code": 20404, "message": "not found", "status": 404 })),
    })
    .await;
    let (_, key) = s.tenant("twmedia").await;
    let from = own_number();
    let (status, v) = s
        .post_json(
            &key,
            "/v1/channels",
            &json!({ "name": "SMS", "adapter": "twilio-sms", "config": { "account_sid": "AC0123", "auth_token": AUTH_TOKEN, "from": from, "webhook_url": crate::twilio::PUBLIC_URL, "api_base_url": api.base } }),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let ch = v["id"].as_str().unwrap().to_string();

    // Inbound MMS: its MediaUrl0 is fetched with the account's Basic auth.
    let media_url = format!(
        "{}/2010-04-01/Accounts/AC0123/Messages/MM1/Media/ME1",
        api.base
    );
    let sid = format!("MM{}", unique());
    let params = [
        ("MessageSid", sid.as_str()),
        ("AccountSid", "AC0123"),
        ("From", "+14133881111"),
        ("To", from.as_str()),
        ("Body", ""),
        ("NumMedia", "1"),
        ("MediaUrl0", media_url.as_str()),
        ("MediaContentType0", "image/png"),
    ];
    let r = post_form(&s, &ch, "", &params, AUTH_TOKEN).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let id = inbound(&s, &key, &ch).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, ct, body) = get_media(&s, &key, &id, 0).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!((ct.as_str(), body), ("image/png", media_bytes(1800)));

    // A redirected one: the CDN is fetched without the credentials.
    let redirected = format!(
        "{}/2010-04-01/Accounts/AC0123/Messages/MM2/Media/ME2",
        api.base
    );
    let sid2 = format!("MM{}", unique());
    let params = [
        ("MessageSid", sid2.as_str()),
        ("AccountSid", "AC0123"),
        ("From", "+14133881111"),
        ("To", from.as_str()),
        ("Body", "clip"),
        ("NumMedia", "1"),
        ("MediaUrl0", redirected.as_str()),
        ("MediaContentType0", "video/mp4"),
    ];
    let r = post_form(&s, &ch, "", &params, AUTH_TOKEN).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let clip = inbound(&s, &key, &ch)
        .await
        .into_iter()
        .find(|m| m["text"] == "clip")
        .expect("the second MMS");
    let (status, ct, body) = get_media(&s, &key, clip["id"].as_str().unwrap(), 0).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!((ct.as_str(), body), ("video/mp4", media_bytes(2200)));
    let cdn = api.wait_for(|r| r.path == "/cdn/ME2").await;
    assert_eq!(cdn.header("authorization"), None);

    // Outbound: one MediaUrl per attachment, the text as Body.
    let (status, v) = s
        .post_json(
            &key,
            "/v1/messages",
            &json!({ "channel_id": ch, "to": "+14133881111", "text": "Your receipt", "media": [{ "url": "https://cdn.example.com/r.png", "mime_type": "image/png" }] }),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let sent = api.wait_for(|r| r.method == "POST").await;
    let form = sent.form();
    let field = |k: &str| {
        form.iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(field("MediaUrl"), vec!["https://cdn.example.com/r.png"]);
    assert_eq!(field("Body"), vec!["Your receipt"]);
    assert_eq!(field("To"), vec!["+14133881111"]);
    s.stop().await;
}
on_both!(twilio_media_both_ways);

// ------------------------------------------------------------ replies

async fn a_static_persona_replies_with_media(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = graph().await;
    let (_, key) = s.tenant("wareply").await;
    let persona = s
        .persona(
            &key,
            json!({ "name": "menu", "responder": { "kind": "static", "text": "Today's menu", "media": [
                { "url": "https://cdn.example.com/menu.jpg", "mime_type": "image/jpeg" },
                { "url": "https://cdn.example.com/menu.gif", "mime_type": "image/gif" }
            ] } }),
        )
        .await;
    let (_, shown) = s.get(&key, &format!("/v1/personas/{persona}")).await;
    assert_eq!(
        shown["responder"]["media"][0]["mime_type"], "image/jpeg",
        "{shown}"
    );
    let ch = s
        .whatsapp_channel_to(&key, &graph.base, &[], Some(&persona))
        .await;
    s.post_signed(
        &ch,
        &wa_text(&format!("wamid.{}", unique()), "menu?"),
        APP_SECRET,
    )
    .await;
    // The GIF is not a WhatsApp type: the reply goes without it, and the
    // text is the JPEG's caption.
    let out = s.settled_outbound(&key, &ch, 1).await;
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["status"], "sent", "{out:?}");
    let sent = graph.wait_for(|r| r.method == "POST").await;
    assert_eq!(
        sent.json()["image"],
        json!({ "link": "https://cdn.example.com/menu.jpg", "caption": "Today's menu" })
    );

    // A persona's media must be well-formed when it is saved.
    let (status, v) = s
        .post_json(
            &key,
            "/v1/personas",
            &json!({ "name": "bad", "responder": { "kind": "static", "text": "x", "media": [{ "url": "http://cdn.example.com/a.jpg", "mime_type": "image/jpeg" }] } }),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    s.stop().await;
}
on_both!(a_static_persona_replies_with_media);

// ------------------------------------------------------------ older contracts

async fn an_adapter_without_the_media_export_accepts_no_media(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("legacy").await;
    let bytes = std::fs::read(switchboard_artifacts::test_guests::V011_ADAPTER).unwrap();
    let (status, v) = crate::harness::upload_plugin(&s, &key, "legacy", "1.0.0", bytes).await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = s
        .post_json(
            &key,
            "/v1/channels",
            &json!({ "name": "old", "adapter": "legacy", "config": {} }),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let ch = v["id"].as_str().unwrap().to_string();
    let (status, v) = s
        .post_json(
            &key,
            "/v1/messages",
            &json!({ "channel_id": ch, "to": "someone", "media": [{ "url": "https://cdn.example.com/a.png", "mime_type": "image/png" }] }),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_media");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("image/png") && message.contains("v011"),
        "{message}"
    );
    assert!(s.all_messages(&key, &ch).await.is_empty());
    s.stop().await;
}
on_both!(an_adapter_without_the_media_export_accepts_no_media);
