//! The secret-token header check, with a plain comparison standing in for
//! the host's constant-time one.

use switchboard_sdk::PluginError;

use crate::verify::{Crypto, check_secret_token};

struct TestCrypto;

impl Crypto for TestCrypto {
    fn constant_time_eq(&self, a: &[u8], b: &[u8]) -> bool {
        a == b
    }
}

fn rejected(header: Option<&str>, words: &str) {
    match check_secret_token(header, "s3cr3t_token-1", &TestCrypto) {
        Err(PluginError::InvalidSignature(m)) => {
            assert!(m.contains(words), "{m:?} lacks {words:?}")
        }
        other => panic!("expected invalid signature, got {other:?}"),
    }
}

#[test]
fn the_configured_secret_is_accepted() {
    check_secret_token(Some("s3cr3t_token-1"), "s3cr3t_token-1", &TestCrypto).unwrap();
}

#[test]
fn missing_or_wrong_secrets_are_rejected() {
    rejected(None, "missing");
    rejected(Some(""), "missing");
    rejected(Some("s3cr3t_token-"), "does not match");
    rejected(Some("S3CR3T_TOKEN-1"), "does not match");
    rejected(Some("s3cr3t_token-1 "), "does not match");
}
