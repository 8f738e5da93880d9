//! The sandboxed plugin runtime: one `Engine`, one `Linker`, `InstancePre`s
//! cached by component sha256, and a fresh `Store` for every call.
//!
//! ```no_run
//! # use std::sync::Arc;
//! use switchboard::runtime::{CallContext, PluginRuntime, RuntimeOptions};
//! let runtime = PluginRuntime::new(RuntimeOptions::default())?;
//! let plugin = runtime.load(switchboard_artifacts::first_party::WHATSAPP_CLOUD)?;
//! let mut call = runtime.instantiate(&plugin, &CallContext::for_tenant("acme", "whatsapp-cloud"))?;
//! let info = call.info()?;
//! # Ok::<(), anyhow::Error>(())
//! ```

mod bindings;
mod cache;
mod convert;
mod engine;
mod error;
mod fairness;
mod host_api;
mod instance;
mod limits;
mod lru;
mod output;
mod stdio;
mod threads;
mod validate;
mod world;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sha2::Digest;
use wasmtime::component::{HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use cache::DiskCache;
pub use engine::{EPOCH_TICK, EngineOptions};
pub use error::{PluginError, TrapKind};
pub use fairness::{CallPermit, Fairness, UploadSlot, background};
pub use host_api::LogLine;
pub use instance::{AdapterCall, CallReport, PluginInstance, Verified};
pub use limits::{KvQuota, LimitOverrides, Limits};
pub use output::OutputSize;
pub use threads::blocking_here;
pub use validate::{Rejection, RejectionKind, Validated};
pub use world::{Detected, PACKAGE, SUPPORTED_VERSIONS, World};

use crate::kv::{KvScope, KvStore, MemoryKv};
use bindings::{adapter, configuration, guard, media, prompt_builder, templates};
use host_api::{HostCtx, LogSink};

/// How to build a [`PluginRuntime`].
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Engine and allocator settings.
    pub engine: EngineOptions,
    /// Where compiled components are cached (`<data-dir>`); `None` disables
    /// the disk cache.
    pub cache_dir: Option<PathBuf>,
    /// Platform default limits.
    pub defaults: Limits,
    /// `kv` quotas.
    pub kv_quota: KvQuota,
    /// Concurrency shares between tenants, and of compiles.
    pub fairness: Fairness,
    /// Compiled components kept in memory (least recently used evicted).
    pub max_loaded_components: usize,
    /// Bytes of compiled code kept in the disk cache (least recently used
    /// evicted).
    pub disk_cache_bytes: u64,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            engine: EngineOptions::default(),
            cache_dir: None,
            defaults: Limits::default(),
            kv_quota: KvQuota::default(),
            fairness: Fairness::default(),
            max_loaded_components: 1_000,
            // A compiled adapter takes ~0.5 MiB: room for ~30,000.
            disk_cache_bytes: 16 << 30,
        }
    }
}

/// A compiled, validated plugin, ready to instantiate.
pub struct LoadedPlugin {
    /// Hex sha256 of the component bytes.
    pub sha256: String,
    /// World, version, exports and imports.
    pub detected: Detected,
    /// Size of the component in bytes.
    pub size: usize,
    /// How long compilation took, or `None` when it came from a cache.
    pub compile_time: Option<Duration>,
    pub(crate) pre: InstancePre<CallState>,
    pub(crate) exports: ExportIndices,
    /// The optional `templates` export (adapters built against 0.1.1+).
    pub(crate) templates: Option<templates::GuestIndices>,
    /// The optional `configuration` export (adapters built against 0.1.2+).
    pub(crate) configuration: Option<configuration::GuestIndices>,
    /// The optional `media` export (adapters built against 0.1.2+).
    pub(crate) media: Option<media::GuestIndices>,
    /// An adapter's `info`, once asked: it describes the component (name,
    /// limits, hosts), not a call, so every later caller shares it.
    info: std::sync::OnceLock<crate::domain::AdapterInfo>,
}

impl LoadedPlugin {
    /// An adapter's `info`, if a call (the smoke test, or any caller of
    /// [`PluginRuntime::adapter_info`]) already asked.
    pub fn cached_info(&self) -> Option<&crate::domain::AdapterInfo> {
        self.info.get()
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("sha256", &self.sha256)
            .field("world", &self.detected.world)
            .finish()
    }
}

pub(crate) enum ExportIndices {
    Adapter(adapter::GuestIndices),
    Guard(guard::GuestIndices),
    Persona(prompt_builder::GuestIndices),
}

