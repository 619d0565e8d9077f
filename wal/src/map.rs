//! The crate's only `unsafe`: shared memory mappings of segment files, and preallocation.
//!
//! Invariant that makes sharing a mapping sound: a mapping has a `published` length.
//! Bytes below it are never written again by this process. The single [`MapWriter`] of a
//! mapping writes only at or above `published`, and raises it with a `Release` store after
//! the bytes are copied; readers `Acquire`-load it and form slices only below it. The
//! mapping has a fixed length and is never remapped, so a slice stays valid as long as the
//! `SharedMap` lives (also after the file is unlinked).
//!
//! Another process writing the same file (a live writer seen by a follower) is outside
//! Rust's memory model; it follows the same append-only rule, and everything read from
//! above `published` is copied out and checked by CRC before it is trusted.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};

/// A fixed-length shared mapping of a segment file plus its published length.
#[derive(Debug)]
pub(crate) struct SharedMap {
    raw: MmapRaw,
    /// Mapped bytes; never changes.
    len: u64,
    /// Whether the mapping is writable (and so may have a [`MapWriter`]).
    writable: bool,
    /// Bytes `[0, published)` are immutable and readable. Only grows.
    published: AtomicU64,
    /// Set once the single writer has been handed out.
    writer_taken: AtomicBool,
}

impl SharedMap {
    /// Map the first `len` bytes of `file` (`len > 0`, `len <= file length`).
    pub(crate) fn map(file: &File, len: u64, writable: bool) -> io::Result<SharedMap> {
        let map_len = usize::try_from(len)
            .ok()
            .filter(|&l| l > 0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad mapping length"))?;
        let mut options = MmapOptions::new();
        options.len(map_len);
        let raw = if writable {
            options.map_raw(file)?
        } else {
            options.map_raw_read_only(file)?
        };
        Ok(SharedMap {
            raw,
            len,
            writable,
            published: AtomicU64::new(0),
            writer_taken: AtomicBool::new(false),
        })
    }

    #[inline]
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    #[inline]
    pub(crate) fn published_len(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    /// Ask the CPU to start loading the cache line holding byte `offset` of the mapping
    /// (ignored past its end). Compaction calls it (through `Segment::prefetch_record`)
    /// a few records ahead of the one it copies, so the misses of its key-order reads
    /// overlap.
    #[inline(always)]
    pub(crate) fn prefetch(&self, offset: u64) {
        #[cfg(target_arch = "x86_64")]
        if offset < self.len {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let address = self.raw.as_ptr().wrapping_add(offset as usize) as *const i8;
            // SAFETY: a prefetch is a hint: it never faults, reads nothing into the
            // program and has no effect on memory; `address` is inside the mapping anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(address) };
        }
    }

    /// Advise the writer's mapping before it fills `[from, len)`: with `huge_pages`,
    /// `MADV_HUGEPAGE` on the whole mapping (see [`crate::HugePages`]: the page cache
    /// then builds the rest of the segment out of 2 MiB folios as it is first touched,
    /// and the mapping maps them whole); otherwise readahead off for `[from, len)`
    /// (`MADV_RANDOM`), as follows.
    ///
    /// Why: the kernel's page cache gives a file's faulted pages large folios as its
    /// readahead window grows (here, the prefault thread's faults ahead of the writer),
    /// and a store into a clean large folio through a shared mapping dirties all of it, so
    /// each small sync of a `Full` log wrote back the whole folio. In a probe of `Full`
    /// commits from 1–8 threads on one store, syncs went from ~55 µs to ~330 µs within
    /// seconds as the log advanced, and 1 thread fell from 16K to 3K commits/s (see
    /// docs/wal.md). With readahead off, faults create single pages and a sync writes
    /// only the pages the commits touched. Reads of the appended bytes come from the
    /// page cache (the writer wrote them); only a cold re-read of this region faults a
    /// page at a time.
    pub(crate) fn advise_append_region(&self, from: u64, huge_pages: bool) -> io::Result<()> {
        if !self.writable || from >= self.len {
            return Ok(());
        }
        #[cfg(target_os = "linux")]
        if huge_pages {
            return self.raw.advise(memmap2::Advice::HugePage);
        }
        // Transparent huge pages are Linux's: elsewhere the log advises as without them.
        #[cfg(not(target_os = "linux"))]
        let _ = huge_pages;
        self.raw.advise_range(
            memmap2::Advice::Random,
            from as usize,
            (self.len - from) as usize,
        )
    }

    /// Give readahead back to the whole mapping once nothing more is written to it (a
    /// sealed segment): readers — compaction, or gets after the pages left the cache —
    /// fault it in a window at a time again.
    pub(crate) fn advise_sealed(&self) -> io::Result<()> {
        if !self.writable {
            return Ok(());
        }
        self.raw
            .advise_range(memmap2::Advice::Normal, 0, self.len as usize)
    }

    /// Fault in `[offset, offset + len)` writable without writing to it
    /// (`MADV_POPULATE_WRITE`; see `prefault.rs`). Errors on a read-only mapping, a range
    /// outside the mapping, or a kernel without the advice (before Linux 5.14).
    pub(crate) fn populate_write(&self, offset: u64, len: u64) -> io::Result<()> {
        let inside = offset.checked_add(len).is_some_and(|end| end <= self.len);
        if !self.writable || !inside {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad populate range",
            ));
        }
        #[cfg(target_os = "linux")]
        {
            self.raw.advise_range(
                memmap2::Advice::PopulateWrite,
                offset as usize,
                len as usize,
            )
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "no MADV_POPULATE_WRITE",
            ))
        }
    }

    /// The published bytes `[0, published)`.
    #[inline]
    pub(crate) fn published(&self) -> &[u8] {
        let len = self.published_len();
        debug_assert!(len <= self.len);
        // SAFETY: `len <= self.len` (every store to `published` is checked against it), so
        // the range is inside the live mapping, which outlives `&self`. No code in this
        // process writes below `published`: `MapWriter::write` asserts `offset >= published`,
        // and our Acquire load synchronizes with the Release store made after the copy, so
        // the bytes are initialized and immutable for the lifetime of the slice.
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr(), len as usize) }
    }

    /// Whether every byte of the mapping from `offset` on is zero (read in copied
    /// chunks, like `copy_out`, so no reference to shared bytes is made).
    pub(crate) fn is_zero_from(&self, offset: u64) -> bool {
        let mut chunk = vec![0u8; 64 << 10];
        let mut at = offset.min(self.len);
        while at < self.len {
            let n = (self.len - at).min(chunk.len() as u64) as usize;
            if !self.copy_out(at, &mut chunk[..n]) || !crate::format::is_all_zero(&chunk[..n]) {
                return false;
            }
            at += n as u64;
        }
        true
    }

    /// Copy `buf.len()` bytes at `offset` out of the mapping, wherever they are (also above
    /// `published`). Returns false when the range is outside the mapping.
    pub(crate) fn copy_out(&self, offset: u64, buf: &mut [u8]) -> bool {
        let Some(end) = offset.checked_add(buf.len() as u64) else {
            return false;
        };
        if end > self.len {
            return false;
        }
        // SAFETY: the range is inside the mapping (checked above) and `buf` is a distinct
        // allocation. No reference to the mapped range is created: the bytes are copied as
        // plain `u8`s (every bit pattern is valid). Bytes above `published` may be written
        // concurrently (by this process's writer or by another process); the copy may then
        // be torn, which every caller detects with the record CRC before trusting it.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.raw.as_ptr().add(offset as usize),
                buf.as_mut_ptr(),
                buf.len(),
            );
        }
        true
    }

    /// Read-only mappings only: raise `published` to `new_len` once the caller has checked
    /// the bytes below it (a follower or `Segment::open` of a file another process writes).
    pub(crate) fn advance_published(&self, new_len: u64) {
        assert!(
            !self.writable,
            "advance_published is for read-only mappings"
        );
        assert!(new_len <= self.len, "published length beyond the mapping");
        self.published.fetch_max(new_len, Ordering::AcqRel);
    }

    /// msync(MS_SYNC) of `[from, to)`: on Linux this writes the dirty pages of the range
    /// and waits for them, like `fdatasync` restricted to the range.
    pub(crate) fn sync_range(&self, from: u64, to: u64) -> io::Result<()> {
        assert!(
            from <= to && to <= self.len,
            "sync range outside the mapping"
        );
        if from == to {
            return Ok(());
        }
        self.raw.flush_range(from as usize, (to - from) as usize)
    }

    /// The single writer of a writable mapping; `None` if read-only or already taken.
    pub(crate) fn take_writer(self: &Arc<Self>) -> Option<MapWriter> {
        if !self.writable || self.writer_taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(MapWriter {
            map: Arc::clone(self),
        })
    }
}

