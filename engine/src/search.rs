//! Level-synchronous parallel breadth-first search.
//!
//! Why level by level: all states of depth `d` are expanded before any of
//! depth `d + 1`, so the thread that wins the insert of a state always does
//! so from a parent at the smallest depth, and walking parent links gives a
//! shortest path. The price is two barrier waits per level, which is
//! nothing next to the millions of states of a wide level, as long as every
//! worker has a core: a worker the OS deschedules holds its level (and so
//! everyone) until it runs again, so on a machine busy with other work,
//! fewer threads than cores is faster.
//!
//! Work sharing without a lock on the hot path: a level is a set of
//! lock-free queues of *blocks* (vectors of up to [`MAX_BLOCK`] states with
//! their table slots), one queue per worker. A worker pops a block, expands
//! its states, inserts successors into the table and appends the new ones
//! to its own output block, which it pushes onto its own queue for the next
//! level when full. It pops from its own queue first and steals from the
//! others when that is empty: states are then mostly expanded and freed by
//! the thread that allocated them, which keeps their memory in that
//! thread's cache and malloc arena. Shared counters are touched once per
//! block, never per state.
//!
//! Exact limits: workers reserve table room in chunks, so a `Full` answer
//! can be spurious while other workers hold unused reservations. A worker
//! that gets `Full` therefore keeps the refused state aside and asks
//! everyone to end the level early; between the barriers, with all
//! reservations released, the leader retries the refused states one by one.
//! A `Full` then is real and stops the search; otherwise the same level
//! resumes where it was left. So the search stops at exactly the table's
//! limit (or the state bound), and a space that fits is always completed.
//!
//! Growing in place: when a level is cut short by a full table whose limit
//! is the load factor's and the budget allows a table twice the size, the
//! leader (between the barriers, every worker waiting, every inserter
//! dropped) rehashes every stored fingerprint into the doubled table and
//! moves everything that names a slot: parent links, the level bitmaps,
//! the graph's per-slot arrays, the blocks of both levels, the refused
//! states' parents, and the leader's and the workers' graph edges
//! (workers keep their edges in the shared state between rounds for this).
//! Discoveries are kept by fingerprint and looked up again at the end. So
//! the search goes on where it stopped, with the states, parent links and
//! answers a table big enough from the start gives; workers hold a read
//! guard on the slot arrays for a round and the leader takes it for
//! writing, so no thread can hold a slot of the old table across a growth.

use std::any::Any;
use std::hash::Hash;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, RwLock};
use std::time::Instant;

use crossbeam_queue::SegQueue;
use stateright::{Expectation, Model, Property};

use super::fingerprint::Fingerprinter;
use super::hooks::{GraphSlots, Hooks, WorkerEdges};
use super::store::Store;
use super::table::{AllocError, FingerprintTable, Insert, Inserter, NO_PARENT};
use super::Canonicalize;

/// Largest number of states in a block handed between threads.
const MAX_BLOCK: usize = 1024;
/// Smallest block: small levels are cut fine so every thread gets a share.
const MIN_BLOCK: usize = 16;
/// Spare block allocations a worker keeps for reuse.
const SPARE_BLOCKS: usize = 8;
/// Successors generated (and their table slots prefetched) before they are
/// inserted. The table is far larger than the caches, so an insert is a
/// memory access of ~100 ns; generating a few dozen successors in between
/// hides most of it. The successors of a single state are too few.
const INSERT_BATCH: usize = 48;

/// A batch of states of one level, each with its table slot (the parent
/// link of its successors).
type Block<S> = Vec<(S, u32)>;

/// One BFS level: a queue of blocks per worker.
type Level<S> = Box<[SegQueue<Block<S>>]>;

/// A successor waiting to be inserted, or refused by the table while
/// reservations were outstanding: the state, its fingerprint, its
/// parent's slot and the label of the graph edge to keep (if any).
type Successor<S> = (S, u64, u32, Option<super::hooks::EdgeLabel>);

/// Why the search ended, before the table is consulted for the reason of a
/// `Full`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Complete,
    Timeout,
    /// The table refused a new state (its load limit or the state bound).
    Full,
    /// The caller's interrupt flag was set ([`crate::NativeOptions::interrupt`]).
    Interrupted,
}

const RUNNING: u8 = 0;
const TIMEOUT: u8 = 1;
const FULL: u8 = 2;
/// A worker caught a panic of the model; it is re-raised after the join.
const PANICKED: u8 = 3;
const INTERRUPTED: u8 = 4;