/// Who a call runs for and what it may see.
#[derive(Clone)]
pub struct CallContext {
    /// The tenant; scopes `kv`.
    pub tenant: String,
    /// The plugin's name or id; scopes `kv`.
    pub plugin: String,
    /// The binding's configuration (secrets decrypted), read via `config`.
    pub config: Arc<BTreeMap<String, String>>,
    /// Backing store for `kv`.
    pub kv: Arc<dyn KvStore>,
    /// The tenant's overrides of the platform limits.
    pub limits: LimitOverrides,
}

impl CallContext {
    /// A context with empty configuration, a private in-memory kv and
    /// default limits.
    pub fn for_tenant(tenant: &str, plugin: &str) -> Self {
        CallContext {
            tenant: tenant.to_string(),
            plugin: plugin.to_string(),
            config: Arc::default(),
            kv: Arc::new(MemoryKv::default()),
            limits: LimitOverrides::default(),
        }
    }

    /// This context with the given configuration.
    pub fn with_config(mut self, config: BTreeMap<String, String>) -> Self {
        self.config = Arc::new(config);
        self
    }
}

/// Counters for observing the runtime (and asserting cache behaviour in tests
/// without timing anything).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Components compiled from wasm.
    pub compiles: u64,
    /// Components loaded from the disk cache.
    pub disk_cache_hits: u64,
    /// Loads answered from the in-memory `InstancePre` cache.
    pub memory_cache_hits: u64,
    /// Instances created.
    pub instantiations: u64,
}

#[derive(Default)]
struct Counters {
    compiles: AtomicU64,
    disk_cache_hits: AtomicU64,
    memory_cache_hits: AtomicU64,
    instantiations: AtomicU64,
}

/// The plugin runtime. Cheap to share behind an `Arc`; all methods take
/// `&self` and may be called from many threads.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<CallState>,
    /// Loaded components by sha256, least recently used evicted.
    plugins: Mutex<lru::Lru<String, Arc<LoadedPlugin>>>,
    cache: Option<DiskCache>,
    gates: fairness::Gates,
    threads: threads::CallThreads,
    heavy: HeavyTenants,
    defaults: Limits,
    kv_quota: KvQuota,
    max_memory_bytes: u64,
    metering: bool,
    counters: Counters,
    _ticker: engine::EpochTicker,
}

impl PluginRuntime {
    /// Build the engine, linker and epoch ticker.
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Self> {
        let engine = engine::build_engine(&options.engine)?;
        let mut linker = Linker::<CallState>::new(&engine);
        // WASI p2 is linked because a std Rust guest imports it even when it
        // never prints; the context built per call grants nothing. Linked
        // async, so a guest waiting in `poll` (a sleep) suspends a future
        // the host can drop at the call's deadline instead of blocking a
        // thread for as long as the guest asked.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        bindings::host::add_to_linker::<CallState, HasSelf<HostCtx>>(&mut linker, |s| &mut s.host)?;
        let cache = match &options.cache_dir {
            Some(dir) => Some(DiskCache::open(dir, &engine, options.disk_cache_bytes)?),
            None => None,
        };
        let ticker = engine::EpochTicker::start(&engine);
        let max_memory_bytes = if options.engine.pooling {
            options.engine.max_memory_bytes
        } else {
            u64::MAX
        };
        Ok(PluginRuntime {
            engine,
            linker,
            plugins: Mutex::new(lru::Lru::new(options.max_loaded_components)),
            // One thread per instance the pool holds, plus a few for calls
            // waiting on a compile.
            threads: threads::CallThreads::new(if options.engine.pooling {
                options.engine.pool_instances as usize + 16
            } else {
                512
            })?,
            cache,
            heavy: HeavyTenants::default(),
            gates: fairness::Gates::new(
                options.fairness,
                if options.engine.pooling {
                    options.engine.pool_instances
                } else {
                    u32::MAX >> 4
                },
            ),
            defaults: options.defaults,
            kv_quota: options.kv_quota,
            max_memory_bytes,
            metering: options.engine.metering,
            counters: Counters::default(),
            _ticker: ticker,
        })
    }

    /// The platform default limits.
    pub fn default_limits(&self) -> Limits {
        self.defaults
    }

    /// The largest linear memory a tenant's limit may allow.
    pub fn max_memory_bytes(&self) -> u64 {
        self.max_memory_bytes
    }

