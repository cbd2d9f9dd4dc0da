//! The scenario language: what a livepatch author writes in `specs/*.json`.
//!
//! These types mirror the JSON one to one (`deny_unknown_fields` everywhere, so a
//! typo is an error, not a silently ignored key). They carry names, not indices;
//! [`crate::scenario::Scenario::compile`] checks every name and turns the spec
//! into the indexed form the model runs on.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only version of the scenario language so far.
pub const SPEC_VERSION: u32 = 1;

/// A scenario: target objects, livepatches, tasks, the admin actions the search
/// may interleave, and what the author expects of each property.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Must be 1.
    pub spec_version: u32,
    /// Short name used in reports (defaults to the file stem).
    #[serde(default)]
    pub name: Option<String>,
    /// What the scenario shows, in a sentence or two.
    #[serde(default)]
    pub description: Option<String>,
    /// Semantic profile: `mainline` (default).
    #[serde(default)]
    pub profile: Option<String>,
    /// Bug variant or rule mutation: `none` (default).
    #[serde(default)]
    pub variant: Option<String>,
    /// Patch targets. `vmlinux` always exists; any other name is a module.
    #[serde(default)]
    pub objects: BTreeMap<String, ObjectSpec>,
    /// Shadow variables the callbacks and patched code refer to, by name.
    #[serde(default)]
    pub shadow_vars: BTreeMap<String, ShadowVarSpec>,
    /// Named system modifications (what `klp_state` documentation calls a
    /// system state change), all clear at boot.
    #[serde(default)]
    pub system_modifications: Vec<String>,
    /// Livepatch modules, keyed by the name reports use for them (e.g. `P1`).
    /// Their order here is only a listing order; the patch stack order comes
    /// from the order of insmods.
    pub patches: BTreeMap<String, PatchSpec>,
    /// How many CPUs the machine has (1 to 4; default 2, the smallest SMP
    /// machine). Each CPU has an idle task that takes part in every
    /// transition, and a task running on another CPU cannot be switched by
    /// klp_try_switch_task (-EBUSY). With 1 CPU only the command's own CPU
    /// exists, so every sleeping task can be switched by the first try.
    #[serde(default)]
    pub cpus: Option<u32>,
    /// What the `struct klp_func` that klp_check_stack_func reads past the
    /// bottom of a func_stack (the `klp_ops` list head, see
    /// `stack-check-in-bounds`) happens to cover: `nothing` (default: the
    /// bogus range matches no return address, as on the lab's 6.1 run,
    /// where the reversal completed) or `everything` (the range covers every
    /// kernel address, as in 3 of 4 boots of 7.2.13, where `new_func` read
    /// 0 and `new_size` a kernel pointer: no task passes the stack check,
    /// and a task that never leaves the kernel keeps the transition open).
    #[serde(default)]
    pub stack_check_oob: OobRange,
    /// The tasks that run kernel code.
    #[serde(default)]
    pub tasks: TasksSpec,
    /// Which admin actions the search may interleave, with bounds.
    #[serde(default)]
    pub admin: AdminSpec,
    /// Ordered admin plans, by name: each is a list of admin commands
    /// (script steps: `{"op": ..., "args": {...}}`) that the search follows
    /// in order, while tasks, kernel work and target modules the plans do
    /// not name interleave freely. With plans, the admin's livepatch
    /// commands come only from the plans (`admin.insmod`, `disable`,
    /// `enable`, `force` and `rmmod` are not used). A plan is an admin's
    /// order, not a kernel rule.
    #[serde(default)]
    pub plans: BTreeMap<String, Vec<PlanStepSpec>>,
    /// What the liveness properties may assume about who eventually acts.
    #[serde(default)]
    pub fairness: FairnessSpec,
    /// Expected verdict per property id; a property not named is expected to hold.
    #[serde(default)]
    pub expect: BTreeMap<String, Verdict>,
    /// When the scenario is checked under another profile (`--profile`):
    /// the verdicts that differ there, per profile name.
    #[serde(default)]
    pub expect_by_profile: BTreeMap<String, BTreeMap<String, Verdict>>,
    /// The pinned number of unique states: a number (the count without
    /// symmetry reduction: `--no-symmetry`, every engine), or per setting
    /// `{"no_symmetry": N, "symmetry": M}` (`symmetry`: the default native
    /// engine and `stateright-dfs --symmetry`). `check` compares every count
    /// that is pinned for the setting it runs with.
    #[serde(default)]
    pub expected_unique_states: Option<StatePin>,
    /// A fixed sequence of steps (selftest vocabulary) instead of a search.
    #[serde(default)]
    pub script: Option<Vec<serde_json::Value>>,
    /// The events the script must print, in the oracle vocabulary.
    #[serde(default)]
    pub expected_events: Option<Vec<String>>,
}

