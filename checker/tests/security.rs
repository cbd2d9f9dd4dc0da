//! Names are data, never code: one test per output format with hostile
//! names. Names are validated at load (model/src/names.rs), so the hostile
//! ones are put into a compiled scenario or a report in-process, past that
//! wall, to test the writers' own quoting. Also: --out stays in its folder,
//! and the native engine is deterministic across thread counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use klp_checker::engines::{run_native, Bounds};
use klp_model::{parse_spec, KlpModel, Scenario};
use klp_reports::ci::Checked;
use klp_reports::{PropertyReport, ScenarioReport, SpecRef, Stats, Status, TraceStep, Walk};

const PWN: &str = "$(touch PWNED_SUBST)`touch PWNED_TICK`;touch PWNED_SEMI";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Two patches under the two-transitions mutation: a 3-step violation of
/// single-transition whose insmod runs a callback that logs `EXPECTED`.
fn hostile_model() -> (KlpModel, Vec<klp_model::Action>) {
    let text = r#"{
      "spec_version": 1, "name": "hostile", "variant": "two-transitions",
      "objects": {"vmlinux": {"funcs": ["f"]}},
      "patches": {
        "P1": {"objects": {"vmlinux": {"funcs": {"f": {}},
               "callbacks": {"pre_patch": {"emit": ["EXPECTED", "touch PWNED_HEREDOC"]}}}}},
        "P2": {"objects": {"vmlinux": {"funcs": {"f": {}}}}}
      },
      "tasks": {"count": 1, "max_depth": 1},
      "admin": {"disable": true, "rmmod": true}
    }"#;
    let mut sc = Scenario::compile(&parse_spec(text).unwrap(), "hostile").unwrap();
    sc.name = format!("evil\n::error::forged {PWN}\nEXPECTED");
    sc.patches[0].module = format!("m1{PWN}");
    sc.patches[1].module = "m2'\"\\EXPECTED".to_string();
    sc.funcs[0].name = format!("f\n{PWN}");
    let model = KlpModel::new(sc);
    let bounds = Bounds {
        threads: 1,
        ..Bounds::default()
    };
    let o = run_native(&model, &bounds);
    let actions = o
        .discoveries
        .iter()
        .flatten()
        .find(|a| !a.is_empty())
        .expect("a counterexample")
        .clone();
    (model, actions)
}

/// The stand-ins for tools/testing/selftests/livepatch/functions.sh: every
/// helper records its arguments, one per line; `loop_until` evaluates its
/// condition like the real one; a `touch` first in PATH records any call.
const STAND_INS: &str = r#"
SYSFS_KLP_DIR="$WORK/sysfs"
rec() { { printf '%s' "$1"; shift; for a in "$@"; do printf ' %q' "$a"; done; echo; } >> "$WORK/calls"; }
setup_config() { rec setup_config "$@"; }
start_test() { rec start_test "$@"; }
load_lp_nowait() { rec load_lp_nowait "$@"; }
load_failing_mod() { rec load_failing_mod "$@"; }
unload_lp() { rec unload_lp "$@"; }
unload_mod() { rec unload_mod "$@"; }
load_mod() { rec load_mod "$@"; }
set_pre_patch_ret() { rec set_pre_patch_ret "$@"; }
log() { rec log "$@"; }
die() { rec die "$@"; }
loop_until() { rec loop_until "$@"; eval "$1"; }
check_result() { printf '%s\n' "$1" > "$WORK/expected_log"; rec check_result; }
"#;

