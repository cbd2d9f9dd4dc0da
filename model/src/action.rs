//! What can happen next: admin commands, kernel work items, task steps.

use crate::core::InsmodParams;
use crate::scenario::{FuncId, ObjId, PatchId};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// `insmod P.ko [params]`.
    Insmod(PatchId, InsmodParams),
    /// `echo 0|1 > /sys/kernel/livepatch/P/enabled`.
    WriteEnabled(PatchId, bool),
    /// `echo 1 > /sys/kernel/livepatch/P/force`.
    WriteForce(PatchId),
    /// `rmmod P`.
    Rmmod(PatchId),
    /// `echo V > /sys/module/P/parameters/pre_patch_ret`.
    SetPrePatchRet(PatchId, u8),
    /// The patch's `free_work` runs (klp_free_patch_finish).
    FreeWork(PatchId),
    /// `klp_transition_work` runs (klp_try_complete_transition) on some CPU.
    /// `busy`: the tasks that are running on the other CPUs at that moment,
    /// so that klp_try_switch_task fails for them with -EBUSY ("is
    /// running"): bit `t` for task `t`, bit `tasks + c` for the idle task
    /// of CPU `c`. Only choices that change the outcome are offered (see
    /// `busy_choices`).
    TransitionWork { busy: u16 },
    /// The livepatch command in progress (`State::klp_op`) goes on to its
    /// next step; `busy` as for `TransitionWork` when that step is the
    /// command's first klp_try_complete_transition, else 0.
    Continue { busy: u16 },
    /// The idle task of CPU `cpu` goes round the idle loop
    /// (sched/idle.c:do_idle -> klp_update_patch_state): it switches if
    /// TIF_PATCH_PENDING is set. A failed try wakes idle CPUs for this
    /// (wake_up_if_idle).
    IdleLoop { cpu: u8 },
    /// `insmod M.ko` of a target module.
    LoadModule(ObjId),
    /// `rmmod M` of a target module.
    UnloadModule(ObjId),
    /// A task calls a function (from user space: a syscall).
    Call { task: u8, func: FuncId },
    /// A task returns from its innermost function.
    Return { task: u8 },
    /// A task forks (`tasks.forks`): clone from user space
    /// (fork.c:copy_process -> klp_copy_process); the child fills the
    /// first unborn slot.
    Fork { task: u8 },
    /// A task exits (`tasks.exit`): exit_group from user space, do_exit up
    /// to release_task, which takes it off the task list.
    Exit { task: u8 },
    /// An exiting task's do_task_dead: it never runs again.
    Dead { task: u8 },
}
