//! What a search can do besides checking properties, in the same pass:
//! watch every action of every expanded state (action coverage) and record
//! the state graph in compact form (liveness), so that a command needs one
//! search, not one per question.
//!
//! The engine knows nothing of what the hooks compute: a [`Hooks`]
//! implementation sees each expanded state and each of its actions with the
//! successor, keeps per-thread counts in its [`Hooks::Local`], and labels
//! nodes (56 bits) and the edges it wants kept (16 bits). The recorded
//! [`StateGraph`] identifies states by their table slot and holds no state:
//! about 16 bytes per slot plus 6 bytes per kept edge.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

use stateright::Model;

use super::fingerprint::Fingerprinter;
use super::table::{stored_key, FingerprintTable};
use super::Canonicalize;

/// Bits of a node label that belong to the hooks; the engine keeps the BFS
/// depth above them (8 bits, saturating: it only orders states).
pub const NODE_LABEL_BITS: u32 = 56;

/// An edge's label: the hooks' own (16 bits; the engine only stores it).
pub type EdgeLabel = u16;
const LABEL_MASK: u64 = (1 << NODE_LABEL_BITS) - 1;

/// Per-search callbacks. Every method is called by the worker thread that
/// expands the state, with that worker's [`Hooks::Local`].
pub trait Hooks<M: Model>: Sync {
    /// A worker's private accumulator, handed back when the search ends.
    type Local: Send;
    /// Whether the search records its [`StateGraph`]. A search that does
    /// expands every state, including those where every property already
    /// has a discovery.
    const GRAPH: bool;
    /// Whether [`Hooks::step`] takes the actions (else the engine calls
    /// `next_state` itself).
    const ACTIONS: bool;

    /// A fresh accumulator for one worker.
    fn local(&self) -> Self::Local;

    /// The label (low [`NODE_LABEL_BITS`] bits) of an expanded state, before
    /// its actions are seen.
    fn node(&self, _state: &M::State) -> u64 {
        0
    }

    /// Takes one action of an expanded state: answers its successor, which
    /// must be `model.next_state(state, action)` (the hooks call it, so that
    /// they see the action and its successor without the engine needing
    /// `Clone` actions), and the label of the edge to keep in the graph, or
    /// `None` to keep no edge (an edge to a state outside the boundary is
    /// never kept). May add bits to the state's `node` label.
    fn step(
        &self,
        local: &mut Self::Local,
        state: &M::State,
        node: &mut u64,
        action: M::Action,
    ) -> (Option<M::State>, Option<EdgeLabel>);
}

/// No hooks: the plain search.
pub struct NoHooks;

impl<M: Model> Hooks<M> for NoHooks {
    type Local = ();
    const GRAPH: bool = false;
    const ACTIONS: bool = false;
    fn local(&self) {}
    fn step(
        &self,
        _: &mut (),
        _: &M::State,
        _: &mut u64,
        _: M::Action,
    ) -> (Option<M::State>, Option<EdgeLabel>) {
        unreachable!("NoHooks::ACTIONS is false")
    }
}

/// Bits of an edge locator: worker, edge count, first edge.
const LOC_WORKER_SHIFT: u32 = 58;
const LOC_COUNT_SHIFT: u32 = 46;
const LOC_COUNT_MAX: u64 = (1 << 12) - 1;
const LOC_START_MASK: u64 = (1 << LOC_COUNT_SHIFT) - 1;
/// Workers whose edges a locator can name.
pub(crate) const MAX_GRAPH_WORKERS: usize = 64;

/// The graph being recorded: per-slot arrays written by the worker that
/// expands the slot's state (each slot is expanded once).
pub(crate) struct GraphSlots {
    /// `(depth + 1) << 48 | label`; 0: not expanded.
    nodes: Box<[AtomicU64]>,
    /// Where the state's edges are in its worker's lists.
    locs: Box<[AtomicU64]>,
}

