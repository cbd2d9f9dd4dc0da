//! Conformance with the kernel's livepatch selftests: every in-scope case of
//! specs/selftests/oracle runs through the library (not the binary) and prints
//! exactly its expected events.

use std::collections::BTreeSet;
use std::path::PathBuf;

use klp_checker::selftest::library::Library;
use klp_checker::selftest::load_case;

mod common;
use common::{oracle_vocabulary, repo, run, step_vocabulary};

fn oracle(name: &str) -> PathBuf {
    repo()
        .join("specs/selftests/oracle")
        .join(format!("{name}.json"))
}

fn assert_conforms(name: &str) {
    let path = oracle(name);
    let out = run(&path);
    if let Some((_, msg)) = &out.error {
        panic!("{name}: {msg}");
    }
    if let Some(d) = &out.divergence {
        let got: Vec<&str> = out.events.iter().map(|(_, e)| e.as_str()).collect();
        panic!(
            "{name}: event {} differs: expected {:?}, got {:?}\nall events:\n{}",
            d.index + 1,
            d.expected,
            d.got,
            got.join("\n")
        );
    }
}

macro_rules! oracle_cases {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[doc = concat!("Oracle case ", $file, " prints exactly its expected events.")]
            #[test]
            fn $test() {
                assert_conforms($file);
            }
        )*
        /// Every in-scope oracle file named above.
        const IN_SCOPE: &[&str] = &[$($file),*];
    };
}

oracle_cases! {
    livepatch_01_basic_function_patching => "livepatch-01-basic-function-patching",
    livepatch_03_atomic_replace => "livepatch-03-atomic-replace-livepatch",
    livepatch_03b_atomic_replace_legacy => "livepatch-03b-atomic-replace-livepatch-legacy",
    livepatch_04_module_function_patching => "livepatch-04-module-function-patching",
    livepatch_05_module_function_patching_livepatch_first => "livepatch-05-module-function-patching-livepatch-first",
    callbacks_01_target_module_before_livepatch => "callbacks-01-target-module-before-livepatch",
    callbacks_02_module_coming_notifier => "callbacks-02-module-coming-notifier",
    callbacks_03_module_going_notifier => "callbacks-03-module-going-notifier",
    callbacks_05_target_module_not_present => "callbacks-05-target-module-not-present",
    callbacks_06_pre_patch_callback_enodev => "callbacks-06-pre-patch-callback-enodev",
    callbacks_08_multiple_target_modules => "callbacks-08-multiple-target-modules",
    callbacks_09_busy_target_module => "callbacks-09-busy-target-module",
    callbacks_11_atomic_replace => "callbacks-11-atomic-replace",
    state_01_system_state_modification => "state-01-system-state-modification",
    state_02_taking_over_system_state_modification => "state-02-taking-over-system-state-modification",
    state_04_incompatible_cumulative_livepatches => "state-04-incompatible-cumulative-livepatches",
    syscall_01_patch_getpid_while_hammered => "syscall-01-patch-getpid-while-hammered",
    shadow_vars_01_basic_shadow_variable_api => "shadow-vars-01-basic-shadow-variable-api",
    sysfs_01_sysfs_test => "sysfs-01-sysfs-test",
    sysfs_02_object_patched => "sysfs-02-object-patched",
    sysfs_03_replace_enabled => "sysfs-03-replace-enabled",
    sysfs_04_replace_disabled => "sysfs-04-replace-disabled",
}

/// The ftrace and kprobe cases touch subsystems the model leaves out: the
/// runner says so instead of printing a wrong log.
#[test]
fn ftrace_and_kprobe_cases_are_reported_as_not_modelled() {
    for name in [
        "ftrace-01-ftrace-enabled-sysctl",
        "ftrace-02-trace-livepatched-function",
    ] {
        let out = run(&oracle(name));
        let (_, msg) = out.error.expect("an ftrace step fails");
        assert!(msg.contains("ftrace/kprobes"), "{name}: {msg}");
    }
    for name in [
        "kprobe-01-kprobed-function-with-post-handler",
        "kprobe-02-kprobed-function-without-post-handler",
    ] {
        let err = load_case(&oracle(name), &Library::builtin())
            .err()
            .expect("test_klp_kprobe is not a known module");
        assert!(err.contains("test_klp_kprobe"), "{name}: {err}");
    }
}

