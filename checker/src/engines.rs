//! Running a search engine on a model and collecting what every engine
//! reports the same way.

use std::time::{Duration, Instant};

use klp_model::{Action, KlpModel};
use stateright::{Checker, HasDiscoveries, Model};

/// Which search runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// klpcheck's own parallel BFS over a lock-free fingerprint table.
    #[value(name = "native")]
    Native,
    /// stateright's breadth-first checker.
    #[value(name = "stateright-bfs")]
    StaterightBfs,
    /// stateright's depth-first checker.
    #[value(name = "stateright-dfs")]
    StaterightDfs,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Native => "native",
            EngineKind::StaterightBfs => "stateright-bfs",
            EngineKind::StaterightDfs => "stateright-dfs",
        }
    }
}

/// Search bounds.
#[derive(Debug, Clone, Default)]
pub struct Bounds {
    pub threads: usize,
    pub max_states: Option<u64>,
    pub timeout: Option<Duration>,
    pub symmetry: bool,
    /// The native engine's table budget (`--memory`); `None`: start small
    /// and grow the table when it fills.
    pub memory: Option<usize>,
    /// The native engine's first table (bytes of keys and parent links)
    /// when `memory` is `None`; `None`: the pinned count's size or
    /// [`NATIVE_FIRST_TABLE`]. Not a command-line option: the tests set it
    /// tiny to make every search grow its table many times.
    pub first_table: Option<usize>,
    /// Skip the liveness search (`--no-liveness`): `eventually` properties
    /// are then reported as unknown.
    pub no_liveness: bool,
    /// When the whole command must end (`--timeout` from the start of the
    /// command): every search and pass stops there. `None`: `timeout`
    /// counts from the start of each search.
    pub deadline: Option<Instant>,
}

impl Bounds {
    /// The time left for a search or pass starting now.
    pub fn remaining(&self) -> Option<Duration> {
        match self.deadline {
            Some(d) => Some(d.saturating_duration_since(Instant::now())),
            None => self.timeout,
        }
    }

    /// The instant a search or pass starting now must stop.
    pub fn stop_at(&self) -> Option<Instant> {
        self.deadline
            .or_else(|| self.timeout.map(|t| Instant::now() + t))
    }

    /// `--timeout 5s`, for messages.
    pub fn timeout_text(&self) -> String {
        self.timeout
            .map(|t| humantime::format_duration(t).to_string())
            .unwrap_or_default()
    }
}

/// What an engine found, engine-independent.
pub struct Outcome {
    pub complete: bool,
    pub incomplete_reason: Option<String>,
    pub states: u64,
    pub unique_states: u64,
    pub max_depth: u64,
    pub seconds: f64,
    /// Per property (indexed like `model.properties()`): the path of actions
    /// from boot to the discovery (a counterexample for `always`, an example
    /// for `sometimes`).
    pub discoveries: Vec<Option<Vec<Action>>>,
}

/// Runs the chosen engine, calling `progress` about five times a second
/// while it runs.
pub fn run_with_progress(
    model: &KlpModel,
    kind: EngineKind,
    bounds: &Bounds,
    progress: &mut dyn FnMut(&Snapshot),
) -> Outcome {
    match kind {
        EngineKind::Native => {
            run_native_hooked(
                model,
                bounds,
                &crate::engine::NoHooks,
                "search",
                None,
                progress,
            )
            .outcome
        }
        _ => run_stateright_with_progress(model, kind, bounds, progress),
    }
}

/// What [`run_all`] is asked for besides the search.
#[derive(Debug, Clone, Copy)]
pub struct Passes {
    /// Count actions ([`crate::coverage`]).
    pub coverage: bool,
    /// Check the liveness properties ([`crate::liveness`]).
    pub liveness: bool,
}

/// The search and the passes, each answered once.
pub struct AllResults {
    pub outcome: Outcome,
    pub coverage: Option<crate::coverage::CoverageCounts>,
    /// `None` when liveness was not asked for.
    pub liveness: Option<Vec<crate::liveness::LivenessResult>>,
}

