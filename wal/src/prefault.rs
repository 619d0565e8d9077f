//! Faulting in the active segment ahead of the append position, off the commit path.
//!
//! Segment files are preallocated but their pages are not in memory: the first store into
//! each page of the mapping takes a page fault, and the kernel reads the (unwritten)
//! blocks by zeroing fresh page-cache pages. A profile of single-key inserts under
//! `SyncMode::Off` put ~20% of the inserting thread's time in that fault path, 15% in the
//! kernel's `memset` alone. A [`Prefaulter`] thread asks the kernel to do that work
//! (`MADV_POPULATE_WRITE`) a few MiB ahead of the writer, so appends find their pages
//! mapped.
//!
//! It changes no byte of the file: populating maps pages writable without writing to
//! them, and the log's tail reads as zeros whether or not it was populated. Pages it
//! dirties early hold zeros that the writer overwrites; a range sync covers only the
//! bytes it is asked to. If the kernel refuses (`MADV_POPULATE_WRITE` is Linux 5.14+),
//! the thread stops and the writer takes its own faults as before.
//!
//! Protocol: the writer (under the append lock) calls [`Prefaulter::request`] when its
//! position comes within `ahead / 2` of what it last asked for, naming the active
//! mapping and the offset to populate up to; the thread populates from where it stopped
//! (or from the writer's position, for a new mapping) in steps of [`STEP`], re-reading the
//! request between steps, and sleeps when it has caught up. Dropping the `Prefaulter`
//! stops and joins the thread.

use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use crate::map::SharedMap;

/// Bytes populated per `madvise` call (the thread re-reads the request between calls).
const STEP: u64 = 1 << 20;

/// What the writer last asked for.
#[derive(Debug, Default)]
struct Request {
    map: Option<Arc<SharedMap>>,
    /// The writer's position when it asked (populate from here on a new mapping).
    from: u64,
    /// Populate up to here.
    upto: u64,
    stop: bool,
}

#[derive(Debug, Default)]
struct State {
    request: Mutex<Request>,
    wake: Condvar,
}

/// The prefault thread of one writable log, and the writer's side of its protocol.
#[derive(Debug)]
pub(crate) struct Prefaulter {
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
    /// Bytes to keep populated ahead of the writer.
    ahead: u64,
    /// The mapping and offset last requested (the writer's copy, read without a lock).
    requested_map: usize,
    requested_upto: u64,
}

impl Prefaulter {
    /// Start a prefault thread keeping `ahead` bytes populated (`ahead > 0`). `None` if
    /// the thread cannot be spawned: prefaulting is an optimization, never required.
    pub(crate) fn start(ahead: u64) -> Option<Prefaulter> {
        let state = Arc::new(State::default());
        let thread = {
            let state = Arc::clone(&state);
            std::thread::Builder::new()
                .name("alexdb-wal-prefault".into())
                .spawn(move || run(&state))
                .ok()?
        };
        Some(Prefaulter {
            state,
            thread: Some(thread),
            ahead,
            requested_map: 0,
            requested_upto: 0,
        })
    }

    /// The writer is at `pos` in `map`: if that is within `ahead / 2` of the last
    /// request's end (or `map` is new), ask for `[pos, pos + ahead)`. Cheap when nothing
    /// is due: two comparisons.
    #[inline]
    pub(crate) fn request(&mut self, map: &Arc<SharedMap>, pos: u64) {
        let id = Arc::as_ptr(map) as usize;
        if id == self.requested_map && pos + self.ahead / 2 < self.requested_upto {
            return;
        }
        let upto = (pos + self.ahead).min(map.len());
        if id == self.requested_map && upto <= self.requested_upto {
            return;
        }
        self.requested_map = id;
        self.requested_upto = upto;
        let mut request = self.state.request.lock();
        if !request.map.as_ref().is_some_and(|m| Arc::ptr_eq(m, map)) {
            request.map = Some(Arc::clone(map));
        }
        request.from = pos;
        request.upto = upto;
        drop(request);
        self.state.wake.notify_one();
    }
}

impl Drop for Prefaulter {
    fn drop(&mut self) {
        self.state.request.lock().stop = true;
        self.state.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread: populate what was asked for, one step at a time, until stopped or refused.
fn run(state: &State) {
    let mut current: Option<Arc<SharedMap>> = None;
    let mut done = 0u64;
    loop {
        let (map, from, upto) = {
            let mut request = state.request.lock();
            loop {
                if request.stop {
                    return;
                }
                let Some(map) = request.map.clone() else {
                    state.wake.wait(&mut request);
                    continue;
                };
                let same = current.as_ref().is_some_and(|m| Arc::ptr_eq(m, &map));
                if !same || done < request.upto {
                    break (map, request.from, request.upto);
                }
                state.wake.wait(&mut request);
            }
        };
        if !current.as_ref().is_some_and(|m| Arc::ptr_eq(m, &map)) {
            current = Some(Arc::clone(&map));
            done = 0;
        }
        // Never behind the writer: what it has written is mapped already.
        let start = done.max(from);
        let end = upto.min(start + STEP);
        // Refused (an old kernel, or a mapping that cannot be populated): leave the
        // faults to the writer from now on.
        if end > start && map.populate_write(start, end - start).is_err() {
            return;
        }
        done = end.max(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zero-filled file of `len` bytes in a fresh temporary directory.
    fn scratch_file(len: u64) -> (tempfile::TempDir, std::fs::File) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("scratch"))
            .expect("create");
        file.set_len(len).expect("set_len");
        (dir, file)
    }

    #[test]
    fn populating_changes_no_byte_and_refuses_bad_ranges() {
        let (_dir, file) = scratch_file(1 << 20);
        let map = SharedMap::map(&file, 1 << 20, true).expect("map");
        let mut writer = Arc::new(map).take_writer().expect("writer");
        writer.write_record(0, &[1u8; 24], b"head", b"body", 0);
        writer.publish(32);
        let map = Arc::clone(writer.map());
        map.populate_write(0, 1 << 20)
            .expect("populate the whole mapping");
        assert_eq!(
            &map.published()[4..8],
            &[1, 1, 1, 1],
            "bytes after the CRC field"
        );
        assert!(map.is_zero_from(32), "the tail still reads as zeros");
        assert!(map.populate_write(1 << 20, 1).is_err(), "past the end");
        assert!(
            map.populate_write(u64::MAX, 2).is_err(),
            "overflowing range"
        );
        let read_only = SharedMap::map(&file, 1 << 20, false).expect("map read-only");
        assert!(read_only.populate_write(0, 4096).is_err());
    }

    #[test]
    fn the_thread_follows_requests_across_mappings_and_stops_on_drop() {
        let (_dir, file) = scratch_file(4 << 20);
        let first = Arc::new(SharedMap::map(&file, 4 << 20, true).expect("map"));
        let second = Arc::new(SharedMap::map(&file, 4 << 20, true).expect("map"));
        let mut prefaulter = Prefaulter::start(1 << 20).expect("spawn");
        prefaulter.request(&first, 0);
        prefaulter.request(&first, 100);
        assert_eq!(prefaulter.requested_upto, 1 << 20, "nothing due yet");
        prefaulter.request(&first, 600 << 10);
        assert_eq!(prefaulter.requested_upto, (600 << 10) + (1 << 20));
        prefaulter.request(&second, (4 << 20) - 10);
        assert_eq!(prefaulter.requested_upto, 4 << 20, "capped at the mapping");
        // Dropping joins the thread: returning at all proves it stopped.
        drop(prefaulter);
        assert!(first.is_zero_from(0) && second.is_zero_from(0));
    }
}
