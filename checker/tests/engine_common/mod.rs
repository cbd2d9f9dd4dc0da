//! Stand-in models for the native engine's tests and benchmark: small
//! classic systems whose state counts stateright pins or that are easy to
//! reason about, written here so the engine is tested apart from the
//! livepatch model.

pub mod graph;
pub mod two_phase;
pub mod two_phase_packed;
pub mod walk;

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;

use klp_checker::engine::{check, NativeOptions, NativeOutcome};
use stateright::{Checker, Expectation, HasDiscoveries, Model};

/// Options for a test run: `threads` workers, a table sized for small
/// models (so tests do not each touch the 192 MiB default), no symmetry.
pub fn opts(threads: usize) -> NativeOptions {
    NativeOptions {
        threads,
        symmetry: false,
        max_states: None,
        timeout: None,
        memory_bytes: Some(32 << 20),
        ..NativeOptions::default()
    }
}

/// Runs the native engine without symmetry.
pub fn native<M>(model: &M, threads: usize) -> NativeOutcome<M::Action>
where
    M: Model + Sync,
    M::State: Hash + Clone + Send,
{
    check(model, &opts(threads), None)
}

/// What a stateright checker found, in a comparable form.
#[derive(Debug)]
pub struct Reference {
    pub unique_states: u64,
    pub states: u64,
    pub max_depth: usize,
    /// Property name -> length (in actions) of the discovery path.
    pub discoveries: BTreeMap<&'static str, usize>,
}

/// Which stateright checker to run.
#[derive(Clone, Copy, Debug)]
pub enum Engine {
    Bfs,
    Dfs,
}

/// A `finish_when` that never triggers, so stateright explores the whole
/// space instead of stopping once every property has a discovery:
/// `AnyOf(∅)` matches when *any* listed property has a discovery, and none
/// is listed.
pub fn never() -> HasDiscoveries {
    HasDiscoveries::AnyOf(BTreeSet::new())
}

/// A symmetry function as stateright takes it.
pub type Representative<S> = fn(&S) -> S;

/// Runs a stateright checker to completion.
pub fn reference<M>(
    model: M,
    engine: Engine,
    threads: usize,
    symmetry: Option<Representative<M::State>>,
) -> Reference
where
    M: Model + Send + Sync + 'static,
    M::State: Hash + Send + Sync + Clone + PartialEq + std::fmt::Debug + 'static,
    M::Action: Clone + PartialEq + std::fmt::Debug,
{
    let mut builder = model.checker().threads(threads).finish_when(never());
    if let Some(f) = symmetry {
        builder = builder.symmetry_fn(f);
    }
    match engine {
        Engine::Bfs => summarize(builder.spawn_bfs().join()),
        Engine::Dfs => summarize(builder.spawn_dfs().join()),
    }
}

fn summarize<M, C>(checker: C) -> Reference
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
    C: Checker<M>,
{
    Reference {
        unique_states: checker.unique_state_count() as u64,
        states: checker.state_count() as u64,
        max_depth: checker.max_depth(),
        discoveries: checker
            .discoveries()
            .into_iter()
            .map(|(name, path)| (name, path.into_actions().len()))
            .collect(),
    }
}

/// Names of the properties the native engine found a discovery for.
pub fn discovered<M: Model>(
    model: &M,
    outcome: &NativeOutcome<M::Action>,
) -> BTreeSet<&'static str> {
    let props = model.properties();
    outcome
        .discoveries
        .iter()
        .zip(&props)
        .filter(|(d, _)| d.is_some())
        .map(|(_, p)| p.name)
        .collect()
}

/// Names of the `always`/`sometimes` properties stateright found a
/// discovery for (`eventually` is not checked by the native engine).
pub fn discovered_checked<M: Model>(model: &M, r: &Reference) -> BTreeSet<&'static str> {
    model
        .properties()
        .iter()
        .filter(|p| p.expectation != Expectation::Eventually)
        .filter(|p| r.discoveries.contains_key(p.name))
        .map(|p| p.name)
        .collect()
}

/// Replays every discovery of `outcome` from its initial state and asserts
/// that each step is a transition within the boundary and that the last
/// state is a counterexample (`always`) or an example (`sometimes`).
pub fn assert_discoveries_replay<M>(model: &M, outcome: &NativeOutcome<M::Action>)
where
    M: Model,
    M::Action: Clone,
{
    let props = model.properties();
    for d in outcome.discoveries.iter().flatten() {
        let mut state = model
            .init_states()
            .into_iter()
            .nth(d.init_index)
            .expect("init index in range");
        assert!(model.within_boundary(&state));
        for a in &d.actions {
            state = model
                .next_state(&state, a.clone())
                .expect("replayed action changes the state");
            assert!(model.within_boundary(&state));
        }
        let p = &props[d.property_index];
        let holds = (p.condition)(model, &state);
        match p.expectation {
            Expectation::Always => assert!(!holds, "{}: path does not end in a violation", p.name),
            Expectation::Sometimes => assert!(holds, "{}: path does not end in an example", p.name),
            Expectation::Eventually => panic!("eventually is not checked"),
        }
    }
}