/// `expected_unique_states`: a plain count (without symmetry reduction) or
/// the counts per search setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StatePin {
    /// Unique states without symmetry reduction.
    NoSymmetry(u64),
    /// Unique states per setting.
    BySetting(StatePinBySetting),
}

/// The unique state counts of a scenario per search setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatePinBySetting {
    /// Without symmetry reduction (`--no-symmetry`; every engine agrees).
    #[serde(default)]
    pub no_symmetry: Option<u64>,
    /// With symmetry reduction over tasks (the native engine's default,
    /// `stateright-dfs --symmetry`).
    #[serde(default)]
    pub symmetry: Option<u64>,
}

impl StatePin {
    /// The pinned count for a search with or without symmetry reduction.
    pub fn for_setting(self, symmetry: bool) -> Option<u64> {
        match (self, symmetry) {
            (StatePin::NoSymmetry(n), false) => Some(n),
            (StatePin::NoSymmetry(_), true) => None,
            (StatePin::BySetting(b), false) => b.no_symmetry,
            (StatePin::BySetting(b), true) => b.symmetry,
        }
    }
}

/// A patch target: vmlinux or a (target) kernel module, and its functions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectSpec {
    /// Function names of this object that patches or tasks refer to.
    #[serde(default)]
    pub funcs: Vec<String>,
    /// For a module: loaded at boot (default false). Ignored for vmlinux.
    #[serde(default)]
    pub loaded: bool,
    /// The module's init and exit print `<mod>: <mod>_init` / `_exit`, as the
    /// kernel's test modules do.
    #[serde(default)]
    pub logs: bool,
    /// For a module: its own init fails with this errno after
    /// klp_module_coming patched it (kernel/module/main.c:do_init_module
    /// then calls klp_module_going, which runs the GOING callbacks).
    #[serde(default)]
    pub init_fails: Option<ErrnoSpec>,
}

/// A shadow variable `(parent, id)` of shadow.c.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowVarSpec {
    /// The parent object the variable hangs off (only a key, never dereferenced).
    pub parent: String,
    /// The shadow id; `shadow_free_all` frees every variable with this id.
    pub id: String,
}

