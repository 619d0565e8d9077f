//! The optional maintenance thread (`Config::background_maintenance`): a writer that finds
//! an automatic checkpoint due hands it to this thread and returns, instead of writing
//! the snapshot (and compacting) itself.
//!
//! One thread per store, named `alexdb-maintenance`. It sleeps on a condition variable
//! until a request arrives, clears the request, then runs the work; requests that arrive
//! meanwhile are coalesced into one more run. The thread holds the store only weakly
//! between runs, and the last handle to go stops it and waits for the run in progress
//! (so when a handle's drop returns, the store is closed and may be reopened at once).

use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// The thread and the way to reach it. Shared by every clone of a handle (`Arc`);
/// dropping the last one stops the thread.
pub(crate) struct Maintainer {
    signal: Arc<Signal>,
    thread: Option<JoinHandle<()>>,
}

struct Signal {
    /// A run is wanted (set by writers, cleared by the thread as a run starts).
    requested: AtomicBool,
    /// Whether the thread must stop; also the condition variable's mutex.
    stop: Mutex<bool>,
    wake: Condvar,
}

impl std::fmt::Debug for Maintainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintainer")
            .field("requested", &self.signal.requested.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Maintainer {
    /// Start the thread. `run` does one round of maintenance and returns `false` once the
    /// store is gone (the thread then ends).
    pub(crate) fn start(run: impl Fn() -> bool + Send + 'static) -> std::io::Result<Maintainer> {
        let signal = Arc::new(Signal {
            requested: AtomicBool::new(false),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread = {
            let signal = Arc::clone(&signal);
            std::thread::Builder::new()
                .name("alexdb-maintenance".into())
                .spawn(move || {
                    while signal.next() {
                        if !run() {
                            return;
                        }
                    }
                })?
        };
        Ok(Maintainer {
            signal,
            thread: Some(thread),
        })
    }

    /// Ask for a run (cheap when one is already pending: one atomic swap).
    pub(crate) fn request(&self) {
        if self.signal.requested.swap(true, Ordering::AcqRel) {
            return;
        }
        // Taking the mutex orders this notification after the thread's check-then-wait.
        let _stop = self.signal.stop.lock();
        self.signal.wake.notify_one();
    }
}

impl Signal {
    /// Wait for a request (`true`, request cleared) or for the stop (`false`).
    fn next(&self) -> bool {
        let mut stop = self.stop.lock();
        while !*stop && !self.requested.load(Ordering::Acquire) {
            self.wake.wait(&mut stop);
        }
        if *stop {
            return false;
        }
        self.requested.store(false, Ordering::Release);
        true
    }
}

impl Drop for Maintainer {
    fn drop(&mut self) {
        *self.signal.stop.lock() = true;
        self.signal.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // A panic in a run was already reported through the handle's maintenance
            // error (see `ConcurrentAlexStorage::run_maintenance`); nothing to add.
            let _ = thread.join();
        }
    }
}
