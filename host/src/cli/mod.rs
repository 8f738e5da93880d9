//! Command-line interface. Each subcommand lives in its own module; this one
//! only parses and dispatches.

mod admin;
mod author;
mod demo;
mod keys;
mod plugin;
mod serve;
mod upload;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Switchboard: multi-tenant messaging with sandboxed wasm channel adapters
/// and policies.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// Log format for diagnostics on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "SWITCHBOARD_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// Diagnostic log formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database first).
    Serve(serve::ServeArgs),
    /// Chat with a demo persona as a WhatsApp user, through the real
    /// pipeline, against a simulated Graph API.
    Demo(demo::DemoArgs),
    /// Apply database migrations and exit.
    Migrate(serve::DataArgs),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(admin::TenantCommand),
    /// Manage channels.
    #[command(subcommand)]
    Channel(admin::ChannelCommand),
    /// Manage the master key that wraps the tenants' data keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Inspect and run plugin components without a server.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
}

/// Set up `tracing` on stderr (filter with `RUST_LOG`).
pub fn init_tracing(cli: &Cli) {
    // The demo's terminal is a chat: only problems go to stderr there.
    let default = match cli.command {
        Command::Demo(_) => "warn,sqlx=warn",
        _ => "info,sqlx=warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cli.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Run a parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Demo(args) => demo::demo(args),
        Command::Migrate(args) => serve::migrate(args),
        Command::Tenant(cmd) => admin::tenant(cmd),
        Command::Channel(cmd) => admin::channel(cmd),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Plugin(cmd) => plugin::run(cmd),
    }
}
