//! Secrets at rest: what the database holds is ciphertext under a
//! per-tenant data key, deleting a tenant shreds its secrets, and
//! PostgreSQL does not start without an explicit master key.

use base64::Engine;
use serde_json::json;
use switchboard::secrets::{Keyring, MasterKey};
use switchboard::server::{ServerConfig, start};

use crate::harness::{Backend, TestServer, fixture_body, unique};
use crate::on_both;

/// The ways a secret could leak into stored bytes without being encrypted.
pub(crate) fn encodings(secret: &str) -> Vec<Vec<u8>> {
    let b = secret.as_bytes();
    vec![
        b.to_vec(),
        hex::encode(b).into_bytes(),
        hex::encode_upper(b).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(b)
            .into_bytes(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(b)
            .into_bytes(),
    ]
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A tenant with a WhatsApp channel and an OpenAI persona whose secrets are
/// unique to this test; returns (tenant id, API key, channel id, secrets).
async fn tenant_with_secrets(
    s: &TestServer,
    prefix: &str,
) -> (String, String, String, Vec<String>) {
    let (tenant, key) = s.tenant(prefix).await;
    let u = unique();
    let app_secret = format!("app-secret-{u}");
    let access_token = format!("EAAG-access-token-{u}");
    let api_key = format!("sk-openai-key-{u}");
    let pnid = format!("7{}", u64::from_str_radix(&u, 16).unwrap());
    let (status, v) = s
        .post_json(
            &key,
            "/v1/channels",
            &json!({
                "name": "WhatsApp",
                "adapter": "whatsapp-cloud",
                "config": { "app_secret": app_secret, "access_token": access_token, "verify_token": "vt", "phone_number_id": pnid },
            }),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let channel = v["id"].as_str().unwrap().to_string();
    s.persona(
        &key,
        json!({
            "name": "llm",
            "responder": { "kind": "openai", "base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini", "api_key": api_key }
        }),
    )
    .await;
    (
        tenant,
        key,
        channel,
        vec![app_secret, access_token, api_key],
    )
}

async fn ciphertexts_in_the_database_do_not_contain_the_secrets(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (tenant, key, channel, secrets) = tenant_with_secrets(&s, "sealed").await;

    let raw = s.db().raw_secret_columns(&tenant).await.unwrap();
    for column in [
        "channels.config_enc",
        "personas.responder_enc",
        "tenant_keys.wrapped_key",
    ] {
        let values: Vec<_> = raw.iter().filter(|(c, _)| c == column).collect();
        assert_eq!(values.len(), 1, "{column}");
        assert_eq!(values[0].1[0], 1, "{column}: format version 1");
    }
    // version + key id + nonce + 32-byte data key + tag
    let wrapped = &raw
        .iter()
        .find(|(c, _)| c == "tenant_keys.wrapped_key")
        .unwrap()
        .1;
    assert_eq!(wrapped.len(), 1 + 4 + 12 + 32 + 16);
    for (column, bytes) in &raw {
        for secret in &secrets {
            for enc in encodings(secret) {
                assert!(
                    !contains(bytes, &enc),
                    "{column} holds a secret in the clear or encoded"
                );
            }
        }
    }

    // Nor do the API's answers; the secrets still work where they are used.
    let (status, ch) = s.get(&key, &format!("/v1/channels/{channel}")).await;
    assert_eq!(status, 200, "{ch}");
    assert_eq!(ch["config"]["app_secret"], "set");
    assert_eq!(ch["config"]["access_token"], "set");
    let (_, personas) = s.get(&key, "/v1/personas").await;
    assert_eq!(personas["data"][0]["responder"]["api_key"], "set");
    for secret in &secrets {
        assert!(!ch.to_string().contains(secret.as_str()));
        assert!(!personas.to_string().contains(secret.as_str()));
    }
    let body = fixture_body("meta_dashboard_test_text_message.json");
    let r = s.post_signed(&channel, &body, &secrets[0]).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let r = s.post_signed(&channel, &body, "not-the-secret").await;
    assert_eq!(r.status(), 401);
    s.stop().await;
}
on_both!(ciphertexts_in_the_database_do_not_contain_the_secrets);

async fn deleting_a_tenant_makes_its_secrets_unreadable(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (gone, gone_key, gone_channel, secrets) = tenant_with_secrets(&s, "doomed").await;
    let (_, kept_key, kept_channel, kept_secrets) = tenant_with_secrets(&s, "kept").await;
    let body = fixture_body("meta_dashboard_test_text_message.json");
    let r = s.post_signed(&gone_channel, &body, &secrets[0]).await;
    assert_eq!(r.status(), 200, "works before the deletion (and is cached)");

    let delete = |token: &str| {
        s.http
            .delete(s.url(&format!("/v1/admin/tenants/{gone}")))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(
        delete(&gone_key).await.unwrap().status(),
        401,
        "admins only"
    );
    assert_eq!(delete(&s.admin_token).await.unwrap().status(), 204);
    assert_eq!(delete(&s.admin_token).await.unwrap().status(), 404);

    // Its webhooks and API keys are dead; the other tenant is untouched.
    let r = s.post_signed(&gone_channel, &body, &secrets[0]).await;
    assert_eq!(r.status(), 404);
    let (status, _) = s.get(&gone_key, "/v1/channels").await;
    assert_eq!(status, 401);
    let r = s.post_signed(&kept_channel, &body, &kept_secrets[0]).await;
    assert_eq!(r.status(), 200);
    let (status, _) = s
        .get(&kept_key, &format!("/v1/channels/{kept_channel}"))
        .await;
    assert_eq!(status, 200);

    // The rows are still there, but nothing opens them any more, even with
    // the right master key and a cold cache.
    let db = s.db();
    let ring = Keyring::new(db.clone(), MasterKey::from_bytes([7u8; 32]));
    let e = db
        .get_channel(&gone, &gone_channel, &ring)
        .await
        .unwrap_err();
    assert!(!format!("{e:?}").contains(secrets[0].as_str()));
    assert!(db.list_personas(&gone, &ring).await.is_err());
    let raw = db.raw_secret_columns(&gone).await.unwrap();
    let wrapped = &raw
        .iter()
        .find(|(c, _)| c == "tenant_keys.wrapped_key")
        .unwrap()
        .1;
    assert!(wrapped.is_empty(), "the wrapped data key is overwritten");
    let audit = db.audit_entries(&gone, 10).await.unwrap();
    assert!(
        audit.iter().any(|a| a.action == "tenant.delete"),
        "{audit:?}"
    );
    s.stop().await;
}
on_both!(deleting_a_tenant_makes_its_secrets_unreadable);

#[tokio::test]
async fn postgres_without_a_master_key_refuses_to_start() {
    let Some(Backend::Postgres(url)) = Backend::postgres() else {
        eprintln!("SWITCHBOARD_TEST_POSTGRES_URL unset: PostgreSQL run skipped");
        return;
    };
    if std::env::var_os("SWITCHBOARD_MASTER_KEY").is_some() {
        eprintln!("SWITCHBOARD_MASTER_KEY is set in this environment: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path().to_path_buf());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.database_url = Some(url);
    let e = match start(config, false).await {
        Ok(_) => panic!("started without a master key"),
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains("SWITCHBOARD_MASTER_KEY"), "{e}");
    assert!(
        !dir.path().join("master.key").exists(),
        "no key is generated for a shared database"
    );
}