impl GraphSlots {
    /// The arrays for a table of `capacity` slots, or an error if the
    /// allocator refuses them (they are counted in `--memory`).
    pub(crate) fn try_new(
        capacity: usize,
        threads: usize,
    ) -> Result<Self, super::table::AllocError> {
        Ok(GraphSlots {
            nodes: super::table::try_zeroed_words(capacity, threads)?,
            locs: super::table::try_zeroed_words(capacity, threads)?,
        })
    }

    pub(crate) fn bytes(&self) -> usize {
        self.nodes.len() * 16
    }

    /// The arrays for a table grown to `capacity` slots, each entry moved
    /// to its key's new slot (`map`, from [`FingerprintTable::grow`]).
    pub(crate) fn grow(
        self,
        map: &[u32],
        capacity: usize,
        threads: usize,
    ) -> Result<Self, super::table::AllocError> {
        let moved = |old: Box<[AtomicU64]>| {
            let new = super::table::try_zeroed_words(capacity, threads)?;
            for (i, word) in old.iter().enumerate() {
                if map[i] != u32::MAX {
                    new[map[i] as usize].store(word.load(Ordering::Relaxed), Ordering::Relaxed);
                }
            }
            Ok(new)
        };
        // One array at a time, so that the old one is freed before the
        // next new one is allocated.
        let nodes = moved(self.nodes)?;
        let locs = moved(self.locs)?;
        Ok(GraphSlots { nodes, locs })
    }

    #[inline]
    pub(crate) fn set_node(&self, slot: u32, depth: usize, label: u64) {
        let depth = (depth as u64 + 1).min(0xff);
        self.nodes[slot as usize].store(
            depth << NODE_LABEL_BITS | (label & LABEL_MASK),
            Ordering::Relaxed,
        );
    }
}

/// Entries of an edge list chunk: 64 Ki `(target, label)` pairs.
const CHUNK: usize = 1 << 16;

/// One chunk of edges: targets and labels side by side (6 bytes an edge; a
/// `(u32, u16)` pair would take 8).
pub(crate) struct Chunk {
    targets: Vec<u32>,
    labels: Vec<EdgeLabel>,
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            targets: Vec::with_capacity(CHUNK),
            labels: Vec::with_capacity(CHUNK),
        }
    }

    fn len(&self) -> usize {
        self.targets.len()
    }

    fn bytes(&self) -> usize {
        self.targets.capacity() * 4 + self.labels.capacity() * std::mem::size_of::<EdgeLabel>()
    }
}

/// A worker's edges: `(target, label)` pairs grouped by source state, in
/// fixed-size chunks (a list that grows never holds an old and a new copy of
/// itself at once, as a doubling `Vec` does at its peak), each group inside
/// one chunk. An entry's index is `chunk * CHUNK + offset`.
#[derive(Default)]
pub(crate) struct WorkerEdges {
    chunks: Vec<Chunk>,
    /// Source of the group being written and where it starts.
    open: Option<(u32, usize)>,
    /// Edges past a locator's count limit: `(source, target, label)`.
    overflow: Vec<(u32, u32, EdgeLabel)>,
}

