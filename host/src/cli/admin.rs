//! Operator commands that mirror the admin/tenant API: `tenant create`,
//! `channel create`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::serve::DataArgs;
use crate::pipeline::PluginCatalog;
use crate::runtime::{PluginRuntime, RuntimeOptions};

/// `tenant` subcommands.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print its API key (shown once).
    Create {
        /// URL-safe identifier (a-z, 0-9, '-').
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// `channel` subcommands.
#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Create a channel for a tenant and print its webhook URL.
    Create(ChannelCreate),
}

#[derive(Debug, Args)]
pub struct ChannelCreate {
    /// The tenant's slug.
    #[arg(long)]
    tenant: String,
    /// First-party adapter name (e.g. whatsapp-cloud) or plugin id.
    #[arg(long)]
    adapter: String,
    /// Channel name (default: the adapter name).
    #[arg(long)]
    name: Option<String>,
    /// Configuration, `key=value`; repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Guardrail plugin (name or id); repeatable, in order.
    #[arg(long = "guardrail")]
    guardrails: Vec<String>,
    /// Public base URL of the server, for the printed webhook URL.
    #[arg(
        long,
        env = "SWITCHBOARD_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    public_url: String,
    #[command(flatten)]
    data: DataArgs,
}

pub fn tenant(cmd: TenantCommand) -> anyhow::Result<ExitCode> {
    let TenantCommand::Create { slug, name, data } = cmd;
    crate::server::validate_slug(&slug).map_err(|e| anyhow::anyhow!(e.message))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let db = data.open().await?;
        let t = db.create_tenant(&slug, &name).await?;
        db.close().await;
        println!("tenant:  {} ({})", t.slug, t.id);
        println!("api key: {}   (shown once; store it now)", t.api_key);
        Ok(ExitCode::SUCCESS)
    })
}

pub fn channel(cmd: ChannelCommand) -> anyhow::Result<ExitCode> {
    let ChannelCommand::Create(args) = cmd;
    let config: BTreeMap<String, String> = super::plugin::parse_config(&args.config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let db = args.data.open().await?;
        let tenant = db
            .tenant_by_slug(&args.tenant)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no tenant with slug `{}`", args.tenant))?;
        let is_first_party = crate::first_party::bytes(&args.adapter).is_some();
        if !is_first_party && db.get_plugin(&tenant.id, &args.adapter).await.is_err() {
            anyhow::bail!(
                "`{}` is neither a first-party plugin nor one of {}'s plugins",
                args.adapter,
                args.tenant
            );
        }
        let secrets = args.data.keyring(&db).await?;
        // The catalog knows what each adapter declares (its compiled
        // components are cached in the data directory after the first run).
        let runtime = std::sync::Arc::new(PluginRuntime::new(RuntimeOptions {
            cache_dir: Some(args.data.data_dir.clone()),
            ..Default::default()
        })?);
        let catalog = PluginCatalog::load_first_party(&runtime).await?;
        let base = args.public_url.trim_end_matches('/');
        let webhook_url = |id: &str| format!("{base}/webhooks/{id}");
        let name = args.name.unwrap_or_else(|| args.adapter.clone());
        let new = catalog.new_channel(name, args.adapter, config, args.guardrails, webhook_url);
        let ch = db.create_channel(&tenant.id, &new, &secrets).await?;
        db.close().await;
        println!("channel:     {}", ch.id);
        println!("webhook URL: {}", webhook_url(&ch.id));
        Ok(ExitCode::SUCCESS)
    })
}
