//! The native engine against stateright's own checkers on stand-in models:
//! same unique-state counts, same verdicts, shortest replayable paths,
//! symmetry that does not depend on the thread count, and clean stops.

mod engine_common;

use std::time::Duration;

use engine_common::graph::{Graph, NO_CHANGE};
use engine_common::two_phase::{self, TwoPhase};
use engine_common::two_phase_packed::{self, TwoPhasePacked};
use engine_common::walk::{Props, Walk};
use engine_common::*;
use klp_checker::engine::{check, FingerprintTable, NativeOptions, StopReason};
use proptest::prelude::*;
use stateright::Model;

/// Asserts that the native engine (at several thread counts) and
/// stateright's BFS and DFS agree on unique states, generated states and
/// which properties have a discovery.
fn assert_agrees_with_stateright<M>(model: M)
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: std::hash::Hash + Send + Sync + Clone + PartialEq + std::fmt::Debug + 'static,
    M::Action: Clone + PartialEq + std::fmt::Debug,
{
    let bfs = reference(model.clone(), Engine::Bfs, 1, None);
    let dfs = reference(model.clone(), Engine::Dfs, 1, None);
    assert_eq!(
        bfs.unique_states, dfs.unique_states,
        "stateright bfs vs dfs"
    );
    for threads in [1, 2, 4] {
        let out = native(&model, threads);
        assert_eq!(out.stop, StopReason::Complete);
        assert_eq!(
            out.unique_states, bfs.unique_states,
            "unique, {threads} threads"
        );
        assert_eq!(out.states, bfs.states, "generated, {threads} threads");
        assert_eq!(out.max_depth, bfs.max_depth, "depth, {threads} threads");
        assert_eq!(
            out.states, dfs.states,
            "generated vs dfs, {threads} threads"
        );
        assert_eq!(discovered(&model, &out), discovered_checked(&model, &bfs));
        assert_eq!(discovered(&model, &out), discovered_checked(&model, &dfs));
        assert_discoveries_replay(&model, &out);
        // BFS from one thread is a FIFO search, so its paths are shortest
        // too; ours must never be longer.
        for (d, p) in out.discoveries.iter().zip(model.properties()) {
            if let Some(d) = d {
                assert!(
                    d.actions.len() <= bfs.discoveries[p.name],
                    "{} path",
                    p.name
                );
            }
        }
    }
}

#[test]
fn two_phase_commit_counts_match_stateright_pins() {
    assert_eq!(native(&TwoPhase::new(3), 2).unique_states, 288);
    assert_eq!(native(&TwoPhase::new(5), 2).unique_states, 8_832);
}

#[test]
fn two_phase_commit_agrees_with_stateright_bfs_and_dfs() {
    for rms in [2, 3, 4] {
        assert_agrees_with_stateright(TwoPhase::new(rms));
    }
}

#[test]
fn two_phase_verdicts_are_one_violation_and_two_examples() {
    let model = TwoPhase::new(4);
    let out = native(&model, 2);
    let found = discovered(&model, &out);
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        vec!["abort agreement", "commit agreement", "no commit"]
    );
}

#[test]
fn boundary_and_multiple_initial_states_agree_with_stateright() {
    assert_agrees_with_stateright(Walk::new(20, Props::All));
}

#[test]
fn a_state_discovering_every_property_is_not_expanded_like_stateright() {
    let all = native(&Walk::new(20, Props::All), 2).unique_states;
    let model = Walk::new(20, Props::OnlyViolated);
    let only = native(&model, 2).unique_states;
    assert!(only < all, "violating states must not be expanded");
    assert_agrees_with_stateright(model);
}

#[test]
fn a_model_without_properties_visits_only_its_initial_states_like_stateright() {
    let model = Walk::new(20, Props::None);
    assert_eq!(native(&model, 2).unique_states, 2);
    assert_agrees_with_stateright(model);
}

#[test]
fn duplicate_initial_states_are_stored_once() {
    let mut model = Walk::new(10, Props::All);
    model.duplicate_init = true;
    let bfs = reference(model.clone(), Engine::Bfs, 1, None);
    let out = native(&model, 2);
    assert_eq!(out.unique_states, bfs.unique_states);
    assert_eq!(out.unique_states, 11 * 11);
}

