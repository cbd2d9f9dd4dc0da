//! Ordered admin plans: the order in which an admin types livepatch
//! commands (an upgrade route of a cumulative series, a downgrade, a hotfix
//! over a cumulative patch). A plan is an admin's order, not a kernel rule:
//! the kernel takes any command at any time; the plan only narrows which
//! commands the search tries, and when. Everything else (tasks, kernel
//! work, the module notifiers, target modules no plan names) interleaves
//! freely with the plan's steps.
//!
//! **How the search explores several plans.** The state holds one cursor
//! per plan ([`crate::state::State::plan_pos`]), and the boot state has
//! every plan at its first step. An admin command is offered when it is
//! the next step of some plan whose waits hold; taking it moves every plan
//! whose next step it is on, and drops the plans whose next step it is not
//! (the commands typed so far are no longer theirs). So there is one boot
//! state, every trace replays from it (replay, case.json and reproduce.sh
//! need no plan choice), and plans with a common prefix (v1 -> v2 -> v3,
//! then a downgrade to v2) share the states of that prefix instead of
//! exploring it once per plan.
//!
//! **A failed step.** The command prints what the kernel prints (the
//! errno: `load_error(P,EBUSY)` for an insmod while a transition runs,
//! `write_error(P,enabled,EINVAL)`, `unload_error(P,EAGAIN)`) and the plan
//! moves on, as a shell script without `set -e` would. A step with
//! `"retry": true` stays the plan's next step until a try succeeds (the
//! selftests' `loop_until`); a failure found by a later step of the same
//! command (a later object's pre_patch callback) counts as typed.
//!
//! **Waits.** `load_livepatch` (`load_lp`) waits until the patch's
//! transition is over before the next step; `disable_livepatch`
//! (`disable_lp`) until its sysfs directory is gone; `unload_module` waits
//! for the module's refcount to be 0 before it types rmmod; the `_nowait`
//! and `try_` steps do not wait. A wait that can never end (a disable
//! that failed, a transition blocked forever) ends the plan there, as a
//! script would hang.

use crate::action::Action;
use crate::core::InsmodParams;
use crate::scenario::{ObjId, PatchId, Scenario, VMLINUX};
use crate::state::{KlpOp, State};

/// At most this many plans per scenario (one cursor byte each in a u64).
pub const MAX_PLANS: usize = 8;
/// At most this many steps per plan (a cursor byte; 0xFF: dropped).
pub const MAX_PLAN_STEPS: usize = 200;
/// The cursor value of a plan the admin's commands left.
pub const DROPPED: u8 = 0xFF;

/// A condition a plan waits for before its next command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// `transition` of P reads 0: P is not the transition patch, and no
    /// command on P is still in the kernel.
    TransitionDone(PatchId),
    /// `/sys/kernel/livepatch/P` is gone.
    SysfsGone(PatchId),
    /// `/sys/module/P/refcnt` reads 0 (or the module is not loaded).
    PatchRefcntZero(PatchId),
    /// No task runs the target module's code (its refcount is 0).
    ModuleIdle(ObjId),
}

impl Wait {
    pub fn holds(self, sc: &Scenario, s: &State) -> bool {
        match self {
            Wait::TransitionDone(p) => {
                s.klp_transition_patch != Some(p) && s.klp_op.is_none_or(|op| op_patch(op) != p)
            }
            Wait::SysfsGone(p) => !s.patch(p).has_sysfs_dir(),
            Wait::PatchRefcntZero(p) => {
                let r = s.patch(p);
                !r.module_loaded() || !r.module_ref
            }
            Wait::ModuleIdle(m) => {
                let funcs = sc.object_funcs_mask(m);
                !s.tasks
                    .iter()
                    .any(|t| t.frames.iter().any(|f| funcs & (1 << f.func) != 0))
            }
        }
    }
}

/// The patch a livepatch command in progress works on.
fn op_patch(op: KlpOp) -> PatchId {
    match op {
        KlpOp::EnableObjects { patch, .. }
        | KlpOp::DisableObjects { patch, .. }
        | KlpOp::FirstTry { patch } => patch,
    }
}

/// One command of a compiled plan: the waits before it, the command, and
/// whether a failed try is typed again.
#[derive(Debug, Clone)]
pub struct PlanCmd {
    /// The step's index in the plan as written (0-based).
    pub step: usize,
    /// The step as written: `load_livepatch v2`.
    pub text: String,
    pub waits: Vec<Wait>,
    pub action: Action,
    pub retry: bool,
}

