//! Shared provider endpoints: one Meta app serving several tenants' numbers.

use serde_json::{Value, json};

use crate::harness::{APP_SECRET, Backend, TestServer, fixture, signature, unique};
use crate::on_both;

/// A text message change for phone-number id `pnid` with message id `id`.
fn change_for(pnid: &str, id: &str, text: &str) -> Value {
    let mut change =
        fixture("meta_dashboard_test_text_message.json")["entry"][0]["changes"][0].clone();
    change["value"]["metadata"]["phone_number_id"] = json!(pnid);
    change["value"]["messages"][0]["id"] = json!(id);
    change["value"]["messages"][0]["text"]["body"] = json!(text);
    change
}

/// A status change for `pnid` (the number that sent message `id`).
fn status_for(pnid: &str, id: &str) -> Value {
    let mut change = fixture("pywa_status_delivered.json")["entry"][0]["changes"][0].clone();
    change["value"]["metadata"]["phone_number_id"] = json!(pnid);
    change["value"]["statuses"][0]["id"] = json!(id);
    change
}

fn numbers() -> (String, String, String) {
    let n = || format!("8{}", u64::from_str_radix(&unique(), 16).unwrap());
    (n(), n(), n())
}

async fn post_shared(s: &TestServer, body: &Value, secret: &str) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).unwrap();
    s.http
        .post(s.url("/webhooks/shared/whatsapp-cloud"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature(secret, &bytes))
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn batch_spanning_numbers_is_split_per_tenant(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key_a) = s.tenant("shared-a").await;
    let (_, key_b) = s.tenant("shared-b").await;
    let (pa, pb, unknown) = numbers();
    let ch_a = s.whatsapp_channel_for(&key_a, &pa).await;
    let ch_b = s.whatsapp_channel_for(&key_b, &pb).await;
    s.assign_route(&ch_a, &pa).await;
    s.assign_route(&ch_b, &pb).await;
    // Entry 1: a message to A's number and one to B's in two changes; entry
    // 2: a message to a number nobody has, and a status for B's number.
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [
            { "id": "waba", "changes": [change_for(&pa, "wamid.for-a", "hello A"), change_for(&pb, "wamid.for-b", "hello B")] },
            { "id": "waba", "changes": [change_for(&unknown, "wamid.for-nobody", "lost?"), status_for(&pb, "wamid.sent-by-b")] },
        ]
    });
    let r = post_shared(&s, &body, APP_SECRET).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["channels"], 2, "{v}");
    assert_eq!(v["unknown_keys"], json!([unknown]));

    let a = s.all_messages(&key_a, &ch_a).await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["external_id"], "wamid.for-a");
    assert_eq!(a[0]["text"], "hello A");
    let b = s.all_messages(&key_b, &ch_b).await;
    let mut ids: Vec<&str> = b
        .iter()
        .map(|m| m["external_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        vec!["wamid.for-b", "wamid.sent-by-b"],
        "B gets its message and its status, nothing of A's"
    );
    // A's key cannot see B's conversations either.
    let (_, convs) = s
        .get(&key_a, &format!("/v1/conversations?channel_id={ch_b}"))
        .await;
    assert!(convs["data"].as_array().unwrap().is_empty());

    // The provider retries the same batch: nothing new anywhere.
    assert_eq!(post_shared(&s, &body, APP_SECRET).await.status(), 200);
    assert_eq!(s.all_messages(&key_a, &ch_a).await.len(), 1);
    assert_eq!(s.all_messages(&key_b, &ch_b).await.len(), 2);
    s.stop().await;
}
on_both!(batch_spanning_numbers_is_split_per_tenant);

async fn forged_or_unknown_shared_webhooks_store_nothing(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("shared-f").await;
    let (pa, _, unknown) = numbers();
    let ch = s.whatsapp_channel_for(&key, &pa).await;
    s.assign_route(&ch, &pa).await;
    let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "w", "changes": [change_for(&pa, "wamid.forged", "x")] }] });
    assert_eq!(
        post_shared(&s, &body, "not-the-app-secret").await.status(),
        401
    );
    assert!(s.all_messages(&key, &ch).await.is_empty());
    // Only unknown numbers: acknowledged so Meta stops retrying, nothing stored.
    let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "w", "changes": [change_for(&unknown, "wamid.nobody", "x")] }] });
    let r = post_shared(&s, &body, APP_SECRET).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["channels"], 0);
    assert!(s.all_messages(&key, &ch).await.is_empty());
    // Adapters without a shared endpoint, and unknown adapters, are 404.
    assert_eq!(
        s.http
            .post(s.url("/webhooks/shared/telegram"))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        s.http
            .post(s.url("/webhooks/shared/nope"))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    s.stop().await;
}
on_both!(forged_or_unknown_shared_webhooks_store_nothing);

