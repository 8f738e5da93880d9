//! Property tests of the REST API's JSON bodies (part of the fuzzing suite):
//! arbitrary JSON, and valid bodies with fields of the wrong type, sent to
//! the endpoints that take a body. Every answer is a clear client error or a
//! success, never a 5xx, and the server keeps serving.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,12}",
                    Just("name".to_string()),
                    Just("adapter".to_string()),
                    Just("config".to_string()),
                    Just("guardrails".to_string()),
                    Just("text".to_string()),
                    Just("to".to_string()),
                    Just("channel_id".to_string()),
                    Just("responder".to_string()),
                    Just("plugin_fuel".to_string()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn api_json_bodies_never_cause_a_server_error() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (s, key, tenant_id, channel) = rt.block_on(async {
        let s = TestServer::start(Backend::Sqlite).await;
        let (tenant_id, key) = s.tenant("fuzzed").await;
        let channel = s.whatsapp_channel(&key).await;
        (s, key, tenant_id, channel)
    });
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let endpoints: Vec<(&str, String, bool)> = vec![
        ("POST", "/v1/channels".into(), false),
        ("PATCH", format!("/v1/channels/{channel}"), false),
        ("POST", "/v1/personas".into(), false),
        ("POST", "/v1/messages".into(), false),
        ("POST", "/v1/api-keys".into(), false),
        ("POST", "/v1/admin/tenants".into(), true),
        ("PUT", format!("/v1/admin/tenants/{tenant_id}/limits"), true),
        ("PATCH", format!("/v1/admin/tenants/{tenant_id}"), true),
        ("PUT", format!("/v1/admin/channels/{channel}/route"), true),
    ];
    runner
        .run(&(json_value(), 0..endpoints.len()), |(body, which)| {
            let (method, path, admin) = &endpoints[which];
            let status = rt.block_on(async {
                let token = if *admin { &s.admin_token } else { &key };
                s.http
                    .request(method.parse().unwrap(), s.url(path))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            });
            prop_assert!(status < 500, "{method} {path} {body} -> {status}");
            Ok(())
        })
        .unwrap();
    // Still serving.
    rt.block_on(async {
        assert_eq!(s.get(&key, "/v1/channels").await.0, 200);
        s.stop().await;
    });
}
