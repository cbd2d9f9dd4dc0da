//! `klpcheck validate` (trace validation) and `klpcheck gen`: a trace the model
//! allows, one it does not (with the first unexplained event), one with
//! interleaved commands, kernel work and task readings; generated scenarios are
//! the same for the same seed, run under `klpcheck run`, and validate their own
//! events.

use std::path::PathBuf;

use assert_cmd::Command;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/validate")
        .join(name)
}

fn klpcheck(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_klpcheck"))
        .args(args)
        .output()
        .expect("klpcheck runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn validate(events: &str, extra: &[&str]) -> (i32, String) {
    let spec = data("two-patches.json");
    let ev = data(events);
    let mut args = vec!["validate", spec.to_str().unwrap(), ev.to_str().unwrap()];
    args.extend_from_slice(extra);
    klpcheck(&args)
}

#[test]
fn a_trace_the_model_allows_validates_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("path");
    let (code, text) = validate("allowed.events", &["--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("validated: a model path of"), "{text}");
    assert!(text.contains("prints all 20 observed events"), "{text}");
    assert!(
        text.contains(
            "2 event(s) with no model counterpart left out (workload_start, workload_stop)"
        ),
        "{text}"
    );
    assert!(text.contains("$ insmod test_klp_v_p1.ko"), "{text}");
    // the matching path is written like a counterexample, and `run` replays it
    assert!(out.join("trace.txt").exists());
    let case = out.join("case.json");
    let (code, text) = klpcheck(&["run", case.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("post_patch(P1,test_klp_g_t1,LIVE)"), "{text}");
}

#[test]
fn a_trace_the_model_does_not_allow_names_the_first_unexplained_event() {
    let (code, text) = validate("not-allowed.events", &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("the model explains the first 5 of 10 events"),
        "{text}"
    );
    assert!(
        text.contains("first unexplained event (line 8): pre_patch(P1,test_klp_g_t1,LIVE)"),
        "{text}"
    );
    // what the model prints at that point instead
    assert!(text.contains("    transition_start(P1,patching)"), "{text}");
}

#[test]
fn interleaved_commands_kernel_work_and_task_readings_validate() {
    let (code, text) = validate("interleaved.events", &[]);
    assert_eq!(code, 0, "{text}");
    // the patch_state readings and workload markers are left out, the EBUSY of
    // the second insmod is explained by P1's open transition
    assert!(
        text.contains("4 event(s) with no model counterpart left out"),
        "{text}"
    );
    assert!(text.contains("load_error(P2,EBUSY)"), "{text}");
    assert!(text.contains("klp_transition_work"), "{text}");
}

#[test]
fn an_unknown_name_in_a_marker_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("bad.events");
    std::fs::write(&ev, "cmd_load(nosuch)\n").unwrap();
    let spec = data("two-patches.json");
    let (code, text) = klpcheck(&["validate", spec.to_str().unwrap(), ev.to_str().unwrap()]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("line 1: `cmd_load(nosuch)` names `nosuch`"),
        "{text}"
    );
}

#[test]
fn gen_is_deterministic_and_every_scenario_runs_and_validates() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 1..=6u32 {
        let s = seed.to_string();
        let a = dir.path().join(format!("a{seed}.json"));
        let b = dir.path().join(format!("b{seed}.json"));
        for p in [&a, &b] {
            let (code, text) = klpcheck(&[
                "gen",
                "--seed",
                &s,
                "--min-cpus",
                "2",
                "--out",
                p.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "{text}");
        }
        let ta = std::fs::read_to_string(&a).unwrap();
        assert_eq!(ta, std::fs::read_to_string(&b).unwrap(), "seed {seed}");
        let v: serde_json::Value = serde_json::from_str(&ta).unwrap();
        let cpus = v["cpus"].as_u64().unwrap();
        assert!((2..=4).contains(&cpus), "seed {seed}: {cpus} CPUs");
        let n = v["patches"].as_object().unwrap().len();
        assert!((1..=4).contains(&n), "seed {seed}: {n} patches");
        let (code, text) = klpcheck(&["run", a.to_str().unwrap()]);
        assert_eq!(code, 0, "seed {seed}: {text}");
        // the model's own events are a behaviour of the model
        let (code, text) = klpcheck(&["validate", a.to_str().unwrap(), a.to_str().unwrap()]);
        assert_eq!(code, 0, "seed {seed}: {text}");
    }
    let (_, one) = klpcheck(&["gen", "--seed", "1"]);
    let (_, two) = klpcheck(&["gen", "--seed", "2"]);
    assert_ne!(one, two);
}

/// The concurrency judge runs recorded on Linux 7.2 (lab/cases/7.2, real logs
/// in lab/results/7.2): each real log is a behaviour of the model, with the
/// lab's modules as definitions (specs/selftests/modules/test_klp_lab_*.json)
/// and their workloads as the scenario's tasks.
#[test]
fn every_recorded_72_concurrency_log_validates() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut n = 0;
    for entry in std::fs::read_dir(root.join("lab/cases/7.2")).unwrap() {
        let case = entry.unwrap().path();
        if case.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let stem = case.file_stem().unwrap().to_string_lossy().into_owned();
        let log = root.join("lab/results/7.2").join(format!("{stem}.events"));
        let (code, text) = klpcheck(&["validate", case.to_str().unwrap(), log.to_str().unwrap()]);
        assert_eq!(code, 0, "{stem}: {text}");
        assert!(
            text.contains("validated: a model path of"),
            "{stem}: {text}"
        );
        n += 1;
    }
    assert_eq!(n, 8, "lab/cases/7.2 has eight cases");
}

/// samples72-01 (the kernel's shadow samples as a cumulative pair) run on
/// Debian's 6.1 with 2 CPUs too (`lab/run lab/cases/7.2/samples72-01-*.json`):
/// the same events, a behaviour of the model.
#[test]
fn the_samples_case_recorded_on_6_1_validates() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let case = root.join("lab/cases/7.2/samples72-01-shadow-fix1-fix2-replace.json");
    let log = root.join("lab/results/samples-6.1/samples72-01-shadow-fix1-fix2-replace.events");
    let (code, text) = klpcheck(&["validate", case.to_str().unwrap(), log.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("validated: a model path of"), "{text}");
}

/// A few real logs of `lab/fuzz --kernel 7.2` (random scenarios of `klpcheck
/// gen`, run on Linux 7.2.13 with 2 CPUs and workloads), kept in
/// lab/results/fuzz-7.2: each still validates (the CI smoke of the fuzzing,
/// which needs no QEMU).
#[test]
fn recorded_fuzz_logs_validate() {
    recorded_fuzz_logs_validate_in("fuzz-7.2");
}

/// The same for `lab/fuzz --kernel 6.1` (Debian's 6.1.0-57, 2 CPUs):
/// gen-13 (an insmod the model's quiet-machine run refused loaded, the
/// earlier transition having completed) and gen-159 (its insmod got ENODEV
/// from a pre_patch callback instead of EBUSY) among them.
#[test]
fn recorded_fuzz_logs_of_6_1_validate() {
    recorded_fuzz_logs_validate_in("fuzz-6.1");
}

fn recorded_fuzz_logs_validate_in(folder: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lab/results")
        .join(folder);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let spec = entry.unwrap().path();
        if spec.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let log = spec.with_extension("events");
        let (code, text) = klpcheck(&["validate", spec.to_str().unwrap(), log.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {text}", spec.display());
        n += 1;
    }
    assert!(n >= 3, "only {n} recorded fuzz logs in {}", dir.display());
}
