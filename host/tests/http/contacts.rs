//! One customer across channels (issue 12): merging contacts, listing and
//! finding them, their timeline across conversations, and linking a new
//! identity to the contact with the same phone number.

use serde_json::{Value, json};

use crate::harness::{APP_SECRET, Backend, TestServer, unique, wa_from};
use crate::mock::MockProvider;
use crate::on_both;

/// A phone number no other test uses (the PostgreSQL database is shared).
fn phone() -> String {
    format!(
        "1{}",
        u64::from_str_radix(&unique(), 16).unwrap() % 10_000_000_000
    )
}

async fn say(s: &TestServer, ch: &str, from: &str, name: &str, text: &str) {
    let r = s
        .post_signed(
            ch,
            &wa_from(&format!("wamid.{}", unique()), text, from, name),
            APP_SECRET,
        )
        .await;
    assert_eq!(r.status(), 200);
}

/// The conversations of a channel as (contact_id, conversation).
async fn conversations(s: &TestServer, key: &str, ch: &str) -> Vec<Value> {
    let (status, page) = s
        .get(key, &format!("/v1/conversations?channel_id={ch}&limit=200"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

/// The contact behind `address` on `ch`.
async fn contact_of(s: &TestServer, key: &str, ch: &str, address: &str) -> String {
    let (status, page) = s
        .get(key, &format!("/v1/contacts?channel_id={ch}&q={address}"))
        .await;
    assert_eq!(status, 200, "{page}");
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{page}");
    data[0]["id"].as_str().unwrap().to_string()
}

/// Every page of `path` (which has a query string already).
async fn all_pages(s: &TestServer, key: &str, path: &str) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut p = path.to_string();
        if let Some(c) = &cursor {
            p.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = s.get(key, &p).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return (out, pages),
        }
    }
}

async fn merge_moves_identities_conversations_consent_and_messages(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (_, key) = s.tenant("merge").await;
    let ch1 = s.whatsapp_channel_to(&key, &graph.base, &[], None).await;
    let ch2 = s.whatsapp_channel_to(&key, &graph.base, &[], None).await;
    let (x, y) = (phone(), phone());

    // X writes on channel 1; Y on both, and opts out on channel 2 only.
    say(&s, &ch1, &x, "Ann", "hello from x").await;
    say(&s, &ch1, &y, "Ann B", "hello from y").await;
    say(&s, &ch2, &y, "Ann B", "other channel").await;
    say(&s, &ch2, &y, "Ann B", "STOP").await;
    s.settled_outbound(&key, &ch2, 1).await;
    let cx = contact_of(&s, &key, &ch1, &x).await;
    let cy = contact_of(&s, &key, &ch1, &y).await;
    assert_ne!(cx, cy);
    // An address on another channel is another contact until merged: Y's
    // two become one first (nothing collides).
    let cy2 = contact_of(&s, &key, &ch2, &y).await;
    assert_ne!(cy, cy2);
    let (status, v) = s
        .post_json(
            &key,
            &format!("/v1/contacts/{cy}/merge"),
            &json!({ "from": cy2 }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["identities"].as_array().unwrap().len(), 2, "{v}");
    let before = conversations(&s, &key, &ch1).await;
    let y_last = before
        .iter()
        .find(|c| c["contact_id"] == cy.as_str())
        .unwrap()["last_message_at"]
        .as_i64()
        .unwrap();

    // Merging into itself is refused; an unknown `from` is a 404.
    let path = format!("/v1/contacts/{cx}/merge");
    let (status, v) = s.post_json(&key, &path, &json!({ "from": cx })).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "same_contact");
    let (status, _) = s
        .post_json(&key, &path, &json!({ "from": "ct_nope" }))
        .await;
    assert_eq!(status, 404);
    // A body without `from` is rejected like any malformed body.
    let (status, _) = s.post_json(&key, &path, &json!({})).await;
    assert_eq!(status, 422);

    // Another tenant sees neither contact.
    let (_, other) = s.tenant("merge-other").await;
    let (status, _) = s.post_json(&other, &path, &json!({ "from": cy })).await;
    assert_eq!(status, 404);

    let (status, merged) = s.post_json(&key, &path, &json!({ "from": cy })).await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["id"], cx.as_str());
    assert_eq!(merged["display_name"], "Ann");
    let (_, shown) = s.get(&key, &format!("/v1/contacts/{cx}")).await;
    assert_eq!(merged, shown);
    // Three identities, each with its own consent: Y's STOP on channel 2
    // silenced that identity only.
    let ids = merged["identities"].as_array().unwrap();
    assert_eq!(ids.len(), 3, "{merged}");
    for i in ids {
        let opted_out = i["channel_id"] == ch2.as_str() && i["address"] == y.as_str();
        assert_eq!(i["opted_out"], opted_out, "{i}");
    }
    assert_eq!(s.get(&key, &format!("/v1/contacts/{cy}")).await.0, 404);

    // Same channel: Y's conversation was folded into X's and deleted.
    let after = conversations(&s, &key, &ch1).await;
    assert!(before.len() >= 2 && after.len() == before.len() - 1);
    let kept: Vec<&Value> = after
        .iter()
        .filter(|c| c["contact_id"] == cx.as_str())
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["last_message_at"].as_i64().unwrap(), y_last);
    let (_, msgs) = s
        .get(
            &key,
            &format!(
                "/v1/conversations/{}/messages",
                kept[0]["id"].as_str().unwrap()
            ),
        )
        .await;
    let texts: Vec<&str> = msgs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello from x", "hello from y"]);
    // Other channel: the conversation moved.
    let on2 = conversations(&s, &key, &ch2).await;
    assert_eq!(on2.len(), 1);
    assert_eq!(on2[0]["contact_id"], cx.as_str());

    // Every message now belongs to X: the timeline has them all.
    let (timeline, _) = all_pages(&s, &key, &format!("/v1/contacts/{cx}/messages?limit=100")).await;
    assert_eq!(timeline.len(), 5, "{timeline:#?}");
    assert!(timeline.iter().all(|m| m["contact_id"] == cx.as_str()));
    assert_eq!(
        s.get(&key, &format!("/v1/contacts/{cy}/messages")).await.0,
        404
    );

    // Audited.
    let (_, audit) = s.get(&key, "/v1/audit?action=contact.merge").await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 2, "{audit}");
    let entry = &audit["data"][0];
    assert_eq!(entry["target"], cx.as_str(), "{audit}");
    assert_eq!(entry["detail"]["from"], cy.as_str());
    assert_eq!(entry["detail"]["identities"], 2);
    assert_eq!(entry["detail"]["conversations_folded"], 1);
    assert_eq!(entry["detail"]["conversations"], 1);
    s.stop().await;
}
on_both!(merge_moves_identities_conversations_consent_and_messages);

