//! `klpcheck import --series`: the scenario gets ordered admin plans for the
//! upgrade and the downgrade between consecutive versions, and `check`
//! explores those routes. On the kernel's shadow-variable samples built as a
//! cumulative pair (`--replace`), shadow-no-use-after-free is violated with
//! fix1 loaded first (the upgrade route, not fix2 on a clean system) and a
//! counterexample that goes through fix1's module_exit: fix1's dummy_alloc
//! creates SV_LEAK, fix2 replaces fix1, `rmmod` of fix1 frees SV_LEAK
//! (`klp_shadow_free_all`), and fix2's dummy_free, whose NULL-checked get
//! (`uses_shadow_if_present`) copes with a variable never allocated, finds
//! it freed under it. Recorded on Linux 7.2 by
//! lab/cases/samples-7.2/samples72-01-shadow-fix1-fix2-replace.
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
    let uaf = shadow_verdict("series.json", sc.clone());
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
    let at = |what: &dyn Fn(&klp_reports::TraceStep) -> bool| {
        trace
            .iter()
            .position(what)
            .unwrap_or_else(|| panic!("{trace:#?}"))
    };
    let has = |t: &klp_reports::TraceStep, e: &str| t.events.iter().any(|x| x == e);
    // fix1's dummy_alloc creates SV_LEAK ...
    let alloc = at(&|t| {
        has(t, "task_call(1,dummy_alloc,livepatch_shadow_fix1)")
            && has(t, "shadow_created(SV_LEAK)")
    });
    // ... fix2 replaces fix1 ...
    let replace = at(&|t| {
        t.action
            .contains("step 2: load_livepatch livepatch_shadow_fix2")
    });
    // ... the unload of fix1 runs its module_exit, klp_shadow_free_all(SV_LEAK) ...
    let exit = at(&|t| {
        t.action
            .contains("step 3: unload_module livepatch_shadow_fix1")
            && has(t, "shadow_freed(SV_LEAK)")
            && has(t, "module_gone(livepatch_shadow_fix1)")
    });
    assert!(alloc < exit && replace < exit, "{trace:#?}");
    // ... and it ends in fix2's dummy_free.
    let last = trace.last().unwrap();
    assert_eq!(exit + 1, trace.len() - 1, "{trace:#?}");
    assert!(
        has(last, "task_call(1,dummy_free,livepatch_shadow_fix2)"),
        "{:?}",
        last.events
    );
}

/// Imported as shipped (stacked, no `--replace`), fix2 goes on top of fix1;
/// fix1 stays enabled, so `rmmod` of fix1 is refused on the upgrade route
/// and SV_LEAK is never freed from outside: fix2's NULL-checked get only
/// meets a variable never allocated, and shadow-no-use-after-free holds.
#[test]
fn stacked_samples_hold_shadow_no_use_after_free() {
    let files = [
        sample("livepatch-shadow-fix1.c"),
        sample("livepatch-shadow-fix2.c"),
    ];
    let imported = klp_import::import(&files, &options(false)).expect("the samples import");
    let json = klp_import::to_json(&imported.spec);
    let spec = klp_model::parse_spec(&json).expect("the imported JSON parses");
    let sc = klp_model::Scenario::compile(&spec, "stacked").expect("the import compiles");
    assert_eq!(shadow_verdict("stacked.json", sc).status.as_str(), "holds");
}

/// The native search's shadow-no-use-after-free result on `sc` (a complete
/// search at 2 threads, no liveness pass).
fn shadow_verdict(name: &str, sc: klp_model::Scenario) -> klp_reports::PropertyReport {
    let r = check_scenario(
        Path::new(name),
        sc,
        EngineKind::Native,
        &Bounds {
            threads: 2,
            no_liveness: true,
            ..Bounds::default()
        },
    );
    assert!(r.complete);
    r.properties
        .into_iter()
        .find(|p| p.id == "shadow-no-use-after-free")
        .unwrap()
}
