//! The threads plugin calls run on: a Tokio runtime of their own (its
//! blocking pool runs the calls, its one worker drives their deadline
//! timers), whose threads run at a lower CPU priority than the server's.
//! When the cores are saturated, a tenant's long, CPU-bound calls (a
//! plugin burning its whole fuel budget) then yield to the host's own work
//! (HTTP, the database, other tenants' short calls, which wake up and are
//! scheduled ahead of a thread that has been running) instead of sharing
//! the cores with it equally. Raising a thread's nice value needs no
//! privilege, and these threads never need it lowered again.

use std::future::Future;

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
