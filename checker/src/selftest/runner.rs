//! Running a case's steps on the model, with the selftest helpers' waiting
//! rules (functions.sh): `load_lp` returns once the patching transition is
//! over, `disable_lp` once the patch's sysfs directory is gone, unloading a
//! module waits for its refcount to drop to 0. While a helper waits, the
//! kernel's work items run (klp_transition_work, the patches' free_work);
//! when they can no longer change anything, the wait can never end and the
//! step fails with a message instead of hanging.

use klp_model::event::{Event, EventSink};
use klp_model::patch::klp_ftrace_handler;
use klp_model::scenario::{FuncId, PatchId};
use klp_model::state::{Impl, KlpState, Life, State};
use klp_model::{step, Action, InsmodParams, KlpModel};
use serde_json::{Map, Value};

use super::case::{Case, Step};
use super::library::Library;

/// The events a case printed and how it ended.
pub struct RunOutcome {
    /// (index of the step that printed it, event)
    pub events: Vec<(usize, String)>,
    /// A step that could not be carried out (or whose silent check failed).
    pub error: Option<(usize, String)>,
    /// The first difference with `expected_events`, if any.
    pub divergence: Option<Divergence>,
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
        self.error.is_none() && self.divergence.is_none()
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
    };
    let mut error = None;
    for (i, s) in case.steps.iter().enumerate() {
        r.step = i;
        if let Err(msg) = r.run_step(s) {
            error = Some((i, format!("step {} {}: {msg}", i + 1, s.describe())));
            break;
        }
    }
    let divergence = case
        .expected_events
        .as_ref()
        .and_then(|exp| diverge(exp, &r.events));
    RunOutcome {
        events: r.events,
        error,
        divergence,
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

/// Keeps the logged events of a model step.
struct Logged<'a> {
    sc: &'a klp_model::Scenario,
    out: Vec<String>,
    calls: Vec<Impl>,
}

