//! Action coverage, per scenario: a breadth-first pass over the reachable
//! states (after the search, whatever engine ran it) that counts, for each
//! kind of action, how often it was enabled and how often it changed the
//! state. An action the scenario allows that never changes anything, or a
//! `sometimes` property never satisfied, makes the check vacuous in part:
//! both are warnings, and `--fail-on-vacuous` makes them a failure.
//!
//! Tasks are interchangeable, so task steps are counted per function, not
//! per task. The pass keeps its own set of visited states; it stops at
//! `limit` states and then reports counts without warnings.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Instant;

use klp_model::kernel::bits;
use klp_model::{Action, KlpModel, Scenario, State};
use klp_reports::{ActionCount, Coverage, ScenarioReport, Status};
use stateright::{Model, Representative};

use crate::engines::{Bounds, Snapshot};

/// The default bound on the states the pass visits.
pub const DEFAULT_LIMIT: usize = 2_000_000;

/// The kind an action counts under.
pub fn kind_of(sc: &Scenario, a: &Action) -> String {
    match *a {
        Action::Call { func, .. } => format!("task calls {}()", sc.funcs[func as usize].name),
        Action::Return { .. } => "task returns".to_string(),
        // Who runs on the other CPUs is a detail of the try, not a kind.
        Action::TransitionWork { .. } => {
            klp_model::describe::command(sc, &Action::TransitionWork { busy: 0 })
        }
        Action::Continue { .. } => klp_model::describe::command(sc, &Action::Continue { busy: 0 }),
        _ => klp_model::describe::command(sc, a),
    }
}

/// The kinds of action the scenario's `admin` and `tasks` allow.
pub fn allowed_kinds(sc: &Scenario) -> Vec<String> {
    let admin = &sc.admin;
    let mut out = Vec::new();
    // With plans, the admin types the plans' commands only.
    for plan in &sc.plans {
        for cmd in &plan.cmds {
            let kind = kind_of(sc, &cmd.action);
            if !out.contains(&kind) {
                out.push(kind);
            }
        }
    }
    for (i, _) in sc.patches.iter().enumerate() {
        if !sc.plans.is_empty() {
            break;
        }
        let p = i as u8;
        if admin.max_loads[i] > 0 {
            out.push(kind_of(sc, &Action::Insmod(p, Default::default())));
        }
        if admin.disable {
            out.push(kind_of(sc, &Action::WriteEnabled(p, false)));
        }
        if admin.enable {
            out.push(kind_of(sc, &Action::WriteEnabled(p, true)));
        }
        if admin.force {
            out.push(kind_of(sc, &Action::WriteForce(p)));
        }
        if admin.rmmod {
            out.push(kind_of(sc, &Action::Rmmod(p)));
        }
    }
    for m in 1..sc.objects.len() {
        let m = m as u8;
        if sc.plan_modules & (1 << m) != 0 {
            continue;
        }
        if admin.target_load & (1 << m) != 0 {
            out.push(kind_of(sc, &Action::LoadModule(m)));
        }
        if admin.target_unload & (1 << m) != 0 {
            out.push(kind_of(sc, &Action::UnloadModule(m)));
        }
    }
    if sc.tasks.count > 0 && sc.tasks.max_depth > 0 {
        let mut reach = sc.tasks.entry;
        for _ in 1..sc.tasks.max_depth {
            for f in bits(reach) {
                reach |= sc.tasks.calls[f as usize];
            }
        }
        for f in bits(reach) {
            out.push(kind_of(sc, &Action::Call { task: 0, func: f }));
        }
        if reach != 0 {
            out.push(kind_of(sc, &Action::Return { task: 0 }));
        }
    }
    out
}

/// Counts actions over the states reachable in `model`, and the warnings for
/// `report`. The pass visits what the search visited: with symmetry
/// reduction, one state per class of states that differ only by a
/// permutation of the tasks, so its state count is the search's. It stops at
/// the bounds' state limit (`--max-states`, `--memory`) and deadline
/// (`--timeout`), and then reports its counts without warnings.
pub fn coverage(
    model: &KlpModel,
    report: &ScenarioReport,
    bounds: &Bounds,
    progress: &dyn Fn(&Snapshot),
) -> Coverage {
    let sc = &*model.sc;
    let start = Instant::now();
    let limit = bounds.kept_states(DEFAULT_LIMIT);
    let deadline = bounds.stop_at();
    let canon = |s: State| {
        if bounds.symmetry {
            s.representative()
        } else {
            s
        }
    };
    let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut seen: HashSet<State> = HashSet::new();
    let mut queue = VecDeque::new();
    for s in model.init_states() {
        let s = canon(s);
        if seen.insert(s.clone()) {
            queue.push_back(s);
        }
    }
    let mut complete = true;
    let mut actions = Vec::new();
    let mut expanded = 0u64;
    while let Some(s) = queue.pop_front() {
        expanded += 1;
        if expanded.is_multiple_of(1024) {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                complete = false;
                break;
            }
            if expanded.is_multiple_of(16384) {
                progress(&Snapshot {
                    phase: "coverage",
                    states: 0,
                    unique_states: seen.len() as u64,
                    max_depth: 0,
                    seconds: start.elapsed().as_secs_f64(),
                    queue: Some(queue.len() as u64),
                });
            }
        }
        actions.clear();
        model.actions(&s, &mut actions);
        for a in actions.drain(..) {
            let entry = counts.entry(kind_of(sc, &a)).or_default();
            entry.0 += 1;
            let Some(next) = model.next_state(&s, a) else {
                continue;
            };
            if next != s {
                entry.1 += 1;
            }
            let next = canon(next);
            if !seen.contains(&next) {
                if seen.len() >= limit {
                    complete = false;
                    continue;
                }
                seen.insert(next.clone());
                queue.push_back(next);
            }
        }
    }
    let mut warnings = Vec::new();
    let mut vacuous = false;
    if complete {
        for kind in allowed_kinds(sc) {
            let (enabled, fired) = counts.get(&kind).copied().unwrap_or_default();
            if fired == 0 {
                vacuous = true;
                warnings.push(if enabled == 0 {
                    format!("allowed action `{kind}` is never enabled")
                } else {
                    format!("allowed action `{kind}` never changes the state (enabled {enabled} times, it always fails)")
                });
            }
        }
    }
    // Only a `sometimes` property the scenario expects to be satisfied is a
    // warning when it is not; one with no stated expectation is a report.
    for p in &report.properties {
        if p.kind == "sometimes" && p.status == Status::Violated && p.expected == "holds" {
            vacuous = true;
            warnings.push(format!("sometimes property `{}` is never satisfied", p.id));
        }
    }
    Coverage {
        complete,
        states: seen.len() as u64,
        actions: counts
            .into_iter()
            .map(|(kind, (enabled, fired))| ActionCount {
                kind,
                enabled,
                fired,
            })
            .collect(),
        warnings,
        vacuous,
    }
}
