//! A counterexample as a kernel selftest: `case.json` (steps in the
//! vocabulary of docs/script-vocabulary.md plus the ops below, with the
//! events `klpcheck run` must print) and `reproduce.sh` (the same steps as a
//! script over tools/testing/selftests/livepatch/functions.sh).
//!
//! Each model action maps to one step:
//!
//! | action | step op | `klpcheck run` logs | reproduce.sh |
//! |---|---|---|---|
//! | insmod P (loads) | `load_livepatch_nowait{patch,params}` | `cmd_load(P)` | `load_lp_nowait` |
//! | insmod P (fails) | `load_livepatch_expect_failure{patch,expected_errno}` | `cmd_load(P)` | `load_failing_mod` |
//! | echo 0/1 > enabled | `write_enabled{patch,value}` (no wait) | `cmd_disable(P)` / `cmd_enable(P)` | `echo` |
//! | echo 1 > force | `force_livepatch{patch}` (no wait) | `cmd_force(P)` | `echo` |
//! | rmmod P | `unload_module{module}` | `cmd_unload(P)` | `unload_lp` |
//! | target module load/unload | `load_module` / `unload_module` | `cmd_load(M)` / `cmd_unload(M)` | `load_mod` / `unload_mod` |
//! | klp_transition_work | `transition_work{}` | — | a wait for `transition` to read 0, or a comment |
//! | free_work | `free_work{patch}` | — | a wait for the sysfs directory to go |
//! | task call / return | `task_call{task,func}` / `task_return{task}` | — | a comment: no kernel counterpart |
//!
//! The runner (checker/src/selftest/runner.rs) carries out the task and
//! work-item ops on the model exactly, so `klpcheck run case.json` replays
//! the counterexample event for event; on a real kernel they happen by
//! themselves or need a test module whose thread sleeps in the function.

use klp_model::{Action, Event, KlpModel, Scenario};
use serde_json::{json, Map, Value};

use crate::trace::Walk;

/// One step of the case.
#[derive(Debug, Clone)]
pub struct CaseStep {
    pub op: &'static str,
    pub args: Map<String, Value>,
    /// The `cmd_*` marker `klpcheck run` logs before the step's events.
    pub marker: Option<String>,
    /// The model step's logged events (oracle vocabulary).
    pub events: Vec<String>,
    /// The command in kernel terms.
    pub command: String,
    /// For a work item: whether it completed the transition.
    pub completes_transition: bool,
}

fn errno_of(events: &[Event]) -> Option<String> {
    events.iter().rev().find_map(|e| match e {
        Event::LoadErrorPatch(_, e) | Event::LoadErrorModule(_, e) => {
            Some(klp_model::errno::name(*e))
        }
        _ => None,
    })
}

fn params_of(params: klp_model::InsmodParams) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(e) = params.pre_patch_ret {
        m.insert("pre_patch_ret".into(), json!(-(e as i64)));
    }
    if let Some(r) = params.replace {
        m.insert("replace".into(), json!(r as u8));
    }
    m
}

