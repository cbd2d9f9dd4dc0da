//! Bounded resources and interrupts, through the binary: a table that
//! cannot be allocated is an incomplete run, not an abort; Ctrl-C during
//! `check --out` stops within a second and leaves partial reports, marked
//! so, and no half-written file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn klpcheck() -> String {
    env!("CARGO_BIN_EXE_klpcheck").to_string()
}

#[test]
fn a_table_beyond_the_address_space_limit_is_incomplete_not_an_abort() {
    // 2 GiB of address space; --memory 8GiB asks for a 6 GiB table (2^29 slots).
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -v 2097152; exec {} check -q --no-coverage --no-liveness --threads 1 --memory 8GiB --fail-on-incomplete {}",
            klpcheck(),
            repo().join("specs/bugs/two-transitions.json").display()
        ))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(
        out.contains("cannot allocate 6144 MiB for the fingerprint table"),
        "{out}"
    );
}

#[test]
fn ctrl_c_stops_check_within_a_second_with_partial_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let junit = dir.path().join("junit.xml");
    let sarif = dir.path().join("sarif.json");
    // The bench scenario, then one that would follow: the bench takes far
    // longer than the signal's delay.
    let mut child = Command::new(klpcheck())
        .args(["check", "-q", "--threads", "1", "--out"])
        .arg(&out)
        .arg("--junit")
        .arg(&junit)
        .arg("--sarif")
        .arg(&sarif)
        .arg(repo().join("specs/bench/bench-replace-3tasks.json"))
        .arg(repo().join("specs/bugs/two-transitions.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let sent = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = sent.elapsed();
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert!(stderr.contains("interrupted after"), "{stderr}");
    let report = std::fs::read_to_string(out.join("report.json")).unwrap();
    let lines: Vec<serde_json::Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The bench was cut short; the scenario after it never started.
    assert_eq!(lines.len(), 1, "{report}");
    assert_eq!(lines[0]["complete"], false);
    assert_eq!(lines[0]["incomplete_reason"], "interrupted");
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(
        sarif["runs"][0]["invocations"][0]["executionSuccessful"],
        false
    );
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(
        junit.contains(r#"<property name="incomplete" value="interrupted"/>"#),
        "{junit}"
    );
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let name = e.unwrap().file_name();
        assert!(!name.to_string_lossy().contains(".tmp."), "{name:?}");
    }
}

/// The kept fuzz corpus, once through each target (the regression part of
/// the fuzz harness; the smoke in .ci/run mutates it).
#[test]
fn fuzz_corpus_inputs_do_not_crash() {
    let root = repo().join("fuzz/corpus");
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    for f in klp_checker::fuzz::json_files(&root.join("loader")) {
        let b = std::fs::read(&f).unwrap();
        klp_checker::fuzz::loader(&b, true);
        n += 1;
    }
    for f in klp_checker::fuzz::json_files(&root.join("run")) {
        let b = std::fs::read(&f).unwrap();
        klp_checker::fuzz::run(&b, &tmp.path().join("case.json"));
        n += 1;
    }
    assert!(n > 0, "no corpus under {}", root.display());
}
