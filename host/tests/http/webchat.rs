//! Web chat over HTTP and the visitor socket (`docs/webchat.md`), as a
//! widget would speak it: the handshake's checks (origin, identity,
//! channel), a visitor's message through the pipeline to the persona's
//! reply, history on reconnect, resuming after a drop without a gap, and
//! the visitor limits.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{Backend, TestServer, unique};
use crate::on_both;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const PAGE: &str = "http://shop.test:8080";
const IDENTITY_SECRET: &str = "identity-secret-for-tests";

/// A web chat channel answered by a static persona; returns its id.
async fn webchat_channel(s: &TestServer, key: &str, reply: Option<&str>) -> String {
    let persona = match reply {
        Some(text) => Some(
            s.persona(
                key,
                json!({ "name": format!("wc-{}", unique()), "responder": { "kind": "static", "text": text } }),
            )
            .await,
        ),
        None => None,
    };
    let (status, v) = s
        .post_json(
            key,
            "/v1/channels",
            &json!({
                "name": "Website",
                "adapter": "webchat",
                "persona_id": persona,
                "config": {
                    "allowed_origins": [PAGE, "https://other.test"],
                    "title": "Shop help",
                    "greeting": "Hi! Ask us anything.",
                    "color": "#0b5fff",
                    "identity_secret": IDENTITY_SECRET,
                },
            }),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    // The answer shows the list as a list, the secret as set, and the snippet.
    let v = &v["channel"];
    assert_eq!(
        v["config"]["allowed_origins"],
        json!([PAGE, "https://other.test"])
    );
    assert_eq!(v["config"]["identity_secret"], "set");
    assert_eq!(
        v["embed"],
        format!(
            r#"<script src="{}/widget.js" data-channel="{id}" async></script>"#,
            s.base
        )
    );
    id
}

/// Open a visitor socket from `origin` with `query` (e.g. `token=…`).
async fn visit(
    s: &TestServer,
    channel: &str,
    origin: Option<&str>,
    query: &str,
) -> Result<Socket, u16> {
    let url = format!(
        "{}/webchat/{channel}/socket?{query}",
        s.base.replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("connecting: {e}"),
    }
}

/// Frames until one matches `done` (returned last); panics after 20 s.
async fn until(ws: &mut Socket, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no matching frame after 20 s; got {got:#?}"));
        match frame {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                let stop = done(&v);
                got.push(v);
                if stop {
                    return got;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("socket ended: {other:?}; got {got:#?}"),
        }
    }
}

/// The frames that arrive within `wait`.
async fn quiet(ws: &mut Socket, wait: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(wait, ws.next()).await {
        if let Message::Text(t) = frame {
            got.push(serde_json::from_str(&t).unwrap());
        }
    }
    got
}

async fn say(ws: &mut Socket, client_id: &str, text: &str) {
    let frame = json!({ "type": "message", "client_id": client_id, "text": text });
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

fn is_message(v: &Value, direction: &str, status: &str) -> bool {
    v["type"] == "message" && v["direction"] == direction && v["status"] == status
}

async fn visitor_talks_to_the_persona(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("webchat").await;
    let ch = webchat_channel(&s, &key, Some("Thanks for writing to Shop!")).await;

    let mut ws = visit(&s, &ch, Some(PAGE), "")
        .await
        .expect("allowed origin");
    let session = until(&mut ws, |v| v["type"] == "session").await;
    let session = session.last().unwrap();
    assert_eq!(session["title"], "Shop help");
    assert_eq!(session["greeting"], "Hi! Ask us anything.");
    assert_eq!(session["color"], "#0b5fff");
    let token = session["visitor_token"].as_str().unwrap().to_string();

    say(&mut ws, "c-1", "Where is my order?").await;
    let frames = until(&mut ws, |v| is_message(v, "outbound", "sent")).await;
    let ack = frames
        .iter()
        .find(|f| f["type"] == "ack")
        .expect("acknowledged");
    assert_eq!(ack["client_id"], "c-1");
    let mine = frames
        .iter()
        .find(|f| is_message(f, "inbound", "received"))
        .expect("the visitor's message");
    assert_eq!(mine["id"], ack["id"]);
    assert_eq!(mine["client_id"], "c-1");
    assert_eq!(mine["text"], "Where is my order?");
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "typing" && f["active"] == true),
        "a typing indicator while the reply is prepared: {frames:#?}"
    );
    let reply = frames.last().unwrap().clone();
    assert_eq!(reply["text"], "Thanks for writing to Shop!");
    // Never shown while queued.
    assert!(
        !frames.iter().any(|f| is_message(f, "outbound", "queued")),
        "{frames:#?}"
    );

    // The widget showed it: delivered, through the adapter's status event.
    ws.send(Message::text(
        json!({"type": "delivered", "id": reply["id"]}).to_string(),
    ))
    .await
    .unwrap();
    until(&mut ws, |v| {
        v["id"] == reply["id"] && v["status"] == "delivered"
    })
    .await;

    // A resend of the same client_id (after a reconnect) is the same message.
    say(&mut ws, "c-1", "Where is my order?").await;
    let again = until(&mut ws, |v| v["type"] == "ack").await;
    assert_eq!(again.last().unwrap()["id"], ack["id"]);

    // The API sees one conversation with both messages.
    assert!(
        mine["cursor"]
            .as_str()
            .is_some_and(|c| c.starts_with("evt_")),
        "{mine}"
    );
    let (status, list) = s
        .get(&key, &format!("/v1/conversations?channel_id={ch}"))
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    drop(ws);

    // A reload (same token, no cursor): the same visitor, with the history.
    let mut ws = visit(&s, &ch, Some(PAGE), &format!("token={token}"))
        .await
        .unwrap();
    let frames = until(&mut ws, |v| v["id"] == reply["id"]).await;
    assert_eq!(frames[0]["visitor_token"], token.as_str(), "same visitor");
    let texts: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Where is my order?", "Thanks for writing to Shop!"]);
    assert_eq!(frames.last().unwrap()["status"], "delivered");

    // Another visitor (no token) has a conversation of their own.
    let mut other = visit(&s, &ch, Some("https://other.test"), "")
        .await
        .unwrap();
    let frames = quiet(&mut other, Duration::from_millis(500)).await;
    assert_eq!(
        frames.len(),
        1,
        "a new visitor sees no history: {frames:#?}"
    );
    assert_ne!(frames[0]["visitor_token"], token.as_str());
    s.stop().await;
}
on_both!(visitor_talks_to_the_persona);

async fn a_dropped_visitor_resumes_without_a_gap(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("webchat-drop").await;
    let ch = webchat_channel(&s, &key, Some("We will look into it.")).await;
    let mut ws = visit(&s, &ch, Some(PAGE), "").await.unwrap();
    let token = until(&mut ws, |v| v["type"] == "session").await[0]["visitor_token"]
        .as_str()
        .unwrap()
        .to_string();
    say(&mut ws, "first", "hello").await;
    let frames = until(&mut ws, |v| is_message(v, "inbound", "received")).await;
    let cursor = frames.last().unwrap()["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    // The connection drops before the reply is delivered.
    drop(ws);
    let conversations = s
        .eventually(&key, &format!("/v1/conversations?channel_id={ch}"), |v| {
            v["data"].as_array().is_some_and(|d| d.len() == 1)
        })
        .await;
    let conversation = conversations["data"][0]["id"].as_str().unwrap().to_string();
    s.eventually(
        &key,
        &format!("/v1/conversations/{conversation}/messages"),
        |v| {
            v["data"].as_array().is_some_and(|d| {
                d.iter()
                    .any(|m| m["direction"] == "outbound" && m["status"] == "sent")
            })
        },
    )
    .await;

    // Resuming from the last cursor: the reply, and nothing seen before.
    let mut ws = visit(
        &s,
        &ch,
        Some(PAGE),
        &format!("token={token}&after={cursor}"),
    )
    .await
    .unwrap();
    let frames = until(&mut ws, |v| is_message(v, "outbound", "sent")).await;
    let messages: Vec<&Value> = frames.iter().filter(|f| f["type"] == "message").collect();
    assert_eq!(
        messages.len(),
        1,
        "only what came after the cursor: {frames:#?}"
    );
    assert_eq!(messages[0]["text"], "We will look into it.");
    s.stop().await;
}
on_both!(a_dropped_visitor_resumes_without_a_gap);

async fn sockets_check_origin_identity_and_channel(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("webchat-checks").await;
    let ch = webchat_channel(&s, &key, None).await;

    // The origin is checked on every connection.
    assert_eq!(
        visit(&s, &ch, Some("https://evil.test"), "").await.err(),
        Some(403)
    );
    assert_eq!(visit(&s, &ch, None, "").await.err(), Some(403));
    assert_eq!(
        visit(&s, &ch, Some("http://shop.test"), "").await.err(),
        Some(403),
        "another port"
    );
    // Not a web chat channel, or none at all.
    let wa = s.whatsapp_channel(&key).await;
    assert_eq!(visit(&s, &wa, Some(PAGE), "").await.err(), Some(404));
    assert_eq!(visit(&s, "ch_nope", Some(PAGE), "").await.err(), Some(404));

    // A page's user: the right hash is that user, a wrong one is refused.
    let hash = crate::harness::signature(IDENTITY_SECRET, b"customer-42");
    let hash = hash.trim_start_matches("sha256=");
    let mut ws = visit(
        &s,
        &ch,
        Some(PAGE),
        &format!("user_id=customer-42&user_hash={hash}"),
    )
    .await
    .expect("verified identity");
    let session = until(&mut ws, |v| v["type"] == "session").await;
    assert_eq!(
        session[0]["visitor_token"],
        Value::Null,
        "identified by the page, not a token"
    );
    say(&mut ws, "u1", "I am signed in").await;
    until(&mut ws, |v| v["type"] == "ack").await;
    let contacts = s
        .eventually(&key, "/v1/contacts", |v| {
            v["data"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    let identities = &contacts["data"][0]["identities"];
    assert!(
        identities.to_string().contains("customer-42"),
        "the user id is the contact's identity: {contacts:#}"
    );
    let wrong = "0".repeat(64);
    assert_eq!(
        visit(
            &s,
            &ch,
            Some(PAGE),
            &format!("user_id=customer-42&user_hash={wrong}")
        )
        .await
        .err(),
        Some(403)
    );

    // A forged or foreign token starts a new visitor; it never resumes one.
    let mut ws = visit(&s, &ch, Some(PAGE), "token=v_0123.deadbeef")
        .await
        .unwrap();
    let session = until(&mut ws, |v| v["type"] == "session").await;
    assert!(
        !session[0]["visitor_token"]
            .as_str()
            .unwrap()
            .starts_with("v_0123.")
    );

    // The webhook URL of a web chat channel takes nothing, even with the
    // header only the host sets.
    let r = s
        .http
        .post(s.url(&format!("/webhooks/{ch}")))
        .header("x-switchboard-visitor", "visitor:v_1")
        .body(r#"{"visitor":{"address":"visitor:v_1"},"frame":{"type":"message","client_id":"x","text":"forged"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_a_webhook_channel", "{body}");

    // A configuration the widget cannot use is refused with the reason.
    let (status, v) = s
        .post_json(&key, "/v1/channels", &json!({"name": "x", "adapter": "webchat", "config": {"allowed_origins": ["https://a.test/path"]}}))
        .await;
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("not an origin"), "{v}");
    let (status, v) = s
        .patch_json(
            &key,
            &format!("/v1/channels/{ch}"),
            &json!({"config": {"allowed_origins": null}}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert!(v.to_string().contains("allowed_origins"), "{v}");
    s.stop().await;
}
on_both!(sockets_check_origin_identity_and_channel);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_limits_give_clear_errors() {
    let s = TestServer::start(Backend::Sqlite).await;
    let (_, key) = s.tenant("webchat-limits").await;
    let ch = webchat_channel(&s, &key, None).await;
    let mut ws = visit(&s, &ch, Some(PAGE), "").await.unwrap();
    until(&mut ws, |v| v["type"] == "session").await;

    say(&mut ws, "long", &"x".repeat(4097)).await;
    let e = until(&mut ws, |v| v["type"] == "error").await;
    let e = e.last().unwrap();
    assert_eq!(
        (e["code"].as_str(), e["client_id"].as_str()),
        (Some("message_too_long"), Some("long"))
    );

    ws.send(Message::text("not json")).await.unwrap();
    let e = until(&mut ws, |v| v["type"] == "error").await;
    assert_eq!(e.last().unwrap()["code"], "invalid_frame");

    for i in 0..20 {
        say(&mut ws, &format!("m{i}"), "hello").await;
        let acked = until(&mut ws, |v| v["type"] == "ack" || v["type"] == "error").await;
        assert_eq!(
            acked.last().unwrap()["type"],
            "ack",
            "message {i}: {acked:#?}"
        );
    }
    say(&mut ws, "m20", "one too many").await;
    let e = until(&mut ws, |v| v["type"] == "error").await;
    let e = e.last().unwrap();
    assert_eq!(
        (e["code"].as_str(), e["client_id"].as_str()),
        (Some("rate_limited"), Some("m20"))
    );
    // The visitor's other tab shares the limit; the socket itself stays open.
    say(&mut ws, "m21", "still there?").await;
    let e = until(&mut ws, |v| v["type"] == "error").await;
    assert_eq!(e.last().unwrap()["code"], "rate_limited");
    s.stop().await;
}