#[test]
fn reproduce_sh_runs_no_command_from_a_name() {
    let (model, actions) = hostile_model();
    let walk = Walk::new(&model, &actions);
    let script = klp_reports::reproduce_sh::reproduce_sh(
        &model,
        &walk,
        "single-transition",
        &format!("specs/x{PWN}.json"),
    );
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    std::fs::create_dir_all(work.join("sysfs")).unwrap();
    std::fs::create_dir_all(work.join("bin")).unwrap();
    std::fs::write(work.join("reproduce.sh"), &script).unwrap();
    std::fs::write(work.join("functions.sh"), STAND_INS).unwrap();
    let touch = work.join("bin/touch");
    std::fs::write(&touch, "#!/bin/sh\necho \"$@\" >> \"$WORK/touched\"\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&touch, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(work.join("reproduce.sh"))
        .output()
        .unwrap();
    assert!(syntax.status.success(), "bash -n: {syntax:?}\n{script}");
    let path = format!(
        "{}:{}",
        work.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let run = Command::new("bash")
        .arg(work.join("reproduce.sh"))
        .current_dir(work)
        .env("WORK", work)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}\n{script}");
    assert!(
        !work.join("touched").exists(),
        "an injected command ran: {:?}\n{script}",
        std::fs::read_to_string(work.join("touched"))
    );
    for f in std::fs::read_dir(work).unwrap() {
        let name = f.unwrap().file_name();
        assert!(!name.to_string_lossy().starts_with("PWNED"), "{name:?}");
    }
    // Only the helpers ran, with the names as literal arguments.
    let calls = std::fs::read_to_string(work.join("calls")).unwrap();
    let first: Vec<&str> = calls.lines().filter_map(|l| l.split(' ').next()).collect();
    let known = [
        "setup_config",
        "start_test",
        "load_lp_nowait",
        "load_failing_mod",
        "unload_lp",
        "unload_mod",
        "load_mod",
        "set_pre_patch_ret",
        "log",
        "die",
        "loop_until",
        "check_result",
    ];
    assert!(first.iter().all(|w| known.contains(w)), "{calls}");
    // bash's %q of the hostile module name.
    let q = r#"m1\$\(touch\ PWNED_SUBST\)\`touch\ PWNED_TICK\`\;touch\ PWNED_SEMI"#;
    assert!(
        calls.contains(&format!("load_lp_nowait {q}\n")),
        "{calls}\n{script}"
    );
    // The expected log reached check_result whole, `EXPECTED` line included.
    let log = std::fs::read_to_string(work.join("expected_log")).unwrap();
    assert!(log.contains("\nEXPECTED\n"), "{log}");
    assert!(log.contains("touch PWNED_HEREDOC"), "{log}");
}

fn hostile_report(name: &str, path: &str) -> ScenarioReport {
    ScenarioReport {
        schema_version: 1,
        spec: SpecRef {
            name: name.into(),
            path: path.into(),
        },
        profile: "mainline".into(),
        variant: "none".into(),
        engine: "native".into(),
        threads: 1,
        complete: true,
        incomplete_reason: None,
        stats: Stats {
            states: 1,
            unique_states: 1,
            max_depth: 0,
            seconds: 0.0,
            states_per_second: 0.0,
        },
        properties: vec![PropertyReport {
            id: "single-transition".into(),
            kind: "always".into(),
            status: Status::Violated,
            expected: "holds".into(),
            ok: false,
            trace: Some(vec![TraceStep {
                action: format!("insmod {name}.ko"),
                events: vec![],
                log: vec![format!("::warning::{name}")],
                transcript: vec![format!("::add-mask::{name}"), "##[stop-commands]x".into()],
            }]),
            loop_start: None,
            actions: None,
            why: None,
        }],
        expected_unique_states: None,
        coverage: None,
        ok: false,
    }
}

const NAME: &str = "evil\r\n::error file=x,line=1::forged%0A, ##[add-mask]s <x>&\"]]> \u{1}";
const PATH: &str = "specs/a,b:c%\n.json";

fn with_checked<T>(f: impl FnOnce(&[Checked]) -> T) -> T {
    let r = hostile_report(NAME, PATH);
    let folders = BTreeMap::from([("single-transition".to_string(), format!("out/{NAME}"))]);
    let c = [Checked {
        report: &r,
        folders: &folders,
        spec_text: None,
    }];
    f(&c)
}

fn unescape_data(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

#[test]
fn github_annotations_parse_as_one_command_each() {
    let text = with_checked(klp_reports::github::annotations);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let rest = lines[0]
        .strip_prefix("::error ")
        .expect("a workflow command");
    let (props, data) = rest.split_once("::").expect("properties::data");
    let props: BTreeMap<&str, String> = props
        .split(',')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k, unescape_data(v))
        })
        .collect();
    assert_eq!(
        props.keys().copied().collect::<Vec<_>>(),
        ["file", "line", "title"]
    );
    assert_eq!(props["file"], PATH);
    assert_eq!(props["title"], "single-transition");
    assert!(unescape_data(data).starts_with(NAME), "{data}");
}

