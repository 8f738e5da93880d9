//! Pre-built, signed Meta WhatsApp Cloud webhook bodies.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderValue;
use serde_json::json;
use sha2::Sha256;

/// One webhook ready to send: the exact bytes and the signature over them.
#[derive(Clone)]
pub struct Signed {
    /// `Bytes` so each send (and each retry) shares the buffer instead of copying it.
    pub body: Bytes,
    /// `sha256=<hex>` for `X-Hub-Signature-256`.
    pub signature: HeaderValue,
}

pub struct Built {
    pub bodies: Vec<Signed>,
    /// Every `wamid` sent, to tell lost messages from foreign ones.
    pub expected_ids: HashSet<String>,
}

/// `n` single-message text webhooks, message `i` from contact `i % contacts`,
/// each with a unique `wamid.load-<run>-<i>`.
pub fn build(
    run_id: &str,
    n: usize,
    contacts: usize,
    app_secret: &str,
    phone_number_id: &str,
) -> Result<Built> {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)?
        .as_secs()
        .to_string();
    let mut bodies = Vec::with_capacity(n);
    let mut expected_ids = HashSet::with_capacity(n);
    for i in 0..n {
        let contact = i % contacts;
        // Zero-padded so every sender looks like a plausible, distinct number.
        let wa_id = format!("1555{contact:06}");
        let wamid = format!("wamid.load-{run_id}-{i}");
        let payload = json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": "100000000000001",
                "changes": [{
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": { "display_phone_number": "15550001111", "phone_number_id": phone_number_id },
                        "contacts": [{ "profile": { "name": format!("Load User {contact}") }, "wa_id": wa_id }],
                        "messages": [{
                            "from": wa_id,
                            "id": wamid,
                            "timestamp": timestamp,
                            "type": "text",
                            "text": { "body": format!("hello {i}") },
                        }],
                    },
                }],
            }],
        });
        let body = serde_json::to_vec(&payload)?;
        let signature = HeaderValue::from_str(&format!("sha256={}", sign(app_secret, &body)))?;
        bodies.push(Signed {
            body: Bytes::from(body),
            signature,
        });
        expected_ids.insert(wamid);
    }
    Ok(Built {
        bodies,
        expected_ids,
    })
}

/// Lowercase hex HMAC-SHA256 of the raw body, keyed with the app secret as
/// Meta does (the secret string's bytes, not its hex decoding).
fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_plain_hmac_sha256_hex() {
        // The well-known HMAC-SHA256 example value for this key and message.
        assert_eq!(
            sign("key", b"The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn ids_are_distinct_and_senders_spread() {
        let built = build("t", 10, 3, "s", "1").unwrap();
        assert_eq!(built.expected_ids.len(), 10);
        let v: serde_json::Value = serde_json::from_slice(&built.bodies[4].body).unwrap();
        let value = &v["entry"][0]["changes"][0]["value"];
        assert_eq!(value["messages"][0]["from"], "1555000001");
        assert_eq!(value["messages"][0]["id"], "wamid.load-t-4");
    }
}