/// Runs the search with coverage and liveness inside it where it can: the
/// native engine counts actions in its own search, and records the state
/// graph for liveness in the same search: the full graph without symmetry
/// reduction, the annotated quotient with it (which decides "holds"; a
/// possible violation takes a second search of the full graph for its
/// lasso, as does a scenario whose fairness names tasks);
/// with a stateright engine, coverage and liveness take one native search
/// (with the search's symmetry setting for coverage, none for liveness:
/// two when they differ).
pub fn run_all(
    model: &KlpModel,
    kind: EngineKind,
    bounds: &Bounds,
    passes: Passes,
    progress: &mut dyn FnMut(&Snapshot),
) -> AllResults {
    use crate::liveness::{from_graph, from_graph_missing, KlpHooks};
    let coverage_of = |run: &NativeRun<crate::liveness::KlpLocal>| {
        crate::coverage::CoverageCounts::merge(
            model,
            run.outcome.complete,
            run.outcome.unique_states,
            run.locals.iter().map(|l| &l.coverage),
        )
    };
    let liveness_of = |run: &NativeRun<crate::liveness::KlpLocal>| match &run.graph {
        Some(g) => from_graph(model, g, run.graph_complete()),
        None => from_graph_missing(run.graph_complete()),
    };
    match kind {
        EngineKind::Native if passes.liveness && !bounds.symmetry => {
            let hooks = KlpHooks::<true>::new(model, passes.coverage);
            let run = run_native_hooked(model, bounds, &hooks, "search", None, progress);
            AllResults {
                coverage: passes.coverage.then(|| coverage_of(&run)),
                liveness: Some(liveness_of(&run)),
                outcome: run.outcome,
            }
        }
        EngineKind::Native
            if passes.liveness && bounds.symmetry && crate::liveness::quotient_applies(model) =>
        {
            // One search: the quotient graph decides liveness when every
            // obligation holds; else the full graph gives the verdict and
            // a concrete lasso (a second search, as without the quotient).
            let hooks = KlpHooks::<true>::symmetric(model, passes.coverage);
            let run = run_native_hooked(model, bounds, &hooks, "search", None, progress);
            let liveness = run
                .graph
                .as_ref()
                .and_then(|g| {
                    crate::liveness::quotient_verdicts(model, &hooks, g, run.graph_complete())
                })
                .unwrap_or_else(|| crate::liveness::full_liveness(model, bounds, progress));
            AllResults {
                coverage: passes.coverage.then(|| coverage_of(&run)),
                liveness: Some(liveness),
                outcome: run.outcome,
            }
        }
        EngineKind::Native => {
            let (outcome, coverage) = if passes.coverage {
                let hooks = KlpHooks::<false>::new(model, true);
                let run = run_native_hooked(model, bounds, &hooks, "search", None, progress);
                let c = coverage_of(&run);
                (run.outcome, Some(c))
            } else {
                (run_with_progress(model, kind, bounds, progress), None)
            };
            let liveness = passes
                .liveness
                .then(|| crate::liveness::check_liveness(model, bounds, progress));
            AllResults {
                outcome,
                coverage,
                liveness,
            }
        }
        _ => {
            let outcome = run_stateright_with_progress(model, kind, bounds, progress);
            let mut coverage = None;
            let mut liveness = None;
            if passes.liveness && (!bounds.symmetry || !passes.coverage) {
                let mut b = bounds.clone();
                b.symmetry = false;
                let hooks = KlpHooks::<true>::new(model, passes.coverage);
                let run = run_native_hooked(model, &b, &hooks, "liveness", None, progress);
                liveness = Some(liveness_of(&run));
                coverage = passes.coverage.then(|| coverage_of(&run));
            } else {
                if passes.coverage {
                    let hooks = KlpHooks::<false>::new(model, true);
                    let run = run_native_hooked(model, bounds, &hooks, "coverage", None, progress);
                    coverage = Some(coverage_of(&run));
                }
                if passes.liveness {
                    liveness = Some(crate::liveness::check_liveness(model, bounds, progress));
                }
            }
            AllResults {
                outcome,
                coverage,
                liveness,
            }
        }
    }
}

/// Runs the chosen engine.
pub fn run(model: &KlpModel, kind: EngineKind, bounds: &Bounds) -> Outcome {
    match kind {
        EngineKind::Native => run_native(model, bounds),
        _ => run_stateright(model, kind, bounds),
    }
}

