//! Where the language tools are: an explicit environment variable, the
//! plugin's own `node_modules`/`.venv`, extra directories (the repository's
//! pinned `tools/plugin-toolchain`), then `PATH`.

use std::path::{Path, PathBuf};

/// The componentize-js the repository pins (`tools/plugin-toolchain`).
pub const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js@0.23.0";
/// The componentize-py the repository pins.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// Tool lookup for `plugin build`.
#[derive(Debug, Clone, Default)]
pub struct Toolchain {
    /// Directories searched before `PATH` (after the plugin's own).
    pub extra_dirs: Vec<PathBuf>,
}

/// A tool that could not be found, with the command that installs it.
#[derive(Debug, Clone)]
pub struct Missing {
    pub tool: &'static str,
    pub install: String,
}

impl Toolchain {
    /// Lookup with the repository's pinned tools (when this binary runs from
    /// a checkout) searched before `PATH`.
    pub fn from_env() -> Toolchain {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut extra_dirs = vec![repo.join("tools/plugin-toolchain/node_modules/.bin")];
        if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
            extra_dirs.push(PathBuf::from(target).join("py-tools/bin"));
        }
        extra_dirs.push(repo.join("target/py-tools/bin"));
        Toolchain { extra_dirs }
    }

    /// `componentize-js` for the plugin in `dir` (and `node` to run it).
    pub fn componentize_js(&self, dir: &Path) -> Result<PathBuf, Missing> {
        if find_on_path("node").is_none() {
            return Err(Missing {
                tool: "node",
                install:
                    "install Node.js 18 or newer (Debian/Ubuntu: `apt-get install nodejs npm`)"
                        .into(),
            });
        }
        self.find(
            "SWITCHBOARD_COMPONENTIZE_JS",
            &[dir.join("node_modules/.bin")],
            "componentize-js",
        )
        .ok_or_else(|| Missing {
            tool: "componentize-js",
            install: format!(
                "npm install --save-dev {COMPONENTIZE_JS}   (in {})",
                dir.display()
            ),
        })
    }

    /// `componentize-py` for the plugin in `dir`.
    pub fn componentize_py(&self, dir: &Path) -> Result<PathBuf, Missing> {
        self.find(
            "SWITCHBOARD_COMPONENTIZE_PY",
            &[dir.join(".venv/bin")],
            "componentize-py",
        )
        .ok_or_else(|| Missing {
            tool: "componentize-py",
            install: format!(
                "python3 -m venv {0}/.venv && {0}/.venv/bin/pip install {COMPONENTIZE_PY}",
                dir.display()
            ),
        })
    }

    /// `cargo` with the `wasm32-wasip2` target (checked by the build itself).
    pub fn cargo(&self) -> Result<PathBuf, Missing> {
        std::env::var_os("CARGO")
            .map(PathBuf::from)
            .or_else(|| find_on_path("cargo"))
            .ok_or_else(|| Missing {
                tool: "cargo",
                install: "curl https://sh.rustup.rs -sSf | sh && rustup target add wasm32-wasip2"
                    .into(),
            })
    }

    fn find(&self, var: &str, own: &[PathBuf], name: &str) -> Option<PathBuf> {
        if let Some(p) = std::env::var_os(var) {
            return Some(PathBuf::from(p));
        }
        own.iter()
            .chain(&self.extra_dirs)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .or_else(|| find_on_path(name))
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
