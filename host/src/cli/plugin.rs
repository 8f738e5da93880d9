//! `switchboard plugin check|run`: what a plugin author uses before uploading
//! (`plugin upload` is in `upload.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::Deserialize;
use serde_json::json;

use crate::domain::{Direction, GuardrailContext, Header, HttpRequest, PersonaContext};
use crate::first_party;
use crate::runtime::{
    CallContext, LoadedPlugin, PluginError, PluginRuntime, RuntimeOptions, World,
};

/// Plugin subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Validate a component and print its world, version, exports, imports,
    /// size, sha256 and compile time. Exits non-zero, with the reason, for
    /// anything this host cannot run.
    Check {
        /// A `.wasm` component file, or the name of a first-party plugin.
        plugin: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a component on a saved request: an adapter's verify + parse (or a
    /// guardrail's check, or a persona's prompt, given `--message`), printing
    /// the normalized result as JSON.
    Run {
        /// A `.wasm` component file, or the name of a first-party plugin.
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
    }
}

/// Bytes of a plugin named by file path or first-party name.
fn read_plugin(spec: &str) -> anyhow::Result<Vec<u8>> {
    let path = std::path::Path::new(spec);
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

fn runtime() -> anyhow::Result<PluginRuntime> {
    // No disk cache: `check` reports the real compile time, and a one-shot
    // command gains nothing from caching.
    let mut options = RuntimeOptions::default();
    options.engine.pool_instances = 4;
    PluginRuntime::new(options)
}

/// Load a component, printing why not (the caller exits 1).
fn load_or_report(rt: &PluginRuntime, spec: &str, bytes: &[u8]) -> Option<Arc<LoadedPlugin>> {
    rt.load(bytes)
        .map_err(|e| eprintln!("invalid plugin {spec}: {e}"))
        .ok()
}

fn check(spec: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let bytes = read_plugin(spec)?;
    let rt = runtime()?;
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
        println!("compile time: {:.1} ms", compile_ms.unwrap_or(0.0));
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

/// A saved request: headers as a list of `{name, value}` or an object.
#[derive(Deserialize)]
struct RequestFile {
    #[serde(default = "default_method")]
    method: String,
    url: String,
    #[serde(default)]
    headers: HeadersFile,
    #[serde(default)]
    body: BodyFile,
}

fn default_method() -> String {
    "POST".into()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum HeadersFile {
    List(Vec<Header>),
    Map(BTreeMap<String, String>),
}

impl Default for HeadersFile {
    fn default() -> Self {
        HeadersFile::List(Vec::new())
    }
}

/// A body as text, as `{"base64": ...}`, or as inline JSON (sent compact).
#[derive(Deserialize)]
#[serde(untagged)]
enum BodyFile {
    Text(String),
    Base64 { base64: String },
    Json(serde_json::Value),
}

impl Default for BodyFile {
    fn default() -> Self {
        BodyFile::Text(String::new())
    }
}

fn load_request(path: &PathBuf) -> anyhow::Result<HttpRequest> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: RequestFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a request file ({{method, url, headers, body}})",
            path.display()
        )
    })?;
    let headers = match file.headers {
        HeadersFile::List(l) => l,
        HeadersFile::Map(m) => m
            .into_iter()
            .map(|(name, value)| Header { name, value })
            .collect(),
    };
    let body = match file.body {
        BodyFile::Text(t) => t.into_bytes(),
        BodyFile::Base64 { base64 } => {
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, base64)
                .context("body.base64 is not valid base64")?
        }
        BodyFile::Json(v) => serde_json::to_vec(&v)?,
    };
    Ok(HttpRequest {
        method: file.method.to_uppercase(),
        url: file.url,
        headers,
        body,
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
    let rt = runtime()?;
    let Some(plugin) = load_or_report(&rt, spec, &bytes) else {
        return Ok(ExitCode::from(1));
    };
    let name = std::path::Path::new(spec)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(spec)
        .to_string();
    let ctx = CallContext::for_tenant("cli", &name).with_config(config);
    let mut inst = match rt.instantiate(&plugin, &ctx) {
        Ok(i) => i,
        Err(e) => return Ok(fail(&e)),
    };
    let outcome: Result<serde_json::Value, PluginError> = match plugin.detected.world {
        World::ChannelAdapter => {
            let Some(path) = request else {
                bail!("an adapter needs --request REQ.json")
            };
            let req = load_request(&path)?;
            match inst.verify(&req) {
                Err(e) => Err(e),
                Ok(Some(handshake)) => Ok(json!({ "verify": "handshake", "response": handshake })),
                Ok(None) => inst
                    .parse(&req)
                    .map(|events| json!({ "verify": "accepted", "events": events })),
            }
        }
        World::Guardrail => {
            let Some(text) = message else {
                bail!("a guardrail needs --message TEXT")
            };
            let ctx = GuardrailContext {
                direction: match direction {
                    DirectionArg::Inbound => Direction::Inbound,
                    DirectionArg::Outbound => Direction::Outbound,
                },
                text,
                channel_adapter: "cli".into(),
                contact_address: "cli-user".into(),
                first_reply: true,
                prohibited_topics: vec![],
                required_disclaimers: vec![],
            };
            inst.check(&ctx).map(|v| json!({ "verdict": v }))
        }
        World::Persona => {
            let Some(text) = message else {
                bail!("a persona needs --message TEXT")
            };
            let ctx = PersonaContext {
                name: name.clone(),
                display_name: name.clone(),
                contact_name: None,
                channel_adapter: "cli".into(),
                history: vec![],
                message: text,
            };
            inst.build_prompt(&ctx).map(|p| json!({ "prompt": p }))
        }
    };
    let report = inst.finish();
    for line in &report.logs {
        eprintln!(
            "[plugin {}] {}{}",
            line.level,
            line.message,
            fmt_fields(&line.fields)
        );
    }
    match outcome {
        Ok(mut value) => {
            value["fuel_consumed"] = json!(report.fuel_consumed);
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(fail(&e)),
    }
}

fn fmt_fields(fields: &[(String, String)]) -> String {
    fields.iter().map(|(k, v)| format!(" {k}={v}")).collect()
}

fn fail(e: &PluginError) -> ExitCode {
    let detail = match e {
        PluginError::Guest(g) => serde_json::to_value(g).unwrap_or_default(),
        _ => json!(e.to_string()),
    };
    eprintln!(
        "{}",
        serde_json::to_string_pretty(
            &json!({ "error": { "code": e.code(), "message": e.to_string(), "detail": detail } })
        )
        .unwrap_or_default()
    );
    ExitCode::from(1)
}
