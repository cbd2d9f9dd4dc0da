//! Golden outputs (insta): every output format for a passing scenario
//! (claim-05a) and a violating one (claim-08 with the violation unexpected,
//! so the CI formats have something to say). Timings are zeroed; review a
//! change with `cargo insta review` or `INSTA_UPDATE=always`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use klp_checker::check::check_scenario;
use klp_checker::engines::{Bounds, EngineKind};
use klp_model::{parse_spec, KlpModel, Scenario};
use klp_reports::ci::Checked;
use klp_reports::{ScenarioReport, Walk};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Checks a scenario given as text, reported under `path`.
fn check(path: &str, text: &str) -> (KlpModel, ScenarioReport) {
    let spec = parse_spec(text).unwrap();
    let stem = Path::new(path).file_stem().unwrap().to_str().unwrap();
    let sc = Scenario::compile(&spec, stem).unwrap();
    let bounds = Bounds {
        threads: 1,
        ..Bounds::default()
    };
    let mut r = check_scenario(
        Path::new(path),
        sc.clone(),
        EngineKind::StaterightBfs,
        &bounds,
    );
    let model = KlpModel::new(sc);
    let cov_bounds = Bounds {
        max_states: Some(100_000),
        ..bounds
    };
    r.coverage = Some(klp_checker::coverage::coverage(
        &model,
        &r,
        &cov_bounds,
        &|_| {},
    ));
    r.stats.seconds = 0.0;
    r.stats.states_per_second = 0.0;
    (model, r)
}

fn ci_formats(name: &str, report: &ScenarioReport, text: &str, folders: &BTreeMap<String, String>) {
    let c = [Checked {
        report,
        folders,
        spec_text: Some(text),
    }];
    insta::assert_snapshot!(
        format!("{name}-report.txt"),
        klp_reports::text::render(report)
    );
    insta::assert_snapshot!(
        format!("{name}-coverage.txt"),
        klp_reports::text::render_coverage(report.coverage.as_ref().unwrap())
    );
    insta::assert_snapshot!(
        format!("{name}-report.json"),
        serde_json::to_string_pretty(report).unwrap()
    );
    insta::assert_snapshot!(
        format!("{name}-junit.xml"),
        klp_reports::junit::junit(&c, false)
    );
    insta::assert_snapshot!(format!("{name}.sarif"), klp_reports::sarif::sarif(&c));
    insta::assert_snapshot!(
        format!("{name}-annotations.txt"),
        klp_reports::github::annotations(&c)
    );
    insta::assert_snapshot!(
        format!("{name}-summary.md"),
        klp_reports::github::step_summary(&c, &[])
    );
}

#[test]
fn passing_scenario_outputs() {
    let path = "specs/doc/claim-05a-replaced-module-reloadable.json";
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    let (_, r) = check(path, &text);
    assert!(r.ok);
    assert!(r
        .properties
        .iter()
        .all(|p| p.status != klp_reports::Status::Violated || p.kind == "sometimes"));
    ci_formats("claim-05a", &r, &text, &BTreeMap::new());
}

#[test]
fn violating_scenario_outputs() {
    let path = "specs/doc/claim-08-shadow-freed-in-module-exit.json";
    let text = std::fs::read_to_string(repo().join(path)).unwrap().replace(
        "\"shadow-no-use-after-free\": \"violated\"",
        "\"shadow-no-use-after-free\": \"holds\"",
    );
    let (model, r) = check(path, &text);
    assert!(!r.ok);
    let p = r
        .properties
        .iter()
        .find(|p| p.id == "shadow-no-use-after-free")
        .unwrap();
    let walk = Walk::new(&model, p.actions.as_ref().unwrap());
    let folder = "out/claim-08-shadow-freed-in-module-exit/shadow-no-use-after-free";
    let folders = BTreeMap::from([(p.id.clone(), folder.to_string())]);
    ci_formats("claim-08", &r, &text, &folders);
    let cx = klp_reports::trace_txt::TraceContext {
        spec_path: path,
        property: &p.id,
    };
    let spec_ref = klp_reports::SpecRef {
        name: r.spec.name.clone(),
        path: path.to_string(),
    };
    let spec_json: serde_json::Value = serde_json::from_str(&text).unwrap();
    insta::assert_snapshot!(
        "claim-08-trace.txt",
        klp_reports::trace_txt::render(&model, &walk, &cx)
    );
    insta::assert_snapshot!(
        "claim-08-trace.json",
        serde_json::to_string_pretty(&klp_reports::trace_file::trace_file(
            &model, &walk, spec_ref, &p.id, &p.kind
        ))
        .unwrap()
    );
    insta::assert_snapshot!(
        "claim-08-trace.itf.json",
        serde_json::to_string_pretty(&klp_reports::itf::itf_trace(&model, &walk, path, &p.id))
            .unwrap()
    );
    insta::assert_snapshot!(
        "claim-08-trace.md",
        klp_reports::mermaid::trace_md(&model, &walk, &p.id)
    );
    insta::assert_snapshot!(
        "claim-08-case.json",
        serde_json::to_string_pretty(&klp_reports::reproducer::case_json(
            &model, &walk, &spec_json, &p.id
        ))
        .unwrap()
    );
    insta::assert_snapshot!(
        "claim-08-reproduce.sh",
        klp_reports::reproduce_sh::reproduce_sh(&model, &walk, &p.id, path)
    );
}
