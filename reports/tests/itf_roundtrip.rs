//! trace.itf.json reads back through the `itf` crate (Informal Trace Format,
//! ADR-015 of Apalache): sets and maps decode into Rust sets and maps,
//! integers from `#bigint`, and every state carries its `#meta.index`.

use std::collections::{BTreeMap, BTreeSet};

use klp_model::{parse_spec, Action, InsmodParams, KlpModel, Scenario};
use klp_reports::Walk;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct ItfState {
    action: String,
    klp_patches: Vec<String>,
    klp_transition_patch: String,
    klp_target_state: String,
    func_stacks: BTreeMap<String, Vec<String>>,
    patches: BTreeMap<String, PatchV>,
    tasks: Vec<TaskV>,
    modules_loaded: BTreeSet<String>,
    shadow_vars: BTreeSet<String>,
    system_modifications: BTreeSet<String>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct PatchV {
    life: String,
    loads: i64,
    enabled: bool,
    forced: bool,
    replace: bool,
    transition: bool,
    replaced: bool,
    nops: BTreeSet<String>,
}

#[derive(Debug, Deserialize)]
struct TaskV {
    patch_state: String,
    tif_patch_pending: bool,
    frames: Vec<FrameV>,
}

#[derive(Debug, Deserialize)]
struct FrameV {
    func: String,
    code: String,
}

/// claim-08's counterexample: P1, P2 replaces it, P1 freed and removed (its
/// module_exit frees V), the task calls f and runs P2 without V.
fn claim08() -> (KlpModel, Walk) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../specs/doc/claim-08-shadow-freed-in-module-exit.json"
    );
    let spec = parse_spec(&std::fs::read_to_string(path).unwrap()).unwrap();
    let model = KlpModel::new(Scenario::compile(&spec, "claim-08").unwrap());
    // Each insmod, then the rest of its command on a quiet machine.
    let actions = [
        Action::Insmod(0, InsmodParams::default()),
        Action::Continue { busy: 0 },
        Action::Insmod(1, InsmodParams::default()),
        Action::Continue { busy: 0 },
        Action::FreeWork(0),
        Action::Rmmod(0),
        Action::Call { task: 0, func: 0 },
    ];
    let walk = Walk::new(&model, &actions);
    (model, walk)
}

#[test]
fn itf_trace_decodes_with_the_itf_crate() {
    let (model, walk) = claim08();
    let v = klp_reports::itf::itf_trace(&model, &walk, "claim-08.json", "shadow-no-use-after-free");
    let text = serde_json::to_string_pretty(&v).unwrap();
    let trace = itf::trace_from_str::<ItfState>(&text).expect("the itf crate reads it");
    assert_eq!(trace.meta.format.as_deref(), Some("ITF"));
    assert_eq!(trace.vars, klp_reports::itf::VARS);
    assert_eq!(trace.states.len(), 8);
    for (i, s) in trace.states.iter().enumerate() {
        assert_eq!(s.meta.index, Some(i as u64));
    }
    let boot = &trace.states[0].value;
    assert_eq!(boot.action, "boot");
    assert!(boot.klp_patches.is_empty());
    assert_eq!(boot.klp_target_state, "IDLE");
    assert_eq!(boot.modules_loaded, BTreeSet::from(["vmlinux".to_string()]));
    assert!(boot.system_modifications.is_empty());
    // The first state where P2 replaced P1 (the insmod takes several
    // steps: the command's first try, then klp_transition_work).
    let after_p2 = &trace
        .states
        .iter()
        .find(|s| s.value.klp_patches == ["P2"])
        .expect("P2 replaces P1")
        .value;
    assert_eq!(after_p2.klp_patches, ["P2"]);
    assert_eq!(after_p2.func_stacks["f"], ["P2"]);
    assert_eq!(after_p2.patches["P1"].life, "freeing");
    assert!(after_p2.patches["P1"].replaced);
    assert_eq!(after_p2.patches["P2"].loads, 1);
    assert_eq!(after_p2.shadow_vars, BTreeSet::from(["V".to_string()]));
    let last = &trace.states.last().unwrap().value;
    assert_eq!(last.action, "task 1 calls f()");
    assert!(last.shadow_vars.is_empty());
    assert_eq!(last.klp_transition_patch, "");
    assert_eq!(last.tasks[0].patch_state, "IDLE");
    assert!(!last.tasks[0].tif_patch_pending);
    assert_eq!(last.tasks[0].frames[0].func, "f");
    assert_eq!(last.tasks[0].frames[0].code, "P2");
}

#[test]
fn itf_trace_survives_a_round_trip_through_the_itf_types() {
    let (model, walk) = claim08();
    let v = klp_reports::itf::itf_trace(&model, &walk, "claim-08.json", "shadow-no-use-after-free");
    let trace: itf::Trace<serde_json::Value> = serde_json::from_value(v.clone()).unwrap();
    let back = serde_json::to_value(&trace).unwrap();
    assert_eq!(back["states"], v["states"]);
    assert_eq!(back["vars"], v["vars"]);
    assert_eq!(back["#meta"]["source"], v["#meta"]["source"]);
}
