//! The native engine: a parallel breadth-first search over any
//! [`stateright::Model`], built for speed on the checker's hot path.
//!
//! stateright's own checkers carry each state's whole path in its queue
//! entry and keep visited states in a sharded, locked map; its BFS gets
//! slower with a second thread. This engine keeps, per visited state, only a
//! 64-bit fingerprint and a 4-byte parent link in a preallocated lock-free
//! table ([`table`]), hands work between threads in blocks of states, and
//! rebuilds a counterexample path only for the few states that need one.
//!
//! # Using it
//!
//! ```
//! use klp_engine::{check, NativeOptions, StopReason};
//! use stateright::{Model, Property};
//!
//! /// Two counters that each go up to 3.
//! struct Pair;
//! impl Model for Pair {
//!     type State = (u8, u8);
//!     type Action = u8;
//!     fn init_states(&self) -> Vec<(u8, u8)> { vec![(0, 0)] }
//!     fn actions(&self, _: &(u8, u8), a: &mut Vec<u8>) { a.extend([0, 1]) }
//!     fn next_state(&self, s: &(u8, u8), a: u8) -> Option<(u8, u8)> {
//!         match a {
//!             0 if s.0 < 3 => Some((s.0 + 1, s.1)),
//!             1 if s.1 < 3 => Some((s.0, s.1 + 1)),
//!             _ => None,
//!         }
//!     }
//!     fn properties(&self) -> Vec<Property<Self>> {
//!         vec![Property::always("sum below 5", |_, s: &(u8, u8)| s.0 + s.1 < 5)]
//!     }
//! }
//!
//! let outcome = check(&Pair, &NativeOptions { threads: 2, ..NativeOptions::default() }, None);
//! assert_eq!(outcome.stop, StopReason::Complete);
//! // States with sum 5 violate every property, so (like stateright) they are
//! // not expanded: (3,3) is never reached.
//! assert_eq!(outcome.unique_states, 15);
//! let cex = outcome.discoveries[0].as_ref().unwrap();
//! assert_eq!(cex.actions.len(), 5); // a shortest path to a sum of 5
//! ```
//!
//! # Semantics (kept identical to stateright's BFS and DFS)
//!
//! - Initial states outside [`Model::within_boundary`] are dropped; a
//!   successor outside it is neither counted nor stored nor checked.
//! - `always` and `sometimes` properties are evaluated on every unique state;
//!   the first discovery per property is kept, at the smallest depth (ties
//!   broken by the smallest fingerprint, so the discovered state does not
//!   depend on the thread count).
//! - A state is *not expanded* when every property has a discovery *in that
//!   state* (every `always` is false there and every `sometimes` true) and
//!   the model has no `eventually` property. stateright does the same (its
//!   "done if discoveries found for all properties" check), so a model with
//!   no properties at all only visits its initial states. Mirroring it keeps
//!   unique-state counts equal across engines.
//! - `eventually` properties are not checked (they need per-path bits that
//!   a fingerprint set does not keep); [`NativeOutcome::unchecked`] lists
//!   them and their discovery is always `None`, which a report must show as
//!   "unknown", never as "holds".
//! - The search never stops early because every property has a discovery:
//!   it explores the whole reachable space unless a bound ends it.
//!
//! # Symmetry
//!
//! With [`NativeOptions::symmetry`] and a `canonicalize` function, each
//! successor is replaced by its canonical representative *before*
//! fingerprinting, and the representative is what gets checked and expanded.
//! If `canonicalize` is a true canonical form (equal for exactly the states
//! of one symmetry class), the unique count is the number of reachable
//! classes, the same for every thread count and run. Properties must be
//! symmetric for the verdicts to be meaningful.
//!
//! # Debugging failures
//!
//! A [`Discovery`] is a list of actions from `model.init_states()[init_index]`;
//! apply them with `Model::next_state` to reproduce the state. The path is a
//! shortest one in the explored graph. If rebuilding it panics with
//! "could not replay", the model's `actions`/`next_state` are not
//! deterministic functions of the state (or, with symmetry, the model is not
//! symmetric under the canonicaliser).

pub mod fingerprint;
pub mod hooks;
mod search;
pub mod store;
pub mod table;
mod trace;

use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stateright::{Expectation, Model};

pub use fingerprint::{collision_probability, Fingerprinter};
pub use hooks::{Hooks, NoHooks, StateGraph};
pub use store::{Store, Whole};
pub use table::{FingerprintTable, Insert};

