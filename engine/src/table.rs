//! The visited-state table: a preallocated, lock-free, open-addressing set of
//! 64-bit fingerprints with a parent link per entry.
//!
//! Why this shape:
//! - **No locks, no per-entry allocation.** Every worker thread inserts
//!   directly with one compare-and-swap on an `AtomicU64` slot (linear
//!   probing). Duplicates, which are most lookups in a model checker, cost a
//!   single relaxed load when the key sits in its home slot.
//! - **Preallocated and touched up front.** The capacity is fixed (a power of
//!   two, so the home slot is a mask of the fingerprint) and every page is
//!   written before the search starts, in parallel: a table whose pages are
//!   faulted in lazily during the search loses 20-50% of insert throughput.
//! - **Parent links beside the keys.** `parents[i]` holds the *slot index* of
//!   the state that first generated the state in slot `i` ([`NO_PARENT`] for an
//!   initial state). A `u32` slot index instead of a 64-bit parent fingerprint
//!   brings an entry to 12 bytes: 13.3 bytes per state at the 0.9 load limit,
//!   26.7 at the worst case after rounding the capacity up to a power of two.
//!   Keys and parents live in separate arrays so that probing walks 8 keys per
//!   cache line and the parent array is only touched by a successful insert.
//! - **A clean stop when full.** The number of entries is bounded by a
//!   *limit* (at most [`MAX_LOAD`] of the capacity, lower if the caller asks
//!   for a state bound). Inserting past it answers [`Insert::Full`] instead of
//!   degrading into endless probing or crashing. Threads reserve room in small
//!   chunks ([`Inserter`]) so there is no shared counter update per insert.
//!   A `Full` while other threads still hold unused reservations can be
//!   spurious; it is exact once all handles have released them, which is
//!   when the search retries the refused states (see `search.rs`).
//!
//! Publication: the thread that wins the CAS stores the parent link right
//! after; the search only hands a state to another thread through a queue
//! (release/acquire) and reads parent links after joining all workers, so a
//! reader never sees a key without its parent.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The highest fraction of slots that may be filled. Linear probing stays
/// cheap up to about this point (5.5 probes on average for a hit at 0.9);
/// past it insert reports [`Insert::Full`].
pub const MAX_LOAD: f64 = 0.9;

/// Bytes of table memory per slot: an 8-byte key plus a 4-byte parent link.
pub const BYTES_PER_SLOT: usize = 12;

/// Parent link of an initial state.
pub const NO_PARENT: u32 = u32::MAX;

/// Parent link of a slot whose key is written and whose parent is not yet
/// (the winner of the key's CAS stores it right after); the fill value of
/// the parent array. Slot indices stay below it ([`MAX_CAPACITY`]).
const PENDING: u32 = u32::MAX - 1;

/// The smallest table we build, whatever the budget.
pub const MIN_CAPACITY: usize = 16;

/// The largest table: slot indices must fit in a `u32` below [`NO_PARENT`].
/// 2^31 slots are 24 GiB of table.
pub const MAX_CAPACITY: usize = 1 << 31;

/// The stored value of a fingerprint that is 0, because 0 marks an empty
/// slot. This merges fingerprint 0 with this value: one more collision chance
/// in 2^64, negligible beside the birthday bound.
const ZERO_FINGERPRINT_STAND_IN: u64 = 0x9E37_79B9_7F4A_7C15;

/// How many entries an [`Inserter`] reserves at a time: large enough that the
/// shared reservation counter is touched once per 64 new states, small
/// enough that the reservations left unused when the table fills are few.
const RESERVATION_CHUNK: u64 = 64;

/// The answer of an insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// The fingerprint was new; it now lives in this slot with its parent.
    Inserted(u32),
    /// The fingerprint was already in the table (inserted by anyone).
    Present,
    /// The fingerprint is not in the table and the table has reached its
    /// limit: nothing was written.
    Full,
}

/// Maps a fingerprint to the value stored in the table (never 0).
#[inline]
pub fn stored_key(fp: u64) -> u64 {
    if fp == 0 {
        ZERO_FINGERPRINT_STAND_IN
    } else {
        fp
    }
}

