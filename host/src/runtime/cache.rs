//! On-disk cache of compiled components, so a restart or a new replica does
//! not recompile. Keyed by the component's sha256 and the engine's
//! compatibility hash (wasmtime version + compiler settings): an entry from
//! another build is simply never looked up. All access goes through a
//! `cap-std` directory handle, so the cache can touch nothing outside it.

use std::hash::{Hash, Hasher};
use std::path::Path;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use sha2::Digest;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The compiled-component cache under `<data-dir>/component-cache/<compat>/`.
pub struct DiskCache {
    dir: Dir,
}

impl DiskCache {
    /// Open (creating) the cache for `engine` under `data_dir`.
    pub fn open(data_dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let root = Dir::open_ambient_dir(data_dir, ambient_authority())?;
        let sub = format!("component-cache/{}", compatibility_key(engine));
        root.create_dir_all(&sub)?;
        Ok(DiskCache {
            dir: root.open_dir(&sub)?,
        })
    }

    fn file_name(sha256: &str) -> String {
        format!("{sha256}.cwasm")
    }

    /// A cached compilation of the component with this sha256, if any.
    /// A corrupt or stale entry is deleted and reported as a miss.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let name = Self::file_name(sha256);
        let bytes = self.dir.read(&name).ok()?;
        // SAFETY: the bytes were produced by `Component::serialize` of an
        // engine with the same compatibility hash, and only this process
        // (via this directory handle) writes there. wasmtime still checks
        // the header and refuses a mismatched artifact.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(sha256, error = %e, "discarding unusable cached component");
                let _ = self.dir.remove_file(&name);
                None
            }
        }
    }

    /// Store a compiled component; failures only cost a future recompile.
    pub fn store(&self, sha256: &str, component: &Component) {
        let result = component.serialize().and_then(|bytes| {
            // Write then rename, so a concurrent reader never sees half a file.
            let tmp = format!("{sha256}.{}.tmp", std::process::id());
            self.dir.write(&tmp, &bytes)?;
            self.dir.rename(&tmp, &self.dir, Self::file_name(sha256))?;
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!(sha256, error = %e, "could not cache compiled component");
        }
    }
}

/// A stable hex digest of the engine's compatibility hash.
fn compatibility_key(engine: &Engine) -> String {
    struct Sha(sha2::Sha256);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            unreachable!("only write() is used")
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = Sha(sha2::Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..12])
}
