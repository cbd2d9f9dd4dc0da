//! Engine agreement on random small livepatch scenarios (proptest): the
//! native engine, stateright's BFS and DFS find the same unique states and
//! the same verdicts; with symmetry reduction, native and stateright's DFS
//! (same canonical form) agree on the reduced count and the verdicts do not
//! change.
//!
//! A random scenario of over `MAX_STATES` unique states (without symmetry)
//! is set aside (proptest draws another): a few of the drawn scenarios reach
//! 10^6 states and took minutes of the suite in the three engines, while the
//! agreement on large state spaces is what `tests/specs.rs` checks on every
//! pinned spec (the bench scenarios among them).

use std::path::Path;

use klp_checker::check::check_scenario;
use klp_checker::engines::{Bounds, EngineKind};
use klp_model::{parse_spec, Scenario};
use proptest::prelude::*;

/// One random patch: replace flag, which of f, g, h it patches, and whether
/// its vmlinux pre_patch fails.
#[derive(Debug, Clone)]
struct PatchGen {
    replace: bool,
    funcs: [bool; 3],
    callbacks: bool,
    pre_patch_fails: bool,
}

fn patch_gen() -> impl Strategy<Value = PatchGen> {
    (
        any::<bool>(),
        any::<[bool; 3]>(),
        any::<bool>(),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(replace, funcs, callbacks, pre_patch_fails)| PatchGen {
            replace,
            funcs,
            callbacks,
            pre_patch_fails,
        })
}

#[derive(Debug, Clone)]
struct ScenarioGen {
    patches: Vec<PatchGen>,
    tasks: u32,
    admin: [bool; 5],
}

fn scenario_gen() -> impl Strategy<Value = ScenarioGen> {
    (
        prop::collection::vec(patch_gen(), 1..=3),
        1u32..=2,
        any::<[bool; 5]>(),
    )
        .prop_map(|(patches, tasks, admin)| ScenarioGen {
            patches,
            tasks,
            admin,
        })
}

fn spec_json(g: &ScenarioGen) -> String {
    let names = ["f", "g", "h"];
    let mut patches = Vec::new();
    for (i, p) in g.patches.iter().enumerate() {
        let vm: Vec<String> = (0..2)
            .filter(|&k| p.funcs[k])
            .map(|k| format!("\"{}\": {{}}", names[k]))
            .collect();
        let mut objects = Vec::new();
        let cb = if p.callbacks {
            let ret = if p.pre_patch_fails {
                r#", "ret": "ENODEV""#
            } else {
                ""
            };
            format!(
                r#", "callbacks": {{"pre_patch": {{"log": true{ret}}}, "post_patch": {{}}, "pre_unpatch": {{}}, "post_unpatch": {{}}}}"#
            )
        } else {
            String::new()
        };
        objects.push(format!(
            r#""vmlinux": {{"funcs": {{{}}}{cb}}}"#,
            vm.join(", ")
        ));
        if p.funcs[2] {
            objects.push(r#""mod_a": {"funcs": {"h": {}}}"#.to_string());
        }
        patches.push(format!(
            r#""P{}": {{"replace": {}, "objects": {{{}}}}}"#,
            i + 1,
            p.replace,
            objects.join(", ")
        ));
    }
    let [disable, enable, force, rmmod, modules] = g.admin;
    let targets = if modules {
        r#""mod_a": {"load": true, "unload": true}"#
    } else {
        ""
    };
    format!(
        r#"{{"spec_version": 1,
            "objects": {{"vmlinux": {{"funcs": ["f", "g"]}}, "mod_a": {{"funcs": ["h"]}}}},
            "patches": {{{}}},
            "tasks": {{"count": {}, "max_depth": 1, "entry": ["f", "g", "h"]}},
            "admin": {{"disable": {disable}, "enable": {enable}, "force": {force}, "rmmod": {rmmod}, "target_modules": {{{targets}}}}}}}"#,
        patches.join(", "),
        g.tasks
    )
}

/// The largest random scenario the three engines are compared on.
const MAX_STATES: u64 = 60_000;

type Outcome = (u64, Vec<(String, &'static str)>);

fn run(sc: &Scenario, engine: EngineKind, symmetry: bool) -> Outcome {
    run_bounded(sc, engine, symmetry, None).expect("an unbounded search completes")
}

/// The search's unique states and verdicts; `None` when `max_states` cut it
/// short.
fn run_bounded(
    sc: &Scenario,
    engine: EngineKind,
    symmetry: bool,
    max_states: Option<u64>,
) -> Option<Outcome> {
    let bounds = Bounds {
        threads: 2,
        symmetry,
        no_liveness: true,
        max_states,
        ..Bounds::default()
    };
    let r = check_scenario(Path::new("random.json"), sc.clone(), engine, &bounds);
    if !r.complete {
        assert!(max_states.is_some(), "an unbounded search did not complete");
        return None;
    }
    Some((
        r.stats.unique_states,
        r.properties
            .iter()
            .map(|p| (p.id.clone(), p.status.as_str()))
            .collect(),
    ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn engines_agree_on_random_scenarios(g in scenario_gen()) {
        let text = spec_json(&g);
        let spec = parse_spec(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let sc = Scenario::compile(&spec, "random").unwrap_or_else(|e| panic!("{e}\n{text}"));
        let native = run_bounded(&sc, EngineKind::Native, false, Some(MAX_STATES));
        prop_assume!(native.is_some(), "over {} states", MAX_STATES);
        let native = native.unwrap();
        let bfs = run(&sc, EngineKind::StaterightBfs, false);
        let dfs = run(&sc, EngineKind::StaterightDfs, false);
        prop_assert_eq!(&native, &bfs, "native vs stateright-bfs on {}", text);
        prop_assert_eq!(&native, &dfs, "native vs stateright-dfs on {}", text);
        let native_sym = run(&sc, EngineKind::Native, true);
        let dfs_sym = run(&sc, EngineKind::StaterightDfs, true);
        prop_assert_eq!(native_sym.0, dfs_sym.0, "symmetric counts differ on {}", text);
        prop_assert_eq!(&native_sym.1, &native.1, "symmetry changed a verdict on {}", text);
        prop_assert_eq!(&dfs_sym.1, &native.1, "stateright symmetry changed a verdict on {}", text);
    }
}
