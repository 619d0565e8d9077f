//! Where data nodes keep their arrays: on the heap, or in a bulk load's slab.
//!
//! A bulk load of a large map allocates every data node's key, payload and bitmap arrays
//! from one anonymous memory mapping, the *slab*, advised for transparent huge pages
//! (`MADV_HUGEPAGE` on Linux). A lookup or a scan of a map much larger than the caches pays
//! a TLB miss and a page walk per random node array it touches when the arrays sit in
//! 4 KiB pages; with 2 MiB pages the whole index fits in the TLB's reach. (A heap of small
//! `malloc` blocks cannot get huge pages: the allocator serves them from memory already
//! faulted in 4 KiB pages.) docs/alex.md, "Node memory", has the measurements.
//!
//! Nodes built later (expansions, splits, inserts into an empty map) allocate on the heap,
//! so a slab only loses arrays over time. It is released — the arrays still in it copied
//! to the heap, at most [`RELEASE_STEP_BYTES`] per structural change so that no single
//! insert pays for the whole copy, and the mapping unmapped — once fewer than half of its
//! bytes are still in use (see `AlexMap::tend_slab`).
//!
//! Ownership: a [`NodeArray`] never frees slab memory itself; the data node holding slab
//! arrays also holds a [`NodePin`], which keeps the mapping alive, and counts its slab
//! bytes as live until it drops or moves them to the heap. A slab-backed array must therefore stay in the node whose pin covers it
//! (arrays are only ever replaced whole, never moved between nodes).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bulk loads whose node arrays are estimated below this many bytes stay on the heap: the
/// TLB already reaches a few MiB of 4 KiB pages, and a slab's last huge page may be
/// mostly empty.
pub(crate) const SLAB_MIN_BYTES: usize = 8 << 20;

/// Bytes of slab arrays one structural change moves to the heap while a sparse slab is
/// released. Copying all at once stalled one insert for 74 ms after a 10M-key bulk load
/// (1.44M random inserts in); 1 MiB is a few hundred microseconds.
pub(crate) const RELEASE_STEP_BYTES: usize = 1 << 20;

/// Data nodes one structural change looks at while a sparse slab is released.
pub(crate) const RELEASE_STEP_NODES: usize = 1 << 14;

/// Transparent huge page size the slab is aligned to.
const HUGE_PAGE: usize = 2 << 20;

/// One anonymous mapping that node arrays are carved from, front to back, during a bulk
/// load.
pub(crate) struct Slab {
    /// Keeps the mapping alive; all access goes through `base`.
    _mapping: memmap2::MmapMut,
    /// Start of the usable, huge-page-aligned part of the mapping.
    base: NonNull<u8>,
    /// Usable bytes from `base`.
    capacity: usize,
    /// Bytes handed out so far (only grows, only during the bulk load).
    used: AtomicUsize,
    /// Bytes of arrays handed out whose node is still alive.
    live: AtomicUsize,
}

// SAFETY: the slab owns its mapping; `base` points into it and is only used to hand out
// disjoint ranges (by an atomic bump) that their nodes then own exclusively.
unsafe impl Send for Slab {}
// SAFETY: as above; the counters are atomics.
unsafe impl Sync for Slab {}

impl fmt::Debug for Slab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slab")
            .field("capacity", &self.capacity)
            .field("used", &self.used_bytes())
            .field("live", &self.live_bytes())
            .finish()
    }
}

impl Slab {
    /// A slab of `bytes` usable bytes, or `None` when the mapping cannot be made (the map
    /// then stays on the heap: a slab is an optimisation, never a requirement).
    pub(crate) fn new(bytes: usize) -> Option<Arc<Slab>> {
        let len = bytes.checked_add(HUGE_PAGE)?;
        let mapping = memmap2::MmapOptions::new()
            .len(len)
            .no_reserve_swap()
            .map_anon()
            .ok()?;
        let start = mapping.as_ptr() as usize;
        let offset = start.next_multiple_of(HUGE_PAGE) - start;
        #[cfg(target_os = "linux")]
        {
            // A hint: without it (or where THP is off) the slab still works, in 4 KiB pages.
            let _ = mapping.advise_range(memmap2::Advice::HugePage, offset, bytes);
        }
        let base = NonNull::new(mapping.as_ptr().wrapping_add(offset) as *mut u8)?;
        Some(Arc::new(Slab {
            _mapping: mapping,
            base,
            capacity: bytes,
            used: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
        }))
    }

