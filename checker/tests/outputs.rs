//! The outputs of issue 6, end to end through the `klpcheck` binary:
//! `check --out` writes every file, and what it writes replays (`klpcheck
//! run case.json`, `klpcheck replay`); JUnit, SARIF and GitHub Actions
//! outputs; `simulate` reproduces from its printed command line; `explore`
//! answers over HTTP.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn spec(name: &str) -> PathBuf {
    repo().join("specs/doc").join(format!("{name}.json"))
}

fn klpcheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_klpcheck"))
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("klpcheck runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every trace folder below `dir`.
fn folders(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for scen in std::fs::read_dir(dir).unwrap().flatten() {
        if scen.path().is_dir() {
            for prop in std::fs::read_dir(scen.path()).unwrap().flatten() {
                out.push(prop.path());
            }
        }
    }
    out.sort();
    out
}

/// `check specs --out DIR` writes report.json (one line per scenario) and a
/// complete folder per violated property, and every case.json it writes runs
/// with `klpcheck run` and every trace.json replays with `klpcheck replay`.
#[test]
fn check_out_traces_of_all_specs_run_and_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let specs = repo().join("specs");
    let o = klpcheck(&[
        "check",
        specs.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let report = std::fs::read_to_string(out.join("report.json")).unwrap();
    let lines: Vec<serde_json::Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert!(lines.len() > 20, "one line per scenario");
    let dirs = folders(&out);
    assert!(
        dirs.len() >= 3,
        "the violating claims have folders: {dirs:?}"
    );
    for d in &dirs {
        for f in [
            "trace.txt",
            "trace.json",
            "trace.itf.json",
            "trace.md",
            "case.json",
            "reproduce.sh",
        ] {
            assert!(d.join(f).is_file(), "{} lacks {f}", d.display());
        }
        let run = klpcheck(&["run", d.join("case.json").to_str().unwrap()]);
        assert_run_reproduces(d, &run);
        let trace: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("trace.json")).unwrap()).unwrap();
        let spec_path = repo().join(
            Path::new(trace["spec"]["path"].as_str().unwrap())
                .strip_prefix(repo())
                .unwrap_or(Path::new(trace["spec"]["path"].as_str().unwrap())),
        );
        let rp = klpcheck(&[
            "replay",
            spec_path.to_str().unwrap(),
            d.join("trace.json").to_str().unwrap(),
        ]);
        assert_eq!(
            rp.status.code(),
            Some(0),
            "klpcheck replay {}: {}",
            d.display(),
            text(&rp.stderr)
        );
        assert!(text(&rp.stdout).contains("the trace is valid"));
    }
}

fn write_claim08(dir: &Path, verdict: &str) -> PathBuf {
    let text = std::fs::read_to_string(spec("claim-08-shadow-freed-in-module-exit")).unwrap();
    let text = text.replace(
        "\"shadow-no-use-after-free\": \"violated\"",
        &format!("\"shadow-no-use-after-free\": \"{verdict}\""),
    );
    let path = dir.join("claim-08.json");
    std::fs::write(&path, text).unwrap();
    path
}

