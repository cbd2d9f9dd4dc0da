//! The scenario as a `stateright::Model`: which actions the search may take
//! in a state, and the step function.

use std::sync::Arc;

use stateright::{Model, Property, Representative};

use crate::action::Action;
use crate::core::InsmodParams;
use crate::event::{Event, EventSink, NoEvents};
use crate::kernel::Kernel;
use crate::properties::{Kind, PROPERTIES};
use crate::scenario::{FuncId, Scenario};
use crate::state::{Life, State, TaskLife};

/// A compiled scenario ready to be checked.
#[derive(Clone)]
pub struct KlpModel {
    pub sc: Arc<Scenario>,
}

impl KlpModel {
    pub fn new(sc: Scenario) -> KlpModel {
        KlpModel { sc: Arc::new(sc) }
    }

    /// The state at boot.
    pub fn boot(&self) -> State {
        State::boot(&self.sc, self.sc.tasks.count as usize)
    }

    /// Runs `a` and then the rest of the livepatch command it starts, with
    /// nothing else happening meanwhile and no task running on another CPU
    /// at its first try (`Action::Continue { busy: 0 }` until
    /// `State::klp_op` is clear): a command as it goes on a quiet machine.
    pub fn step_command(&self, s: &State, a: &Action) -> (State, Vec<Event>) {
        let (mut next, mut events) = self.step_with_events(s, a);
        while next.klp_op.is_some() {
            let (n, e) = self.step_with_events(&next, &Action::Continue { busy: 0 });
            next = n;
            events.extend(e);
        }
        (next, events)
    }

    /// Runs one action and returns the next state with the events it printed.
    pub fn step_with_events(&self, s: &State, a: &Action) -> (State, Vec<Event>) {
        let mut events = Vec::new();
        let next = step(&self.sc, s, a, &mut events);
        (next, events)
    }
}

/// The step function: one action, atomically, from `s`.
///
/// In a scenario with plans, an admin command is also a step of the plans
/// whose next command it is ([`crate::plan`]): their cursors move on (a
/// failed `retry` step stays), the other plans are dropped.
pub fn step<E: EventSink>(sc: &Scenario, s: &State, a: &Action, ev: &mut E) -> State {
    let mut next = s.clone();
    let ok = step_kernel(sc, &mut next, a, ev);
    if sc.plan_governs(a) {
        sc.advance_plans(s, &mut next, a, ok);
    }
    next
}

/// The kernel's part of `step`; false when the command failed (the errno
/// it printed).
fn step_kernel<E: EventSink>(sc: &Scenario, next: &mut State, a: &Action, ev: &mut E) -> bool {
    use crate::errno::{EAGAIN, EEXIST};
    let mut k = Kernel::new(sc, next, ev);
    let mut ok = true;
    match *a {
        Action::Insmod(p, params) => {
            if k.s.patch(p).module_loaded() {
                k.emit(|| Event::LoadErrorPatch(p, EEXIST));
                ok = false;
            } else {
                ok = k.klp_enable_patch(p, params).is_ok();
            }
        }
        Action::WriteEnabled(p, v) => {
            if k.s.patch(p).has_sysfs_dir() {
                ok = k.enabled_store(p, v).is_ok();
            } else {
                k.emit(|| Event::WriteError {
                    patch: p,
                    attr: "enabled",
                    errno: 2,
                });
                ok = false;
            }
        }
        Action::WriteForce(p) => {
            if k.s.patch(p).has_sysfs_dir() {
                ok = k.force_store(p).is_ok();
            } else {
                k.emit(|| Event::WriteError {
                    patch: p,
                    attr: "force",
                    errno: 2,
                });
                ok = false;
            }
        }
        Action::Rmmod(p) => {
            if k.s.patch(p).module_loaded() {
                ok = k.rmmod_livepatch(p).is_ok();
            }
        }
        Action::SetPrePatchRet(p, v) => k.s.patch_mut(p).pre_patch_ret = v,
        Action::FreeWork(p) => {
            if k.s.patch(p).life == Life::Freeing {
                k.klp_free_patch_finish(p);
            }
        }
        Action::TransitionWork { busy } => {
            k.klp_try_complete_transition(busy);
        }
        Action::Continue { busy } => k.klp_op_continue(busy),
        Action::IdleLoop { cpu } => k.idle_loop(cpu as usize),
        Action::LoadModule(m) => {
            if k.s.modules_loaded & (1 << m) != 0 {
                k.emit(|| Event::LoadErrorModule(m, EEXIST));
                ok = false;
            } else {
                ok = k.klp_module_coming(m).is_ok();
            }
        }
        Action::UnloadModule(m) => {
            if k.s.modules_loaded & (1 << m) == 0 {
            } else if k.module_code_in_use(m) {
                // A task in the module's code entered it through something
                // the module owns (a file, a syscall hook), which holds a
                // module reference: delete_module -> try_stop_module fails
                // with -EWOULDBLOCK.
                k.emit(|| Event::LoadErrorModule(m, EAGAIN));
                ok = false;
            } else {
                k.klp_module_going(m);
            }
        }
        Action::Call { task, func } => k.task_call(task as usize, func),
        Action::Return { task } => k.task_return(task as usize),
        Action::Fork { task } => k.copy_process(task as usize),
        Action::Exit { task } => k.do_exit(task as usize),
        Action::Dead { task } => k.do_task_dead(task as usize),
    }
    ok
}

