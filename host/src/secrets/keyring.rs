//! Envelope encryption: every tenant has its own random data key, which
//! seals that tenant's secrets (AES-256-GCM, format in `envelope`) and is
//! stored only wrapped by the master key. So rotating the master key
//! re-wraps one small key per tenant and never touches a ciphertext, and
//! destroying one tenant's data key makes exactly that tenant's secrets
//! unreadable.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::master::{MASTER_KEY_ENV, MasterKey};
use crate::crypto::TenantCipher;
use crate::crypto::envelope::{Key, OpenFailure};
use crate::storage::{Db, StorageError};

/// What a sealed value is, and which record it belongs to. Both go into the
/// associated data, so a ciphertext only opens where it was written.
#[derive(Debug, Clone, Copy)]
pub enum Purpose<'a> {
    /// A channel's configuration map (provider secrets included).
    ChannelConfig { channel_id: &'a str },
    /// A persona's responder (an LLM API key included).
    PersonaResponder { persona_id: &'a str },
    /// An event webhook endpoint's signing secrets.
    WebhookSecret { endpoint_id: &'a str },
}

impl Purpose<'_> {
    fn context(&self, tenant_id: &str) -> Vec<u8> {
        let (name, record) = match self {
            Purpose::ChannelConfig { channel_id } => ("channel-config", *channel_id),
            Purpose::PersonaResponder { persona_id } => ("persona-responder", *persona_id),
            Purpose::WebhookSecret { endpoint_id } => ("webhook-secret", *endpoint_id),
        };
        format!("{name}\0{tenant_id}\0{record}").into_bytes()
    }
}

/// The associated data of a wrapped data key: its tenant.
fn wrap_context(tenant_id: &str) -> Vec<u8> {
    format!("tenant-data-key\0{tenant_id}").into_bytes()
}

/// Why a secret could not be sealed or opened. No variant carries key
/// material, plaintext or ciphertext.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The data key is gone (tenant deleted), the master key is not the
    /// one that wrapped it, or the ciphertext was altered or moved.
    #[error("cannot decrypt (key destroyed or wrong master key)")]
    Undecryptable,
    /// Nothing new is sealed for a deleted tenant.
    #[error("the tenant's data key was destroyed (tenant deleted)")]
    Destroyed,
    /// Reading or writing the key table failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<SecretError> for StorageError {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::Storage(s) => s,
            // A deleted tenant: nothing of it is stored or read any more.
            SecretError::Destroyed => StorageError::NotFound("tenant"),
            other => StorageError::Internal(other.into()),
        }
    }
}

/// How long an unwrapped data key is reused before its row is read again.
/// Bounds how long another replica keeps opening a deleted tenant's secrets
/// (this replica forgets at once).
const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_MAX: usize = 10_000;

/// Seals and opens tenants' secrets. Cheap to clone.
#[derive(Clone)]
pub struct Keyring {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    master: MasterKey,
    master_cipher: Key,
    cache: Mutex<HashMap<String, (Instant, TenantCipher)>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyring(master key id={})", self.inner.master.id())
    }
}

impl Keyring {
    /// A keyring over the database's `tenant_keys`, under `master`.
    pub fn new(db: Db, master: MasterKey) -> Keyring {
        Keyring {
            inner: Arc::new(Inner {
                master_cipher: master.cipher(),
                master,
                db,
                cache: Mutex::default(),
            }),
        }
    }

    /// The master key's id.
    pub fn master_key_id(&self) -> String {
        self.inner.master.id()
    }

    /// Fail clearly, at start, when the database's data keys were wrapped
    /// by another master key: otherwise every secret would fail to open
    /// later, one request at a time.
    pub async fn check_master_key(&self) -> anyhow::Result<()> {
        let id = self.master_key_id();
        let foreign = self.inner.db.tenant_keys_not_wrapped_by(&id).await?;
        if foreign > 0 {
            anyhow::bail!(
                "{foreign} tenant data key(s) in the database are wrapped by a different master key than the configured one (id {id}): \
                 start with the master key they were wrapped with ({MASTER_KEY_ENV}, or master.key in the data directory), \
                 or re-wrap them with `switchboard keys rotate`"
            );
        }
        Ok(())
    }

