//! The HTTP server: axum routes on hyper 1 + tokio, with graceful shutdown.
//! Handlers translate HTTP to calls on the pipeline and storage; they hold no
//! business logic of their own.

mod auth;
mod bindings;
mod channel_changes;
mod channel_routes;
mod channel_view;
mod channels;
mod connections;
mod console;
mod contacts;
mod conversations;
mod error;
mod events;
mod extract;
mod health;
mod limits;
mod media;
mod members;
mod messages;
mod openapi;
mod personas;
mod platform;
mod plugins;
mod scrape;
mod send;
mod tenant_settings;
mod tenants;
pub mod webchat;
mod webhook_endpoints;
mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::orchestrator::{Responder, RetryPolicy};
use crate::outbound::OutboundPolicy;
use crate::pipeline::delivery::Sender;
use crate::pipeline::{Pipeline, PluginCatalog};
use crate::runtime::{PluginRuntime, RuntimeOptions};
use crate::secrets::{Keyring, MasterKey};
use crate::storage::{Db, InboundWriter, OutboundWriter, SqlKv, StorageError};
use crate::worker::{WorkerConfig, Workers};

pub use auth::MIN_ADMIN_TOKEN_CHARS;
pub use connections::ReadTimeouts;
pub use error::ApiError;
pub use openapi::document as openapi_document;
pub use plugins::upload as upload_plugin;
pub use scrape::ScrapeConfig;
pub use tenants::validate_slug;

/// Largest plugin component accepted by default. A JavaScript component
/// carries its engine (StarlingMonkey, ~12 MiB) and a Python one CPython and
/// its standard library (~18 MiB), so 16 MiB refused every Python plugin.
pub const DEFAULT_MAX_PLUGIN_BYTES: usize = 32 << 20;

/// Server settings (from flags and environment).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind.
    pub listen: SocketAddr,
    /// Data directory (SQLite file, master key, admin token, component cache).
    pub data_dir: PathBuf,
    /// Database URL; `None` means SQLite in the data directory.
    pub database_url: Option<String>,
    /// Platform-admin token; `None` means generate one into the data dir.
    /// At least [`MIN_ADMIN_TOKEN_CHARS`] characters, or the start fails.
    pub admin_token: Option<String>,
    /// Base URL providers reach this server at, for webhook URLs and
    /// signature checks; defaults to `http://<listen>`.
    pub public_url: Option<String>,
    /// Largest accepted webhook body.
    pub max_body_bytes: usize,
    /// Largest accepted plugin component.
    pub max_plugin_bytes: usize,
    /// Where compiled components are cached; defaults to the data directory.
    pub component_cache_dir: Option<PathBuf>,
    /// Background workers (replies and deliveries).
    pub workers: WorkerConfig,
    /// Where the host may send requests (providers, LLM APIs).
    pub outbound: OutboundPolicy,
    /// Retries of responder (LLM) calls within one job attempt.
    pub responder_retry: RetryPolicy,
    /// How often the retention sweeper runs (`None`: never).
    pub retention_interval: Option<std::time::Duration>,
    /// The master key wrapping the tenants' data keys; default:
    /// `SWITCHBOARD_MASTER_KEY`, or (embedded SQLite only) the data
    /// directory's `master.key`. Replicas sharing a database must share it.
    /// (`MasterKey`'s `Debug` shows its id only, so this config can be logged.)
    pub master_key: Option<MasterKey>,
    /// Platform default limits of every plugin call (a tenant's own limits
    /// override them).
    pub plugin_limits: crate::runtime::Limits,
    /// Concurrency shares between tenants.
    pub fairness: crate::runtime::Fairness,
    /// How long a client may take to send a request's headers (then the
    /// connection is closed) and its body (then a 408).
    pub read_timeouts: ReadTimeouts,
    /// `/metrics`: its optional token and how long DB-derived gauges are
    /// reused.
    pub scrape: ScrapeConfig,
    /// Largest inbound media download streamed by
    /// `GET /v1/messages/{id}/media/{n}`.
    pub max_media_bytes: u64,
}

