//! Cryptography with no I/O, shared by `secrets` (which owns the keys and
//! their table) and `storage` (which seals and opens message content):
//!
//! - `envelope`: the one versioned AES-256-GCM ciphertext format
//! - `content`: a tenant's cipher for message content and contacts —
//!   sealed fields bound to tenant and row, and keyed blind indexes for
//!   the lookups that need equality
//! - `webhook_signature`: event webhook secrets and their Standard Webhooks
//!   signatures
//! - `password`: console passwords (argon2id) and the rules a new one meets
//!
//! Keeping it apart from `secrets` keeps the module graph one-way:
//! `secrets` → `storage` → `crypto`.

mod content;
pub(crate) mod envelope;
mod password;
mod webhook_signature;

pub use password::{MIN_PASSWORD_CHARS, PasswordError, dummy_hash, hash_password, verify_password};

pub use content::{ContentError, Field, Index, TenantCipher};
pub use webhook_signature::{InvalidSecret, WebhookSecret, signature_header};
