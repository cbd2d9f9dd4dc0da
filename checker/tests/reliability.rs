//! Reproducers of issue 15 kept as tests: `check DIR` on directory-symlink
//! cycles ends and loads each file once; a name past the length bound is a
//! located load error (exit 2), not a failure after the search; `replay`
//! refuses a trace of an `eventually` property and a trace whose kind does
//! not match its property.

mod common;

use common::{klpcheck, repo};

fn claim() -> String {
    std::fs::read_to_string(repo().join("specs/doc/claim-08-shadow-freed-in-module-exit.json"))
        .unwrap()
}

#[test]
fn check_dir_ends_on_directory_symlink_cycles_and_loads_each_file_once() {
    use std::os::unix::fs::symlink;
    let d = tempfile::tempdir().unwrap();
    let specs = d.path().join("specs");
    std::fs::create_dir_all(specs.join("a/b")).unwrap();
    std::fs::write(specs.join("a/claim.json"), claim()).unwrap();
    // A loop onto an ancestor, two directories pointing at each other, a
    // symlink loop of files, and a second name for the one scenario.
    symlink(&specs, specs.join("a/b/up")).unwrap();
    std::fs::create_dir_all(specs.join("x")).unwrap();
    std::fs::create_dir_all(specs.join("y")).unwrap();
    symlink(specs.join("y"), specs.join("x/to-y")).unwrap();
    symlink(specs.join("x"), specs.join("y/to-x")).unwrap();
    symlink(specs.join("l2.json"), specs.join("l1.json")).unwrap();
    symlink(specs.join("l1.json"), specs.join("l2.json")).unwrap();
    symlink(specs.join("a/claim.json"), specs.join("again.json")).unwrap();
    let dir = specs.to_str().unwrap();
    let (code, stdout, stderr) = klpcheck(&["check", dir, "-q"]);
    // The file-symlink loop cannot be read: a located error, exit 2, and
    // nothing is checked; no walk loops.
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("l1.json") || stderr.contains("l2.json"),
        "{stderr}"
    );
    // Without the unreadable loop: the scenario once (the second name of
    // the file is the same file), the directory cycles not followed.
    std::fs::remove_file(specs.join("l1.json")).unwrap();
    std::fs::remove_file(specs.join("l2.json")).unwrap();
    let (code, stdout, stderr) = klpcheck(&["check", dir, "-q"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    // The cycle named on the command line itself is walked once too.
    let up = specs.join("a/b/up");
    let (code, stdout, stderr) = klpcheck(&["check", up.to_str().unwrap(), dir, "-q"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn a_name_past_the_bound_is_a_located_load_error() {
    let d = tempfile::tempdir().unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&claim()).unwrap();
    v["name"] = serde_json::Value::String("a".repeat(300));
    let s = d.path().join("long-name.json");
    std::fs::write(&s, serde_json::to_string(&v).unwrap()).unwrap();
    let out = d.path().join("out");
    let (code, stdout, stderr) =
        klpcheck(&["check", s.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("long-name.json:1:"), "{stderr}");
    assert!(stderr.contains("300 bytes long; at most 128"), "{stderr}");
    assert!(stderr.contains("nothing was checked"), "{stderr}");
    // Refused before the search: nothing written.
    assert!(!out.exists());

    // A patch name of 300 characters: the same, located at the key.
    let mut v: serde_json::Value = serde_json::from_str(&claim()).unwrap();
    let patches = v["patches"].as_object_mut().unwrap();
    let (k, p) = patches
        .iter()
        .next()
        .map(|(k, p)| (k.clone(), p.clone()))
        .unwrap();
    patches.remove(&k);
    patches.insert("P".repeat(300), p);
    std::fs::write(&s, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let (code, _, stderr) = klpcheck(&["check", s.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("long-name.json:"), "{stderr}");
    assert!(stderr.contains("bytes long; at most"), "{stderr}");
}

#[test]
fn replay_refuses_eventually_traces_and_mismatched_kinds() {
    let d = tempfile::tempdir().unwrap();
    let spec = repo().join("specs/examples/series-downgrade.json");
    let spec_s = spec.to_str().unwrap();
    let out = d.path().join("out");
    let (code, stdout, stderr) = klpcheck(&["check", spec_s, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let trace = out.join("series-downgrade/code-requirements-met/trace.json");
    let (code, stdout, stderr) = klpcheck(&["replay", spec_s, trace.to_str().unwrap()]);
    assert_eq!(code, 0, "the written trace replays: {stdout}\n{stderr}");

    let text = std::fs::read_to_string(&trace).unwrap();
    let mut t: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Relabelled as a trace of transition-completes (an eventually property).
    t["property"] = "transition-completes".into();
    t["kind"] = "eventually".into();
    let ev = d.path().join("eventually.json");
    std::fs::write(&ev, serde_json::to_string(&t).unwrap()).unwrap();
    let (code, stdout, stderr) = klpcheck(&["replay", spec_s, ev.to_str().unwrap()]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("eventually property"), "{stderr}");
    assert!(stderr.contains("lasso"), "{stderr}");
    assert!(stdout.is_empty(), "nothing replayed: {stdout}");

    // The kind does not match the property.
    let mut t: serde_json::Value = serde_json::from_str(&text).unwrap();
    t["kind"] = "sometimes".into();
    let mk = d.path().join("mismatch.json");
    std::fs::write(&mk, serde_json::to_string(&t).unwrap()).unwrap();
    let (code, _, stderr) = klpcheck(&["replay", spec_s, mk.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the kind `sometimes`; its kind is `always`"),
        "{stderr}"
    );
}

/// A `--memory` the system cannot give (here an 8 GiB budget under a 3 GB
/// address-space limit) is an incomplete check, exit 3, saying which
/// allocation failed, never an abort (it was exit 134 at the liveness
/// pass's graph arrays).
#[test]
fn a_memory_budget_the_system_refuses_is_incomplete_not_an_abort() {
    let bin = assert_cmd::cargo::cargo_bin("klpcheck");
    let spec = repo().join("specs/bench/bench-replace-3tasks.json");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 3000000 && exec \"$0\" check \"$1\" --memory 8GiB --no-coverage")
        .arg(&bin)
        .arg(&spec)
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(out.contains("cannot allocate"), "{out}");
    assert!(out.contains("rerun with a smaller --memory"), "{out}");
}

/// The replay fuzz target mutates fuzz/corpus/replay: those traces must
/// replay as they are, or the target only ever sees divergences (they had
/// gone stale with the finer model and 224,818 inputs reached 2 refusal
/// classes and no accepted replay). Regenerate with `klpcheck check SPEC
/// --out DIR` when the model changes.
#[test]
fn replay_corpus_traces_replay() {
    let dir = repo().join("fuzz/corpus/replay");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let trace = entry.unwrap().path();
        if trace.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let t: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
        let spec = t["spec"]["path"].as_str().unwrap().to_string();
        let o = assert_cmd::Command::cargo_bin("klpcheck")
            .unwrap()
            .current_dir(repo())
            .args(["replay", &spec, trace.to_str().unwrap()])
            .env_remove("GITHUB_ACTIONS")
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}: {o:?}", trace.display());
        n += 1;
    }
    assert!(n >= 5, "only {n} traces in {}", dir.display());
}
