//! The JavaScript and Python examples, built from source with the pinned
//! tools (`tools/plugin-toolchain`) through the same code as `switchboard
//! plugin build`. Shared by both test binaries (`#[path]`-included).
//!
//! When node/componentize-js or componentize-py is missing the tests that
//! need them print `skipped: …` with the install command and pass: the bare
//! `cargo test --workspace --locked` needs only Rust. CI installs the tools
//! (`.ci/run`), and `SWITCHBOARD_REQUIRE_POLYGLOT=1` turns a skip into a
//! failure there.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use switchboard::authoring::{BuildError, Project, Toolchain, build, needs_build};

/// `examples/<name>` built (when missing or stale), or `None` after
/// printing why it is skipped.
pub fn example_component(name: &str) -> Option<PathBuf> {
    // One build at a time: the tools are CPU-heavy and two tests must not
    // write the same output file.
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    let _guard = LOCK
        .get_or_init(|| Mutex::new(()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .canonicalize()
        .expect("example directory");
    let project = Project::open(&dir).expect("example project");
    if !needs_build(&project) {
        return Some(project.output());
    }
    match build(&project, &Toolchain::from_env()) {
        Ok((path, took)) => {
            eprintln!("built {} in {:.1} s", path.display(), took.as_secs_f64());
            Some(path)
        }
        Err(BuildError::ToolMissing { tool, install }) => {
            let msg = format!(
                "skipped: examples/{name} needs {tool}, which is not installed ({install}; \
                 for the repository's pinned tools: npm ci --prefix tools/plugin-toolchain, \
                 python3 -m venv target/py-tools && target/py-tools/bin/pip install -r tools/plugin-toolchain/requirements.txt)"
            );
            if std::env::var_os("SWITCHBOARD_REQUIRE_POLYGLOT").is_some() {
                panic!("{msg}");
            }
            eprintln!("{msg}");
            None
        }
        Err(e) => panic!("building examples/{name}: {e}"),
    }
}
