//! On-disk cache of compiled components, so a restart or a new replica does
//! not recompile. Keyed by the component's sha256 and the engine's
//! compatibility hash (wasmtime version + compiler settings): an entry from
//! another build is simply never looked up. All access goes through a
//! `cap-std` directory handle, so the cache can touch nothing outside it.
//!
//! Bounded in bytes: storing past the bound deletes the entries used
//! longest ago (by this process; at start, by file modification time).

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::SystemTime;

use parking_lot::Mutex;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use sha2::Digest;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The compiled-component cache under `<data-dir>/component-cache/<compat>/`.
pub struct DiskCache {
    dir: Dir,
    /// The same directory by path, for mapping entries (`deserialize_file`).
    path: std::path::PathBuf,
    max_bytes: u64,
    /// File name → (size, last use), and the total size.
    index: Mutex<(super::lru::Lru<String, u64>, u64)>,
}

impl DiskCache {
    /// Open (creating) the cache for `engine` under `data_dir`.
    pub fn open(data_dir: &Path, engine: &Engine, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let root = Dir::open_ambient_dir(data_dir, ambient_authority())?;
        let sub = format!("component-cache/{}", compatibility_key(engine));
        root.create_dir_all(&sub)?;
        let dir = root.open_dir(&sub)?;
        // Oldest first, so the index's use order starts as file age.
        let mut files: Vec<(SystemTime, String, u64)> = Vec::new();
        for entry in dir.entries()? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry.metadata()?;
            if name.ends_with(".tmp") {
                // Left by a process that died mid-write.
                let _ = dir.remove_file(&name);
                continue;
            }
            if name.ends_with(".cwasm") {
                let modified = meta
                    .modified()
                    .map(|m| m.into_std())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                files.push((modified, name, meta.len()));
            }
        }
        files.sort();
        let mut lru = super::lru::Lru::new(usize::MAX);
        let mut total = 0;
        for (_, name, size) in files {
            total += size;
            lru.insert(name, size);
        }
        let cache = DiskCache {
            dir,
            path: data_dir.join(&sub),
            max_bytes,
            index: Mutex::new((lru, total)),
        };
        cache.evict(0);
        Ok(cache)
    }

    /// Delete least recently used entries until `incoming` more bytes fit.
    fn evict(&self, incoming: u64) {
        let mut index = self.index.lock();
        let (lru, total) = &mut *index;
        while *total + incoming > self.max_bytes && lru.len() > 0 {
            let Some((name, size)) = lru.pop_oldest() else {
                break;
            };
            *total -= size;
            let _ = self.dir.remove_file(&name);
        }
    }

    /// Bytes of compiled code in the cache.
    pub fn size(&self) -> u64 {
        self.index.lock().1
    }

    fn file_name(sha256: &str) -> String {
        format!("{sha256}.cwasm")
    }

    /// A cached compilation of the component with this sha256, if any.
    /// A corrupt or stale entry is deleted and reported as a miss.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let name = Self::file_name(sha256);
        // Marks the entry used; an entry another replica wrote is unknown
        // here and simply not counted until this process stores it.
        self.index.lock().0.get(&name);
        if !self.dir.exists(&name) {
            return None;
        }
        // Mapped, not read and copied: loading a cached component costs
        // about a page fault per page used instead of a copy of the whole
        // artifact. (An entry evicted or replaced meanwhile stays valid while
        // mapped: unlinking keeps the inode.)
        // SAFETY: the file was produced by `Component::serialize` of an
        // engine with the same compatibility hash, and only this process's
        // cache writes there, by write-then-rename (never in place).
        // wasmtime still checks the header and refuses a mismatched
        // artifact.
        match unsafe { Component::deserialize_file(engine, self.path.join(&name)) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(sha256, error = %e, "discarding unusable cached component");
                let _ = self.dir.remove_file(&name);
                let mut index = self.index.lock();
                if let Some(size) = index.0.remove(&name) {
                    index.1 -= size;
                }
                None
            }
        }
    }

    /// Store a compiled component; failures only cost a future recompile.
    pub fn store(&self, sha256: &str, component: &Component) {
        let result = component.serialize().and_then(|bytes| {
            let size = bytes.len() as u64;
            if size > self.max_bytes {
                return Ok(());
            }
            self.evict(size);
            // Write then rename, so a concurrent reader never sees half a file.
            let tmp = format!("{sha256}.{}.tmp", std::process::id());
            self.dir.write(&tmp, &bytes)?;
            let name = Self::file_name(sha256);
            self.dir.rename(&tmp, &self.dir, &name)?;
            let mut index = self.index.lock();
            if let Some(old) = index.0.remove(&name) {
                index.1 -= old;
            }
            index.0.insert(name, size);
            index.1 += size;
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