/// A fixed-capacity concurrent set of fingerprints with parent links.
pub struct FingerprintTable {
    keys: Box<[AtomicU64]>,
    parents: Box<[AtomicU32]>,
    mask: usize,
    /// Entries allowed: `min(MAX_LOAD * capacity, caller's bound)`.
    limit: u64,
    /// Entries allowed by the load factor alone.
    load_limit: u64,
    /// The caller's entry bound ([`FingerprintTable::with_entry_bound`]),
    /// kept so that a grown table keeps it.
    bound: u64,
    /// Entries reserved by inserters (exact once all inserters are dropped).
    reserved: AtomicU64,
    /// Entries inserted, added by each inserter when it is dropped.
    len: AtomicU64,
}

impl FingerprintTable {
    /// The largest power-of-two capacity whose keys and parents fit in
    /// `bytes` (at least [`MIN_CAPACITY`], at most [`MAX_CAPACITY`]).
    pub fn capacity_for_memory(bytes: usize) -> usize {
        let slots = (bytes / BYTES_PER_SLOT).max(MIN_CAPACITY);
        let pow = if slots.is_power_of_two() {
            slots
        } else {
            slots.next_power_of_two() / 2
        };
        pow.clamp(MIN_CAPACITY, MAX_CAPACITY)
    }

    /// The smallest power-of-two capacity that holds `states` entries
    /// without passing [`MAX_LOAD`].
    pub fn capacity_for_states(states: u64) -> usize {
        let mut cap = MIN_CAPACITY;
        while cap < MAX_CAPACITY && load_limit(cap) < states {
            cap *= 2;
        }
        cap
    }

    /// Table memory in bytes for a capacity.
    pub fn bytes_for_capacity(capacity: usize) -> usize {
        capacity * BYTES_PER_SLOT
    }

    /// Builds a table of `capacity` slots (rounded up to a power of two and
    /// clamped to [`MIN_CAPACITY`]..=[`MAX_CAPACITY`]), writing every page
    /// with `touch_threads` threads so that no page fault is left for the
    /// search.
    ///
    /// Panics if the memory cannot be allocated; see
    /// [`FingerprintTable::try_with_capacity`].
    pub fn with_capacity(capacity: usize, touch_threads: usize) -> Self {
        Self::try_with_capacity(capacity, touch_threads)
            .unwrap_or_else(|e| panic!("fingerprint table: {e}"))
    }

    /// [`FingerprintTable::with_capacity`], answering an error instead of
    /// aborting the process when the allocator refuses the memory (an
    /// address-space or memory limit, a `--memory` beyond what the system
    /// has).
    pub fn try_with_capacity(capacity: usize, touch_threads: usize) -> Result<Self, AllocError> {
        let capacity = capacity
            .max(MIN_CAPACITY)
            .checked_next_power_of_two()
            .unwrap_or(MAX_CAPACITY)
            .min(MAX_CAPACITY);
        let keys = alloc_touched(capacity, touch_threads, || AtomicU64::new(0))?;
        let parents = alloc_touched(capacity, touch_threads, || AtomicU32::new(PENDING))?;
        let load_limit = load_limit(capacity);
        Ok(Self {
            keys,
            parents,
            mask: capacity - 1,
            limit: load_limit,
            load_limit,
            bound: u64::MAX,
            reserved: AtomicU64::new(0),
            len: AtomicU64::new(0),
        })
    }

    /// Lowers the number of entries allowed below the load limit (never
    /// above it). The search uses this to enforce a unique-state bound
    /// exactly, at no cost on the hot path.
    pub fn with_entry_bound(mut self, bound: u64) -> Self {
        self.bound = bound;
        self.limit = bound.min(self.load_limit);
        self
    }

    /// Whether the caller's entry bound is what the table has reached.
    pub fn bound_reached(&self) -> bool {
        self.len() >= self.bound
    }

    /// Whether the limit is the load factor's, not the caller's entry
    /// bound: only then can a bigger table take more entries.
    pub fn limited_by_load(&self) -> bool {
        self.limit == self.load_limit && self.load_limit < self.bound
    }

