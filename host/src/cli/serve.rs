//! `switchboard serve` and `switchboard migrate`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::secrets::{Keyring, MasterKey};
use crate::server::{ServerConfig, start};
use crate::storage::Db;

/// Where the data lives; shared by every command that opens storage.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Data directory: SQLite database, keys, compiled-component cache.
    /// Secrets are encrypted under a master key from SWITCHBOARD_MASTER_KEY
    /// (required with PostgreSQL), else from master.key in this directory.
    #[arg(
        long,
        env = "SWITCHBOARD_DATA_DIR",
        default_value = "./switchboard-data"
    )]
    pub data_dir: PathBuf,
    /// Database URL (`sqlite://…` or `postgres://…`); default: SQLite in the data directory.
    #[arg(long, env = "SWITCHBOARD_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl DataArgs {
    pub fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| crate::storage::default_url(&self.data_dir))
    }

    /// Open (and migrate) the database.
    pub async fn open(&self) -> anyhow::Result<Db> {
        std::fs::create_dir_all(&self.data_dir)?;
        let db = Db::connect(&self.url())
            .await
            .map_err(|e| anyhow::anyhow!("connecting to the database: {e}"))?;
        db.migrate()
            .await
            .map_err(|e| anyhow::anyhow!("migrating: {e:#}"))?;
        Ok(db)
    }

    /// The keyring for `db`, under the master key this data directory and
    /// database call for (see `crate::secrets::MasterKey::resolve`).
    pub async fn keyring(&self, db: &Db) -> anyhow::Result<Keyring> {
        let master = MasterKey::resolve(&self.data_dir, db.dialect())?;
        let keyring = Keyring::new(db.clone(), master);
        keyring.check_master_key().await?;
        Ok(keyring)
    }
}

/// `serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub data: DataArgs,
    /// Public base URL providers call (for webhook URLs and signatures).
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Platform-admin bearer token (at least 12 characters; use a random one); generated into
    /// the data dir when unset.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Largest accepted webhook body, in bytes.
    #[arg(long, env = "SWITCHBOARD_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Largest accepted plugin component upload, in bytes.
    #[arg(long, env = "SWITCHBOARD_MAX_PLUGIN_BYTES", default_value_t = crate::server::DEFAULT_MAX_PLUGIN_BYTES)]
    pub max_plugin_bytes: usize,
    /// Largest inbound media file streamed by `GET /v1/messages/{id}/media/{n}`, in bytes.
    #[arg(long, env = "SWITCHBOARD_MAX_MEDIA_BYTES", default_value_t = crate::pipeline::media_fetch::DEFAULT_MAX_MEDIA_BYTES)]
    pub max_media_bytes: u64,
    /// Background workers (replies and deliveries) in this process; 0 runs
    /// none (another replica delivers).
    #[arg(long, env = "SWITCHBOARD_WORKERS", default_value_t = 4)]
    pub workers: usize,
    /// Default fuel per plugin call (a tenant's `plugin_fuel` overrides it).
    #[arg(long, env = "SWITCHBOARD_PLUGIN_FUEL", default_value_t = crate::runtime::Limits::default().fuel)]
    pub plugin_fuel: u64,
    /// Default wall-clock deadline per plugin call, in milliseconds.
    #[arg(long, env = "SWITCHBOARD_PLUGIN_DEADLINE_MS", default_value_t = crate::runtime::Limits::default().deadline_ms)]
    pub plugin_deadline_ms: u64,
    /// Default linear memory per plugin instance, in MiB.
    #[arg(long, env = "SWITCHBOARD_PLUGIN_MEMORY_MIB", default_value_t = crate::runtime::Limits::default().memory_bytes >> 20)]
    pub plugin_memory_mib: u64,
    /// Plugin calls one tenant may run at once (default: half the cores).
    #[arg(long, env = "SWITCHBOARD_MAX_CONCURRENT_PLUGIN_CALLS")]
    pub max_concurrent_plugin_calls: Option<u32>,
    /// Jobs (replies, deliveries) one tenant may run at once on this
    /// replica (default: half of the replica's job slots, `workers × 16`).
    #[arg(long, env = "SWITCHBOARD_MAX_CONCURRENT_JOBS")]
    pub max_concurrent_jobs: Option<usize>,
    /// Seconds a client may take to send a request's headers; the
    /// connection is closed after that.
    #[arg(long, env = "SWITCHBOARD_HEADER_READ_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_secs: u64,
    /// Seconds a client may take to send a request's body once its headers
    /// arrived; a 408 after that.
    #[arg(long, env = "SWITCHBOARD_BODY_READ_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_secs: u64,
    /// When set, `/metrics` needs `Authorization: Bearer <token>` (401
    /// otherwise).
    #[arg(long, env = "SWITCHBOARD_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut config = ServerConfig::new(args.data.data_dir.clone());
        config.listen = args.listen;
        config.database_url = args.data.database_url.clone();
        config.admin_token = args.admin_token.clone();
        config.public_url = args.public_url.clone();
        config.max_body_bytes = args.max_body_bytes;
        config.max_plugin_bytes = args.max_plugin_bytes;
        config.max_media_bytes = args.max_media_bytes;
        config.workers.workers = args.workers;
        config.workers.jobs_per_tenant = args.max_concurrent_jobs;
        config.plugin_limits.fuel = args.plugin_fuel;
        config.plugin_limits.deadline_ms = args.plugin_deadline_ms.max(1);
        config.plugin_limits.memory_bytes = args.plugin_memory_mib.max(1) << 20;
        if let Some(n) = args.max_concurrent_plugin_calls {
            config.fairness.calls_per_tenant = n.max(1);
        }
        config.read_timeouts = crate::server::ReadTimeouts {
            header: std::time::Duration::from_secs(args.header_read_timeout_secs),
            body: std::time::Duration::from_secs(args.body_read_timeout_secs),
        };
        config.scrape.token = args.metrics_token.clone();
        let server = start(config, true).await?;
        if server.admin_token_generated {
            // Shown once; it stays readable (mode 0600) in the data dir.
            println!(
                "admin token (saved to {}): {}",
                args.data.data_dir.join("admin-token").display(),
                server.admin_token
            );
        }
        println!("switchboard listening on http://{}", server.addr);
        tracing::info!(addr = %server.addr, "listening");
        server.wait().await?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

pub fn migrate(args: DataArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let db = args.open().await?;
        db.close().await;
        println!(
            "migrations applied ({})",
            if args.database_url.is_some() {
                "configured database"
            } else {
                "SQLite in the data directory"
            }
        );
        Ok(ExitCode::SUCCESS)
    })
}
