//! Running a case's steps on the model, with the selftest helpers' waiting
//! rules (functions.sh): `load_lp` returns once the patching transition is
//! over, `disable_lp` once the patch's sysfs directory is gone, unloading a
//! module waits for its refcount to drop to 0. While a helper waits, the
//! kernel's work items run (klp_transition_work, the patches' free_work);
//! when they can no longer change anything, the wait can never end and the
//! step fails with a message instead of hanging.
//!
//! The lab's extra ops follow its guest helpers (lab/guest/init.sh):
//! `write_enabled` / `force_livepatch` / `try_unload_module` do not wait and
//! log the error the write or rmmod got; `wait_transition` and
//! `wait_livepatch_gone` poll like `load_lp`; `sleep` lets the kernel's work
//! items run; `show_state` prints what the state implies for the sysfs
//! directories and the module refcounts. Between steps time passes for the
//! module workers: a sleeping worker whose blocking parameter was cleared
//! returns, and a kthread loop calls its function again.

use std::collections::{BTreeMap, BTreeSet};

use klp_model::event::{Event, EventSink};
use klp_model::patch::klp_ftrace_handler;
use klp_model::scenario::{FuncId, PatchId, VMLINUX};
use klp_model::state::{Frame, Impl, KlpState, Life, State, TaskLife};
use klp_model::{step, Action, InsmodParams, KlpModel};
use serde_json::{Map, Value};

use super::case::{Case, Step};
use super::library::{Library, NewCodeDef, WorkerDef};

/// The events a case printed and how it ended.
pub struct RunOutcome {
    /// (index of the step that printed it, event)
    pub events: Vec<(usize, String)>,
    /// A step that could not be carried out (or whose silent check failed).
    pub error: Option<(usize, String)>,
    /// The first difference with `expected_events`, if any.
    pub divergence: Option<Divergence>,
    /// The first state along the script that violates a safety property
    /// the scenario expects to hold.
    pub violation: Option<Violation>,
    /// The first violation of each safety property the scenario expects
    /// violated (`expect`): reported, not a failure.
    pub expected_violations: Vec<Violation>,
}

/// A safety property (an `always` of klp_model::properties) that a state
/// along the script violates, as `klpcheck check` would report it.
#[derive(Debug, Clone)]
pub struct Violation {
    pub property: &'static str,
    /// The index of the script step whose model step reached the state.
    pub step: usize,
    /// That model step in kernel terms (klp_model::describe::command_in).
    pub action: String,
    /// Why the state violates the property (klp_model::why).
    pub why: String,
}

/// Where the printed events first differ from the expected ones.
#[derive(Debug)]
pub struct Divergence {
    pub index: usize,
    pub expected: Option<String>,
    pub got: Option<String>,
    pub step: Option<usize>,
}

impl RunOutcome {
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.divergence.is_none() && self.violation.is_none()
    }
}

/// Runs every step of `case` and compares with its expected events.
pub fn run_case(case: &Case, lib: &Library) -> RunOutcome {
    let model = KlpModel::new(case.scenario.clone());
    let mut r = Runner {
        model: &model,
        case,
        lib,
        state: model.boot(),
        events: vec![],
        step: 0,
        pids: None,
        params: BTreeMap::new(),
        running: BTreeSet::new(),
        errors: vec![],
        hold_command: false,
        workloads: vec![],
        violation: None,
        expected_violations: vec![],
    };
    let mut error = None;
    for (i, s) in case.steps.iter().enumerate() {
        r.step = i;
        r.hold_command = s.args.get("returns").and_then(Value::as_bool) == Some(false);
        if let Err(msg) = r.run_step(s) {
            error = Some((i, format!("step {} {}: {msg}", i + 1, s.describe())));
            break;
        }
        // Each helper takes longer than a kthread's period.
        r.tick_workers();
    }
    let divergence = case
        .expected_events
        .as_ref()
        .and_then(|exp| diverge(exp, &r.events));
    RunOutcome {
        events: r.events,
        error,
        divergence,
        violation: r.violation,
        expected_violations: r.expected_violations,
    }
}

fn diverge(expected: &[String], got: &[(usize, String)]) -> Option<Divergence> {
    let n = expected.len().max(got.len());
    (0..n).find_map(|i| {
        let e = expected.get(i);
        let g = got.get(i);
        if e.map(String::as_str) == g.map(|(_, s)| s.as_str()) {
            None
        } else {
            Some(Divergence {
                index: i,
                expected: e.cloned(),
                got: g.map(|(_, s)| s.clone()),
                step: g.map(|(st, _)| *st),
            })
        }
    })
}

/// Keeps the logged events of a model step, and the errors a sysfs write or
/// an rmmod got (silent in the kernel log; the lab's helpers log them).
struct Logged<'a> {
    sc: &'a klp_model::Scenario,
    out: Vec<String>,
    calls: Vec<Impl>,
    errors: Vec<(u8, String)>,
}

impl EventSink for Logged<'_> {
    const ENABLED: bool = true;
    fn push(&mut self, e: Event) {
        match e {
            Event::TaskCall { code, .. } => self.calls.push(code),
            Event::WriteError { errno, .. } | Event::UnloadErrorPatch(_, errno) => {
                self.errors.push((errno, e.oracle(self.sc)))
            }
            _ => {}
        }
        if e.is_logged() {
            self.out.push(e.oracle(self.sc));
        }
    }
}

/// The npids counter of test_klp_syscall: which getpid loops have not yet
/// run the patched function.
struct PidCounter {
    patch: PatchId,
    pending: Vec<bool>,
}

struct Runner<'a> {
    model: &'a KlpModel,
    case: &'a Case,
    lib: &'a Library,
    state: State,
    events: Vec<(usize, String)>,
    step: usize,
    pids: Option<PidCounter>,
    /// Module parameters of the loaded modules, by module name: the insmod
    /// values, then `set_param` writes.
    params: BTreeMap<String, BTreeMap<String, String>>,
    /// Target modules whose worker runs (from init until exit).
    running: BTreeSet<String>,
    /// The write or rmmod errors of the last model step.
    errors: Vec<(u8, String)>,
    /// The current step says `"returns": false`: a command it runs stays
    /// in the kernel (`State::klp_op`) until `kernel_continue` steps finish
    /// it, so that task steps can come in between (reproduced traces).
    hold_command: bool,
    /// The lab's workloads (`start_workload`), in start order: workload i
    /// is the scenario's task i (its `patch_state` is that task's).
    workloads: Vec<String>,
    /// The first safety violation along the script.
    violation: Option<Violation>,
    /// The first violation of each property expected violated.
    expected_violations: Vec<Violation>,
}

