//! The `klpcheck` command line contract (design.md "CLI contract"): exit
//! codes 0/1/2/3, error messages that say what is wrong and where, the JSON
//! report's keys, `list` and `schema`. Scenario files go to a fresh directory
//! under the system temp dir; nothing here depends on timing.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::Command;
use klp_model::properties::PROPERTY_IDS;
use serde_json::Value;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A directory of its own under `std::env::temp_dir()`, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("klpcheck-cli-{}-{tag}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        fs::write(&p, text).expect("write scenario");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What a run printed and how it exited.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn klpcheck<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_klpcheck"))
        .args(args)
        .output()
        .expect("run klpcheck");
    let run = Run {
        code: out.status.code().expect("klpcheck exited by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "klpcheck panicked:\n{}",
        run.stderr
    );
    run
}

/// `klpcheck check --threads 1 <spec> <extra...>`.
fn check(spec: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("check"),
        OsStr::new("--threads"),
        OsStr::new("1"),
    ];
    args.push(spec.as_os_str());
    args.extend(extra.iter().map(OsStr::new));
    klpcheck(args)
}

fn assert_usage_error(r: &Run, needles: &[&str]) {
    assert_eq!(
        r.code, 2,
        "expected exit 2; stdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    for n in needles {
        assert!(
            r.stderr.contains(n),
            "stderr should contain {n:?}:\n{}",
            r.stderr
        );
    }
    assert!(
        r.stdout.is_empty(),
        "no report for invalid input, got:\n{}",
        r.stdout
    );
}

/// One patch, one task; no replace patch, so the `sometimes` witnesses are
/// not reached: two are stated (and met), the others have no stated
/// expectation and are only reported. Every expectation is met.
const PASSING: &str = r#"{
  "spec_version": 1,
  "name": "passing",
  "objects": {"vmlinux": {"funcs": ["cmdline_proc_show"]}},
  "patches": {"P1": {"module": "livepatch_p1",
                     "objects": {"vmlinux": {"funcs": {"cmdline_proc_show": {}}}}}},
  "expect": {"replace-completes": "violated", "replaced-patch-reloadable": "violated"}
}
"#;

/// The same with `force` allowed: consistent-universe breaks (as the kernel
/// documents), but the scenario expects it to hold.
const FAILING: &str = r#"{
  "spec_version": 1,
  "name": "failing",
  "objects": {"vmlinux": {"funcs": ["cmdline_proc_show"]}},
  "patches": {"P1": {"module": "livepatch_p1",
                     "objects": {"vmlinux": {"funcs": {"cmdline_proc_show": {}}}}}},
  "admin": {"force": true},
  "expect": {"replace-completes": "violated"}
}
"#;

// ---------------------------------------------------------------------------
// Exit codes 0, 1, 3
// ---------------------------------------------------------------------------

#[test]
fn exit_0_when_every_expectation_is_met() {
    let d = TempDir::new("pass");
    let spec = d.write("passing.json", PASSING);
    let r = check(&spec, &["-v"]);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("PASS passing"), "{}", r.stdout);
    for id in PROPERTY_IDS {
        assert!(r.stdout.contains(id), "text report lists {id}");
    }
    // A witness with no expectation is reported, not judged.
    assert!(
        r.stdout.lines().any(|l| l.contains("replace-over-disabled")
            && l.contains("not reached")
            && l.contains("no expectation")),
        "{}",
        r.stdout
    );
    // The closing summary.
    assert!(
        r.stdout
            .contains("klpcheck: 1 passed, 0 failed, 0 incomplete"),
        "{}",
        r.stdout
    );
    // Short by default: the properties that hold as expected are one line.
    let short = check(&spec, &[]);
    assert!(short.stdout.contains("other properties hold as expected"));
    assert!(
        !short.stdout.contains("single-transition"),
        "{}",
        short.stdout
    );
}