/// A livepatch module (`struct klp_patch` and its module).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSpec {
    /// Kernel module name (defaults to the key); log lines use it.
    #[serde(default)]
    pub module: Option<String>,
    /// `klp_patch.replace`: an atomic-replace (cumulative) patch.
    #[serde(default)]
    pub replace: bool,
    /// `klp_patch.immediate` (4.12 to 4.15 only): no per-task consistency.
    /// Mainline has no such flag and ignores it; the `b1-immediate` variant
    /// honours it.
    #[serde(default)]
    pub immediate: bool,
    /// Objects this patch patches, with functions and callbacks.
    #[serde(default)]
    pub objects: BTreeMap<String, PatchObjectSpec>,
    /// `klp_patch.states`: system state ids and versions (state.c).
    #[serde(default)]
    pub states: Vec<KlpStateSpec>,
    /// What the module's `module_exit` does when the module is removed.
    #[serde(default)]
    pub module_exit: Option<Effects>,
    /// Initial value of the `pre_patch_ret` module parameter, returned by
    /// callbacks that say `"ret": "param"` (the kernel's test_klp_callbacks_demo).
    #[serde(default)]
    pub pre_patch_ret: Option<ErrnoSpec>,
    /// The module has a module_init and no `module_exit` (default false): it
    /// can never be removed, delete_module fails with -EBUSY
    /// (kernel/module/main.c: `mod->init && !mod->exit`, without
    /// CONFIG_MODULE_FORCE_UNLOAD's `rmmod -f`).
    #[serde(default)]
    pub no_module_exit: bool,
    /// The order of this patch's objects (`obj_list`); defaults to vmlinux
    /// first, then the other objects by name.
    #[serde(default)]
    pub object_order: Option<Vec<String>>,
    /// Profile `replace-set` only (replace_set v2, "[PATCH v2 2/4] livepatch:
    /// Support scoped atomic replace using replace_set",
    /// Message-Id 20260529034542.68766-3-laoar.shao@gmail.com):
    /// `klp_patch.replace_set` (default 0). Every patch replaces the patches
    /// of its own set; `replace` is ignored there. Other profiles ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_set: Option<u32>,
    /// Profile `replace-set` only, the v3 option Joe Lawrence and Petr
    /// Mladek discussed (a zero-terminated `replace_sets` array, or
    /// `override_replace_sets=X[,Y]`; https://www.mail-archive.com/live-patching@vger.kernel.org/msg00612.html):
    /// the other sets this patch replaces as if they were its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub override_replace_sets: Vec<u32>,
    /// Profile `replaceable` only ("[RFC PATCH 3/4] livepatch: Add
    /// "replaceable" attribute to klp_patch", Message-Id
    /// 20260402092607.96430-4-laoar.shao@gmail.com): `klp_patch.replaceable`
    /// (default true); an atomic replace leaves a non-replaceable patch in
    /// place. Other profiles ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaceable: Option<bool>,
}

/// One object of a patch (`struct klp_object`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchObjectSpec {
    /// Patched functions of this object and what their new code does.
    #[serde(default)]
    pub funcs: BTreeMap<String, CodeSpec>,
    /// `struct klp_callbacks` of this object.
    #[serde(default)]
    pub callbacks: CallbacksSpec,
    /// klp_patch_object fails for this object with this errno (an ftrace
    /// registration failure: -EBUSY with ftrace_enabled=0 or an IPMODIFY
    /// kprobe on the function). At insmod the enable is cancelled and this
    /// object gets post_unpatch (its pre_patch succeeded); at module load
    /// klp_module_coming calls post_unpatch and refuses the module.
    #[serde(default)]
    pub patch_fails: Option<ErrnoSpec>,
}

/// What the new implementation of a function does when a task runs it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeSpec {
    /// Shadow variables it reads with `klp_shadow_get` (must exist while it runs).
    #[serde(default)]
    pub uses_shadow: Vec<String>,
    /// Shadow variables it reads with a NULL-checked `klp_shadow_get`
    /// (`p = klp_shadow_get(..); if (p) ..`): finding nothing is fine if
    /// the variable was never allocated, a use-after-free if it was live
    /// and freed (someone else destroyed the data this code relies on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses_shadow_if_present: Vec<String>,
    /// Shadow variables it creates with `klp_shadow_get_or_alloc` on entry.
    #[serde(default)]
    pub allocates_shadow: Vec<String>,
    /// Shadow variables it frees with `klp_shadow_free` on entry.
    #[serde(default)]
    pub frees_shadow: Vec<String>,
    /// System modifications it needs set while it runs.
    #[serde(default)]
    pub needs: Vec<String>,
    /// System modifications it cannot live with.
    #[serde(default)]
    pub conflicts: Vec<String>,
    /// Log lines it prints when called, `{patch}` replaced by the patch's name.
    #[serde(default)]
    pub emit: Vec<String>,
}

/// The four callbacks of an object; a missing one is a NULL pointer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbacksSpec {
    #[serde(default)]
    pub pre_patch: Option<Effects>,
    #[serde(default)]
    pub post_patch: Option<Effects>,
    #[serde(default)]
    pub pre_unpatch: Option<Effects>,
    #[serde(default)]
    pub post_unpatch: Option<Effects>,
}