impl WorkerEdges {
    fn len(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |c| (self.chunks.len() - 1) * CHUNK + c.len())
    }

    /// The open group's entries (`start` is its first index).
    fn group(&self, start: usize) -> (&[u32], &[EdgeLabel]) {
        match self.chunks.last() {
            Some(c) if start < self.len() => {
                (&c.targets[start % CHUNK..], &c.labels[start % CHUNK..])
            }
            _ => (&[], &[]),
        }
    }

    /// Adds the edge `source -> target` (successors of one state arrive
    /// together); a repeated `(target, label)` of the same source is kept
    /// once.
    #[inline]
    pub(crate) fn push(
        &mut self,
        slots: &GraphSlots,
        me: usize,
        source: u32,
        target: u32,
        label: EdgeLabel,
    ) {
        match self.open {
            Some((s, _)) if s == source => {}
            _ => {
                self.close(slots, me);
                self.open = Some((source, self.len()));
            }
        }
        let mut start = self.open.map_or(0, |(_, start)| start);
        let (targets, labels) = self.group(start);
        if (0..targets.len()).any(|i| targets[i] == target && labels[i] == label) {
            return;
        }
        if targets.len() as u64 >= LOC_COUNT_MAX {
            self.overflow.push((source, target, label));
            return;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            // A new chunk; the open group moves into it whole.
            let mut fresh = Chunk::new();
            let len = self.len();
            if let Some(last) = self.chunks.last_mut() {
                if start < len {
                    fresh.targets.extend(last.targets.drain(start % CHUNK..));
                    fresh.labels.extend(last.labels.drain(start % CHUNK..));
                }
            }
            self.chunks.push(fresh);
            start = (self.chunks.len() - 1) * CHUNK;
            self.open = Some((source, start));
        }
        let last = self.chunks.last_mut().expect("a chunk was added");
        last.targets.push(target);
        last.labels.push(label);
    }

    /// Moves every recorded slot (sources and targets) to its slot in a
    /// grown table (`map`, from [`FingerprintTable::grow`]). The edge
    /// groups' places in the chunks do not move, so the locators stay valid.
    pub(crate) fn remap(&mut self, map: &[u32]) {
        for chunk in &mut self.chunks {
            for t in &mut chunk.targets {
                *t = map[*t as usize];
            }
        }
        if let Some((source, _)) = &mut self.open {
            *source = map[*source as usize];
        }
        for (source, target, _) in &mut self.overflow {
            *source = map[*source as usize];
            *target = map[*target as usize];
        }
    }

    /// Publishes the open group's locator.
    pub(crate) fn close(&mut self, slots: &GraphSlots, me: usize) {
        if let Some((source, start)) = self.open.take() {
            let count = (self.len() - start) as u64;
            let loc = (me as u64) << LOC_WORKER_SHIFT | count << LOC_COUNT_SHIFT | start as u64;
            slots.locs[source as usize].store(loc, Ordering::Relaxed);
        }
    }
}

/// The state graph a search recorded: nodes are table slots, and each
/// expanded node has a label and a list of labelled edges (those its hooks
/// asked to keep). No state is kept: a path is turned back into actions by
/// replaying the model ([`StateGraph::path_to`], [`StateGraph::step`]).
pub struct StateGraph {
    /// The search's table: fingerprints and BFS parents.
    pub table: FingerprintTable,
    nodes: Box<[AtomicU64]>,
    locs: Box<[AtomicU64]>,
    /// Each worker's edge chunks ([`WorkerEdges`]).
    edges: Vec<Vec<Chunk>>,
    /// Edges kept outside the locators, sorted by source.
    extra: Vec<(u32, u32, EdgeLabel)>,
}

impl StateGraph {
    pub(crate) fn new(
        table: FingerprintTable,
        slots: GraphSlots,
        workers: Vec<WorkerEdges>,
        mut extra: Vec<(u32, u32, EdgeLabel)>,
    ) -> Self {
        let mut edges = Vec::new();
        for mut w in workers {
            extra.append(&mut w.overflow);
            if let Some(last) = w.chunks.last_mut() {
                last.targets.shrink_to_fit();
                last.labels.shrink_to_fit();
            }
            edges.push(w.chunks);
        }
        extra.sort_unstable();
        // A state refused twice from one source (two actions to it) is
        // retried twice by the leader: one edge.
        extra.dedup();
        StateGraph {
            table,
            nodes: slots.nodes,
            locs: slots.locs,
            edges,
            extra,
        }
    }

