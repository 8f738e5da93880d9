//! `plugin build`: a plugin directory into a component, with the
//! language's own tool (cargo, componentize-js, componentize-py).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::project::{Language, Project};
use super::toolchain::{Missing, Toolchain};

/// Why a build produced no component.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{tool} is not installed; install it with:\n\n    {install}\n")]
    ToolMissing { tool: &'static str, install: String },
    #[error("running {tool}: {source}")]
    Spawn {
        tool: String,
        source: std::io::Error,
    },
    #[error("{tool} failed ({status}):\n{output}")]
    Failed {
        tool: String,
        status: std::process::ExitStatus,
        output: String,
    },
    #[error("{0} did not produce {1}")]
    NoOutput(String, PathBuf),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<Missing> for BuildError {
    fn from(m: Missing) -> Self {
        BuildError::ToolMissing {
            tool: m.tool,
            install: m.install,
        }
    }
}

/// Build `project` into `project.output()`; returns its path and how long
/// the tool took.
pub fn build(project: &Project, tools: &Toolchain) -> Result<(PathBuf, Duration), BuildError> {
    let out = project.output();
    std::fs::create_dir_all(out.parent().expect("output has a parent"))?;
    let m = &project.manifest;
    let wit = project.wit_dir();
    let started = Instant::now();
    let (tool, produced) = match m.language {
        Language::Js => {
            let bin = tools.componentize_js(&project.dir)?;
            let mut cmd = Command::new(&bin);
            cmd.current_dir(&project.dir)
                .arg("--wit")
                .arg(&wit)
                .args(["--world-name", &m.world])
                // `fetch` and the HTTP handler import wasi:http, which the
                // host does not grant: every plugin I/O goes through `host`.
                .args(["--disable", "http", "fetch-event"])
                .arg("--out")
                .arg(&out)
                .arg(m.source.as_deref().unwrap_or("index.js"));
            run("componentize-js", cmd)?;
            ("componentize-js", out.clone())
        }
        Language::Python => {
            let bin = tools.componentize_py(&project.dir)?;
            let mut cmd = Command::new(&bin);
            cmd.current_dir(&project.dir)
                .arg("--wit-path")
                .arg(&wit)
                .args(["--world", &m.world, "componentize"])
                .arg(m.source.as_deref().unwrap_or("app"))
                .arg("--output")
                .arg(&out);
            run("componentize-py", cmd)?;
            ("componentize-py", out.clone())
        }
        Language::Rust => {
            let cargo = tools.cargo()?;
            let target_dir = std::env::var_os("SWITCHBOARD_PLUGIN_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| project.dir.join("target"));
            let mut cmd = Command::new(cargo);
            cmd.current_dir(&project.dir)
                .args(["build", "--release", "--target", "wasm32-wasip2"])
                .arg("--target-dir")
                .arg(&target_dir)
                // An outer cargo's settings (a test run's) must not leak in.
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS");
            run("cargo", cmd)?;
            let built = target_dir
                .join("wasm32-wasip2/release")
                .join(format!("{}.wasm", m.name.replace('-', "_")));
            if built.is_file() {
                std::fs::copy(&built, &out)?;
            }
            ("cargo", out.clone())
        }
    };
    if !produced.is_file() {
        return Err(BuildError::NoOutput(tool.into(), produced));
    }
    Ok((produced, started.elapsed()))
}

fn run(tool: &str, mut cmd: Command) -> Result<(), BuildError> {
    let output = cmd.output().map_err(|source| BuildError::Spawn {
        tool: tool.into(),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(BuildError::Failed {
        tool: tool.into(),
        status: output.status,
        output: text,
    })
}

/// Whether `project`'s component is missing or older than any of its
/// files (build outputs and installed tools aside).
pub fn needs_build(project: &Project) -> bool {
    let Ok(built) = std::fs::metadata(project.output()).and_then(|m| m.modified()) else {
        return true;
    };
    newer_than(&project.dir, built)
}

fn newer_than(dir: &std::path::Path, built: std::time::SystemTime) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        if matches!(
            name.to_str(),
            Some("dist" | "target" | "node_modules" | ".venv" | "__pycache__")
        ) {
            return false;
        }
        let path = e.path();
        if path.is_dir() {
            return newer_than(&path, built);
        }
        e.metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|m| m > built)
    })
}
