//! `klpcheck check`: search one scenario and judge every property against
//! the scenario's expectations.

use std::path::Path;

use klp_model::properties::{Kind, PROPERTIES};
use klp_model::{KlpModel, Scenario};
use klp_reports::{build_trace, PropertyReport, ScenarioReport, SpecRef, Stats, Status};

use crate::engines::{run, Bounds, EngineKind, Outcome};

/// Checks `scenario` with `engine` and builds its report.
pub fn check_scenario(
    path: &Path,
    scenario: Scenario,
    engine: EngineKind,
    bounds: &Bounds,
) -> ScenarioReport {
    let model = KlpModel::new(scenario);
    let outcome = run(&model, engine, bounds);
    report(path, &model, engine.name(), bounds, &outcome)
}

/// Judges an engine's outcome against the scenario's expectations.
pub fn report(
    path: &Path,
    model: &KlpModel,
    engine: &str,
    bounds: &Bounds,
    o: &Outcome,
) -> ScenarioReport {
    let sc = &*model.sc;
    let offered: Vec<_> = PROPERTIES
        .iter()
        .filter(|p| p.kind != Kind::Eventually)
        .collect();
    let mut properties = Vec::new();
    for (i, p) in offered.iter().enumerate() {
        let found = o.discoveries.get(i).and_then(|d| d.as_ref());
        let status = match (p.kind, found, o.complete) {
            (Kind::Always, Some(_), _) => Status::Violated,
            (Kind::Always, None, true) => Status::Holds,
            (Kind::Sometimes, Some(_), _) => Status::Holds,
            (Kind::Sometimes, None, true) => Status::Violated,
            _ => Status::Unknown,
        };
        let expected = sc.expected(p.id);
        let ok = status == Status::Unknown || status.as_str() == expected.as_str();
        properties.push(PropertyReport {
            id: p.id.to_string(),
            kind: p.kind.name().to_string(),
            status,
            expected: expected.as_str().to_string(),
            ok,
            trace: found.map(|actions| build_trace(model, actions)),
            loop_start: None,
            actions: found.cloned(),
        });
    }
    let liveness = if bounds.no_liveness {
        crate::liveness::skipped()
    } else {
        crate::liveness::check_liveness(model, liveness_bound(bounds))
    };
    for l in liveness {
        let status = match (&l.unknown, &l.lasso) {
            (Some(_), _) => Status::Unknown,
            (None, Some(_)) => Status::Violated,
            (None, None) => Status::Holds,
        };
        let expected = sc.expected(l.id);
        let ok = status == Status::Unknown || status.as_str() == expected.as_str();
        let (trace, loop_start) = match &l.lasso {
            Some((prefix, lp)) => {
                let all: Vec<_> = prefix.iter().chain(lp.iter()).cloned().collect();
                (Some(build_trace(model, &all)), Some(prefix.len()))
            }
            None => (None, None),
        };
        properties.push(PropertyReport {
            id: l.id.to_string(),
            kind: "eventually".to_string(),
            status,
            expected: expected.as_str().to_string(),
            ok,
            trace,
            loop_start,
            actions: None,
        });
    }
    // Pinned counts are for searches without symmetry reduction.
    let overridden = sc.profile != sc.spec_profile || sc.variant != sc.spec_variant;
    let expected_unique_states = if bounds.symmetry || overridden {
        None
    } else {
        sc.expected_unique_states
    };
    let mut r = ScenarioReport {
        schema_version: 1,
        spec: SpecRef {
            name: sc.name.clone(),
            path: path.display().to_string(),
        },
        profile: sc.profile.name().to_string(),
        variant: sc.variant.name().to_string(),
        engine: engine.to_string(),
        threads: bounds.threads,
        complete: o.complete,
        incomplete_reason: o.incomplete_reason.clone(),
        stats: Stats {
            states: o.states,
            unique_states: o.unique_states,
            max_depth: o.max_depth,
            seconds: o.seconds,
            states_per_second: if o.seconds > 0.0 {
                o.unique_states as f64 / o.seconds
            } else {
                0.0
            },
        },
        properties,
        expected_unique_states,
        coverage: None,
        ok: false,
    };
    r.ok = r.properties.iter().all(|p| p.ok) && r.count_ok();
    r
}

/// How many states the liveness graph may hold: the search's own bound, or
/// two million.
fn liveness_bound(bounds: &Bounds) -> usize {
    bounds.max_states.map_or(2_000_000, |n| n as usize)
}
