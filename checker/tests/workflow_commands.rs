//! GitHub workflow commands from a scenario (`::error::` at a line start,
//! `##[...]` anywhere) never reach the output of `run`, `replay` or
//! `simulate` raw (issue 15 point 2): emit lines are data.

use std::path::Path;

use assert_cmd::Command;

/// f's patched code emits two lines that GitHub would take for commands,
/// and uses a shadow variable nothing creates (so `check` and `simulate`
/// find a counterexample whose trace shows them).
const SPEC: &str = r###"{"spec_version": 1, "name": "wf",
 "objects": {"vmlinux": {"funcs": ["f"]}},
 "shadow_vars": {"V": {"parent": "obj", "id": "SV"}},
 "patches": {"P1": {"module": "livepatch_p1",
   "objects": {"vmlinux": {"funcs": {"f": {"uses_shadow": ["V"],
     "emit": ["::error file=a::pwned", "x ##[add-mask]secret", "::stop-commands::tok"]}}}}}},
 "tasks": {"count": 1, "max_depth": 1},
 "script": [
   {"op": "load_livepatch", "args": {"patch": "P1"}},
   {"op": "task_call", "args": {"task": 1, "func": "f"}}
 ],
 "expected_events": ["##[error]nor this", "::warning::not this"]
}"###;

fn klpcheck(args: &[&str], dir: &Path) -> (String, String) {
    let o = Command::cargo_bin("klpcheck")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// No line a runner would read as a workflow command; `what` names the
/// output, and `shown` is a piece of the neutralised text that must be
/// there (the data is kept, only defused).
fn assert_neutral(what: &str, text: &str, shown: &str) {
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with("::") && !line.contains("##["),
            "{what} prints a workflow command: {line:?}\n{text}"
        );
    }
    assert!(
        text.contains(shown),
        "{what} lost the data {shown:?}:\n{text}"
    );
}

#[test]
fn run_replay_and_simulate_print_no_workflow_command() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("wf.json"), SPEC).unwrap();

    let (out, err) = klpcheck(&["run", "wf.json"], d);
    assert_neutral("run stdout", &out, ":\\:error file=a::pwned");
    assert_neutral("run stdout", &out, "x #\\#[add-mask]secret");
    assert_neutral("run stderr", &err, "#\\#[error]nor this");

    klpcheck(&["check", "wf.json", "--out", "out", "-q"], d);
    let trace = "out/wf/shadow-no-use-after-free/trace.json";
    assert!(d.join(trace).is_file());
    let (out, err) = klpcheck(&["replay", "wf.json", trace], d);
    assert_neutral("replay stdout", &out, ":\\:stop-commands::tok");
    assert_neutral("replay stderr", &err, "");

    let (out, err) = klpcheck(&["simulate", "wf.json", "--runs", "5"], d);
    assert_neutral("simulate stdout", &out, "x #\\#[add-mask]secret");
    assert_neutral("simulate stderr", &err, "shadow-no-use-after-free violated");
    let (out, _) = klpcheck(
        &["simulate", "wf.json", "--runs", "5", "--format", "json"],
        d,
    );
    assert_neutral("simulate JSON", &out, "##\\u005badd-mask]secret");
    // The JSON still reads back as the data.
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(v.to_string().contains("##[add-mask]secret"));
}

/// Two of issue 15's reproducers: a trace.json with text after its JSON
/// value, and `--threads 10000`, are usage errors (exit 2) with a message.
#[test]
fn replay_trailing_text_and_absurd_thread_counts_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("wf.json"), SPEC).unwrap();
    klpcheck(&["check", "wf.json", "--out", "out", "-q"], d);
    let trace = d.join("out/wf/shadow-no-use-after-free/trace.json");
    let mut text = std::fs::read_to_string(&trace).unwrap();
    text += "garbage\n";
    std::fs::write(d.join("g.json"), text).unwrap();
    let o = Command::cargo_bin("klpcheck")
        .unwrap()
        .current_dir(d)
        .args(["replay", "wf.json", "g.json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("g.json:") && err.contains("trailing characters"),
        "{err}"
    );
    let o = Command::cargo_bin("klpcheck")
        .unwrap()
        .current_dir(d)
        .args(["check", "wf.json", "--threads", "10000"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--threads must be at most 256"), "{err}");
}