/// A discovery candidate: the state in `slot`, at BFS `depth`, with
/// fingerprint `fp`. The best is the smallest `(depth, fp)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found {
    pub depth: usize,
    pub fp: u64,
    pub slot: u32,
}

impl Found {
    fn better_than(&self, other: &Found) -> bool {
        (self.depth, self.fp) < (other.depth, other.fp)
    }
}

/// What the search reports back to [`super::check`].
pub(crate) struct RawOutcome<L> {
    pub stop: Stop,
    pub states: u64,
    pub max_depth: usize,
    pub found: Vec<Option<Found>>,
    /// Each worker's hook accumulator.
    pub locals: Vec<L>,
    /// Each worker's graph edges, and the edges the leader kept (with a
    /// graph).
    pub edges: Vec<WorkerEdges>,
    pub extra_edges: Vec<(u32, u32, super::hooks::EdgeLabel)>,
    /// Times the table was grown in place.
    pub growths: u32,
}

/// Everything indexed by table slot: the table, the level bitmaps and, when
/// the hooks record one, the graph's per-slot arrays. They are replaced
/// together when the table grows ([`Slots::grow`]).
pub(crate) struct Slots {
    pub table: FingerprintTable,
    pub members: LevelMembers,
    pub graph: Option<GraphSlots>,
}

impl Slots {
    /// Bytes of the table, the bitmaps and the graph's slot arrays.
    pub(crate) fn bytes(&self) -> usize {
        self.table.bytes() + self.members.bytes() + self.graph.as_ref().map_or(0, |g| g.bytes())
    }

    /// Doubles the table and moves every per-slot array with it; answers
    /// the old-to-new slot map, which the caller applies to everything
    /// else that holds a slot. One array is replaced at a time (the old
    /// one freed before the next new one is allocated), so the peak is the
    /// old arrays plus the new table and the map. On an allocation failure
    /// the table is unchanged if the table itself could not be grown;
    /// past that the bitmaps and graph may be stale, which only matters
    /// to a search that goes on, and this one stops.
    fn grow(&mut self, threads: usize) -> Result<Box<[u32]>, AllocError> {
        let capacity = self.table.capacity() * 2;
        let (table, map) = self.table.grow(capacity, threads)?;
        self.table = table;
        self.members = self.members.grow(&map, capacity, threads)?;
        if let Some(graph) = self.graph.take() {
            self.graph = Some(graph.grow(&map, capacity, threads)?);
        }
        Ok(map)
    }
}