/// The first table the native engine makes when no `--memory` is given
/// and the scenario pins no count (about 118,000 states); it doubles in
/// place while it fills up, so a small first table costs a few cheap
/// rehashes, never a restart.
const NATIVE_FIRST_TABLE: usize = 3 << 19;

/// The largest first table a pinned count may ask for (a wrong pin must not
/// make the first allocation fail).
const PINNED_FIRST_TABLE_MAX: usize = 1 << 30;

/// The smallest first table a pinned count gets (a pin too small for the
/// scenario as edited costs a few doublings in place).
const PINNED_FIRST_TABLE_MIN: usize = 1 << 20;

/// The first table without `--memory`: [`NATIVE_FIRST_TABLE`], or, for a
/// scenario with a pinned unique-state count (the symmetry pin with
/// symmetry, else the plain one, which bounds both), the table that holds
/// that count: a pinned scenario's table never grows, and a small one does
/// not pay for more table (and liveness graph slots) than it needs.
fn first_table(model: &KlpModel, symmetry: bool) -> usize {
    let sc = &model.sc;
    let pin = if symmetry {
        sc.expected_unique_states_symmetry
            .or(sc.expected_unique_states)
    } else {
        sc.expected_unique_states
    };
    match pin {
        Some(n) => crate::engine::NativeOptions::memory_for_states(n)
            .clamp(PINNED_FIRST_TABLE_MIN, PINNED_FIRST_TABLE_MAX),
        None => NATIVE_FIRST_TABLE,
    }
}
/// Where growing stops.
const NATIVE_MAX_TABLE: usize = 6 << 30;

/// Runs the native engine; without `--memory`, a full table is doubled in
/// place (exact: every fingerprint is stored) up to [`NATIVE_MAX_TABLE`].
pub fn run_native(model: &KlpModel, bounds: &Bounds) -> Outcome {
    run_native_hooked(
        model,
        bounds,
        &crate::engine::NoHooks,
        "search",
        None,
        &mut |_| {},
    )
    .outcome
}

/// A native search with hooks: its outcome, the hooks' accumulators and
/// the recorded graph (if the hooks record one).
pub struct NativeRun<L> {
    pub outcome: Outcome,
    pub locals: Vec<L>,
    pub graph: Option<crate::engine::StateGraph>,
}

impl<L> NativeRun<L> {
    /// Whether the graph covers every reachable state, else why not.
    pub fn graph_complete(&self) -> Result<(), String> {
        match (&self.outcome.incomplete_reason, self.outcome.complete) {
            (_, true) => Ok(()),
            (Some(why), false) => Err(why.clone()),
            (None, false) => Err("the search is incomplete".to_string()),
        }
    }
}

/// Table memory per slot with a recorded graph: the table's 12 bytes and
/// the graph's 16 (edges come on top).
const GRAPH_BYTES_PER_SLOT: usize = 28;

/// Runs the native engine with `hooks`, showing `phase` in the progress
/// snapshots (about ten a second).
pub fn run_native_hooked<H>(
    model: &KlpModel,
    bounds: &Bounds,
    hooks: &H,
    phase: &'static str,
    live: Option<std::sync::Arc<crate::engine::LiveCounters>>,
    progress: &mut dyn FnMut(&Snapshot),
) -> NativeRun<H::Local>
where
    H: crate::engine::Hooks<KlpModel>,
{
    let live = live.unwrap_or_default();
    let start = Instant::now();
    let run = std::thread::scope(|s| {
        // The search says when it ends, so a small search costs no polling
        // period (the progress callback still runs every 100 ms).
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let search_live = live.clone();
        let search = s.spawn(move || {
            let run = native_loop(model, bounds, hooks, search_live);
            let _ = done_tx.send(());
            run
        });
        loop {
            use std::sync::atomic::Ordering::Relaxed;
            progress(&Snapshot {
                phase,
                states: 0,
                unique_states: live.unique_states.load(Relaxed),
                max_depth: live.depth.load(Relaxed),
                seconds: start.elapsed().as_secs_f64(),
                queue: Some(live.frontier.load(Relaxed)),
            });
            match done_rx.recv_timeout(Duration::from_millis(100)) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                // Done, or the search thread panicked (join re-raises it).
                _ => break,
            }
        }
        search
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    });
    let o = &run.outcome;
    progress(&Snapshot {
        phase,
        states: o.states,
        unique_states: o.unique_states,
        max_depth: o.max_depth,
        seconds: o.seconds,
        queue: None,
    });
    run
}

