//! Storage on sqlx: the embedded SQLite file by default, PostgreSQL for
//! scale-out, one code path (`sqlx::Any`) and the same schema and behaviour
//! on both. Every tenant-owned query filters by `tenant_id`.

mod audit;
mod bindings;
mod channel_changes;
mod channels;
mod consent;
mod contacts;
mod conversation_changes;
mod conversations;
mod deliveries;
mod events;
mod ids;
mod inbound;
mod inbox;
mod kv;
mod outbound_writer;
mod outbox;
mod people;
mod personas;
mod platform;
mod plugins;
mod replies;
mod retention;
mod sends;
mod tenant_keys;
mod tenant_settings;
mod tenants;
mod usage;
mod visitors;
mod webhook_endpoints;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use crate::domain::Disposition;
pub use audit::AuditEntry;
pub use bindings::{OnFailure, PinnedVersion, PluginBinding, Slot};
pub use channel_changes::{ChannelChange, RoutedChannel};
pub use channels::{ChannelRecord, ChannelState, NewChannel};
pub use consent::ConsentSource;
pub use contacts::{ContactRecord, MergeCounts, MergeError};
pub use conversation_changes::ConversationChange;
pub use conversations::{ConversationRecord, MessageRecord, Page};
pub use deliveries::{Attempt, AttemptRecord, DeliveryTarget, SentWrite};
pub use events::{EventHub, EventRecord, NOTIFY_CHANNEL, cursor, listen, parse_cursor};
pub use ids::{new_id, new_secret_id};
pub use inbound::{InboundItem, InboundOutcome};
pub use inbox::{InboxFilter, InboxRow};
pub use kv::SqlKv;
pub use outbound_writer::OutboundWriter;
pub use outbox::{Job, JobRecord};
pub use people::{MemberRecord, SessionRecord, normal_email};
pub use personas::{PersonaDeletion, PersonaRecord, PersonaSpec};
pub use platform::{ApiKeyRecord, TenantLimits, UsageRow};
pub use plugins::PluginRecord;
pub use replies::{ReplyContext, ReplyWrite};
pub use sends::{IDEMPOTENCY_LEASE_MS, Idempotency, Recipient};
pub use tenant_settings::TenantSettings;
pub use tenants::{NewTenant, TenantRecord};
pub use webhook_endpoints::{
    AttemptResult, DispatchTarget, SigningEndpoint, WebhookAttempt, WebhookEndpoint,
    WebhookEndpointStatus,
};
pub use writer::{InboundWriter, MAX_BATCH};

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Storage failures, in the terms callers act on.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database cannot be reached or is overloaded: retry later (503).
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A uniqueness rule was violated (409).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// Nothing with that id for this tenant (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A rule of the data refuses the change (409), with a code and a
    /// message for the client (e.g. a tenant keeps at least one owner).
    #[error("{message}")]
    Refused {
        code: &'static str,
        message: &'static str,
    },
    /// Anything else; details are logged, never shown to clients.
    #[error("storage error")]
    Internal(#[source] anyhow::Error),
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StorageError::Unavailable(e),
            sqlx::Error::Database(db) if is_busy(db.code().as_deref()) => {
                StorageError::Unavailable(e)
            }
            _ => StorageError::Internal(e.into()),
        }
    }
}

impl From<crate::crypto::ContentError> for StorageError {
    fn from(e: crate::crypto::ContentError) -> Self {
        StorageError::Internal(e.into())
    }
}

/// SQLite BUSY/LOCKED and PostgreSQL serialization/connection classes mean
/// "try again", not "bug".
fn is_busy(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("5" | "6" | "517" | "40001" | "40P01" | "57P01" | "57P03")
    ) || code.is_some_and(|c| c.starts_with("08"))
}

/// Whether an error is a uniqueness violation (SQLite 2067/1555, Postgres 23505).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("2067" | "1555" | "23505")))
}

impl Dialect {
    /// The dialect a database URL names, if supported.
    pub fn of_url(url: &str) -> Option<Dialect> {
        if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Dialect::Postgres)
        } else {
            None
        }
    }
}

/// The database handle. SQLite gets one writer connection (writes queue in
/// the pool instead of spinning in SQLite's busy handler) and several
/// readers; PostgreSQL uses one pool for both.
#[derive(Clone)]
pub struct Db {
    pub(crate) read: AnyPool,
    pub(crate) write: AnyPool,
    pub(crate) dialect: Dialect,
    /// Wakes this process's event readers (shared by clones).
    pub(crate) hub: events::SharedHub,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dialect", &self.dialect)
            .finish()
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The stored `error` of a message a guardrail blocked (inbound or out).
pub(crate) fn blocked_error(reason: &str) -> String {
    serde_json::json!({ "code": "blocked", "message": reason }).to_string()
}

/// A table of the JSON array bound as parameter `$1`: one row per element,
/// in a column named `value` (read a field with `value ->> 'key'`). Rows
/// travel this way so that a batch is one statement with one parameter,
/// whose text (and prepared plan) does not change with the batch's size.
pub(crate) fn json_rows(conn: &sqlx::AnyConnection) -> &'static str {
    if conn.backend_name() == "PostgreSQL" {
        // migrations/postgres/0008_hot_paths.sql: json_array_elements
        // with a row estimate that fits a batch.
        "batch_rows($1) AS j(value)"
    } else {
        "json_each($1)"
    }
}

/// Run `sql` over a batch: `rows` bound as `$1` and read where `sql` says
/// `{rows}` (see [`json_rows`]), `now` bound as `$2`.
pub(crate) async fn execute_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sql: &str,
    rows: Vec<serde_json::Value>,
    now: i64,
) -> Result<(), StorageError> {
    let sql = sql.replace("{rows}", json_rows(tx));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(serde_json::Value::Array(rows).to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The default database URL: a SQLite file in the data directory.
pub fn default_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("switchboard.db").display()
    )
}

impl Db {
    /// Connect to `url` (`sqlite://…` or `postgres://…`).
    pub async fn connect(url: &str) -> Result<Db, StorageError> {
        sqlx::any::install_default_drivers();
        let Some(dialect) = Dialect::of_url(url) else {
            return Err(StorageError::Internal(anyhow::anyhow!(
                "unsupported database URL (use sqlite://… or postgres://…)"
            )));
        };
        let options =
            AnyConnectOptions::from_str(url).map_err(|e| StorageError::Internal(e.into()))?;
        let pool = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(5))
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if dialect == Dialect::Sqlite {
                            // WAL: readers never block the writer; NORMAL is
                            // durable across crashes of the process in WAL.
                            // Pages are read through a memory map (256 MiB)
                            // and a 64 MiB cache per connection rather than a
                            // read() copy each: the reply path's reads were
                            // mostly kernel copies (perf, BENCHMARKS.md).
                            conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA mmap_size = 268435456; PRAGMA cache_size = -65536;").await?;
                        }
                        Ok(())
                    })
                })
        };
        let (read, write) = match dialect {
            Dialect::Sqlite => {
                let write = pool(1).connect_with(options.clone()).await?;
                let read = pool(4).connect_with(options).await?;
                (read, write)
            }
            Dialect::Postgres => {
                let p = pool(16).connect_with(options).await?;
                (p.clone(), p)
            }
        };
        Ok(Db {
            read,
            write,
            dialect,
            hub: Default::default(),
        })
    }

    /// Apply pending migrations.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.write)
            .await
            .map_err(|e| StorageError::Internal(e.into()))
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.read).await.is_ok()
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Close all connections.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