/// Everything the workers share. Written fields are atomics or touched only
/// between the two barriers of a level.
struct Shared<'a, M: Model, H, P: Store<M::State>> {
    model: &'a M,
    hooks: &'a H,
    /// How the waiting states are kept.
    store: &'a P,
    /// The table and everything indexed by its slots. Workers hold a read
    /// guard for a round of a level; the leader takes it for writing
    /// between the barriers, where it may grow the table.
    slots: RwLock<Slots>,
    /// The largest table capacity the search may grow to (the first
    /// table's capacity: no growth).
    max_capacity: usize,
    /// Times the table was grown.
    growths: AtomicU32,
    /// Whether workers reserve table room in chunks; false once the table
    /// is at a limit it cannot grow past, where chunks held by other
    /// threads would make `Full` answers spurious.
    chunked: AtomicBool,
    /// Each worker's graph edges: a worker moves its own out for a round
    /// and back before the barrier, so the leader can remap them when the
    /// table grows.
    edges: Box<[Mutex<WorkerEdges>]>,
    /// Graph edges to states the leader inserted between levels.
    extra_edges: Mutex<Vec<(u32, u32, super::hooks::EdgeLabel)>>,
    properties: &'a [Property<M>],
    has_eventually: bool,
    canonicalize: Option<Canonicalize<'a, M::State>>,
    /// Level `d` is read from `levels[d % 2]` while level `d + 1` is
    /// written to the other, each as one queue per worker.
    levels: [Level<P::Item>; 2],
    stop: AtomicU8,
    /// States pushed to the next level (reset by the leader between levels).
    next_count: AtomicU64,
    /// Size of the level being expanded (set by the leader).
    level_size: AtomicU64,
    /// Whether another level follows (set by the leader).
    go_on: AtomicBool,
    /// Whether the next round expands the same level again, because it was
    /// cut short by a `Full` that turned out spurious (set by the leader).
    repeat: AtomicBool,
    /// A worker got `Full`: end the level early so the leader can retry.
    limit_hit: AtomicBool,
    /// States refused by the table during this level, retried by the
    /// leader.
    refused: SegQueue<Successor<P::Item>>,
    barrier: LevelBarrier,
    threads: usize,
    deadline: Option<Instant>,
    interrupt: Option<&'a AtomicBool>,
    live: Option<&'a super::LiveCounters>,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl<M: Model, H, P: Store<M::State>> Shared<'_, M, H, P> {
    /// A successor of `parent` (a state of level `depth`) was already in
    /// `slot`: keep the parent link deterministic (see
    /// [`FingerprintTable::adopt_smaller_parent`]).
    #[inline]
    fn adopt(slots: &Slots, slot: u32, parent: u32, depth: usize) {
        slots
            .table
            .adopt_smaller_parent(slot, parent, |q| slots.members.contains(depth, q));
    }

    /// Grows the table if its limit is the load factor's (not a state
    /// bound) and the doubled table fits the budget; a growth whose memory
    /// cannot be had stops the search. Answers whether it grew.
    fn grow_if_allowed(&self, slots: &mut Slots) -> bool {
        if !slots.table.limited_by_load() || slots.table.capacity() * 2 > self.max_capacity {
            return false;
        }
        if self.grow(slots) {
            return true;
        }
        self.request_stop(FULL);
        false
    }

    /// Grows the table (the leader, between the barriers) and moves every
    /// slot held outside the per-slot arrays: the blocks of both levels,
    /// the refused states' parents, the leader's and the workers' graph
    /// edges. Discoveries are kept by fingerprint and found again after the
    /// search. Answers false if the memory could not be had.
    fn grow(&self, slots: &mut Slots) -> bool {
        let map = match slots.grow(self.threads) {
            Ok(map) => map,
            Err(_) => {
                slots.graph = None;
                return false;
            }
        };
        for queue in self.levels.iter().flat_map(|level| level.iter()) {
            remap_queue(queue, |block| {
                for (_, slot) in block {
                    *slot = map[*slot as usize];
                }
            });
        }
        remap_queue(&self.refused, |(_, _, parent, _)| {
            *parent = map[*parent as usize]
        });
        for (source, target, _) in self
            .extra_edges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
        {
            *source = map[*source as usize];
            *target = map[*target as usize];
        }
        for edges in self.edges.iter() {
            edges.lock().unwrap_or_else(|e| e.into_inner()).remap(&map);
        }
        self.growths.fetch_add(1, Ordering::Relaxed);
        true
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) != RUNNING
    }

    /// Records the first reason to stop; later ones are ignored.
    fn request_stop(&self, why: u8) {
        let _ = self
            .stop
            .compare_exchange(RUNNING, why, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Block size for the next level, from the size of the current one.
    fn block_size(&self) -> usize {
        let per_thread = self.level_size.load(Ordering::Relaxed) as usize / (4 * self.threads);
        per_thread.clamp(MIN_BLOCK, MAX_BLOCK)
    }

    /// Whether every queue of level `depth` is empty.
    fn level_is_empty(&self, depth: usize) -> bool {
        self.levels[depth % 2].iter().all(|q| q.is_empty())
    }

    /// Pops a block of level `depth`, from worker `me`'s queue first.
    fn pop(&self, depth: usize, me: usize) -> Option<Block<P::Item>> {
        let queues = &self.levels[depth % 2];
        (0..queues.len()).find_map(|k| queues[(me + k) % queues.len()].pop())
    }

    /// Run by one thread between the two barriers that end a round of
    /// level `depth`, while every other worker waits and every reservation
    /// has been released: retries the refused states exactly, then decides
    /// whether the level resumes, the next one starts, or the search ends.
    fn between_levels(&self, depth: usize) {
        let mut guard = self.slots.write().unwrap_or_else(|e| e.into_inner());
        // A worker was refused room: the table is at its limit (up to the
        // reservations others held). Grow it if it is the load factor's
        // limit and the budget allows; else insert exactly from now on.
        let hit = self.limit_hit.swap(false, Ordering::Relaxed);
        if hit && !self.stopped() && !self.grow_if_allowed(&mut guard) {
            self.chunked.store(false, Ordering::Relaxed);
        }
        // The refused states, one reservation at a time: a `Full` now is
        // exact. It grows the table if it may (the state is put back and
        // the states inserted so far are handed to the next level first,
        // so that the growth moves their slots too), else ends the search.
        loop {
            let slots = &*guard;
            let mut exact = slots.table.inserter();
            exact.reserve_one_at_a_time();
            let mut block = Vec::new();
            let mut full = false;
            while let Some((state, fp, parent, label)) = self.refused.pop() {
                if self.stopped() {
                    continue;
                }
                let (answer, slot) = exact.insert_at(fp, parent);
                if let (Some(label), false) = (label, answer == Insert::Full) {
                    self.extra_edges
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((parent, slot, label));
                }
                match answer {
                    Insert::Inserted(slot) => {
                        slots.members.add(depth + 1, slot);
                        block.push((state, slot))
                    }
                    Insert::Present => Self::adopt(slots, slot, parent, depth),
                    Insert::Full => {
                        self.refused.push((state, fp, parent, label));
                        full = true;
                        break;
                    }
                }
            }
            drop(exact);
            if !block.is_empty() {
                self.next_count
                    .fetch_add(block.len() as u64, Ordering::Relaxed);
                self.levels[(depth + 1) % 2][0].push(block);
            }
            if !full {
                break;
            }
            if !self.grow_if_allowed(&mut guard) {
                self.request_stop(FULL);
                while self.refused.pop().is_some() {}
                break;
            }
        }
        let slots = &*guard;
        let cut_short = hit && !self.level_is_empty(depth);
        if self.stopped() {
            self.go_on.store(false, Ordering::Release);
        } else if cut_short {
            self.repeat.store(true, Ordering::Release);
        } else {
            let next = self.next_count.swap(0, Ordering::Relaxed);
            self.level_size.store(next, Ordering::Relaxed);
            if let Some(live) = self.live {
                live.unique_states
                    .store(slots.table.len(), Ordering::Relaxed);
                live.depth.store(depth as u64 + 1, Ordering::Relaxed);
                live.frontier.store(next, Ordering::Relaxed);
            }
            // Level depth + 1 is next: its successors (depth + 2) are
            // marked where level `depth` was.
            slots.members.clear(depth + 2);
            self.repeat.store(false, Ordering::Release);
            self.go_on.store(next > 0, Ordering::Release);
        }
    }
}

/// Applies `f` to every entry of a queue that no other thread touches (the
/// leader's, between the barriers), keeping their order.
fn remap_queue<T>(queue: &SegQueue<T>, mut f: impl FnMut(&mut T)) {
    let mut all = Vec::with_capacity(queue.len());
    while let Some(x) = queue.pop() {
        all.push(x);
    }
    for mut x in all {
        f(&mut x);
        queue.push(x);
    }
}

/// Runs the search to completion or to a stop, with `threads` workers.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run<M, H, P>(
    model: &M,
    hooks: &H,
    store: &P,
    properties: &[Property<M>],
    canonicalize: Option<Canonicalize<'_, M::State>>,
    slots: Slots,
    max_capacity: usize,
    threads: usize,
    deadline: Option<Instant>,
    interrupt: Option<&AtomicBool>,
    live: Option<&super::LiveCounters>,
) -> (RawOutcome<H::Local>, Slots)
where
    M: Model + Sync,
    M::State: Hash + Send,
    H: Hooks<M>,
    P: Store<M::State>,
{
    let threads = threads.max(1);
    let max_capacity = max_capacity.max(slots.table.capacity());
    let shared = Shared {
        model,
        hooks,
        store,
        slots: RwLock::new(slots),
        max_capacity,
        growths: AtomicU32::new(0),
        chunked: AtomicBool::new(true),
        edges: (0..threads).map(|_| Mutex::default()).collect(),
        extra_edges: Mutex::new(Vec::new()),
        properties,
        has_eventually: properties
            .iter()
            .any(|p| p.expectation == Expectation::Eventually),
        canonicalize,
        levels: [(); 2].map(|_| (0..threads).map(|_| SegQueue::new()).collect()),
        stop: AtomicU8::new(RUNNING),
        next_count: AtomicU64::new(0),
        level_size: AtomicU64::new(0),
        go_on: AtomicBool::new(true),
        repeat: AtomicBool::new(false),
        limit_hit: AtomicBool::new(false),
        refused: SegQueue::new(),
        barrier: LevelBarrier::new(),
        threads,
        deadline,
        interrupt,
        live,
        panic: Mutex::new(None),
    };

    let init_states = seed(&shared);

    let results: Vec<WorkerResult<H::Local>> = std::thread::scope(|s| {
        // Workers wait at the barrier's gate until it knows how many of
        // them exist: a thread that cannot be spawned (a thread or memory
        // limit) makes the search run with fewer, never wait for it.
        let mut handles = Vec::new();
        for me in 1..threads {
            let shared = &shared;
            match std::thread::Builder::new().spawn_scoped(s, move || {
                shared.barrier.gate();
                Worker::new(shared, me).run()
            }) {
                Ok(h) => handles.push(h),
                Err(_) => break,
            }
        }
        shared.barrier.open(handles.len() + 1);
        let mut results = vec![Worker::new(&shared, 0).run()];
        // Workers catch model panics themselves, so join cannot fail.
        results.extend(handles.into_iter().map(|h| h.join().expect("worker")));
        results
    });

    if let Some(payload) = shared
        .panic
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        resume_unwind(payload);
    }

    let slots = shared.slots.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut found: Vec<Option<Found>> = vec![None; properties.len()];
    for result in &results {
        for (best, candidate) in found.iter_mut().zip(&result.found) {
            if let Some(c) = candidate {
                if best.as_ref().is_none_or(|b| c.better_than(b)) {
                    *best = Some(*c);
                }
            }
        }
    }
    // A discovery's slot is where its fingerprint is now: the table may
    // have grown since it was recorded.
    for f in found.iter_mut().flatten() {
        f.slot = slots
            .table
            .find(f.fp)
            .expect("a discovered state is in the table");
    }
    let stop = match shared.stop.load(Ordering::Acquire) {
        RUNNING => Stop::Complete,
        TIMEOUT => Stop::Timeout,
        INTERRUPTED => Stop::Interrupted,
        _ => Stop::Full,
    };
    let states = init_states + results.iter().map(|r| r.generated).sum::<u64>();
    let max_depth = results.iter().map(|r| r.max_depth).max().unwrap_or(0);
    let locals = results.into_iter().map(|r| r.local).collect();
    let edges = shared
        .edges
        .into_vec()
        .into_iter()
        .map(|e| e.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect();
    let raw = RawOutcome {
        stop,
        states,
        max_depth,
        found,
        locals,
        edges,
        extra_edges: shared
            .extra_edges
            .into_inner()
            .unwrap_or_else(|e| e.into_inner()),
        growths: shared.growths.into_inner(),
    };
    (raw, slots)
}