#[test]
fn exit_1_when_an_expectation_fails_with_a_counterexample_in_kernel_terms() {
    let d = TempDir::new("fail");
    let spec = d.write("failing.json", FAILING);
    let r = check(&spec, &[]);
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("FAIL failing"), "{}", r.stdout);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("consistent-universe"))
        .expect("property line");
    assert!(line.contains("FAIL") && line.contains("violated"), "{line}");
    assert!(r.stdout.contains("counterexample"), "{}", r.stdout);
    assert!(
        r.stdout.contains("$ insmod livepatch_p1.ko"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("/sys/kernel/livepatch/livepatch_p1/force"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("livepatch: enabling patch 'livepatch_p1'"),
        "{}",
        r.stdout
    );
}

#[test]
fn exit_1_wins_over_other_passing_scenarios_in_a_directory() {
    let d = TempDir::new("dir");
    d.write("a-passing.json", PASSING);
    d.write("b-failing.json", FAILING);
    let r = klpcheck([
        OsStr::new("check"),
        OsStr::new("--threads"),
        OsStr::new("1"),
        d.path().as_os_str(),
    ]);
    assert_eq!(r.code, 1);
    let pass = r
        .stdout
        .find("PASS passing")
        .expect("first scenario reported");
    let fail = r
        .stdout
        .find("FAIL failing")
        .expect("second scenario reported");
    assert!(pass < fail, "scenarios of a directory run in sorted order");
}

#[test]
fn exit_3_when_a_bound_stops_the_search_unless_incomplete_runs_are_allowed() {
    let d = TempDir::new("incomplete");
    let spec = d.write("passing.json", PASSING);
    let r = check(&spec, &["--max-states", "5"]);
    assert_eq!(r.code, 3, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("incomplete"), "{}", r.stdout);
    assert!(r.stdout.starts_with("INCOMPLETE passing"), "{}", r.stdout);
    assert!(!r.stdout.contains("PASS"), "{}", r.stdout);
    // The old flag says what is now the default.
    let r = check(&spec, &["--fail-on-incomplete", "--max-states", "5"]);
    assert_eq!(r.code, 3);
    // With --allow-incomplete it is not an error.
    let r = check(&spec, &["--max-states", "5", "--allow-incomplete"]);
    assert_eq!(r.code, 0);
    // The bound holds for the liveness pass too: nothing `holds` from a
    // partial graph.
    let r = check(&spec, &["--max-states", "5", "--format", "json"]);
    let v: Value = serde_json::from_str(r.stdout.trim()).expect("json line");
    for p in v["properties"].as_array().unwrap() {
        assert_ne!(p["status"], "holds", "{p}");
    }
    // An undecided property is reported as unknown, not as a verdict.
    let r = check(&spec, &["--max-states", "5", "--format", "json"]);
    let v: Value = serde_json::from_str(r.stdout.trim()).expect("json line");
    assert_eq!(v["complete"], Value::Bool(false));
    assert!(v["properties"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["status"] == "unknown"));
}

#[test]
fn exit_1_beats_exit_3_when_both_apply() {
    let d = TempDir::new("both");
    let spec = d.write("failing.json", FAILING);
    // A complete failing run stays exit 1 whatever --fail-on-incomplete says.
    let r = check(&spec, &["--fail-on-incomplete"]);
    assert_eq!(r.code, 1);
}

// ---------------------------------------------------------------------------
// Exit code 2: bad input, each class
// ---------------------------------------------------------------------------

#[test]
fn exit_2_malformed_json_names_file_line_and_column() {
    let d = TempDir::new("malformed");
    let spec = d.write(
        "bad.json",
        "{\"spec_version\": 1,\n \"patches\": {\n   \"P1\": [}\n}\n",
    );
    let r = check(&spec, &[]);
    let at = format!("{}:3:", spec.display());
    assert_usage_error(&r, &[&at]);
    // line:column, both numbers.
    let rest = &r.stderr[r.stderr.find(&at).unwrap() + at.len()..];
    let col: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    assert!(!col.is_empty(), "a column follows the line: {}", r.stderr);
}

#[test]
fn exit_2_truncated_json() {
    let d = TempDir::new("truncated");
    let spec = d.write("cut.json", "{\"spec_version\": 1, \"patches\": {");
    let r = check(&spec, &[]);
    assert_usage_error(&r, &["cut.json:1:"]);
}

#[test]
fn exit_2_unknown_field_names_the_field_and_its_json_path() {
    let d = TempDir::new("field");
    let spec = d.write(
        "typo.json",
        r#"{"spec_version": 1,
  "objects": {"vmlinux": {"funcs": ["f"]}},
  "patches": {"P1": {"objects": {"vmlinux": {"funcs": {"f": {"usess_shadow": []}}}}}}}"#,
    );
    let r = check(&spec, &[]);
    assert_usage_error(
        &r,
        &[
            "usess_shadow",
            "patches.P1.objects.vmlinux.funcs.f",
            "typo.json:3:",
        ],
    );
}