    /// Slots (node ids), some of them empty: `0..capacity()`.
    pub fn capacity(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the state in `slot` was expanded (and so has its label and
    /// edges).
    #[inline]
    pub fn expanded(&self, slot: u32) -> bool {
        self.nodes[slot as usize].load(Ordering::Relaxed) != 0
    }

    /// The hooks' label of an expanded state.
    #[inline]
    pub fn label(&self, slot: u32) -> u64 {
        self.nodes[slot as usize].load(Ordering::Relaxed) & LABEL_MASK
    }

    /// BFS depth (0 for an initial state) of an expanded state, saturating
    /// at 254.
    #[inline]
    pub fn depth(&self, slot: u32) -> u32 {
        (self.nodes[slot as usize].load(Ordering::Relaxed) >> NODE_LABEL_BITS) as u32 - 1
    }

    /// The order in which states are preferred (a shortest path first, ties
    /// broken by fingerprint: the same whatever the thread count).
    pub fn order_key(&self, slot: u32) -> (u32, u64) {
        (self.depth(slot), self.table.fingerprint_at(slot))
    }

    /// The kept edges of `slot`: `(target slot, label)`.
    pub fn edges(&self, slot: u32) -> impl Iterator<Item = (u32, EdgeLabel)> + '_ {
        let loc = self.locs[slot as usize].load(Ordering::Relaxed);
        let worker = (loc >> LOC_WORKER_SHIFT) as usize;
        let count = ((loc >> LOC_COUNT_SHIFT) & LOC_COUNT_MAX) as usize;
        let start = (loc & LOC_START_MASK) as usize;
        let (targets, labels): (&[u32], &[EdgeLabel]) = if count == 0 {
            (&[], &[])
        } else {
            let offset = start % CHUNK;
            let c = &self.edges[worker][start / CHUNK];
            (
                &c.targets[offset..offset + count],
                &c.labels[offset..offset + count],
            )
        };
        let from = self.extra.partition_point(|e| e.0 < slot);
        let extra = self.extra[from..]
            .iter()
            .take_while(move |e| e.0 == slot)
            .map(|e| (e.1, e.2));
        targets
            .iter()
            .copied()
            .zip(labels.iter().copied())
            .chain(extra)
    }

    /// Bytes the graph holds beside the table.
    pub fn bytes(&self) -> usize {
        self.nodes.len() * 16
            + self.edges.iter().flatten().map(Chunk::bytes).sum::<usize>()
            + self.extra.capacity() * 12
    }

    /// The initial-state index and actions leading to `slot`, and the state
    /// reached.
    pub fn path_to<M>(
        &self,
        model: &M,
        canonicalize: Option<Canonicalize<'_, M::State>>,
        slot: u32,
    ) -> (usize, Vec<M::Action>, M::State)
    where
        M: Model,
        M::State: Hash + Clone,
        M::Action: Clone,
    {
        let (init, actions) = super::trace::replay(
            model,
            canonicalize,
            &self.table,
            slot,
            super::trace::CANONICAL_LIMIT,
        );
        let mut state = model.init_states().swap_remove(init);
        for a in &actions {
            state = model
                .next_state(&state, a.clone())
                .expect("a replayed path is enabled");
        }
        (init, actions, state)
    }

    /// From `state`, the first action whose (canonical) successor is the
    /// state in slot `target` and that `accept`s, and that successor.
    pub fn step<M>(
        &self,
        model: &M,
        canonicalize: Option<Canonicalize<'_, M::State>>,
        state: &M::State,
        target: u32,
        accept: impl Fn(&M::Action) -> bool,
    ) -> Option<(M::Action, M::State)>
    where
        M: Model,
        M::State: Hash + Clone,
        M::Action: Clone,
    {
        let hasher = Fingerprinter::default();
        let want = self.table.fingerprint_at(target);
        let mut actions = Vec::new();
        model.actions(state, &mut actions);
        actions.into_iter().find_map(|a| {
            if !accept(&a) {
                return None;
            }
            let next = model.next_state(state, a.clone())?;
            if !model.within_boundary(&next) {
                return None;
            }
            let fp = match canonicalize {
                Some(c) => hasher.fingerprint(&c(next.clone())),
                None => hasher.fingerprint(&next),
            };
            (stored_key(fp) == want).then_some((a, next))
        })
    }
}