    /// The engine (for tools such as `plugin check`).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Counters since start.
    pub fn stats(&self) -> RuntimeStats {
        let c = &self.counters;
        RuntimeStats {
            compiles: c.compiles.load(Ordering::Relaxed),
            disk_cache_hits: c.disk_cache_hits.load(Ordering::Relaxed),
            memory_cache_hits: c.memory_cache_hits.load(Ordering::Relaxed),
            instantiations: c.instantiations.load(Ordering::Relaxed),
        }
    }

    /// Validate and prepare a component: from the in-memory cache, else the
    /// disk cache, else by compiling it (and caching the result).
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.load_checked(bytes)
            .map_err(|r| PluginError::Incompatible(r.message))
    }

    /// [`load`](Self::load), saying which check refused the component (the
    /// upload API reports each with its own code).
    pub fn load_checked(&self, bytes: &[u8]) -> Result<Arc<LoadedPlugin>, Rejection> {
        let sha256 = hex::encode(sha2::Sha256::digest(bytes));
        if let Some(p) = self.cached(&sha256) {
            return Ok(p);
        }
        let plugin = self.prepare(bytes, sha256)?;
        self.admit(&plugin);
        Ok(plugin)
    }

    /// A loaded component by sha256, if it is in memory.
    pub fn cached(&self, sha256: &str) -> Option<Arc<LoadedPlugin>> {
        let hit = self.plugins.lock().get(&sha256.to_string());
        if hit.is_some() {
            self.counters
                .memory_cache_hits
                .fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// [`load`](Self::load) on a blocking thread (it may compile).
    pub async fn load_blocking(
        self: &Arc<Self>,
        bytes: Vec<u8>,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let rt = self.clone();
        tokio::task::spawn_blocking(move || rt.load(&bytes))
            .await
            .map_err(|_| PluginError::Unavailable("loading the component failed".into()))?
    }

    /// Keep a component that passed its checks: in memory, and its compiled
    /// code on disk. Nothing is cached before this, so a component that
    /// fails validation leaves nothing behind.
    fn admit(&self, plugin: &Arc<LoadedPlugin>) {
        // What falls out of the memory cache stays usable by whoever holds
        // it, and is freed with the last holder.
        let _evicted = self
            .plugins
            .lock()
            .insert(plugin.sha256.clone(), plugin.clone());
        if plugin.compile_time.is_some()
            && let Some(cache) = &self.cache
        {
            cache.store(&plugin.sha256, plugin.pre.component());
        }
    }

    /// Compile (or read from the disk cache) and check a component, caching
    /// nothing.
    fn prepare(&self, bytes: &[u8], sha256: String) -> Result<Arc<LoadedPlugin>, Rejection> {
        let mut compile_time = None;
        let cached = self
            .cache
            .as_ref()
            .and_then(|c| c.load(&self.engine, &sha256));
        let component = match cached {
            Some(c) => {
                self.counters
                    .disk_cache_hits
                    .fetch_add(1, Ordering::Relaxed);
                c
            }
            None => {
                if bytes.len() < 8 || bytes[..4] != *b"\0asm" {
                    return Err(Rejection::new(
                        RejectionKind::NotWasm,
                        "not a wasm binary (no \\0asm header)",
                    ));
                }
                if is_core_module(bytes) {
                    return Err(Rejection::new(
                        RejectionKind::CoreModule,
                        "this is a core wasm module, not a component; build for wasm32-wasip2 (or run `wasm-tools component new`)",
                    ));
                }
                let start = Instant::now();
                let c = self
                    .gates
                    .compiling(|| wasmtime::component::Component::new(&self.engine, bytes))
                    .map_err(|e| {
                        Rejection::new(
                            RejectionKind::CompileFailed,
                            format!("not a valid wasm component: {}", root_message(&e)),
                        )
                    })?;
                compile_time = Some(start.elapsed());
                self.counters.compiles.fetch_add(1, Ordering::Relaxed);
                c
            }
        };
        let detected = world::detect(&self.engine, &component)
            .map_err(|m| Rejection::new(RejectionKind::Incompatible, m))?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            Rejection::new(
                RejectionKind::Incompatible,
                format!(
                    "component needs imports this host does not grant: {}",
                    root_message(&e)
                ),
            )
        })?;
        let incompatible = |e: wasmtime::Error| {
            Rejection::new(
                RejectionKind::Incompatible,
                format!(
                    "{} exports do not match the contract: {}",
                    detected.world,
                    root_message(&e)
                ),
            )
        };
        let exports = match detected.world {
            World::ChannelAdapter => {
                ExportIndices::Adapter(adapter::GuestIndices::new(&pre).map_err(incompatible)?)
            }
            World::Guardrail => {
                ExportIndices::Guard(guard::GuestIndices::new(&pre).map_err(incompatible)?)
            }
            World::Persona => ExportIndices::Persona(
                prompt_builder::GuestIndices::new(&pre).map_err(incompatible)?,
            ),
        };
        // Optional: an adapter built against 0.1.0 has no `templates`, one
        // built before 0.1.2 no `configuration` or `media`.
        let (templates, configuration, media) = match detected.world {
            World::ChannelAdapter => (
                templates::GuestIndices::new(&pre).ok(),
                configuration::GuestIndices::new(&pre).ok(),
                media::GuestIndices::new(&pre).ok(),
            ),
            _ => (None, None, None),
        };
        Ok(Arc::new(LoadedPlugin {
            sha256,
            detected,
            size: bytes.len(),
            compile_time,
            templates,
            configuration,
            media,
            pre,
            exports,
            info: std::sync::OnceLock::new(),
        }))
    }

    /// The smoke call every plugin passes before it is used (upload, start,
    /// `plugin check`): instantiate under the default limits and, for an
    /// adapter, call `info` (returned).
    pub fn smoke_test(
        &self,
        plugin: &Arc<LoadedPlugin>,
    ) -> Result<Option<crate::domain::AdapterInfo>, PluginError> {
        let mut inst = self.instantiate(
            plugin,
            &CallContext::for_tenant("platform-smoke-test", "smoke-test"),
        )?;
        match plugin.detected.world {
            World::ChannelAdapter => {
                let info = inst.info()?;
                Ok(Some(plugin.info.get_or_init(|| info).clone()))
            }
            World::Guardrail | World::Persona => Ok(None),
        }
    }

    /// An adapter's `info`, from one call per loaded component (the smoke
    /// test's, when there was one).
    pub fn adapter_info(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: &CallContext,
    ) -> Result<crate::domain::AdapterInfo, PluginError> {
        if let Some(info) = plugin.info.get() {
            return Ok(info.clone());
        }
        let info = self.instantiate(plugin, ctx)?.info()?;
        Ok(plugin.info.get_or_init(|| info).clone())
    }

    /// A fresh instance of `plugin` for one call (or one verify+parse pair),
    /// under the tenant's limits.
    pub fn instantiate(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: &CallContext,
    ) -> Result<PluginInstance, PluginError> {
        let mut limits = self.defaults.with(&ctx.limits);
        limits.memory_bytes = limits.memory_bytes.min(self.max_memory_bytes);
        self.counters.instantiations.fetch_add(1, Ordering::Relaxed);
        let host = HostCtx {
            config: ctx.config.clone(),
            kv: ctx.kv.clone(),
            kv_scope: KvScope {
                tenant: ctx.tenant.clone(),
                plugin: ctx.plugin.clone(),
            },
            kv_quota: self.kv_quota,
            logs: LogSink::new(limits.log_bytes),
        };
        instance::PluginInstance::new(&self.engine, plugin.clone(), limits, host, self.metering)
    }
}