#[test]
fn text_output_has_no_workflow_command() {
    let r = hostile_report(NAME, PATH);
    let text = klp_reports::escape::neutralise_workflow_commands(&klp_reports::text::render(&r));
    for line in text.lines() {
        assert!(!line.trim_start().starts_with("::"), "{line}");
        assert!(!line.contains("##["), "{line}");
    }
    let json = klp_reports::escape::json_line(&serde_json::to_string(&r).unwrap());
    assert!(!json.contains("##[") && !json.contains('\n'));
    let back: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(back["spec"]["name"], NAME);
}

#[test]
fn junit_is_well_formed_xml_holding_the_name() {
    let xml = with_checked(|c| klp_reports::junit::junit(c, false));
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut suite_names = Vec::new();
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(e)) if e.name().as_ref() == b"testsuite" => {
                for a in e.attributes() {
                    let a = a.unwrap();
                    if a.key.as_ref() == b"name" {
                        suite_names.push(a.unescape_value().unwrap().into_owned());
                    }
                }
            }
            Ok(_) => {}
            Err(e) => panic!("JUnit is not XML: {e}\n{xml}"),
        }
    }
    // XML 1.0 cannot hold U+0001: it is replaced; an attribute's line
    // breaks are spaces (XML normalises them so anyway); the rest is verbatim.
    assert_eq!(
        suite_names,
        [NAME.replace('\u{1}', "\u{fffd}").replace(['\r', '\n'], " ")],
        "{xml}"
    );
}

#[test]
fn sarif_is_json_holding_the_name() {
    let text = with_checked(klp_reports::sarif::sarif);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let res = &v["runs"][0]["results"][0];
    assert!(res["message"]["text"].as_str().unwrap().starts_with(NAME));
    assert_eq!(
        res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        PATH
    );
}

#[test]
fn step_summary_and_mermaid_escape_markup() {
    let md = with_checked(|c| klp_reports::github::step_summary(c, &[]));
    let row = md
        .lines()
        .find(|l| l.starts_with("| evil"))
        .expect("the row");
    // Five unescaped `|` delimit the four cells.
    let bars = row
        .char_indices()
        .filter(|&(i, c)| c == '|' && (i == 0 || row.as_bytes()[i - 1] != b'\\'))
        .count();
    assert_eq!(bars, 5, "{row}");
    assert!(!md.contains("<x>"), "{md}");
    let (model, actions) = hostile_model();
    let walk = Walk::new(&model, &actions);
    let trace_md = klp_reports::mermaid::trace_md(&model, &walk, "single-transition");
    let diagram: Vec<&str> = trace_md
        .lines()
        .skip_while(|l| *l != "```mermaid")
        .skip(1)
        .take_while(|l| *l != "```")
        .collect();
    assert!(diagram[0] == "sequenceDiagram", "{trace_md}");
    for l in &diagram[1..] {
        assert!(l.starts_with("    "), "a line broke out: {l:?}\n{trace_md}");
        // klpcheck's own line breaks are the only markup.
        let l = &l.replace("<br/>", "\n");
        assert!(!l.contains('`') && !l.contains('<'), "{l}");
        // Every `;` ends an entity code such as `#59;`.
        let mut rest = l.as_str();
        while let Some(i) = rest.find(';') {
            let head = &rest[..i];
            let hash = head.rfind('#').expect("an entity");
            assert!(
                head[hash + 1..].chars().all(|c| c.is_ascii_digit()),
                "a raw `;` in {l:?}"
            );
            rest = &rest[i + 1..];
        }
    }
    // The fence closes exactly once, at the end.
    assert_eq!(trace_md.matches("```").count(), 2, "{trace_md}");
}

