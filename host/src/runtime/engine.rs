//! The process-wide `Engine` and its epoch ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// One epoch tick; deadlines are counted in ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// How the engine allocates instances.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Use the pooling allocator (fast instantiation). Off falls back to
    /// on-demand allocation, for machines that cannot reserve the pool's
    /// virtual address space.
    pub pooling: bool,
    /// Concurrent instances the pool holds; a call beyond that is refused as
    /// `Unavailable` rather than queued inside wasmtime.
    pub pool_instances: u32,
    /// Largest memory any tenant's limit may allow (the pool slot size).
    pub max_memory_bytes: u64,
    /// Fuel metering and epoch deadlines. Always on in the platform; the
    /// benchmark turns it off only to measure what metering costs.
    pub metering: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            pooling: true,
            pool_instances: 128,
            max_memory_bytes: 1 << 30,
            metering: true,
        }
    }
}

pub(crate) fn build_engine(options: &EngineOptions) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(options.metering);
    config.epoch_interruption(options.metering);
    config.memory_init_cow(true);
    if options.pooling {
        let n = options.pool_instances;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            // A Rust wasip2 component is a handful of core instances (the
            // program plus shims) with one memory and a few tables.
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .max_core_instances_per_component(20)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_memory_size(options.max_memory_bytes as usize)
            // Calls run on fibers (async exports); their stacks come from
            // the pool too.
            .total_stacks(n)
            // Measured with the plugin-call bench when chosen: keeping
            // touched pages resident and
            // resetting them by pagemap scan instead of madvise halves
            // instantiation time and lets two threads scale.
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(64 << 10)
            .pagemap_scan(Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config)
}

/// Increments the engine's epoch every [`EPOCH_TICK`] until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.weak();
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("switchboard-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match engine.upgrade() {
                        Some(e) => e.increment_epoch(),
                        None => break,
                    }
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
