//! What a step makes the kernel (and the kernel's test modules) print, plus the
//! silent facts a trace wants to show. `Event::oracle` renders the abstract
//! vocabulary of the selftests oracle (docs/script-vocabulary.md, "Events").

use crate::scenario::{CallbackKind, FuncId, ObjId, PatchId, Scenario};
use crate::state::{Impl, KlpState};

/// The module state a test callback prints for a module object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModState {
    Live,
    Coming,
    Going,
}

impl ModState {
    pub fn name(self) -> &'static str {
        match self {
            ModState::Live => "LIVE",
            ModState::Coming => "COMING",
            ModState::Going => "GOING",
        }
    }
}

/// How a task reached its new `patch_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchHow {
    /// klp_try_switch_task: the stack check passed.
    StackCheck,
    /// klp_update_patch_state on the way back to user space.
    ExitToUser,
    /// klp_force_transition.
    Forced,
    /// sched/idle.c:do_idle -> klp_update_patch_state (idle tasks).
    IdleLoop,
}

impl SwitchHow {
    pub fn name(self) -> &'static str {
        match self {
            SwitchHow::StackCheck => "stack_check",
            SwitchHow::ExitToUser => "exit_to_user",
            SwitchHow::Forced => "forced",
            SwitchHow::IdleLoop => "idle_loop",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    // --- kernel log lines (the oracle vocabulary) ---
    Enabling(PatchId),
    TransitionInit(PatchId, KlpState),
    TransitionStart(PatchId, KlpState),
    TransitionCompleting(PatchId, KlpState),
    TransitionComplete(PatchId, KlpState),
    /// `from` is the target before the reversal.
    TransitionReverse(PatchId, KlpState),
    TransitionCancel(PatchId),
    Callback {
        patch: PatchId,
        obj: ObjId,
        kind: CallbackKind,
        mod_state: Option<ModState>,
    },
    PrePatchFailed(PatchId, ObjId),
    /// klp_patch_object failed (an ftrace registration error): "failed to
    /// patch object" / "failed to apply patch ... to module". Not in the
    /// selftests' vocabulary (no selftest makes ftrace fail), so silent.
    PatchObjectFailed(PatchId, ObjId, u8),
    EnableFailed(PatchId),
    ModuleApply(PatchId, ObjId),
    ModuleRevert(PatchId, ObjId),
    ModuleRefused(PatchId, ObjId),
    Incompatible(PatchId),
    ModInit(ObjId),
    ModExit(ObjId),
    /// A scenario-defined log line, already rendered (`state_fix(P1,1)`).
    Custom(String),
    /// klp_force_transition: "forcing remaining tasks to the patched state".
    Forcing(PatchId),
    /// The insmod command failed with this errno (a livepatch or target module).
    LoadErrorPatch(PatchId, u8),
    LoadErrorModule(ObjId, u8),
    /// `klp_shadow_alloc` found the variable: WARN "Duplicate shadow variable".
    ShadowDuplicate(u8),
    // --- silent: no kernel log line ---
    /// A sysfs write failed with this errno.
    WriteError {
        patch: PatchId,
        attr: &'static str,
        errno: u8,
    },
    /// rmmod of the livepatch module failed with this errno (in use: EAGAIN).
    UnloadErrorPatch(PatchId, u8),
    /// The livepatch module was unloaded.
    ModuleGone(PatchId),
    /// The target module was unloaded.
    TargetGone(ObjId),
    /// klp_free_patch_finish ran: the sysfs directory is gone.
    PatchFreed {
        patch: PatchId,
        module_put: bool,
    },
    /// klp_try_complete_transition found tasks still to switch.
    TransitionPending {
        patch: PatchId,
        remaining: usize,
    },
    TaskCall {
        task: usize,
        func: FuncId,
        code: Impl,
    },
    TaskReturn {
        task: usize,
        func: FuncId,
    },
    TaskSwitched {
        task: usize,
        to: KlpState,
        how: SwitchHow,
    },
    /// A kernel WARNING (`WARN_ON_ONCE`) at this function: TAINT_WARN.
    KernelWarning(&'static str),
    /// An idle task ("swapper/N") reached the target state.
    IdleSwitched {
        cpu: usize,
        to: KlpState,
        how: SwitchHow,
    },
    /// klp_try_switch_task: "%s:%d is running" (a pr_debug line; the
    /// selftests turn it off): the task runs on another CPU (-EBUSY).
    TaskRunning(usize),
    /// The same for the idle task of a CPU ("swapper/N:0 is running").
    IdleRunning(usize),
    ShadowCreated(u8),
    ShadowFreed(u8),
    SysmodSet(u8),
    SysmodCleared(u8),
    /// fork.c:copy_process -> klp_copy_process: `child` took `parent`'s
    /// patch_state and TIF_PATCH_PENDING.
    TaskForked {
        parent: usize,
        child: usize,
    },
    /// do_exit -> release_task: the task left the task list.
    TaskExited(usize),
    /// do_task_dead: the exiting task is gone.
    TaskDead(usize),
}

impl Event {
    /// Whether the event is a line of the kernel log as the selftests filter it.
    pub fn is_logged(&self) -> bool {
        !matches!(
            self,
            Event::WriteError { .. }
                | Event::UnloadErrorPatch(..)
                | Event::ModuleGone(_)
                | Event::TargetGone(_)
                | Event::PatchFreed { .. }
                | Event::TransitionPending { .. }
                | Event::TaskCall { .. }
                | Event::TaskReturn { .. }
                | Event::TaskSwitched { .. }
                | Event::IdleSwitched { .. }
                | Event::KernelWarning(_)
                | Event::PatchObjectFailed(..)
                | Event::TaskRunning(_)
                | Event::IdleRunning(_)
                | Event::ShadowCreated(_)
                | Event::ShadowFreed(_)
                | Event::SysmodSet(_)
                | Event::SysmodCleared(_)
                | Event::TaskForked { .. }
                | Event::TaskExited(_)
                | Event::TaskDead(_)
        )
    }

    /// The oracle's abstract form (`transition_start(P1,patching)`); silent
    /// events get a form in the same style for traces.
    pub fn oracle(&self, sc: &Scenario) -> String {
        let p = |id: &PatchId| sc.patches[*id as usize].name.as_str();
        let o = |id: &ObjId| sc.objects[*id as usize].name.as_str();
        match self {
            Event::Enabling(x) => format!("enabling({})", p(x)),
            Event::TransitionInit(x, d) => format!("transition_init({},{})", p(x), d.direction()),
            Event::TransitionStart(x, d) => format!("transition_start({},{})", p(x), d.direction()),
            Event::TransitionCompleting(x, d) => {
                format!("transition_completing({},{})", p(x), d.direction())
            }
            Event::TransitionComplete(x, d) => {
                format!("transition_complete({},{})", p(x), d.direction())
            }
            Event::TransitionReverse(x, from) => {
                format!(
                    "transition_reverse({},{},{})",
                    p(x),
                    from.direction(),
                    from.flip().direction()
                )
            }
            Event::TransitionCancel(x) => format!("transition_cancel({})", p(x)),
            Event::Callback {
                patch,
                obj,
                kind,
                mod_state,
            } => match mod_state {
                Some(ms) => format!("{}({},{},{})", kind.name(), p(patch), o(obj), ms.name()),
                None => format!("{}({},{})", kind.name(), p(patch), o(obj)),
            },
            Event::PrePatchFailed(x, ob) => format!("pre_patch_failed({},{})", p(x), o(ob)),
            Event::EnableFailed(x) => format!("enable_failed({})", p(x)),
            Event::ModuleApply(x, m) => format!("module_apply({},{})", p(x), o(m)),
            Event::ModuleRevert(x, m) => format!("module_revert({},{})", p(x), o(m)),
            Event::ModuleRefused(x, m) => format!("module_refused({},{})", p(x), o(m)),
            Event::Incompatible(x) => format!("incompatible({})", p(x)),
            Event::ModInit(m) => format!("mod_init({})", o(m)),
            Event::ModExit(m) => format!("mod_exit({})", o(m)),
            Event::Custom(s) => s.clone(),
            Event::Forcing(x) => format!("forcing({})", p(x)),
            Event::LoadErrorPatch(x, e) => {
                format!("load_error({},{})", p(x), crate::errno::name(*e))
            }
            Event::LoadErrorModule(m, e) => {
                format!("load_error({},{})", o(m), crate::errno::name(*e))
            }
            Event::ShadowDuplicate(v) => {
                format!("shadow_duplicate({})", sc.shadow_vars[*v as usize].name)
            }
            Event::WriteError { patch, attr, errno } => {
                format!(
                    "write_error({},{},{})",
                    p(patch),
                    attr,
                    crate::errno::name(*errno)
                )
            }
            Event::UnloadErrorPatch(x, e) => {
                format!("unload_error({},{})", p(x), crate::errno::name(*e))
            }
            Event::ModuleGone(x) => format!("module_gone({})", p(x)),
            Event::TargetGone(m) => format!("module_gone({})", o(m)),
            Event::PatchFreed { patch, module_put } => {
                format!(
                    "patch_freed({}{})",
                    p(patch),
                    if *module_put { "" } else { ",forced" }
                )
            }
            Event::TransitionPending { patch, remaining } => {
                format!("transition_pending({},{remaining})", p(patch))
            }
            Event::TaskCall { task, func, code } => {
                format!(
                    "task_call({},{},{})",
                    task + 1,
                    sc.funcs[*func as usize].name,
                    impl_name(sc, *code)
                )
            }
            Event::TaskReturn { task, func } => format!(
                "task_return({},{})",
                task + 1,
                sc.funcs[*func as usize].name
            ),
            Event::TaskSwitched { task, to, how } => format!(
                "task_switched({},{},{})",
                task + 1,
                to.direction(),
                how.name()
            ),
            Event::IdleSwitched { cpu, to, how } => format!(
                "idle_switched(swapper/{cpu},{},{})",
                to.direction(),
                how.name()
            ),
            Event::TaskRunning(task) => format!("task_running({})", task + 1),
            Event::KernelWarning(at) => format!("kernel_warning({at})"),
            Event::PatchObjectFailed(patch, obj, errno) => format!(
                "patch_object_failed({},{},{})",
                p(patch),
                o(obj),
                crate::errno::name(*errno)
            ),
            Event::IdleRunning(cpu) => format!("task_running(swapper/{cpu})"),
            Event::ShadowCreated(v) => {
                format!("shadow_created({})", sc.shadow_vars[*v as usize].name)
            }
            Event::ShadowFreed(v) => format!("shadow_freed({})", sc.shadow_vars[*v as usize].name),
            Event::SysmodSet(m) => format!("sysmod_set({})", sc.sysmods[*m as usize]),
            Event::SysmodCleared(m) => format!("sysmod_cleared({})", sc.sysmods[*m as usize]),
            Event::TaskForked { parent, child } => {
                format!("task_forked({},{})", parent + 1, child + 1)
            }
            Event::TaskExited(task) => format!("task_exited({})", task + 1),
            Event::TaskDead(task) => format!("task_dead({})", task + 1),
        }
    }
}

/// `original` or `P1` (the patch whose new_func runs), with the instance
/// number when it is not the first.
pub fn impl_name(sc: &Scenario, code: Impl) -> String {
    match code {
        Impl::Original => "original".to_string(),
        Impl::Patch { patch, load } if load <= 1 => sc.patches[patch as usize].name.clone(),
        Impl::Patch { patch, load } => format!("{}#{load}", sc.patches[patch as usize].name),
    }
}

/// Where a step's events go. The checker's hot path uses [`NoEvents`], which
/// compiles the logging away.
pub trait EventSink {
    const ENABLED: bool;
    fn push(&mut self, event: Event);
}

impl EventSink for Vec<Event> {
    const ENABLED: bool = true;
    fn push(&mut self, event: Event) {
        Vec::push(self, event)
    }
}

/// Discards events.
pub struct NoEvents;

impl EventSink for NoEvents {
    const ENABLED: bool = false;
    #[inline]
    fn push(&mut self, _event: Event) {}
}
