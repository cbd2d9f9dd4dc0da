//! Errors like rustc's: every error of every file in one run, each with
//! file:line:column, the JSON path and a "did you mean"; trailing text and
//! invalid UTF-8 are errors with a position; `check DIR` skips what `--out`
//! wrote; durations and the whole-command timeout.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use common::klpcheck;

const GOOD: &str = r#"{
  "spec_version": 1,
  "objects": {"vmlinux": {"funcs": ["cmdline_proc_show"]}},
  "patches": {"P1": {"objects": {"vmlinux": {"funcs": {"cmdline_proc_show": {}}}}}}
}
"#;

#[test]
fn every_error_of_every_file_with_line_column_path_and_suggestion() {
    let d = tempfile::tempdir().unwrap();
    // A semantic error: the patched function is misspelt.
    let a = GOOD.replace("{\"cmdline_proc_show\": {}}", "{\"cmdline_proc_shwo\": {}}");
    std::fs::write(d.path().join("a.json"), &a).unwrap();
    // A parse error: a misspelt key.
    let b = GOOD.replace("\"patches\"", "\"patchs\"");
    std::fs::write(d.path().join("b.json"), &b).unwrap();
    // Trailing text after the value.
    std::fs::write(d.path().join("c.json"), format!("{GOOD}\n}}")).unwrap();
    // Invalid UTF-8 on line 2.
    let mut bytes = b"{\n  \"spec_version\": 1, \"name\": \"x".to_vec();
    bytes.extend([0xff, 0xfe]);
    bytes.extend(b"\"}\n");
    std::fs::write(d.path().join("d.json"), bytes).unwrap();
    // An unknown property id.
    let e = GOOD.replace(
        "\"spec_version\": 1,",
        "\"spec_version\": 1,\n  \"expect\": {\"shadow-no-use-after-fre\": \"holds\"},",
    );
    std::fs::write(d.path().join("e.json"), &e).unwrap();
    std::fs::write(d.path().join("ok.json"), GOOD).unwrap();

    let (code, stdout, stderr) = klpcheck(&["check", d.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty(), "nothing is checked: {stdout}");
    let at = |name: &str| format!("{}:", d.path().join(name).display());
    // a.json: the key of the unknown function, line 4 column 56.
    assert!(
        stderr.contains(&format!("{}4:56", at("a.json"))),
        "{stderr}"
    );
    assert!(
        stderr.contains("unknown function `cmdline_proc_shwo`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean `cmdline_proc_show`?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("= at: patches.P1.objects.vmlinux.funcs.cmdline_proc_shwo"),
        "{stderr}"
    );
    // b.json: the misspelt key, and its correction.
    assert!(stderr.contains(&format!("{}4:3", at("b.json"))), "{stderr}");
    assert!(stderr.contains("did you mean `patches`?"), "{stderr}");
    // c.json: the trailing brace.
    assert!(stderr.contains(&format!("{}7:1", at("c.json"))), "{stderr}");
    assert!(stderr.contains("trailing characters"), "{stderr}");
    // d.json: the first byte that is not UTF-8.
    assert!(
        stderr.contains(&format!("{}2:32", at("d.json"))),
        "{stderr}"
    );
    assert!(stderr.contains("not valid UTF-8"), "{stderr}");
    // e.json: the property id.
    assert!(
        stderr.contains(&format!("{}3:14", at("e.json"))),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean `shadow-no-use-after-free`?"),
        "{stderr}"
    );
    assert!(stderr.contains("5 errors in 5 files"), "{stderr}");
    // The caret line shows the source line.
    assert!(stderr.contains("\"cmdline_proc_shwo\""), "{stderr}");
}

#[test]
fn check_dir_skips_its_own_out_folder_and_gitignored_paths() {
    let d = tempfile::tempdir().unwrap();
    let specs = d.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(
        specs.join("claim.json"),
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../specs/doc/claim-08-shadow-freed-in-module-exit.json"),
        )
        .unwrap(),
    )
    .unwrap();
    // A .gitignore'd scenario that does not load.
    std::fs::write(specs.join(".gitignore"), "scratch/\n").unwrap();
    std::fs::create_dir_all(specs.join("scratch")).unwrap();
    std::fs::write(specs.join("scratch/broken.json"), "{").unwrap();
    let out = specs.join("out");
    let out_s = out.to_str().unwrap();
    let dir = specs.to_str().unwrap();
    for run in 0..2 {
        let (code, stdout, stderr) = klpcheck(&["check", dir, "--out", out_s, "-q"]);
        assert_eq!(code, 0, "run {run}: {stdout}\n{stderr}");
        assert!(stdout.contains("1 passed"), "run {run}: {stdout}");
    }
    assert!(out.join("report.json").exists());
    // A directory given twice (or a file reached twice) is loaded once.
    let (code, stdout, _) = klpcheck(&["check", dir, dir, "-q"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn durations_and_sizes_and_help() {
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("s.json");
    std::fs::write(&spec, GOOD).unwrap();
    let s = spec.to_str().unwrap();
    for t in ["90s", "5m", "1h 30m", "120"] {
        let (code, _, stderr) = klpcheck(&["check", s, "-q", "--timeout", t, "--memory", "64MiB"]);
        assert_eq!(code, 0, "--timeout {t}: {stderr}");
    }
    let (code, _, stderr) = klpcheck(&["check", s, "--timeout", "soon"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not a duration"), "{stderr}");
    let (code, _, stderr) = klpcheck(&["check", s, "--memory", "lots"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not a size"), "{stderr}");
    let (code, _, stderr) = klpcheck(&["check", s, "--profile", "mainlin"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("mainline"), "{stderr}");
    let (code, stdout, _) = klpcheck(&["check", "--help"]);
    assert_eq!(code, 0);
    for needle in [
        "Exit codes:",
        "draft-2018",
        "b1-immediate",
        "stateright-dfs",
        "--allow-incomplete",
    ] {
        assert!(stdout.contains(needle), "--help names {needle}:\n{stdout}");
    }
}

/// The timeout bounds the whole command, liveness and coverage passes
/// included; the run is incomplete (exit 3) and no property that depends
/// on unexplored states holds.
#[test]
fn timeout_bounds_every_pass_of_the_bench_scenario() {
    let bench =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/bench/bench-replace-3tasks.json");
    let started = Instant::now();
    let (code, stdout, stderr) = klpcheck(&[
        "check",
        bench.to_str().unwrap(),
        "--timeout",
        "1s",
        // With symmetry the whole check ends in about a second (the
        // packed state); without, its search alone takes several.
        "--no-symmetry",
        "--format",
        "json",
        "-q",
    ]);
    let took = started.elapsed();
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["complete"], false);
    for p in v["properties"].as_array().unwrap() {
        if p["kind"] == "eventually" {
            assert_eq!(p["status"], "unknown", "{p}");
        }
        let why = v["incomplete_reason"].as_str().unwrap();
        if !why.starts_with("liveness") && p["kind"] == "always" {
            // The search itself was cut: no always property holds (a
            // witness found is an example, which stands).
            assert_ne!(p["status"], "holds", "{p}");
        }
    }
    assert!(
        stderr.contains("0 passed, 0 failed, 1 incomplete"),
        "{stderr}"
    );
}

/// A reader that stops reading (`klpcheck check bad.json 2>&1 | head -1`,
/// `klpcheck list | head -1`) is no panic (exit 101): the command exits
/// with its own code. The read ends are closed before the child has
/// started, so its first write already meets a closed pipe.
#[test]
fn a_closed_stdout_or_stderr_is_not_a_panic() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\n  \"spec_version\": 1,\n  \"nonsense\": 3\n").unwrap();
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/doc");
    let first = std::fs::read_dir(&doc)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .min()
        .unwrap();
    let cases: [(&[&str], bool, i32); 5] = [
        (&["check", bad.to_str().unwrap()], false, 2),
        (&["check", bad.to_str().unwrap()], true, 2),
        (&["check", first.to_str().unwrap()], true, 0),
        (&["list"], true, 0),
        (&["schema"], true, 0),
    ];
    for (args, close_stdout, code) in cases {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_klpcheck"));
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if close_stdout {
            drop(child.stdout.take());
        } else {
            drop(child.stderr.take());
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "klpcheck {args:?} with a closed {}: {err}",
            if close_stdout { "stdout" } else { "stderr" }
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
