//! `plugin.json`: what a plugin directory is (name, language, world, source,
//! where its WIT lives).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The manifest's file name, at the root of a plugin directory.
pub const MANIFEST: &str = "plugin.json";

/// Languages a plugin can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    Js,
    Python,
}

/// A plugin directory's manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name (also the default upload name).
    pub name: String,
    pub language: Language,
    /// `channel-adapter`, `guardrail` or `persona`.
    pub world: String,
    /// The version `plugin upload` uses by default.
    #[serde(default = "default_version")]
    pub version: String,
    /// The entry file for JS (`adapter.js`) and the module for Python
    /// (`app`); unused for Rust (the crate is the directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The WIT directory, relative to the plugin directory.
    #[serde(default = "default_wit")]
    pub wit: String,
}

fn default_version() -> String {
    "0.1.0".into()
}

fn default_wit() -> String {
    "wit".into()
}

/// Why a directory is not a plugin project.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{0} has no {MANIFEST} (create a plugin with `switchboard plugin new`)")]
    NoManifest(PathBuf),
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid {MANIFEST}: {source}")]
    Invalid {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("unknown world `{0}` (expected channel-adapter, guardrail or persona)")]
    UnknownWorld(String),
}

/// A plugin directory and its manifest.
#[derive(Debug, Clone)]
pub struct Project {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Project {
    /// Read `DIR/plugin.json`.
    pub fn open(dir: &Path) -> Result<Project, ProjectError> {
        // Absolute, because the build tools run inside the directory.
        let dir = &std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let path = dir.join(MANIFEST);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ProjectError::NoManifest(dir.to_path_buf()));
            }
            Err(source) => return Err(ProjectError::Io { path, source }),
        };
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|source| ProjectError::Invalid { path, source })?;
        if !matches!(
            manifest.world.as_str(),
            "channel-adapter" | "guardrail" | "persona"
        ) {
            return Err(ProjectError::UnknownWorld(manifest.world));
        }
        Ok(Project {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// Where `plugin build` writes the component.
    pub fn output(&self) -> PathBuf {
        self.dir
            .join("dist")
            .join(format!("{}.wasm", self.manifest.name))
    }

    /// The WIT directory the component is built against.
    pub fn wit_dir(&self) -> PathBuf {
        self.dir.join(&self.manifest.wit)
    }

    /// The saved cases, `cases/*.json`, in name order.
    pub fn cases(&self) -> Vec<PathBuf> {
        let mut cases: Vec<PathBuf> = std::fs::read_dir(self.dir.join("cases"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        cases.sort();
        cases
    }
}
