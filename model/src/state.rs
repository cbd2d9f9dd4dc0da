//! The checked state: only what the kernel holds, plus a few ghost fields that
//! properties need (marked "ghost"). Events are not stored here.

use smallvec::SmallVec;

use crate::inline_vec::InlineVec;
use crate::scenario::{FuncId, PatchId, Scenario, MAX_DEPTH, MAX_PATCHES};

/// `klp_patches` (patch ids in enable order): at most one entry per patch.
pub type PatchList = InlineVec<PatchId, MAX_PATCHES>;
/// One func_stack (bottom first): at most one entry per patch.
pub type FuncStack = InlineVec<PatchId, MAX_PATCHES>;
/// A task's kernel call stack (bottom first): `tasks.max_depth` frames at
/// most (model.rs stops a call there).
pub type Frames = InlineVec<Frame, { MAX_DEPTH as usize }>;

/// `task->patch_state` and `klp_target_state` (`KLP_TRANSITION_*`, 6.10 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KlpState {
    /// `KLP_TRANSITION_IDLE` (-1): no transition.
    Idle,
    /// `KLP_TRANSITION_UNPATCHED` (0).
    Unpatched,
    /// `KLP_TRANSITION_PATCHED` (1).
    Patched,
}

impl KlpState {
    /// `!klp_target_state` as transition.c flips it.
    pub fn flip(self) -> KlpState {
        match self {
            KlpState::Unpatched => KlpState::Patched,
            KlpState::Patched => KlpState::Unpatched,
            KlpState::Idle => KlpState::Idle,
        }
    }

    /// The value `/proc/<pid>/patch_state` shows.
    pub fn proc_value(self) -> i8 {
        match self {
            KlpState::Idle => -1,
            KlpState::Unpatched => 0,
            KlpState::Patched => 1,
        }
    }

    /// "patching" / "unpatching", as the log lines say.
    pub fn direction(self) -> &'static str {
        match self {
            KlpState::Unpatched => "unpatching",
            _ => "patching",
        }
    }
}

/// Which implementation a frame runs: klp_ftrace_handler's choice at call time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Impl {
    /// The original function (no handler, or a nop, or no entry below).
    Original,
    /// `new_func` of patch `patch` as loaded by its `load`-th insmod.
    Patch { patch: PatchId, load: u8 },
}

/// One kernel stack frame of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frame {
    pub func: FuncId,
    pub code: Impl,
}

/// For the unused slots of [`Frames`] only.
impl Default for Frame {
    fn default() -> Self {
        Frame {
            func: 0,
            code: Impl::Original,
        }
    }
}

/// A task's livepatch fields and its kernel call stack (bottom first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Task {
    /// Where the task is in its life (fork and exit).
    pub life: TaskLife,
    pub patch_state: KlpState,
    /// `TIF_PATCH_PENDING`.
    pub tif_patch_pending: bool,
    pub frames: Frames,
}

/// Where a task is in its life, as livepatch sees it: on the task list
/// (`for_each_process_thread` finds it), or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskLife {
    /// On the task list: klp_init_transition, klp_start_transition,
    /// klp_try_complete_transition, klp_reverse_transition,
    /// klp_force_transition and klp_complete_transition walk it.
    Listed,
    /// Exiting: release_task (from exit_notify in do_exit) took it off the
    /// task list, but it still runs the rest of do_exit, which may call
    /// patched functions (`tasks.exit_calls`) with its last patch_state.
    /// No livepatch loop sees it any more.
    Exiting,
    /// Gone: do_task_dead scheduled it away for the last time.
    Gone,
    /// A slot for a child not forked yet (`tasks.forks`).
    Unborn,
}

impl Task {
    pub fn new() -> Task {
        Task {
            life: TaskLife::Listed,
            patch_state: KlpState::Idle,
            tif_patch_pending: false,
            frames: Frames::new(),
        }
    }

    /// A slot for a child that `fork` may fill.
    pub fn unborn() -> Task {
        Task {
            life: TaskLife::Unborn,
            ..Task::new()
        }
    }

    /// On the task list (`for_each_process_thread` sees it).
    pub fn listed(&self) -> bool {
        self.life == TaskLife::Listed
    }