fn args(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The steps of `walk`.
pub fn case_steps(model: &KlpModel, walk: &Walk) -> Vec<CaseStep> {
    let sc: &Scenario = &model.sc;
    let p = |id: u8| sc.patches[id as usize].name.clone();
    let o = |id: u8| sc.objects[id as usize].name.clone();
    let mut out = Vec::new();
    for (i, a) in walk.actions.iter().enumerate() {
        let (before, after, ev) = (walk.before(i), walk.after(i), &walk.events[i]);
        let command = klp_model::describe::command_in(sc, before, a);
        let (op, args, marker): (&'static str, Map<String, Value>, Option<String>) = match *a {
            Action::Insmod(x, params) => {
                let pm = params_of(params);
                let shown: String = pm.iter().map(|(k, v)| format!(",{k}={v}")).collect();
                let mut a = args(&[("patch", json!(p(x)))]);
                if !pm.is_empty() {
                    a.insert("params".into(), Value::Object(pm));
                }
                let op = if after.patch(x).module_loaded() {
                    "load_livepatch_nowait"
                } else {
                    a.insert(
                        "expected_errno".into(),
                        json!(errno_of(ev).unwrap_or_default()),
                    );
                    "load_livepatch_expect_failure"
                };
                (op, a, Some(format!("cmd_load({}{shown})", p(x))))
            }
            Action::WriteEnabled(x, v) => (
                "write_enabled",
                args(&[("patch", json!(p(x))), ("value", json!(v as u8))]),
                Some(format!(
                    "cmd_{}({})",
                    if v { "enable" } else { "disable" },
                    p(x)
                )),
            ),
            Action::WriteForce(x) => (
                "force_livepatch",
                args(&[("patch", json!(p(x)))]),
                Some(format!("cmd_force({})", p(x))),
            ),
            Action::Rmmod(x) => (
                "unload_module",
                args(&[("module", json!(p(x)))]),
                Some(format!("cmd_unload({})", p(x))),
            ),
            Action::SetPrePatchRet(x, e) => (
                "set_pre_patch_ret",
                args(&[("patch", json!(p(x))), ("value", json!(-(e as i64)))]),
                Some(format!("cmd_set_param({},pre_patch_ret,-{e})", p(x))),
            ),
            Action::FreeWork(x) => ("free_work", args(&[("patch", json!(p(x)))]), None),
            Action::TransitionWork { busy } => {
                let mut a = Map::new();
                if busy != 0 {
                    a.insert(
                        "running".into(),
                        json!(crate::action_json::running_names(sc, busy)),
                    );
                }
                ("transition_work", a, None)
            }
            Action::Continue { busy } => {
                let mut a = Map::new();
                if busy != 0 {
                    a.insert(
                        "running".into(),
                        json!(crate::action_json::running_names(sc, busy)),
                    );
                }
                ("kernel_continue", a, None)
            }
            Action::IdleLoop { cpu } => ("idle_loop", args(&[("cpu", json!(cpu))]), None),
            Action::LoadModule(m) => {
                let mut a = args(&[("module", json!(o(m)))]);
                let op = if after.modules_loaded & (1 << m) != 0 {
                    "load_module"
                } else {
                    a.insert(
                        "expected_errno".into(),
                        json!(errno_of(ev).unwrap_or_default()),
                    );
                    "load_module_expect_failure"
                };
                (op, a, Some(format!("cmd_load({})", o(m))))
            }
            Action::UnloadModule(m) => (
                "unload_module",
                args(&[("module", json!(o(m)))]),
                Some(format!("cmd_unload({})", o(m))),
            ),
            Action::Call { task, func } => (
                "task_call",
                args(&[
                    ("task", json!(task + 1)),
                    ("func", json!(sc.funcs[func as usize].name)),
                    (
                        "note",
                        json!(format!("{command}: a task step, no kernel command")),
                    ),
                ]),
                None,
            ),
            Action::Return { task } => (
                "task_return",
                args(&[
                    ("task", json!(task + 1)),
                    (
                        "note",
                        json!(format!("{command}: a task step, no kernel command")),
                    ),
                ]),
                None,
            ),
            Action::Fork { task } | Action::Exit { task } | Action::Dead { task } => (
                match *a {
                    Action::Fork { .. } => "task_fork",
                    Action::Exit { .. } => "task_exit",
                    _ => "task_dead",
                },
                args(&[
                    ("task", json!(task + 1)),
                    (
                        "note",
                        json!(format!("{command}: a task step, no kernel command")),
                    ),
                ]),
                None,
            ),
        };
        // A command the trace leaves in the kernel (its next steps are
        // `kernel_continue` steps of their own, with task steps between).
        let mut args = args;
        if after.klp_op.is_some() && !matches!(a, Action::Continue { .. }) {
            args.insert("returns".into(), json!(false));
        }
        out.push(CaseStep {
            op,
            args,
            marker,
            events: ev
                .iter()
                .filter(|e| e.is_logged())
                .map(|e| e.oracle(sc))
                .collect(),
            command,
            completes_transition: before.klp_transition_patch.is_some()
                && after.klp_transition_patch.is_none(),
        });
    }
    out
}

/// The events `klpcheck run` prints for `steps`: each step's marker, then its
/// logged events.
pub fn expected_events(steps: &[CaseStep]) -> Vec<String> {
    steps
        .iter()
        .flat_map(|s| s.marker.iter().cloned().chain(s.events.iter().cloned()))
        .collect()
}

/// case.json: the scenario file `spec` (its JSON) with `script` and
/// `expected_events` set to the counterexample, so that `klpcheck run` replays
/// it with the scenario's own patch definitions.
pub fn case_json(model: &KlpModel, walk: &Walk, spec: &Value, property: &str) -> Value {
    let sc = &*model.sc;
    let steps = case_steps(model, walk);
    let mut case = spec.as_object().cloned().unwrap_or_default();
    case.insert(
        "name".into(),
        json!(format!("{}-{property}-counterexample", sc.name)),
    );
    case.insert(
        "description".into(),
        json!(format!(
            "Counterexample found by klpcheck: {} steps from boot to a state that violates {property} in scenario {}. `klpcheck run` on this file replays it.",
            walk.actions.len(),
            sc.name
        )),
    );
    case.insert("profile".into(), json!(sc.profile.name()));
    case.insert("variant".into(), json!(sc.variant.name()));
    case.insert(
        "script".into(),
        Value::Array(
            steps
                .iter()
                .map(|s| json!({"op": s.op, "args": s.args}))
                .collect(),
        ),
    );
    case.insert("expected_events".into(), json!(expected_events(&steps)));
    Value::Object(case)
}
