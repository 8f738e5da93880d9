//! Message content under a tenant's data key: what customers wrote (text,
//! attachments, the provider's raw payload) and who they are (names, phone
//! numbers, channel addresses). The same key and envelope as the tenant's
//! secrets, so destroying the key (tenant deletion) makes all of it
//! unreadable, not only the secrets.
//!
//! - A sealed field is the envelope (`crate::crypto::envelope`) in base64,
//!   stored in the column that used to hold the plaintext. Its associated
//!   data names the field, the tenant and the row, so a value copied to
//!   another row, column or tenant does not open.
//! - Lookups that need equality (dedupe by channel address, linking by
//!   phone number, finding a contact by name) use a blind index: a keyed
//!   HMAC-SHA256 of the normalised value under a key derived one-way from
//!   the data key, truncated to 128 bits. Without the key the index tells
//!   nothing but equality within one tenant's column.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::envelope::Key;

type HmacSha256 = Hmac<Sha256>;

/// A tenant's cipher for content and blind indexes. Cheap to clone;
/// `Debug` shows the tenant only.
#[derive(Clone)]
pub struct TenantCipher {
    inner: Arc<Inner>,
}

struct Inner {
    tenant_id: String,
    key: Key,
    index: HmacSha256,
}

impl std::fmt::Debug for TenantCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TenantCipher(tenant={})", self.inner.tenant_id)
    }
}

/// What a sealed column holds. With the tenant and the row's id it is the
/// value's associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `messages.text`, per message id.
    MessageText,
    /// `messages.attachments` (JSON), per message id.
    MessageAttachments,
    /// `messages.payload` (the provider's event or the send's request, JSON), per message id.
    MessagePayload,
    /// `contacts.name_sealed`, per contact id.
    ContactName,
    /// `contacts.phone_sealed`, per contact id.
    ContactPhone,
    /// `contact_identities.address_sealed`, per identity id.
    IdentityAddress,
    /// `contact_identities.user_id_sealed`, per identity id.
    IdentityUserId,
    /// `idempotency_keys.response` (the answer replayed, which shows the
    /// message), per idempotency key.
    IdempotentResponse,
    /// `events.data` (the resource an event shows), per event cursor.
    EventData,
}

impl Field {
    fn label(self) -> &'static str {
        match self {
            Field::MessageText => "message-text",
            Field::MessageAttachments => "message-attachments",
            Field::MessagePayload => "message-payload",
            Field::ContactName => "contact-name",
            Field::ContactPhone => "contact-phone",
            Field::IdentityAddress => "identity-address",
            Field::IdentityUserId => "identity-user-id",
            Field::IdempotentResponse => "idempotent-response",
            Field::EventData => "event-data",
        }
    }
}

/// Which blind index. Each has its own domain (a name's index never equals
/// an address's) and its own normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// A contact's name: trimmed, inner whitespace collapsed, lowercased,
    /// so `?q=` finds "Zed Beta" as "zed  beta".
    Name,
    /// A phone number in E.164 (`+` and digits), however it was written.
    Phone,
    /// A channel address, exactly as the adapter gives it.
    Address,
}

/// Why stored content did not open. Carries no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("stored content did not decrypt (altered, moved, or sealed under another key)")]
    Undecryptable,
}

impl TenantCipher {
    /// The cipher of `tenant_id`'s data key.
    pub(crate) fn new(tenant_id: &str, data_key: &[u8; 32]) -> TenantCipher {
        // The index key is derived one-way, so an index never uses the
        // encryption key itself and neither reveals the other.
        let derived = HmacSha256::new_from_slice(data_key)
            .expect("HMAC takes any key length")
            .chain_update(b"switchboard blind index v1")
            .finalize()
            .into_bytes();
        TenantCipher {
            inner: Arc::new(Inner {
                tenant_id: tenant_id.to_string(),
                key: Key::new(data_key),
                index: HmacSha256::new_from_slice(&derived).expect("HMAC takes any key length"),
            }),
        }
    }

    /// The tenant this cipher belongs to.
    pub fn tenant_id(&self) -> &str {
        &self.inner.tenant_id
    }

    /// The data key, for sealing the tenant's secrets (`secrets::Keyring`).
    pub(crate) fn key(&self) -> &Key {
        &self.inner.key
    }

    fn context(&self, field: Field, row: &str) -> Vec<u8> {
        format!("{}\0{}\0{row}", field.label(), self.inner.tenant_id).into_bytes()
    }

    /// Seal `plaintext` as `field` of row `row`, as stored (base64).
    pub fn seal(&self, field: Field, row: &str, plaintext: &str) -> String {
        STANDARD_NO_PAD.encode(
            self.inner
                .key
                .seal(&self.context(field, row), plaintext.as_bytes()),
        )
    }

