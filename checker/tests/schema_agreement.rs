//! The JSON Schema (`klpcheck schema`, specs/schema.json) and the loader
//! give the same verdict on a corpus of good files (every scenario under
//! specs/) and bad ones: what the loader rejects, the schema rejects, except
//! the cross-references a JSON Schema cannot express (a name used in one
//! place that must be declared in another), which are listed as such.

use std::path::{Path, PathBuf};

use klp_checker::load::{expand, parse};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("specs/schema.json")).unwrap())
            .unwrap();
    jsonschema::validator_for(&schema).expect("specs/schema.json is a valid JSON Schema")
}

/// The schema's verdict: the text is JSON (one value, nothing after it) and
/// the value validates.
fn schema_accepts(v: &jsonschema::Validator, text: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => v.is_valid(&value),
        Err(_) => false,
    }
}

/// The loader's verdict (parse and compile, as `check` does).
fn loader_accepts(text: &str) -> bool {
    match parse("t.json", text) {
        Ok(spec) => klp_model::Scenario::compile(&spec, "t").is_ok(),
        Err(_) => false,
    }
}

const BASE: &str = r#"{
  "spec_version": 1,
  "objects": {"vmlinux": {"funcs": ["f", "g"]}, "mod": {"funcs": ["h"]}},
  "shadow_vars": {"V": {"parent": "p", "id": "ID"}},
  "system_modifications": ["M"],
  "patches": {"P1": {"objects": {"vmlinux": {"funcs": {"f": {"uses_shadow": ["V"], "needs": ["M"]}}}}}},
  "tasks": {"count": 1, "max_depth": 1},
  "admin": {"insmod": {"P1": 1}},
  "plans": {"up": [{"op": "load_livepatch", "args": {"patch": "P1"}},
                   {"op": "write_enabled", "args": {"patch": "P1", "value": 0}},
                   {"op": "unload_module", "args": {"module": "mod", "retry": true}}]},
  "expect": {"single-transition": "holds"}
}"#;

/// Bad files the schema must reject too: (what, replace this, by this).
const STRUCTURAL: &[(&str, &str, &str)] = &[
    ("misspelt top-level key", "\"patches\"", "\"patchez\""),
    ("wrong type", "\"count\": 1", "\"count\": \"one\""),
    ("negative count", "\"count\": 1", "\"count\": -1"),
    ("spec_version 2", "\"spec_version\": 1", "\"spec_version\": 2"),
    ("unknown profile", "\"spec_version\": 1", "\"spec_version\": 1, \"profile\": \"v9.99\""),
    ("unknown variant", "\"spec_version\": 1", "\"spec_version\": 1, \"variant\": \"bogus\""),
    ("unknown property id", "\"single-transition\"", "\"single-transitio\""),
    ("unknown verdict", "\"holds\"}", "\"maybe\"}"),
    (
        "unknown profile in expect_by_profile",
        "\"spec_version\": 1",
        "\"spec_version\": 1, \"expect_by_profile\": {\"v9\": {}}",
    ),
    (
        "unknown property in expect_by_profile",
        "\"spec_version\": 1",
        "\"spec_version\": 1, \"expect_by_profile\": {\"v5.4\": {\"nope\": \"holds\"}}",
    ),
    ("too many tasks", "\"count\": 1", "\"count\": 1000"),
    ("no task", "\"count\": 1", "\"count\": 0"),
    ("depth 0", "\"max_depth\": 1", "\"max_depth\": 0"),
    ("depth 9", "\"max_depth\": 1", "\"max_depth\": 9"),
    (
        "negative replace_set",
        "{\"P1\": {\"objects\"",
        "{\"P1\": {\"replace_set\": -1, \"objects\"",
    ),
    (
        "replaceable not a bool",
        "{\"P1\": {\"objects\"",
        "{\"P1\": {\"replaceable\": 0, \"objects\"",
    ),
    (
        "misspelt state callback",
        "{\"P1\": {\"objects\"",
        "{\"P1\": {\"states\": [{\"id\": 1, \"callbacks\": {\"pre_pach\": {}}}], \"objects\"",
    ),
    (
        "is_shadow not a bool",
        "{\"P1\": {\"objects\"",
        "{\"P1\": {\"states\": [{\"id\": 1, \"is_shadow\": \"yes\"}], \"objects\"",
    ),
    ("too many insmods", "{\"P1\": 1}", "{\"P1\": 5}"),
    (
        "a patch without objects",
        "{\"P1\": {\"objects\": {\"vmlinux\"",
        "{\"P2\": {}, \"P1\": {\"objects\": {\"vmlinux\"",
    ),
    (
        "no patches",
        "\"patches\": {\"P1\": {\"objects\": {\"vmlinux\": {\"funcs\": {\"f\": {\"uses_shadow\": [\"V\"], \"needs\": [\"M\"]}}}}}},",
        "\"patches\": {},",
    ),
    ("missing patches", "\"patches\"", "\"_patches\""),
    ("system modification twice", "[\"M\"]", "[\"M\", \"M\"]"),
    ("unknown field in a patch", "{\"P1\": {", "{\"P1\": {\"replaced\": true, "),
    ("vmlinux loaded", "{\"vmlinux\": {\"funcs\"", "{\"vmlinux\": {\"loaded\": true, \"funcs\""),
    ("function twice in an object", "[\"f\", \"g\"]", "[\"f\", \"f\", \"g\"]"),
    ("empty object name", "\"mod\":", "\"\":"),
    ("trailing text", "\"holds\"}\n}", "\"holds\"}\n} {}"),
    ("not JSON", "\"spec_version\": 1,", "\"spec_version\": 1,,"),
    ("unknown plan step op", "\"op\": \"load_livepatch\"", "\"op\": \"load_patch\""),
    ("plan step without args", "{\"op\": \"load_livepatch\", \"args\": {\"patch\": \"P1\"}}", "{\"op\": \"load_livepatch\"}"),
    ("unknown plan step arg", "\"module\": \"mod\",", "\"module\": \"mod\", \"wait\": true,"),
    ("write_enabled 2", "\"value\": 0", "\"value\": 2"),
    ("plan name with a space", "\"up\":", "\"up grade\":"),
    (
        "nine plans",
        "\"plans\": {",
        "\"plans\": {\"a\": [], \"b\": [], \"c\": [], \"d\": [], \"e\": [], \"f\": [], \"g\": [], \"h\": [], ",
    ),
];