    /// A table of `capacity` slots (a power of two, larger than this one's)
    /// holding every entry of this one, with the same entry bound, and the
    /// map from each slot of this table to the slot of the same key in the
    /// new one (`u32::MAX` for an empty slot). Parent links are carried
    /// over through the map, so every path the old table recorded is
    /// recorded by the new one.
    ///
    /// Why this is exact: every entry's full 64-bit key is stored, so
    /// rehashing loses nothing; it is what lets the search grow its table
    /// in place instead of starting again with a bigger one.
    ///
    /// Needs `&mut self`: no inserter may be alive (the search calls it
    /// between the barriers of a level, where every worker has dropped its
    /// inserter, so `len` and the reservations are exact).
    pub fn grow(
        &mut self,
        capacity: usize,
        threads: usize,
    ) -> Result<(Self, Box<[u32]>), AllocError> {
        debug_assert!(capacity.is_power_of_two() && capacity > self.capacity());
        let mut map: Vec<u32> = Vec::new();
        map.try_reserve_exact(self.capacity())
            .map_err(|_| AllocError {
                bytes: self.capacity() * 4,
            })?;
        let grown = Self::try_with_capacity(capacity, threads)?.with_entry_bound(self.bound);
        let mask = grown.mask;
        for key in self.keys.iter_mut() {
            let key = *key.get_mut();
            if key == 0 {
                map.push(u32::MAX);
                continue;
            }
            let mut i = key as usize & mask;
            // Exclusive access: a plain probe for an empty slot, no CAS.
            while grown.keys[i].load(Ordering::Relaxed) != 0 {
                i = (i + 1) & mask;
            }
            grown.keys[i].store(key, Ordering::Relaxed);
            map.push(i as u32);
        }
        for (old, parent) in self.parents.iter_mut().enumerate() {
            let new = map[old];
            if new == u32::MAX {
                continue;
            }
            let link = match *parent.get_mut() {
                NO_PARENT => NO_PARENT,
                p => map[p as usize],
            };
            grown.parents[new as usize].store(link, Ordering::Relaxed);
        }
        let len = *self.len.get_mut();
        debug_assert_eq!(*self.reserved.get_mut(), len, "an inserter is alive");
        grown.len.store(len, Ordering::Relaxed);
        grown.reserved.store(len, Ordering::Relaxed);
        Ok((grown, map.into_boxed_slice()))
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.keys.len()
    }

    /// Table memory in bytes (keys and parent links).
    pub fn bytes(&self) -> usize {
        Self::bytes_for_capacity(self.capacity())
    }

    /// Entries allowed before insert reports [`Insert::Full`].
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Entries allowed by the load factor alone.
    pub fn load_limit(&self) -> u64 {
        self.load_limit
    }

