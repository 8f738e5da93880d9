//! The one ciphertext format, used both for sealed values (under a tenant's
//! data key) and for wrapped data keys (under the master key):
//!
//! ```text
//! offset  size  field
//! 0       1     version, 0x01
//! 1       4     key id: first 4 bytes of SHA-256("switchboard key id v1" || key)
//! 5       12    nonce, random (getrandom) for every seal
//! 17      n+16  AES-256-GCM ciphertext of the n plaintext bytes, then the tag
//! ```
//!
//! The associated data is the 5-byte header followed by a context naming the
//! tenant and the purpose, so a ciphertext moved to another tenant's row, or
//! from a persona's responder into a channel's configuration, fails to open,
//! and so does one whose header was edited. The key id lets a reader tell
//! "sealed under another key" (rotation, wrong master key) from tampering
//! without trying keys; it reveals nothing about the key itself.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::Digest;

/// The current format version.
const VERSION: u8 = 1;
const HEADER: usize = 1 + 4;
const NONCE: usize = 12;
const TAG: usize = 16;

/// A 32-byte AES-256-GCM key with its id. `Debug` shows the id only.
#[derive(Clone)]
pub(crate) struct Key {
    cipher: Aes256Gcm,
    id: [u8; 4],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(id={})", hex::encode(self.id))
    }
}

/// Why an envelope did not open. Carries no data: neither key material nor
/// ciphertext ever reaches an error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenFailure {
    /// Too short, or a version this build does not know.
    Malformed,
    /// Sealed under a different key (its id does not match).
    OtherKey,
    /// Right key id but the tag does not verify: tampered, or moved to
    /// another tenant or purpose.
    Rejected,
}

/// The id of a key, as stored next to what it wraps.
pub(crate) fn key_id(bytes: &[u8; 32]) -> [u8; 4] {
    let digest = sha2::Sha256::new()
        .chain_update(b"switchboard key id v1")
        .chain_update(bytes)
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

impl Key {
    pub(crate) fn new(bytes: &[u8; 32]) -> Key {
        Key {
            cipher: Aes256Gcm::new_from_slice(bytes).expect("a 32-byte key"),
            id: key_id(bytes),
        }
    }

    /// Encrypt `plaintext`, bound to `context`.
    pub(crate) fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + NONCE + plaintext.len() + TAG);
        out.push(VERSION);
        out.extend_from_slice(&self.id);
        let mut nonce = [0u8; NONCE];
        getrandom::fill(&mut nonce).expect("OS random source");
        out.extend_from_slice(&nonce);
        let aad = [&out[..HEADER], context].concat();
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("AES-GCM encryption of in-memory data cannot fail");
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypt what [`Key::seal`] produced with the same `context`.
    pub(crate) fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenFailure> {
        if sealed.len() < HEADER + NONCE + TAG || sealed[0] != VERSION {
            return Err(OpenFailure::Malformed);
        }
        if sealed[1..HEADER] != self.id {
            return Err(OpenFailure::OtherKey);
        }
        let (header, rest) = sealed.split_at(HEADER);
        let (nonce, ct) = rest.split_at(NONCE);
        let aad = [header, context].concat();
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| OpenFailure::Rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_kind_of_refusal() {
        let k = Key::new(&[1u8; 32]);
        let sealed = k.seal(b"ctx", b"hunter2");
        assert_eq!(sealed.len(), 5 + 12 + 7 + 16);
        assert_eq!(sealed[0], 1);
        assert_eq!(k.open(b"ctx", &sealed).unwrap(), b"hunter2");
        // A fresh nonce every time.
        assert_ne!(k.seal(b"ctx", b"hunter2"), sealed);
        assert_eq!(k.open(b"other", &sealed), Err(OpenFailure::Rejected));
        assert_eq!(
            Key::new(&[2u8; 32]).open(b"ctx", &sealed),
            Err(OpenFailure::OtherKey)
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(k.open(b"ctx", &tampered), Err(OpenFailure::Rejected));
        let mut version = sealed.clone();
        version[0] = 2;
        assert_eq!(k.open(b"ctx", &version), Err(OpenFailure::Malformed));
        assert_eq!(k.open(b"ctx", &sealed[..20]), Err(OpenFailure::Malformed));
        assert!(!format!("{k:?}").contains("[1"), "Debug shows the id only");
    }
}
