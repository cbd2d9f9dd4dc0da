//! A counterexample ends with one line saying why its last state violates
//! the property (issue 14 point 9), in every output: text, JSON, SARIF,
//! JUnit and trace.txt. claim-08 (fix1's module_exit frees the shadow
//! variable fix2's code uses), expected to hold so that SARIF and JUnit
//! carry a failure, is the example.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

const WHY: &str =
    "why: task 1 runs f() in P2's code, which uses shadow variable V (<sta, PS_LOCK>) without a NULL check, and that variable does not exist (it was freed)";

#[test]
fn every_output_ends_the_counterexample_with_the_why_line() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo().join("specs/doc/claim-08-shadow-freed-in-module-exit.json"),
        )
        .unwrap(),
    )
    .unwrap();
    v["expect"] = serde_json::json!({"shadow-no-use-after-free": "holds"});
    let spec = tmp.path().join("claim-08-shadow-freed-in-module-exit.json");
    std::fs::write(&spec, v.to_string()).unwrap();
    let (junit, sarif, out) = (
        tmp.path().join("junit.xml"),
        tmp.path().join("log.sarif"),
        tmp.path().join("out"),
    );
    let text = Command::cargo_bin("klpcheck")
        .unwrap()
        .args(["check", "-v"])
        .arg(&spec)
        .arg("--junit")
        .arg(&junit)
        .arg("--sarif")
        .arg(&sarif)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains(WHY), "{stdout}");
    // JUnit: the failure's text, with XML's entities.
    let junit = std::fs::read_to_string(&junit).unwrap();
    let escaped = WHY
        .replace('\'', "&apos;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(junit.contains(&escaped), "{junit}");
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let msg = sarif["runs"][0]["results"][0]["message"]["text"]
        .as_str()
        .unwrap();
    assert!(msg.contains(WHY), "{msg}");
    let txt = std::fs::read_to_string(
        out.join("claim-08-shadow-freed-in-module-exit/shadow-no-use-after-free/trace.txt"),
    )
    .unwrap();
    let last: Vec<&str> = txt.lines().rev().take(2).collect();
    assert!(last[0].starts_with(WHY), "{txt}");

    let json = Command::cargo_bin("klpcheck")
        .unwrap()
        .args(["check", "--quiet", "--format", "json"])
        .arg(&spec)
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(json.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    let prop = report["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "shadow-no-use-after-free")
        .unwrap();
    assert!(
        prop["why"]
            .as_str()
            .is_some_and(|w| WHY.strip_prefix("why: ").is_some_and(|s| w.starts_with(s))),
        "{prop}"
    );
}

/// Every violated safety property of the bug and doc scenarios gets a why
/// line (the model explains each predicate), in JSON.
#[test]
fn every_violated_safety_property_of_the_bug_specs_has_a_why() {
    let o = Command::cargo_bin("klpcheck")
        .unwrap()
        .args([
            "check",
            "--quiet",
            "--format",
            "json",
            "--no-liveness",
            "--no-coverage",
        ])
        .arg(repo().join("specs/bugs"))
        .output()
        .unwrap();
    let mut n = 0;
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let Ok(r) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        for p in r["properties"].as_array().into_iter().flatten() {
            if p["kind"] == "always" && p["status"] == "violated" {
                n += 1;
                assert!(
                    p["why"].as_str().is_some_and(|w| !w.is_empty()),
                    "{}: {} has no why",
                    r["spec"]["name"],
                    p["id"]
                );
            }
        }
    }
    assert!(n >= 10, "only {n} violated safety properties in specs/bugs");
}

/// The counterexample of `prop` in the scenario `spec`: its Mermaid
/// diagram and its trace.
fn diagram(spec: &str, prop: &str) -> (String, Vec<klp_reports::TraceStep>) {
    use klp_checker::check::check_scenario;
    use klp_checker::engines::{Bounds, EngineKind};
    use klp_model::{parse_spec, KlpModel, Scenario};
    let path = repo().join(spec);
    let parsed = parse_spec(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let sc = Scenario::compile(&parsed, "s").unwrap();
    let bounds = Bounds {
        no_liveness: true,
        ..Bounds::default()
    };
    let r = check_scenario(&path, sc.clone(), EngineKind::Native, &bounds);
    let p = r.properties.iter().find(|p| p.id == prop).unwrap();
    let model = KlpModel::new(sc);
    let walk = klp_reports::Walk::new(&model, p.actions.as_ref().unwrap());
    let md = klp_reports::mermaid::sequence_diagram(&model, &walk, prop);
    (md, klp_reports::build_trace(&model, &walk.actions))
}

fn on_task_lifeline(line: &str) -> bool {
    ["# task_call(", "# task_return(", "# task_switched("]
        .iter()
        .any(|p| line.starts_with(p))
}

/// trace.md draws a step's events in the order they happened (a task
/// switch after a kernel log line stays after it), and its closing note
/// says why.
#[test]
fn mermaid_notes_follow_the_event_order_and_end_with_why() {
    for (spec, prop) in [
        ("specs/bugs/b3a-force-marks-all.json", "consistent-universe"),
        (
            "specs/doc/claim-08-shadow-freed-in-module-exit.json",
            "shadow-no-use-after-free",
        ),
    ] {
        let (md, trace) = diagram(spec, prop);
        // The notes, split at <br/>, in diagram order...
        let drawn: Vec<String> = md
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Note over "))
            .filter(|l| !l.starts_with("A,"))
            .flat_map(|l| {
                l.split_once(": ")
                    .unwrap()
                    .1
                    .split("<br/>")
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        // ...are the transcript lines in the order they happened.
        let happened: Vec<String> = trace
            .iter()
            .flat_map(|s| s.transcript.iter())
            .map(|l| klp_reports::mermaid::esc(l.strip_prefix("# ").unwrap_or(l)))
            .collect();
        assert_eq!(drawn, happened, "{spec}:\n{md}");
        let last = md.lines().rev().find(|l| !l.is_empty()).unwrap();
        assert!(last.contains(&format!("{prop} violated: ")), "{last}");
        if prop == "consistent-universe" {
            // This trace has a step where a task fact follows a kernel line
            // (drawing task notes first, as before, would swap them).
            assert!(trace
                .iter()
                .any(|s| s
                    .transcript
                    .windows(2)
                    .any(|w| !on_task_lifeline(&w[0]) && on_task_lifeline(&w[1]))));
        } else {
            assert!(last.contains("violated: task 1 runs f() in P2"), "{last}");
        }
    }
}