/// What a callback (or `module_exit`) does, in order: log, shadow operations,
/// system modifications, then the return value.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Effects {
    /// Print the test modules' `<cb>_callback: <obj>` line (default true for callbacks).
    #[serde(default)]
    pub log: Option<bool>,
    /// Extra log events, `{patch}` replaced by the patch's name (e.g. `state_fix({patch},1)`).
    #[serde(default)]
    pub emit: Vec<String>,
    /// `klp_shadow_alloc` (WARNs and fails if the variable exists).
    #[serde(default)]
    pub shadow_alloc: Vec<String>,
    /// `klp_shadow_get_or_alloc`.
    #[serde(default)]
    pub shadow_get_or_alloc: Vec<String>,
    /// `klp_shadow_free`.
    #[serde(default)]
    pub shadow_free: Vec<String>,
    /// `klp_shadow_free_all(id)`: every variable with that id.
    #[serde(default)]
    pub shadow_free_all: Vec<String>,
    /// Set these system modifications.
    #[serde(default)]
    pub set: Vec<String>,
    /// Clear these system modifications.
    #[serde(default)]
    pub clear: Vec<String>,
    /// pre_patch only: the return value: 0, an errno name (`ENODEV`), a
    /// negative number, or `param` for the module parameter `pre_patch_ret`.
    #[serde(default)]
    pub ret: Option<ErrnoSpec>,
    /// Effects chosen by `klp_get_prev_state(id)` (state.c): `then` when an
    /// older patch in front of the transition patch carries the id.
    #[serde(default)]
    pub if_prev_state: Option<Box<PrevStateCond>>,
}

/// A branch on `klp_get_prev_state(id)`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrevStateCond {
    pub id: u64,
    /// Take `then` only if the state klp_get_prev_state returns (the last
    /// patch in front of the transition patch that carries `id`) has at
    /// least this version (`prev_state->version >= N`, as callbacks that
    /// migrate a state from an older version test). Default 0: any version.
    #[serde(default)]
    pub min_version: u32,
    #[serde(default)]
    pub then: Effects,
    #[serde(default, rename = "else")]
    pub otherwise: Effects,
}

/// An errno: 0, a name such as `ENODEV`, a number (sign ignored), or `param`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ErrnoSpec {
    Number(i64),
    Name(String),
}

/// `struct klp_state`: id (non-zero) and version; with profile
/// `states-api` also its callbacks, `is_shadow` and `block_disable`
/// ("[PATCH v1 00/19] livepatch: Better integrate callbacks and shadow
/// variables with the states API", Message-Id
/// 20250115082431.5550-1-pmladek@suse.com). Other profiles ignore those.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KlpStateSpec {
    pub id: u64,
    #[serde(default)]
    pub version: u32,
    /// `struct klp_state_callbacks` (states-api 01/19): run only when a
    /// patch introduces the state (pre_patch, post_patch) or when the
    /// state leaves the system (pre_unpatch, post_unpatch).
    #[serde(default, skip_serializing_if = "CallbacksSpec::is_empty")]
    pub callbacks: CallbacksSpec,
    /// `state.is_shadow` (states-api 02/19): when the state is removed,
    /// `klp_shadow_free_all(state->id)` frees every shadow variable whose
    /// `id` is this state's id written in decimal (`"7"` for id 7).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_shadow: bool,
    /// `state.block_disable` (states-api 04/19): the patch cannot be
    /// disabled (enabled_store: -EINVAL), and a replace patch without this
    /// state is refused (klp_is_state_compatible).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub block_disable: bool,
}

impl CallbacksSpec {
    /// No callback at all (what a state without callbacks serializes as).
    pub fn is_empty(&self) -> bool {
        self.pre_patch.is_none()
            && self.post_patch.is_none()
            && self.pre_unpatch.is_none()
            && self.post_unpatch.is_none()
    }
}