    /// Entries inserted so far by [`FingerprintTable::insert`] and by
    /// inserters that have been dropped.
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Whether no entry has been counted yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A per-thread handle for fast inserts (see [`Inserter`]).
    pub fn inserter(&self) -> Inserter<'_> {
        Inserter {
            table: self,
            credit: 0,
            inserted: 0,
            chunk: RESERVATION_CHUNK,
        }
    }

    /// Inserts `fp` with `parent` (a slot index or [`NO_PARENT`]). A
    /// convenience for one-off inserts; hot loops use an [`Inserter`], which
    /// avoids two shared atomic updates per call.
    pub fn insert(&self, fp: u64, parent: u32) -> Insert {
        let mut one = self.inserter();
        one.chunk = 1;
        one.insert(fp, parent)
    }

    /// The slot holding `fp`, if any.
    pub fn find(&self, fp: u64) -> Option<u32> {
        let key = stored_key(fp);
        let mut i = key as usize & self.mask;
        loop {
            match self.keys[i].load(Ordering::Acquire) {
                0 => return None,
                k if k == key => return Some(i as u32),
                _ => i = (i + 1) & self.mask,
            }
        }
    }

    /// The stored fingerprint in `slot` (0 if empty).
    pub fn fingerprint_at(&self, slot: u32) -> u64 {
        self.keys[slot as usize].load(Ordering::Acquire)
    }

    /// The parent slot of the entry in `slot`, `None` for an initial state
    /// (or an empty slot).
    pub fn parent_of(&self, slot: u32) -> Option<u32> {
        match self.parents[slot as usize].load(Ordering::Acquire) {
            NO_PARENT | PENDING => None,
            p => Some(p),
        }
    }

    /// Makes `parent` the parent link of the entry in `slot` if the current
    /// link is a state of the same BFS level as `parent` (which
    /// `in_parent_level` tells) with a larger fingerprint.
    ///
    /// Why: which of several same-level predecessors inserts a state first
    /// is a race between threads; keeping the one with the smallest
    /// fingerprint instead makes every parent link, and so every recorded
    /// path, the same at every thread count and on every run (once the
    /// level is fully expanded). A link to an earlier level is kept: it is
    /// the shortest. A link not yet written by the inserting thread is
    /// waited for (it is stored right after the key's CAS).
    pub fn adopt_smaller_parent(
        &self,
        slot: u32,
        parent: u32,
        in_parent_level: impl Fn(u32) -> bool,
    ) {
        let link = &self.parents[slot as usize];
        let mut current = link.load(Ordering::Acquire);
        let mut parent_fp = None;
        loop {
            match current {
                PENDING => {
                    std::hint::spin_loop();
                    current = link.load(Ordering::Acquire);
                    continue;
                }
                NO_PARENT => return,
                q if q == parent || !in_parent_level(q) => return,
                q => {
                    let mine = *parent_fp.get_or_insert_with(|| self.fingerprint_at(parent));
                    if self.fingerprint_at(q) <= mine {
                        return;
                    }
                    match link.compare_exchange_weak(q, parent, Ordering::AcqRel, Ordering::Acquire)
                    {
                        Ok(_) => return,
                        Err(now) => current = now,
                    }
                }
            }
        }
    }

    /// Hints the CPU to fetch the home slot of `fp`, so that a batch of
    /// inserts overlaps its cache misses.
    #[inline]
    pub fn prefetch(&self, fp: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let i = stored_key(fp) as usize & self.mask;
            let p = self.keys[i].as_ptr() as *const i8;
            // A duplicate also reads its parent link (adopt_smaller_parent).
            let q = self.parents[i].as_ptr() as *const i8;
            // SAFETY: prefetch has no memory effect; `p` and `q` point into
            // `keys` and `parents`. SSE is part of the x86_64 baseline.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p);
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(q);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = fp;
    }

    /// Reserves up to `chunk` entries; returns how many were granted.
    fn reserve(&self, chunk: u64) -> u64 {
        let before = self.reserved.fetch_add(chunk, Ordering::Relaxed);
        let granted = self.limit.saturating_sub(before).min(chunk);
        if granted < chunk {
            self.reserved.fetch_sub(chunk - granted, Ordering::Relaxed);
        }
        granted
    }
}

/// A thread's handle for inserting: it holds reserved room (a *credit*) and
/// counts its own inserts, so the shared counters are touched once per
/// chunk instead of once per state. Dropping it returns the unused credit and
/// adds its inserts to [`FingerprintTable::len`].
pub struct Inserter<'t> {
    table: &'t FingerprintTable,
    credit: u64,
    inserted: u64,
    chunk: u64,
}

