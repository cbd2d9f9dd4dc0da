//! Every scenario in specs/ meets its stated expectations and its pinned
//! unique-state count, on every engine, and the engines agree.

use std::path::{Path, PathBuf};

use klp_checker::check::check_scenario;
use klp_checker::engines::{Bounds, EngineKind};
use klp_checker::load::{expand, load};

fn specs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs")
}

fn all_specs() -> Vec<PathBuf> {
    expand(&[specs_dir()]).expect("specs/ has scenarios")
}

fn bounds() -> Bounds {
    Bounds {
        threads: 2,
        max_states: None,
        timeout: None,
        symmetry: false,
        memory: None,
    }
}

/// Each spec's verdicts match its `expect` and its count matches
/// `expected_unique_states` on stateright's BFS and DFS, and both engines
/// find the same number of unique states.
#[test]
fn every_spec_meets_expectations_on_both_stateright_engines() {
    let mut failures = Vec::new();
    for path in all_specs() {
        let scenario = load(&path).unwrap_or_else(|e| panic!("{e}"));
        if scenario.scenario.script.is_some() && scenario.scenario.tasks.count == 0 {
            continue;
        }
        assert!(
            scenario.scenario.expected_unique_states.is_some(),
            "{}: every scenario pins expected_unique_states",
            path.display()
        );
        let mut counts = Vec::new();
        for engine in [EngineKind::StaterightBfs, EngineKind::StaterightDfs] {
            let l = load(&path).unwrap();
            let r = check_scenario(&path, l.scenario, engine, &bounds());
            assert!(r.complete, "{}: search incomplete", path.display());
            if !r.ok {
                failures.push(format!(
                    "{} on {}:\n{}",
                    path.display(),
                    engine.name(),
                    klp_reports::text::render(&r)
                ));
            }
            counts.push(r.stats.unique_states);
        }
        assert_eq!(
            counts[0],
            counts[1],
            "{}: BFS and DFS disagree on unique states",
            path.display()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// specs/schema.json is what `klpcheck schema` prints (regenerate it with
/// `cargo run -p klp-checker -- schema > specs/schema.json`).
#[test]
fn committed_schema_is_current() {
    let committed =
        std::fs::read_to_string(specs_dir().join("schema.json")).expect("specs/schema.json exists");
    assert_eq!(
        committed,
        klp_model::spec::schema_json(),
        "specs/schema.json is stale"
    );
}

/// Every spec validates against the committed schema's top-level keys (a
/// cheap guard that the schema describes what the specs use).
#[test]
fn specs_use_only_schema_keys() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(specs_dir().join("schema.json")).unwrap())
            .unwrap();
    let props = schema["properties"]
        .as_object()
        .expect("schema has properties");
    for path in all_specs() {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for key in v.as_object().unwrap().keys() {
            assert!(
                props.contains_key(key),
                "{}: key `{key}` not in schema",
                path.display()
            );
        }
    }
}
