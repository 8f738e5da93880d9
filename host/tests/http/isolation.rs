//! Tenant isolation through the API: another tenant's key sees nothing.

use crate::harness::{APP_SECRET, Backend, TestServer, fixture_body};
use crate::on_both;

async fn tenant_b_cannot_see_tenant_a(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key_a) = s.tenant("alpha").await;
    let (_, key_b) = s.tenant("beta").await;
    let ch = s.whatsapp_channel(&key_a).await;
    assert_eq!(
        s.post_signed(
            &ch,
            &fixture_body("meta_dashboard_test_text_message.json"),
            APP_SECRET
        )
        .await
        .status(),
        200
    );
    let msgs = s.all_messages(&key_a, &ch).await;
    let conv = msgs[0]["conversation_id"].as_str().unwrap().to_string();
    let contact = msgs[0]["contact_id"].as_str().unwrap().to_string();

    let (st, list) = s.get(&key_b, "/v1/channels").await;
    assert_eq!(st, 200);
    assert!(list["data"].as_array().unwrap().is_empty());
    assert_eq!(s.get(&key_b, &format!("/v1/channels/{ch}")).await.0, 404);
    let (st, convs) = s
        .get(&key_b, &format!("/v1/conversations?channel_id={ch}"))
        .await;
    assert_eq!(st, 200);
    assert!(convs["data"].as_array().unwrap().is_empty());
    assert_eq!(
        s.get(&key_b, &format!("/v1/conversations/{conv}/messages"))
            .await
            .0,
        404
    );
    assert_eq!(
        s.get(&key_b, &format!("/v1/contacts/{contact}")).await.0,
        404
    );
    // A's own key still sees all of it.
    assert_eq!(
        s.get(&key_a, &format!("/v1/contacts/{contact}")).await.0,
        200
    );
    // No key, or a wrong one: 401.
    assert_eq!(
        s.http
            .get(s.url("/v1/channels"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(s.get("sk_wrong", "/v1/channels").await.0, 401);
    s.stop().await;
}
on_both!(tenant_b_cannot_see_tenant_a);

async fn tenant_b_cannot_bind_tenant_a_plugin(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key_a) = s.tenant("owner").await;
    let (_, key_b) = s.tenant("thief").await;
    let bytes = std::fs::read(switchboard_artifacts::examples::SIMPLE_JSON_ADAPTER).unwrap();
    let r = s
        .http
        .post(s.url("/v1/plugins?name=simple-json&version=1.0.0"))
        .bearer_auth(&key_a)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let plugin: serde_json::Value = r.json().await.unwrap();
    let plugin_id = plugin["id"].as_str().unwrap();
    assert_eq!(plugin["world"], "channel-adapter");

    let bind = |key: String| {
        let body = serde_json::json!({ "name": "custom", "adapter": plugin_id, "config": { "secret": "s" } });
        let req = s
            .http
            .post(s.url("/v1/channels"))
            .bearer_auth(key)
            .json(&body);
        async move { req.send().await.unwrap() }
    };
    let r = bind(key_b.clone()).await;
    assert_eq!(r.status(), 404);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "plugin_not_found");
    assert_eq!(
        bind(key_a.clone()).await.status(),
        201,
        "the owner can bind it"
    );
    s.stop().await;
}
on_both!(tenant_b_cannot_bind_tenant_a_plugin);

async fn admin_endpoints_need_the_admin_token(backend: Backend) {
    let s = TestServer::start(backend).await;
    let r = s
        .http
        .post(s.url("/v1/admin/tenants"))
        .bearer_auth("nope")
        .json(&serde_json::json!({ "slug": "x", "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, key) = s.tenant("dup").await;
    let r = s
        .http
        .post(s.url("/v1/admin/tenants"))
        .bearer_auth(&key)
        .json(&serde_json::json!({ "slug": "x2", "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a tenant key is not an admin token");
    // Unique per run: the PostgreSQL database is shared by every test.
    let slug = format!("taken-{}", crate::harness::unique());
    let r = s
        .http
        .post(s.url("/v1/admin/tenants"))
        .bearer_auth(&s.admin_token)
        .json(&serde_json::json!({ "slug": slug, "name": "a" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = s
        .http
        .post(s.url("/v1/admin/tenants"))
        .bearer_auth(&s.admin_token)
        .json(&serde_json::json!({ "slug": slug, "name": "b" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = s
        .http
        .post(s.url("/v1/admin/tenants"))
        .bearer_auth(&s.admin_token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "bad_request");
    s.stop().await;
}
on_both!(admin_endpoints_need_the_admin_token);

async fn a_failing_tenant_plugin_is_a_502_naming_the_stage_and_others_are_unaffected(
    backend: Backend,
) {
    let s = TestServer::start(backend).await;
    let (_, evil_key) = s.tenant("evil").await;
    let (_, good_key) = s.tenant("good").await;
    let bytes = std::fs::read(switchboard_artifacts::test_guests::HOSTILE).unwrap();
    let r = s
        .http
        .post(s.url("/v1/plugins?name=hostile&version=1.0.0"))
        .bearer_auth(&evil_key)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let plugin: serde_json::Value = r.json().await.unwrap();
    let body = serde_json::json!({ "name": "evil", "adapter": plugin["id"], "config": { "mode": "panic" } });
    let r = s
        .http
        .post(s.url("/v1/channels"))
        .bearer_auth(&evil_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let evil_channel = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let good_channel = s.whatsapp_channel(&good_key).await;

    let r = s
        .http
        .post(s.url(&format!("/webhooks/{evil_channel}")))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "plugin_failed");
    assert_eq!(v["error"]["stage"], "parse");
    assert_eq!(v["error"]["plugin_error"], "trap");
    assert!(
        !v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wasm backtrace"),
        "no internals: {v}"
    );

    // The other tenant's webhooks keep working, before and after.
    assert_eq!(
        s.post_signed(
            &good_channel,
            &fixture_body("meta_dashboard_test_text_message.json"),
            APP_SECRET
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        s.http
            .post(s.url(&format!("/webhooks/{evil_channel}")))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status(),
        502
    );
    assert_eq!(
        s.post_signed(
            &good_channel,
            &fixture_body("pywa_message_text.json"),
            APP_SECRET
        )
        .await
        .status(),
        200
    );
    assert_eq!(s.all_messages(&good_key, &good_channel).await.len(), 2);
    s.stop().await;
}
on_both!(a_failing_tenant_plugin_is_a_502_naming_the_stage_and_others_are_unaffected);
