//! `switchboard plugin upload FILE.wasm --tenant … --name … --version …`:
//! the API's upload, for operators with database access.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::serve::DataArgs;
use crate::pipeline::PluginCatalog;
use crate::runtime::{PluginRuntime, RuntimeOptions};

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The `.wasm` component, or a plugin directory (built first when
    /// needed; its `plugin.json` gives the default name and version).
    file: PathBuf,
    /// The tenant's slug or id.
    #[arg(long)]
    tenant: String,
    /// Plugin name (a-z, 0-9, '-'); not a first-party plugin's name.
    /// Required for a `.wasm` file.
    #[arg(long)]
    name: Option<String>,
    /// Version, e.g. 1.2.0. Required for a `.wasm` file.
    #[arg(long)]
    version: Option<String>,
    /// Largest accepted component, in bytes (as `serve`'s flag).
    #[arg(long, env = "SWITCHBOARD_MAX_PLUGIN_BYTES", default_value_t = crate::server::DEFAULT_MAX_PLUGIN_BYTES)]
    max_plugin_bytes: usize,
    #[command(flatten)]
    data: DataArgs,
}

pub fn upload(args: UploadArgs) -> anyhow::Result<ExitCode> {
    let (bytes, name, version) = if args.file.is_dir() {
        let project = crate::authoring::Project::open(&args.file)?;
        let bytes = super::author::component_bytes(&args.file)?;
        (
            bytes,
            args.name.unwrap_or(project.manifest.name),
            args.version.unwrap_or(project.manifest.version),
        )
    } else {
        let bytes = std::fs::read(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?;
        let (Some(name), Some(version)) = (args.name, args.version) else {
            anyhow::bail!("uploading a .wasm file needs --name and --version");
        };
        (bytes, name, version)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let db = args.data.open().await?;
        let tenant = db
            .tenant_by_slug_or_id(&args.tenant)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no tenant with slug or id `{}`", args.tenant))?;
        // The same runtime (and compiled-component cache) as `serve`, so the
        // checks and the smoke call's limits are the API's.
        let runtime = Arc::new(PluginRuntime::new(RuntimeOptions {
            cache_dir: Some(args.data.data_dir.clone()),
            ..Default::default()
        })?);
        let catalog = PluginCatalog::load_first_party(&runtime).await?;
        let result = crate::server::upload_plugin(
            &db,
            &runtime,
            &catalog,
            &tenant.id,
            &name,
            &version,
            bytes.into(),
            args.max_plugin_bytes,
        )
        .await;
        db.close().await;
        match result {
            Ok(record) => {
                println!("{}", serde_json::to_string_pretty(&record)?);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {}: {}", e.code, e.message);
                Ok(ExitCode::FAILURE)
            }
        }
    })
}