/// Inserts the initial states (level 0) and returns how many there were
/// within the boundary (duplicates included, as stateright counts them).
fn seed<M, H, P>(shared: &Shared<'_, M, H, P>) -> u64
where
    M: Model,
    M::State: Hash,
    P: Store<M::State>,
{
    let hasher = Fingerprinter::default();
    let slots = shared.slots.read().unwrap_or_else(|e| e.into_inner());
    let mut inserter = slots.table.inserter();
    let mut block = Vec::new();
    let mut count = 0;
    for state in shared.model.init_states() {
        if !shared.model.within_boundary(&state) {
            continue;
        }
        count += 1;
        let state = match shared.canonicalize {
            Some(canonical) => canonical(state),
            None => state,
        };
        match inserter.insert(hasher.fingerprint(&state), NO_PARENT) {
            Insert::Inserted(slot) => {
                slots.members.add(0, slot);
                block.push((shared.store.store(state), slot))
            }
            Insert::Present => {}
            Insert::Full => {
                shared.request_stop(FULL);
                break;
            }
        }
    }
    shared
        .level_size
        .store(block.len() as u64, Ordering::Relaxed);
    if block.is_empty() {
        shared.go_on.store(false, Ordering::Relaxed);
    } else {
        shared.levels[0][0].push(block);
    }
    count
}

/// Which table slots hold states of the level being expanded (`d`) and of
/// the next one (`d + 1`): one bit per slot for each, the two bitmaps
/// taking turns. Level `d`'s bits are complete (set while level `d - 1`
/// was expanded and by the leader's retries) and only read while level `d`
/// is expanded, so a parent link can be tested for "same level as this
/// parent" without a race; the bitmap of level `d + 2` is cleared between
/// levels (a quarter byte per slot in all).
pub(crate) struct LevelMembers {
    bits: [Box<[AtomicU64]>; 2],
}

impl LevelMembers {
    /// The bitmaps for a table of `capacity` slots, or an error if the
    /// allocator refuses them.
    pub(crate) fn try_new(
        capacity: usize,
        threads: usize,
    ) -> Result<Self, super::table::AllocError> {
        let words = capacity.div_ceil(64);
        Ok(LevelMembers {
            bits: [
                super::table::try_zeroed_words(words, threads)?,
                super::table::try_zeroed_words(words, threads)?,
            ],
        })
    }

    /// Bytes of both bitmaps.
    pub(crate) fn bytes(&self) -> usize {
        self.bits[0].len() * 16
    }

    /// The bitmaps for a table grown to `capacity` slots, each bit moved to
    /// its key's new slot (`map`, from [`FingerprintTable::grow`]).
    fn grow(&self, map: &[u32], capacity: usize, threads: usize) -> Result<Self, AllocError> {
        let grown = Self::try_new(capacity, threads)?;
        for (old, new) in self.bits.iter().zip(&grown.bits) {
            for (w, word) in old.iter().enumerate() {
                let mut bits = word.load(Ordering::Relaxed);
                while bits != 0 {
                    let slot = map[w * 64 + bits.trailing_zeros() as usize];
                    new[slot as usize / 64].fetch_or(1 << (slot % 64), Ordering::Relaxed);
                    bits &= bits - 1;
                }
            }
        }
        Ok(grown)
    }

    #[inline]
    fn add(&self, level: usize, slot: u32) {
        let (w, b) = (slot as usize / 64, slot % 64);
        self.bits[level % 2][w].fetch_or(1 << b, Ordering::Relaxed);
    }

    #[inline]
    fn contains(&self, level: usize, slot: u32) -> bool {
        let (w, b) = (slot as usize / 64, slot % 64);
        self.bits[level % 2][w].load(Ordering::Relaxed) & (1 << b) != 0
    }

    fn clear(&self, level: usize) {
        for w in self.bits[level % 2].iter() {
            w.store(0, Ordering::Relaxed);
        }
    }
}

/// What one worker hands back when the search ends.
struct WorkerResult<L> {
    generated: u64,
    max_depth: usize,
    found: Vec<Option<Found>>,
    local: L,
}

/// What a worker holds for one round of a level: a read guard's view of
/// the slot arrays and an inserter into its table. Both end before the
/// barrier, so the leader may grow the table between rounds.
struct Round<'r> {
    slots: &'r Slots,
    inserter: Inserter<'r>,
}