/// A compiled plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub cmds: Vec<PlanCmd>,
}

impl Scenario {
    /// The commands the plans offer in `s` (each once).
    pub fn plan_actions(&self, s: &State, out: &mut Vec<Action>) {
        for (i, plan) in self.plans.iter().enumerate() {
            if let Some(cmd) = plan_next(self, s, i, plan) {
                if !out.contains(&cmd.action) {
                    out.push(cmd.action.clone());
                }
            }
        }
    }

    /// The plans (and their steps) whose next command `a` is in `s`.
    pub fn plans_taking(&self, s: &State, a: &Action) -> Vec<(&Plan, &PlanCmd)> {
        self.plans
            .iter()
            .enumerate()
            .filter_map(|(i, plan)| {
                plan_next(self, s, i, plan)
                    .filter(|c| c.action == *a)
                    .map(|c| (plan, c))
            })
            .collect()
    }

    /// Whether `a` is an admin command that the plans govern.
    pub fn plan_governs(&self, a: &Action) -> bool {
        if self.plans.is_empty() {
            return false;
        }
        match *a {
            Action::Insmod(..) | Action::WriteEnabled(..) | Action::WriteForce(_) => true,
            Action::Rmmod(_) | Action::SetPrePatchRet(..) => true,
            Action::LoadModule(m) | Action::UnloadModule(m) => self.plan_modules & (1 << m) != 0,
            _ => false,
        }
    }

    /// Moves the cursors after the admin typed `a` in `s`: the plans whose
    /// next command it was move on (a retry step that failed stays), the
    /// others are dropped. `ok`: the command did not fail.
    pub fn advance_plans(&self, s: &State, next: &mut State, a: &Action, ok: bool) {
        for (i, plan) in self.plans.iter().enumerate() {
            let pos = match plan_next(self, s, i, plan) {
                Some(c) if c.action == *a => {
                    let at = s.plan_cursor(i);
                    if ok || !c.retry {
                        at + 1
                    } else {
                        at
                    }
                }
                _ => DROPPED,
            };
            next.set_plan_cursor(i, pos);
        }
    }
}

/// Plan `i`'s next command in `s`, if its waits hold.
fn plan_next<'p>(sc: &Scenario, s: &State, i: usize, plan: &'p Plan) -> Option<&'p PlanCmd> {
    let at = s.plan_cursor(i);
    if at == DROPPED {
        return None;
    }
    let cmd = plan.cmds.get(at as usize)?;
    cmd.waits.iter().all(|w| w.holds(sc, s)).then_some(cmd)
}