#[test]
fn trace_txt_handles_names_past_the_formatter_width_limit() {
    let (model, actions) = hostile_model();
    let mut sc = (*model.sc).clone();
    sc.funcs[0].name = "f".repeat(70_000);
    let model = KlpModel::new(sc);
    let walk = Walk::new(&model, &actions);
    let cx = klp_reports::trace_txt::TraceContext {
        spec_path: "x.json",
        property: "single-transition",
    };
    let text = klp_reports::trace_txt::render(&model, &walk, &cx);
    assert!(text.contains(&"f".repeat(70_000)));
}

fn klpcheck() -> Command {
    Command::new(env!("CARGO_BIN_EXE_klpcheck"))
}

fn violating_spec(name: &str) -> String {
    serde_json::json!({
        "spec_version": 1, "name": name, "variant": "two-transitions",
        "objects": {"vmlinux": {"funcs": ["f"]}},
        "patches": {"P1": {"objects": {"vmlinux": {"funcs": {"f": {}}}}},
                    "P2": {"objects": {"vmlinux": {"funcs": {"f": {}}}}}},
        "tasks": {"count": 1, "max_depth": 1},
        "admin": {"disable": true, "rmmod": false}
    })
    .to_string()
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            out.extend(files_below(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn out_folders_stay_inside_never_collide_and_never_follow_links() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let specs = root.join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    let names = ["../../escape", "a/b", "a_b", "a%2Fb", ".hidden", "A_B"];
    for (i, n) in names.iter().enumerate() {
        std::fs::write(specs.join(format!("s{i}.json")), violating_spec(n)).unwrap();
    }
    // Same name twice, from two files.
    std::fs::write(specs.join("s9.json"), violating_spec("a/b")).unwrap();
    let out = root.join("work/out");
    std::fs::create_dir_all(&out).unwrap();
    // A link planted where a trace folder will go, pointing outside.
    let outside = root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("a_b")).unwrap();
    let o = klpcheck()
        .args(["check", "-q", "--no-coverage", "--out"])
        .arg(&out)
        .arg(&specs)
        .output()
        .unwrap();
    // Exit 1: the violations are unexpected, so traces are written.
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(
        files_below(&outside),
        Vec::<PathBuf>::new(),
        "wrote through the link"
    );
    for p in files_below(root) {
        assert!(
            p.starts_with(&specs)
                || p.starts_with(&out)
                || p.starts_with(&outside)
                || p == out.parent().unwrap(),
            "written outside --out: {}",
            p.display()
        );
    }
    // Seven scenarios, seven folders (case-folding file systems included).
    let mut folders: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert_eq!(folders.len(), 7, "{folders:?}");
    let lower: std::collections::BTreeSet<String> =
        folders.iter().map(|f| f.to_ascii_lowercase()).collect();
    assert_eq!(lower.len(), 7, "{folders:?}");
    assert!(std::fs::symlink_metadata(out.join("a_b")).unwrap().is_dir());
    // No temporary file is left behind.
    for p in files_below(&out) {
        assert!(!p.to_string_lossy().contains(".tmp."), "{}", p.display());
    }
}

#[test]
fn a_hostile_name_is_refused_at_load_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("s.json");
    let text = violating_spec("ok").replace("\"P1\"", "\"P1$(reboot)\"");
    std::fs::write(&spec, text).unwrap();
    let o = klpcheck()
        .args(["check", "-q"])
        .arg(&spec)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("s.json"), "{err}");
    assert!(err.contains("patches.P1$(reboot)"), "{err}");
    assert!(err.contains("only letters, digits and `_`"), "{err}");
}