#[test]
fn packed_two_phase_has_the_same_state_space_as_the_vec_layout() {
    for rms in 2..=6 {
        let vec_layout = native(&TwoPhase::new(rms), 2);
        let packed = native(&TwoPhasePacked::new(rms), 2);
        assert_eq!(
            packed.unique_states, vec_layout.unique_states,
            "{rms} managers"
        );
        assert_eq!(packed.states, vec_layout.states);
        assert_eq!(packed.max_depth, vec_layout.max_depth);
        let vec_sym = symmetric(&TwoPhase::new(rms), two_phase::canonical, 2).unique_states;
        let packed_sym =
            symmetric(&TwoPhasePacked::new(rms), two_phase_packed::canonical, 2).unique_states;
        assert_eq!(packed_sym, vec_sym, "{rms} managers with symmetry");
    }
}

fn symmetric<M>(
    model: &M,
    canonical: fn(&M::State) -> M::State,
    threads: usize,
) -> klp_checker::engine::NativeOutcome<M::Action>
where
    M: Model + Sync,
    M::State: std::hash::Hash + Clone + Send,
{
    let opts = NativeOptions {
        symmetry: true,
        ..opts(threads)
    };
    check(model, &opts, Some(&|s| canonical(&s)))
}

#[test]
fn symmetry_cuts_states_identically_for_any_thread_count_with_the_same_verdicts() {
    let model = TwoPhase::new(5);
    let plain = native(&model, 2);
    let counts: Vec<u64> = [1, 2, 4]
        .iter()
        .map(|&threads| {
            let out = symmetric(&model, two_phase::canonical, threads);
            assert_eq!(out.stop, StopReason::Complete);
            assert_eq!(discovered(&model, &out), discovered(&model, &plain));
            assert_discoveries_replay(&model, &out);
            out.unique_states
        })
        .collect();
    assert!(counts.iter().all(|&c| c == counts[0]), "{counts:?}");
    assert!(
        counts[0] * 3 <= plain.unique_states,
        "{counts:?} vs {}",
        plain.unique_states
    );
    // With a true canonical form, stateright's DFS visits the same classes.
    let dfs = reference(model.clone(), Engine::Dfs, 1, Some(two_phase::canonical));
    assert_eq!(counts[0], dfs.unique_states);
}

/// Three interchangeable managers: the reduction is at least 3x (at most
/// 3! = 6x) and the verdicts are those of the full space.
#[test]
fn symmetry_on_three_managers_cuts_states_at_least_threefold() {
    for rms in [3, 4, 5, 6] {
        let model = TwoPhasePacked::new(rms);
        let plain = native(&model, 2);
        let sym = symmetric(&model, two_phase_packed::canonical, 2);
        eprintln!(
            "2pc {rms} managers: {} unique states, {} with symmetry ({:.2}x)",
            plain.unique_states,
            sym.unique_states,
            plain.unique_states as f64 / sym.unique_states as f64
        );
        assert!(sym.unique_states * 3 <= plain.unique_states);
        assert_eq!(discovered(&model, &sym), discovered(&model, &plain));
    }
}

#[test]
fn symmetry_off_in_options_ignores_the_canonicaliser() {
    let model = TwoPhase::new(4);
    let out = check(&model, &opts(2), Some(&|s| two_phase::canonical(&s)));
    assert_eq!(out.unique_states, native(&model, 1).unique_states);
}

#[test]
fn counterexample_paths_are_shortest_and_replay_to_a_violation() {
    let model = TwoPhase::new(4);
    let bfs = reference(model.clone(), Engine::Bfs, 2, None);
    for threads in [1, 2] {
        let out = native(&model, threads);
        assert_discoveries_replay(&model, &out);
        let no_commit = out.discoveries[3].as_ref().expect("no commit is violated");
        // Every manager prepares, the TM receives each vote and commits, one
        // manager receives the commit: 2n + 2 steps.
        assert_eq!(no_commit.actions.len(), 2 * 4 + 2);
        assert!(no_commit.actions.len() <= bfs.discoveries["no commit"]);
        assert_eq!(no_commit.init_index, 0);
    }
}