/// Compiles `plans` of the spec for `sc` (patches and objects resolved).
pub fn compile(
    plans: &std::collections::BTreeMap<String, Vec<crate::spec::PlanStepSpec>>,
    sc: &Scenario,
) -> Result<(Vec<Plan>, u64), crate::scenario::SpecError> {
    use crate::spec::PlanStepSpec as S;
    let err =
        |path: String, msg: String| crate::scenario::SpecError::Semantic { path, message: msg };
    if plans.len() > MAX_PLANS {
        return Err(err(
            "plans".into(),
            format!("{} plans; at most {MAX_PLANS} are supported", plans.len()),
        ));
    }
    let patch = |path: &str, name: &str| -> Result<PatchId, crate::scenario::SpecError> {
        sc.patch_by_name(name)
            .or_else(|| sc.patch_by_module(name))
            .ok_or_else(|| {
                err(
                    format!("{path}.args.patch"),
                    format!("unknown patch `{name}` (a key of `patches` or its module name)"),
                )
            })
    };
    let mut out = Vec::new();
    let mut modules = 0u64;
    for (name, steps) in plans {
        if steps.len() > MAX_PLAN_STEPS {
            return Err(err(
                format!("plans.{name}"),
                format!(
                    "{} steps; at most {MAX_PLAN_STEPS} are supported",
                    steps.len()
                ),
            ));
        }
        let mut cmds = Vec::new();
        let mut waits = Vec::new();
        for (k, step) in steps.iter().enumerate() {
            let path = format!("plans.{name}[{k}]");
            let insmod = |p| Action::Insmod(p, InsmodParams::default());
            // (command, retry, waits before it, waits after it)
            let (action, retry, before, after): (Option<Action>, bool, Vec<Wait>, Vec<Wait>) =
                match step {
                    S::load_livepatch(a) => {
                        let p = patch(&path, &a.patch)?;
                        (
                            Some(insmod(p)),
                            a.retry,
                            vec![],
                            vec![Wait::TransitionDone(p)],
                        )
                    }
                    S::load_livepatch_nowait(a) => {
                        let p = patch(&path, &a.patch)?;
                        (Some(insmod(p)), a.retry, vec![], vec![])
                    }
                    S::disable_livepatch(a) => {
                        let p = patch(&path, &a.patch)?;
                        (
                            Some(Action::WriteEnabled(p, false)),
                            a.retry,
                            vec![],
                            vec![Wait::SysfsGone(p)],
                        )
                    }
                    S::write_enabled(a) => {
                        let p = patch(&path, &a.patch)?;
                        if a.value > 1 {
                            return Err(err(format!("{path}.args.value"), "must be 0 or 1".into()));
                        }
                        (
                            Some(Action::WriteEnabled(p, a.value == 1)),
                            a.retry,
                            vec![],
                            vec![],
                        )
                    }
                    S::force_livepatch(a) => {
                        let p = patch(&path, &a.patch)?;
                        (Some(Action::WriteForce(p)), a.retry, vec![], vec![])
                    }
                    S::load_module(a) | S::unload_module(a) | S::try_unload_module(a) => {
                        let load = matches!(step, S::load_module(_));
                        let wait = matches!(step, S::unload_module(_));
                        if let Some(p) = sc
                            .patch_by_name(&a.module)
                            .or_else(|| sc.patch_by_module(&a.module))
                        {
                            if load {
                                (Some(insmod(p)), a.retry, vec![], vec![])
                            } else {
                                let w = if wait {
                                    vec![Wait::PatchRefcntZero(p)]
                                } else {
                                    vec![]
                                };
                                (Some(Action::Rmmod(p)), a.retry, w, vec![])
                            }
                        } else {
                            let m = sc.object_by_name(&a.module).ok_or_else(|| {
                                err(
                                    format!("{path}.args.module"),
                                    format!(
                                        "unknown module `{}` (a patch, its module name, or an \
                                         object of `objects`)",
                                        a.module
                                    ),
                                )
                            })?;
                            if m == VMLINUX {
                                return Err(err(
                                    format!("{path}.args.module"),
                                    "vmlinux cannot be loaded or unloaded".into(),
                                ));
                            }
                            modules |= 1 << m;
                            if load {
                                (Some(Action::LoadModule(m)), a.retry, vec![], vec![])
                            } else {
                                let w = if wait {
                                    vec![Wait::ModuleIdle(m)]
                                } else {
                                    vec![]
                                };
                                (Some(Action::UnloadModule(m)), a.retry, w, vec![])
                            }
                        }
                    }
                    S::wait_transition(a) => {
                        let p = patch(&path, &a.patch)?;
                        (None, false, vec![Wait::TransitionDone(p)], vec![])
                    }
                    S::wait_livepatch_gone(a) => {
                        let p = patch(&path, &a.patch)?;
                        (None, false, vec![Wait::SysfsGone(p)], vec![])
                    }
                };
            waits.extend(before);
            if let Some(action) = action {
                cmds.push(PlanCmd {
                    step: k,
                    text: step_text(step),
                    waits: std::mem::take(&mut waits),
                    action,
                    retry,
                });
            }
            waits.extend(after);
        }
        // Waits after the last command gate nothing: the plan is over.
        out.push(Plan {
            name: name.clone(),
            cmds,
        });
    }
    Ok((out, modules))
}

/// `load_livepatch v2`: the step as a person reads it.
fn step_text(step: &crate::spec::PlanStepSpec) -> String {
    use crate::spec::PlanStepSpec as S;
    match step {
        S::load_livepatch(a) => format!("load_livepatch {}", a.patch),
        S::load_livepatch_nowait(a) => format!("load_livepatch_nowait {}", a.patch),
        S::disable_livepatch(a) => format!("disable_livepatch {}", a.patch),
        S::write_enabled(a) => format!("write_enabled {} {}", a.patch, a.value),
        S::force_livepatch(a) => format!("force_livepatch {}", a.patch),
        S::load_module(a) => format!("load_module {}", a.module),
        S::unload_module(a) => format!("unload_module {}", a.module),
        S::try_unload_module(a) => format!("try_unload_module {}", a.module),
        S::wait_transition(a) => format!("wait_transition {}", a.patch),
        S::wait_livepatch_gone(a) => format!("wait_livepatch_gone {}", a.patch),
    }
}

