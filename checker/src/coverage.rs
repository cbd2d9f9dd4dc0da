//! Action coverage, per scenario: counted inside the native engine's search
//! (its [`crate::liveness::KlpHooks`]), for each kind of action, how often
//! it was enabled and how often it changed the state, over the states the
//! search expands (with symmetry reduction, one per class). An action the scenario allows that never changes anything, or a
//! `sometimes` property never satisfied, makes the check vacuous in part:
//! both are warnings, and `--fail-on-vacuous` makes them a failure.
//!
//! Tasks are interchangeable, so task steps are counted per function, not
//! per task. A search stopped by a bound reports its counts without
//! warnings.

use std::collections::{BTreeMap, HashMap};

use klp_model::kernel::bits;
use klp_model::{Action, KlpModel, Scenario};
use klp_reports::{ActionCount, Coverage, ScenarioReport, Status};

use crate::engines::{Bounds, Snapshot};

/// The action an action counts as: task numbers and who is busy on the
/// other CPUs are details of the step, not of its kind ([`kind_of`]).
fn kind_key(a: &Action) -> Action {
    match *a {
        Action::Call { func, .. } => Action::Call { task: 0, func },
        Action::Return { .. } => Action::Return { task: 0 },
        Action::TransitionWork { .. } => Action::TransitionWork { busy: 0 },
        Action::Continue { .. } => Action::Continue { busy: 0 },
        ref other => other.clone(),
    }
}

/// A search thread's counts: per kind key, (enabled, fired).
#[derive(Default)]
pub struct CoverageLocal {
    counts: HashMap<Action, (u64, u64), std::hash::BuildHasherDefault<SmallHash>>,
}

impl CoverageLocal {
    /// Counts `a`, enabled in a state; `changed`: `None` when `next_state`
    /// has no successor, else whether the successor differs.
    #[inline]
    pub fn count(&mut self, a: &Action, changed: Option<bool>) {
        let entry = self.counts.entry(kind_key(a)).or_default();
        entry.0 += 1;
        if changed == Some(true) {
            entry.1 += 1;
        }
    }
}

/// FNV-1a over the few bytes an action hashes: the count map's hasher.
pub struct SmallHash(u64);

impl Default for SmallHash {
    fn default() -> Self {
        SmallHash(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for SmallHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// The counts of one search, merged over its threads, by kind.
#[derive(Debug, Clone, Default)]
pub struct CoverageCounts {
    pub complete: bool,
    pub states: u64,
    pub counts: BTreeMap<String, (u64, u64)>,
}

impl CoverageCounts {
    pub fn merge<'a>(
        model: &KlpModel,
        complete: bool,
        states: u64,
        locals: impl IntoIterator<Item = &'a CoverageLocal>,
    ) -> Self {
        let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for local in locals {
            for (a, (enabled, fired)) in &local.counts {
                let e = counts.entry(kind_of(&model.sc, a)).or_default();
                e.0 += enabled;
                e.1 += fired;
            }
        }
        CoverageCounts {
            complete,
            states,
            counts,
        }
    }
}

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

/// Counts actions over the states reachable in `model` with a native
/// search of its own (symmetry as `bounds` say), and the warnings for
/// `report`. `check` counts in its own search instead
/// ([`crate::engines::run_all`]).
pub fn coverage(
    model: &KlpModel,
    report: &ScenarioReport,
    bounds: &Bounds,
    progress: &dyn Fn(&Snapshot),
) -> Coverage {
    let hooks = crate::liveness::KlpHooks::<false>::new(model, true);
    let run =
        crate::engines::run_native_hooked(model, bounds, &hooks, "coverage", None, &mut |s| {
            progress(s)
        });
    let counts = CoverageCounts::merge(
        model,
        run.outcome.complete,
        run.outcome.unique_states,
        run.locals.iter().map(|l| &l.coverage),
    );
    finish(model, report, counts)
}

/// The coverage table and its warnings from a search's counts.
pub fn finish(model: &KlpModel, report: &ScenarioReport, counts: CoverageCounts) -> Coverage {
    let sc = &*model.sc;
    let CoverageCounts {
        complete,
        states,
        counts,
    } = counts;
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
        states,
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