#[test]
fn exit_2_unknown_top_level_field() {
    let d = TempDir::new("toplevel");
    let spec = d.write(
        "top.json",
        r#"{"spec_version": 1, "patchez": {},
  "objects": {"vmlinux": {"funcs": ["f"]}},
  "patches": {"P1": {"objects": {"vmlinux": {"funcs": {"f": {}}}}}}}"#,
    );
    let r = check(&spec, &[]);
    assert_usage_error(&r, &["patchez"]);
}

#[test]
fn exit_2_unknown_function_names_it_and_its_path() {
    let d = TempDir::new("func");
    let spec = d.write(
        "func.json",
        r#"{"spec_version": 1,
  "objects": {"vmlinux": {"funcs": ["f"]}},
  "patches": {"P1": {"objects": {"vmlinux": {"funcs": {"nosuch_func": {}}}}}}}"#,
    );
    let r = check(&spec, &[]);
    assert_usage_error(
        &r,
        &[
            "func.json",
            "nosuch_func",
            "patches.P1.objects.vmlinux.funcs.nosuch_func",
        ],
    );
}

#[test]
fn exit_2_patch_naming_no_object() {
    let d = TempDir::new("noobj");
    let spec = d.write(
        "noobj.json",
        r#"{"spec_version": 1, "objects": {"vmlinux": {"funcs": ["f"]}}, "patches": {"P1": {}}}"#,
    );
    let r = check(&spec, &[]);
    assert_usage_error(&r, &["patches.P1.objects"]);
}

#[test]
fn exit_2_missing_file() {
    let d = TempDir::new("missing");
    let spec = d.path().join("does-not-exist.json");
    let r = check(&spec, &[]);
    assert_usage_error(&r, &["does-not-exist.json"]);
}

#[test]
fn exit_2_directory_without_scenarios() {
    let d = TempDir::new("empty");
    let r = klpcheck([OsStr::new("check"), d.path().as_os_str()]);
    assert_usage_error(&r, &[]);
}

#[test]
fn exit_2_zero_tasks() {
    let d = TempDir::new("zero");
    let spec = d.write(
        "zero.json",
        &PASSING.replace("\"expect\"", "\"tasks\": {\"count\": 0},\n  \"expect\""),
    );
    let r = check(&spec, &[]);
    assert_usage_error(&r, &["tasks.count"]);
}

#[test]
fn exit_2_absurd_bounds() {
    let d = TempDir::new("bound");
    let spec = d.write(
        "big.json",
        &PASSING.replace("\"expect\"", "\"tasks\": {\"count\": 1000},\n  \"expect\""),
    );
    let r = check(&spec, &[]);
    assert_usage_error(&r, &["tasks.count", "1000"]);
    let spec = d.write(
        "deep.json",
        &PASSING.replace(
            "\"expect\"",
            "\"tasks\": {\"max_depth\": 1000},\n  \"expect\"",
        ),
    );
    let r = check(&spec, &[]);
    assert_usage_error(&r, &["tasks.max_depth"]);
    let spec = d.write(
        "loads.json",
        &PASSING.replace(
            "\"expect\"",
            "\"admin\": {\"insmod\": {\"P1\": 1000}},\n  \"expect\"",
        ),
    );
    let r = check(&spec, &[]);
    assert_usage_error(&r, &["admin.insmod.P1"]);
}

#[test]
fn exit_2_unknown_profile_or_variant_on_the_command_line() {
    let d = TempDir::new("profile");
    let spec = d.write("passing.json", PASSING);
    let r = check(&spec, &["--profile", "v9.99-nonexistent"]);
    assert_usage_error(&r, &["v9.99-nonexistent"]);
    let r = check(&spec, &["--variant", "no-such-variant"]);
    assert_usage_error(&r, &["no-such-variant"]);
    // The known names are accepted.
    assert_eq!(
        check(&spec, &["--profile", "mainline", "--variant", "none"]).code,
        0
    );
}