#[cfg(test)]
mod tests {
    use crate::{parse_spec, Action, InsmodParams, KlpModel, Scenario};

    /// P1 and P2 patch f; task 1 may call f. Plan `a`: P1 without waiting,
    /// then P2 (an insmod during P1's transition, -EBUSY) and rmmod of P1;
    /// plan `b`: the same P2 insmod with retry.
    fn model() -> KlpModel {
        let spec = parse_spec(
            r#"{
            "spec_version": 1,
            "objects": {"vmlinux": {"funcs": ["f"]}},
            "patches": {"P1": {"objects": {"vmlinux": {"funcs": {"f": {}}}}},
                        "P2": {"objects": {"vmlinux": {"funcs": {"f": {}}}}}},
            "tasks": {"count": 1, "entry": ["f"]},
            "plans": {
              "a": [{"op": "load_livepatch_nowait", "args": {"patch": "P1"}},
                    {"op": "load_livepatch_nowait", "args": {"patch": "P2"}},
                    {"op": "try_unload_module", "args": {"module": "P1"}}],
              "b": [{"op": "load_livepatch_nowait", "args": {"patch": "P1"}},
                    {"op": "load_livepatch", "args": {"patch": "P2", "retry": true}},
                    {"op": "write_enabled", "args": {"patch": "P2", "value": 0}}]
            }
        }"#,
        )
        .unwrap();
        KlpModel::new(Scenario::compile(&spec, "unit").unwrap())
    }

    fn offered(m: &KlpModel, s: &crate::State) -> Vec<Action> {
        let mut v = Vec::new();
        stateright::Model::actions(m, s, &mut v);
        v
    }

    #[test]
    fn a_failed_step_moves_on_unless_it_retries() {
        let m = model();
        let insmod = |p| Action::Insmod(p, InsmodParams::default());
        let boot = m.boot();
        // Only the plans' first command; no free admin command.
        assert!(offered(&m, &boot).contains(&insmod(0)));
        assert!(!offered(&m, &boot).contains(&insmod(1)));
        // P1's insmod; task 1 sleeps in f (old code), so the transition stays open.
        let (s, _) = m.step_command(&boot, &Action::Call { task: 0, func: 0 });
        let (s, _) = m.step_command(&s, &insmod(0));
        assert_eq!(s.klp_transition_patch, Some(0));
        assert_eq!((s.plan_cursor(0), s.plan_cursor(1)), (1, 1));
        // P2's insmod fails with -EBUSY, as the kernel reports it.
        let (s, events) = m.step_with_events(&s, &insmod(1));
        let lines: Vec<String> = events.iter().map(|e| e.oracle(&m.sc)).collect();
        assert_eq!(lines, ["load_error(P2,EBUSY)"]);
        // Plan a moved on (to rmmod P1); plan b (retry) is still at P2's insmod.
        assert_eq!((s.plan_cursor(0), s.plan_cursor(1)), (2, 1));
        let next = offered(&m, &s);
        assert!(next.contains(&Action::Rmmod(0)));
        assert!(next.contains(&insmod(1)));
        // Taking plan a's rmmod drops plan b.
        let (s2, _) = m.step_with_events(&s, &Action::Rmmod(0));
        assert_eq!((s2.plan_cursor(0), s2.plan_cursor(1)), (3, super::DROPPED));
        // Plan b: once P1's transition is over, the retried insmod succeeds,
        // and b waits for P2's transition before its write.
        let (s, _) = m.step_with_events(&s, &Action::Return { task: 0 });
        let (s, _) = m.step_with_events(&s, &Action::TransitionWork { busy: 0 });
        assert_eq!(s.klp_transition_patch, None);
        let (s, _) = m.step_command(&s, &Action::Call { task: 0, func: 0 });
        let (s, _) = m.step_command(&s, &insmod(1));
        assert_eq!(s.plan_cursor(1), 2);
        assert_eq!(s.plan_cursor(0), super::DROPPED);
        assert_eq!(s.klp_transition_patch, Some(1));
        assert!(!offered(&m, &s).contains(&Action::WriteEnabled(1, false)));
        let (s, _) = m.step_with_events(&s, &Action::Return { task: 0 });
        let (s, _) = m.step_with_events(&s, &Action::TransitionWork { busy: 0 });
        assert!(offered(&m, &s).contains(&Action::WriteEnabled(1, false)));
    }
}
