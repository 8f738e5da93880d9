//! Secrets at rest. Channel configurations (provider secrets) and persona
//! responders (LLM API keys) are sealed with AES-256-GCM under a per-tenant
//! data key; data keys are stored wrapped by the master key
//! (`SWITCHBOARD_MASTER_KEY`, or `<data-dir>/master.key` for the embedded
//! SQLite database). Rotating the master key re-wraps data keys only
//! (`switchboard keys rotate`); deleting a tenant destroys its data key.
//!
//! - `envelope`: the versioned ciphertext format
//! - `master`: where the master key comes from
//! - `keyring`: tenant data keys, sealing, opening and rotation
//!
//! Secrets never appear in logs, API responses or errors: key types redact
//! themselves in `Debug`, and errors carry no key, plaintext or ciphertext.

mod envelope;
mod keyring;
mod master;

use std::path::Path;

pub use keyring::{Keyring, Purpose, SecretError, rotate};
pub use master::{InvalidMasterKey, MASTER_KEY_ENV, MASTER_KEY_FILE, MasterKey, key_file};

/// Write a file only its owner can read.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)
}

/// Whether a configuration key holds a secret (never shown by any GET).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "secret", "token", "password", "api_key", "apikey", "auth", "private",
    ]
    .iter()
    .any(|s| k.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_recognised() {
        for k in [
            "app_secret",
            "access_token",
            "auth_token",
            "bot_token",
            "secret_token",
            "api_key",
            "verify_token",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "phone_number_id",
            "account_sid",
            "from",
            "api_base_url",
            "webhook_url",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}