/// Table budget used when [`NativeOptions::memory_bytes`] is `None`:
/// 16 M slots (192 MiB), room for 15 M states.
pub const DEFAULT_MEMORY_BYTES: usize = 256 << 20;

/// A symmetry canonicaliser: turns a state into the representative of its
/// class (`&(dyn Fn(S) -> S + Sync)`; a plain `fn` or a closure works). It
/// takes the state by value: the search's successors are its own, so a
/// canonicaliser that sorts in place costs no copy of the state.
pub type Canonicalize<'a, S> = &'a (dyn Fn(S) -> S + Sync);

/// How to run the native engine.
#[derive(Clone, Debug)]
pub struct NativeOptions {
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
    /// Whether to apply the `canonicalize` function given to [`check`]
    /// (ignored when none is given).
    pub symmetry: bool,
    /// Stop after this many unique states (an exact bound: the table
    /// refuses the next new state).
    pub max_states: Option<u64>,
    /// Stop after this much time (checked after every block of states).
    pub timeout: Option<Duration>,
    /// Memory for the fingerprint table and parent links together, 12
    /// bytes per slot, rounded down to a power-of-two slot count. `None`
    /// means [`DEFAULT_MEMORY_BYTES`].
    pub memory_bytes: Option<usize>,
    /// Memory the table may grow to, in the same measure. A table that
    /// fills (at the 0.9 load limit) is doubled in place, between two
    /// rounds of a BFS level: every 64-bit fingerprint is stored, so the
    /// rehash is exact and the search goes on where it was, with the same
    /// states, parent links and answers as a table big enough from the
    /// start. `None` (or no more than `memory_bytes`) means the table stays
    /// at its first size and a full one ends the search
    /// ([`StopReason::TableFull`]).
    pub max_memory_bytes: Option<usize>,
    /// Counters the search updates after every BFS level, for a progress
    /// display that reads them from another thread.
    pub live: Option<Arc<LiveCounters>>,
    /// States a one-thread re-search may visit to give a discovery the
    /// path that a BFS in the model's action order finds first (the most
    /// readable of the shortest ones). Past it, the recorded parent links
    /// are used as they are: they are deterministic too (each state keeps
    /// the smallest-fingerprint predecessor of the previous level), only
    /// not in action order. Default [`trace::CANONICAL_LIMIT`].
    pub canonical_limit: usize,
    /// A flag that, once set (a signal handler may set it), stops the
    /// search at the next block of states: [`StopReason::Interrupted`].
    pub interrupt: Option<&'static AtomicBool>,
}

/// What a running search has done so far (updated after every level).
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Unique states stored.
    pub unique_states: AtomicU64,
    /// Levels finished.
    pub depth: AtomicU64,
    /// States waiting in the next level.
    pub frontier: AtomicU64,
}

impl Default for NativeOptions {
    fn default() -> Self {
        Self {
            threads: 0,
            symmetry: true,
            max_states: None,
            timeout: None,
            memory_bytes: None,
            max_memory_bytes: None,
            live: None,
            canonical_limit: trace::CANONICAL_LIMIT,
            interrupt: None,
        }
    }
}

impl NativeOptions {
    /// The table budget ([`NativeOptions::memory_bytes`]) for a run expected
    /// to store `states` unique states: the smallest power-of-two table that
    /// keeps them under the 0.9 load limit, 13.3 to 26.7 bytes per state.
    pub fn memory_for_states(states: u64) -> usize {
        FingerprintTable::bytes_for_capacity(FingerprintTable::capacity_for_states(states))
    }
}

/// Why the search ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Every reachable state (within the boundary) was explored.
    Complete,
    /// [`NativeOptions::max_states`] unique states were reached.
    MaxStates,
    /// [`NativeOptions::timeout`] passed.
    Timeout,
    /// The table reached its load limit with `states` unique states;
    /// `suggested_memory_bytes` (four times the table) is a budget to rerun
    /// with.
    TableFull {
        states: u64,
        suggested_memory_bytes: usize,
    },
    /// The table's `bytes` could not be allocated: nothing was searched.
    NoMemory { bytes: usize },
    /// The caller's interrupt flag stopped the search
    /// ([`NativeOptions::interrupt`]: klpcheck sets it on Ctrl-C or SIGTERM).
    Interrupted,
}