    /// Bytes handed out to node arrays.
    pub(crate) fn used_bytes(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Bytes of node arrays still in use.
    pub(crate) fn live_bytes(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Counts `bytes` of a new node's arrays as live.
    pub(crate) fn add_live(&self, bytes: usize) {
        self.live.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A node let go of `bytes` of arrays.
    pub(crate) fn sub_live(&self, bytes: usize) {
        self.live.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Room for `len` values of `T`, or `None` when the slab is full.
    fn carve<T>(&self, len: usize) -> Option<NonNull<T>> {
        // Natural alignment, as the heap gives: padding to cache lines cost lognormal keys
        // 0.2 bytes per key (28K small nodes, three arrays each), above the 24 B/key budget.
        let align = align_of::<T>();
        let bytes = len.checked_mul(size_of::<T>())?;
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let start = used.next_multiple_of(align);
            let end = start.checked_add(bytes)?;
            if end > self.capacity {
                return None;
            }
            match self
                .used
                .compare_exchange(used, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                // `start..end` lies inside the mapping and no other carve returns it.
                Ok(_) => return NonNull::new(self.base.as_ptr().wrapping_add(start) as *mut T),
                Err(now) => used = now,
            }
        }
    }
}

/// The slab a node's arrays (some of them) live in, if any: keeps the mapping alive for
/// as long as the node holds them. One word, so the node header stays within two cache
/// lines. The node counts its slab bytes as live while it holds them (`DataNode`'s
/// `Drop`). Cloning gives `None`: a cloned node's arrays are heap copies.
#[derive(Debug, Default)]
pub(crate) struct NodePin(pub(crate) Option<Arc<Slab>>);

impl Clone for NodePin {
    fn clone(&self) -> Self {
        NodePin(None)
    }
}

/// A map's slab, if its last bulk load made one, and how far its release has got. Cloning
/// gives none, as for [`NodePin`].
#[derive(Debug, Default)]
pub(crate) struct MapSlab {
    pub(crate) slab: Option<Arc<Slab>>,
    /// Set once the slab is sparse: the next data node id whose arrays are to be moved to
    /// the heap (the release moves a bounded amount per structural change).
    pub(crate) releasing_from: Option<usize>,
}

impl MapSlab {
    pub(crate) fn new(slab: Option<Arc<Slab>>) -> Self {
        MapSlab {
            slab,
            releasing_from: None,
        }
    }
}

impl Clone for MapSlab {
    fn clone(&self) -> Self {
        MapSlab::default()
    }
}

/// A fixed-length array of `Copy` values, on the heap or in a slab: what `Box<[T]>` was
/// for data nodes, at the same size (two words), so a node's hot fields still share its
/// first cache line.
pub(crate) struct NodeArray<T> {
    ptr: NonNull<T>,
    /// Length, with [`IN_SLAB`] set when the memory belongs to a slab.
    len: usize,
}

/// Marks a [`NodeArray`] whose memory belongs to a slab (lengths never reach `2^63`).
const IN_SLAB: usize = 1 << (usize::BITS - 1);

// SAFETY: a `NodeArray` owns its elements like a `Box<[T]>` does (slab memory is handed
// out to exactly one array).
unsafe impl<T: Send> Send for NodeArray<T> {}
// SAFETY: shared access only reads, as for `Box<[T]>`.
unsafe impl<T: Sync> Sync for NodeArray<T> {}

impl<T: Copy> NodeArray<T> {
    pub(crate) fn empty() -> Self {
        Self::from_box(Box::new([]))
    }

    /// `len` copies of `value`, in `slab` when it is given and has room, else on the heap.
    /// The second value says whether the slab was used.
    pub(crate) fn filled(value: T, len: usize, slab: Option<&Slab>) -> (Self, bool) {
        if size_of::<T>() > 0
            && len > 0
            && let Some(ptr) = slab.and_then(|slab| slab.carve::<T>(len))
        {
            for i in 0..len {
                // SAFETY: `carve` returned room for `len` values of `T`, aligned for `T`,
                // inside a live mapping that nothing else uses.
                unsafe { ptr.as_ptr().add(i).write(value) };
            }
            return (
                NodeArray {
                    ptr,
                    len: len | IN_SLAB,
                },
                true,
            );
        }
        (Self::from_box(vec![value; len].into_boxed_slice()), false)
    }
}

impl<T> NodeArray<T> {
    fn from_box(values: Box<[T]>) -> Self {
        let len = values.len();
        let ptr = NonNull::new(Box::into_raw(values) as *mut T).expect("Box pointers are non-null");
        NodeArray { ptr, len }
    }

    /// Whether the memory belongs to a slab.
    pub(crate) fn in_slab(&self) -> bool {
        self.len & IN_SLAB != 0
    }
}

impl<T> Deref for NodeArray<T> {
    type Target = [T];

    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` points to `len` initialised values that this array owns (a leaked
        // `Box<[T]>`, or a slab range kept alive by the node's pin).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len & !IN_SLAB) }
    }
}

impl<T> DerefMut for NodeArray<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len & !IN_SLAB) }
    }
}

impl<T> Drop for NodeArray<T> {
    fn drop(&mut self) {
        if !self.in_slab() {
            let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
            // SAFETY: a heap array's pointer and length are those of the `Box<[T]>` it was
            // made from, and nothing else frees it.
            drop(unsafe { Box::from_raw(slice) });
        }
    }
}

impl<T: Clone> NodeArray<T> {
    /// The same values on the heap.
    pub(crate) fn to_heap(&self) -> Self {
        Self::from_box(self.deref().into())
    }
}

impl<T: Clone> Clone for NodeArray<T> {
    /// A heap copy (a clone never shares a slab).
    fn clone(&self) -> Self {
        self.to_heap()
    }
}

impl<T: fmt::Debug> fmt::Debug for NodeArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.deref().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_and_slab_arrays_hold_what_was_written() {
        let slab = Slab::new(1 << 20).expect("an anonymous mapping");
        let (mut heap, used) = NodeArray::filled(7i64, 100, None);
        assert!(!used && !heap.in_slab());
        let (mut carved, used) = NodeArray::filled(7i64, 100, Some(&slab));
        assert!(used && carved.in_slab());
        assert_eq!(
            carved.as_ptr() as usize % 64,
            0,
            "arrays start on a cache line"
        );
        heap[3] = -1;
        carved[3] = -1;
        assert_eq!(&heap[..], &carved[..]);
        let copy = carved.clone();
        assert!(!copy.in_slab());
        assert_eq!(&copy[..], &carved[..]);
        assert_eq!(slab.used_bytes(), 800);
    }

    #[test]
    fn a_full_slab_falls_back_to_the_heap() {
        let slab = Slab::new(4096).expect("an anonymous mapping");
        let (a, used) = NodeArray::filled(0u64, 400, Some(&slab));
        assert!(used && a.in_slab());
        let (b, used) = NodeArray::filled(0u64, 400, Some(&slab));
        assert!(
            !used && !b.in_slab(),
            "only 4096 bytes: the second array goes to the heap"
        );
        assert_eq!(b.len(), 400);
    }

    #[test]
    fn zero_sized_and_empty_arrays_never_use_the_slab() {
        let slab = Slab::new(4096).expect("an anonymous mapping");
        let (units, used) = NodeArray::filled((), 1000, Some(&slab));
        assert!(!used && units.len() == 1000);
        let (nothing, used) = NodeArray::filled(1u8, 0, Some(&slab));
        assert!(!used && nothing.is_empty());
        assert_eq!(slab.used_bytes(), 0);
    }

    #[test]
    fn live_bytes_are_counted_by_their_nodes() {
        let slab = Slab::new(4096).expect("an anonymous mapping");
        slab.add_live(100);
        slab.add_live(50);
        assert_eq!(slab.live_bytes(), 150);
        slab.sub_live(100);
        assert_eq!(slab.live_bytes(), 50);
        let pin = NodePin(Some(Arc::clone(&slab)));
        assert!(pin.clone().0.is_none(), "a clone does not share the slab");
        drop(pin);
        assert_eq!(Arc::strong_count(&slab), 1);
    }
}