impl ServerConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: PathBuf) -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            data_dir,
            database_url: None,
            admin_token: None,
            public_url: None,
            max_body_bytes: 1 << 20,
            max_plugin_bytes: DEFAULT_MAX_PLUGIN_BYTES,
            component_cache_dir: None,
            workers: WorkerConfig::default(),
            outbound: OutboundPolicy::from_env(),
            responder_retry: RetryPolicy::default(),
            retention_interval: Some(std::time::Duration::from_secs(3600)),
            master_key: None,
            plugin_limits: crate::runtime::Limits::default(),
            fairness: crate::runtime::Fairness::default(),
            read_timeouts: ReadTimeouts::default(),
            scrape: ScrapeConfig::default(),
            max_media_bytes: crate::pipeline::media_fetch::DEFAULT_MAX_MEDIA_BYTES,
        }
    }
}

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Pipeline,
    pub admin_token: Arc<String>,
    pub public_url: Arc<String>,
    pub max_body_bytes: usize,
    /// API rate limits and per-request caches.
    pub limiter: Arc<limits::ApiLimiter>,
    /// Largest accepted plugin upload.
    pub max_plugin_bytes: usize,
    /// How long a request body may take to arrive once its headers have.
    pub body_read_timeout: std::time::Duration,
    /// `/metrics`: token and cached gauges.
    pub scrape: Arc<scrape::Scrape>,
    /// Inbound media fetches, and the policy outbound media URLs meet.
    pub media: Arc<crate::pipeline::media_fetch::MediaClient>,
    /// Web chat visitors' sockets and message rates.
    pub visitors: Arc<webchat::VisitorLimits>,
    /// Failed console sign-ins, per account and address.
    pub sign_ins: Arc<console::SignInLimits>,
    /// The persona responders (the workers' own), for trying a persona.
    pub responder: Arc<Responder>,
}

impl AppState {
    /// The database.
    pub fn db(&self) -> &Db {
        &self.pipeline.db
    }

    /// The tenant's content cipher (message content and contacts are
    /// sealed under its data key; see `crate::crypto::content`).
    pub async fn cipher(
        &self,
        tenant_id: &str,
    ) -> Result<crate::crypto::TenantCipher, StorageError> {
        Ok(self.pipeline.secrets.cipher(tenant_id).await?)
    }

    pub(crate) fn webhook_url(&self, channel_id: &str) -> String {
        format!(
            "{}/webhooks/{channel_id}",
            self.public_url.trim_end_matches('/')
        )
    }
}

/// The routes.
pub fn router(state: AppState) -> Router {
    let (routes, document) = openapi::documented(state.max_plugin_bytes).split_for_parts();
    let document = Arc::new(document);
    // Every body is read within the timeout before any handler runs; the
    // largest any route accepts bounds the buffer, each route's own
    // limit applies after.
    let body_limits = connections::BodyLimits {
        timeout: state.body_read_timeout,
        max_bytes: state
            .max_body_bytes
            .max(state.max_plugin_bytes.saturating_add(64 << 10)),
    };
    routes
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move { axum::Json(document) }
            }),
        )
        .merge(console::routes(state.max_plugin_bytes))
        .route("/widget.js", get(webchat::widget_js))
        .route("/widget.css", get(webchat::widget_css))
        .route("/webchat/{channel_id}/socket", get(webchat::socket))
        .fallback(health::not_found)
        .layer(axum::middleware::from_fn_with_state(
            body_limits,
            connections::read_body_within,
        ))
        .with_state(state)
}

/// A running server.
pub struct RunningServer {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The platform-admin token.
    pub admin_token: String,
    /// Whether the admin token was generated by this start (print it once).
    pub admin_token_generated: bool,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    workers: Workers,
    state: AppState,
}

impl RunningServer {
    /// Stop accepting, finish in-flight requests, close the database.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        let result = self
            .task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.workers.shutdown().await;
        self.state.db().close().await;
        result
    }

    /// Wait until the server stops by itself (a signal) and clean up.
    pub async fn wait(self) -> std::io::Result<()> {
        let result = self
            .task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.workers.shutdown().await;
        self.state.db().close().await;
        result
    }

    /// The handler state (for tests that drive the pipeline directly).
    pub fn state(&self) -> &AppState {
        &self.state
    }
}

