//! Encryption at rest for channel configuration (which carries provider
//! secrets): ChaCha20-Poly1305 under a platform key from
//! `SWITCHBOARD_SECRET_KEY` (64 hex chars) or `<data-dir>/secret.key`,
//! generated with mode 0600 on first start.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

/// Seals and opens configuration blobs.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// Why a sealed blob could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("sealed configuration could not be decrypted (wrong platform key or corrupted data)")]
pub struct OpenError;

impl SecretBox {
    /// A box from a 32-byte key.
    pub fn from_key(key: &[u8; 32]) -> Self {
        SecretBox {
            cipher: ChaCha20Poly1305::new_from_slice(key).expect("32-byte key"),
        }
    }

    /// The key from `SWITCHBOARD_SECRET_KEY`, else from (or newly into)
    /// `<data_dir>/secret.key`.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        if let Ok(hexkey) = std::env::var("SWITCHBOARD_SECRET_KEY") {
            let bytes = hex::decode(hexkey.trim())
                .map_err(|_| anyhow::anyhow!("SWITCHBOARD_SECRET_KEY must be 64 hex characters"))?;
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| anyhow::anyhow!("SWITCHBOARD_SECRET_KEY must be 64 hex characters"))?;
            return Ok(Self::from_key(&key));
        }
        let path = data_dir.join("secret.key");
        let key = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())?;
                bytes
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("{} is not a 32-byte hex key", path.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
                write_private(&path, hex::encode(key).as_bytes())?;
                key
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self::from_key(&key))
    }

    /// Encrypt: a fresh random nonce, then the ciphertext.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("OS random source");
        let ct = self
            .cipher
            .encrypt(&Nonce::from(nonce), plaintext)
            .expect("encryption cannot fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypt what `seal` produced.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < 12 {
            return Err(OpenError);
        }
        let (nonce, ct) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| OpenError)?;
        self.cipher
            .decrypt(&Nonce::from(nonce), ct)
            .map_err(|_| OpenError)
    }
}

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
    fn seal_open_round_trip_and_tamper_detection() {
        let b = SecretBox::from_key(&[7u8; 32]);
        let sealed = b.seal(b"app_secret=hunter2");
        assert!(
            !sealed.windows(7).any(|w| w == b"hunter2"),
            "plaintext must not appear"
        );
        assert_eq!(b.open(&sealed).unwrap(), b"app_secret=hunter2");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(b.open(&tampered).is_err());
        assert!(SecretBox::from_key(&[8u8; 32]).open(&sealed).is_err());
    }

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