/// One search thread's private state: nothing here is shared.
struct Worker<'s, 'a, M: Model, H: Hooks<M>, P: Store<M::State>> {
    shared: &'s Shared<'a, M, H, P>,
    local: H::Local,
    edges: WorkerEdges,
    /// This worker's queue in each level.
    me: usize,
    hasher: Fingerprinter,
    actions: Vec<M::Action>,
    /// Successors generated but not inserted yet (see [`INSERT_BATCH`]).
    successors: Vec<Successor<P::Item>>,
    out: Block<P::Item>,
    out_pushed: u64,
    refused: Vec<Successor<P::Item>>,
    block_size: usize,
    spare: Vec<Block<P::Item>>,
    generated: u64,
    max_depth: usize,
    found: Vec<Option<Found>>,
}

impl<'s, 'a, M, H, P> Worker<'s, 'a, M, H, P>
where
    M: Model,
    M::State: Hash,
    H: Hooks<M>,
    P: Store<M::State>,
{
    fn new(shared: &'s Shared<'a, M, H, P>, me: usize) -> Self {
        Self {
            shared,
            local: shared.hooks.local(),
            edges: WorkerEdges::default(),
            me,
            hasher: Fingerprinter::default(),
            actions: Vec::new(),
            successors: Vec::with_capacity(INSERT_BATCH + 64),
            out: Vec::new(),
            out_pushed: 0,
            refused: Vec::new(),
            block_size: MIN_BLOCK,
            spare: Vec::new(),
            generated: 0,
            max_depth: 0,
            found: vec![None; shared.properties.len()],
        }
    }

    /// Expands levels until the leader says there is none left.
    fn run(mut self) -> WorkerResult<H::Local> {
        let shared = self.shared;
        let mut depth = 0;
        while shared.go_on.load(Ordering::Acquire) {
            self.block_size = shared.block_size();
            let level = catch_unwind(AssertUnwindSafe(|| self.round(depth)));
            if let Err(payload) = level {
                shared.request_stop(PANICKED);
                let mut slot = shared.panic.lock().unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert(payload);
            }
            self.end_round();
            if shared.barrier.wait().is_leader() {
                shared.between_levels(depth);
            }
            shared.barrier.wait();
            if !shared.repeat.load(Ordering::Acquire) {
                depth += 1;
            }
        }
        let slots = shared.slots.read().unwrap_or_else(|e| e.into_inner());
        if let Some(graph) = &slots.graph {
            let mut edges = shared.edges[self.me]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            edges.close(graph, self.me);
        }
        WorkerResult {
            generated: self.generated,
            max_depth: self.max_depth,
            found: self.found,
            local: self.local,
        }
    }

    /// Publishes this worker's output, refused states and reservation
    /// before the barrier.
    fn end_round(&mut self) {
        let shared = self.shared;
        for refused in self.refused.drain(..) {
            shared.refused.push(refused);
        }
        shared
            .next_count
            .fetch_add(self.out_pushed, Ordering::Relaxed);
        self.out_pushed = 0;
    }

    /// One round of level `depth`: takes the slot arrays for reading and
    /// this worker's graph edges, expands, and gives both back (dropping
    /// the inserter returns its unused reservation and counts its inserts).
    fn round(&mut self, depth: usize) {
        let shared = self.shared;
        let slots = shared.slots.read().unwrap_or_else(|e| e.into_inner());
        let mut inserter = slots.table.inserter();
        if !shared.chunked.load(Ordering::Relaxed) {
            inserter.reserve_one_at_a_time();
        }
        let mut cx = Round {
            slots: &slots,
            inserter,
        };
        let mine = &shared.edges[self.me];
        self.edges = std::mem::take(&mut *mine.lock().unwrap_or_else(|e| e.into_inner()));
        self.expand_level(&mut cx, depth);
        *mine.lock().unwrap_or_else(|e| e.into_inner()) = std::mem::take(&mut self.edges);
    }

    /// Expands blocks of level `depth` (0 = initial states) until the level
    /// is empty or the search is stopped, then publishes its last output.
    fn expand_level(&mut self, cx: &mut Round<'_>, depth: usize) {
        let shared = self.shared;
        while !shared.stopped() && !shared.limit_hit.load(Ordering::Relaxed) {
            let Some(mut block) = shared.pop(depth, self.me) else {
                break;
            };
            self.max_depth = self.max_depth.max(depth + 1);
            for (item, slot) in block.drain(..) {
                let state = shared.store.load(item);
                self.expand(cx, state, slot, depth);
            }
            self.insert_successors(cx, depth);
            if self.spare.len() < SPARE_BLOCKS {
                self.spare.push(block);
            }
            if let Some(deadline) = shared.deadline {
                if Instant::now() >= deadline {
                    shared.request_stop(TIMEOUT);
                }
            }
            if shared.interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
                shared.request_stop(INTERRUPTED);
            }
        }
        if !self.out.is_empty() {
            self.push_out(depth);
        }
    }

    /// Checks the properties on one state and inserts its successors.
    #[inline]
    fn expand(&mut self, cx: &mut Round<'_>, state: M::State, slot: u32, depth: usize) {
        let shared = self.shared;
        let model = shared.model;
        // A recorded graph needs every state's edges.
        let mut awaiting = shared.has_eventually || H::GRAPH;
        for (i, property) in shared.properties.iter().enumerate() {
            let discovered = match property.expectation {
                Expectation::Always => !(property.condition)(model, &state),
                Expectation::Sometimes => (property.condition)(model, &state),
                Expectation::Eventually => continue,
            };
            if discovered {
                self.record(cx.slots, i, depth, slot);
            } else {
                awaiting = true;
            }
        }
        if !awaiting {
            // Every property is discovered in this state: stateright does not
            // expand it either.
            return;
        }

        model.actions(&state, &mut self.actions);
        let before = self.successors.len();
        let mut node = if H::GRAPH || H::ACTIONS {
            shared.hooks.node(&state)
        } else {
            0
        };
        for action in self.actions.drain(..) {
            let (next, label) = if H::ACTIONS {
                shared
                    .hooks
                    .step(&mut self.local, &state, &mut node, action)
            } else {
                (model.next_state(&state, action), None)
            };
            let Some(next) = next else {
                continue;
            };
            if !model.within_boundary(&next) {
                continue;
            }
            let next = match shared.canonicalize {
                Some(canonical) => canonical(next),
                None => next,
            };
            // The stored item hashes as the state (store.rs).
            let next = shared.store.store(next);
            let fp = self.hasher.fingerprint(&next);
            cx.slots.table.prefetch(fp);
            self.successors.push((next, fp, slot, label));
        }
        if let Some(graph) = &cx.slots.graph {
            graph.set_node(slot, depth, node);
        }
        self.generated += (self.successors.len() - before) as u64;
        if self.successors.len() >= INSERT_BATCH {
            self.insert_successors(cx, depth);
        }
    }

    /// Inserts the pending successors into the table; the new ones go to
    /// the next level.
    fn insert_successors(&mut self, cx: &mut Round<'_>, depth: usize) {
        let slots = cx.slots;
        let mut successors = std::mem::take(&mut self.successors);
        for (next, fp, parent, label) in successors.drain(..) {
            let (answer, at) = cx.inserter.insert_at(fp, parent);
            if let (Some(graph), Some(label)) = (&slots.graph, label) {
                if answer != Insert::Full {
                    self.edges.push(graph, self.me, parent, at, label);
                }
            }
            match answer {
                Insert::Inserted(next_slot) => {
                    slots.members.add(depth + 1, next_slot);
                    self.out.push((next, next_slot));
                    if self.out.len() >= self.block_size {
                        self.push_out(depth);
                    }
                }
                Insert::Present => Shared::<M, H, P>::adopt(slots, at, parent, depth),
                Insert::Full => {
                    // Possibly spurious: keep it for the leader's exact retry.
                    self.shared.limit_hit.store(true, Ordering::Relaxed);
                    self.refused.push((next, fp, parent, label));
                }
            }
        }
        self.successors = successors;
    }

    /// Keeps the state in `slot` as property `i`'s discovery if it beats
    /// this worker's current one.
    #[inline]
    fn record(&mut self, slots: &Slots, i: usize, depth: usize, slot: u32) {
        if let Some(best) = &self.found[i] {
            if best.depth < depth {
                return;
            }
        }
        let candidate = Found {
            depth,
            fp: slots.table.fingerprint_at(slot),
            slot,
        };
        if self.found[i].is_none_or(|best| candidate.better_than(&best)) {
            self.found[i] = Some(candidate);
        }
    }

    /// Hands the output block to the next level.
    fn push_out(&mut self, depth: usize) {
        let fresh = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.block_size));
        let block = std::mem::replace(&mut self.out, fresh);
        self.out_pushed += block.len() as u64;
        self.shared.levels[(depth + 1) % 2][self.me].push(block);
    }
}