/// The one writer of a mapping. Writes need `&mut self`, so while anything borrows it
/// shared (such as the slice from [`MapWriter::whole`]) nothing is written.
#[derive(Debug)]
pub(crate) struct MapWriter {
    map: Arc<SharedMap>,
}

impl MapWriter {
    pub(crate) fn map(&self) -> &Arc<SharedMap> {
        &self.map
    }

    /// Every mapped byte, published or not. Sound because the only writer is `self`,
    /// borrowed shared for the slice's lifetime (recovery reads a file it owns this way).
    pub(crate) fn whole(&self) -> &[u8] {
        // SAFETY: the whole range is inside the mapping, which `self.map` keeps alive for
        // the borrow. Only this `MapWriter` writes the mapping (it is unique per mapping,
        // see `take_writer`) and it cannot write while `&self` is borrowed.
        unsafe { std::slice::from_raw_parts(self.map.raw.as_ptr(), self.map.len as usize) }
    }

    /// Copy `parts` one after another to `offset`, which must be at or above `published`.
    #[inline]
    pub(crate) fn write(&mut self, offset: u64, parts: &[&[u8]]) {
        let total: u64 = parts.iter().map(|p| p.len() as u64).sum();
        assert!(
            offset >= self.map.published_len(),
            "write below the published length"
        );
        assert!(
            offset + total <= self.map.len,
            "write past the end of the mapping"
        );
        let mut at = offset as usize;
        for part in parts {
            // SAFETY: `[at, at + part.len())` is inside the mapping (total checked above) and
            // at or above `published`, so no reader in this process holds a slice of it;
            // `&mut self` makes this the only writer. `part` cannot overlap the destination:
            // it is a caller's buffer, never a slice of the unpublished region (which no
            // safe code can obtain while `&mut self` is held).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    part.as_ptr(),
                    self.map.raw.as_mut_ptr().add(at),
                    part.len(),
                );
            }
            at += part.len();
        }
    }

    /// The append hot path: copy a record — `header` (its first 4 bytes, the CRC field,
    /// are overwritten), `head`, `body`, then `pad` zero bytes — to `offset` (at or above
    /// `published`), and fill the CRC field with the CRC-32 of every copied byte after it.
    /// One bounds check and one CRC pass over bytes already in the cache.
    #[inline]
    pub(crate) fn write_record(
        &mut self,
        offset: u64,
        header: &[u8; 24],
        head: &[u8],
        body: &[u8],
        pad: usize,
    ) {
        let stored = 24 + head.len() + body.len() + pad;
        assert!(
            offset >= self.map.published_len(),
            "write below the published length"
        );
        assert!(
            offset + stored as u64 <= self.map.len,
            "write past the end of the mapping"
        );
        // SAFETY: `[offset, offset + stored)` is inside the mapping (checked above) and at
        // or above `published`, so no reader in this process holds a slice of it, and
        // `&mut self` makes this the only writer. The sources are caller buffers, which
        // cannot overlap the unpublished destination (no safe code can borrow it while
        // `&mut self` is held). The CRC reads back only bytes written just above.
        unsafe {
            let base = self.map.raw.as_mut_ptr().add(offset as usize);
            std::ptr::copy_nonoverlapping(header.as_ptr(), base, 24);
            std::ptr::copy_nonoverlapping(head.as_ptr(), base.add(24), head.len());
            let body_at = base.add(24 + head.len());
            std::ptr::copy_nonoverlapping(body.as_ptr(), body_at, body.len());
            std::ptr::write_bytes(body_at.add(body.len()), 0, pad);
            let crc = crc32fast::hash(std::slice::from_raw_parts(base.add(4), stored - 4));
            std::ptr::copy_nonoverlapping(crc.to_le_bytes().as_ptr(), base, 4);
        }
    }

    /// Zero `[offset, offset + len)`, which must be at or above `published`.
    pub(crate) fn zero(&mut self, offset: u64, len: u64) {
        assert!(
            offset >= self.map.published_len(),
            "zeroing below the published length"
        );
        assert!(
            offset + len <= self.map.len,
            "zeroing past the end of the mapping"
        );
        // SAFETY: same argument as `write`: in bounds, unpublished, sole writer.
        unsafe {
            std::ptr::write_bytes(
                self.map.raw.as_mut_ptr().add(offset as usize),
                0,
                len as usize,
            );
        }
    }

    /// Make `[0, new_len)` readable. Release: pairs with the readers' Acquire load.
    #[inline]
    pub(crate) fn publish(&mut self, new_len: u64) {
        assert!(
            new_len <= self.map.len,
            "published length beyond the mapping"
        );
        assert!(
            new_len >= self.map.published_len(),
            "published length may only grow"
        );
        self.map.published.store(new_len, Ordering::Release);
    }
}