#[test]
fn exit_2_unknown_profile_or_variant_in_the_scenario() {
    let d = TempDir::new("inspec");
    let spec = d.write(
        "p.json",
        &PASSING.replace("\"expect\"", "\"profile\": \"v9.99\",\n  \"expect\""),
    );
    assert_usage_error(&check(&spec, &[]), &["profile", "v9.99"]);
    let spec = d.write(
        "v.json",
        &PASSING.replace("\"expect\"", "\"variant\": \"bogus\",\n  \"expect\""),
    );
    assert_usage_error(&check(&spec, &[]), &["variant", "bogus"]);
}

#[test]
fn exit_2_unknown_property_id_in_expect() {
    let d = TempDir::new("prop");
    let spec = d.write(
        "prop.json",
        &PASSING.replace("\"replace-completes\":", "\"no-such-property\":"),
    );
    let r = check(&spec, &[]);
    assert_usage_error(&r, &["no-such-property", "expect"]);
}

#[test]
fn exit_2_bad_verdict_in_expect() {
    let d = TempDir::new("verdict");
    let spec = d.write(
        "verdict.json",
        &PASSING.replace("\"violated\", \"replaced", "\"maybe\", \"replaced"),
    );
    let r = check(&spec, &[]);
    assert_usage_error(&r, &["expect.replace-completes"]);
}

#[test]
fn exit_2_one_bad_file_stops_everything_before_any_search() {
    let d = TempDir::new("mixed");
    d.write("a-passing.json", PASSING);
    d.write("b-bad.json", "{");
    let r = klpcheck([OsStr::new("check"), d.path().as_os_str()]);
    assert_usage_error(&r, &["b-bad.json"]);
}

#[test]
fn exit_2_command_line_usage_errors() {
    let d = TempDir::new("usage");
    let spec = d.write("passing.json", PASSING);
    assert_eq!(klpcheck(["check"]).code, 2, "no scenario given");
    assert_eq!(klpcheck(["frobnicate"]).code, 2, "unknown subcommand");
    assert_eq!(check(&spec, &["--no-such-flag"]).code, 2);
    assert_eq!(check(&spec, &["--engine", "bogus"]).code, 2);
    assert_eq!(check(&spec, &["--format", "xml"]).code, 2);
    assert_eq!(check(&spec, &["--max-states", "0"]).code, 2);
    let r = klpcheck([
        OsStr::new("check"),
        OsStr::new("--threads"),
        OsStr::new("0"),
        spec.as_os_str(),
    ]);
    assert_eq!(r.code, 2);
}

// ---------------------------------------------------------------------------
// --format json
// ---------------------------------------------------------------------------