impl PluginRuntime {
    /// Run `f` on a fresh instance of `plugin`, within the tenant's share of
    /// plugin calls (inline or on a plugin thread: [`Self::blocking`]): the
    /// one way the pipeline calls a plugin. The outer error is the call that
    /// never started (busy, instantiation) or a host failure; `f`'s own
    /// result is returned as is. The instance's logs go to `tracing`
    /// (target `plugin`).
    pub async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        plugin: &Arc<LoadedPlugin>,
        ctx: CallContext,
        f: impl FnOnce(&mut PluginInstance) -> R + Send + 'static,
    ) -> Result<R, PluginError> {
        let plugin = plugin.clone();
        let cap = ctx.limits.concurrent_calls;
        let tenant = ctx.tenant.clone();
        self.blocking(&tenant, cap, move |rt| rt.with_instance(&plugin, &ctx, f))
            .await
            .and_then(|r| r)
    }

    /// Run `f` on a fresh instance of `plugin` on this thread, inside a
    /// visit ([`Self::blocking`]): for a stage that makes its call in the
    /// same visit as another stage's. The instance's logs go to `tracing`
    /// (target `plugin`).
    pub fn with_instance<R>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: &CallContext,
        f: impl FnOnce(&mut PluginInstance) -> R,
    ) -> Result<R, PluginError> {
        let mut inst = self.instantiate(plugin, ctx)?;
        let result = f(&mut inst);
        for line in inst.finish().logs {
            tracing::debug!(target: "plugin", tenant = %ctx.tenant, plugin = %ctx.plugin, level = line.level, fields = ?line.fields, "{}", line.message);
        }
        Ok(result)
    }

    /// One visit: run `f` holding one of `tenant`'s call permits (`cap`
    /// overrides the platform's per-tenant share), for stages that make
    /// several calls in a row (a guardrail chain). On a multi-threaded
    /// runtime it runs inline, on this async worker, unless the tenant's
    /// recent calls were long; otherwise on a plugin thread (`threads`).
    pub async fn blocking<R: Send + 'static>(
        self: &Arc<Self>,
        tenant: &str,
        cap: Option<u32>,
        f: impl FnOnce(&PluginRuntime) -> R + Send + 'static,
    ) -> Result<R, PluginError> {
        let permit = self.gates.acquire(tenant, cap).await?;
        if threads::can_inline() && !self.heavy.is_heavy(tenant) {
            let _permit = permit;
            let (result, outgrew) = threads::inline(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)))
            });
            if outgrew {
                self.heavy.mark(tenant);
            }
            return result.map_err(|_| host_failure());
        }
        let rt = self.clone();
        self.threads
            .spawn(move || {
                let _permit = permit;
                f(&rt)
            })
            .await
            .map_err(|e| {
                if e.is_panic() {
                    host_failure()
                } else {
                    PluginError::Unavailable("the plugin call was cancelled".into())
                }
            })
    }

    /// `tenant`'s one upload validation at a time (compiling is the most
    /// expensive thing a tenant can ask for); `None` while one runs.
    pub fn try_upload(&self, tenant: &str) -> Option<UploadSlot> {
        self.gates.try_upload(tenant)
    }

    /// The platform's concurrency shares.
    pub fn fairness(&self) -> Fairness {
        self.gates.fairness()
    }
}