/// The tasks (user or kernel threads) that run kernel code. They are
/// interchangeable: each may call any entry function.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TasksSpec {
    /// How many tasks (at least 1 for a search).
    #[serde(default = "one")]
    pub count: u32,
    /// How deep a task's kernel call stack may grow.
    #[serde(default = "one")]
    pub max_depth: u32,
    /// Functions a task may call from user space (a syscall entry). Default:
    /// every function some patch patches.
    #[serde(default)]
    pub entry: Option<Vec<String>>,
    /// Which function may call which (for call stacks deeper than 1).
    #[serde(default)]
    pub calls: BTreeMap<String, Vec<String>>,
    /// `user` (default): processes that enter the kernel by a syscall and
    /// switch on the way back (exit_to_user_mode -> klp_update_patch_state);
    /// `kthread`: kernel threads, which never return to user space and are
    /// switched only by klp_try_switch_task (or their own stack check in
    /// the scheduler, which is the same check).
    #[serde(default)]
    pub kind: TaskKind,
    /// How many children the tasks may fork in all (default 0). A fork is
    /// kernel/fork.c:copy_process -> klp_copy_process: the child takes the
    /// parent's patch_state and TIF_PATCH_PENDING.
    #[serde(default)]
    pub forks: u32,
    /// Whether tasks may exit (default false): do_exit -> release_task
    /// takes the task off the task list, and no livepatch loop sees it any
    /// more.
    #[serde(default)]
    pub exit: bool,
    /// Functions the rest of do_exit calls after release_task took the task
    /// off the task list (default none). With none, an exit ends the task
    /// at once; with some, an exiting task may still call them, with its
    /// last patch_state, until do_task_dead.
    #[serde(default)]
    pub exit_calls: Vec<String>,
}

/// See [`Spec::stack_check_oob`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OobRange {
    #[default]
    Nothing,
    Everything,
}

/// What kind of task runs the kernel code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    #[default]
    User,
    Kthread,
}

fn one() -> u32 {
    1
}

impl Default for TasksSpec {
    fn default() -> Self {
        TasksSpec {
            count: 1,
            max_depth: 1,
            entry: None,
            calls: BTreeMap::new(),
            kind: TaskKind::User,
            forks: 0,
            exit: false,
            exit_calls: vec![],
        }
    }
}

/// Which admin actions the search may take, and how often.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminSpec {
    /// Successful insmods per patch (instances); a patch not named gets 1.
    #[serde(default)]
    pub insmod: BTreeMap<String, u32>,
    /// `echo 0 > /sys/kernel/livepatch/P/enabled`.
    #[serde(default = "yes")]
    pub disable: bool,
    /// `echo 1 > .../enabled` (reverses a disable in transition; -EINVAL otherwise).
    #[serde(default)]
    pub enable: bool,
    /// `echo 1 > .../force`.
    #[serde(default)]
    pub force: bool,
    /// `rmmod` of livepatch modules.
    #[serde(default = "yes")]
    pub rmmod: bool,
    /// Target modules the admin may load and unload, by name.
    #[serde(default)]
    pub target_modules: BTreeMap<String, TargetModuleAdmin>,
}

fn yes() -> bool {
    true
}

impl Default for AdminSpec {
    fn default() -> Self {
        AdminSpec {
            insmod: BTreeMap::new(),
            disable: true,
            enable: false,
            force: false,
            rmmod: true,
            target_modules: BTreeMap::new(),
        }
    }
}

