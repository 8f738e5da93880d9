//! Where plugin calls run.
//!
//! **Inline, on the async worker that asks** (the common case): a call is
//! polled in place, so a short call (tens of microseconds of wasm) costs no
//! hand-off to another thread and back, which under load cost more than
//! the wasm itself (BENCHMARKS.md, session 10). A call that outgrows its
//! inline slice (a guest computing past [`INLINE_SLICE_TICKS`], or waiting
//! in a host call such as a WASI sleep) finishes in `block_in_place`,
//! which first hands this worker's other tasks to another thread, and its
//! tenant runs its calls on the plugin threads for a while
//! (`PluginRuntime`'s heavy tenants).
//!
//! **On the plugin threads**: a Tokio runtime of their own (its blocking
//! pool runs the calls, its one worker drives their deadline timers),
//! whose threads run at a lower CPU priority than the server's. When the
//! cores are saturated, a tenant's long, CPU-bound calls (a plugin burning
//! its whole fuel budget) then yield to the host's own work (HTTP, the
//! database, other tenants' short calls, which wake up and are scheduled
//! ahead of a thread that has been running) instead of sharing the cores
//! with it equally. Raising a thread's nice value needs no privilege, and
//! these threads never need it lowered again. Calls also run here when the
//! caller is not on a multi-threaded runtime (`block_in_place` needs one).

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// How much lower than the server's threads plugin threads run (Linux nice
/// value: 5 gives the server's threads about three times their CPU share
/// under contention).
const PLUGIN_NICE: i32 = 5;

pub(crate) struct CallThreads {
    rt: Option<tokio::runtime::Runtime>,
}

impl CallThreads {
    pub(crate) fn new(max_threads: usize) -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(max_threads.max(1))
            .thread_name("switchboard-plugin")
            .enable_time()
            .on_thread_start(lower_priority)
            .build()?;
        Ok(CallThreads { rt: Some(rt) })
    }

    /// Run `f` on one of these threads.
    pub(crate) fn spawn<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> impl Future<Output = Result<R, tokio::task::JoinError>> {
        self.rt
            .as_ref()
            .expect("the runtime lives as long as CallThreads")
            .spawn_blocking(f)
    }
}

impl Drop for CallThreads {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its threads end, which Tokio
        // forbids inside an async context (where a server drops this).
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread; failure only leaves the
    // priority as it was.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, PLUGIN_NICE);
    }
}

/// Epoch ticks a guest may see while running inline before it yields and
/// the rest of its call moves off the worker: 3 ticks of 1 ms, so at least
/// 2 ms of running. Ticks the guest ran across, not time since it started:
/// on a saturated machine a worker is preempted for milliseconds in the
/// middle of a 30 µs call, and it then sees one tick on resuming. (Fuel
/// would be exact, but the fuel counter is not current inside the epoch
/// callback.)
pub(crate) const INLINE_SLICE_TICKS: u32 = 3;

thread_local! {
    /// Whether this thread is running an inline visit, and whether one of
    /// its calls outgrew the slice.
    static INLINE: Cell<Visit> = const { Cell::new(Visit::None) };
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    None,
    Inline,
    Escalated,
}

/// Whether a visit may run inline here: on a multi-threaded Tokio runtime
/// (whose `block_in_place` can take a long call off the worker), not
/// already inside a visit.
pub(crate) fn can_inline() -> bool {
    INLINE.get() == Visit::None
        && tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Whether this thread is in an inline visit (a guest should yield once
/// past [`INLINE_SLICE_TICKS`]).
pub(crate) fn inline_now() -> bool {
    INLINE.get() != Visit::None
}

/// Run the visit `f` inline; also says whether a call in it outgrew the
/// slice.
pub(crate) fn inline<R>(f: impl FnOnce() -> R) -> (R, bool) {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            INLINE.set(Visit::None);
        }
    }
    INLINE.set(Visit::Inline);
    let _reset = Reset;
    let r = f();
    (r, INLINE.get() == Visit::Escalated)
}

/// Drive one call's `future` to its end on this thread. Inline, it is
/// polled once in place; if it must wait (a guest past its slice yields, a
/// host call sleeps), the rest runs in `block_in_place`. Elsewhere (a
/// plugin thread, the CLI, a test) it blocks on a Tokio runtime.
pub(crate) fn drive<T>(future: impl Future<Output = T>) -> T {
    if !inline_now() {
        return wasmtime_wasi::runtime::in_tokio(future);
    }
    let mut future = pin!(future);
    if let Poll::Ready(v) = future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        return v;
    }
    INLINE.set(Visit::Escalated);
    let handle = tokio::runtime::Handle::current();
    blocking_here(|| handle.block_on(future))
}

/// Run `f`, which blocks, from wherever a plugin call runs (a host import
/// waiting on the database): inline, after handing the worker's other
/// tasks to another thread.
pub fn blocking_here<T>(f: impl FnOnce() -> T) -> T {
    if inline_now() {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}
