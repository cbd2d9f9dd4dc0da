//! The tasks: calls into patched functions (through the ftrace handler) and
//! returns, with the switch on the way back to user space
//! (kernel/entry/common.c:exit_to_user_mode_loop -> klp_update_patch_state).
//!
//! Left out: idle tasks (they switch in the idle loop like a task at user
//! space), fork (a child copies its parent's state: klp_copy_process), and
//! cond_resched switching (a stack check like klp_try_switch_task's).

use crate::event::{Event, EventSink, SwitchHow};
use crate::kernel::{bits, Kernel};
use crate::patch::klp_ftrace_handler;
use crate::scenario::FuncId;
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

    /// The task returns from its innermost function; leaving the kernel it
    /// takes the target state if TIF_PATCH_PENDING is set.
    pub fn task_return(&mut self, task: usize) {
        if let Some(frame) = self.s.tasks[task].frames.pop() {
            self.emit(|| Event::TaskReturn {
                task,
                func: frame.func,
            });
        }
        if self.s.tasks[task].frames.is_empty() {
            self.klp_update_patch_state(task, SwitchHow::ExitToUser);
        }
    }
}