fn native_loop<H>(
    model: &KlpModel,
    bounds: &Bounds,
    hooks: &H,
    live: std::sync::Arc<crate::engine::LiveCounters>,
) -> NativeRun<H::Local>
where
    H: crate::engine::Hooks<KlpModel>,
{
    let canon = klp_model::State::into_canonical;
    let start = Instant::now();
    let budget = bounds.remaining();
    let graph_share = |m: usize| {
        if H::GRAPH {
            m / GRAPH_BYTES_PER_SLOT * crate::engine::table::BYTES_PER_SLOT
        } else {
            m
        }
    };
    // Without --memory the table starts small (or at the pinned count's
    // size) and doubles in place as it fills, up to NATIVE_MAX_TABLE; with
    // --memory it is that size and a full one ends the search.
    let memory = bounds.memory.map_or_else(
        || {
            bounds
                .first_table
                .unwrap_or_else(|| first_table(model, bounds.symmetry))
        },
        graph_share,
    );
    let opts = crate::engine::NativeOptions {
        threads: bounds.threads,
        symmetry: bounds.symmetry,
        max_states: bounds.max_states,
        timeout: budget,
        memory_bytes: Some(memory),
        max_memory_bytes: bounds.memory.is_none().then_some(NATIVE_MAX_TABLE),
        live: Some(live.clone()),
        interrupt: Some(&crate::interrupt::INTERRUPTED),
        ..Default::default()
    };
    let hooked = crate::engine::check_stored(model, &opts, Some(&canon), hooks, &Packed);
    let o = hooked.outcome;
    let complete = o.complete;
    let outcome = Outcome {
        complete,
        incomplete_reason: (!complete).then(|| match o.stop {
            crate::engine::StopReason::Timeout => {
                format!("--timeout {} reached", bounds.timeout_text())
            }
            crate::engine::StopReason::MaxStates => {
                format!("--max-states {} reached", bounds.max_states.unwrap_or(0))
            }
            ref stop => stop
                .to_string()
                .trim_start_matches("incomplete: ")
                .to_string(),
        }),
        states: o.states,
        unique_states: o.unique_states,
        max_depth: o.max_depth as u64,
        seconds: start.elapsed().as_secs_f64(),
        discoveries: o
            .discoveries
            .into_iter()
            .map(|d| d.map(|d| d.actions))
            .collect(),
    };
    NativeRun {
        outcome,
        locals: hooked.locals,
        graph: hooked.graph,
    }
}

/// A snapshot of a running search or pass, for progress lines.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// `search`, `liveness` or `coverage`.
    pub phase: &'static str,
    /// States generated (0: the engine does not say while it runs).
    pub states: u64,
    pub unique_states: u64,
    pub max_depth: u64,
    pub seconds: f64,
    /// States waiting to be explored, when the engine knows.
    pub queue: Option<u64>,
}

/// Runs stateright's BFS or DFS checker over the whole reachable space (it
/// never stops early on discoveries, so state counts are comparable).
pub fn run_stateright(model: &KlpModel, kind: EngineKind, bounds: &Bounds) -> Outcome {
    run_stateright_with_progress(model, kind, bounds, &mut |_| {})
}