    /// Runs code: listed, or exiting off the list.
    pub fn runs(&self) -> bool {
        matches!(self.life, TaskLife::Listed | TaskLife::Exiting)
    }
}

impl Default for Task {
    fn default() -> Self {
        Task::new()
    }
}

/// Where a livepatch module's `struct klp_patch` is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Life {
    /// The module is not loaded.
    Unloaded,
    /// On `klp_patches` (enabled or in transition); sysfs directory present.
    Listed,
    /// Taken off the list by `klp_free_patch_start`; `free_work` pending, the
    /// sysfs directory still present.
    Freeing,
    /// `klp_free_patch_finish` ran: sysfs directory gone, module reference
    /// dropped unless forced; the module is loaded but dormant.
    Freed,
    /// draft-2018 only: on `klp_replaced_patches`: still registered (sysfs
    /// directory present), never to be enabled again, until module_exit
    /// unregisters it.
    Replaced,
}

/// Per patch definition: the module and the `struct klp_patch` of its current
/// instance (each insmod makes a new instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchRec {
    pub life: Life,
    /// How many times the module was loaded successfully (the instance number).
    pub loads: u8,
    /// `patch->enabled`.
    pub enabled: bool,
    /// `patch->forced`.
    pub forced: bool,
    /// The module reference taken by `try_module_get` in klp_enable_patch
    /// and dropped by klp_free_patch_finish (unless forced): rmmod needs it
    /// gone.
    pub module_ref: bool,
    /// `patch->replace` (the test modules take it from a module parameter).
    pub replace: bool,
    /// `func->transition` of this patch's funcs (all set or all clear).
    pub transition: bool,
    /// Nop funcs added by `klp_add_nops` (bit per FuncId); their objects are
    /// the dynamic objects.
    pub nops: u64,
    /// Dynamic objects (`obj->dynamic`) allocated by `klp_add_object_nops`,
    /// bit per ObjId: one for every object of an older patch that this replace
    /// patch has no static object for, whether or not that object has funcs
    /// to nop (a funcless object gets a funcless dynamic object).
    pub dyn_objs: u64,
    /// `obj->patched`, bit per ObjId (static and dynamic objects).
    pub obj_patched: u64,
    /// `obj->mod != NULL` for module objects, bit per ObjId.
    pub obj_mod: u64,
    /// `callbacks.post_unpatch_enabled`, bit per ObjId.
    pub post_unpatch_enabled: u64,
    /// The `pre_patch_ret` module parameter (errno).
    pub pre_patch_ret: u8,
    /// Ghost: a successful pre_patch not yet closed by post_unpatch, per ObjId
    /// (the callback-pairing monitor).
    pub cb_open: u64,
    /// Ghost: this instance was replaced, or its disable completed.
    pub retired: bool,
    /// Ghost: this instance was replaced by an atomic replace.
    pub replaced: bool,
    /// Ghost: this instance took part in a forced transition by the 5.18
    /// rules (it was being unpatched, or replaced), so the kernel keeps its
    /// module pinned on purpose.
    pub force_involved: bool,
    /// Ghost: the patches that ever replaced an instance of this one, bit per
    /// PatchId (sticky across insmods).
    pub replaced_by: u16,
    /// states-api: `state->callbacks.pre_patch_succeeded`, bit per index
    /// in the patch's `states` (the module's static `klp_state`s, fresh
    /// with each insmod).
    pub state_pre_patch_ok: u8,
}

impl PatchRec {
    pub fn unloaded() -> PatchRec {
        PatchRec {
            life: Life::Unloaded,
            loads: 0,
            enabled: false,
            forced: false,
            module_ref: false,
            replace: false,
            transition: false,
            nops: 0,
            dyn_objs: 0,
            obj_patched: 0,
            obj_mod: 0,
            post_unpatch_enabled: 0,
            pre_patch_ret: 0,
            cb_open: 0,
            retired: false,
            replaced: false,
            force_involved: false,
            replaced_by: 0,
            state_pre_patch_ok: 0,
        }
    }

    /// The module is loaded (whatever its klp_patch is doing).
    pub fn module_loaded(&self) -> bool {
        self.life != Life::Unloaded
    }

    /// `/sys/kernel/livepatch/<P>` exists.
    pub fn has_sysfs_dir(&self) -> bool {
        matches!(self.life, Life::Listed | Life::Freeing | Life::Replaced)
    }
}

