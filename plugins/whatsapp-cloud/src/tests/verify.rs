//! Signature and handshake checks, with a test HMAC standing in for the
//! host's, against `x_hub_signature_256_vectors.json`.

use serde_json::Value;
use switchboard_sdk::{HttpRequest, PluginError};

use super::fixture;
/// HMAC-SHA256 from the `hmac`/`sha2` crates: an implementation independent
/// of the plugin (which asks the host) to compute expected signatures.
fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}
use crate::verify::{Crypto, check_signature, decode_hex, handshake};

struct TestCrypto;

impl Crypto for TestCrypto {
    fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac_sha256(key, data).to_vec()
    }
    fn constant_time_eq(&self, a: &[u8], b: &[u8]) -> bool {
        a == b
    }
}

fn vectors() -> Value {
    serde_json::from_str(fixture!("x_hub_signature_256_vectors.json")).unwrap()
}

fn check(header: Option<&str>, body: &[u8], secret: &str) -> Result<(), PluginError> {
    check_signature(header, body, secret.as_bytes(), &TestCrypto)
}

fn rejected(result: Result<(), PluginError>, expected_words: &str) {
    match result {
        Err(PluginError::InvalidSignature(message)) => {
            assert!(
                message.contains(expected_words),
                "message {message:?} lacks {expected_words:?}"
            )
        }
        other => panic!("expected an invalid-signature error, got {other:?}"),
    }
}

#[test]
fn official_vector_is_accepted() {
    let v = vectors();
    let official = &v["official_vector"];
    let header = official["x_hub_signature_256"].as_str().unwrap();
    let secret = official["secret"].as_str().unwrap();
    assert_eq!(secret, "It's a Secret to Everybody");
    check(Some(header), b"Hello, World!", secret).unwrap();
}

#[test]
fn raw_fixture_bytes_are_signed_not_a_reserialisation() {
    let v = vectors();
    let selfgen = &v["selfgen_vectors"];
    let secret = selfgen["secret"].as_str().unwrap();
    let hello = fixture!("courier_wac_hello.json").as_bytes();
    let status = fixture!("courier_wac_valid_status.json").as_bytes();
    check(
        Some(selfgen["courier_wac_hello.json"].as_str().unwrap()),
        hello,
        secret,
    )
    .unwrap();
    check(
        Some(selfgen["courier_wac_valid_status.json"].as_str().unwrap()),
        status,
        secret,
    )
    .unwrap();

    let compact = &selfgen["courier_wac_hello.json_compact_reserialized"];
    let compact_body = compact["body"].as_str().unwrap().as_bytes();
    let compact_sig = compact["x_hub_signature_256"].as_str().unwrap();
    check(Some(compact_sig), compact_body, secret).unwrap();
    // The same JSON, re-serialised, has a different signature.
    rejected(check(Some(compact_sig), hello, secret), "does not match");
}

#[test]
fn negative_cases_are_rejected_with_clear_messages() {
    let v = vectors();
    let secret = v["selfgen_vectors"]["secret"].as_str().unwrap();
    let good = v["selfgen_vectors"]["courier_wac_hello.json"]
        .as_str()
        .unwrap();
    let body = fixture!("courier_wac_hello.json");

    rejected(
        check(None, body.as_bytes(), secret),
        "missing X-Hub-Signature-256",
    );
    rejected(
        check(Some("  "), body.as_bytes(), secret),
        "missing X-Hub-Signature-256",
    );
    let legacy = good.replacen("sha256=", "sha1=", 1);
    rejected(
        check(Some(&legacy), body.as_bytes(), secret),
        "scheme `sha1`",
    );
    rejected(
        check(
            Some(good.trim_start_matches("sha256=")),
            body.as_bytes(),
            secret,
        ),
        "sha256=",
    );
    rejected(
        check(Some("sha256=zz"), body.as_bytes(), secret),
        "64-digit hex",
    );
    rejected(
        check(Some("sha256=abcd"), body.as_bytes(), secret),
        "64-digit hex",
    );
    // Trailing newline appended to the body.
    rejected(
        check(Some(good), format!("{body}\n").as_bytes(), secret),
        "does not match",
    );
    // Wrong secret.
    rejected(
        check(Some(good), body.as_bytes(), "another_secret"),
        "does not match",
    );
}

#[test]
fn upper_case_hex_and_prefix_are_accepted() {
    let v = vectors();
    let secret = v["selfgen_vectors"]["secret"].as_str().unwrap();
    let good = v["selfgen_vectors"]["courier_wac_hello.json"]
        .as_str()
        .unwrap();
    let upper = format!(
        "SHA256={}",
        good.trim_start_matches("sha256=").to_ascii_uppercase()
    );
    check(
        Some(&upper),
        fixture!("courier_wac_hello.json").as_bytes(),
        secret,
    )
    .unwrap();
}

#[test]
fn hex_decoding() {
    assert_eq!(decode_hex("00ff7A"), Some(vec![0x00, 0xff, 0x7a]));
    assert_eq!(decode_hex("abc"), None);
    assert_eq!(decode_hex("0g"), None);
    assert_eq!(decode_hex(""), Some(vec![]));
}

fn get(query: &str) -> HttpRequest {
    HttpRequest::new("GET", format!("https://hooks.example/webhooks/wa?{query}"))
}

#[test]
fn handshake_echoes_the_challenge_for_the_right_token() {
    let ok = handshake(
        &get("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock"),
        "meatyhamhock",
        &TestCrypto,
    );
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, b"1158201444");
    assert_eq!(ok.header("content-type"), Some("text/plain; charset=utf-8"));

    // The challenge is echoed decoded, whatever it contains.
    let encoded = handshake(
        &get("hub.verify_token=t%26k&hub.challenge=a%20b&hub.mode=subscribe"),
        "t&k",
        &TestCrypto,
    );
    assert_eq!(
        (encoded.status, encoded.body.as_slice()),
        (200, b"a b".as_slice())
    );
}

#[test]
fn handshake_refuses_anything_else() {
    for query in [
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=wrong",
        "hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock",
        "hub.challenge=1158201444&hub.verify_token=meatyhamhock",
        "hub.mode=subscribe&hub.verify_token=meatyhamhock",
        "hub.mode=subscribe&hub.challenge=1158201444",
        "",
    ] {
        let response = handshake(&get(query), "meatyhamhock", &TestCrypto);
        assert_eq!(response.status, 403, "query {query:?}");
        assert_eq!(response.body, b"verification failed");
    }
}