/// The same, calling `progress` about five times a second while it runs.
pub fn run_stateright_with_progress(
    model: &KlpModel,
    kind: EngineKind,
    bounds: &Bounds,
    progress: &mut dyn FnMut(&Snapshot),
) -> Outcome {
    let props = model.properties();
    let start = Instant::now();
    let budget = bounds.remaining();
    let mut builder = model
        .clone()
        .checker()
        .threads(bounds.threads.max(1))
        .finish_when(HasDiscoveries::AnyOf(Default::default()));
    if let Some(n) = bounds.max_states {
        builder = builder.target_state_count(n as usize);
    }
    if let Some(t) = budget {
        builder = builder.timeout(t);
    }
    if bounds.symmetry && kind == EngineKind::StaterightDfs {
        builder = builder.symmetry();
    }
    let (states, unique, depth, found) = match kind {
        EngineKind::StaterightDfs => collect(watch(builder.spawn_dfs(), start, progress), &props),
        _ => collect(watch(builder.spawn_bfs(), start, progress), &props),
    };
    let seconds = start.elapsed().as_secs_f64();
    let timed_out = budget.is_some_and(|t| start.elapsed() >= t);
    let hit_max = bounds.max_states.is_some_and(|n| states >= n);
    let incomplete_reason = if crate::interrupt::requested() {
        Some("interrupted".to_string())
    } else if hit_max {
        Some(format!(
            "--max-states {} reached",
            bounds.max_states.unwrap_or(0)
        ))
    } else if timed_out {
        Some(format!("--timeout {} reached", bounds.timeout_text()))
    } else {
        None
    };
    Outcome {
        complete: incomplete_reason.is_none(),
        incomplete_reason,
        states,
        unique_states: unique,
        max_depth: depth,
        seconds,
        discoveries: found,
    }
}

/// Polls a running checker until it is done.
fn watch<C: Checker<KlpModel>>(
    checker: C,
    start: Instant,
    progress: &mut dyn FnMut(&Snapshot),
) -> C {
    let mut poll = Duration::from_millis(1);
    while !checker.is_done() {
        if crate::interrupt::requested() {
            // stateright's checkers cannot be stopped: report what they
            // have and leave their threads to the process exit.
            return checker;
        }
        progress(&Snapshot {
            phase: "search",
            states: checker.state_count() as u64,
            unique_states: checker.unique_state_count() as u64,
            max_depth: checker.max_depth() as u64,
            seconds: start.elapsed().as_secs_f64(),
            queue: None,
        });
        // Back off from 1 ms to 200 ms: small searches end without waiting
        // out a whole polling period.
        std::thread::sleep(poll);
        poll = (poll * 2).min(Duration::from_millis(200));
    }
    checker.join()
}

type Collected = (u64, u64, u64, Vec<Option<Vec<Action>>>);

fn collect<C: Checker<KlpModel>>(
    checker: C,
    props: &[stateright::Property<KlpModel>],
) -> Collected {
    let found = props
        .iter()
        .map(|p| checker.discovery(p.name).map(|path| path.into_actions()))
        .collect();
    (
        checker.state_count() as u64,
        checker.unique_state_count() as u64,
        checker.max_depth() as u64,
        found,
    )
}

/// The native engine keeps the states waiting in its batches and frontier
/// packed (`klp_model::packed`: ~60 bytes for the bench's ~800-byte state);
/// a packed state hashes as the state, so the search is the same.
struct Packed;

impl crate::engine::Store<klp_model::State> for Packed {
    type Item = klp_model::packed::PackedState;
    #[inline]
    fn store(&self, state: klp_model::State) -> Self::Item {
        klp_model::packed::PackedState::pack(&state)
    }
    #[inline]
    fn load(&self, item: Self::Item) -> klp_model::State {
        item.unpack()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_table_fits_the_pinned_count_within_bounds() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let l = crate::load::load(&root.join("specs/bench/bench-replace-3tasks.json")).unwrap();
        let mut sc = l.scenario;
        let table =
            |sc: &klp_model::Scenario, symmetry| first_table(&KlpModel::new(sc.clone()), symmetry);
        sc.expected_unique_states = None;
        sc.expected_unique_states_symmetry = None;
        assert_eq!(table(&sc, false), NATIVE_FIRST_TABLE);
        // 6 M states at the 0.9 load limit need 2^23 slots of 12 bytes.
        sc.expected_unique_states = Some(6_000_000);
        assert_eq!(table(&sc, false), (1 << 23) * 12);
        assert_eq!(table(&sc, true), (1 << 23) * 12);
        // With symmetry the symmetry pin decides; never below the minimum.
        sc.expected_unique_states_symmetry = Some(10);
        assert_eq!(table(&sc, true), PINNED_FIRST_TABLE_MIN);
        sc.expected_unique_states_symmetry = Some(291_589);
        assert_eq!(table(&sc, true), (1 << 19) * 12);
        // A wrong, huge pin cannot ask for more than the cap.
        sc.expected_unique_states = Some(u64::MAX / 2);
        assert_eq!(table(&sc, false), PINNED_FIRST_TABLE_MAX);
    }
}
