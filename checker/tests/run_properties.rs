//! `klpcheck run` checks every safety property in every state along a
//! script (issue 14 point 6): a scripted downgrade that reaches a shadow
//! use-after-free is reported with the step that caused it and why, exit 1;
//! the same series without the downgrade's rmmod passes.

use assert_cmd::Command;

/// v1 and v2 are cumulative (replace) versions of `f`, both using shadow
/// variable V that their pre_patch creates; v2's module_exit frees every V
/// (klp_shadow_free_all, as samples/livepatch/livepatch-shadow-fix1.c
/// does). The script upgrades v1 -> v2, then downgrades to v1 while task 1
/// sleeps in v1's f, then unloads v2 (`tail` steps).
fn case(tail: &str) -> String {
    format!(
        r#"{{
  "spec_version": 1,
  "name": "downgrade-frees-shadow",
  "objects": {{"vmlinux": {{"funcs": ["f"]}}}},
  "shadow_vars": {{"V": {{"parent": "obj", "id": "SV_DATA"}}}},
  "patches": {{
    "v1": {{"module": "livepatch_v1", "replace": true,
           "objects": {{"vmlinux": {{"funcs": {{"f": {{"uses_shadow": ["V"]}}}},
             "callbacks": {{"pre_patch": {{"log": false, "shadow_get_or_alloc": ["V"]}}}}}}}}}},
    "v2": {{"module": "livepatch_v2", "replace": true,
           "module_exit": {{"shadow_free_all": ["SV_DATA"]}},
           "objects": {{"vmlinux": {{"funcs": {{"f": {{"uses_shadow": ["V"]}}}},
             "callbacks": {{"pre_patch": {{"log": false, "shadow_get_or_alloc": ["V"]}}}}}}}}}}
  }},
  "tasks": {{"count": 1, "max_depth": 1}},
  "script": [
    {{"op": "load_livepatch", "args": {{"patch": "v1"}}}},
    {{"op": "load_livepatch", "args": {{"patch": "v2"}}}},
    {{"op": "unload_module", "args": {{"module": "livepatch_v1"}}}},
    {{"op": "load_livepatch", "args": {{"patch": "v1"}}}},
    {{"op": "task_call", "args": {{"task": 1, "func": "f"}}}}{tail}
  ]
}}"#
    )
}

fn run(text: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case.json");
    std::fs::write(&path, text).unwrap();
    let o = Command::cargo_bin("klpcheck")
        .unwrap()
        .arg("run")
        .arg(&path)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_downgrade_that_frees_a_used_shadow_variable_is_reported() {
    let (code, _, err) = run(&case(
        r#",
    {"op": "unload_module", "args": {"module": "livepatch_v2"}}"#,
    ));
    assert_eq!(code, Some(1), "{err}");
    // The property, the step that caused it (step 6, the rmmod of v2), the
    // model step in kernel terms and the closing why line.
    assert!(
        err.contains("shadow-no-use-after-free violated by step 6"),
        "{err}"
    );
    assert!(err.contains("rmmod livepatch_v2"), "{err}");
    assert!(
        err.contains("why: task 1 runs f() in v1#2's code (load 2 of its module), which uses shadow variable V"),
        "{err}"
    );
}

#[test]
fn the_same_series_without_the_rmmod_passes() {
    let (code, out, err) = run(&case(""));
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(!err.contains("violated"), "{err}");
}

#[test]
fn a_violation_the_scenario_expects_is_reported_but_passes() {
    let text = case(
        r#",
    {"op": "unload_module", "args": {"module": "livepatch_v2"}}"#,
    )
    .replacen(
        "\"tasks\"",
        "\"expect\": {\"shadow-no-use-after-free\": \"violated\"},\n  \"tasks\"",
        1,
    );
    let (code, _, err) = run(&text);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("shadow-no-use-after-free violated (as expected) by step 6"),
        "{err}"
    );
}
