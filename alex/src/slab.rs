//! Where data nodes keep their arrays: on the heap, or in the slab of a bulk load.
//!
//! A bulk load of a large map allocates every data node's key, payload and bitmap arrays
//! from one anonymous memory mapping, the *slab*, advised for transparent huge pages
//! (`MADV_HUGEPAGE` on Linux). A lookup or a scan of a map much larger than the caches pays
//! a TLB miss and a page walk per random node array it touches when the arrays sit in
//! 4 KiB pages; with 2 MiB pages the whole index fits in the TLB's reach. (A heap of small
//! `malloc` blocks cannot get huge pages: the allocator serves them from memory already
//! faulted in 4 KiB pages.) docs/alex.md, "Node memory", has the measurements.
//!
//! Nodes built later — by expansions, splits, merges and contractions — go to the map's
//! slab too: freed arrays are given back, merged with free neighbours, and an allocation
//! takes the smallest free block that fits (else the untouched space above the highest
//! block; else, when the reservation is used up, the heap). Maps that never had a bulk load
//! large enough (built by inserts into an empty map) stay on the heap. A slab is released
//! — the arrays still in it copied to the heap, at most [`RELEASE_STEP_BYTES`] per
//! structural change so that no single operation pays for the whole copy, and the mapping
//! unmapped — once fewer than half of its used bytes are live (after removes, typically;
//! see `AlexMap::tend_slab`).
//!
//! Ownership: a [`NodeArray`] never frees slab memory itself; the data node holding slab
//! arrays also holds a [`NodePin`], which keeps the mapping alive, and gives them back
//! when it drops them or moves them to the heap. A slab-backed array must therefore stay
//! in the node whose pin covers it (arrays are only ever replaced whole, never moved
//! between nodes).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard, PoisonError};

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

/// One anonymous mapping that node arrays are allocated from: front to back during a bulk
/// load, then from the space freed by rebuilt nodes (best fit, coalesced) or the untouched
/// rest of the reservation.
pub(crate) struct Slab {
    /// Keeps the mapping alive; all access goes through `base`.
    _mapping: memmap2::MmapMut,
    /// Start of the usable, huge-page-aligned part of the mapping.
    base: NonNull<u8>,
    /// Usable bytes from `base`.
    capacity: usize,
    /// Which bytes are handed out.
    space: Mutex<Space>,
}

/// The allocation state of a slab, as offsets from its base. Every block is a multiple of
/// [`GRAIN`] bytes at an offset that is a multiple of [`GRAIN`], so
/// `top == live + sum of free blocks` always holds.
#[derive(Debug, Default)]
struct Space {
    /// End of the highest block ever handed out and not given back at the end; the bytes
    /// above it have never been touched.
    top: usize,
    /// Bytes of blocks handed out and not given back.
    live: usize,
    /// Free blocks below `top`: offset to length, no two adjacent (they are merged).
    free_at: BTreeMap<usize, usize>,
    /// The same blocks by (length, offset), for best fit.
    free_by_len: BTreeSet<(usize, usize)>,
}

/// Heap bytes one free block's entries in [`Space`]'s two B-trees take, about (two
/// 16-byte entries, B-tree nodes about two thirds full, and their edges): an estimate for
/// `AlexStats::heap_bytes`.
pub(crate) const FREE_BLOCK_BOOKKEEPING_BYTES: usize = 64;

/// Allocation unit of a slab, and the largest alignment it serves.
const GRAIN: usize = 8;

/// Bytes a slab block for `len` values of `T` takes.
pub(crate) fn block_bytes<T>(len: usize) -> usize {
    (len * size_of::<T>()).next_multiple_of(GRAIN)
}

