//! Message content encrypted per tenant (issue 12): what customers write
//! and who they are is sealed under the tenant's data key, so neither the
//! SQLite file (with its WAL) nor any PostgreSQL table holds it in the
//! clear, while the API shows it as before; a deleted tenant's content no
//! longer opens.

use serde_json::json;

use crate::harness::{APP_SECRET, Backend, TestServer, unique, wa_from};
use crate::mock::MockProvider;
use crate::on_both;
use crate::secrets::{contains, encodings};

async fn message_content_is_sealed_at_rest(backend: Backend) {
    let sqlite = matches!(backend, Backend::Sqlite);
    let s = TestServer::start(backend).await;
    let graph = MockProvider::graph().await;
    let (tenant, key) = s.tenant("sealed-content").await;
    let u = unique();
    let inbound = format!("inbound-marker-{u}");
    let name = format!("Marker Name {u}");
    let phone = format!("1{}", u64::from_str_radix(&u, 16).unwrap() % 10_000_000_000);
    let outbound = format!("outbound-marker-{u}");
    let persona = s
        .persona(
            &key,
            json!({ "name": format!("static-{u}"), "responder": { "kind": "static", "text": "Hello {{contact_name}}!" } }),
        )
        .await;
    let ch = s
        .whatsapp_channel_to(&key, &graph.base, &[], Some(&persona))
        .await;

    // A customer writes; the persona answers with their name; the business
    // sends a message of its own (with an idempotency key, whose replayed
    // answer shows the message too).
    let r = s
        .post_signed(
            &ch,
            &wa_from(&format!("wamid.{u}"), &inbound, &phone, &name),
            APP_SECRET,
        )
        .await;
    assert_eq!(r.status(), 200);
    let sent = graph.wait_for(1).await;
    assert_eq!(sent[0].json()["text"]["body"], format!("Hello {name}!"));
    let r = s
        .http
        .post(s.url("/v1/messages"))
        .bearer_auth(&key)
        .header("idempotency-key", format!("k-{u}"))
        .json(&json!({ "channel_id": ch, "to": phone, "text": outbound }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    graph.wait_for(2).await;

    // The API shows all of it in the clear.
    let msgs = s.all_messages(&key, &ch).await;
    let texts: Vec<&str> = msgs.iter().filter_map(|m| m["text"].as_str()).collect();
    for want in [inbound.as_str(), &format!("Hello {name}!"), &outbound] {
        assert!(texts.contains(&want), "{want} not in {texts:?}");
    }
    let (status, found) = s.get(&key, &format!("/v1/contacts?q={phone}")).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["data"][0]["display_name"], name.as_str(), "{found}");
    assert_eq!(found["data"][0]["phone"], phone.as_str());
    assert_eq!(found["data"][0]["identities"][0]["address"], phone.as_str());

    // At rest, none of it: not in the clear, not merely encoded.
    let needles = [&inbound, &name, &phone, &outbound];
    if sqlite {
        let mut scanned = 0;
        for entry in std::fs::read_dir(s.data_dir()).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().to_string();
            if !file.starts_with("switchboard.db") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            scanned += bytes.len();
            for needle in needles {
                for enc in encodings(needle) {
                    assert!(
                        !contains(&bytes, &enc),
                        "{file} holds {needle} in the clear or encoded"
                    );
                }
            }
        }
        // The database file and its WAL were there to scan.
        assert!(scanned > 64 * 1024, "only {scanned} bytes scanned");
        assert!(s.data_dir().join("switchboard.db-wal").exists());
    } else {
        for needle in needles {
            for enc in encodings(needle) {
                let enc = String::from_utf8(enc).unwrap();
                let tables = s.db().tables_containing(&enc).await.unwrap();
                assert!(tables.is_empty(), "{needle} found in {tables:?}");
            }
        }
        // The scan does find what is stored in the clear (the tenant's id).
        assert!(!s.db().tables_containing(&tenant).await.unwrap().is_empty());
    }

    // Deleting the tenant destroys its key: its content no longer opens,
    // for this server or any other with the same master key.
    let r = s
        .http
        .delete(s.url(&format!("/v1/admin/tenants/{tenant}")))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let ring = switchboard::secrets::Keyring::new(
        s.db().clone(),
        switchboard::secrets::MasterKey::from_bytes([7u8; 32]),
    );
    assert!(ring.cipher(&tenant).await.is_err());
    s.stop().await;
}
on_both!(message_content_is_sealed_at_rest);