/// Bad files only the loader can reject: a name that must be declared
/// elsewhere in the file.
const CROSS_REFERENCES: &[(&str, &str, &str)] = &[
    (
        "patched function not declared",
        "\"funcs\": {\"f\": {",
        "\"funcs\": {\"x\": {",
    ),
    ("shadow variable not declared", "[\"V\"]", "[\"W\"]"),
    (
        "system modification not declared",
        "\"needs\": [\"M\"]",
        "\"needs\": [\"N\"]",
    ),
    (
        "patched object not declared",
        "{\"P1\": {\"objects\": {\"vmlinux\"",
        "{\"P1\": {\"objects\": {\"nomod\"",
    ),
    ("insmod of an unknown patch", "{\"P1\": 1}", "{\"P9\": 1}"),
    (
        "plan step on an unknown patch",
        "\"args\": {\"patch\": \"P1\"}",
        "\"args\": {\"patch\": \"P9\"}",
    ),
    (
        "plan step on an unknown module",
        "\"module\": \"mod\"",
        "\"module\": \"nomod\"",
    ),
    (
        "function declared in two objects",
        "\"funcs\": [\"h\"]",
        "\"funcs\": [\"f\"]",
    ),
];

fn variant(what: &str, from: &str, to: &str) -> String {
    assert!(
        BASE.contains(from),
        "{what}: `{from}` is not in the base file"
    );
    BASE.replacen(from, to, 1)
}

#[test]
fn schema_and_loader_agree() {
    let v = validator();
    assert!(loader_accepts(BASE), "the base file loads");
    assert!(schema_accepts(&v, BASE), "the base file validates");
    let mut disagree = Vec::new();
    // Good: every scenario under specs/.
    for path in expand(&[repo().join("specs")]).unwrap() {
        let text = std::fs::read_to_string(&path).unwrap();
        let (l, s) = (loader_accepts(&text), schema_accepts(&v, &text));
        if !(l && s) {
            disagree.push(format!("{}: loader {l}, schema {s}", path.display()));
        }
    }
    for (what, from, to) in STRUCTURAL {
        let text = variant(what, from, to);
        let (l, s) = (loader_accepts(&text), schema_accepts(&v, &text));
        if l || s {
            disagree.push(format!("{what}: loader accepts {l}, schema accepts {s}"));
        }
    }
    for (what, from, to) in CROSS_REFERENCES {
        let text = variant(what, from, to);
        let (l, s) = (loader_accepts(&text), schema_accepts(&v, &text));
        if l || !s {
            disagree.push(format!(
                "{what} (a cross-reference): loader accepts {l}, schema accepts {s}"
            ));
        }
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
}