impl fmt::Display for StopReason {
    /// One line for reports: `complete`, or `incomplete: <why>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Complete => write!(f, "complete"),
            StopReason::MaxStates => write!(f, "incomplete: state bound reached"),
            StopReason::Timeout => write!(f, "incomplete: timeout"),
            StopReason::TableFull {
                states,
                suggested_memory_bytes,
            } => write!(
                f,
                "incomplete: table full ({states} states); rerun with --memory {}MiB",
                suggested_memory_bytes.div_ceil(1 << 20)
            ),
            StopReason::Interrupted => write!(f, "incomplete: interrupted"),
            StopReason::NoMemory { bytes } => write!(
                f,
                "incomplete: cannot allocate {} MiB for the fingerprint table; rerun with a smaller --memory",
                bytes.div_ceil(1 << 20)
            ),
        }
    }
}

/// A property's first discovery: a counterexample of an `always`
/// property or an example of a `sometimes` property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery<A> {
    /// Index into `model.properties()`.
    pub property_index: usize,
    /// The actions leading from the initial state to the discovered state
    /// (empty if the initial state itself is the discovery).
    pub actions: Vec<A>,
    /// Index into `model.init_states()` of the path's first state.
    pub init_index: usize,
}

/// What a run found and what it cost.
#[derive(Clone, Debug)]
pub struct NativeOutcome<A> {
    /// Why the search ended.
    pub stop: StopReason,
    /// `stop == StopReason::Complete`.
    pub complete: bool,
    /// States generated: initial states within the boundary plus every
    /// successor within the boundary, duplicates included (stateright's
    /// `state_count`).
    pub states: u64,
    /// Distinct (canonical) states stored.
    pub unique_states: u64,
    /// Number of BFS levels with an expanded or checked state (an initial
    /// state has depth 1, as in stateright).
    pub max_depth: usize,
    /// Wall-clock time of the whole run, table allocation included.
    pub seconds: f64,
    /// One entry per `model.properties()`; `None` for "no discovery", and
    /// always `None` for the properties listed in `unchecked`.
    pub discoveries: Vec<Option<Discovery<A>>>,
    /// Indices of properties this engine does not check (`eventually`):
    /// their verdict is unknown.
    pub unchecked: Vec<usize>,
    /// Bytes of the fingerprint table and parent links, the two level
    /// bitmaps (a quarter byte per slot) and, with a graph, its arrays.
    pub table_bytes: usize,
    /// [`collision_probability`] of `unique_states`.
    pub collision_probability: f64,
    /// Times the table was doubled in place
    /// ([`NativeOptions::max_memory_bytes`]).
    pub table_growths: u32,
}

/// Explores every state of `model` reachable within its boundary, checking
/// its `always` and `sometimes` properties, with `opts.threads` threads.
///
/// `canonicalize` (used only if `opts.symmetry`) maps a state to the
/// representative of its symmetry class. See the module docs for the exact
/// semantics and [`StopReason`] for the bounds.
///
/// Panics if the model panics (the panic is re-raised after all workers have
/// stopped) or if a discovery's path cannot be replayed because the model is
/// not deterministic.
pub fn check<M>(
    model: &M,
    opts: &NativeOptions,
    canonicalize: Option<Canonicalize<'_, M::State>>,
) -> NativeOutcome<M::Action>
where
    M: Model + Sync,
    M::State: Hash + Clone + Send,
{
    check_with(model, opts, canonicalize, &NoHooks).outcome
}

/// What [`check_with`] hands back: the outcome, each worker's hook
/// accumulator and, when the hooks record one, the state graph (which owns
/// the search's table).
pub struct HookedOutcome<A, L> {
    pub outcome: NativeOutcome<A>,
    pub locals: Vec<L>,
    pub graph: Option<StateGraph>,
}

/// [`check`] with [`Hooks`] that see every action of every expanded state
/// and may record the state graph, in the same search.
pub fn check_with<M, H>(
    model: &M,
    opts: &NativeOptions,
    canonicalize: Option<Canonicalize<'_, M::State>>,
    hooks: &H,
) -> HookedOutcome<M::Action, H::Local>
where
    M: Model + Sync,
    M::State: Hash + Clone + Send,
    H: Hooks<M>,
{
    check_stored(model, opts, canonicalize, hooks, &Whole)
}

