//! Secrets at rest. Channel configurations (provider secrets) and persona
//! responders (LLM API keys) are sealed with AES-256-GCM under a per-tenant
//! data key; data keys are stored wrapped by the master key
//! (`SWITCHBOARD_MASTER_KEY`, or `<data-dir>/master.key` for the embedded
//! SQLite database). Rotating the master key re-wraps data keys only
//! (`switchboard keys rotate`); deleting a tenant destroys its data key.
//!
//! - `crate::crypto::envelope`: the versioned ciphertext format (shared
//!   with message content, `crate::crypto::content`)
//! - `master`: where the master key comes from
//! - `keyring`: tenant data keys, sealing, opening and rotation
//!
//! Secrets never appear in logs, API responses or errors: key types redact
//! themselves in `Debug`, and errors carry no key, plaintext or ciphertext.

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