impl Space {
    /// Offset of a free block of `bytes` (a multiple of [`GRAIN`], not 0): the smallest free
    /// block that fits (its front part), else the untouched space at `top` while
    /// `capacity` allows.
    fn allocate(&mut self, bytes: usize, capacity: usize) -> Option<usize> {
        let offset = if let Some(&(len, at)) = self.free_by_len.range((bytes, 0)..).next() {
            self.free_by_len.remove(&(len, at));
            self.free_at.remove(&at);
            if len > bytes {
                self.insert_free(at + bytes, len - bytes);
            }
            at
        } else {
            let end = self.top.checked_add(bytes)?;
            if end > capacity {
                return None;
            }
            std::mem::replace(&mut self.top, end)
        };
        self.live += bytes;
        Some(offset)
    }

    /// Takes back the block of `bytes` at `offset`, merging it with free neighbours (and
    /// into the untouched space when it ends at `top`).
    fn free(&mut self, mut offset: usize, mut bytes: usize) {
        // A block given back twice, or one this slab never handed out, would let two
        // arrays share memory later: checked always (a few compares beside the B-tree
        // updates, on structural changes only).
        let before = self.free_at.range(..=offset).next_back();
        let after = self.free_at.range(offset..).next();
        assert!(
            offset.is_multiple_of(GRAIN)
                && bytes.is_multiple_of(GRAIN)
                && offset + bytes <= self.top
                && bytes <= self.live
                && before.is_none_or(|(&at, &len)| at + len <= offset)
                && after.is_none_or(|(&at, _)| offset + bytes <= at),
            "alex: slab block {offset}+{bytes} is not a live block"
        );
        self.live -= bytes;
        if let Some((&at, &len)) = before
            && at + len == offset
        {
            self.remove_free(at, len);
            offset = at;
            bytes += len;
        }
        if let Some(&len) = self.free_at.get(&(offset + bytes)) {
            self.remove_free(offset + bytes, len);
            bytes += len;
        }
        if offset + bytes == self.top {
            self.top = offset;
        } else {
            self.insert_free(offset, bytes);
        }
    }

    fn insert_free(&mut self, offset: usize, bytes: usize) {
        self.free_at.insert(offset, bytes);
        self.free_by_len.insert((bytes, offset));
    }

    fn remove_free(&mut self, offset: usize, bytes: usize) {
        self.free_at.remove(&offset);
        self.free_by_len.remove(&(bytes, offset));
    }
}