/// A reusable barrier for the level rounds whose number of parties is set
/// once, after the workers are spawned ([`LevelBarrier::open`]); workers
/// wait at [`LevelBarrier::gate`] until then. `std::sync::Barrier` needs
/// the count up front, and would wait forever for a worker whose thread
/// could not be spawned.
struct LevelBarrier {
    state: Mutex<BarrierState>,
    cv: Condvar,
}

struct BarrierState {
    /// Parties; 0 until the gate opens.
    parties: usize,
    arrived: usize,
    generation: u64,
}

/// What [`LevelBarrier::wait`] tells one thread.
struct WaitResult(bool);

impl WaitResult {
    /// Exactly one thread per round is the leader.
    fn is_leader(&self) -> bool {
        self.0
    }
}

impl LevelBarrier {
    fn new() -> Self {
        LevelBarrier {
            state: Mutex::new(BarrierState {
                parties: 0,
                arrived: 0,
                generation: 0,
            }),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BarrierState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the number of parties and lets the workers start.
    fn open(&self, parties: usize) {
        self.lock().parties = parties.max(1);
        self.cv.notify_all();
    }

    /// Waits until [`LevelBarrier::open`] was called.
    fn gate(&self) {
        let mut st = self.lock();
        while st.parties == 0 {
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Blocks until every party has called `wait` in this round.
    fn wait(&self) -> WaitResult {
        let mut st = self.lock();
        st.arrived += 1;
        if st.arrived >= st.parties {
            st.arrived = 0;
            st.generation += 1;
            self.cv.notify_all();
            return WaitResult(true);
        }
        let generation = st.generation;
        while st.generation == generation {
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        WaitResult(false)
    }
}
