//! `klpcheck check`: search one scenario and judge every property against
//! the scenario's expectations.

use std::path::Path;

use klp_model::properties::{Kind, PROPERTIES};
use klp_model::spec::Verdict;
use klp_model::{KlpModel, Scenario};
use klp_reports::{build_trace, PropertyReport, ScenarioReport, SpecRef, Stats, Status};

use crate::engines::{run_all, Bounds, EngineKind, Outcome, Passes, Snapshot};
use crate::liveness::LivenessResult;

/// The closing line of a safety counterexample: why its last state
/// violates `id` (klp_model::why), from the path replayed from boot.
fn why_violated(model: &KlpModel, id: &str, actions: &[klp_model::Action]) -> Option<String> {
    let walk = klp_reports::trace::Walk::new(model, actions);
    let last = walk.states.last()?;
    klp_model::why::why_violated(&model.sc, last, id, actions.last())
}

/// Checks `scenario` with `engine` and builds its report.
pub fn check_scenario(
    path: &Path,
    scenario: Scenario,
    engine: EngineKind,
    bounds: &Bounds,
) -> ScenarioReport {
    let model = KlpModel::new(scenario);
    let all = run_all(
        &model,
        engine,
        bounds,
        Passes {
            coverage: false,
            liveness: !bounds.no_liveness,
        },
        &mut |_| {},
    );
    report_from(
        path,
        &model,
        engine.name(),
        bounds,
        &all.outcome,
        all.liveness,
    )
}

/// Judges an engine's outcome against the scenario's expectations.
pub fn report(
    path: &Path,
    model: &KlpModel,
    engine: &str,
    bounds: &Bounds,
    o: &Outcome,
) -> ScenarioReport {
    report_with_progress(path, model, engine, bounds, o, &|_| {})
}

/// [`report`], showing the liveness pass's progress through `progress`.
pub fn report_with_progress(
    path: &Path,
    model: &KlpModel,
    engine: &str,
    bounds: &Bounds,
    o: &Outcome,
    progress: &dyn Fn(&Snapshot),
) -> ScenarioReport {
    let liveness = (!bounds.no_liveness)
        .then(|| crate::liveness::check_liveness(model, bounds, &mut |s| progress(s)));
    report_from(path, model, engine, bounds, o, liveness)
}

/// Judges an engine's outcome and the liveness verdicts (`None`: not
/// checked, `--no-liveness`) against the scenario's expectations.
pub fn report_from(
    path: &Path,
    model: &KlpModel,
    engine: &str,
    bounds: &Bounds,
    o: &Outcome,
    liveness: Option<Vec<LivenessResult>>,
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
        // A `sometimes` witness with no stated expectation is only reported
        // (reached or not reached); every other property is expected to
        // hold unless the scenario says otherwise.
        let expected = match (p.kind, stated(sc, p.id)) {
            (_, Some(v)) => v.as_str(),
            (Kind::Sometimes, None) => NO_EXPECTATION,
            (_, None) => "holds",
        };
        let ok =
            status == Status::Unknown || expected == NO_EXPECTATION || status.as_str() == expected;
        properties.push(PropertyReport {
            id: p.id.to_string(),
            kind: p.kind.name().to_string(),
            status,
            expected: expected.to_string(),
            ok,
            trace: found.map(|actions| build_trace(model, actions)),
            loop_start: None,
            actions: found.cloned(),
            why: match (p.kind, found) {
                (Kind::Always, Some(actions)) => why_violated(model, p.id, actions),
                _ => None,
            },
        });
    }
    let mut incomplete_reason = o.incomplete_reason.clone();
    let liveness = match liveness {
        Some(l) if !bounds.no_liveness => l,
        _ => crate::liveness::skipped(),
    };
    for l in liveness {
        let status = match (&l.unknown, &l.lasso) {
            (Some(_), _) => Status::Unknown,
            (None, Some(_)) => Status::Violated,
            (None, None) => Status::Holds,
        };
        if let (Some(why), false) = (&l.unknown, bounds.no_liveness) {
            // A bound stopped the liveness pass: the run is incomplete.
            if incomplete_reason
                .as_deref()
                .is_none_or(|r| !r.contains("liveness"))
            {
                let why = format!("liveness pass: {why}");
                incomplete_reason = Some(match incomplete_reason {
                    Some(r) => format!("{r}; {why}"),
                    None => why,
                });
            }
        }
        let expected = stated(sc, l.id).map_or("holds", |v| v.as_str());
        let ok = status == Status::Unknown || status.as_str() == expected;
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
            expected: expected.to_string(),
            ok,
            trace,
            loop_start,
            actions: None,
            why: None,
        });
    }
    // A pinned count is for the scenario's own profile and variant, and for
    // the setting (with or without symmetry reduction) it was pinned for.
    let overridden = sc.profile != sc.spec_profile || sc.variant != sc.spec_variant;
    let expected_unique_states = match (overridden, bounds.symmetry) {
        (true, _) => None,
        (false, false) => sc.expected_unique_states,
        (false, true) => sc.expected_unique_states_symmetry,
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
        complete: incomplete_reason.is_none(),
        incomplete_reason,
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

/// `expected` of a `sometimes` property the scenario states nothing about:
/// it is reported (reached or not reached), never judged.
pub const NO_EXPECTATION: &str = "none";

/// The verdict the scenario states for property `id` under its current
/// profile (`expect_by_profile` first when the profile was overridden, then
/// `expect`), if it states one.
pub fn stated(sc: &Scenario, id: &str) -> Option<Verdict> {
    sc.expect_by_profile
        .get(&sc.profile)
        .and_then(|m| m.get(id))
        .or_else(|| sc.expect.get(id))
        .copied()
}