/// Numbers belong to the platform: a tenant that puts another business's
/// number in its configuration neither blocks the owner nor receives its
/// customers; only the admin's assignment routes a number, to one channel.
async fn a_number_routes_only_where_the_admin_assigned_it(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key_a) = s.tenant("owner-n").await;
    let (_, key_b) = s.tenant("squatter-n").await;
    let (pa, _, _) = numbers();
    // The squatter registers the number first, even with the shared
    // secret: created (it blocks nobody), and routed nothing.
    let squat = s.whatsapp_channel_for(&key_b, &pa).await;
    let owner = s.whatsapp_channel_for(&key_a, &pa).await;
    let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "w", "changes": [change_for(&pa, "wamid.early", "before routing")] }] });
    let r = post_shared(&s, &body, APP_SECRET).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["channels"], 0, "an unassigned number routes nowhere: {v}");
    assert_eq!(v["unknown_keys"], json!([pa]));
    assert!(s.all_messages(&key_b, &squat).await.is_empty());

    // The admin assigns it to the owner: the owner receives, the squatter
    // still nothing; the number cannot be assigned twice.
    s.assign_route(&owner, &pa).await;
    let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "w", "changes": [change_for(&pa, "wamid.routed", "after routing")] }] });
    assert_eq!(post_shared(&s, &body, APP_SECRET).await.status(), 200);
    let got = s.all_messages(&key_a, &owner).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["external_id"], "wamid.routed");
    assert!(s.all_messages(&key_b, &squat).await.is_empty());
    let (status, v) = s.put_route(&squat, Some(&pa)).await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["error"]["code"], "route_key_taken");
    let (_, view) = s.get(&key_a, &format!("/v1/channels/{owner}")).await;
    assert_eq!(view["route_key"], json!(pa));

    // Only the admin token assigns; a tenant key (even the owner's) is 401.
    let r = s
        .http
        .put(s.url(&format!("/v1/admin/channels/{owner}/route")))
        .bearer_auth(&key_a)
        .json(&json!({ "route_key": pa }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Unknown fields and bad keys are refused; unknown channels are 404;
    // an adapter without a shared endpoint cannot be routed.
    let r = s
        .http
        .put(s.url(&format!("/v1/admin/channels/{owner}/route")))
        .bearer_auth(&s.admin_token)
        .json(&json!({ "route_key": pa, "tenant": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(s.put_route(&owner, Some("  ")).await.0, 422);
    assert_eq!(s.put_route("ch_nope", Some(&pa)).await.0, 404);
    let (status, tg) = s
        .post_json(
            &key_a,
            "/v1/channels",
            &json!({ "name": "tg", "adapter": "telegram", "config": { "bot_token": "1:x", "secret_token": "s" } }),
        )
        .await;
    assert_eq!(status, 201, "{tg}");
    let (status, v) = s.put_route(tg["id"].as_str().unwrap(), Some(&pa)).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "no_shared_endpoint");

    // Audited in the owner's log: the key (a number, not a secret).
    let (_, audit) = s.get(&key_a, "/v1/audit?action=channel.route").await;
    let entry = &audit["data"][0];
    assert_eq!(entry["target"], json!(owner), "{audit}");
    assert_eq!(entry["actor"], "admin");
    assert_eq!(entry["detail"]["after"], json!(pa));

    // Withdrawn: the number routes nowhere again, and can go elsewhere.
    assert_eq!(s.put_route(&owner, None).await.0, 200);
    let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "w", "changes": [change_for(&pa, "wamid.withdrawn", "x")] }] });
    let v: Value = post_shared(&s, &body, APP_SECRET)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["channels"], 0);
    assert_eq!(s.all_messages(&key_a, &owner).await.len(), 1);
    s.stop().await;
}
on_both!(a_number_routes_only_where_the_admin_assigned_it);

/// One routed channel's failure (a wrong secret, a disabled channel) costs
/// the other channels of the same request nothing.
async fn one_channel_failing_does_not_fail_the_others(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key_a) = s.tenant("shared-ok").await;
    let (_, key_b) = s.tenant("shared-bad").await;
    let (pa, pb, _) = numbers();
    let ch_a = s.whatsapp_channel_for(&key_a, &pa).await;
    let ch_b = s.whatsapp_channel_for(&key_b, &pb).await;
    s.assign_route(&ch_a, &pa).await;
    s.assign_route(&ch_b, &pb).await;
    // B's tenant set another app secret: the platform's signature fails
    // for B alone.
    let (status, v) = s
        .patch_json(
            &key_b,
            &format!("/v1/channels/{ch_b}"),
            &json!({ "config": { "app_secret": "b-own-secret" } }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let batch = |n: &str| json!({ "object": "whatsapp_business_account", "entry": [{ "id": "w", "changes": [change_for(&pa, &format!("wamid.a{n}"), "for A"), change_for(&pb, &format!("wamid.b{n}"), "for B")] }] });
    let r = post_shared(&s, &batch("1"), APP_SECRET).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["channels"], 1, "{v}");
    assert_eq!(
        v["failed"],
        json!([{ "route_key": pb, "code": "invalid_signature" }])
    );
    assert_eq!(s.all_messages(&key_a, &ch_a).await.len(), 1);
    assert!(s.all_messages(&key_b, &ch_b).await.is_empty());

    // B disabled: the same, with B's reason.
    let (status, _) = s
        .patch_json(
            &key_b,
            &format!("/v1/channels/{ch_b}"),
            &json!({ "enabled": false, "config": { "app_secret": APP_SECRET } }),
        )
        .await;
    assert_eq!(status, 200);
    let v: Value = post_shared(&s, &batch("2"), APP_SECRET)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["channels"], 1, "{v}");
    assert_eq!(
        v["failed"],
        json!([{ "route_key": pb, "code": "channel_disabled" }])
    );
    assert_eq!(s.all_messages(&key_a, &ch_a).await.len(), 2);
    assert!(s.all_messages(&key_b, &ch_b).await.is_empty());
    // A request only for B's disabled number is refused like B's own
    // webhook would be, so the provider keeps it.
    let only_b = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "w", "changes": [change_for(&pb, "wamid.b3", "for B")] }] });
    let r = post_shared(&s, &only_b, APP_SECRET).await;
    assert_eq!(r.status(), 409);
    // Enabled again: B receives (a retry of the refused request).
    let (status, _) = s
        .patch_json(
            &key_b,
            &format!("/v1/channels/{ch_b}"),
            &json!({ "enabled": true }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(post_shared(&s, &only_b, APP_SECRET).await.status(), 200);
    assert_eq!(s.all_messages(&key_b, &ch_b).await.len(), 1);
    s.stop().await;
}
on_both!(one_channel_failing_does_not_fail_the_others);