/// A replay names the first step that no longer applies (exit 1) and
/// rejects a file that is not a trace (exit 2).
#[test]
fn replay_reports_the_first_failing_step_and_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let s = spec("claim-08-shadow-freed-in-module-exit");
    let o = klpcheck(&[
        "check",
        s.to_str().unwrap(),
        "-q",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let trace =
        out.join("claim-08-shadow-freed-in-module-exit/shadow-no-use-after-free/trace.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    // Drop the free_work step: rmmod of P1 is then impossible (refcount held).
    let steps = v["steps"].as_array_mut().unwrap();
    let free = steps
        .iter()
        .position(|s| s["action"]["op"] == "free_work")
        .expect("the trace frees P1");
    steps.remove(free);
    let rmmod = steps
        .iter()
        .find(|s| s["action"]["op"] == "rmmod")
        .expect("the trace removes P1")["index"]
        .as_u64()
        .unwrap();
    let broken = tmp.path().join("broken.json");
    std::fs::write(&broken, serde_json::to_string(&v).unwrap()).unwrap();
    let rp = klpcheck(&["replay", s.to_str().unwrap(), broken.to_str().unwrap()]);
    assert_eq!(rp.status.code(), Some(1));
    let err = text(&rp.stderr);
    assert!(
        err.contains(&format!(
            "step {rmmod} (`rmmod P1`) no longer applies: it fails now (unload_error(P1,EAGAIN))"
        )),
        "{err}"
    );

    // A scenario where the property now holds: the last state is fine.
    v = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    v["steps"].as_array_mut().unwrap().truncate(4);
    std::fs::write(&broken, serde_json::to_string(&v).unwrap()).unwrap();
    let rp = klpcheck(&["replay", s.to_str().unwrap(), broken.to_str().unwrap()]);
    assert_eq!(rp.status.code(), Some(1));
    assert!(text(&rp.stderr).contains("no longer violates shadow-no-use-after-free"));

    std::fs::write(&broken, "{\"steps\": 3}").unwrap();
    let rp = klpcheck(&["replay", s.to_str().unwrap(), broken.to_str().unwrap()]);
    assert_eq!(rp.status.code(), Some(2));
    assert!(text(&rp.stderr).contains("not a klpcheck trace.json"));
}

/// A failed expectation gives JUnit, SARIF, GitHub annotations (with the
/// line of the property in the expect block) and a step summary.
#[test]
fn ci_outputs_of_a_failed_expectation() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_claim08(tmp.path(), "holds");
    let (junit, sarif, summary) = (
        tmp.path().join("j.xml"),
        tmp.path().join("s.sarif"),
        tmp.path().join("summary.md"),
    );
    let o = Command::new(env!("CARGO_BIN_EXE_klpcheck"))
        .args([
            "check",
            spec.to_str().unwrap(),
            "-q",
            "--out",
            tmp.path().join("out").to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--sarif",
            sarif.to_str().unwrap(),
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let stdout = text(&o.stdout);
    let line = std::fs::read_to_string(&spec)
        .unwrap()
        .lines()
        .position(|l| l.contains("\"expect\"") && l.contains("shadow-no-use-after-free"))
        .unwrap()
        + 1;
    let want = format!(
        "::error file={},line={line},title=shadow-no-use-after-free::",
        spec.display()
    );
    assert!(stdout.contains(&want), "{stdout}");
    let x = std::fs::read_to_string(&junit).unwrap();
    assert!(x.contains("<testsuite name=\"claim-08-shadow-freed-in-module-exit\""));
    assert!(x.contains("<testcase name=\"shadow-no-use-after-free\""));
    assert!(x.contains("<failure message=\"shadow-no-use-after-free is violated"));
    assert!(x.contains("traces: "));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let r = &s["runs"][0]["results"][0];
    assert_eq!(r["ruleId"], "shadow-no-use-after-free");
    assert_eq!(
        r["locations"][0]["physicalLocation"]["region"]["startLine"],
        line
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("| claim-08-shadow-freed-in-module-exit | **FAIL** |"));
    assert!(md.contains("```mermaid\nsequenceDiagram"));
}

/// `--fail-on-vacuous` fails a scenario whose allowed action never fires
/// (claim-02: P3 is always replaced while its module is pinned... never freed
/// before the bound), and the coverage table shows the counts.
#[test]
fn fail_on_vacuous_turns_coverage_warnings_into_failures() {
    let s = spec("claim-02-replace-removes-all-older");
    let o = klpcheck(&["check", s.to_str().unwrap(), "--coverage"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).contains("action coverage"));
    assert!(text(&o.stderr).contains("allowed action `rmmod P3` never changes the state"));
    let o = klpcheck(&["check", s.to_str().unwrap(), "-q", "--fail-on-vacuous"]);
    assert_eq!(o.status.code(), Some(1));
}

/// A simulation finds claim-08's violation and prints a command line that
/// reproduces exactly the same counterexample.
#[test]
fn simulate_prints_a_reproducing_command_line() {
    let s = spec("claim-08-shadow-freed-in-module-exit");
    let o = klpcheck(&[
        "simulate",
        s.to_str().unwrap(),
        "--seed",
        "7",
        "--runs",
        "300",
        "--depth",
        "12",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    let cmd = err
        .lines()
        .skip_while(|l| !l.contains("shadow-no-use-after-free violated"))
        .nth(1)
        .expect("a reproduce line")
        .trim()
        .to_string();
    let args: Vec<&str> = cmd.split_whitespace().skip(1).collect();
    let again = klpcheck(&args);
    let trace = |out: &str| -> String {
        out.lines()
            .skip_while(|l| !l.contains("shadow-no-use-after-free"))
            .take_while(|l| !l.contains("code-requirements-met"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(trace(&text(&o.stdout)).contains("counterexample"));
    assert_eq!(trace(&text(&o.stdout)), trace(&text(&again.stdout)));

    // --out writes the walk like a check violation, and it replays.
    let tmp = tempfile::tempdir().unwrap();
    let mut with_out = args.clone();
    with_out.extend(["--out", tmp.path().to_str().unwrap()]);
    assert_eq!(klpcheck(&with_out).status.code(), Some(0));
    let d = tmp
        .path()
        .join("claim-08-shadow-freed-in-module-exit/shadow-no-use-after-free");
    let run = klpcheck(&["run", d.join("case.json").to_str().unwrap()]);
    assert_run_reproduces(&d, &run);
    let rp = klpcheck(&[
        "replay",
        s.to_str().unwrap(),
        d.join("trace.json").to_str().unwrap(),
    ]);
    assert_eq!(rp.status.code(), Some(0), "{}", text(&rp.stderr));
}

/// `klpcheck run` on a case.json of folder `d` (named after its property)
/// prints the counterexample's events unchanged, and reports the safety
/// property the trace violates (exit 1) unless the scenario expects it
/// violated (exit 0, reported "as expected"); witnesses are not checked.
fn assert_run_reproduces(d: &Path, run: &Output) {
    let err = text(&run.stderr);
    let prop = d.file_name().unwrap().to_str().unwrap();
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("case.json")).unwrap()).unwrap();
    assert!(!err.contains("differs"), "{}: {err}", d.display());
    let safety = klp_model::properties::property(prop)
        .is_some_and(|p| p.kind == klp_model::properties::Kind::Always);
    let expected_violated = case["expect"][prop] == "violated";
    if safety && !expected_violated {
        assert_eq!(run.status.code(), Some(1), "{}: {err}", d.display());
        assert!(
            err.contains(&format!("{prop} violated by step")) && err.contains("why: "),
            "{}: {err}",
            d.display()
        );
    } else if run.status.code() != Some(0) {
        // Another safety property broken on the way is reported too.
        assert_eq!(run.status.code(), Some(1), "{}: {err}", d.display());
        assert!(err.contains(" violated by step"), "{}: {err}", d.display());
    }
    if safety && expected_violated {
        assert!(
            err.contains(&format!("{prop} violated (as expected) by step")),
            "{}: {err}",
            d.display()
        );
    }
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|x| x.1.to_string())?;
    Some((code, body))
}

/// `explore` serves stateright's Explorer on a loopback port: its status
/// route answers and the states route lists boot's actions in kernel terms.
#[test]
fn explore_serves_status_and_states_over_http() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = spec("claim-08-shadow-freed-in-module-exit");
    let mut child = Command::new(env!("CARGO_BIN_EXE_klpcheck"))
        .args([
            "explore",
            s.to_str().unwrap(),
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(r) = http_get(port, "/.status") {
            break Some(r);
        }
        if start.elapsed() > Duration::from_secs(20) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let boot = http_get(port, "/.states");
    // The successors of boot: the path is made of indices (init state 0).
    let next = http_get(port, "/.states/0");
    let page = http_get(port, "/");
    let _ = child.kill();
    let _ = child.wait();
    // Without the per-run token every request is refused (403); the
    // answers with the token are tested in tests/explore.rs.
    let (code, _) = status.expect("the Explorer answers /.status");
    assert_eq!(code, 403);
    assert_eq!(boot.map(|p| p.0), Some(403));
    assert_eq!(next.map(|p| p.0), Some(403));
    assert_eq!(page.map(|p| p.0), Some(403));
}

/// An address already in use is bad input (exit 2), not a panic.
#[test]
fn explore_on_a_busy_port_exits_2() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let s = spec("claim-08-shadow-freed-in-module-exit");
    let o = klpcheck(&["explore", s.to_str().unwrap(), "--addr", &addr]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("cannot listen"));
}