fn assert_report_shape(v: &Value) {
    assert_eq!(v["schema_version"], 1);
    for key in ["name", "path"] {
        assert!(v["spec"][key].is_string(), "spec.{key}: {v}");
    }
    for key in ["profile", "variant", "engine"] {
        assert!(v[key].is_string(), "{key}: {v}");
    }
    assert!(v["threads"].is_u64());
    assert!(v["complete"].is_boolean());
    assert!(v["ok"].is_boolean());
    for key in ["states", "unique_states", "max_depth"] {
        assert!(v["stats"][key].is_u64(), "stats.{key}: {v}");
    }
    for key in ["seconds", "states_per_second"] {
        assert!(v["stats"][key].is_number(), "stats.{key}: {v}");
    }
    let props = v["properties"].as_array().expect("properties array");
    let ids: Vec<&str> = props
        .iter()
        .map(|p| p["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, PROPERTY_IDS, "every property, in report order");
    for p in props {
        assert!(
            matches!(
                p["kind"].as_str(),
                Some("always" | "sometimes" | "eventually")
            ),
            "{p}"
        );
        assert!(
            matches!(p["status"].as_str(), Some("holds" | "violated" | "unknown")),
            "{p}"
        );
        assert!(
            matches!(p["expected"].as_str(), Some("holds" | "violated"))
                || (p["kind"] == "sometimes" && p["expected"] == "none"),
            "{p}"
        );
        assert!(p["ok"].is_boolean(), "{p}");
        assert!(p["trace"].is_null() || p["trace"].is_array(), "{p}");
    }
}

#[test]
fn json_format_prints_one_object_per_scenario_per_line() {
    let d = TempDir::new("json");
    d.write("a-passing.json", PASSING);
    d.write("b-failing.json", FAILING);
    let r = klpcheck([
        OsStr::new("check"),
        OsStr::new("--threads"),
        OsStr::new("1"),
        OsStr::new("--format"),
        OsStr::new("json"),
        d.path().as_os_str(),
    ]);
    assert_eq!(r.code, 1);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "one line per scenario:\n{}", r.stdout);
    let reports: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    for v in &reports {
        assert_report_shape(v);
        assert_eq!(v["engine"], "native");
        assert_eq!(v["threads"], 1);
        assert_eq!(v["profile"], "mainline");
        assert_eq!(v["variant"], "none");
        assert_eq!(v["complete"], true);
    }
    let (pass, fail) = (&reports[0], &reports[1]);
    assert_eq!(pass["spec"]["name"], "passing");
    assert!(pass["spec"]["path"]
        .as_str()
        .unwrap()
        .ends_with("a-passing.json"));
    assert_eq!(pass["ok"], true);
    assert_eq!(fail["spec"]["name"], "failing");
    assert_eq!(fail["ok"], false);

    let cu = fail["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "consistent-universe")
        .unwrap();
    assert_eq!(cu["kind"], "always");
    assert_eq!(cu["status"], "violated");
    assert_eq!(cu["expected"], "holds");
    assert_eq!(cu["ok"], false);
    let trace = cu["trace"]
        .as_array()
        .expect("a violated property carries its trace");
    assert!(!trace.is_empty());
    for step in trace {
        assert!(step["action"].is_string(), "{step}");
        assert!(step["events"].is_array(), "{step}");
    }
    let actions: Vec<&str> = trace
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"insmod livepatch_p1.ko"), "{actions:?}");
    let events: Vec<&str> = trace
        .iter()
        .flat_map(|s| s["events"].as_array().unwrap())
        .filter_map(Value::as_str)
        .collect();
    assert!(events.contains(&"enabling(P1)"), "{events:?}");
    assert!(events.contains(&"forcing(P1)"), "{events:?}");

    let holds = pass["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "single-transition")
        .unwrap();
    assert_eq!(holds["status"], "holds");
    assert!(holds["trace"].is_null());
}

#[test]
fn json_and_text_agree_on_the_verdicts() {
    let d = TempDir::new("agree");
    let spec = d.write("failing.json", FAILING);
    let json = check(&spec, &["--format", "json"]);
    let text = check(&spec, &["-v"]);
    assert_eq!(json.code, text.code);
    let v: Value = serde_json::from_str(json.stdout.trim()).unwrap();
    for p in v["properties"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        let line = text
            .stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(id))
            .unwrap_or_else(|| panic!("text line for {id}"));
        // Witnesses read `reached` / `not reached` in text.
        let word = match (p["kind"].as_str().unwrap(), p["status"].as_str().unwrap()) {
            ("sometimes", "holds") => "reached",
            ("sometimes", "violated") => "not reached",
            (_, s) => s,
        };
        assert!(line.contains(word), "{id}: {line}");
    }
}

// ---------------------------------------------------------------------------
// list, schema
// ---------------------------------------------------------------------------

#[test]
fn list_names_every_property_id_profile_and_variant() {
    let r = klpcheck(["list"]);
    assert_eq!(r.code, 0);
    for id in PROPERTY_IDS {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(id)),
            "list names {id}:\n{}",
            r.stdout
        );
    }
    assert!(r
        .stdout
        .lines()
        .any(|l| l.split_whitespace().next() == Some("mainline")));
    assert!(r
        .stdout
        .lines()
        .any(|l| l.split_whitespace().next() == Some("none")));
}

#[test]
fn schema_prints_valid_json_schema_of_scenarios() {
    let r = klpcheck(["schema"]);
    assert_eq!(r.code, 0);
    let v: Value = serde_json::from_str(&r.stdout).expect("schema is JSON");
    assert_eq!(v["type"], "object");
    for key in [
        "spec_version",
        "patches",
        "objects",
        "tasks",
        "admin",
        "expect",
    ] {
        assert!(v["properties"][key].is_object(), "schema describes {key}");
    }
    assert!(v["required"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == "spec_version"));
}

#[test]
fn help_and_version_exit_0() {
    assert_eq!(klpcheck(["--help"]).code, 0);
    assert_eq!(klpcheck(["--version"]).code, 0);
    assert_eq!(klpcheck(["check", "--help"]).code, 0);
}
