//! Live events (issue 13): each tenant's ordered stream, read after a
//! cursor and over a WebSocket; replay equals the live stream, the seam
//! between them has no gap and no duplicate under concurrent writes, and
//! tenants' streams never mix.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{APP_SECRET, Backend, TestServer, unique, wa_text};
use crate::mock::MockProvider;
use crate::on_both;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Open the event socket with `query`, authenticated by an API key
/// (`Authorization`) or not at all (the query may carry a `token`).
async fn socket(s: &TestServer, key: Option<&str>, query: &str) -> Result<Socket, u16> {
    let url = format!("{}/v1/events{query}", s.base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("connecting: {e}"),
    }
}

/// The next `n` events from the socket (panics after 20 s).
async fn receive(ws: &mut Socket, n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got.len() < n {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("{} of {n} events after 20 s: {got:?}", got.len()))
            .expect("socket open")
            .expect("a frame");
        if let Message::Text(t) = frame {
            got.push(serde_json::from_str(&t).unwrap());
        }
    }
    got
}

/// Nothing more arrives within `wait`.
async fn quiet(ws: &mut Socket, wait: Duration) {
    if let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(wait, ws.next()).await {
        panic!("unexpected event: {t}");
    }
}

/// Every event of the tenant, through the sync endpoint, in pages.
async fn all_events(s: &TestServer, key: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let sep = if query.is_empty() { "?" } else { "&" };
        let (status, page) = s
            .get(key, &format!("/v1/events{query}{sep}limit=7&after={after}"))
            .await;
        assert_eq!(status, 200, "{page}");
        let data = page["data"].as_array().unwrap().clone();
        if data.is_empty() {
            return out;
        }
        after = page["next_cursor"].as_str().unwrap().to_string();
        assert_eq!(data.last().unwrap()["id"], after.as_str());
        out.extend(data);
    }
}

fn ids(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["id"].as_str().unwrap()).collect()
}

/// A tenant with a WhatsApp channel whose persona answers every message.
async fn answering_tenant(s: &TestServer, graph: &MockProvider, prefix: &str) -> (String, String) {
    let (_, key) = s.tenant(prefix).await;
    let persona = s
        .persona(
            &key,
            json!({ "name": format!("p-{}", unique()), "responder": { "kind": "static", "text": "Thanks!" } }),
        )
        .await;
    let ch = s
        .whatsapp_channel_to(&key, &graph.base, &[], Some(&persona))
        .await;
    (key, ch)
}