#[test]
fn the_discovered_state_does_not_depend_on_the_thread_count() {
    let model = Walk::new(30, Props::All);
    let reach = |threads| {
        let out = native(&model, threads);
        out.discoveries
            .iter()
            .map(|d| {
                d.as_ref().map(|d| {
                    let init = model.init_states()[d.init_index];
                    d.actions
                        .iter()
                        .fold(init, |s, a| model.next_state(&s, *a).unwrap())
                })
            })
            .collect::<Vec<_>>()
    };
    let one = reach(1);
    assert_eq!(reach(2), one);
    assert_eq!(reach(4), one);
}

#[test]
fn a_tiny_memory_budget_stops_with_table_full_not_a_panic() {
    let model = TwoPhase::new(5);
    for threads in [1, 2] {
        let opts = NativeOptions {
            memory_bytes: Some(1024),
            ..opts(threads)
        };
        let out = check(&model, &opts, None);
        assert!(!out.complete);
        match out.stop {
            StopReason::TableFull {
                states,
                suggested_memory_bytes,
            } => {
                // 1024 bytes = 64 slots, 57 of which may be filled; 12
                // bytes a slot and the two level bitmaps (2 bits a slot).
                assert_eq!(out.table_bytes, 64 * 12 + 64 / 4);
                assert_eq!(states, 57);
                assert_eq!(out.unique_states, 57);
                assert_eq!(suggested_memory_bytes, 4 * 64 * 12);
                assert!(out
                    .stop
                    .to_string()
                    .starts_with("incomplete: table full (57 states)"));
            }
            other => panic!("{other:?}"),
        }
    }
}

/// The bound is exact for any thread count even though workers reserve
/// table room in chunks: refused states are retried once all reservations
/// are released, so a space of exactly `max_states` states completes.
#[test]
fn max_states_is_an_exact_bound() {
    let model = TwoPhase::new(5);
    for threads in [1, 2, 4] {
        for bound in [1u64, 100, 1000, 8_000, 8_831, 8_832, 9_000] {
            let opts = NativeOptions {
                max_states: Some(bound),
                ..opts(threads)
            };
            let out = check(&model, &opts, None);
            if bound >= 8_832 {
                assert_eq!(out.stop, StopReason::Complete, "{bound}, {threads} threads");
                assert_eq!(out.unique_states, 8_832);
            } else {
                assert_eq!(
                    out.stop,
                    StopReason::MaxStates,
                    "{bound}, {threads} threads"
                );
                assert!(!out.complete);
                assert_eq!(out.unique_states, bound, "{threads} threads");
            }
        }
    }
}

#[test]
fn a_zero_timeout_stops_with_timeout() {
    let opts = NativeOptions {
        timeout: Some(Duration::ZERO),
        ..opts(2)
    };
    let out = check(&TwoPhase::new(5), &opts, None);
    assert_eq!(out.stop, StopReason::Timeout);
    assert!(!out.complete);
    assert!(out.unique_states < 8_832);
}

#[test]
fn eventually_properties_are_reported_unchecked() {
    let model = TwoPhase {
        rm_count: 3,
        eventually: true,
    };
    let out = native(&model, 2);
    assert_eq!(out.unchecked, vec![4]);
    assert!(out.discoveries[4].is_none());
    assert_eq!(out.unique_states, 288);
}

#[test]
fn outcome_reports_depth_memory_and_collision_probability() {
    let out = native(&TwoPhase::new(3), 2);
    let bfs = reference(TwoPhase::new(3), Engine::Bfs, 1, None);
    assert!(out.max_depth > 0);
    // 32 MiB hold 2.8 M slots of 12 bytes: rounded down to 2^21 slots
    // (and 2 bits a slot of level bitmaps).
    assert_eq!(out.table_bytes, (1 << 21) * 12 + (1 << 21) / 4);
    let cap = FingerprintTable::capacity_for_memory(32 << 20);
    assert_eq!(
        out.table_bytes,
        FingerprintTable::bytes_for_capacity(cap) + cap / 4
    );
    assert!(out.collision_probability > 0.0 && out.collision_probability < 1e-12);
    assert_eq!(bfs.unique_states, 288);
}

/// A model whose successor function panics at some depth.
struct Panicky;
impl Model for Panicky {
    type State = u32;
    type Action = ();
    fn init_states(&self) -> Vec<u32> {
        vec![0]
    }
    fn actions(&self, _: &u32, a: &mut Vec<()>) {
        a.push(());
    }
    fn next_state(&self, s: &u32, _: ()) -> Option<u32> {
        assert!(*s < 100, "model bug at {s}");
        Some(s + 1)
    }
    fn properties(&self) -> Vec<stateright::Property<Self>> {
        vec![stateright::Property::always("true", |_, _| true)]
    }
}