/// Give `file` real blocks for `[0, len)` (so later syncs need not allocate extents) and
/// make its length `len`. Falls back to writing zeros where fallocate is unsupported.
pub(crate) fn preallocate(file: &File, len: u64) -> io::Result<()> {
    let Ok(len_off) = libc::off_t::try_from(len) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "segment too large",
        ));
    };
    // SAFETY: plain FFI call on a file descriptor that `file` keeps open; no memory is
    // passed to the kernel.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len_off) };
    match rc {
        0 => Ok(()),
        libc::EOPNOTSUPP | libc::EINVAL => write_zeros(file, len),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Ask the kernel to start writing `[from, to)` of the file at `path` back to disk
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, through a descriptor of its own): it queues
/// the dirty pages of the range for writing and waits for none of them. It makes nothing
/// durable — a later sync still waits for the writes it started (and writes what they
/// missed) — so it only moves the work of that sync earlier.
pub(crate) fn start_writeback(path: &std::path::Path, from: u64, to: u64) -> io::Result<()> {
    let bad_range = || io::Error::new(io::ErrorKind::InvalidInput, "bad writeback range");
    let len = to.checked_sub(from).ok_or_else(bad_range)?;
    let offset = i64::try_from(from).map_err(|_| bad_range())?;
    let len = i64::try_from(len).map_err(|_| bad_range())?;
    let file = File::open(path)?;
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain FFI call on a file descriptor that `file` keeps open; no memory is
        // passed to the kernel.
        let rc = unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        // No asynchronous range writeback here: the later sync does all the work.
        let _ = (file, offset, len);
        Ok(())
    }
}

fn write_zeros(file: &File, len: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let zeros = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < len {
        let n = (len - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    file.set_len(len)
}