// SAFETY: the slab owns its mapping; `base` points into it and is only used to hand out
// disjoint ranges (under the `space` lock) that their nodes then own exclusively.
unsafe impl Send for Slab {}
// SAFETY: as above; the allocation state is behind a mutex.
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
            space: Mutex::new(Space::default()),
        }))
    }

    fn space(&self) -> MutexGuard<'_, Space> {
        // The state is consistent between calls: the one panic under the lock (`free`'s
        // check) comes before any change.
        self.space.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes up to the end of the highest block handed out: live arrays and the free
    /// blocks between them.
    pub(crate) fn used_bytes(&self) -> usize {
        self.space().top
    }

    /// Bytes of node arrays still in use.
    pub(crate) fn live_bytes(&self) -> usize {
        self.space().live
    }

    /// Bytes of the free blocks below the top, and how many there are.
    pub(crate) fn free_blocks(&self) -> (usize, usize) {
        let space = self.space();
        (space.free_at.values().sum(), space.free_at.len())
    }

    /// Room for `len` values of `T` ([`block_bytes`] bytes, counted as live), or `None`
    /// when the slab has no free block that large or `T` needs more than [`GRAIN`]
    /// alignment.
    fn allocate<T>(&self, len: usize) -> Option<NonNull<T>> {
        if align_of::<T>() > GRAIN {
            return None;
        }
        let bytes = len.checked_mul(size_of::<T>())?.next_multiple_of(GRAIN);
        let offset = self.space().allocate(bytes, self.capacity)?;
        // `offset..offset + bytes` lies inside the mapping, is aligned to `GRAIN`, and no
        // other allocation returns it until it is freed.
        NonNull::new(self.base.as_ptr().wrapping_add(offset) as *mut T)
    }

    /// Takes back the block of `len` values of `T` at `ptr`, which [`Slab::allocate`]
    /// returned and which is no longer used.
    fn free<T>(&self, ptr: NonNull<T>, len: usize) {
        let offset = ptr.as_ptr() as usize - self.base.as_ptr() as usize;
        self.space().free(offset, block_bytes::<T>(len));
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
            && let Some(ptr) = slab.and_then(|slab| slab.allocate::<T>(len))
        {
            for i in 0..len {
                // SAFETY: `allocate` returned room for `len` values of `T`, aligned for `T`,
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

    /// Bytes of slab memory this array holds.
    pub(crate) fn slab_bytes(&self) -> usize {
        if self.in_slab() {
            block_bytes::<T>(self.len & !IN_SLAB)
        } else {
            0
        }
    }

    /// Gives a slab array's memory back to `slab` (the slab it came from) and leaves the
    /// array empty; a heap array is left as it is.
    pub(crate) fn give_back(&mut self, slab: &Slab) {
        if self.in_slab() {
            slab.free(self.ptr, self.len & !IN_SLAB);
            self.ptr = NonNull::dangling();
            self.len = 0;
        }
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

    /// Moves a slab array's values to the heap and gives its memory back to `slab` (the
    /// slab it came from); a heap array is left as it is.
    pub(crate) fn move_to_heap(&mut self, slab: &Slab) {
        if self.in_slab() {
            let copy = self.to_heap();
            self.give_back(slab);
            *self = copy;
        }
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
    fn freed_blocks_are_reused_best_fit_and_merged() {
        let slab = Slab::new(1 << 20).expect("an anonymous mapping");
        let (mut a, _) = NodeArray::filled(1i64, 100, Some(&slab));
        let (mut b, _) = NodeArray::filled(2i64, 50, Some(&slab));
        let (mut c, _) = NodeArray::filled(3i64, 200, Some(&slab));
        let (mut d, _) = NodeArray::filled(4i64, 10, Some(&slab));
        assert_eq!((slab.used_bytes(), slab.live_bytes()), (2880, 2880));
        a.give_back(&slab);
        c.give_back(&slab);
        assert!(a.is_empty() && !a.in_slab(), "a given-back array is empty");
        assert_eq!(slab.free_blocks(), (2400, 2));
        assert_eq!(slab.live_bytes(), 480);
        // 60 values fit both holes; the smaller one (a's, 800 bytes) is taken, at its start.
        let a_start = 0;
        let (mut e, _) = NodeArray::filled(5i64, 60, Some(&slab));
        assert_eq!(e.as_ptr() as usize - slab.base.as_ptr() as usize, a_start);
        assert_eq!(slab.free_blocks(), (1920, 2));
        // Freeing b merges it with the rest of a's hole before it and c's hole after it.
        b.give_back(&slab);
        assert_eq!(slab.free_blocks(), (2320, 1));
        // Freeing the block at the top merges everything below it into the untouched space.
        d.give_back(&slab);
        assert_eq!(slab.free_blocks(), (0, 0));
        assert_eq!(slab.used_bytes(), 480);
        e.give_back(&slab);
        assert_eq!((slab.used_bytes(), slab.live_bytes()), (0, 0));
        let pin = NodePin(Some(Arc::clone(&slab)));
        assert!(pin.clone().0.is_none(), "a clone does not share the slab");
        drop(pin);
        assert_eq!(Arc::strong_count(&slab), 1);
    }

    #[test]
    fn odd_sized_blocks_take_whole_grains_and_moving_to_the_heap_gives_them_back() {
        let slab = Slab::new(1 << 20).expect("an anonymous mapping");
        let (mut small, used) = NodeArray::filled(9u32, 3, Some(&slab));
        assert!(used);
        assert_eq!(small.slab_bytes(), 16);
        assert_eq!(slab.live_bytes(), 16);
        small.move_to_heap(&slab);
        assert!(!small.in_slab());
        assert_eq!(&small[..], &[9, 9, 9]);
        assert_eq!((slab.used_bytes(), slab.live_bytes()), (0, 0));
        let (mut wide, used) = NodeArray::filled(1u128, 4, Some(&slab));
        assert!(!used && !wide.in_slab(), "16-byte alignment is not served");
        wide.give_back(&slab);
        assert_eq!(wide.len(), 4, "giving back a heap array leaves it as it is");
    }

    #[test]
    #[should_panic(expected = "is not a live block")]
    fn a_block_given_back_twice_is_refused() {
        let mut space = Space::default();
        let a = space.allocate(64, 1 << 10).expect("room");
        let _b = space.allocate(64, 1 << 10).expect("room");
        space.free(a, 64);
        space.free(a, 64);
    }

    /// One step of the allocation model test: allocate `bytes`, or free the live block at
    /// (an index into the live blocks).
    #[derive(Clone, Debug)]
    enum Step {
        Allocate(usize),
        Free(usize),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            (1usize..64).prop_map(|grains| Step::Allocate(grains * GRAIN)),
            any::<usize>().prop_map(Step::Free),
        ]
    }

    proptest::proptest! {
        /// Against a model of the blocks handed out: blocks never overlap and stay inside
        /// the capacity; the free blocks are exactly the gaps below the top, never adjacent;
        /// an allocation takes the smallest free block that fits and fails only when no
        /// free block fits and the untouched space is too small.
        #[test]
        fn space_hands_out_disjoint_blocks_best_fit(
            steps in proptest::collection::vec(step(), 0..300),
        ) {
            const CAPACITY: usize = 2048;
            let mut space = Space::default();
            let mut live: Vec<(usize, usize)> = Vec::new();
            for step in steps {
                match step {
                    Step::Allocate(bytes) => {
                        // The smallest free block that fits, the lowest of equals.
                        let best_fit = space
                            .free_at
                            .iter()
                            .filter(|&(_, &len)| len >= bytes)
                            .min_by_key(|&(&at, &len)| (len, at))
                            .map(|(&at, _)| at);
                        let top = space.top;
                        match space.allocate(bytes, CAPACITY) {
                            Some(at) => {
                                proptest::prop_assert_eq!(at, best_fit.unwrap_or(top));
                                live.push((at, bytes));
                            }
                            None => proptest::prop_assert!(
                                best_fit.is_none() && top + bytes > CAPACITY,
                                "refused {} bytes with room", bytes
                            ),
                        }
                    }
                    Step::Free(i) if !live.is_empty() => {
                        let (at, bytes) = live.swap_remove(i % live.len());
                        space.free(at, bytes);
                    }
                    Step::Free(_) => {}
                }
                // Live and free blocks tile [0, top) exactly, free ones never adjacent.
                let mut blocks: Vec<(usize, usize, bool)> = live.iter().map(|&(a, l)| (a, l, true)).collect();
                blocks.extend(space.free_at.iter().map(|(&a, &l)| (a, l, false)));
                blocks.sort_unstable();
                let mut end = 0;
                let mut last_free = false;
                for &(at, len, is_live) in &blocks {
                    proptest::prop_assert_eq!(at, end, "blocks tile the used space");
                    proptest::prop_assert!(is_live || !last_free, "adjacent free blocks at {}", at);
                    proptest::prop_assert!(at % GRAIN == 0 && len % GRAIN == 0 && len > 0);
                    last_free = !is_live;
                    end = at + len;
                }
                proptest::prop_assert_eq!(end, space.top);
                proptest::prop_assert!(!last_free, "a free block ends at the top");
                proptest::prop_assert!(space.top <= CAPACITY);
                proptest::prop_assert_eq!(space.live, live.iter().map(|b| b.1).sum::<usize>());
                let by_len: BTreeSet<(usize, usize)> = space.free_at.iter().map(|(&a, &l)| (l, a)).collect();
                proptest::prop_assert_eq!(&by_len, &space.free_by_len);
            }
        }
    }
}
