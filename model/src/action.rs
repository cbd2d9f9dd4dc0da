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
    /// `klp_transition_work` runs (klp_try_complete_transition).
    TransitionWork,
    /// `insmod M.ko` of a target module.
    LoadModule(ObjId),
    /// `rmmod M` of a target module.
    UnloadModule(ObjId),
    /// A task calls a function (from user space: a syscall).
    Call { task: u8, func: FuncId },
    /// A task returns from its innermost function.
    Return { task: u8 },
}