async fn replay_equals_the_live_stream(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (key, ch) = answering_tenant(&s, &graph, "events").await;
    let mut live = socket(&s, Some(&key), "").await.unwrap();

    for i in 0..3 {
        let r = s
            .post_signed(
                &ch,
                &wa_text(&format!("wamid.ev{i}-{}", unique()), &format!("hello {i}")),
                APP_SECRET,
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    s.settled_outbound(&key, &ch, 3).await;
    let all = all_events(&s, &key, "").await;
    // One conversation, three messages in and three replies, each reply
    // also updated when the provider accepted it.
    let kinds: Vec<&str> = all.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(count("conversation.created"), 1, "{kinds:?}");
    assert_eq!(count("message.created"), 6, "{kinds:?}");
    assert_eq!(count("message.updated"), 3, "{kinds:?}");
    assert_eq!(kinds[0], "conversation.created");
    // The data is the resource as the REST API shows it.
    let first_in = all.iter().find(|e| e["type"] == "message.created").unwrap();
    let id = first_in["data"]["id"].as_str().unwrap();
    let (_, shown) = s.get(&key, &format!("/v1/messages/{id}")).await;
    for field in [
        "id",
        "conversation_id",
        "contact_id",
        "direction",
        "text",
        "status",
        "created_at",
    ] {
        assert_eq!(first_in["data"][field], shown[field], "{field}");
    }
    assert_eq!(first_in["data"]["text"], "hello 0");
    let sent = all
        .iter()
        .filter(|e| e["type"] == "message.updated")
        .all(|e| e["data"]["status"] == "sent" && e["data"]["direction"] == "outbound");
    assert!(sent, "{all:?}");

    // Live, the socket saw exactly the same, in the same order.
    let streamed = receive(&mut live, all.len()).await;
    assert_eq!(streamed, all);
    quiet(&mut live, Duration::from_millis(300)).await;

    // Replay after a cursor: exactly what follows it, then live again.
    let mut replay = socket(
        &s,
        Some(&key),
        &format!("?after={}", all[3]["id"].as_str().unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(receive(&mut replay, all.len() - 4).await, all[4..]);
    let r = s
        .post_signed(
            &ch,
            &wa_text(&format!("wamid.late-{}", unique()), "one more"),
            APP_SECRET,
        )
        .await;
    assert_eq!(r.status(), 200);
    let next = receive(&mut replay, 1).await;
    assert_eq!(next[0]["type"], "message.created");
    assert_eq!(next[0]["data"]["text"], "one more");
    assert_eq!(receive(&mut live, 1).await, next);

    // Sync after a cursor, and by type (once the last reply settled).
    s.settled_outbound(&key, &ch, 4).await;
    let all = all_events(&s, &key, "").await;
    let (_, page) = s
        .get(
            &key,
            &format!("/v1/events?after={}", all[5]["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(page["data"][0], all[6]);
    let created = all_events(&s, &key, "?types=conversation.created,message.updated").await;
    assert_eq!(created.len(), 5, "1 conversation, 4 replies accepted");
    assert!(created.iter().all(|e| e["type"] != "message.created"));
    let (status, _) = s.get(&key, "/v1/events?after=nope").await;
    assert_eq!(status, 400);
    let (status, e) = s.get(&key, "/v1/events?types=message.deleted").await;
    assert_eq!(status, 400);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("message.deleted")
    );
    // An empty page keeps the cursor.
    let last = all.last().unwrap()["id"].as_str().unwrap();
    let (_, page) = s.get(&key, &format!("/v1/events?after={last}")).await;
    assert_eq!(page["data"], json!([]));
    assert_eq!(page["next_cursor"], last);
    s.stop().await;
}
on_both!(replay_equals_the_live_stream);

async fn no_gap_or_duplicate_at_the_seam(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (key, ch) = answering_tenant(&s, &graph, "seam").await;
    let first = s
        .post_signed(
            &ch,
            &wa_text(&format!("wamid.s0-{}", unique()), "first"),
            APP_SECRET,
        )
        .await;
    assert_eq!(first.status(), 200);
    let (_, page) = s.get(&key, "/v1/events?limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();

    // Writers run while a socket opens in the middle of their stream and
    // replays from an old cursor.
    const N: usize = 40;
    let writers: Vec<_> = (0..N)
        .map(|i| {
            let (http, base, ch) = (s.http.clone(), s.base.clone(), ch.clone());
            tokio::spawn(async move {
                let body = wa_text(&format!("wamid.seam{i}-{}", unique()), &format!("m{i}"));
                crate::harness::post_signed_with(&http, &base, &ch, &body, APP_SECRET).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut ws = socket(&s, Some(&key), &format!("?after={cursor}"))
        .await
        .unwrap();
    for w in writers {
        assert_eq!(w.await.unwrap(), 200);
    }
    s.settled_outbound(&key, &ch, N + 1).await;
    let all = all_events(&s, &key, "").await;
    let expected = &all[1..];
    let got = receive(&mut ws, expected.len()).await;
    assert_eq!(
        ids(&got),
        ids(expected),
        "the socket's stream is the table's, in order"
    );
    quiet(&mut ws, Duration::from_millis(300)).await;
    // Numbers are consecutive: nothing was skipped.
    let created = got
        .iter()
        .filter(|e| e["type"] == "message.created")
        .count();
    assert_eq!(created, 2 * (N + 1), "every message and its reply");
    s.stop().await;
}
on_both!(no_gap_or_duplicate_at_the_seam);

async fn streams_are_per_tenant_and_authenticated(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (key_a, ch_a) = answering_tenant(&s, &graph, "ev-a").await;
    let (key_b, _) = answering_tenant(&s, &graph, "ev-b").await;

    // No credentials, a wrong key, a wrong token: refused before upgrade.
    assert_eq!(socket(&s, None, "").await.err(), Some(401));
    assert_eq!(socket(&s, Some("sk_wrong"), "").await.err(), Some(401));
    assert_eq!(socket(&s, None, "?token=evtok_nope").await.err(), Some(401));
    let (status, _) = s.get("sk_wrong", "/v1/events").await;
    assert_eq!(status, 401);

    // A browser token opens B's stream only.
    let (status, t) = s.post_json(&key_b, "/v1/events/tokens", &json!({})).await;
    assert_eq!(status, 201, "{t}");
    let token = t["token"].as_str().unwrap();
    assert!(t["expires_at"].as_i64().unwrap() > 0);
    let mut b = socket(&s, None, &format!("?token={token}")).await.unwrap();
    let mut a = socket(&s, Some(&key_a), "").await.unwrap();

    let r = s
        .post_signed(
            &ch_a,
            &wa_text(&format!("wamid.x-{}", unique()), "for A"),
            APP_SECRET,
        )
        .await;
    assert_eq!(r.status(), 200);
    s.settled_outbound(&key_a, &ch_a, 1).await;
    let a_events = all_events(&s, &key_a, "").await;
    assert_eq!(receive(&mut a, a_events.len()).await, a_events);
    quiet(&mut b, Duration::from_millis(500)).await;
    let (_, page) = s.get(&key_b, "/v1/events").await;
    assert_eq!(page["data"], json!([]), "B sees nothing of A");
    // A's cursor read with B's key: still only B's (empty) stream.
    let (_, page) = s
        .get(
            &key_b,
            &format!("/v1/events?after={}", "evt_0000000000000000"),
        )
        .await;
    assert_eq!(page["data"], json!([]));
    b.close(None).await.ok();
    s.stop().await;
}
on_both!(streams_are_per_tenant_and_authenticated);

/// On PostgreSQL, a socket on one replica streams what another replica
/// commits (LISTEN/NOTIFY wakes it; the table is what it sends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_on_one_replica_streams_another_replicas_commits() {
    let Some(backend) = Backend::postgres() else {
        eprintln!("SWITCHBOARD_TEST_POSTGRES_URL unset: PostgreSQL run skipped");
        return;
    };
    let writer = TestServer::start(backend.clone()).await;
    let url = writer.database_url(&backend);
    let reader = TestServer::start_with(backend, |c| c.database_url = Some(url)).await;
    let graph = MockProvider::graph().await;
    let (key, ch) = answering_tenant(&writer, &graph, "replicas").await;
    let mut ws = socket(&reader, Some(&key), "").await.unwrap();
    // Let the reader go idle first: it must be woken, not find it by chance.
    quiet(&mut ws, Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let r = writer
        .post_signed(
            &ch,
            &wa_text(&format!("wamid.r-{}", unique()), "across"),
            APP_SECRET,
        )
        .await;
    assert_eq!(r.status(), 200);
    let got = receive(&mut ws, 2).await;
    assert_eq!(got[0]["type"], "conversation.created");
    assert_eq!(got[1]["data"]["text"], "across");
    // Well inside the 5 s safety rescan: the notification woke it.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    writer.stop().await;
    reader.stop().await;
}

async fn channel_changes_are_events_without_secrets(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (key, ch) = answering_tenant(&s, &graph, "ev-channel").await;
    let (status, v) = s
        .patch_json(
            &key,
            &format!("/v1/channels/{ch}"),
            &json!({ "name": "Renamed", "enabled": false }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, _) = s.delete(&key, &format!("/v1/channels/{ch}")).await;
    assert_eq!(status, 204);
    let changes = all_events(&s, &key, "?types=channel.updated").await;
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0]["data"]["id"], ch.as_str());
    assert_eq!(changes[0]["data"]["name"], "Renamed");
    assert_eq!(changes[0]["data"]["status"], "disabled");
    assert_eq!(changes[0]["data"]["config"]["access_token"], "set");
    assert_eq!(changes[1]["data"]["status"], "deleted");
    let dump = serde_json::to_string(&changes).unwrap();
    for secret in ["EAAG-test", APP_SECRET] {
        assert!(!dump.contains(secret), "{secret} in {dump}");
    }
    s.stop().await;
}
on_both!(channel_changes_are_events_without_secrets);
