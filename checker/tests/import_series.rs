//! `klpcheck import --series`: the scenario gets ordered admin plans for the
//! upgrade and the downgrade between consecutive versions, and `check`
//! explores those routes. On the kernel's shadow-variable samples built as a
//! cumulative pair (`--replace`), shadow-no-use-after-free is violated with
//! fix1 loaded first (the upgrade route, not fix2 on a clean system) and a
//! counterexample that ends in fix2's code.
//!
//! The two sample files (GPL-2.0-or-later, SPDX headers kept) are copied
//! from linux-source-7.2 under import/tests/kernel-7.2/samples/livepatch.

use std::path::{Path, PathBuf};

use klp_checker::check::check_scenario;
use klp_checker::engines::{Bounds, EngineKind};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../import/tests/kernel-7.2/samples/livepatch")
        .join(name)
}

fn options(replace: bool) -> klp_import::Options {
    klp_import::Options {
        series: true,
        replace,
        no_replace: false,
        defines: vec![],
        undefines: vec![],
    }
}

#[test]
fn series_import_plans_upgrade_and_downgrade_and_finds_the_module_exit_hazard() {
    let files = [
        sample("livepatch-shadow-fix1.c"),
        sample("livepatch-shadow-fix2.c"),
    ];
    let imported = klp_import::import(&files, &options(true)).expect("the samples import");
    let plans: Vec<&String> = imported.spec.plans.keys().collect();
    assert_eq!(
        plans,
        [
            "downgrade-livepatch_shadow_fix2-to-livepatch_shadow_fix1",
            "upgrade-livepatch_shadow_fix1-to-livepatch_shadow_fix2",
        ]
    );
    // The JSON `klpcheck import` writes loads back with its plans.
    let json = klp_import::to_json(&imported.spec);
    let spec = klp_model::parse_spec(&json).expect("the imported JSON parses");
    let sc = klp_model::Scenario::compile(&spec, "series").expect("the import compiles");
    let upgrade: Vec<&str> = sc.plans[1].cmds.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        upgrade,
        [
            "load_livepatch livepatch_shadow_fix1",
            "load_livepatch livepatch_shadow_fix2",
            "unload_module livepatch_shadow_fix1",
        ]
    );
    let r = check_scenario(
        Path::new("series.json"),
        sc.clone(),
        EngineKind::Native,
        &Bounds {
            threads: 2,
            no_liveness: true,
            ..Bounds::default()
        },
    );
    assert!(r.complete);
    let uaf = r
        .properties
        .iter()
        .find(|p| p.id == "shadow-no-use-after-free")
        .unwrap();
    assert_eq!(uaf.status.as_str(), "violated");
    let trace = uaf.trace.as_ref().expect("a counterexample");
    // The route starts with fix1 (a plan step), not fix2 on a clean system.
    assert!(
        trace[0]
            .action
            .contains("step 1: load_livepatch livepatch_shadow_fix1"),
        "{}",
        trace[0].action
    );
    // It ends in fix2's code.
    let last = trace.last().unwrap();
    assert!(
        last.events
            .iter()
            .any(|e| e.starts_with("task_call(") && e.ends_with(",livepatch_shadow_fix2)")),
        "{:?}",
        last.events
    );
}