/// Every event name `run` prints for the oracle cases is in the selftests'
/// event vocabulary (docs/script-vocabulary.md), and every kernel-side name of that
/// vocabulary that the in-scope cases use is printed by some case.
#[test]
fn printed_vocabulary_is_the_oracle_vocabulary() {
    let vocab = oracle_vocabulary();
    let mut printed = BTreeSet::new();
    let mut expected = BTreeSet::new();
    for name in IN_SCOPE {
        let out = run(&oracle(name));
        for (_, e) in &out.events {
            printed.insert(e.split('(').next().unwrap().to_string());
        }
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(oracle(name)).unwrap()).unwrap();
        for e in case["expected_events"].as_array().unwrap() {
            expected.insert(e.as_str().unwrap().split('(').next().unwrap().to_string());
        }
    }
    let unknown: Vec<_> = printed.iter().filter(|n| !vocab.contains(*n)).collect();
    assert!(
        unknown.is_empty(),
        "printed names outside docs/script-vocabulary.md: {unknown:?} (vocabulary: {vocab:?})"
    );
    assert_eq!(
        printed, expected,
        "the names printed differ from the names the cases expect"
    );
}

/// A script the oracle does not contain, over the same modules: a task
/// sleeping in busymod_work_func stalls the demo's transition, a replace
/// patch gets -EBUSY meanwhile, the disable reverses the transition, then the
/// replace goes through (core.c:__klp_enable_patch, transition.c:klp_reverse_transition).
#[test]
fn new_script_busy_stall_then_replace_runs_in_kernel_order() {
    let out = run(&repo().join("specs/selftests/scripts/busy-stall-replace-ebusy.json"));
    assert!(
        out.ok(),
        "error {:?}, divergence {:?}",
        out.error,
        out.divergence
    );
}

/// Loading the busy module after the demo patch: klp_module_coming patches
/// busymod_work_func first, the worker runs patched_work_func, which never
/// completes busymod_work_started, and the module's init waits forever.
/// The runner says which step can never finish.
#[test]
fn new_script_busy_module_after_demo_never_finishes_init() {
    let out = run(&repo().join("specs/selftests/scripts/demo-then-busy-init-hangs.json"));
    assert!(out.divergence.is_none(), "{:?}", out.divergence);
    let (step, msg) = out.error.expect("the load_module step cannot finish");
    assert_eq!(step, 1);
    assert!(msg.contains("never returns"), "{msg}");
}

/// A wait that can never end is an error with a reason, not a hang: a patch
/// whose transition a sleeping worker blocks, then `load_livepatch` (which
/// waits for the transition) on a second patch of the same function.
#[test]
fn impossible_wait_is_reported_not_hung() {
    let dir = std::env::temp_dir().join(format!("klpcheck-wait-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stuck.json");
    std::fs::write(
        &path,
        r#"{"patches": {"P1": {"module": "test_klp_callbacks_demo"}},
            "steps": [
              {"op": "load_module", "args": {"module": "test_klp_callbacks_busy", "params": {"block_transition": "Y"}}},
              {"op": "load_livepatch", "args": {"patch": "P1"}}
            ]}"#,
    )
    .unwrap();
    let out = run(&path);
    let (step, msg) = out.error.expect("load_livepatch cannot finish");
    assert_eq!(step, 1);
    assert!(
        msg.contains("can never happen") && msg.contains("busymod_work_func"),
        "{msg}"
    );
}

/// Every script in specs/selftests/scripts prints exactly its expected
/// events (the reconstructed selftest cases were also checked on a real 6.1
/// kernel with lab/run); the one whose step can never finish says so.
#[test]
fn every_script_in_specs_runs() {
    let dir = repo().join("specs/selftests/scripts");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        n += 1;
        let out = run(&path);
        assert!(
            out.divergence.is_none(),
            "{}: {:?}",
            path.display(),
            out.divergence
        );
        let hangs = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .contains("hangs");
        assert_eq!(
            out.error.is_some(),
            hangs,
            "{}: {:?}",
            path.display(),
            out.error
        );
    }
    assert!(
        n >= 8,
        "expected the scripts of specs/selftests/scripts, found {n}"
    );
}

/// docs/script-vocabulary.md documents exactly the step ops the runner knows.
#[test]
fn documented_step_ops_are_the_runner_ops() {
    let documented = step_vocabulary();
    let known: BTreeSet<String> = klp_checker::selftest::case::STEP_OPS
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(documented, known);
}
