//! The real kernel as the judge: every case of lab/cases (recorded on
//! Debian's 6.1 kernel by `lab/run --record`, the real log mapped to events)
//! runs through the library with the lab's own modules and prints exactly the
//! events the real kernel printed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use klp_checker::selftest::library::Library;

mod common;
use common::{lab_vocabulary, oracle_vocabulary, repo, run};

fn lab_case(name: &str) -> PathBuf {
    repo().join("lab/cases").join(format!("{name}.json"))
}

fn expected_events(path: &Path) -> Vec<String> {
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    case["expected_events"]
        .as_array()
        .expect("a recorded lab case has expected_events")
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect()
}

/// The case runs to its end and prints exactly the real kernel's events.
fn assert_matches_real_kernel(name: &str) {
    let path = lab_case(name);
    let out = run(&path);
    let got: Vec<&str> = out.events.iter().map(|(_, e)| e.as_str()).collect();
    if let Some((_, msg)) = &out.error {
        panic!("{name}: {msg}\nevents so far:\n{}", got.join("\n"));
    }
    let want = expected_events(&path);
    assert!(!want.is_empty(), "{name}: no recorded events");
    assert_eq!(
        got,
        want.iter().map(String::as_str).collect::<Vec<_>>(),
        "{name}: the model's events differ from the real kernel's"
    );
    assert!(out.ok(), "{name}: {:?}", out.divergence);
}

macro_rules! lab_cases {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[doc = concat!("Lab case ", $file, " prints exactly the real kernel's events.")]
            #[test]
            fn $test() {
                assert_matches_real_kernel($file);
            }
        )*
        /// Every lab case named above.
        const LAB_CASES: &[&str] = &[$($file),*];
    };
}

lab_cases! {
    lab_01_force_stalled_patching => "lab-01-force-stalled-patching",
    lab_02_force_stalled_replace_pins_replaced => "lab-02-force-stalled-replace-pins-replaced",
    lab_03_force_stalled_unpatching_pins_patch => "lab-03-force-stalled-unpatching-pins-patch",
    lab_04_ebusy_einval_during_transition => "lab-04-ebusy-einval-during-transition",
    lab_05_enabled_writes_on_unpatching => "lab-05-enabled-writes-on-unpatching",
    lab_06_module_load_during_replace_transition => "lab-06-module-load-during-replace-transition",
    lab_07_replace_pre_patch_fails_with_older_installed => "lab-07-replace-pre-patch-fails-with-older-installed",
    lab_08_replaced_module_reload => "lab-08-replaced-module-reload",
}

/// No lab case is left out of the list above.
#[test]
fn every_lab_case_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(repo().join("lab/cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = LAB_CASES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

/// The lab's own modules are in the library with their behaviour: the patch
/// and its second copy accept `block`, the target module has a kthread that
/// calls lab_target_func in a loop, and the patch's new lab_target_func
/// sleeps while `block` is set.
#[test]
fn lab_modules_are_defined() {
    let lib = Library::builtin();
    for m in ["test_klp_lab_patch", "test_klp_lab_patch2"] {
        let def = lib.get(m).unwrap_or_else(|| panic!("{m} is not defined"));
        for p in ["replace", "pre_patch_ret", "block"] {
            assert!(def.params.iter().any(|x| x == p), "{m} lacks {p}");
        }
        assert_eq!(def.code["lab_target_func"].blocks_on_param, "block");
    }
    let worker = lib
        .get("test_klp_lab_target")
        .unwrap()
        .worker
        .clone()
        .unwrap();
    assert_eq!(worker.func, "lab_target_func");
    assert!(worker.repeat);
}

/// Every event name the lab cases print is in the selftests' vocabulary or
/// in the lab's own events (docs/script-vocabulary.md), and the names printed
/// are the names the real logs have.
#[test]
fn printed_vocabulary_is_the_lab_vocabulary() {
    let mut vocab = oracle_vocabulary();
    vocab.extend(lab_vocabulary());
    let mut printed = BTreeSet::new();
    let mut recorded = BTreeSet::new();
    for name in LAB_CASES {
        let path = lab_case(name);
        for (_, e) in &run(&path).events {
            printed.insert(e.split('(').next().unwrap().to_string());
        }
        for e in expected_events(&path) {
            recorded.insert(e.split('(').next().unwrap().to_string());
        }
    }
    let unknown: Vec<_> = printed.iter().filter(|n| !vocab.contains(*n)).collect();
    assert!(
        unknown.is_empty(),
        "printed names outside the vocabulary: {unknown:?} (vocabulary: {vocab:?})"
    );
    assert_eq!(printed, recorded);
}

/// The lab target's kthread sleeping in the lab patch's new function (block
/// set) makes the target's exit wait forever (kthread_stop), and an
/// unexpected write error fails its step: the runner says so instead of
/// hanging or going on.
#[test]
fn kthread_asleep_in_new_code_blocks_the_target_exit() {
    let dir = std::env::temp_dir().join(format!("klpcheck-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stuck-exit.json");
    std::fs::write(
        &path,
        r#"{"patches": {"P1": {"module": "test_klp_lab_patch"}},
            "steps": [
              {"op": "load_module", "args": {"module": "test_klp_lab_target"}},
              {"op": "load_livepatch", "args": {"patch": "P1", "params": {"block": "Y"}}},
              {"op": "write_enabled", "args": {"patch": "P1", "value": 1}},
              {"op": "unload_module", "args": {"module": "test_klp_lab_target"}}
            ]}"#,
    )
    .unwrap();
    let out = run(&path);
    let got: Vec<&str> = out.events.iter().map(|(_, e)| e.as_str()).collect();
    assert!(got.contains(&"new_func_block(P1)"), "{got:?}");
    let (step, msg) = out.error.expect("the enable write fails");
    assert_eq!(step, 2);
    assert!(msg.contains("failed with EINVAL"), "{msg}");
    assert_eq!(got.last(), Some(&"write_error(P1,enabled,EINVAL)"));

    std::fs::write(
        &path,
        r#"{"patches": {"P1": {"module": "test_klp_lab_patch"}},
            "steps": [
              {"op": "load_module", "args": {"module": "test_klp_lab_target"}},
              {"op": "load_livepatch", "args": {"patch": "P1", "params": {"block": "Y"}}},
              {"op": "unload_module", "args": {"module": "test_klp_lab_target"}}
            ]}"#,
    )
    .unwrap();
    let out = run(&path);
    let (step, msg) = out.error.expect("the target's exit never returns");
    assert_eq!(step, 2);
    assert!(msg.contains("never returns"), "{msg}");
}