impl Inserter<'_> {
    /// Inserts `fp` with `parent` (a slot index or [`NO_PARENT`]).
    #[inline]
    pub fn insert(&mut self, fp: u64, parent: u32) -> Insert {
        self.insert_at(fp, parent).0
    }

    /// [`Inserter::insert`], also answering the slot that holds `fp` when it
    /// was already present (`u32::MAX` for [`Insert::Full`]); a search that
    /// records its state graph needs the target of every edge.
    #[inline]
    pub fn insert_at(&mut self, fp: u64, parent: u32) -> (Insert, u32) {
        let table = self.table;
        let key = stored_key(fp);
        let mut i = key as usize & table.mask;
        loop {
            let slot = &table.keys[i];
            let current = slot.load(Ordering::Relaxed);
            if current == key {
                return (Insert::Present, i as u32);
            }
            if current == 0 {
                if self.credit == 0 {
                    self.credit = table.reserve(self.chunk);
                    if self.credit == 0 {
                        return (Insert::Full, u32::MAX);
                    }
                }
                match slot.compare_exchange(0, key, Ordering::AcqRel, Ordering::Relaxed) {
                    Ok(_) => {
                        table.parents[i].store(parent, Ordering::Release);
                        self.credit -= 1;
                        self.inserted += 1;
                        return (Insert::Inserted(i as u32), i as u32);
                    }
                    // Another thread inserted the same key first.
                    Err(other) if other == key => return (Insert::Present, i as u32),
                    // Another key took the slot; keep probing.
                    Err(_) => {}
                }
            }
            i = (i + 1) & table.mask;
        }
    }

    /// Entries this handle has inserted.
    pub fn inserted(&self) -> u64 {
        self.inserted
    }

    /// Returns the unused reservation to the table, so that when every
    /// handle is quiescent the table's reservations equal its entries and a
    /// `Full` is exact.
    pub fn release(&mut self) {
        if self.credit > 0 {
            self.table
                .reserved
                .fetch_sub(self.credit, Ordering::Relaxed);
            self.credit = 0;
        }
    }

    /// Reserves one entry at a time from now on: near the limit, chunks
    /// held by other threads would make `Full` answers spurious.
    pub fn reserve_one_at_a_time(&mut self) {
        self.chunk = 1;
    }
}

impl Drop for Inserter<'_> {
    fn drop(&mut self) {
        self.release();
        self.table.len.fetch_add(self.inserted, Ordering::AcqRel);
    }
}

/// Entries allowed in a table of `capacity` slots by [`MAX_LOAD`]
/// (9/10, in integers), always leaving at least one slot empty so that a
/// probe for an absent key ends.
fn load_limit(capacity: usize) -> u64 {
    let cap = capacity as u64;
    (cap / 10 * 9 + cap % 10 * 9 / 10).min(cap - 1)
}

/// The allocator refused the table's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocError {
    /// Bytes asked for (one of the two arrays).
    pub bytes: usize,
}

impl std::fmt::Display for AllocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot allocate {} MiB for the fingerprint table",
            self.bytes.div_ceil(1 << 20)
        )
    }
}

impl std::error::Error for AllocError {}

/// Allocates `n` elements and writes each one from `threads` threads, so
/// that every page is faulted in (and zeroed by us, not lazily by the kernel)
/// before the search. The writes happen in spawned threads, where the
/// compiler cannot turn allocation plus zeroing into a lazy `calloc`. The
/// allocation is fallible (`try_reserve_exact`): a refusal is an error, not
/// an abort; a thread that cannot be spawned leaves its part to the
/// calling thread.
/// `n` zeroed `AtomicU64`s, or an error if the allocator refuses them
/// (the search's side arrays: graph slots, level bitmaps).
pub(crate) fn try_zeroed_words(n: usize, threads: usize) -> Result<Box<[AtomicU64]>, AllocError> {
    alloc_touched(n, threads, || AtomicU64::new(0))
}

fn alloc_touched<T: Send>(
    n: usize,
    threads: usize,
    make: fn() -> T,
) -> Result<Box<[T]>, AllocError> {
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(n).map_err(|_| AllocError {
        bytes: n.saturating_mul(std::mem::size_of::<T>()),
    })?;
    advise_huge_pages(v.as_mut_ptr() as *mut u8, n * std::mem::size_of::<T>());
    let spare = &mut v.spare_capacity_mut()[..n];
    let per_thread = n.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for part in spare.chunks_mut(per_thread) {
            let fill = move |part: &mut [std::mem::MaybeUninit<T>]| {
                for slot in part {
                    slot.write(make());
                }
            };
            // The closure owns `part` only if the spawn succeeds; keep a
            // raw handle to fill it here otherwise.
            let (ptr, len) = (part.as_mut_ptr() as usize, part.len());
            if std::thread::Builder::new()
                .spawn_scoped(s, move || fill(part))
                .is_err()
            {
                // SAFETY: the failed spawn dropped its closure without
                // running it, so this chunk of `spare` is borrowed by no one.
                let part = unsafe {
                    std::slice::from_raw_parts_mut(ptr as *mut std::mem::MaybeUninit<T>, len)
                };
                fill(part);
            }
        }
    });
    // SAFETY: the scope above initialised all `n` elements (the chunks cover
    // `spare[..n]`, each filled by a spawned thread or this one) and joined
    // every writer.
    unsafe { v.set_len(n) };
    Ok(v.into_boxed_slice())
}

