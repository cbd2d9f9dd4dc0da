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

/// Pinned counts above this are checked on the native engine only.
const LARGE: u64 = 400_000;

fn bounds(symmetry: bool) -> Bounds {
    Bounds {
        threads: 2,
        max_states: None,
        timeout: None,
        symmetry,
        memory: None,
        no_liveness: false,
        ..Bounds::default()
    }
}

fn statuses(r: &klp_reports::ScenarioReport) -> Vec<(String, &'static str)> {
    r.properties
        .iter()
        .map(|p| (p.id.clone(), p.status.as_str()))
        .collect()
}

/// Each spec's verdicts match its `expect` and its count matches
/// `expected_unique_states` on the native engine and on stateright's BFS
/// and DFS; all three find the same unique states; with symmetry reduction
/// (native, and stateright's DFS with the same canonical form) the verdicts
/// do not change and both engines agree on the reduced count.
#[test]
fn every_spec_meets_expectations_and_engines_agree() {
    let mut failures = Vec::new();
    for path in all_specs() {
        let scenario = load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            scenario.scenario.expected_unique_states.is_some(),
            "{}: every scenario pins expected_unique_states",
            path.display()
        );
        // specs/bench holds the benchmark scenario (over a million states),
        // and a few scenarios of the finer model pin more than LARGE states:
        // the suite checks those on the native engine only, to stay fast
        // (every other scenario checks the engines' agreement; the README's
        // performance table compares all engines on the bench).
        let bench = path.components().any(|c| c.as_os_str() == "bench")
            || scenario.scenario.expected_unique_states > Some(LARGE);
        let engines: &[EngineKind] = if bench {
            &[EngineKind::Native]
        } else {
            &[
                EngineKind::Native,
                EngineKind::StaterightBfs,
                EngineKind::StaterightDfs,
            ]
        };
        let mut counts = Vec::new();
        let mut verdicts = Vec::new();
        for &engine in engines {
            let l = load(&path).unwrap();
            let r = check_scenario(&path, l.scenario, engine, &bounds(false));
            assert!(
                r.complete,
                "{}: search incomplete on {}",
                path.display(),
                engine.name()
            );
            if !r.ok {
                failures.push(format!(
                    "{} on {}:\n{}",
                    path.display(),
                    engine.name(),
                    klp_reports::text::render(&r)
                ));
            }
            counts.push(r.stats.unique_states);
            verdicts.push(statuses(&r));
        }
        assert!(
            counts.iter().all(|&c| c == counts[0]),
            "{}: engines disagree on unique states: {counts:?}",
            path.display()
        );
        assert!(
            verdicts.iter().all(|v| *v == verdicts[0]),
            "{}: engines disagree on verdicts",
            path.display()
        );
        if bench {
            continue;
        }
        let mut sym_counts = Vec::new();
        for engine in [EngineKind::Native, EngineKind::StaterightDfs] {
            let l = load(&path).unwrap();
            let r = check_scenario(&path, l.scenario, engine, &bounds(true));
            assert_eq!(
                statuses(&r),
                verdicts[0],
                "{}: symmetry changed a verdict on {}",
                path.display(),
                engine.name()
            );
            assert!(r.stats.unique_states <= counts[0]);
            sym_counts.push(r.stats.unique_states);
        }
        assert_eq!(
            sym_counts[0],
            sym_counts[1],
            "{}: native and stateright-dfs disagree with symmetry",
            path.display()
        );
        // The default check (symmetry, liveness, coverage) with a table
        // that starts at 16 slots and doubles in place: the same report,
        // traces and lassos included.
        let report = |first_table| {
            let l = load(&path).unwrap();
            let b = Bounds {
                first_table,
                ..bounds(true)
            };
            let r = check_scenario(&path, l.scenario, EngineKind::Native, &b);
            let mut v = serde_json::to_value(&r).unwrap();
            v["stats"]["seconds"] = serde_json::Value::Null;
            v["stats"]["states_per_second"] = serde_json::Value::Null;
            v
        };
        assert!(
            report(None) == report(Some(16 * 12)),
            "{}: a growing table changed the report",
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
        klp_checker::schema::schema_text(),
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
