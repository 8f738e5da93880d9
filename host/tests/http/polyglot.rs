//! JavaScript and Python plugins through the API, end to end: the JS
//! adapter (`examples/js-adapter`) and the Python guardrail
//! (`examples/python-guardrail`) uploaded by a tenant, bound to a channel,
//! and a signed webhook through both into storage. Skipped, saying so, when
//! node/componentize-js or componentize-py is not installed.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::harness::upload_plugin as upload;
use crate::harness::{Backend, TestServer};
use crate::on_both;

#[path = "../polyglot_build.rs"]
mod polyglot_build;
pub use polyglot_build::example_component;

pub const SECRET: &str = "polyglot-secret";

/// A SimpleChat webhook (the protocol every example adapter speaks).
pub async fn simplechat_webhook(
    s: &TestServer,
    channel: &str,
    secret: &str,
    id: &str,
    text: &str,
) -> u16 {
    let body = serde_json::to_vec(
        &json!({ "messages": [{ "id": id, "from": "15550001111", "name": "Ann", "text": text }] }),
    )
    .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&body);
    s.http
        .post(s.url(&format!("/webhooks/{channel}")))
        .header("content-type", "application/json")
        .header("x-signature", hex::encode(mac.finalize().into_bytes()))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A stored inbound message by its provider id.
pub async fn stored(s: &TestServer, key: &str, channel: &str, id: &str) -> Value {
    s.all_messages(key, channel)
        .await
        .into_iter()
        .find(|m| m["external_id"] == id)
        .unwrap_or_else(|| panic!("{id} not stored"))
}

async fn js_adapter_and_python_guardrail_end_to_end(backend: Backend) {
    let (Some(js), Some(py)) = (
        example_component("js-adapter"),
        example_component("python-guardrail"),
    ) else {
        return;
    };
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("polyglot").await;
    let (st, adapter) = upload(&s, &key, "js-chat", "1.0.0", std::fs::read(js).unwrap()).await;
    assert_eq!(st, 201, "{adapter}");
    assert_eq!(adapter["world"], "channel-adapter");
    let (st, guard) = upload(&s, &key, "py-filter", "1.0.0", std::fs::read(py).unwrap()).await;
    assert_eq!(st, 201, "{guard}");
    assert_eq!(guard["world"], "guardrail");

    let (st, ch) = s
        .post_json(
            &key,
            "/v1/channels",
            &json!({ "name": "polyglot", "adapter": "js-chat",
                     "config": { "secret": SECRET },
                     "guardrails": [{ "plugin": "py-filter",
                                      "config": { "block_words": "forbidden", "mask_words": "darn" } }] }),
        )
        .await;
    assert_eq!(st, 201, "{ch}");
    let ch = ch["id"].as_str().unwrap().to_string();

    assert_eq!(
        simplechat_webhook(&s, &ch, SECRET, "m-1", "well darn it").await,
        200
    );
    assert_eq!(
        simplechat_webhook(&s, &ch, SECRET, "m-2", "this is forbidden").await,
        200
    );
    assert_eq!(
        simplechat_webhook(&s, &ch, "wrong-secret", "m-3", "forged").await,
        401,
        "the JS adapter's signature check refuses a forged webhook"
    );

    let masked = stored(&s, &key, &ch, "m-1").await;
    assert_eq!(
        masked["text"], "well **** it",
        "rewritten by the Python guardrail: {masked}"
    );
    let blocked = stored(&s, &key, &ch, "m-2").await;
    assert_eq!(blocked["status"], "blocked", "{blocked}");
    assert_eq!(
        s.all_messages(&key, &ch).await.len(),
        2,
        "nothing stored for m-3"
    );
    s.stop().await;
}
on_both!(js_adapter_and_python_guardrail_end_to_end);
