//! The tasks: calls into patched functions (through the ftrace handler) and
//! returns, with the switch on the way back to user space
//! (kernel/entry/common.c:exit_to_user_mode_loop -> klp_update_patch_state).
//!
//! Tasks run on any CPU at any time: which one runs where is not kept in the
//! state, and each klp_try_complete_transition may find any of them running
//! on another CPU (transition::busy_choices). The idle tasks are in
//! `State::idle_tasks` (transition.rs: the try and do_idle).
//!
//! Kernel threads (`tasks.kind: kthread`) never return to user space: they
//! switch only by a stack check, klp_try_switch_task's or their own in the
//! scheduler (klp_sched_try_switch from `__schedule` for TASK_FREEZABLE
//! sleeps since 6.16, cond_resched from 6.4 to 6.15). That self-check is
//! the same check on the same stack at a moment when the task is not
//! running anything else, so it reaches exactly the states of a try that
//! finds the thread not running; the model has no step of its own for it.

use crate::event::{Event, EventSink, SwitchHow};
use crate::kernel::{bits, Kernel};
use crate::patch::klp_ftrace_handler;
use crate::scenario::FuncId;
use crate::spec::TaskKind;
use crate::state::{Frame, Impl, KlpState, TaskLife};

impl<E: EventSink> Kernel<'_, E> {
    /// A task calls `f`: klp_ftrace_handler picks the implementation, which
    /// the new frame runs until it returns. Patched code that allocates or
    /// frees shadow variables does it on entry.
    pub fn task_call(&mut self, task: usize, f: FuncId) {
        let patch_state = self.s.tasks[task].patch_state;
        // patch.c:klp_ftrace_handler: `WARN_ON_ONCE(patch_state ==
        // KLP_TRANSITION_IDLE)` for a func in transition. Only a task that
        // klp_init_transition did not see can get there: one that left the
        // task list before it (an exiting task still calling functions).
        if patch_state == KlpState::Idle
            && self.s.func_stacks[f as usize]
                .last()
                .is_some_and(|&top| self.s.patch(top).transition)
        {
            self.s.violations |= crate::properties::V_KERNEL_WARNING;
            self.emit(|| Event::KernelWarning("patch.c:klp_ftrace_handler"));
        }
        let code = klp_ftrace_handler(self.s, patch_state, f);
        self.s.tasks[task].frames.push(Frame { func: f, code });
        self.emit(|| Event::TaskCall {
            task,
            func: f,
            code,
        });
        if let Impl::Patch { patch, .. } = code {
            if let Some(c) = self.sc.patches[patch as usize].code(f) {
                if E::ENABLED {
                    let name = &self.sc.patches[patch as usize].name;
                    for line in &c.emit {
                        self.ev.push(Event::Custom(line.replace("{patch}", name)));
                    }
                }
                for v in bits(c.allocates_shadow) {
                    self.klp_shadow_get_or_alloc(v);
                }
                for v in bits(c.frees_shadow) {
                    self.klp_shadow_free_own(v);
                }
            }
        }
    }

    /// The task returns from its innermost function; a user task leaving
    /// the kernel takes the target state if TIF_PATCH_PENDING is set
    /// (entry/common.c:exit_to_user_mode_loop -> klp_update_patch_state).
    /// A kthread stays in the kernel (its main loop).
    pub fn task_return(&mut self, task: usize) {
        if let Some(frame) = self.s.tasks[task].frames.pop() {
            self.emit(|| Event::TaskReturn {
                task,
                func: frame.func,
            });
        }
        let t = &self.s.tasks[task];
        if t.frames.is_empty() && t.listed() && self.sc.tasks.kind == TaskKind::User {
            self.klp_update_patch_state(task, SwitchHow::ExitToUser);
        }
    }

    /// fork.c:copy_process -> transition.c:klp_copy_process, under
    /// tasklist_lock (so atomic against every klp_*_transition loop): the
    /// child, in the first unborn slot, takes the parent's patch_state and
    /// TIF_PATCH_PENDING and goes on the task list with an empty stack.
    ///
    /// Merged into this step: for user tasks, the parent's return from the
    /// clone syscall and the child's first return to user space from
    /// ret_from_fork, both through exit_to_user_mode ->
    /// klp_update_patch_state. Between copy_process and those returns
    /// neither task runs a patched function (the parent is in the clone
    /// syscall, the child has not run yet), a stack check would find
    /// nothing to keep them back, and a reversal in between leaves them
    /// where a later try or return switches them; so every state the
    /// kernel reaches in that window is reached here by the same steps
    /// before or after the fork. Kernel threads never return to user
    /// space: they keep the copied state until a stack check switches them.
    pub fn copy_process(&mut self, parent: usize) {
        let Some(child) = self.s.tasks.iter().position(|t| t.life == TaskLife::Unborn) else {
            return;
        };
        let (patch_state, pending) = {
            let p = &self.s.tasks[parent];
            (p.patch_state, p.tif_patch_pending)
        };
        let c = &mut self.s.tasks[child];
        c.life = TaskLife::Listed;
        c.patch_state = patch_state;
        c.tif_patch_pending = pending;
        c.frames.clear();
        self.emit(|| Event::TaskForked { parent, child });
        if self.sc.tasks.kind == TaskKind::User {
            self.klp_update_patch_state(parent, SwitchHow::ExitToUser);
            self.klp_update_patch_state(child, SwitchHow::ExitToUser);
        }
    }

    /// exit.c:do_exit up to exit_notify -> release_task, which takes the
    /// task off the task list (`__unhash_process`): klp_init_transition,
    /// klp_start_transition, klp_try_complete_transition, the reversal,
    /// force and klp_complete_transition no longer see it, so a transition
    /// completes without it and its patch_state stays as it was. The task
    /// enters do_exit from user space (exit_group, or a fatal signal on the
    /// way out); before release_task it is in the kernel with no patched
    /// function on its stack, where a stack check switches it as at user
    /// space, so that part is not a step of its own. With no
    /// `tasks.exit_calls` the rest of do_exit calls nothing the scenario
    /// patches and the task is gone at once.
    pub fn do_exit(&mut self, task: usize) {
        self.s.tasks[task].life = TaskLife::Exiting;
        self.emit(|| Event::TaskExited(task));
        if self.sc.tasks.exit_calls == 0 {
            self.do_task_dead(task);
        }
    }

    /// sched/core.c:do_task_dead: the exiting task's last schedule(). Of a
    /// gone task nothing is kept (the model forgets its last patch_state,
    /// which nothing reads any more).
    pub fn do_task_dead(&mut self, task: usize) {
        self.s.tasks[task] = crate::state::Task {
            life: TaskLife::Gone,
            ..crate::state::Task::new()
        };
        self.emit(|| Event::TaskDead(task));
    }
}
