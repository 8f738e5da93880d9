//! Property tests over the webhook entry point of every first-party adapter
//! (the fuzzing suite: cargo-fuzz needs a nightly toolchain this workspace
//! does not have). Arbitrary bodies, headers and signatures go through the
//! real components under the platform's limits; for every input:
//! - the host does not panic and the call ends in a typed result;
//! - no event comes out of a request whose signature did not verify;
//! - the guest does not trap (a trap is a bug in the adapter: a panic).
//!
//! Each property runs a bounded number of cases (`PROPTEST_CASES` raises it
//! for a longer local run).

use std::sync::Arc;

use proptest::prelude::*;
use switchboard::domain::{GuestError, HttpRequest};
use switchboard::runtime::{LoadedPlugin, PluginError, Verified};
use switchboard_artifacts::first_party::{TELEGRAM, TWILIO_SMS, TWILIO_WHATSAPP, WHATSAPP_CLOUD};

use crate::common::{ctx, hmac_sha256_hex, post, runtime};

const APP_SECRET: &str = "fuzz-app-secret";
const TG_SECRET: &str = "fuzz-secret-token";

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

fn load(bytes: &[u8]) -> Arc<LoadedPlugin> {
    runtime().load(bytes).expect("first-party plugin loads")
}

/// One adapter's verify-then-parse on `req`: `Err` carries the typed error.
fn call(
    plugin: &Arc<LoadedPlugin>,
    config: &[(&str, &str)],
    req: HttpRequest,
) -> Result<Verified, PluginError> {
    let mut inst = runtime()
        .instantiate(plugin, &ctx("fuzz", "adapter", config))
        .expect("instantiates");
    inst.verify_then_parse(req).map_err(|(_, e)| e)
}

/// The outcome is typed and the guest did not trap or run out of a limit.
fn assert_contained(r: &Result<Verified, PluginError>) {
    if let Err(e) = r {
        assert!(
            matches!(e, PluginError::Guest(_)),
            "the adapter failed other than with its own error: {e:?}"
        );
    }
}

fn events(r: &Result<Verified, PluginError>) -> usize {
    match r {
        Ok(Verified::Events(e)) => e.len(),
        _ => 0,
    }
}

/// Bodies that are mostly JSON-shaped (so parsers get past the first byte),
/// sometimes arbitrary bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        "[{}\\[\\]\":,a-z0-9 ]{0,256}".prop_map(String::into_bytes),
        (any::<u32>(), "[a-z]{1,12}", "\\PC{0,40}").prop_map(|(id, kind, text)| {
            serde_json::json!({
                "object": "whatsapp_business_account",
                "update_id": id,
                "entry": [{ "changes": [{ "field": "messages", "value": {
                    "metadata": { "phone_number_id": "1" },
                    "messages": [{ "from": "1555", "id": format!("wamid.{id}"), "type": kind, "text": { "body": text } }]
                } }] }],
                "message": { "message_id": id, "chat": { "id": id }, "text": text }
            })
            .to_string()
            .into_bytes()
        }),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                Just("x-hub-signature-256".to_string()),
                Just("x-twilio-signature".to_string()),
                Just("x-telegram-bot-api-secret-token".to_string()),
                Just("content-type".to_string()),
                "[a-z-]{1,20}",
            ],
            "[ -~]{0,80}",
        ),
        0..4,
    )
}

fn request(body: &[u8], headers: &[(String, String)]) -> HttpRequest {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    post("https://fuzz.test/webhooks/ch_fuzz?x=1", &h, body)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Unsigned or wrongly signed requests store nothing, on every adapter.
    #[test]
    fn unverified_requests_yield_no_events(body in body(), headers in headers()) {
        let req = request(&body, &headers);
        for (plugin, config) in [
            (load(WHATSAPP_CLOUD), vec![("app_secret", APP_SECRET), ("verify_token", "v"), ("phone_number_id", "1"), ("access_token", "t")]),
            (load(TELEGRAM), vec![("bot_token", "1:x"), ("secret_token", TG_SECRET)]),
            (load(TWILIO_SMS), vec![("account_sid", "AC1"), ("auth_token", "tok"), ("from", "+1555"), ("webhook_url", "https://fuzz.test/webhooks/ch_fuzz")]),
            (load(TWILIO_WHATSAPP), vec![("account_sid", "AC1"), ("auth_token", "tok"), ("from", "+1555"), ("webhook_url", "https://fuzz.test/webhooks/ch_fuzz")]),
        ] {
            let r = call(&plugin, &config, req.clone());
            assert_contained(&r);
            // A random header cannot carry a valid HMAC or the secret token.
            prop_assert_eq!(events(&r), 0, "{:?} -> {:?}", String::from_utf8_lossy(&body), r);
        }
    }

    /// Correctly signed but arbitrary bodies: a typed answer (events or
    /// `bad-request`), never a trap.
    #[test]
    fn signed_arbitrary_bodies_get_a_typed_answer(body in body()) {
        let sig = format!("sha256={}", hmac_sha256_hex(APP_SECRET.as_bytes(), &body));
        let r = call(
            &load(WHATSAPP_CLOUD),
            &[("app_secret", APP_SECRET), ("verify_token", "v"), ("phone_number_id", "1"), ("access_token", "t")],
            post("https://fuzz.test/webhooks/ch_fuzz", &[("x-hub-signature-256", &sig)], &body),
        );
        assert_contained(&r);
        if let Err(PluginError::Guest(e)) = &r {
            prop_assert!(!matches!(e, GuestError::InvalidSignature(_)), "a valid signature was refused: {e:?}");
        }
        let r = call(
            &load(TELEGRAM),
            &[("bot_token", "1:x"), ("secret_token", TG_SECRET)],
            post("https://fuzz.test/webhooks/ch_fuzz", &[("x-telegram-bot-api-secret-token", TG_SECRET)], &body),
        );
        assert_contained(&r);
    }

    /// Twilio's form bodies: arbitrary key/value pairs, form-encoded.
    #[test]
    fn twilio_forms_get_a_typed_answer(pairs in proptest::collection::vec(("[A-Za-z0-9]{1,12}", "\\PC{0,30}"), 0..12)) {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .finish();
        let r = call(
            &load(TWILIO_SMS),
            &[("account_sid", "AC1"), ("auth_token", "tok"), ("from", "+1555"), ("webhook_url", "https://fuzz.test/webhooks/ch_fuzz")],
            post("https://fuzz.test/webhooks/ch_fuzz", &[("x-twilio-signature", "bm90LWEtc2lnbmF0dXJl")], body.as_bytes()),
        );
        assert_contained(&r);
        prop_assert_eq!(events(&r), 0);
    }
}