impl EventSink for Logged<'_> {
    const ENABLED: bool = true;
    fn push(&mut self, e: Event) {
        if let Event::TaskCall { code, .. } = e {
            self.calls.push(code);
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
}

type StepResult = Result<(), String>;

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

impl Runner<'_> {
    fn sc(&self) -> &klp_model::Scenario {
        &self.model.sc
    }

    fn log(&mut self, e: impl Into<String>) {
        self.events.push((self.step, e.into()));
    }

    /// Applies one model action, keeping its logged events; returns the
    /// implementations chosen by task calls in it.
    fn apply(&mut self, a: &Action) -> Vec<Impl> {
        let mut sink = Logged {
            sc: &self.model.sc,
            out: vec![],
            calls: vec![],
        };
        self.state = step(&self.model.sc, &self.state, a, &mut sink);
        let Logged { out, calls, .. } = sink;
        for e in out {
            self.log(e);
        }
        calls
    }

    /// Runs the kernel's work items until `cond` holds; fails when they can
    /// change nothing any more.
    fn settle(&mut self, what: &str, cond: impl Fn(&State) -> bool) -> StepResult {
        loop {
            if cond(&self.state) {
                return Ok(());
            }
            let before = self.state.clone();
            if self.state.klp_transition_patch.is_some() {
                self.apply(&Action::TransitionWork);
            }
            for p in 0..self.state.patches.len() {
                if self.state.patches[p].life == Life::Freeing {
                    self.apply(&Action::FreeWork(p as PatchId));
                }
            }
            if self.state == before {
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

    fn patch_arg(&self, args: &Map<String, Value>, key: &str) -> Result<PatchId, String> {
        let name = arg_str(args, key)?;
        self.sc()
            .patch_by_name(name)
            .ok_or_else(|| format!("unknown patch `{name}`"))
    }

    fn run_step(&mut self, s: &Step) -> StepResult {
        let a = &s.args;
        match s.op.as_str() {
            "load_livepatch" | "load_livepatch_nowait" | "load_livepatch_expect_failure" => {
                let p = self.patch_arg(a, "patch")?;
                let params = self.insmod_params(p, a.get("params"))?;
                let name = self.sc().patches[p as usize].name.clone();
                self.log(format!(
                    "cmd_load({name}{})",
                    self.params_text(a.get("params"))
                ));
                self.apply(&Action::Insmod(p, params));
                let loaded = self.state.patch(p).module_loaded();
                if s.op == "load_livepatch_expect_failure" {
                    let want = arg_str(a, "expected_errno")?;
                    if loaded {
                        return Err(format!("insmod succeeded, expected it to fail with {want}"));
                    }
                    return self.check_load_error(want);
                }
                if !loaded {
                    return Err("insmod failed".to_string());
                }
                self.pid_counter_setup(p, a.get("params"));
                if s.op == "load_livepatch" {
                    self.settle(
                        &format!("the patching transition of {name} to finish"),
                        |st| st.klp_transition_patch != Some(p),
                    )?;
                }
                Ok(())
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
                self.run_init_program(&m)?;
                self.start_worker(&m, a.get("params"))
            }
            "unload_module" => {
                let m = arg_str(a, "module")?.to_string();
                if let Some(p) = self.sc().patch_by_name(&m) {
                    if !self.state.patch(p).module_loaded() {
                        return Err(format!("module {m} is not loaded"));
                    }
                    self.settle(&format!("the refcount of {m} to drop to 0"), |st| {
                        st.patch(p).life == Life::Freed && !st.patch(p).forced
                    })?;
                    self.log(format!("cmd_unload({m})"));
                    self.apply(&Action::Rmmod(p));
                    return Ok(());
                }
                let obj = self
                    .sc()
                    .object_by_name(&m)
                    .ok_or_else(|| format!("unknown module `{m}`"))?;
                self.log(format!("cmd_unload({m})"));
                self.stop_worker(&m);
                self.apply(&Action::UnloadModule(obj));
                if self.state.modules_loaded & (1 << obj) != 0 {
                    return Err(format!("rmmod {m} failed: a task still runs its code"));
                }
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
            "write_enabled" => {
                let p = self.patch_arg(a, "patch")?;
                let v = a
                    .get("value")
                    .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
                    .ok_or("missing argument `value` (0 or 1)")?;
                let name = self.sc().patches[p as usize].name.clone();
                let verb = if v != 0 { "enable" } else { "disable" };
                self.log(format!("cmd_{verb}({name})"));
                self.apply(&Action::WriteEnabled(p, v != 0));
                Ok(())
            }
            "force_livepatch" => {
                let p = self.patch_arg(a, "patch")?;
                let name = self.sc().patches[p as usize].name.clone();
                self.log(format!("cmd_force({name})"));
                self.apply(&Action::WriteForce(p));
                Ok(())
            }
            "transition_work" => {
                if self.state.klp_transition_patch.is_none() {
                    return Err("no transition is in progress".to_string());
                }
                self.apply(&Action::TransitionWork);
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
            "task_call" | "task_return" => self.task_step(s),
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

    /// `,k=v` for cmd_load (the pid list is shown as `<pids>`).
    fn params_text(&self, params: Option<&Value>) -> String {
        let Some(Value::Object(map)) = params else {
            return String::new();
        };
        map.iter()
            .map(|(k, v)| {
                if k == "klp_pids" {
                    format!(",{k}=<pids>")
                } else {
                    format!(",{k}={}", value_text(v))
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
        let result = interp.run(&mut self.state, &program, "");
        for line in std::mem::take(&mut interp.log) {
            self.log(line);
        }
        result
    }

    /// test_klp_callbacks_busy: init schedules the work and waits until the
    /// worker entered busymod_work_func; without block_transition the work is
    /// flushed before init returns.
    fn start_worker(&mut self, module: &str, params: Option<&Value>) -> StepResult {
        let (Some(def), Some(&task)) = (
            self.lib.get(module).and_then(|d| d.worker.clone()),
            self.case.workers.get(module),
        ) else {
            return Ok(());
        };
        let f = self
            .sc()
            .func_by_name(&def.func)
            .ok_or_else(|| format!("unknown function {}", def.func))?;
        let block = params
            .and_then(|p| p.get(&def.block_param))
            .map(|v| matches!(value_text(v).as_str(), "Y" | "y" | "1" | "true"))
            .unwrap_or(false);
        let code = self.apply(&Action::Call {
            task: task as u8,
            func: f,
        });
        let original = code.first() == Some(&Impl::Original);
        if !original {
            // Only the original function completes busymod_work_started,
            // which init waits for: patched code never does.
            self.apply(&Action::Return { task: task as u8 });
            return Err(format!(
                "the init of {module} never returns: it waits for its worker to enter {}, \
                 but the worker runs {}'s new code for it",
                def.func,
                self.impl_owner(code.first().copied().unwrap_or(Impl::Original))
            ));
        }
        self.log(def.enter.replace("{module}", module));
        if !block {
            self.apply(&Action::Return { task: task as u8 });
            self.log(def.exit.replace("{module}", module));
        }
        Ok(())
    }

    /// The module's exit clears block_transition and flushes the work.
    fn stop_worker(&mut self, module: &str) {
        let (Some(def), Some(&task)) = (
            self.lib.get(module).and_then(|d| d.worker.clone()),
            self.case.workers.get(module),
        ) else {
            return;
        };
        if let Some(frame) = self.state.tasks[task].frames.last().copied() {
            self.apply(&Action::Return { task: task as u8 });
            if frame.code == Impl::Original {
                self.log(def.exit.replace("{module}", module));
            }
        }
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