/// [`check_with`] keeping the waiting states in the form `store` makes
/// (see [`store`]): the same search, the same states and answers.
pub fn check_stored<M, H, P>(
    model: &M,
    opts: &NativeOptions,
    canonicalize: Option<Canonicalize<'_, M::State>>,
    hooks: &H,
    store: &P,
) -> HookedOutcome<M::Action, H::Local>
where
    M: Model + Sync,
    M::State: Hash + Clone + Send,
    H: Hooks<M>,
    P: Store<M::State>,
{
    let started = Instant::now();
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let threads = if H::GRAPH {
        threads.min(hooks::MAX_GRAPH_WORKERS)
    } else {
        threads
    };
    let canonicalize = if opts.symmetry { canonicalize } else { None };
    let capacity =
        FingerprintTable::capacity_for_memory(opts.memory_bytes.unwrap_or(DEFAULT_MEMORY_BYTES));
    // Every array of the search is allocated fallibly: a budget the
    // system cannot give ends the check with "no memory", not an abort.
    let no_memory = |bytes: usize| {
        let properties = model.properties();
        let outcome = NativeOutcome {
            stop: StopReason::NoMemory { bytes },
            complete: false,
            states: 0,
            unique_states: 0,
            max_depth: 0,
            seconds: started.elapsed().as_secs_f64(),
            discoveries: properties.iter().map(|_| None).collect(),
            unchecked: properties
                .iter()
                .enumerate()
                .filter(|(_, p)| p.expectation == Expectation::Eventually)
                .map(|(i, _)| i)
                .collect(),
            table_bytes: 0,
            collision_probability: 0.0,
            table_growths: 0,
        };
        HookedOutcome {
            outcome,
            locals: Vec::new(),
            graph: None,
        }
    };
    let max_capacity = opts
        .max_memory_bytes
        .map_or(0, FingerprintTable::capacity_for_memory);
    let mut table = match FingerprintTable::try_with_capacity(capacity, threads) {
        Ok(t) => t,
        Err(_) => return no_memory(FingerprintTable::bytes_for_capacity(capacity)),
    };
    let slots = if H::GRAPH {
        match hooks::GraphSlots::try_new(table.capacity(), threads) {
            Ok(s) => Some(s),
            Err(e) => return no_memory(e.bytes),
        }
    } else {
        None
    };
    let members = match search::LevelMembers::try_new(table.capacity(), threads) {
        Ok(m) => m,
        Err(e) => return no_memory(e.bytes),
    };
    if let Some(bound) = opts.max_states {
        table = table.with_entry_bound(bound);
    }
    let deadline = opts.timeout.map(|t| started + t);

    let properties = model.properties();
    let unchecked: Vec<usize> = properties
        .iter()
        .enumerate()
        .filter(|(_, p)| p.expectation == Expectation::Eventually)
        .map(|(i, _)| i)
        .collect();

    let slots = search::Slots {
        table,
        members,
        graph: slots,
    };
    let (raw, slots) = search::run(
        model,
        hooks,
        store,
        &properties,
        canonicalize,
        slots,
        max_capacity,
        threads,
        deadline,
        opts.interrupt,
        opts.live.as_deref(),
    );
    let table_bytes = slots.bytes();
    let search::Slots {
        table,
        graph: slots,
        ..
    } = slots;

    let unique_states = table.len();
    let stop = match raw.stop {
        search::Stop::Complete => StopReason::Complete,
        search::Stop::Timeout => StopReason::Timeout,
        search::Stop::Interrupted => StopReason::Interrupted,
        search::Stop::Full if table.bound_reached() => StopReason::MaxStates,
        search::Stop::Full => StopReason::TableFull {
            states: unique_states,
            suggested_memory_bytes: table.bytes().saturating_mul(4),
        },
    };
    let discoveries = raw
        .found
        .iter()
        .enumerate()
        .map(|(property_index, found)| {
            found.map(|f| {
                let (init_index, actions) =
                    trace::replay(model, canonicalize, &table, f.slot, opts.canonical_limit);
                Discovery {
                    property_index,
                    actions,
                    init_index,
                }
            })
        })
        .collect();

    let outcome = NativeOutcome {
        complete: stop == StopReason::Complete,
        stop,
        states: raw.states,
        unique_states,
        max_depth: raw.max_depth,
        seconds: started.elapsed().as_secs_f64(),
        discoveries,
        unchecked,
        table_bytes,
        collision_probability: collision_probability(unique_states),
        table_growths: raw.growths,
    };
    let graph = slots.map(|slots| StateGraph::new(table, slots, raw.edges, raw.extra_edges));
    HookedOutcome {
        outcome,
        locals: raw.locals,
        graph,
    }
}
