//! `/v1/personas`: a stored responder key is bound to its base URL.

use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};
use crate::on_both;

async fn put(s: &TestServer, key: &str, id: &str, body: &Value) -> (u16, Value) {
    let r = s
        .http
        .put(s.url(&format!("/v1/personas/{id}")))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn persona(base_url: &str, api_key: Option<&str>) -> Value {
    let mut responder = json!({ "kind": "openai", "base_url": base_url, "model": "gpt-4o-mini" });
    if let Some(k) = api_key {
        responder["api_key"] = json!(k);
    }
    json!({ "name": "support", "responder": responder })
}

async fn changing_the_base_url_requires_the_key_again(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("rebind").await;
    let id = s
        .persona(&key, persona("https://api.openai.com/v1", Some("sk-bound")))
        .await;

    // Another destination without the key: refused, nothing changed.
    for (base_url, api_key) in [
        ("https://attacker.example/v1", None),
        ("https://attacker.example/v1", Some("set")),
        ("https://api.openai.com.attacker.example/v1", None),
        ("https://api.openai.com/v2", None),
        ("http://api.openai.com/v1", None),
    ] {
        let (status, v) = put(&s, &key, &id, &persona(base_url, api_key)).await;
        assert_eq!(status, 422, "{base_url}: {v}");
        assert_eq!(v["error"]["code"], "api_key_required", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("base_url"),
            "{v}"
        );
        assert!(!v.to_string().contains("sk-bound"));
    }
    let (_, stored) = s.get(&key, &format!("/v1/personas/{id}")).await;
    assert_eq!(stored["responder"]["base_url"], "https://api.openai.com/v1");
    assert_eq!(stored["responder"]["api_key"], "set");

    // The same destination, spelled differently: the key is kept.
    let (status, v) = put(&s, &key, &id, &persona("https://API.openai.com/v1/", None)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["responder"]["api_key"], "set");

    // With the key, the change is accepted (and the new key is stored).
    let (status, v) = put(
        &s,
        &key,
        &id,
        &persona("https://llm.example/v1", Some("sk-new")),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["responder"]["base_url"], "https://llm.example/v1");
    assert_eq!(v["responder"]["api_key"], "set");

    // No stored key (a local model without auth): nothing to redirect, so
    // the base URL may change freely.
    let open = s
        .persona(
            &key,
            json!({ "name": "local", "responder": { "kind": "openai", "base_url": "http://127.0.0.1:11434/v1", "model": "llama3" } }),
        )
        .await;
    let mut moved = persona("https://llm.example/v1", None);
    moved["name"] = json!("local");
    let (status, v) = put(&s, &key, &open, &moved).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["responder"]["api_key"], "unset");
    s.stop().await;
}
on_both!(changing_the_base_url_requires_the_key_again);
