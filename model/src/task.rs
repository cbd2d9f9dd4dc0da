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
use crate::state::{Frame, Impl};

impl<E: EventSink> Kernel<'_, E> {
    /// A task calls `f`: klp_ftrace_handler picks the implementation, which
    /// the new frame runs until it returns. Patched code that allocates or
    /// frees shadow variables does it on entry.
    pub fn task_call(&mut self, task: usize, f: FuncId) {
        let code = klp_ftrace_handler(self.s, self.s.tasks[task].patch_state, f);
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
                    self.klp_shadow_free(v);
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
        if self.s.tasks[task].frames.is_empty() && self.sc.tasks.kind == TaskKind::User {
            self.klp_update_patch_state(task, SwitchHow::ExitToUser);
        }
    }
}