/// A livepatch operation that holds `klp_mutex` and has not returned yet:
/// the process that typed the command is still in the kernel, and every
/// other livepatch operation (sysfs writes, insmods, the module notifiers,
/// klp_transition_work) waits for the mutex. Tasks keep running meanwhile,
/// on other CPUs or when the process sleeps (in a callback, in the mutex).
///
/// Only the points where a task can see a difference are steps of their
/// own (see [`crate::core`]): before the pre_patch (or pre_unpatch)
/// callback of every object after the first, and before the first
/// klp_try_complete_transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KlpOp {
    /// core.c:__klp_enable_patch of `patch`, in its loop over the objects:
    /// `next` is the index (in obj_list order) of the next object whose
    /// pre_patch callback and klp_patch_object run.
    EnableObjects {
        patch: PatchId,
        next: u8,
        insmod: bool,
    },
    /// core.c:__klp_disable_patch of `patch`: the next object whose
    /// pre_unpatch callback runs.
    DisableObjects { patch: PatchId, next: u8 },
    /// The transition was started (klp_start_transition); the command's
    /// first klp_try_complete_transition is still to run, then it returns.
    FirstTry { patch: PatchId },
}

/// The whole system.
#[derive(Debug, PartialEq, Eq)]
pub struct State {
    /// Indexed by PatchId.
    pub patches: SmallVec<[PatchRec; 4]>,
    /// `klp_patches`, in enable order.
    pub klp_patches: PatchList,
    /// `ops->func_stack` per FuncId, bottom first: the last entry is the head.
    pub func_stacks: SmallVec<[FuncStack; 8]>,
    /// `klp_transition_patch`.
    pub klp_transition_patch: Option<PatchId>,
    /// `klp_target_state`.
    pub klp_target_state: KlpState,
    pub tasks: SmallVec<[Task; 4]>,
    /// The idle tasks (`idle_task(cpu)`, "swapper/N"), one per CPU: they
    /// take part in every transition like any task (klp_init_transition,
    /// klp_start_transition and klp_try_complete_transition walk them
    /// too); their frames stay empty (do_idle runs no patched function).
    pub idle_tasks: SmallVec<[Task; 4]>,
    /// The livepatch command in progress under `klp_mutex`, if any.
    pub klp_op: Option<KlpOp>,
    /// Target modules loaded and `klp_alive`, bit per ObjId (vmlinux always set).
    pub modules_loaded: u64,
    /// Shadow variables that exist (live), bit per shadow variable.
    pub shadow: u64,
    /// Shadow variables that were live and were then freed from outside
    /// the code that uses them (`klp_shadow_free` / `klp_shadow_free_all`
    /// in a callback or a `module_exit`, an is_shadow state's removal) and
    /// not allocated again: with `shadow` a tri-state per variable, never
    /// allocated / live / freed. Disjoint from `shadow`. Patched code's own
    /// per-object free (`frees_shadow`) leaves it not live and not freed
    /// (shadow.rs:klp_shadow_free_own says why). A NULL-checked `klp_shadow_get`
    /// (`uses_shadow_if_present`) that finds nothing is fine when the
    /// variable was never allocated, a use-after-free when it was freed.
    pub shadow_freed: u64,
    /// System modifications that are set, bit per modification.
    pub sysmods: u64,
    /// 4.15 to 5.0 (variant b4-global-forced-flag only): a forced transition
    /// happened, and no patch's module reference is dropped any more.
    pub klp_forced: bool,
    /// states-api (state.c of 01/19): the static
    /// `klp_states_pre_unpatch_replaced_called`, set when an atomic
    /// replace ran the replaced patches' pre_unpatch state callbacks and
    /// cleared when the transition completes.
    pub klp_states_pre_unpatch_replaced_called: bool,
    /// Ghost: properties broken by a step (bit per monitored property).
    pub violations: u32,
    /// The admin's plans (not kernel state: where the admin is in each
    /// ordered plan, see [`crate::plan`]): byte `i` is plan `i`'s next
    /// command, `plan::DROPPED` once the commands typed are not plan `i`'s.
    pub plan_pos: u64,
}