fn host_failure() -> PluginError {
    PluginError::Unavailable("the plugin call failed in the host".into())
}

/// Tenants whose recent call outgrew its inline slice (a guest computing
/// or waiting long): their calls run on the lower-priority plugin threads
/// for [`HEAVY_FOR`], so a tenant that floods with long calls never holds
/// the server's async workers.
#[derive(Default)]
struct HeavyTenants(Mutex<HashMap<String, Instant>>);

/// How long a tenant stays on the plugin threads after a long call.
const HEAVY_FOR: Duration = Duration::from_secs(10);

impl HeavyTenants {
    fn is_heavy(&self, tenant: &str) -> bool {
        let until = self.0.lock().get(tenant).copied();
        until.is_some_and(|until| Instant::now() < until)
    }

    fn mark(&self, tenant: &str) {
        let now = Instant::now();
        let mut map = self.0.lock();
        if map.len() >= 1_024 {
            map.retain(|_, until| *until > now);
        }
        map.insert(tenant.to_string(), now + HEAVY_FOR);
    }
}

/// A core module has binary version 1; a component has the component layer.
fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

/// The innermost cause, which is what a plugin author needs to read.
fn root_message(e: &wasmtime::Error) -> String {
    e.chain()
        .last()
        .map(|c| c.to_string())
        .unwrap_or_else(|| e.to_string())
}

/// Store data for one call.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) host: HostCtx,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) clock: instance::CallClock,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps the total linear memory of one instance and remembers whether it
/// refused, so the resulting trap is reported as `MemoryLimit`.
pub(crate) struct MemoryLimiter {
    limit: usize,
    total: usize,
    pub(crate) exceeded: bool,
}

impl MemoryLimiter {
    /// Bytes of linear memory granted so far.
    pub(crate) fn total(&self) -> usize {
        self.total
    }
}

#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded")]
struct MemoryLimitExceeded;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total - current.min(self.total) + desired;
        if total > self.limit {
            self.exceeded = true;
            // An error, not `Ok(false)`: a Rust guest would abort on a failed
            // allocation anyway, and stopping here names the real cause.
            return Err(MemoryLimitExceeded.into());
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        32
    }
    fn tables(&self) -> usize {
        32
    }
    fn memories(&self) -> usize {
        8
    }
}