/// One step of an admin plan, in the script vocabulary
/// (docs/script-vocabulary.md): the same op names and args as a script
/// step where they mean the same. A step that fails prints what the kernel
/// prints (`load_error(P,EBUSY)`, `write_error(...)`) and the plan moves on
/// to its next step, as a shell script without `set -e` would, unless the
/// step says `"retry": true`: then the admin types it again until it
/// succeeds (the selftests' `loop_until`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", content = "args", deny_unknown_fields)]
#[allow(non_camel_case_types)]
pub enum PlanStepSpec {
    /// `insmod P.ko`, then wait until P's transition is over (`load_lp`).
    load_livepatch(PlanPatchArgs),
    /// `insmod P.ko`; the next step may follow at once (`load_lp_nowait`).
    load_livepatch_nowait(PlanPatchArgs),
    /// `echo 0 > .../P/enabled`, then wait until P's sysfs directory is
    /// gone (`disable_lp`: transition over and patch freed).
    disable_livepatch(PlanPatchArgs),
    /// `echo 0|1 > .../P/enabled`, no wait.
    write_enabled(PlanEnabledArgs),
    /// `echo 1 > .../P/force`.
    force_livepatch(PlanPatchArgs),
    /// `insmod M.ko` of a target module (a livepatch module: as
    /// `load_livepatch_nowait`).
    load_module(PlanModuleArgs),
    /// Wait until the module's refcount is 0, then `rmmod M` (`unload_mod`,
    /// `unload_lp`); a livepatch module by its alias or module name.
    unload_module(PlanModuleArgs),
    /// `rmmod M` now, without waiting (`-EAGAIN` while in use).
    try_unload_module(PlanModuleArgs),
    /// Wait until P's transition is over (`transition` reads 0).
    wait_transition(PlanWaitArgs),
    /// Wait until P's sysfs directory is gone.
    wait_livepatch_gone(PlanWaitArgs),
}

/// Args of a plan step on a livepatch.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanPatchArgs {
    /// The patch: its key under `patches` or its module name.
    pub patch: String,
    /// Type the command again until it succeeds (default false: a failure
    /// is reported and the plan moves on).
    #[serde(default)]
    pub retry: bool,
    /// A comment.
    #[serde(default)]
    pub note: Option<String>,
}

/// Args of `write_enabled`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanEnabledArgs {
    pub patch: String,
    /// 0 or 1.
    pub value: u8,
    #[serde(default)]
    pub retry: bool,
    #[serde(default)]
    pub note: Option<String>,
}

/// Args of a plan step on a module (a target module, or a livepatch module
/// by its alias or module name).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanModuleArgs {
    pub module: String,
    #[serde(default)]
    pub retry: bool,
    #[serde(default)]
    pub note: Option<String>,
}

/// Args of a wait step.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanWaitArgs {
    pub patch: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// Whether a target module may be loaded and unloaded by the admin.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetModuleAdmin {
    #[serde(default = "yes")]
    pub load: bool,
    #[serde(default = "yes")]
    pub unload: bool,
}

/// Fairness for the liveness properties (`transition-completes`,
/// `patch-freed`). Always assumed: the kernel's work items run (weak
/// fairness of klp_transition_work and of each free_work), and the admin
/// eventually stops typing (a run where admin commands go on forever is not
/// a counterexample).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FairnessSpec {
    /// Tasks (numbered from 1) that may sleep in a function forever, like the
    /// worker of test_klp_callbacks_busy with block_transition=Y. Every other
    /// task eventually returns from its functions (weak fairness).
    #[serde(default)]
    pub may_block_forever: Vec<u32>,
    /// Tasks of `may_block_forever` whose sleep is interruptible (a
    /// TASK_INTERRUPTIBLE wait, as most syscalls' waits are). While such a
    /// task has TIF_PATCH_PENDING, klp_try_complete_transition sends it a
    /// fake signal every 15th failed try (transition.c:klp_send_signals:
    /// set_notify_signal for a user task, wake_up_state(TASK_INTERRUPTIBLE)
    /// for a kthread), which ends the sleep: so it is not a reason for a
    /// transition to hang.
    #[serde(default)]
    pub interruptible: Vec<u32>,
    /// The admin eventually writes 1 to the `force` attribute of a stuck
    /// transition patch (weak fairness of force; needs `admin.force`).
    #[serde(default)]
    pub admin_forces: bool,
}

/// Expected verdict of a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Holds,
    Violated,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Violated => "violated",
        }
    }
}

/// The JSON Schema of scenario files (what `klpcheck schema` prints).
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Spec);
    serde_json::to_string_pretty(&schema).expect("schema serializes") + "\n"
}