/// Asks Linux to back the table with transparent huge pages (where the
/// system allows them only on request, as with `enabled=madvise`). Every
/// insert lands on a random page: with 4 KiB pages nearly each one misses
/// the TLB and pays a page walk on top of the cache miss. Failure is
/// harmless, so the result is ignored.
fn advise_huge_pages(start: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        if len < HUGE {
            return;
        }
        let page = 4096;
        let begin = (start as usize).next_multiple_of(page);
        let end = (start as usize + len) / page * page;
        if end > begin {
            // SAFETY: the range lies inside an allocation we own and have not
            // handed out; madvise only changes how it is backed.
            unsafe {
                libc::madvise(begin as *mut libc::c_void, end - begin, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn insert_then_present_and_parent_kept() {
        let t = FingerprintTable::with_capacity(64, 1);
        let a = match t.insert(42, NO_PARENT) {
            Insert::Inserted(s) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(t.insert(42, 7), Insert::Present);
        let b = match t.insert(43, a) {
            Insert::Inserted(s) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(t.parent_of(a), None);
        assert_eq!(t.parent_of(b), Some(a));
        assert_eq!(t.fingerprint_at(b), 43);
        assert_eq!(t.find(43), Some(b));
        assert_eq!(t.find(44), None);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn zero_fingerprint_is_stored_as_a_stand_in() {
        let t = FingerprintTable::with_capacity(16, 1);
        let s = match t.insert(0, NO_PARENT) {
            Insert::Inserted(s) => s,
            other => panic!("{other:?}"),
        };
        assert_ne!(t.fingerprint_at(s), 0);
        assert_eq!(t.insert(0, NO_PARENT), Insert::Present);
        assert_eq!(t.find(0), Some(s));
    }

    #[test]
    fn colliding_home_slots_probe_linearly_and_wrap() {
        let t = FingerprintTable::with_capacity(16, 1);
        // All share home slot 15 (low bits), so they wrap to 0, 1, ...
        let keys: Vec<u64> = (1..=5).map(|k| (k << 32) | 15).collect();
        let slots: Vec<u32> = keys
            .iter()
            .map(|&k| match t.insert(k, NO_PARENT) {
                Insert::Inserted(s) => s,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(slots, vec![15, 0, 1, 2, 3]);
        for (k, s) in keys.iter().zip(&slots) {
            assert_eq!(t.find(*k), Some(*s));
            assert_eq!(t.insert(*k, NO_PARENT), Insert::Present);
        }
    }

    #[test]
    fn capacity_is_a_power_of_two_from_memory_or_states() {
        assert_eq!(FingerprintTable::capacity_for_memory(0), MIN_CAPACITY);
        assert_eq!(FingerprintTable::capacity_for_memory(12 * 1024), 1024);
        assert_eq!(FingerprintTable::capacity_for_memory(12 * 1024 + 11), 1024);
        assert_eq!(FingerprintTable::capacity_for_memory(12 * 1023), 512);
        assert_eq!(FingerprintTable::capacity_for_memory(256 << 20), 1 << 24);
        assert_eq!(FingerprintTable::capacity_for_states(0), MIN_CAPACITY);
        // 1024 slots hold 921 states at 0.9.
        assert_eq!(FingerprintTable::capacity_for_states(921), 1024);
        assert_eq!(FingerprintTable::capacity_for_states(922), 2048);
        assert_eq!(FingerprintTable::with_capacity(1000, 2).capacity(), 1024);
        assert_eq!(load_limit(16), 14);
        assert_eq!(load_limit(1024), 921);
    }

    #[test]
    fn sizing_from_states_costs_at_most_32_bytes_per_state() {
        for n in [1_000u64, 1 << 20, 1_500_000, 10_340_352] {
            let cap = FingerprintTable::capacity_for_states(n);
            let per_state = FingerprintTable::bytes_for_capacity(cap) as f64 / n as f64;
            assert!(per_state <= 32.0, "{n} states: {per_state} bytes each");
        }
    }

    #[test]
    fn full_is_reported_at_the_load_limit_and_nothing_is_written() {
        let t = FingerprintTable::with_capacity(16, 1);
        let mut ins = t.inserter();
        for k in 1..=14u64 {
            assert!(matches!(ins.insert(k, NO_PARENT), Insert::Inserted(_)));
        }
        assert_eq!(ins.insert(15, NO_PARENT), Insert::Full);
        assert_eq!(ins.insert(3, NO_PARENT), Insert::Present);
        drop(ins);
        assert_eq!(t.len(), 14);
        assert_eq!(t.find(15), None);
        assert_eq!(t.insert(16, NO_PARENT), Insert::Full);
    }

    #[test]
    fn entry_bound_lowers_the_limit_exactly() {
        let t = FingerprintTable::with_capacity(1024, 1).with_entry_bound(100);
        let mut ins = t.inserter();
        let inserted = (1..=200u64)
            .filter(|&k| matches!(ins.insert(k, NO_PARENT), Insert::Inserted(_)))
            .count();
        drop(ins);
        assert_eq!(inserted, 100);
        assert_eq!(t.len(), 100);
        assert_eq!(t.reserved.load(Ordering::Relaxed), 100);
    }

    /// Several threads insert overlapping key sets: every key ends up in the
    /// table exactly once, and the per-thread inserted counts add up to the
    /// number of distinct keys.
    #[test]
    fn concurrent_overlapping_inserts_store_each_key_once() {
        const THREADS: u64 = 4;
        const PER_THREAD: u64 = 200_000;
        let t = FingerprintTable::with_capacity(1 << 20, 2);
        // Thread i inserts keys i*PER_THREAD/2 .. i*PER_THREAD/2 + PER_THREAD,
        // so consecutive threads overlap by half; keys are mixed so that
        // home slots spread and collide like real fingerprints.
        let counts: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|i| {
                    let t = &t;
                    s.spawn(move || {
                        let mut ins = t.inserter();
                        let start = i * PER_THREAD / 2;
                        for k in start..start + PER_THREAD {
                            match ins.insert(mix(k), NO_PARENT) {
                                Insert::Inserted(_) | Insert::Present => {}
                                Insert::Full => panic!("table full"),
                            }
                        }
                        ins.inserted()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let distinct = (THREADS + 1) * PER_THREAD / 2;
        assert_eq!(counts.iter().sum::<u64>(), distinct);
        assert_eq!(t.len(), distinct);
        let stored: Vec<u64> = t
            .keys
            .iter()
            .map(|k| k.load(Ordering::Relaxed))
            .filter(|&k| k != 0)
            .collect();
        assert_eq!(stored.len() as u64, distinct);
        let unique: HashSet<u64> = stored.iter().copied().collect();
        assert_eq!(unique.len() as u64, distinct, "a key was stored twice");
        for k in 0..distinct {
            assert!(t.find(mix(k)).is_some(), "key {k} missing");
        }
    }

    /// Threads racing past the limit all get `Full`, never a panic, and the
    /// table holds exactly `limit` entries.
    #[test]
    fn concurrent_inserts_stop_exactly_at_the_limit() {
        let t = FingerprintTable::with_capacity(4096, 2);
        let limit = t.limit();
        std::thread::scope(|s| {
            for i in 0..4u64 {
                let t = &t;
                s.spawn(move || {
                    let mut ins = t.inserter();
                    for k in 0..10_000u64 {
                        let _ = ins.insert(mix(k * 4 + i), NO_PARENT);
                    }
                });
            }
        });
        assert_eq!(t.len(), limit);
    }

    fn mix(k: u64) -> u64 {
        // splitmix64 finaliser
        let mut z = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