async fn contacts_are_listed_filtered_found_and_have_a_timeline(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("contacts").await;
    let ch1 = s.whatsapp_channel(&key).await;
    let ch2 = s.whatsapp_channel(&key).await;
    let (a, b, c, d) = (phone(), phone(), phone(), phone());
    say(&s, &ch1, &a, "Zed Alpha", "1").await;
    say(&s, &ch1, &b, "zed beta", "2").await;
    say(&s, &ch1, &c, "Other 50%", "3").await;
    say(&s, &ch2, &d, "Zed Gamma", "4").await;

    // Paged, newest first, every contact once.
    let (all, pages) = all_pages(&s, &key, "/v1/contacts?limit=3").await;
    assert_eq!(all.len(), 4);
    assert_eq!(pages, 2);
    let ids: Vec<&str> = all.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|x, y| y.cmp(x));
    assert_eq!(ids, sorted);
    assert_eq!(all[0]["display_name"], "Zed Gamma");
    assert_eq!(all[0]["identities"][0]["address"], d.as_str());
    assert_eq!(all[0]["identities"][0]["opted_out"], false);

    let names = |path: &str| {
        let s = &s;
        let key = &key;
        let path = path.to_string();
        async move {
            let (status, page) = s.get(key, &path).await;
            assert_eq!(status, 200, "{page}");
            let mut n: Vec<String> = page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["display_name"].as_str().unwrap().to_string())
                .collect();
            n.sort();
            n
        }
    };
    assert_eq!(
        names(&format!("/v1/contacts?channel_id={ch2}")).await,
        ["Zed Gamma"]
    );
    // Names, numbers and addresses are sealed: a contact is found by a
    // whole value through its blind index (a name case- and
    // space-insensitively, a number however it is written), never by a
    // fragment.
    assert!(names("/v1/contacts?q=zed").await.is_empty());
    assert_eq!(names("/v1/contacts?q=ZED%20%20BETA").await, ["zed beta"]);
    assert_eq!(
        names(&format!("/v1/contacts?q=Zed%20Alpha&channel_id={ch1}")).await,
        ["Zed Alpha"]
    );
    assert!(
        names(&format!("/v1/contacts?q=Zed%20Gamma&channel_id={ch1}"))
            .await
            .is_empty()
    );
    assert_eq!(names(&format!("/v1/contacts?q={b}")).await, ["zed beta"]);
    assert_eq!(
        names(&format!("/v1/contacts?q=%2B{}", &d[..])).await,
        ["Zed Gamma"],
        "the phone number in E.164"
    );
    assert!(
        names(&format!("/v1/contacts?q={}", &b[..b.len() - 1]))
            .await
            .is_empty()
    );
    // Wildcards are literal.
    assert!(names("/v1/contacts?q=%25").await.is_empty());
    assert_eq!(names("/v1/contacts?q=Other%2050%25").await, ["Other 50%"]);
    // Another tenant finds nothing of these.
    let (_, other) = s.tenant("contacts-other").await;
    let (_, page) = s.get(&other, &format!("/v1/contacts?q={a}")).await;
    assert_eq!(page["data"], json!([]));
    assert_eq!(page["next_cursor"], Value::Null);

    // A timeline across two channels, oldest first, in pages.
    say(&s, &ch2, &a, "Zed Alpha", "5").await;
    say(&s, &ch1, &a, "Zed Alpha", "6").await;
    say(&s, &ch2, &a, "Zed Alpha", "7").await;
    let ca1 = contact_of(&s, &key, &ch1, &a).await;
    let ca2 = contact_of(&s, &key, &ch2, &a).await;
    let (status, _) = s
        .post_json(
            &key,
            &format!("/v1/contacts/{ca1}/merge"),
            &json!({ "from": ca2 }),
        )
        .await;
    assert_eq!(status, 200);
    let (timeline, pages) =
        all_pages(&s, &key, &format!("/v1/contacts/{ca1}/messages?limit=2")).await;
    assert_eq!(pages, 2);
    let texts: Vec<&str> = timeline
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["1", "5", "6", "7"]);
    let channels: Vec<&str> = timeline
        .iter()
        .map(|m| m["channel_id"].as_str().unwrap())
        .collect();
    assert_eq!(channels, [&ch1, &ch2, &ch1, &ch2]);
    assert_eq!(
        s.get(&other, &format!("/v1/contacts/{ca1}/messages"))
            .await
            .0,
        404
    );
    s.stop().await;
}
on_both!(contacts_are_listed_filtered_found_and_have_a_timeline);