    /// Encrypt `plaintext` for one of the tenant's records, creating the
    /// tenant's data key on first use.
    pub async fn seal(
        &self,
        tenant_id: &str,
        purpose: Purpose<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SecretError> {
        let cipher = self.data_key(tenant_id, true).await?;
        Ok(cipher.key().seal(&purpose.context(tenant_id), plaintext))
    }

    /// Decrypt what [`Keyring::seal`] produced for the same tenant and purpose.
    pub async fn open(
        &self,
        tenant_id: &str,
        purpose: Purpose<'_>,
        sealed: &[u8],
    ) -> Result<Vec<u8>, SecretError> {
        let cipher = self.data_key(tenant_id, false).await?;
        cipher
            .key()
            .open(&purpose.context(tenant_id), sealed)
            .map_err(|f| {
                tracing::warn!(tenant = tenant_id, reason = ?f, "a sealed value did not open");
                SecretError::Undecryptable
            })
    }

    /// The tenant's cipher for message content and blind indexes
    /// (`crate::crypto::content`), creating its data key on first use.
    /// `Destroyed` for a deleted tenant: nothing of it is stored or read.
    pub async fn cipher(&self, tenant_id: &str) -> Result<TenantCipher, SecretError> {
        self.data_key(tenant_id, true).await
    }

    /// Drop the tenant's cached data key (after its deletion).
    pub fn forget(&self, tenant_id: &str) {
        self.inner.cache.lock().remove(tenant_id);
    }

    async fn data_key(&self, tenant_id: &str, create: bool) -> Result<TenantCipher, SecretError> {
        if let Some((at, key)) = self.inner.cache.lock().get(tenant_id)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(key.clone());
        }
        let db = &self.inner.db;
        let mut stored = db.tenant_key(tenant_id).await?;
        if stored.is_none() && create {
            let mut fresh = [0u8; 32];
            getrandom::fill(&mut fresh).expect("OS random source");
            let wrapped = self
                .inner
                .master_cipher
                .seal(&wrap_context(tenant_id), &fresh);
            fresh.fill(0);
            db.insert_tenant_key(tenant_id, &wrapped, &self.master_key_id())
                .await?;
            // Whichever insert won a race is the tenant's key.
            stored = db.tenant_key(tenant_id).await?;
        }
        let Some(stored) = stored else {
            // Nothing was ever sealed for this tenant, so nothing can open.
            return Err(SecretError::Undecryptable);
        };
        if stored.destroyed {
            return Err(if create {
                SecretError::Destroyed
            } else {
                SecretError::Undecryptable
            });
        }
        let key = self
            .unwrap_key(tenant_id, &stored.wrapped)
            .inspect_err(|f| {
                tracing::warn!(tenant = tenant_id, reason = ?f, wrapped_by = %stored.master_key_id, master_key_id = %self.master_key_id(), "a tenant data key did not unwrap");
            })
            .map_err(|_| SecretError::Undecryptable)?;
        let mut cache = self.inner.cache.lock();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(tenant_id.to_string(), (Instant::now(), key.clone()));
        Ok(key)
    }

    fn unwrap_key(&self, tenant_id: &str, wrapped: &[u8]) -> Result<TenantCipher, OpenFailure> {
        let mut bytes = self
            .inner
            .master_cipher
            .open(&wrap_context(tenant_id), wrapped)?;
        let cipher = <[u8; 32]>::try_from(bytes.as_slice())
            .map(|b| TenantCipher::new(tenant_id, &b))
            .map_err(|_| OpenFailure::Malformed);
        bytes.fill(0);
        cipher
    }
}

/// Re-wrap every tenant's data key from `old` to `new` in one transaction;
/// no sealed value is read or written. Keys already wrapped by `new` are
/// left alone, so re-running an interrupted rotation is safe. Returns how
/// many keys were re-wrapped.
pub async fn rotate(db: &Db, old: &MasterKey, new: &MasterKey) -> Result<usize, StorageError> {
    let (old_id, new_id) = (old.id(), new.id());
    let (old_cipher, new_cipher) = (old.cipher(), new.cipher());
    db.rewrap_tenant_keys(&new_id, |tenant_id, wrapped, wrapped_by| {
        if wrapped_by != old_id {
            anyhow::bail!(
                "tenant {tenant_id}'s data key is wrapped by master key {wrapped_by}, neither the current ({old_id}) nor the new one ({new_id})"
            );
        }
        let mut bytes = old_cipher
            .open(&wrap_context(tenant_id), wrapped)
            .map_err(|_| {
                anyhow::anyhow!("tenant {tenant_id}'s data key: cannot decrypt (key destroyed or wrong master key)")
            })?;
        let rewrapped = new_cipher.seal(&wrap_context(tenant_id), &bytes);
        bytes.fill(0);
        Ok(rewrapped)
    })
    .await
}

#[cfg(test)]
#[path = "keyring_tests.rs"]
mod tests;