/// The same scenario gives the same counts and the same counterexample,
/// byte for byte, at 1, 2 and 4 threads of the native engine.
#[test]
fn native_engine_is_deterministic_across_thread_counts() {
    for file in [
        "specs/bugs/two-transitions.json",
        "specs/doc/claim-08-shadow-freed-in-module-exit.json",
        "specs/bugs/keep-nops.json",
    ] {
        let l = klp_checker::load::load(&repo().join(file)).unwrap();
        let model = KlpModel::new(l.scenario);
        let mut seen = Vec::new();
        for threads in [1, 2, 4] {
            let bounds = Bounds {
                threads,
                symmetry: true,
                ..Bounds::default()
            };
            let o = run_native(&model, &bounds);
            let traces: Vec<String> = o
                .discoveries
                .iter()
                .flatten()
                .map(|a| {
                    let walk = Walk::new(&model, a);
                    klp_reports::reproduce_sh::reproduce_sh(&model, &walk, "p", file)
                        + &format!("{a:?}")
                })
                .collect();
            seen.push((threads, o.states, o.unique_states, o.max_depth, traces));
        }
        for s in &seen[1..] {
            assert_eq!(
                (s.1, s.2, s.3, &s.4),
                (seen[0].1, seen[0].2, seen[0].3, &seen[0].4),
                "{file}: {} threads differ from 1",
                s.0
            );
        }
    }
}

/// Past the canonical re-search (here switched off with `canonical_limit:
/// 0`), a counterexample is the chain of recorded parent links: each state
/// keeps its smallest-fingerprint predecessor of the level before, so the
/// chain is the same at every thread count and on every run, and as short
/// as the canonical one.
#[test]
fn recorded_parent_links_are_deterministic_across_thread_counts() {
    use klp_checker::engine::{check, NativeOptions};
    let canon = klp_model::State::into_canonical;
    for file in [
        "specs/bugs/two-transitions.json",
        "specs/doc/claim-08-shadow-freed-in-module-exit.json",
        "specs/bugs/keep-nops.json",
        "specs/concurrency/shadow-uaf-cumulative-2cpus.json",
        "specs/doc/claim-05b-forced-module-pinned.json",
        "specs/proposals/replaceable-force-pins-kept-patch.json",
        "specs/bugs/reenable-replaced.json",
    ] {
        let l = klp_checker::load::load(&repo().join(file)).unwrap();
        let model = KlpModel::new(l.scenario);
        let run = |threads: usize, limit: usize| {
            let opts = NativeOptions {
                threads,
                canonical_limit: limit,
                ..NativeOptions::default()
            };
            let o = check(&model, &opts, Some(&canon));
            assert!(o.complete, "{file}");
            let paths: Vec<(usize, usize, usize, String)> = o
                .discoveries
                .iter()
                .flatten()
                .map(|d| {
                    let steps = d.actions.len();
                    (
                        d.property_index,
                        d.init_index,
                        steps,
                        format!("{:?}", d.actions),
                    )
                })
                .collect();
            (o.unique_states, paths)
        };
        let canonical = run(1, usize::MAX);
        let first = run(1, 0);
        assert!(!first.1.is_empty(), "{file}: no discovery to compare");
        assert_eq!(first.0, canonical.0, "{file}");
        for (a, b) in first.1.iter().zip(&canonical.1) {
            assert_eq!(
                a.2, b.2,
                "{file}: recorded path of property {} is not a shortest one",
                a.0
            );
        }
        for threads in [2, 4, 2, 4] {
            assert_eq!(
                run(threads, 0),
                first,
                "{file}: {threads} threads differ from 1"
            );
        }
    }
}