async fn identities_link_by_phone_only_when_the_tenant_asks(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("link").await;
    let ch1 = s.whatsapp_channel(&key).await;
    let ch2 = s.whatsapp_channel(&key).await;
    let (status, t) = s.get(&key, "/v1/tenant").await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["link_identities_by_phone"], false, "off by default");

    // Off: the same number on a second channel is another contact.
    let p = phone();
    say(&s, &ch1, &p, "Pat", "on one").await;
    say(&s, &ch2, &p, "Pat", "on two").await;
    assert_ne!(
        contact_of(&s, &key, &ch1, &p).await,
        contact_of(&s, &key, &ch2, &p).await
    );

    let (status, t) = s
        .patch_json(
            &key,
            "/v1/tenant",
            &json!({ "link_identities_by_phone": true }),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["link_identities_by_phone"], true);
    assert_eq!(
        s.get(&key, "/v1/tenant").await.1["link_identities_by_phone"],
        true
    );
    let (status, _) = s
        .patch_json(
            &key,
            "/v1/tenant",
            &json!({ "link_identities_by_phone": "yes" }),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = s
        .patch_json(&key, "/v1/tenant", &json!({ "other": 1 }))
        .await;
    assert_eq!(status, 422);
    let (_, audit) = s.get(&key, "/v1/audit?action=tenant.settings").await;
    assert_eq!(
        audit["data"][0]["detail"]["after"]["link_identities_by_phone"], true,
        "{audit}"
    );
    assert_eq!(
        audit["data"][0]["detail"]["before"]["link_identities_by_phone"],
        false
    );

    // On: the second channel's first message joins the contact with that
    // phone number; one contact, two identities, two conversations, one
    // timeline.
    let q = phone();
    say(&s, &ch1, &q, "Quinn", "first, on one").await;
    say(&s, &ch2, &q, "Quinn", "then on two").await;
    say(&s, &ch2, &q, "Quinn", "again on two").await;
    let contact = contact_of(&s, &key, &ch1, &q).await;
    assert_eq!(contact_of(&s, &key, &ch2, &q).await, contact);
    let (_, c) = s.get(&key, &format!("/v1/contacts/{contact}")).await;
    let channels: Vec<&str> = c["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["channel_id"].as_str().unwrap())
        .collect();
    assert_eq!(channels, [&ch1, &ch2], "{c}");
    let (_, page) = s.get(&key, &format!("/v1/contacts?q={q}")).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
    for ch in [&ch1, &ch2] {
        let convs = conversations(&s, &key, ch).await;
        assert_eq!(
            convs
                .iter()
                .filter(|cv| cv["contact_id"] == contact.as_str())
                .count(),
            1
        );
    }
    let (_, timeline) = s
        .get(&key, &format!("/v1/contacts/{contact}/messages"))
        .await;
    let texts: Vec<&str> = timeline["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first, on one", "then on two", "again on two"]);

    // Another tenant with the setting on never links to this tenant's
    // contact.
    let (_, other) = s.tenant("link-other").await;
    let ch3 = s.whatsapp_channel(&other).await;
    s.patch_json(
        &other,
        "/v1/tenant",
        &json!({ "link_identities_by_phone": true }),
    )
    .await;
    say(&s, &ch3, &q, "Quinn", "elsewhere").await;
    let theirs = contact_of(&s, &other, &ch3, &q).await;
    assert_ne!(theirs, contact);
    let (_, c) = s.get(&key, &format!("/v1/contacts/{contact}")).await;
    assert_eq!(c["identities"].as_array().unwrap().len(), 2, "{c}");
    s.stop().await;
}
on_both!(identities_link_by_phone_only_when_the_tenant_asks);