/// The functions task `t` may call next (none at its depth bound, none of an
/// unloaded module).
fn callable(sc: &Scenario, s: &State, t: usize) -> u64 {
    let frames = &s.tasks[t].frames;
    if frames.len() >= sc.tasks.max_depth as usize {
        return 0;
    }
    let candidates = match frames.last() {
        // The rest of do_exit after release_task.
        None if s.tasks[t].life == TaskLife::Exiting => sc.tasks.exit_calls,
        None => sc.tasks.entry,
        Some(fr) => sc.tasks.calls[fr.func as usize],
    };
    let mut loaded = 0u64;
    for f in crate::kernel::bits(candidates) {
        if s.modules_loaded & (1 << sc.funcs[f as usize].obj) != 0 {
            loaded |= 1 << f;
        }
    }
    loaded
}

impl Model for KlpModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.boot()]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        let sc = &*self.sc;
        let admin = &sc.admin;
        // A livepatch command in progress holds klp_mutex: the other
        // commands, the module notifiers and klp_transition_work wait for
        // it (they run after it, which the search covers), and its own next
        // step is kernel work. Tasks, free_work and idle CPUs go on.
        let mutex_free = match s.klp_op {
            None => true,
            Some(op) => {
                if matches!(op, crate::state::KlpOp::FirstTry { .. }) {
                    for busy in crate::transition::busy_choices(sc, s) {
                        actions.push(Action::Continue { busy });
                    }
                } else {
                    actions.push(Action::Continue { busy: 0 });
                }
                false
            }
        };
        for (i, rec) in s.patches.iter().enumerate() {
            if !mutex_free {
                if rec.life == Life::Freeing {
                    actions.push(Action::FreeWork(i as u8));
                }
                continue;
            }
            let p = i as u8;
            // With plans, the plans give the admin's livepatch commands
            // (below).
            let free_admin = sc.plans.is_empty();
            if free_admin && !rec.module_loaded() && rec.loads < admin.max_loads[i] {
                actions.push(Action::Insmod(p, InsmodParams::default()));
            }
            if free_admin && rec.has_sysfs_dir() {
                if admin.disable {
                    actions.push(Action::WriteEnabled(p, false));
                }
                if admin.enable {
                    actions.push(Action::WriteEnabled(p, true));
                }
                if admin.force {
                    actions.push(Action::WriteForce(p));
                }
            }
            if free_admin && admin.rmmod && rec.module_loaded() {
                actions.push(Action::Rmmod(p));
            }
            if rec.life == Life::Freeing {
                actions.push(Action::FreeWork(p));
            }
        }
        if mutex_free {
            // An admin's order, not a kernel rule: the next command of each
            // plan whose waits hold (crate::plan).
            sc.plan_actions(s, actions);
        }
        if mutex_free && s.klp_transition_patch.is_some() {
            for busy in crate::transition::busy_choices(sc, s) {
                actions.push(Action::TransitionWork { busy });
            }
        }
        for (cpu, idle) in s.idle_tasks.iter().enumerate() {
            if idle.tif_patch_pending {
                actions.push(Action::IdleLoop { cpu: cpu as u8 });
            }
        }
        for (i, _) in sc.objects.iter().enumerate().skip(1) {
            if !mutex_free {
                break;
            }
            let m = i as u8;
            if sc.plan_modules & (1 << m) != 0 {
                // Loaded and unloaded by the plans only.
                continue;
            }
            let loaded = s.modules_loaded & (1 << m) != 0;
            if !loaded && admin.target_load & (1 << m) != 0 {
                actions.push(Action::LoadModule(m));
            }
            if loaded && admin.target_unload & (1 << m) != 0 {
                actions.push(Action::UnloadModule(m));
            }
        }
        let unborn = s.tasks.iter().any(|t| t.life == TaskLife::Unborn);
        for t in 0..s.tasks.len() {
            let task = &s.tasks[t];
            if !task.runs() {
                continue;
            }
            for f in crate::kernel::bits(callable(sc, s, t)) {
                actions.push(Action::Call {
                    task: t as u8,
                    func: f as FuncId,
                });
            }
            if !task.frames.is_empty() {
                actions.push(Action::Return { task: t as u8 });
            }
            // fork and exit_group are syscalls: from user space.
            let at_user = task.frames.is_empty();
            if task.listed() && at_user && unborn {
                actions.push(Action::Fork { task: t as u8 });
            }
            if task.listed() && at_user && sc.tasks.exit {
                actions.push(Action::Exit { task: t as u8 });
            }
            if task.life == TaskLife::Exiting && at_user {
                actions.push(Action::Dead { task: t as u8 });
            }
        }
    }

    fn next_state(&self, s: &State, a: Action) -> Option<State> {
        Some(step(&self.sc, s, &a, &mut NoEvents))
    }

    fn format_action(&self, a: &Action) -> String {
        crate::describe::command(&self.sc, a)
    }

    /// For stateright's Explorer: what the step printed (kernel log and
    /// silent facts, in the oracle's vocabulary), then the resulting state
    /// in kernel terms.
    fn format_step(&self, last_state: &State, action: Action) -> Option<String> {
        let (next, events) = self.step_with_events(last_state, &action);
        let mut out: String = events.iter().map(|e| e.oracle(&self.sc) + "\n").collect();
        if !out.is_empty() {
            out.push('\n');
        }
        out += &crate::describe::state_summary(&self.sc, &next);
        Some(out)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        PROPERTIES
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let cond = CHECKS[i];
                match p.kind {
                    Kind::Always => Some(Property::always(p.id, cond)),
                    Kind::Sometimes => Some(Property::sometimes(p.id, cond)),
                    Kind::Eventually => None,
                }
            })
            .collect()
    }
}

/// stateright wants plain `fn(&Model, &State) -> bool`: one per property,
/// each forwarding to the predicate at the same index of PROPERTIES.
macro_rules! checks {
    ($($i:literal),*) => {
        [$(|m: &KlpModel, s: &State| (PROPERTIES[$i].check)(&m.sc, s)),*]
    };
}
const CHECKS: [fn(&KlpModel, &State) -> bool; 24] =
    checks!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23);

/// Tasks are interchangeable: the canonical state sorts them.
impl Representative for State {
    fn representative(&self) -> Self {
        self.clone().into_canonical()
    }
}

impl State {
    /// The representative of the state's symmetry class, sorted in place
    /// (the native engine's canonicaliser: its successors are its own, so
    /// no copy is made).
    pub fn into_canonical(mut self) -> State {
        self.tasks.sort();
        // CPUs are interchangeable too (busy_choices tries every CPU).
        self.idle_tasks.sort();
        self
    }
}

const _: () = assert!(CHECKS.len() == PROPERTIES.len());
