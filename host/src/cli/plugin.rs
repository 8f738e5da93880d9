//! `switchboard plugin check|run`: what a plugin author uses before uploading
//! (`plugin new|build|test` are in `author.rs`, `plugin upload` in
//! `upload.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;

use crate::authoring::{Input, Project, error_json, invoke, load_request};
use crate::domain::Direction;
use crate::first_party;
use crate::runtime::{LoadedPlugin, PluginError, PluginRuntime, World};

/// Plugin subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Validate a component and print its world, version, exports, imports,
    /// size, sha256 and compile time. Exits non-zero, with the reason, for
    /// anything this host cannot run.
    Check {
        /// A `.wasm` component file, a plugin directory (built first when it
        /// has no component yet), or the name of a first-party plugin.
        plugin: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a component on a saved request: an adapter's verify + parse (or a
    /// guardrail's check, or a persona's prompt, given `--message`), printing
    /// the normalized result as JSON.
    Run {
        /// A `.wasm` component file, a plugin directory (built first when it
        /// has no component yet), or the name of a first-party plugin.
        plugin: String,
        /// A JSON file `{method, url, headers, body}` (adapters).
        #[arg(long)]
        request: Option<PathBuf>,
        /// Message text (guardrails and personas).
        #[arg(long)]
        message: Option<String>,
        /// Direction of `--message` for a guardrail.
        #[arg(long, value_enum, default_value = "inbound")]
        direction: DirectionArg,
        /// Binding configuration, `key=value`; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
    },
    /// Create a plugin directory `NAME/`: source, build files, a saved case
    /// with its expected output, and a README.
    New(super::author::NewArgs),
    /// Build a plugin directory into a component (cargo, componentize-js or
    /// componentize-py) and print the path of the `.wasm`.
    Build(super::author::BuildArgs),
    /// Run a plugin directory's saved cases (`cases/*.json`) through the
    /// runtime under the platform's limits; shows a diff when an output
    /// differs.
    Test(super::author::TestArgs),
    /// Validate a component exactly as the API does and store it as a
    /// tenant's plugin version (straight into the database); prints the
    /// plugin as JSON.
    Upload(super::upload::UploadArgs),
}

/// `--direction` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DirectionArg {
    Inbound,
    Outbound,
}

pub fn run(cmd: PluginCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginCommand::Check { plugin, json } => check(&plugin, json),
        PluginCommand::Run {
            plugin,
            request,
            message,
            direction,
            config,
        } => run_plugin(&plugin, request, message, direction, &config),
        PluginCommand::Upload(args) => super::upload::upload(args),
        PluginCommand::New(args) => super::author::new(args),
        PluginCommand::Build(args) => super::author::build(args),
        PluginCommand::Test(args) => super::author::test(args),
    }
}

/// Bytes of a plugin named by file path or first-party name.
pub(super) fn read_plugin(spec: &str) -> anyhow::Result<Vec<u8>> {
    let path = std::path::Path::new(spec);
    if path.is_dir() {
        return super::author::component_bytes(path);
    }
    if path.exists() {
        return std::fs::read(path).with_context(|| format!("reading {spec}"));
    }
    if let Some(bytes) = first_party::bytes(spec) {
        return Ok(bytes.to_vec());
    }
    let names: Vec<_> = first_party::names().collect();
    bail!(
        "`{spec}` is neither a file nor a first-party plugin (first-party plugins: {})",
        names.join(", ")
    )
}

/// Load a component, printing why not (the caller exits 1).
fn load_or_report(rt: &PluginRuntime, spec: &str, bytes: &[u8]) -> Option<Arc<LoadedPlugin>> {
    rt.load(bytes)
        .map_err(|e| eprintln!("invalid plugin {spec}: {e}"))
        .ok()
}

fn check(spec: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let bytes = read_plugin(spec)?;
    let rt = super::author::runtime_for(spec)?;
    let Some(plugin) = load_or_report(&rt, spec, &bytes) else {
        return Ok(ExitCode::from(1));
    };
    // A smoke call proves the component instantiates under default limits.
    let smoke = rt.smoke_test(&plugin).map(|info| {
        info.map_or_else(
            || json!("instantiated"),
            |i| serde_json::to_value(i).unwrap_or_default(),
        )
    });
    let d = &plugin.detected;
    let compile_ms = plugin.compile_time.map(|t| t.as_secs_f64() * 1000.0);
    if as_json {
        let out = json!({
            "world": d.world, "version": d.version, "exports": d.exports, "imports": d.imports,
            "size": plugin.size, "sha256": plugin.sha256, "compile_ms": compile_ms,
            "smoke": smoke.as_ref().map(|v| v.clone()).map_err(|e| e.to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "world:        {} ({}@{})",
            d.world,
            crate::runtime::PACKAGE,
            d.version
        );
        println!("exports:      {}", d.exports.join(", "));
        println!("imports:      {}", d.imports.join(", "));
        println!("size:         {} bytes", plugin.size);
        println!("sha256:       {}", plugin.sha256);
        match compile_ms {
            Some(ms) => println!("compile time: {ms:.1} ms"),
            None => println!("compile time: cached (compiled by an earlier command)"),
        }
        match &smoke {
            Ok(v) => println!("smoke call:   ok {v}"),
            Err(e) => println!("smoke call:   FAILED: {e}"),
        }
    }
    Ok(if smoke.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(crate) fn parse_config(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("--config expects key=value, got `{p}`"),
        })
        .collect()
}

fn run_plugin(
    spec: &str,
    request: Option<PathBuf>,
    message: Option<String>,
    direction: DirectionArg,
    config: &[String],
) -> anyhow::Result<ExitCode> {
    let bytes = read_plugin(spec)?;
    let config = parse_config(config)?;
    let rt = super::author::runtime_for(spec)?;
    let Some(plugin) = load_or_report(&rt, spec, &bytes) else {
        return Ok(ExitCode::from(1));
    };
    let name = plugin_name(spec);
    let input = match (plugin.detected.world, request, message) {
        (World::ChannelAdapter, Some(path), _) => Input::Request(load_request(&path)?),
        (World::ChannelAdapter, None, _) => bail!("an adapter needs --request REQ.json"),
        (_, _, Some(text)) => Input::Message {
            text,
            direction: match direction {
                DirectionArg::Inbound => Direction::Inbound,
                DirectionArg::Outbound => Direction::Outbound,
            },
        },
        (World::Guardrail, _, None) => bail!("a guardrail needs --message TEXT"),
        (World::Persona, _, None) => bail!("a persona needs --message TEXT"),
    };
    let call = invoke(&rt, &plugin, &name, config, input)?;
    for line in &call.logs {
        eprintln!("{line}");
    }
    match call.outcome {
        Ok(mut value) => {
            value["fuel_consumed"] = json!(call.fuel_consumed);
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(fail(&e)),
    }
}

/// The name a plugin is called by in logs: the manifest's, the file's stem
/// or the first-party name.
fn plugin_name(spec: &str) -> String {
    let path = std::path::Path::new(spec);
    if let Ok(project) = Project::open(path) {
        return project.manifest.name;
    }
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(spec)
        .to_string()
}

fn fail(e: &PluginError) -> ExitCode {
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&error_json(e)).unwrap_or_default()
    );
    ExitCode::from(1)
}