/// Open storage, migrate, load plugins, bind and start serving. Returns once
/// the listener is bound. With `handle_signals`, SIGINT/SIGTERM start a
/// graceful shutdown.
pub async fn start(config: ServerConfig, handle_signals: bool) -> anyhow::Result<RunningServer> {
    std::fs::create_dir_all(&config.data_dir)?;
    // First: a weak admin token stops the start before anything is opened.
    let (admin_token, admin_token_generated) =
        auth::admin_token(config.admin_token.clone(), &config.data_dir)?;
    let url = config
        .database_url
        .clone()
        .unwrap_or_else(|| crate::storage::default_url(&config.data_dir));
    // The master key first: a replica without one must not even migrate.
    let master = match config.master_key.clone() {
        Some(key) => key,
        None => {
            let dialect = crate::storage::Dialect::of_url(&url).ok_or_else(|| {
                anyhow::anyhow!("unsupported database URL (use sqlite://… or postgres://…)")
            })?;
            MasterKey::resolve(&config.data_dir, dialect)?
        }
    };
    let db = Db::connect(&url)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to the database: {e}"))?;
    db.migrate()
        .await
        .map_err(|e| anyhow::anyhow!("migrating the database: {e:#}"))?;
    let secrets = Keyring::new(db.clone(), master);
    secrets.check_master_key().await?;
    // Other replicas' event commits wake this process's event sockets.
    crate::storage::listen(&db, url.clone());

    let cache_dir = config
        .component_cache_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.clone());
    let runtime = Arc::new(PluginRuntime::new(RuntimeOptions {
        cache_dir: Some(cache_dir),
        defaults: config.plugin_limits,
        fairness: config.fairness,
        ..Default::default()
    })?);
    let catalog = Arc::new(PluginCatalog::load_first_party(&runtime).await?);
    let kv = Arc::new(SqlKv::new(db.clone()));
    // One group-commit writer on both databases: on PostgreSQL a second
    // one made batches half as large and its commits queue behind the
    // first's on the shared `usage` row (BENCHMARKS.md: 2,693 → 2,195 req/s).
    let writers = 1;
    let writer = InboundWriter::start(db.clone(), writers);
    let outbound_writer = OutboundWriter::start(db.clone());
    let wake = Arc::new(tokio::sync::Notify::new());

    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let responder = Arc::new(Responder::new(
        config.outbound.clone(),
        config.responder_retry.clone(),
    ));
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let state = AppState {
        pipeline: Pipeline {
            db,
            runtime,
            catalog,
            secrets,
            kv,
            writer,
            outbound_writer,
            channels: Arc::default(),
            wake: wake.clone(),
            #[cfg(feature = "native-baseline")]
            native_adapter: crate::bench_baseline::from_env(),
            #[cfg(not(feature = "native-baseline"))]
            native_adapter: None,
        },
        admin_token: Arc::new(admin_token.clone()),
        public_url: Arc::new(public_url),
        max_body_bytes: config.max_body_bytes,
        limiter: Arc::default(),
        max_plugin_bytes: config.max_plugin_bytes,
        body_read_timeout: config.read_timeouts.body,
        scrape: scrape::Scrape::new(&config.scrape),
        media: Arc::new(crate::pipeline::media_fetch::MediaClient::new(
            config.outbound.clone(),
            config.max_media_bytes,
        )?),
        visitors: Arc::default(),
        sign_ins: Arc::default(),
        responder: responder.clone(),
    };
    let sender = Arc::new(Sender::new(
        config.outbound.clone(),
        config.workers.delivery.clone(),
    )?);
    let workers = Workers::spawn(
        state.pipeline.clone(),
        responder,
        sender,
        config.workers.clone(),
        wake,
    );
    let (shutdown, mut rx) = tokio::sync::watch::channel(false);
    let shutdown_rx_for_sweeper = rx.clone();
    if let Some(every) = config.retention_interval {
        let db = state.pipeline.db.clone();
        let mut stop = shutdown_rx_for_sweeper.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                if let Err(e) = db.sweep_retention(crate::storage::now_ms()).await {
                    tracing::warn!(error = %e, "retention sweep failed");
                }
            }
        });
    }
    if config.workers.workers > 0 {
        // Event webhooks: fan out from the events table to the outbox.
        tokio::spawn(crate::pipeline::webhook_dispatch::run(
            state.pipeline.clone(),
            config.workers.poll_interval,
            shutdown_rx_for_sweeper.clone(),
        ));
    }
    let app = router(state.clone());
    let header_timeout = config.read_timeouts.header;
    // Installed before `start` returns (and the caller prints "listening"),
    // so a SIGTERM sent as soon as the server says it is up shuts it down
    // gracefully rather than killing it with the default action.
    let signals = Signals::install(handle_signals)?;
    let task = tokio::spawn(async move {
        connections::serve(listener, app, header_timeout, async move {
            tokio::select! {
                _ = rx.wait_for(|stop| *stop) => {}
                _ = signals.recv() => { tracing::info!("signal received; finishing in-flight requests"); }
            }
        })
        .await
    });
    Ok(RunningServer {
        addr,
        admin_token,
        admin_token_generated,
        shutdown,
        task,
        workers,
        state,
    })
}

/// SIGINT and SIGTERM listeners, registered when created.
struct Signals {
    #[cfg(unix)]
    handlers: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
    #[cfg(not(unix))]
    enabled: bool,
}

impl Signals {
    fn install(enabled: bool) -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let handlers = if enabled {
                Some((
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                ))
            } else {
                None
            };
            Ok(Signals { handlers })
        }
        #[cfg(not(unix))]
        Ok(Signals { enabled })
    }

    /// Resolves on the first signal; never, when not handling signals.
    async fn recv(mut self) {
        #[cfg(unix)]
        match self.handlers.as_mut() {
            Some((int, term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            None => std::future::pending().await,
        }
        #[cfg(not(unix))]
        if self.enabled {
            let _ = tokio::signal::ctrl_c().await;
        } else {
            std::future::pending::<()>().await
        }
    }
}
