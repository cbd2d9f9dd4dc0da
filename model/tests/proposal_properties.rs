//! The properties that came with the proposal profiles (issue 12), each
//! searched on its scenario of specs/proposals with stateright's BFS: the
//! proposal's profile reaches a violation, mainline does not. Covers what
//! model/tests/kernel_ops.rs's list names for these four ids.

use klp_model::profile::Profile;
use klp_model::{parse_spec, KlpModel, Scenario};
use stateright::{Checker, Model};

fn model(file: &str, profile: Option<Profile>) -> KlpModel {
    let path = format!("{}/../specs/proposals/{file}", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(&path).unwrap();
    let spec = parse_spec(&json).unwrap_or_else(|e| panic!("{e}"));
    let mut sc = Scenario::compile(&spec, file).unwrap_or_else(|e| panic!("{e}"));
    if let Some(p) = profile {
        sc.profile = p;
    }
    KlpModel::new(sc)
}

/// Whether a BFS of the whole space finds a state violating `id`.
fn violated(m: KlpModel, id: &'static str) -> bool {
    let checker = m.checker().spawn_bfs().join();
    checker.discovery(id).is_some()
}

#[test]
fn completion_keeps_code_replaceable_lp1_lp2_lp3() {
    // Petr Mladek's counterexample: lp3 completing redirects funcA to lp1.
    let f = "replaceable-lp1-lp2-lp3.json";
    assert!(violated(model(f, None), "completion-keeps-code"));
    assert!(!violated(
        model(f, Some(Profile::Mainline)),
        "completion-keeps-code"
    ));
}

#[test]
fn state_shadow_owned_states_api_shared_state_leak() {
    let f = "states-api-shared-state-leak.json";
    assert!(violated(model(f, None), "state-shadow-owned"));
    assert!(!violated(
        model(f, Some(Profile::Mainline)),
        "state-shadow-owned"
    ));
}

#[test]
fn shadow_single_set_replace_set_shadow_id_across_sets() {
    let f = "replace-set-shadow-id-across-sets.json";
    assert!(violated(model(f, None), "shadow-single-set"));
    assert!(!violated(
        model(f, Some(Profile::Mainline)),
        "shadow-single-set"
    ));
}

#[test]
fn one_active_per_set_holds_under_replace_set_and_fails_on_two_enabled_in_one_set() {
    let f = "replace-set-override-cumulative.json";
    let m = model(f, None);
    assert!(!violated(m.clone(), "one-active-per-set"));
    // A state the replace-set rules never reach: two enabled, listed
    // patches of one set with no transition.
    let check = klp_model::properties::property("one-active-per-set")
        .unwrap()
        .check;
    let same_set: Vec<u8> = (0..m.sc.patches.len() as u8)
        .filter(|&p| m.sc.patches[p as usize].replace_set == m.sc.patches[0].replace_set)
        .collect();
    assert!(
        same_set.len() >= 2,
        "the scenario has two patches in one set"
    );
    let mut s = m.boot();
    for &p in &same_set[..2] {
        s.klp_patches.push(p);
        s.patch_mut(p).enabled = true;
    }
    assert!(!check(&m.sc, &s));
    assert!(check(&m.sc, &m.boot()));
}