    /// [`TenantCipher::seal`] of a value that may be absent.
    pub fn seal_opt(&self, field: Field, row: &str, plaintext: Option<&str>) -> Option<String> {
        plaintext.map(|p| self.seal(field, row, p))
    }

    /// Open what [`TenantCipher::seal`] stored for the same field and row.
    pub fn open(&self, field: Field, row: &str, sealed: &str) -> Result<String, ContentError> {
        let bytes = STANDARD_NO_PAD
            .decode(sealed)
            .map_err(|_| ContentError::Undecryptable)?;
        let plain = self
            .inner
            .key
            .open(&self.context(field, row), &bytes)
            .map_err(|failure| {
                tracing::warn!(tenant = %self.inner.tenant_id, field = field.label(), row, reason = ?failure, "stored content did not open");
                ContentError::Undecryptable
            })?;
        String::from_utf8(plain).map_err(|_| ContentError::Undecryptable)
    }

    /// [`TenantCipher::open`] of a column that may be NULL.
    pub fn open_opt(
        &self,
        field: Field,
        row: &str,
        sealed: Option<&str>,
    ) -> Result<Option<String>, ContentError> {
        sealed.map(|s| self.open(field, row, s)).transpose()
    }

    /// The blind index of `value`; `None` when nothing is left to index
    /// after normalising (an empty name, a phone number without digits).
    pub fn index(&self, index: Index, value: &str) -> Option<String> {
        let (domain, normal) = match index {
            Index::Name => (
                "name",
                value
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase(),
            ),
            Index::Phone => ("phone", crate::domain::e164(value)?),
            Index::Address => return Some(self.address_index(value)),
        };
        (!normal.is_empty()).then(|| self.mac(domain, &normal))
    }

    /// The blind index of a channel address (every address has one, even
    /// an empty one, so it can be unique per channel).
    pub fn address_index(&self, address: &str) -> String {
        self.mac("address", address)
    }

    /// The tag of a web chat visitor token: binds the visitor id to one
    /// channel of this tenant (a token from another channel, tenant or a
    /// deleted tenant does not verify). Compare it in constant time.
    pub fn visitor_tag(&self, channel_id: &str, visitor_id: &str) -> String {
        self.mac("webchat-visitor", &format!("{channel_id}\0{visitor_id}"))
    }

    fn mac(&self, domain: &str, normal: &str) -> String {
        let mut mac = self.inner.index.clone();
        mac.update(domain.as_bytes());
        mac.update(b"\0");
        mac.update(normal.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_fields_open_only_in_their_place() {
        let c = TenantCipher::new("t1", &[7; 32]);
        let sealed = c.seal(Field::MessageText, "msg_1", "hello");
        assert!(!sealed.contains("hello"));
        assert_eq!(
            c.open(Field::MessageText, "msg_1", &sealed).unwrap(),
            "hello"
        );
        assert_ne!(
            c.seal(Field::MessageText, "msg_1", "hello"),
            sealed,
            "fresh nonce"
        );
        // Another row, field or tenant: refused.
        assert_eq!(
            c.open(Field::MessageText, "msg_2", &sealed),
            Err(ContentError::Undecryptable)
        );
        assert_eq!(
            c.open(Field::MessagePayload, "msg_1", &sealed),
            Err(ContentError::Undecryptable)
        );
        let other = TenantCipher::new("t2", &[7; 32]);
        assert_eq!(
            other.open(Field::MessageText, "msg_1", &sealed),
            Err(ContentError::Undecryptable)
        );
        assert_eq!(
            c.open(Field::MessageText, "msg_1", "not base64!"),
            Err(ContentError::Undecryptable)
        );
        assert_eq!(c.open_opt(Field::ContactName, "ct", None), Ok(None));
    }

    #[test]
    fn blind_indexes_are_keyed_normalised_and_separated() {
        let c = TenantCipher::new("t1", &[7; 32]);
        let other_key = TenantCipher::new("t1", &[8; 32]);
        assert_eq!(
            c.index(Index::Name, " Zed   Beta "),
            c.index(Index::Name, "zed beta")
        );
        assert_eq!(
            c.index(Index::Phone, "16315551181"),
            c.index(Index::Phone, "+1 (631) 555-1181")
        );
        assert_ne!(
            c.index(Index::Address, "16315551181"),
            c.index(Index::Phone, "16315551181")
        );
        assert_ne!(
            c.index(Index::Address, "a"),
            other_key.index(Index::Address, "a")
        );
        assert_eq!(c.index(Index::Phone, "no digits"), None);
        assert_eq!(c.index(Index::Name, "   "), None);
        let ix = c.index(Index::Address, "16315551181").unwrap();
        assert_eq!(ix.len(), 32);
        assert!(!ix.contains("1631555"));
    }
}