#[test]
#[should_panic(expected = "model bug at 100")]
fn a_panicking_model_panics_the_caller_after_workers_stop() {
    native(&Panicky, 2);
}

fn graph_strategy() -> impl Strategy<Value = Graph> {
    (2usize..24).prop_flat_map(|nodes| {
        let target = prop_oneof![
            8 => 0..nodes as u8,
            1 => Just(NO_CHANGE),
        ];
        (
            prop::collection::vec(prop::collection::vec(target, 0..4), nodes),
            prop::collection::vec(0..nodes as u8, 1..3),
            any::<u64>(),
            any::<[u64; 4]>(),
            0usize..=4,
        )
            .prop_map(move |(edges, mut inits, boundary, sets, property_count)| {
                // Mostly inside: keep about 7/8 of the nodes.
                let mut boundary = boundary | boundary.rotate_left(17) | boundary.rotate_left(41);
                // Initial states inside the boundary, plus one outside at the
                // end if there is such a node: stateright numbers initial
                // states after dropping those outside but rebuilds paths
                // from the full list, so one in front would break its paths.
                for &n in &inits {
                    boundary |= 1 << n;
                }
                if let Some(outside) = (0..nodes as u8).find(|&n| boundary >> n & 1 == 0) {
                    inits.push(outside);
                }
                Graph {
                    edges,
                    inits,
                    boundary,
                    a0: sets[0] | sets[0].rotate_left(7),
                    a1: !(sets[1] & sets[1].rotate_left(3) & sets[1].rotate_left(11)),
                    s0: sets[2] & sets[2].rotate_left(13),
                    s1: sets[3] & sets[3].rotate_left(5) & sets[3].rotate_left(29),
                    property_count,
                }
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Random graphs: same unique counts, generated counts and verdicts as
    /// stateright's BFS and DFS, and replayable paths no longer than BFS's.
    #[test]
    fn random_graphs_agree_with_stateright(graph in graph_strategy()) {
        // Duplicate initial states are counted differently (stateright
        // expands each copy); compare generated counts only without them.
        let mut inits = graph.inits.clone();
        inits.sort_unstable();
        inits.dedup();
        let distinct_inits = inits.len() == graph.inits.len();

        let bfs = reference(graph.clone(), Engine::Bfs, 1, None);
        let dfs = reference(graph.clone(), Engine::Dfs, 1, None);
        for threads in [1, 3] {
            let out = native(&graph, threads);
            prop_assert_eq!(out.unique_states, bfs.unique_states);
            prop_assert_eq!(out.unique_states, dfs.unique_states);
            if distinct_inits {
                prop_assert_eq!(out.states, bfs.states);
            }
            prop_assert_eq!(discovered(&graph, &out), discovered_checked(&graph, &bfs));
            prop_assert_eq!(discovered(&graph, &out), discovered_checked(&graph, &dfs));
            assert_discoveries_replay(&graph, &out);
            for (d, p) in out.discoveries.iter().zip(graph.properties()) {
                if let Some(d) = d {
                    prop_assert!(d.actions.len() <= bfs.discoveries[p.name]);
                }
            }
        }
    }
}

/// A walk state `(x, y)` kept as one `u32`, hashing as the tuple does (the
/// [`klp_checker::engine::Store`] contract).
#[derive(Debug, PartialEq, Eq)]
struct PackedWalk(u32);

impl std::hash::Hash for PackedWalk {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        ((self.0 >> 16) as u16, self.0 as u16).hash(h)
    }
}

struct WalkStore;

impl klp_checker::engine::Store<(u16, u16)> for WalkStore {
    type Item = PackedWalk;
    fn store(&self, (x, y): (u16, u16)) -> PackedWalk {
        PackedWalk((x as u32) << 16 | y as u32)
    }
    fn load(&self, p: PackedWalk) -> (u16, u16) {
        ((p.0 >> 16) as u16, p.0 as u16)
    }
}

/// A search that keeps its waiting states in another form finds the same
/// states, the same discoveries by the same paths, at any thread count, and
/// stops at an exact state bound (the refused states of a full table are
/// kept in the stored form too).
#[test]
fn a_store_changes_nothing_the_search_finds() {
    use klp_checker::engine::{check_stored, check_with, NoHooks};
    let model = Walk::new(40, Props::All);
    for threads in [1, 2, 4] {
        for bound in [None, Some(500u64), Some(1_000)] {
            let o = NativeOptions {
                max_states: bound,
                ..opts(threads)
            };
            let whole = check_with(&model, &o, None, &NoHooks).outcome;
            let stored = check_stored(&model, &o, None, &NoHooks, &WalkStore).outcome;
            match bound {
                None => assert_eq!(found_key(&whole), found_key(&stored), "{threads} threads"),
                // Cut short, how many successors were generated (and which
                // discoveries were made) before the stop depends on timing.
                Some(b) => {
                    assert_eq!(stored.stop, StopReason::MaxStates, "{threads} threads");
                    assert_eq!((whole.unique_states, stored.unique_states), (b, b));
                }
            }
        }
    }
}

/// A search's stop, unique and generated states, depth, and each
/// discovery's initial state and path.
type FoundKey<A> = (StopReason, u64, u64, usize, Vec<Option<(usize, Vec<A>)>>);

/// What a search found, in a form two runs can be compared by: the stop,
/// the counts, and every discovery's path.
fn found_key<A: Clone>(out: &klp_checker::engine::NativeOutcome<A>) -> FoundKey<A> {
    (
        out.stop.clone(),
        out.unique_states,
        out.states,
        out.max_depth,
        out.discoveries
            .iter()
            .map(|d| d.as_ref().map(|d| (d.init_index, d.actions.clone())))
            .collect(),
    )
}

/// Options for a table big enough from the start, and for one that starts
/// at 16 slots and may double up to 32 MiB.
fn big_and_growing(threads: usize, symmetry: bool) -> (NativeOptions, NativeOptions) {
    let big = NativeOptions {
        symmetry,
        ..opts(threads)
    };
    let small = NativeOptions {
        memory_bytes: Some(16 * 12),
        max_memory_bytes: Some(32 << 20),
        ..big.clone()
    };
    (big, small)
}

/// A table that starts at 16 slots and doubles in place while it fills
/// finds what a table big enough from the start finds: the same states,
/// the same generated count and depth, the same discoveries by the same
/// paths (parent links survive the rehash), at every thread count, with
/// and without symmetry.
#[test]
fn a_table_grown_in_place_finds_what_a_big_one_finds() {
    let model = TwoPhase::new(5);
    let walk = Walk::new(60, Props::All);
    for threads in [1, 2, 4] {
        for symmetry in [false, true] {
            let (big, small) = big_and_growing(threads, symmetry);
            let canon = |s: <TwoPhase as Model>::State| two_phase::canonical(&s);
            let whole = check(&model, &big, Some(&canon));
            let grown = check(&model, &small, Some(&canon));
            assert_eq!(whole.table_growths, 0);
            // From 16 slots to the table that holds them all; one more if
            // the count is within the reservations workers hold (64 each)
            // of a table's limit, which can make it grow a little early.
            let needed = FingerprintTable::capacity_for_states(whole.unique_states);
            let doublings = (needed / 16).trailing_zeros();
            assert!(
                (doublings..=doublings + 1).contains(&grown.table_growths),
                "{} doublings for {} states, {threads} threads",
                grown.table_growths,
                whole.unique_states
            );
            assert_eq!(found_key(&grown), found_key(&whole), "{threads} threads");
            assert_discoveries_replay(&model, &grown);
            let whole = check(&walk, &big, None);
            let grown = check(&walk, &small, None);
            assert!(grown.table_growths > 0);
            assert_eq!(
                found_key(&grown),
                found_key(&whole),
                "walk, {threads} threads"
            );
        }
    }
}

/// Growth stops at its budget with a table-full stop at exactly the grown
/// table's load limit, and a state bound stays exact across doublings.
#[test]
fn growth_stops_at_its_budget_and_keeps_an_exact_state_bound() {
    let model = TwoPhase::new(5);
    for threads in [1, 2, 4] {
        let o = NativeOptions {
            memory_bytes: Some(64 * 12),
            max_memory_bytes: Some(256 * 12),
            ..opts(threads)
        };
        let out = check(&model, &o, None);
        assert_eq!(out.table_growths, 2, "{threads} threads");
        assert_eq!(
            out.stop,
            StopReason::TableFull {
                states: 230,
                suggested_memory_bytes: 4 * 256 * 12,
            }
        );
        assert_eq!(out.unique_states, 230);
        for bound in [57u64, 58, 1_000, 8_831] {
            let o = NativeOptions {
                memory_bytes: Some(16 * 12),
                max_memory_bytes: Some(32 << 20),
                max_states: Some(bound),
                ..opts(threads)
            };
            let out = check(&model, &o, None);
            assert_eq!(
                out.stop,
                StopReason::MaxStates,
                "{bound}, {threads} threads"
            );
            assert_eq!(out.unique_states, bound, "{bound}, {threads} threads");
        }
    }
}

/// Records the graph, with node and edge labels made from the states
/// themselves (so a label moved to the wrong slot shows).
struct LabelHooks<'m, M>(&'m M);

fn fingerprint<S: std::hash::Hash>(s: &S) -> u64 {
    klp_checker::engine::Fingerprinter::default().fingerprint(s)
}

impl<M> klp_checker::engine::Hooks<M> for LabelHooks<'_, M>
where
    M: Model + Sync,
    M::State: std::hash::Hash,
{
    type Local = ();
    const GRAPH: bool = true;
    const ACTIONS: bool = true;
    fn local(&self) {}
    fn node(&self, s: &M::State) -> u64 {
        fingerprint(s) >> 8
    }
    fn step(
        &self,
        _: &mut (),
        s: &M::State,
        _: &mut u64,
        a: M::Action,
    ) -> (
        Option<M::State>,
        Option<klp_checker::engine::hooks::EdgeLabel>,
    ) {
        let next = self.0.next_state(s, a);
        let label = next.as_ref().map(|n| fingerprint(n) as u16);
        (next, label)
    }
}

/// The recorded graph by fingerprints: each expanded state's depth, node
/// label and sorted labelled edges, independent of where slots are.
type GraphByFingerprint = std::collections::BTreeMap<u64, (u32, u64, Vec<(u64, u16)>)>;

fn graph_by_fingerprint(g: &klp_checker::engine::StateGraph) -> GraphByFingerprint {
    (0..g.capacity() as u32)
        .filter(|&v| g.expanded(v))
        .map(|v| {
            let mut edges: Vec<(u64, u16)> = g
                .edges(v)
                .map(|(t, l)| (g.table.fingerprint_at(t), l))
                .collect();
            // The graph is a set of edges: one may be listed twice (a
            // successor refused by a full table and retried by the leader
            // while another action's edge to it was kept by the worker).
            edges.sort_unstable();
            edges.dedup();
            (g.table.fingerprint_at(v), (g.depth(v), g.label(v), edges))
        })
        .collect()
}

/// A recorded state graph survives the table's growth: every state keeps
/// its depth, node label and edges (the workers' edge chunks, the leader's
/// extra edges and the per-slot arrays are all moved to the new slots).
#[test]
fn a_graph_recorded_while_the_table_grows_is_the_same_graph() {
    use klp_checker::engine::check_with;
    let model = TwoPhase::new(6);
    let hooks = LabelHooks(&model);
    for threads in [1, 2, 4] {
        for symmetry in [false, true] {
            let (big, small) = big_and_growing(threads, symmetry);
            let canon = |s: <TwoPhase as Model>::State| two_phase::canonical(&s);
            let whole = check_with(&model, &big, Some(&canon), &hooks);
            let grown = check_with(&model, &small, Some(&canon), &hooks);
            assert!(grown.outcome.table_growths >= 4);
            assert_eq!(found_key(&grown.outcome), found_key(&whole.outcome));
            let (a, b) = (whole.graph.unwrap(), grown.graph.unwrap());
            let (a, b) = (graph_by_fingerprint(&a), graph_by_fingerprint(&b));
            assert_eq!(a.len() as u64, whole.outcome.unique_states);
            if a != b {
                let diff: Vec<_> = a
                    .iter()
                    .filter(|(k, v)| b.get(k) != Some(v))
                    .take(3)
                    .map(|(k, v)| (k, v, b.get(k)))
                    .collect();
                panic!(
                    "{threads} threads, symmetry {symmetry}: {} vs {} states; {diff:?}",
                    a.len(),
                    b.len()
                );
            }
        }
    }
}