/// Cloning is on the checker's hot path (every successor starts as a copy
/// of its parent): every element type is `Copy`, so each list is copied
/// with one `memcpy` (`SmallVec::from_slice`) instead of the derived
/// element-by-element `Extend` (issue 13: a quarter of the search).
impl Clone for State {
    #[inline]
    fn clone(&self) -> State {
        State {
            patches: SmallVec::from_slice(&self.patches),
            klp_patches: self.klp_patches,
            func_stacks: SmallVec::from_slice(&self.func_stacks),
            klp_transition_patch: self.klp_transition_patch,
            klp_target_state: self.klp_target_state,
            tasks: SmallVec::from_slice(&self.tasks),
            idle_tasks: SmallVec::from_slice(&self.idle_tasks),
            klp_op: self.klp_op,
            modules_loaded: self.modules_loaded,
            shadow: self.shadow,
            shadow_freed: self.shadow_freed,
            sysmods: self.sysmods,
            klp_forced: self.klp_forced,
            klp_states_pre_unpatch_replaced_called: self.klp_states_pre_unpatch_replaced_called,
            violations: self.violations,
            plan_pos: self.plan_pos,
        }
    }
}

impl State {
    /// The state at boot: no livepatch, target modules as the scenario says.
    pub fn boot(sc: &Scenario, tasks: usize) -> State {
        let cpus = sc.cpus as usize;
        let modules_loaded = sc
            .objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o.is_vmlinux || o.loaded_at_boot)
            .fold(0, |m, (i, _)| m | 1 << i);
        State {
            patches: SmallVec::from_elem(PatchRec::unloaded(), sc.patches.len()),
            klp_patches: PatchList::new(),
            func_stacks: SmallVec::from_elem(FuncStack::new(), sc.funcs.len()),
            klp_transition_patch: None,
            klp_target_state: KlpState::Idle,
            tasks: (0..tasks + sc.tasks.forks as usize)
                .map(|i| {
                    if i < tasks {
                        Task::new()
                    } else {
                        Task::unborn()
                    }
                })
                .collect(),
            idle_tasks: SmallVec::from_elem(Task::new(), cpus),
            klp_op: None,
            modules_loaded,
            shadow: 0,
            shadow_freed: 0,
            sysmods: 0,
            klp_forced: false,
            klp_states_pre_unpatch_replaced_called: false,
            violations: 0,
            // Every plan at its first command; unused bytes dropped.
            plan_pos: u64::MAX.checked_shl(8 * sc.plans.len() as u32).unwrap_or(0),
        }
    }

    /// `for_each_process_thread` and then the idle tasks: every task the
    /// livepatch loops walk (tasks off the task list are not among them).
    pub fn listed_tasks_mut(&mut self) -> impl Iterator<Item = &mut Task> {
        self.tasks
            .iter_mut()
            .filter(|t| t.listed())
            .chain(self.idle_tasks.iter_mut())
    }

    /// As [`State::listed_tasks_mut`], read-only.
    pub fn listed_tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks
            .iter()
            .filter(|t| t.listed())
            .chain(self.idle_tasks.iter())
    }

    /// Plan `i`'s cursor (`plan::DROPPED`: dropped).
    pub fn plan_cursor(&self, i: usize) -> u8 {
        (self.plan_pos >> (8 * i)) as u8
    }

    pub fn set_plan_cursor(&mut self, i: usize, pos: u8) {
        self.plan_pos = self.plan_pos & !(0xFF << (8 * i)) | (pos as u64) << (8 * i);
    }

    pub fn patch(&self, p: PatchId) -> &PatchRec {
        &self.patches[p as usize]
    }

    pub fn patch_mut(&mut self, p: PatchId) -> &mut PatchRec {
        &mut self.patches[p as usize]
    }

    /// Position of `p` in `klp_patches`.
    pub fn list_pos(&self, p: PatchId) -> Option<usize> {
        self.klp_patches.iter().position(|&q| q == p)
    }

    /// The implementation `p` installs for `f`: a nop runs the original.
    pub fn impl_of(&self, p: PatchId, f: FuncId) -> Impl {
        let rec = self.patch(p);
        if rec.nops & (1 << f) != 0 {
            Impl::Original
        } else {
            Impl::Patch {
                patch: p,
                load: rec.loads,
            }
        }
    }
}

// `Hash` for `State`: packed.rs (the fingerprint is the packed bytes').