type StepResult<T = ()> = Result<T, String>;

fn arg_str<'v>(args: &'v Map<String, Value>, key: &str) -> Result<&'v str, String> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string argument `{key}`"))
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A bool module parameter as the kernel reads it (param_set_bool).
fn truthy(text: &str) -> bool {
    matches!(text, "Y" | "y" | "1" | "true")
}

/// How a livepatch insmod step waits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LoadMode {
    /// `load_lp`: until the patching transition is over.
    Wait,
    /// `load_lp_nowait` / `load_mod`: until the sysfs directory exists.
    NoWait,
    /// `load_failing_mod`: the load must fail with `expected_errno`.
    ExpectFailure,
}

impl Runner<'_> {
    fn sc(&self) -> &klp_model::Scenario {
        &self.model.sc
    }

    fn log(&mut self, e: impl Into<String>) {
        self.events.push((self.step, e.into()));
    }

    /// Checks every safety property in the state `a` led to (from
    /// `before`), as `klpcheck check` checks every state it reaches; keeps
    /// the first violation of each, with the step that caused it.
    fn watch(&mut self, before: &State, a: Option<&Action>) {
        use klp_model::properties::{Kind, PROPERTIES};
        use klp_model::spec::Verdict;
        let sc = &self.model.sc;
        for p in PROPERTIES.iter().filter(|p| p.kind == Kind::Always) {
            let expected = sc.expected(p.id) == Verdict::Violated;
            let seen = if expected {
                self.expected_violations.iter().any(|v| v.property == p.id)
            } else {
                self.violation.is_some()
            };
            if seen || (p.check)(sc, &self.state) {
                continue;
            }
            let v = Violation {
                property: p.id,
                step: self.step,
                action: match a {
                    Some(a) => klp_model::describe::command_in(sc, before, a),
                    None => "a module's init code".to_string(),
                },
                why: klp_model::why::why_violated(sc, &self.state, p.id, a)
                    .unwrap_or_else(|| p.meaning.to_string()),
            };
            if expected {
                self.expected_violations.push(v);
            } else {
                self.violation = Some(v);
            }
        }
    }

    /// Applies one model action, keeping its logged events; returns the
    /// implementations chosen by task calls in it.
    fn apply(&mut self, a: &Action) -> Vec<Impl> {
        let mut sink = Logged {
            sc: &self.model.sc,
            out: vec![],
            calls: vec![],
            errors: vec![],
        };
        let next = step(&self.model.sc, &self.state, a, &mut sink);
        let before = std::mem::replace(&mut self.state, next);
        self.watch(&before, Some(a));
        let Logged {
            out,
            mut calls,
            mut errors,
            ..
        } = sink;
        for e in out {
            self.log(e);
        }
        // A command returns when its kernel work is done: its later steps
        // (the next objects' callbacks, the first try) run now, as on a
        // machine where nothing else runs meanwhile, unless the step holds
        // the command open.
        if !self.hold_command && !matches!(a, Action::Continue { .. }) {
            while self.state.klp_op.is_some() {
                let busy = self.kernel_busy();
                let mut sink = Logged {
                    sc: &self.model.sc,
                    out: vec![],
                    calls: vec![],
                    errors: vec![],
                };
                let cont = Action::Continue { busy };
                let next = step(&self.model.sc, &self.state, &cont, &mut sink);
                let before = std::mem::replace(&mut self.state, next);
                self.watch(&before, Some(&cont));
                for e in sink.out {
                    self.log(e);
                }
                calls.extend(sink.calls);
                errors.extend(sink.errors);
            }
        }
        self.errors = errors;
        calls
    }

    /// Who runs on the other CPUs when the kernel tries to switch tasks, as
    /// on a test machine at rest: the try runs on CPU 0 and every other
    /// CPU runs its idle task, so an idle task not yet switched fails with
    /// -EBUSY ("swapper/1:0 is running") and the transition completes later
    /// from klp_transition_work, after the woken idle CPUs went round
    /// do_idle (the audit's and the lab's 2-CPU runs). The scenario's own
    /// tasks are asleep.
    fn kernel_busy(&self) -> u16 {
        let n = self.state.tasks.len();
        let mut busy = 0u16;
        for cpu in 1..self.state.idle_tasks.len() {
            busy |= 1 << (n + cpu);
        }
        busy
    }

    /// A `running` argument (task numbers and `swapper/N`) as a busy set.
    fn busy_arg(&self, a: &Map<String, Value>) -> StepResult<u16> {
        let names: Vec<String> = match a.get("running") {
            None => return Ok(0),
            Some(Value::Array(v)) => v.iter().map(value_text).collect(),
            Some(_) => return Err("`running` must be an array".to_string()),
        };
        klp_reports::action_json::running_mask(self.sc(), &names)
    }

    /// One round of what happens while a helper waits or sleeps: the module
    /// workers run, klp_transition_work retries, pending free_work runs.
    /// Returns whether anything changed.
    fn work_round(&mut self) -> bool {
        let before = self.state.clone();
        self.tick_workers();
        // The idle CPUs that the last failed try woke go round do_idle.
        for cpu in 0..self.state.idle_tasks.len() {
            if self.state.idle_tasks[cpu].tif_patch_pending {
                self.apply(&Action::IdleLoop { cpu: cpu as u8 });
            }
        }
        if self.state.klp_transition_patch.is_some() && self.state.klp_op.is_none() {
            let busy = self.kernel_busy();
            self.apply(&Action::TransitionWork { busy });
        }
        for p in 0..self.state.patches.len() {
            if self.state.patches[p].life == Life::Freeing {
                self.apply(&Action::FreeWork(p as PatchId));
            }
        }
        self.state != before
    }

    /// Runs the kernel's work items until `cond` holds; fails when they can
    /// change nothing any more.
    fn settle(&mut self, what: &str, cond: impl Fn(&State) -> bool) -> StepResult {
        loop {
            if cond(&self.state) {
                return Ok(());
            }
            if !self.work_round() {
                return Err(format!(
                    "waits for {what}, which can never happen in the model: {}",
                    self.why_stuck()
                ));
            }
        }
    }

    fn why_stuck(&self) -> String {
        let s = &self.state;
        if let Some(tp) = s.klp_transition_patch {
            let stuck: Vec<String> = s
                .tasks
                .iter()
                .enumerate()
                .filter(|(_, t)| t.patch_state != s.klp_target_state)
                .map(|(i, t)| {
                    let funcs: Vec<&str> = t
                        .frames
                        .iter()
                        .map(|f| self.sc().funcs[f.func as usize].name.as_str())
                        .collect();
                    format!("{} sleeps in {}", self.task_name(i), funcs.join(" <- "))
                })
                .collect();
            return format!(
                "the {} transition of {} cannot complete ({})",
                s.klp_target_state.direction(),
                self.sc().patches[tp as usize].name,
                stuck.join("; ")
            );
        }
        if let Some((i, r)) = s.patches.iter().enumerate().find(|(_, r)| r.forced) {
            let _ = r;
            return format!(
                "{} is forced: its module reference is never dropped",
                self.sc().patches[i].name
            );
        }
        "nothing is pending".to_string()
    }

    fn task_name(&self, t: usize) -> String {
        if let Some((m, _)) = self.case.workers.iter().find(|(_, &i)| i == t) {
            format!("the worker of {m}")
        } else {
            format!("task {}", t + 1)
        }
    }

    /// A patch by its alias, or by its module's name.
    fn patch_named(&self, name: &str) -> Option<PatchId> {
        let sc = self.sc();
        sc.patch_by_name(name).or_else(|| sc.patch_by_module(name))
    }

    fn patch_arg(&self, args: &Map<String, Value>, key: &str) -> Result<PatchId, String> {
        let name = arg_str(args, key)?;
        self.patch_named(name)
            .ok_or_else(|| format!("unknown patch `{name}`"))
    }

    fn run_step(&mut self, s: &Step) -> StepResult {
        let a = &s.args;
        match s.op.as_str() {
            "load_livepatch" | "load_livepatch_nowait" | "load_livepatch_expect_failure" => {
                let p = self.patch_arg(a, "patch")?;
                let mode = match s.op.as_str() {
                    "load_livepatch" => LoadMode::Wait,
                    "load_livepatch_nowait" => LoadMode::NoWait,
                    _ => LoadMode::ExpectFailure,
                };
                self.load_patch(p, a, mode)
            }
            "wait_transition_stalled" => {
                let p = self.patch_arg(a, "patch")?;
                if self.state.klp_transition_patch == Some(p) {
                    Ok(())
                } else {
                    Err("the patch is not in transition".to_string())
                }
            }
            "load_module" | "load_module_expect_failure" => {
                let m = arg_str(a, "module")?.to_string();
                if let Some(p) = self.patch_named(&m) {
                    // The lab's load_mod / load_failing_mod of a patch's
                    // module: insmod without waiting for the transition.
                    let mode = if s.op == "load_module" {
                        LoadMode::NoWait
                    } else {
                        LoadMode::ExpectFailure
                    };
                    return self.load_patch(p, a, mode);
                }
                let obj = self
                    .sc()
                    .object_by_name(&m)
                    .ok_or_else(|| format!("unknown module `{m}`"))?;
                self.log(format!(
                    "cmd_load({m}{})",
                    self.params_text(a.get("params"))
                ));
                self.apply(&Action::LoadModule(obj));
                let loaded = self.state.modules_loaded & (1 << obj) != 0;
                if s.op == "load_module_expect_failure" {
                    let want = arg_str(a, "expected_errno")?;
                    if loaded {
                        return Err(format!(
                            "the module loaded, expected it to fail with {want}"
                        ));
                    }
                    return self.check_load_error(want);
                }
                if !loaded {
                    return Err("the module load failed".to_string());
                }
                self.set_insmod_params(&m, a.get("params"));
                self.run_init_program(&m)?;
                self.start_worker(&m)
            }
            "unload_module" => {
                let m = arg_str(a, "module")?.to_string();
                if let Some(p) = self.patch_named(&m) {
                    let m = self.sc().patches[p as usize].name.clone();
                    if !self.state.patch(p).module_loaded() {
                        return Err(format!("module {m} is not loaded"));
                    }
                    self.settle(&format!("the refcount of {m} to drop to 0"), |st| {
                        !st.patch(p).module_ref
                    })?;
                    self.log(format!("cmd_unload({m})"));
                    self.apply(&Action::Rmmod(p));
                    self.forget_params(p);
                    return Ok(());
                }
                self.unload_target(&m)
            }
            "try_unload_module" => {
                let m = arg_str(a, "module")?.to_string();
                let want = a.get("expected_errno").and_then(Value::as_str);
                let Some(p) = self.patch_named(&m) else {
                    self.unload_target(&m)?;
                    return match want {
                        Some(w) => Err(format!("rmmod {m} succeeded, expected {w}")),
                        None => Ok(()),
                    };
                };
                let m = self.sc().patches[p as usize].name.clone();
                self.log(format!("cmd_unload({m})"));
                if self.state.patch(p).module_loaded() {
                    self.apply(&Action::Rmmod(p));
                } else {
                    // delete_module of a module that is not there.
                    self.errors = vec![(2, format!("unload_error({m},ENOENT)"))];
                }
                if !self.state.patch(p).module_loaded() {
                    self.forget_params(p);
                }
                self.expect_error(want, &format!("rmmod {m}"))
            }
            "write_enabled" => {
                let p = self.patch_arg(a, "patch")?;
                let v = a.get("value").ok_or("missing argument `value`")?;
                let on = match value_text(v).as_str() {
                    "1" | "true" | "Y" | "y" => true,
                    "0" | "false" | "N" | "n" => false,
                    other => return Err(format!("`value` {other} is not a bool")),
                };
                let name = self.sc().patches[p as usize].name.clone();
                let cmd = if on { "cmd_enable" } else { "cmd_disable" };
                self.log(format!("{cmd}({name})"));
                self.apply(&Action::WriteEnabled(p, on));
                let want = a.get("expect_errno").and_then(Value::as_str);
                self.expect_error(want, &format!("writing {} to {name}/enabled", on as u8))
            }
            "force_livepatch" => {
                let p = self.patch_arg(a, "patch")?;
                let name = self.sc().patches[p as usize].name.clone();
                self.log(format!("cmd_force({name})"));
                self.apply(&Action::WriteForce(p));
                let want = a.get("expect_errno").and_then(Value::as_str);
                self.expect_error(want, &format!("writing 1 to {name}/force"))
            }
            "set_param" => self.set_param(a),
            "wait_transition" => {
                let p = self.patch_arg(a, "patch")?;
                let v = a.get("value").map(value_text).unwrap_or_else(|| "0".into());
                let want = match v.as_str() {
                    "0" => false,
                    "1" => true,
                    other => return Err(format!("`value` {other} is neither 0 nor 1")),
                };
                let name = self.sc().patches[p as usize].name.clone();
                self.settle(&format!("{name}/transition to read {v}"), |st| {
                    st.patch(p).has_sysfs_dir() && (st.klp_transition_patch == Some(p)) == want
                })
            }
            "wait_livepatch_gone" => {
                let p = self.patch_arg(a, "patch")?;
                let name = self.sc().patches[p as usize].name.clone();
                self.settle(&format!("/sys/kernel/livepatch/{name} to go away"), |st| {
                    !st.patch(p).has_sysfs_dir()
                })
            }
            "sleep" => {
                // Time passes: the transition work retries, free_work runs,
                // the workers run; all of it stops changing after a while.
                for _ in 0..64 {
                    if !self.work_round() {
                        break;
                    }
                }
                Ok(())
            }
            "show_state" => {
                self.show_state();
                Ok(())
            }
            "disable_livepatch" => {
                let p = self.patch_arg(a, "patch")?;
                let name = self.sc().patches[p as usize].name.clone();
                self.log(format!("cmd_disable({name})"));
                if !self.state.patch(p).has_sysfs_dir() {
                    return Err(format!("/sys/kernel/livepatch/{name} does not exist"));
                }
                let before = self.state.clone();
                self.apply(&Action::WriteEnabled(p, false));
                if self.state == before {
                    return Err("writing 0 to enabled failed".to_string());
                }
                self.settle(&format!("/sys/kernel/livepatch/{name} to go away"), |st| {
                    !st.patch(p).has_sysfs_dir()
                })
            }
            "set_pre_patch_ret" => {
                let p = self.patch_arg(a, "patch")?;
                let v = a.get("value").ok_or("missing argument `value`")?;
                let n = v.as_i64().ok_or("`value` must be a number")?;
                let name = self.sc().patches[p as usize].name.clone();
                self.log(format!("cmd_set_param({name},pre_patch_ret,{n})"));
                self.apply(&Action::SetPrePatchRet(p, n.unsigned_abs().min(255) as u8));
                Ok(())
            }
            "observe" => {
                let files = a
                    .get("files")
                    .and_then(Value::as_array)
                    .ok_or("missing array argument `files`")?;
                for f in files {
                    let file = f.as_str().ok_or("`files` must hold strings")?;
                    if let Impl::Patch { patch, .. } = self.proc_impl(file)? {
                        let short = file.trim_start_matches("/proc/").to_string();
                        let name = self.sc().patches[patch as usize].name.clone();
                        self.log(format!("observe({short},{name})"));
                    }
                }
                Ok(())
            }
            "assert_proc" => {
                let file = arg_str(a, "file")?;
                let live = self.proc_impl(file)?;
                let (want, negate) = match (a.get("equals"), a.get("not_equals")) {
                    (Some(v), None) => (value_text(v), false),
                    (None, Some(v)) => (value_text(v), true),
                    _ => return Err("needs exactly one of `equals` and `not_equals`".to_string()),
                };
                let wanted = self.output_impl(&want)?;
                if (live == wanted) == negate {
                    return Err(format!(
                        "{file} shows the output of {}, expected {}{want}",
                        self.impl_owner(live),
                        if negate { "anything but " } else { "" }
                    ));
                }
                if a.get("logged").and_then(Value::as_bool) == Some(true)
                    && a.get("log_on_success").is_some()
                {
                    self.log("script_ok");
                }
                Ok(())
            }
            "assert_livepatch_count" | "wait_livepatch_count" => {
                let n = a
                    .get("expected")
                    .and_then(Value::as_u64)
                    .ok_or("missing number argument `expected`")? as usize;
                let count = |st: &State| st.patches.iter().filter(|r| r.has_sysfs_dir()).count();
                if s.op == "wait_livepatch_count" {
                    return self.settle(
                        &format!("{n} entries in /sys/kernel/livepatch"),
                        move |st| count(st) == n,
                    );
                }
                let got = count(&self.state);
                if got == n {
                    Ok(())
                } else {
                    Err(format!(
                        "/sys/kernel/livepatch has {got} entries, expected {n}"
                    ))
                }
            }
            "check_sysfs" => self.check_sysfs(a),
            "transition_work" => {
                if self.state.klp_transition_patch.is_none() {
                    return Err("no transition is in progress".to_string());
                }
                if self.state.klp_op.is_some() {
                    return Err("a livepatch command holds klp_mutex".to_string());
                }
                let busy = self.busy_arg(a)?;
                self.apply(&Action::TransitionWork { busy });
                Ok(())
            }
            "kernel_continue" => {
                if self.state.klp_op.is_none() {
                    return Err("no livepatch command is in progress".to_string());
                }
                let busy = self.busy_arg(a)?;
                self.apply(&Action::Continue { busy });
                Ok(())
            }
            "idle_loop" => {
                let cpu = a
                    .get("cpu")
                    .and_then(Value::as_u64)
                    .ok_or("missing number argument `cpu`")?;
                if cpu as usize >= self.state.idle_tasks.len() {
                    return Err(format!("no CPU {cpu}"));
                }
                self.apply(&Action::IdleLoop { cpu: cpu as u8 });
                Ok(())
            }
            "free_work" => {
                let p = self.patch_arg(a, "patch")?;
                if self.state.patch(p).life != Life::Freeing {
                    return Err("the patch has no pending free_work".to_string());
                }
                self.apply(&Action::FreeWork(p));
                Ok(())
            }
            "task_call" | "task_return" | "task_fork" | "task_exit" | "task_dead" => {
                self.task_step(s)
            }
            "spawn_getpid_loops" | "kill_getpid_loops" => Ok(()),
            "wait_npids_zero" => self.wait_npids_zero(),
            "log_npids" => {
                let n = self
                    .pids
                    .as_ref()
                    .map_or(0, |c| c.pending.iter().filter(|&&b| b).count());
                self.log(format!("observe(npids_pending,{n})"));
                Ok(())
            }
            "start_workload" => {
                // A user process calling the scenario's functions in a loop
                // (lab/guest/klp_hammer.c): the scenario's next task. The
                // runner lets it sleep in user space, as its tasks do when
                // no task step drives them; `klpcheck validate` lets it run.
                let name = arg_str(a, "name")?.to_string();
                if self.workloads.contains(&name) {
                    return Err(format!("workload `{name}` is already running"));
                }
                // after the module workers and the getpid loops
                let base = self.case.workers.len() + self.case.hammers.len();
                if base + self.workloads.len() >= self.state.tasks.len() {
                    return Err(format!(
                        "workload `{name}` needs a task, but tasks.count is {}",
                        self.state.tasks.len()
                    ));
                }
                self.workloads.push(name.clone());
                self.log(format!("workload_start({name})"));
                Ok(())
            }
            "stop_workload" => {
                let name = arg_str(a, "name")?.to_string();
                if !self.workloads.contains(&name) {
                    return Err(format!("no workload `{name}` was started"));
                }
                self.log(format!("workload_stop({name})"));
                Ok(())
            }
            "read_patch_state" => {
                // /proc/<pid>/patch_state: the task's klp patch_state
                // (-1 outside a transition, KLP_TRANSITION_IDLE).
                let name = arg_str(a, "name")?.to_string();
                let t = self
                    .workloads
                    .iter()
                    .position(|w| *w == name)
                    .ok_or_else(|| format!("no workload `{name}` was started"))?;
                let t = t + self.case.workers.len() + self.case.hammers.len();
                let v = self.state.tasks[t].patch_state.proc_value();
                self.log(format!("patch_state({name},{v})"));
                Ok(())
            }
            "read_forked_patch_state" => {
                // /proc/self/patch_state of a process the lab's shell forks
                // now: the shell switched on its way out of its last
                // syscall, so while a transition is open it is in the
                // target state, and klp_copy_process gives the child that
                // state (and the child, pending or not, switches on its
                // first return to user space): the target, else -1.
                let v = match self.state.klp_transition_patch {
                    Some(_) => self.state.klp_target_state.proc_value(),
                    None => -1,
                };
                self.log(format!("patch_state(forked,{v})"));
                Ok(())
            }
            "show_param" => {
                // A module parameter as the guest reads it: the value the
                // insmod or a set_param gave it. A counter the module's
                // code updates (the lab modules' `frees`, `missing`) is not
                // in the model: the lab cases mark those `varying_events`.
                let m = arg_str(a, "module")?.to_string();
                let param = arg_str(a, "param")?.to_string();
                let (shown, key) = match self.patch_named(&m) {
                    Some(p) => {
                        let d = &self.sc().patches[p as usize];
                        (d.name.clone(), d.module.clone())
                    }
                    None => (m.clone(), m.clone()),
                };
                let v = self
                    .params
                    .get(&key)
                    .and_then(|ps| ps.get(&param))
                    .cloned()
                    .unwrap_or_else(|| "*".to_string());
                self.log(format!("param({shown},{param},{v})"));
                Ok(())
            }
            "set_dynamic_debug" => {
                // Only what the kernel logs changes (klp_try_switch_task's
                // lines, which the runner does not print).
                arg_str(a, "control")?;
                Ok(())
            }
            "set_ftrace_enabled"
            | "enable_kprobes"
            | "trace_function"
            | "check_traced_functions" => Err(format!(
                "`{}` belongs to the ftrace/kprobes subsystems, which the model does not include",
                s.op
            )),
            other => Err(format!("unknown step op `{other}`")),
        }
    }

    /// `task_call{task,func}` / `task_return{task}`: a step of one of the
    /// scenario's tasks (tasks numbered from 1); no kernel command.
    fn task_step(&mut self, s: &Step) -> StepResult {
        let n = s
            .args
            .get("task")
            .and_then(Value::as_u64)
            .ok_or("missing number argument `task`")? as usize;
        if n == 0 || n > self.state.tasks.len() {
            return Err(format!(
                "no task {n} (the scenario has {})",
                self.state.tasks.len()
            ));
        }
        let task = (n - 1) as u8;
        let life = self.state.tasks[n - 1].life;
        let at_user = self.state.tasks[n - 1].frames.is_empty();
        match s.op.as_str() {
            "task_fork" | "task_exit" if life != TaskLife::Listed || !at_user => {
                return Err(format!(
                    "task {n} cannot {} now: it is not in user space on the task list",
                    &s.op[5..]
                ));
            }
            "task_fork" => {
                if !self.state.tasks.iter().any(|t| t.life == TaskLife::Unborn) {
                    return Err("no task slot left for a child (tasks.forks)".to_string());
                }
                self.apply(&Action::Fork { task });
                return Ok(());
            }
            "task_exit" => {
                if !self.sc().tasks.exit {
                    return Err("the scenario does not let tasks exit (tasks.exit)".to_string());
                }
                self.apply(&Action::Exit { task });
                return Ok(());
            }
            "task_dead" => {
                if life != TaskLife::Exiting || !at_user {
                    return Err(format!("task {n} is not exiting with an empty stack"));
                }
                self.apply(&Action::Dead { task });
                return Ok(());
            }
            _ => {}
        }
        if life == TaskLife::Unborn || life == TaskLife::Gone {
            return Err(format!("task {n} does not run (not forked yet, or gone)"));
        }
        if s.op == "task_return" {
            if self.state.tasks[n - 1].frames.is_empty() {
                return Err(format!("task {n} is in user space: nothing to return from"));
            }
            self.apply(&Action::Return { task });
            return Ok(());
        }
        let name = arg_str(&s.args, "func")?;
        let func = self
            .sc()
            .func_by_name(name)
            .ok_or_else(|| format!("unknown function `{name}`"))?;
        self.apply(&Action::Call { task, func });
        Ok(())
    }

    /// Module parameters of insmod that change the model's behaviour.
    fn insmod_params(&self, p: PatchId, params: Option<&Value>) -> Result<InsmodParams, String> {
        let mut out = InsmodParams::default();
        let Some(params) = params else { return Ok(out) };
        let map = params.as_object().ok_or("`params` must be an object")?;
        let module = &self.sc().patches[p as usize].module;
        let accepted = self.lib.get(module).map(|d| d.params.clone());
        for (k, v) in map {
            if let Some(acc) = &accepted {
                if !acc.contains(k) {
                    return Err(format!("module {module} has no parameter `{k}`"));
                }
            }
            match k.as_str() {
                "replace" => {
                    out.replace = Some(v.as_i64().map(|n| n != 0).or(v.as_bool()).unwrap_or(false))
                }
                "pre_patch_ret" => {
                    let n = v.as_i64().ok_or("pre_patch_ret must be a number")?;
                    out.pre_patch_ret = Some(n.unsigned_abs().min(255) as u8);
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// `,k=v` for cmd_load in the step's own order (the pid list is shown
    /// as `<pids>`).
    fn params_text(&self, params: Option<&Value>) -> String {
        let Some(Value::Object(map)) = params else {
            return String::new();
        };
        let order = &self.case.steps[self.step].param_order;
        let mut keys: Vec<&String> = order.iter().filter(|k| map.contains_key(*k)).collect();
        keys.extend(map.keys().filter(|k| !order.contains(k)));
        keys.into_iter()
            .map(|k| {
                if k == "klp_pids" {
                    format!(",{k}=<pids>")
                } else {
                    format!(",{k}={}", value_text(&map[k]))
                }
            })
            .collect()
    }

    fn check_load_error(&self, want: &str) -> StepResult {
        match self.events.last() {
            Some((_, e)) if e.starts_with("load_error(") && e.ends_with(&format!(",{want})")) => {
                Ok(())
            }
            Some((_, e)) if e.starts_with("load_error(") => {
                Err(format!("the load failed with {e}, expected {want}"))
            }
            _ => Err(format!("expected a load error {want}")),
        }
    }

    /// The implementation a new reader of a /proc file runs now.
    fn proc_impl(&self, file: &str) -> Result<Impl, String> {
        let func = self
            .lib
            .proc_func(file)
            .ok_or_else(|| format!("no test module defines {file}"))?;
        let f: FuncId = self.sc().func_by_name(func).ok_or_else(|| {
            format!("{file} is printed by {func}, which no module of this case defines")
        })?;
        let obj = self.sc().funcs[f as usize].obj;
        if self.state.modules_loaded & (1 << obj) == 0 {
            return Err(format!("{file} does not exist: its module is not loaded"));
        }
        Ok(klp_ftrace_handler(&self.state, KlpState::Idle, f))
    }

    /// "P1 output" / "original output".
    fn output_impl(&self, text: &str) -> Result<Impl, String> {
        if text == "original output" {
            return Ok(Impl::Original);
        }
        let name = text
            .strip_suffix(" output")
            .ok_or_else(|| format!("cannot read expected output `{text}`"))?;
        let p = self
            .sc()
            .patch_by_name(name)
            .ok_or_else(|| format!("unknown patch `{name}`"))?;
        Ok(Impl::Patch {
            patch: p,
            load: self.state.patch(p).loads,
        })
    }

    fn impl_owner(&self, code: Impl) -> String {
        match code {
            Impl::Original => "the original code".to_string(),
            Impl::Patch { patch, .. } => self.sc().patches[patch as usize].name.clone(),
        }
    }

    /// test_klp_shadow_vars: init runs its shadow-variable program.
    fn run_init_program(&mut self, module: &str) -> StepResult {
        let Some(def) = self.lib.get(module).filter(|_| !self.case.explicit_tasks) else {
            return Ok(());
        };
        if def.init_program.is_empty() {
            return Ok(());
        }
        let program = def.init_program.clone();
        let sc = self.model.sc.clone();
        let mut interp = super::shadow_program::ShadowProgram::new(&sc);
        let before = self.state.clone();
        let result = interp.run(&mut self.state, &program, "");
        self.watch(&before, None);
        for line in std::mem::take(&mut interp.log) {
            self.log(line);
        }
        result
    }

    /// insmod of a livepatch module, waiting as `mode` says.
    fn load_patch(&mut self, p: PatchId, a: &Map<String, Value>, mode: LoadMode) -> StepResult {
        let params = self.insmod_params(p, a.get("params"))?;
        let name = self.sc().patches[p as usize].name.clone();
        self.log(format!(
            "cmd_load({name}{})",
            self.params_text(a.get("params"))
        ));
        let loads = self.state.patch(p).loads;
        self.apply(&Action::Insmod(p, params));
        // A new instance: klp_enable_patch succeeded (an insmod of a module
        // still loaded fails with EEXIST and leaves the old one).
        let loaded = self.state.patch(p).loads != loads;
        if mode == LoadMode::ExpectFailure {
            let want = arg_str(a, "expected_errno")?;
            if loaded {
                return Err(format!("insmod succeeded, expected it to fail with {want}"));
            }
            return self.check_load_error(want);
        }
        if !loaded {
            return Err("insmod failed".to_string());
        }
        let module = self.sc().patches[p as usize].module.clone();
        self.set_insmod_params(&module, a.get("params"));
        self.pid_counter_setup(p, a.get("params"));
        if mode == LoadMode::Wait {
            self.settle(
                &format!("the patching transition of {name} to finish"),
                |st| st.klp_transition_patch != Some(p),
            )?;
        }
        Ok(())
    }

    /// The module's parameters start with the insmod values.
    fn set_insmod_params(&mut self, module: &str, params: Option<&Value>) {
        let values = match params {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| (k.clone(), value_text(v)))
                .collect(),
            _ => BTreeMap::new(),
        };
        self.params.insert(module.to_string(), values);
    }

    fn forget_params(&mut self, p: PatchId) {
        if !self.state.patch(p).module_loaded() {
            let module = self.sc().patches[p as usize].module.clone();
            self.params.remove(&module);
        }
    }

    /// A bool parameter of a loaded module is set.
    fn param_on(&self, module: &str, param: &str) -> bool {
        self.params
            .get(module)
            .and_then(|m| m.get(param))
            .is_some_and(|v| truthy(v))
    }

    /// rmmod of a target module: its exit stops its worker, then the module
    /// goes (klp_module_going).
    fn unload_target(&mut self, m: &str) -> StepResult {
        let obj = self
            .sc()
            .object_by_name(m)
            .ok_or_else(|| format!("unknown module `{m}`"))?;
        self.log(format!("cmd_unload({m})"));
        if self.state.modules_loaded & (1 << obj) == 0 {
            return Err(format!("module {m} is not loaded"));
        }
        self.stop_worker(m)?;
        self.apply(&Action::UnloadModule(obj));
        if self.state.modules_loaded & (1 << obj) != 0 {
            return Err(format!("rmmod {m} failed: a task still runs its code"));
        }
        self.params.remove(m);
        Ok(())
    }

    /// The lab's write_attr / try_unload: an error is logged as the helper
    /// logs it, and must be the expected one; no error when none is expected.
    fn expect_error(&mut self, want: Option<&str>, what: &str) -> StepResult {
        let got = std::mem::take(&mut self.errors).into_iter().next();
        match (got, want) {
            (None, None) => Ok(()),
            (None, Some(w)) => Err(format!("{what} succeeded, expected {w}")),
            (Some((errno, line)), want) => {
                self.log(line);
                let name = klp_model::errno::name(errno);
                match want {
                    Some(w) if w == name => Ok(()),
                    Some(w) => Err(format!("{what} failed with {name}, expected {w}")),
                    None => Err(format!("{what} failed with {name}")),
                }
            }
        }
    }

    /// `echo V > /sys/module/M/parameters/P` (the lab's set_param).
    fn set_param(&mut self, a: &Map<String, Value>) -> StepResult {
        let target = arg_str(a, "module")?.to_string();
        let param = arg_str(a, "param")?.to_string();
        let value = value_text(a.get("value").ok_or("missing argument `value`")?);
        let patch = self
            .sc()
            .patch_by_name(&target)
            .or_else(|| self.sc().patch_by_module(&target));
        let (shown, module, loaded) = match patch {
            Some(p) => (
                self.sc().patches[p as usize].name.clone(),
                self.sc().patches[p as usize].module.clone(),
                self.state.patch(p).module_loaded(),
            ),
            None => {
                let loaded = self
                    .sc()
                    .object_by_name(&target)
                    .is_some_and(|o| self.state.modules_loaded & (1 << o) != 0);
                (target.clone(), target.clone(), loaded)
            }
        };
        self.log(format!("cmd_set_param({shown},{param},{value})"));
        if !loaded {
            return Err(format!("/sys/module/{module} does not exist"));
        }
        if let Some(def) = self.lib.get(&module) {
            if !def.params.contains(&param) {
                return Err(format!("module {module} has no parameter `{param}`"));
            }
        }
        if let (Some(p), "pre_patch_ret") = (patch, param.as_str()) {
            let n: i64 = value
                .parse()
                .map_err(|_| format!("pre_patch_ret must be a number, not {value}"))?;
            self.apply(&Action::SetPrePatchRet(p, n.unsigned_abs().min(255) as u8));
        }
        self.params.entry(module).or_default().insert(param, value);
        Ok(())
    }

    /// The lab's show_state: `/sys/kernel/livepatch/*` (enabled, transition),
    /// then the refcount of every loaded module, each list in name order as
    /// the shell's glob sorts it. A livepatch module holds one reference from
    /// klp_enable_patch (try_module_get) until klp_free_patch_finish drops it,
    /// and keeps it for good when the patch was forced; the model's target
    /// modules are held by nobody (the lab globs /sys/module/test_klp_*, which
    /// are all the modules the cases load).
    fn show_state(&mut self) {
        for l in show_state_lines(&self.model.sc.clone(), &self.state) {
            self.log(l);
        }
    }

    fn worker_def(&self, module: &str) -> Option<(WorkerDef, usize)> {
        let def = self.lib.get(module)?.worker.clone()?;
        Some((def, *self.case.workers.get(module)?))
    }

    /// The livepatch module's description of its new code for `func`.
    fn new_code(&self, patch: PatchId, func: FuncId) -> Option<&NewCodeDef> {
        let module = &self.sc().patches[patch as usize].module;
        let name = &self.sc().funcs[func as usize].name;
        self.lib.get(module)?.code.get(name)
    }

    /// Whether the frame's code keeps its task sleeping now: the original
    /// function while its module's `block_param` is set, patched code while
    /// its livepatch module's `blocks_on_param` is set.
    fn frame_blocked(&self, module: &str, def: &WorkerDef, frame: Frame) -> bool {
        match frame.code {
            Impl::Original => def
                .block_param
                .as_deref()
                .is_some_and(|bp| self.param_on(module, bp)),
            Impl::Patch { patch, .. } => self.new_code(patch, frame.func).is_some_and(|nc| {
                let pm = &self.sc().patches[patch as usize].module;
                self.param_on(pm, &nc.blocks_on_param)
            }),
        }
    }

    /// The worker calls its function: the ftrace handler picks the code; it
    /// returns at once unless that code sleeps. Returns the code it runs.
    fn worker_call(&mut self, module: &str, def: &WorkerDef, task: usize) -> StepResult<Impl> {
        let f = self
            .sc()
            .func_by_name(&def.func)
            .ok_or_else(|| format!("unknown function {}", def.func))?;
        self.apply(&Action::Call {
            task: task as u8,
            func: f,
        });
        let frame = *self.state.tasks[task]
            .frames
            .last()
            .ok_or("the call left no frame")?;
        if frame.code == Impl::Original {
            if let Some(e) = &def.enter {
                self.log(e.replace("{module}", module));
            }
        }
        if self.frame_blocked(module, def, frame) {
            if let Impl::Patch { patch, .. } = frame.code {
                let name = self.sc().patches[patch as usize].name.clone();
                if let Some(e) = self.new_code(patch, f).and_then(|nc| nc.on_block.clone()) {
                    self.log(e.replace("{patch}", &name));
                }
            }
        } else {
            self.worker_return(module, def, task, frame, false);
        }
        Ok(frame.code)
    }

    /// The worker leaves its function (after sleeping in it if `slept`).
    fn worker_return(
        &mut self,
        module: &str,
        def: &WorkerDef,
        task: usize,
        frame: Frame,
        slept: bool,
    ) {
        if let (true, Impl::Patch { patch, .. }) = (slept, frame.code) {
            let name = self.sc().patches[patch as usize].name.clone();
            if let Some(e) = self
                .new_code(patch, frame.func)
                .and_then(|nc| nc.on_release.clone())
            {
                self.log(e.replace("{patch}", &name));
            }
        }
        self.apply(&Action::Return { task: task as u8 });
        if frame.code == Impl::Original {
            if let Some(e) = &def.exit {
                self.log(e.replace("{module}", module));
            }
        }
    }

    /// Time passes for the workers: one that sleeps returns once nothing
    /// keeps it sleeping; a kthread loop outside its function calls it.
    fn tick_workers(&mut self) {
        for module in self.running.clone() {
            let Some((def, task)) = self.worker_def(&module) else {
                continue;
            };
            match self.state.tasks[task].frames.last().copied() {
                Some(frame) if !self.frame_blocked(&module, &def, frame) => {
                    self.worker_return(&module, &def, task, frame, true);
                }
                Some(_) => {}
                None if def.repeat => {
                    // Cannot fail: the function exists (start_worker called it).
                    let _ = self.worker_call(&module, &def, task);
                }
                None => {}
            }
        }
    }

    /// Module init starts the worker. test_klp_callbacks_busy (a work item,
    /// `repeat: false`) waits until the worker entered the original function
    /// (busymod_work_started); without block_transition the work is flushed
    /// before init returns. test_klp_lab_target (a kthread) makes its first
    /// call right away.
    fn start_worker(&mut self, module: &str) -> StepResult {
        let Some((def, task)) = self.worker_def(module) else {
            return Ok(());
        };
        self.running.insert(module.to_string());
        let code = self.worker_call(module, &def, task)?;
        if !def.repeat && code != Impl::Original {
            // Only the original function completes busymod_work_started,
            // which init waits for: patched code never does.
            if !self.state.tasks[task].frames.is_empty() {
                self.apply(&Action::Return { task: task as u8 });
            }
            self.running.remove(module);
            return Err(format!(
                "the init of {module} never returns: it waits for its worker to enter {}, \
                 but the worker runs {}'s new code for it",
                def.func,
                self.impl_owner(code)
            ));
        }
        Ok(())
    }

    /// The module's exit clears its blocking parameter and waits for its
    /// worker (flush_work / kthread_stop); a worker sleeping in a patch's
    /// code that the exit cannot wake makes the exit wait forever.
    fn stop_worker(&mut self, module: &str) -> StepResult {
        let Some((def, task)) = self.worker_def(module) else {
            return Ok(());
        };
        self.running.remove(module);
        if let Some(bp) = &def.block_param {
            if let Some(m) = self.params.get_mut(module) {
                m.insert(bp.clone(), "N".to_string());
            }
        }
        if let Some(frame) = self.state.tasks[task].frames.last().copied() {
            if self.frame_blocked(module, &def, frame) {
                return Err(format!(
                    "the exit of {module} never returns: it waits for its worker, which sleeps in {}'s code for {}",
                    self.impl_owner(frame.code),
                    def.func
                ));
            }
            self.worker_return(module, &def, task, frame, true);
        }
        Ok(())
    }

    fn pid_counter_setup(&mut self, p: PatchId, params: Option<&Value>) {
        let module = &self.sc().patches[p as usize].module;
        let Some(def) = self.lib.get(module).and_then(|d| d.pid_counter.clone()) else {
            return;
        };
        let listed = params.and_then(|v| v.get(&def.param)).is_some();
        let n = if listed { self.case.hammers.len() } else { 0 };
        self.pids = Some(PidCounter {
            patch: p,
            pending: vec![true; n],
        });
    }

    /// Each getpid loop calls getpid until every listed pid has run the
    /// patched function once.
    fn wait_npids_zero(&mut self) -> StepResult {
        let Some(counter) = &self.pids else {
            return Ok(());
        };
        let patch = counter.patch;
        let module = self.sc().patches[patch as usize].module.clone();
        let func = self
            .lib
            .get(&module)
            .and_then(|d| d.pid_counter.clone())
            .map(|d| d.func)
            .unwrap_or_default();
        let f = self
            .sc()
            .func_by_name(&func)
            .ok_or_else(|| format!("unknown function {func}"))?;
        for _round in 0..3 {
            for (i, &task) in self.case.hammers.clone().iter().enumerate() {
                let code = self.apply(&Action::Call {
                    task: task as u8,
                    func: f,
                });
                self.apply(&Action::Return { task: task as u8 });
                if matches!(code.first(), Some(Impl::Patch { patch: q, .. }) if *q == patch) {
                    if let Some(c) = self.pids.as_mut() {
                        if let Some(slot) = c.pending.get_mut(i) {
                            *slot = false;
                        }
                    }
                }
            }
            if self
                .pids
                .as_ref()
                .is_some_and(|c| c.pending.iter().all(|&b| !b))
            {
                return Ok(());
            }
        }
        Err("some listed pids never run the patched getpid".to_string())
    }

    /// check_sysfs: the attribute exists with the kernel's mode bits and value.
    fn check_sysfs(&self, a: &Map<String, Value>) -> StepResult {
        let p = self.patch_arg(a, "patch")?;
        let path = a.get("path").and_then(Value::as_str).unwrap_or("");
        let rec = self.state.patch(p);
        let name = self.sc().patches[p as usize].module.clone();
        if !rec.has_sysfs_dir() {
            return Err(format!("/sys/kernel/livepatch/{name} does not exist"));
        }
        let (rights, value): (&str, Option<String>) = match path {
            "" => ("drwxr-xr-x", None),
            "enabled" => ("-rw-r--r--", Some((rec.enabled as u8).to_string())),
            "transition" => (
                "-r--r--r--",
                Some(((self.state.klp_transition_patch == Some(p)) as u8).to_string()),
            ),
            "force" => ("--w-------", None),
            "replace" => ("-r--r--r--", Some((rec.replace as u8).to_string())),
            "stack_order" => (
                "-r--r--r--",
                Some(
                    self.state
                        .list_pos(p)
                        .map_or("0".to_string(), |i| (i + 1).to_string()),
                ),
            ),
            other => {
                let (obj_name, attr) = other.split_once('/').unwrap_or((other, ""));
                let obj = self
                    .sc()
                    .object_by_name(obj_name)
                    .filter(|o| {
                        klp_model::kernel::objects_of(self.sc(), &self.state, p).contains(o)
                    })
                    .ok_or_else(|| {
                        format!("/sys/kernel/livepatch/{name}/{obj_name} does not exist")
                    })?;
                match attr {
                    "" => ("drwxr-xr-x", None),
                    "patched" => (
                        "-r--r--r--",
                        Some(((rec.obj_patched >> obj) & 1).to_string()),
                    ),
                    func if func.contains(',') => ("drwxr-xr-x", None),
                    _ => {
                        return Err(format!(
                            "/sys/kernel/livepatch/{name}/{other} is not modelled"
                        ))
                    }
                }
            }
        };
        if let Some(want) = a.get("rights").and_then(Value::as_str) {
            if want != rights {
                return Err(format!("{path}: mode is {rights}, expected {want}"));
            }
        }
        if let Some(want) = a.get("value") {
            let want = value_text(want);
            match &value {
                Some(v) if *v == want => {}
                Some(v) => return Err(format!("{path} reads {v}, expected {want}")),
                None => return Err(format!("{path} has no value to read")),
            }
        }
        Ok(())
    }
}

/// The lab's show_state lines for state `s` (see `Runner::show_state`):
/// `sysfs(P,enabled=e,transition=t)` per sysfs directory, then
/// `module(M,refcnt=n)` per loaded module, each list in name order.
/// `klpcheck validate` compares the lab's dumps with them.
pub fn show_state_lines(sc: &klp_model::Scenario, s: &State) -> Vec<String> {
    let mut dirs: Vec<(&str, String)> = Vec::new();
    let mut mods: Vec<(&str, String)> = Vec::new();
    for (i, rec) in s.patches.iter().enumerate() {
        let def = &sc.patches[i];
        if rec.has_sysfs_dir() {
            let transition = s.klp_transition_patch == Some(i as PatchId);
            dirs.push((
                &def.module,
                format!(
                    "sysfs({},enabled={},transition={})",
                    def.name, rec.enabled as u8, transition as u8
                ),
            ));
        }
        if rec.life == Life::Unloaded {
            continue;
        }
        // The reference klp_enable_patch takes (try_module_get) until
        // klp_free_patch_finish drops it (never when forced).
        let refcnt = rec.module_ref as u8;
        mods.push((&def.module, format!("module({},refcnt={refcnt})", def.name)));
    }
    for (i, o) in sc.objects.iter().enumerate() {
        if i as u8 != VMLINUX && s.modules_loaded & (1 << i) != 0 {
            mods.push((&o.name, format!("module({},refcnt=0)", o.name)));
        }
    }
    dirs.sort();
    mods.sort();
    dirs.into_iter().chain(mods).map(|(_, l)| l).collect()
}
