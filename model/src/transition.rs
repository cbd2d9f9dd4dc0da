//! transition.c: the per-task consistency model.

use crate::event::{Event, EventSink, ModState, SwitchHow};
use crate::kernel::{bits, funcs_of, objects_of, Kernel};
use crate::profile::{Profile, Variant};
use crate::properties::{
    V_COMPLETION_KEEPS_CODE, V_REPLACE_LEAVES_ONLY_NEW, V_STACK_CHECK_IN_BOUNDS,
};
use crate::scenario::{PatchId, Scenario};
use crate::state::{Impl, KlpState, State};

impl<E: EventSink> Kernel<'_, E> {
    /// transition.c:klp_init_transition — make `p` the transition patch with
    /// `target`, put every task and every idle task in the initial state
    /// (`!target`), and set `func->transition` on every func of `p` (nops
    /// and unloaded objects too).
    pub fn klp_init_transition(&mut self, p: PatchId, target: KlpState) {
        self.s.klp_transition_patch = Some(p);
        self.s.klp_target_state = target;
        self.emit(|| Event::TransitionInit(p, target));
        let initial = target.flip();
        for t in self.s.listed_tasks_mut() {
            t.patch_state = initial;
        }
        self.s.patch_mut(p).transition = true;
    }

    /// transition.c:klp_start_transition — set TIF_PATCH_PENDING on every
    /// task and idle task not yet in the target state.
    pub fn klp_start_transition(&mut self) {
        let Some(tp) = self.s.klp_transition_patch else {
            return;
        };
        let target = self.s.klp_target_state;
        self.emit(|| Event::TransitionStart(tp, target));
        for t in self.s.listed_tasks_mut() {
            if t.patch_state != target {
                t.tif_patch_pending = true;
            }
        }
    }

    /// transition.c:klp_try_switch_task — for a task not in the target
    /// state: -EBUSY when it runs on another CPU (`task_curr(task) && task
    /// != current` in klp_check_and_switch_task; `busy`), else the stack
    /// check (klp_check_stack_func for every func of the transition
    /// patch); the task switches when it passes.
    ///
    /// The kernel checks the tasks one after another while they keep
    /// running; the model checks them in one step. That hides nothing: the
    /// check of one task reads only that task's stack and whether it runs,
    /// and no other task's step changes either, so every interleaving of
    /// task steps with the per-task checks gives a state that the one-step
    /// check reaches with the same task steps before or after it.
    pub fn klp_try_switch_task(&mut self, task: usize, busy: bool) -> bool {
        let target = self.s.klp_target_state;
        if self.s.tasks[task].patch_state == target {
            return true;
        }
        if busy {
            self.emit(|| Event::TaskRunning(task));
            return false;
        }
        let (ok, out_of_bounds) = klp_check_stack(self.sc, self.s, task);
        if out_of_bounds {
            self.s.violations |= V_STACK_CHECK_IN_BOUNDS;
        }
        if ok {
            let t = &mut self.s.tasks[task];
            t.tif_patch_pending = false;
            t.patch_state = target;
            self.emit(|| Event::TaskSwitched {
                task,
                to: target,
                how: SwitchHow::StackCheck,
            });
            true
        } else {
            false
        }
    }

    /// transition.c:klp_try_complete_transition's loop over the idle tasks
    /// (`idle_task(cpu)` of every online CPU): an idle task that is running
    /// fails with -EBUSY and its CPU is woken (wake_up_if_idle) so that it
    /// switches itself in the idle loop ([`Self::idle_loop`]); one that is
    /// not running has a clean stack and switches.
    fn klp_try_switch_idle(&mut self, cpu: usize, busy: bool) -> bool {
        let target = self.s.klp_target_state;
        if self.s.idle_tasks[cpu].patch_state == target {
            return true;
        }
        if busy {
            self.emit(|| Event::IdleRunning(cpu));
            return false;
        }
        // The idle task's stack holds no patched function, but
        // klp_check_stack walks every func for it as for any task.
        if klp_check_frames(self.sc, self.s, &[]).1 {
            self.s.violations |= V_STACK_CHECK_IN_BOUNDS;
        }
        self.switch_idle(cpu, target, SwitchHow::StackCheck);
        true
    }

    /// The idle task of `cpu` takes `target` and loses TIF_PATCH_PENDING.
    fn switch_idle(&mut self, cpu: usize, target: KlpState, how: SwitchHow) {
        let t = &mut self.s.idle_tasks[cpu];
        t.tif_patch_pending = false;
        t.patch_state = target;
        self.emit(|| Event::IdleSwitched {
            cpu,
            to: target,
            how,
        });
    }

    /// sched/idle.c:do_idle — after schedule_idle(), `if
    /// (unlikely(klp_patch_pending(current))) klp_update_patch_state(current)`:
    /// the idle task of `cpu` switches itself.
    pub fn idle_loop(&mut self, cpu: usize) {
        if self.s.idle_tasks[cpu].tif_patch_pending {
            self.switch_idle(cpu, self.s.klp_target_state, SwitchHow::IdleLoop);
        }
    }

    /// transition.c:klp_update_patch_state — on the way back to user space
    /// (or by force): if TIF_PATCH_PENDING is set, clear it and take the
    /// target state.
    pub fn klp_update_patch_state(&mut self, task: usize, how: SwitchHow) {
        let target = self.s.klp_target_state;
        let t = &mut self.s.tasks[task];
        if t.tif_patch_pending {
            t.tif_patch_pending = false;
            t.patch_state = target;
            self.emit(|| Event::TaskSwitched {
                task,
                to: target,
                how,
            });
        }
    }

    /// transition.c:klp_try_complete_transition — try to switch every task;
    /// if all are in the target state, complete the transition and free what
    /// it leaves behind (the disabled patch, or the replaced patches).
    /// `busy`: the tasks running on other CPUs right now (see
    /// [`busy_choices`]). The kernel retries from klp_transition_work about
    /// once a second and sends fake signals every 15 tries; the model's
    /// tasks may return to user space at any time anyway, so for safety the
    /// signals add no behaviour.
    pub fn klp_try_complete_transition(&mut self, busy: u16) -> bool {
        let Some(tp) = self.s.klp_transition_patch else {
            return false;
        };
        let mut remaining = 0;
        let n = self.s.tasks.len();
        for task in 0..n {
            if !self.s.tasks[task].listed() {
                continue;
            }
            if !self.klp_try_switch_task(task, busy & (1 << task) != 0) {
                remaining += 1;
            }
        }
        for cpu in 0..self.s.idle_tasks.len() {
            if !self.klp_try_switch_idle(cpu, busy & (1 << (n + cpu)) != 0) {
                remaining += 1;
            }
        }
        if remaining > 0 {
            self.emit(|| Event::TransitionPending {
                patch: tp,
                remaining,
            });
            return false;
        }
        let target = self.s.klp_target_state;
        self.klp_complete_transition();
        if self.profile(Profile::Draft2018) {
            // 4.x: the patch stays registered; a finished disable drops the
            // module reference unless a transition was ever forced.
            if !self.s.patch(tp).enabled && !self.s.klp_forced {
                self.s.patch_mut(tp).module_ref = false;
            }
        } else if !self.s.patch(tp).enabled {
            self.klp_free_patch_async(tp);
        } else if self.s.patch(tp).replace {
            self.klp_free_replaced_patches_async(tp);
        }
        if self.s.patch(tp).replace && target == KlpState::Patched {
            self.watch_replace_result(tp);
        }
        true
    }

    /// Monitor of replace-leaves-only-new: right after a replace of `tp`
    /// completes to PATCHED, no patch is left in front of `tp` on
    /// klp_patches, `tp` has no nop left, and every function that no listed
    /// patch patches has an empty func_stack (tasks run the original). In the
    /// usual case `tp` is last and the list is exactly [tp]; after a reversed
    /// disable of an older replace patch, newer patches after it stay, as in
    /// the kernel. Under the replace-set and replaceable proposals, patches
    /// outside the replace's scope stay in front by design.
    fn watch_replace_result(&mut self, tp: PatchId) {
        // replace-set and replaceable: only the patches the replace removes
        // (crate::core::same_replace_scope) must be gone.
        let nothing_in_front = self
            .s
            .klp_patches
            .iter()
            .take_while(|&&p| p != tp)
            .all(|&p| !crate::core::same_replace_scope(self.sc, tp, p));
        let no_nops = self.s.patch(tp).nops == 0;
        let live = self
            .s
            .klp_patches
            .iter()
            .fold(0u64, |m, &p| m | self.sc.patches[p as usize].funcs_mask);
        let stacks_ok = self
            .s
            .func_stacks
            .iter()
            .enumerate()
            .all(|(f, st)| live & (1 << f) != 0 || st.is_empty());
        if !(nothing_in_front && no_nops && stacks_ok) {
            self.s.violations |= V_REPLACE_LEAVES_ONLY_NEW;
        }
    }

    /// transition.c:klp_complete_transition — replace: unpatch the replaced
    /// patches (no callbacks) and discard the nops; unpatch: pop the patch's
    /// funcs; clear `func->transition`; every task back to IDLE; post_patch or
    /// post_unpatch for every loaded object; no transition any more.
    pub fn klp_complete_transition(&mut self) {
        let Some(tp) = self.s.klp_transition_patch else {
            return;
        };
        let target = self.s.klp_target_state;
        self.emit(|| Event::TransitionCompleting(tp, target));
        let before = self.code_in(target);
        if self.s.patch(tp).replace && target == KlpState::Patched {
            self.klp_unpatch_replaced_patches(tp);
            self.klp_discard_nops(tp);
            if self.profile(Profile::StatesApi) {
                // states-api 01/19, right after klp_discard_nops.
                self.klp_states_post_unpatch_replaced(tp);
            }
            if self.profile(Profile::Draft2018) {
                self.draft_throw_away_replaced_patches(tp);
            } else if self.profile(Profile::V5_4)
                || self.variant(Variant::B9FreeReplacedBeforePostPatch)
            {
                // 5.1-5.4 klp_discard_replaced_patches: off the list (and
                // freed) before the post_patch callbacks below.
                self.klp_free_replaced_patches_async(tp);
            }
        }
        if target == KlpState::Unpatched {
            self.klp_unpatch_objects(tp);
        }
        self.s.patch_mut(tp).transition = false;
        for t in self.s.listed_tasks_mut() {
            // The kernel WARNs if TIF is still set here; the model cannot
            // reach that (single-transition would report it).
            t.patch_state = KlpState::Idle;
        }
        if self.code_in(KlpState::Idle) != before {
            self.s.violations |= V_COMPLETION_KEEPS_CODE;
        }
        if self.profile(Profile::StatesApi) {
            // states-api 01/19: after the tasks are IDLE, before the
            // objects' callbacks.
            if target == KlpState::Patched {
                self.klp_states_post_patch(tp);
            } else {
                if self.s.patch(tp).replace {
                    self.klp_states_post_patch_replaced(tp);
                }
                self.klp_states_post_unpatch(tp);
            }
        }
        for obj in self.objects_of(tp) {
            if !self.klp_is_object_loaded(tp, obj) {
                continue;
            }
            match target {
                KlpState::Patched => self.klp_post_patch_callback(tp, obj, ModState::Live),
                _ => self.klp_post_unpatch_callback(tp, obj, ModState::Live),
            }
        }
        self.emit(|| Event::TransitionComplete(tp, target));
        if target == KlpState::Unpatched && !self.profile(Profile::Draft2018) {
            // (4.x re-enables disabled patches: only replacement retires.)
            self.retire(tp);
        }
        self.s.klp_target_state = KlpState::Idle;
        self.s.klp_transition_patch = None;
    }

    /// Monitor of completion-keeps-code: what a call of every function of
    /// a loaded object runs for a task in `patch_state` (klp_ftrace_handler),
    /// one entry per function. klp_complete_transition compares the target
    /// state's view before it with the IDLE view after it.
    fn code_in(&self, patch_state: KlpState) -> smallvec::SmallVec<[Impl; 8]> {
        (0..self.sc.funcs.len())
            .map(|f| {
                let obj = self.sc.funcs[f].obj;
                if self.s.modules_loaded & (1 << obj) == 0 {
                    Impl::Original
                } else {
                    crate::patch::klp_ftrace_handler(self.s, patch_state, f as u8)
                }
            })
            .collect()
    }

    /// Ghost: the instance's disable (or reversed enable) completed.
    fn retire(&mut self, p: PatchId) {
        if !self.s.patch(p).enabled {
            self.s.patch_mut(p).retired = true;
        }
    }

    /// transition.c:klp_cancel_transition — a failed enable: complete with
    /// target UNPATCHED before any task was switched.
    pub fn klp_cancel_transition(&mut self) {
        if self.s.klp_target_state != KlpState::Patched {
            return;
        }
        if let Some(tp) = self.s.klp_transition_patch {
            self.emit(|| Event::TransitionCancel(tp));
        }
        self.s.klp_target_state = KlpState::Unpatched;
        self.klp_complete_transition();
    }

    /// transition.c:klp_reverse_transition (6.4+ order) — clear every
    /// TIF_PATCH_PENDING, synchronize, flip `enabled` and the target, start
    /// again. No callback runs here.
    pub fn klp_reverse_transition(&mut self) {
        let Some(tp) = self.s.klp_transition_patch else {
            return;
        };
        let from = self.s.klp_target_state;
        self.emit(|| Event::TransitionReverse(tp, from));
        for t in self.s.listed_tasks_mut() {
            t.tif_patch_pending = false;
        }
        let rec = self.s.patch_mut(tp);
        rec.enabled = !rec.enabled;
        self.s.klp_target_state = from.flip();
        self.klp_start_transition();
    }

    /// transition.c:klp_force_transition — switch every pending task whatever
    /// its stack, then mark `forced` (5.18+): the patch itself when
    /// unpatching; every other listed patch (the ones about to be replaced)
    /// when patching with replace.
    pub fn klp_force_transition(&mut self) {
        let Some(tp) = self.s.klp_transition_patch else {
            return;
        };
        self.emit(|| Event::Forcing(tp));
        for task in 0..self.s.tasks.len() {
            if !self.s.tasks[task].listed() {
                continue;
            }
            self.klp_update_patch_state(task, SwitchHow::Forced);
        }
        let target = self.s.klp_target_state;
        for cpu in 0..self.s.idle_tasks.len() {
            if self.s.idle_tasks[cpu].tif_patch_pending {
                self.switch_idle(cpu, target, SwitchHow::Forced);
            }
        }
        if self.profile(Profile::Draft2018) {
            // 4.15: one global flag; no module reference is dropped again.
            self.s.klp_forced = true;
        } else if self.profile(Profile::V5_4) || self.variant(Variant::B3aForceMarksAll) {
            // 5.1-5.17: every listed patch.
            for p in self.s.klp_patches {
                self.s.patch_mut(p).forced = true;
            }
        } else if self.profile(Profile::ReplaceSet) {
            // replace-set v2 2/4: `klp_transition_patch->forced = true` when
            // unpatching, else every other patch of the same set. The RFC's
            // 1/6 had no `patch != klp_transition_patch` (Sashiko:
            // "Module reference leak during forced transition",
            // 20260514205439.925F1C2BCB7@smtp.kernel.org).
            if self.s.klp_target_state == KlpState::Unpatched {
                self.s.patch_mut(tp).forced = true;
            } else {
                for p in self.s.klp_patches {
                    let mine = p == tp && self.variant(Variant::RfcForceMarksSelf);
                    if mine || (p != tp && crate::core::same_replace_scope(self.sc, tp, p)) {
                        self.s.patch_mut(p).forced = true;
                    }
                }
            }
        } else if self.s.klp_target_state == KlpState::Unpatched {
            self.s.patch_mut(tp).forced = true;
        } else if self.s.patch(tp).replace && !self.variant(Variant::B3bForceReplaceNoException) {
            for p in self.s.klp_patches {
                if p != tp {
                    self.s.patch_mut(p).forced = true;
                }
            }
        }
        if self.variant(Variant::B4GlobalForcedFlag) {
            self.s.klp_forced = true;
        }
        // Ghost: who the kernel means to pin (the 5.18 rules).
        if self.s.klp_target_state == KlpState::Unpatched {
            self.s.patch_mut(tp).force_involved = true;
        } else if self.s.patch(tp).replace {
            // The patches about to be replaced whose code may still run
            // (in mainline every listed patch is enabled; draft-2018 also
            // replaces registered, disabled ones, which run nothing).
            // replace-set and replaceable: only the patches the replace
            // removes (same_replace_scope; always true in mainline).
            for p in self.s.klp_patches {
                if p != tp
                    && self.s.patch(p).enabled
                    && crate::core::same_replace_scope(self.sc, tp, p)
                {
                    self.s.patch_mut(p).force_involved = true;
                }
            }
        }
    }
}

/// transition.c:klp_check_stack + klp_check_stack_func — whether no frame
/// of `task` runs the code it would leave, and whether the check read past
/// the end of a func_stack. For every func of every patched object of the
/// transition patch the checked address range is: target UNPATCHED: the
/// func's own new code (the original for a nop); target PATCHED: the
/// original when the func_stack is singular, else `list_next_entry(func,
/// stack_node)`, the entry below it (only that one predecessor: see bug B1).
///
/// For the bottom entry of a func_stack with two or more entries (a
/// reversed disable of a patch that another patch stacks on), that
/// `list_next_entry` is the list head in `struct klp_ops`, read as a
/// `struct klp_func`: its `new_func`/`new_size` are whatever lies in memory
/// there, an out-of-bounds read (still so in 7.2.13). The model reports it
/// (`stack-check-in-bounds`) and lets the bogus range match no frame, as on
/// the lab's 6.1 run, where the reversal completed, or (scenario
/// `stack_check_oob: everything`, 3 of 4 boots of 7.2.13) every frame: the
/// task fails the check whatever its stack holds.
///
/// The kernel compares return addresses with `[addr, addr + size)` of
/// the function's main symbol only, so a task sleeping in a piece gcc
/// split off into `<func>.cold` or `<func>.part.N` escapes the check (the
/// lab saw an unpatching transition complete that way). The model's
/// frames name functions, not addresses: a task anywhere in a function is
/// seen, as on a real kernel whose patch keeps its sleeping code inside
/// the main symbol (the lab's module waits in a noinline helper for that).
pub fn klp_check_stack(sc: &Scenario, s: &State, task: usize) -> (bool, bool) {
    klp_check_frames(sc, s, &s.tasks[task].frames)
}

/// [`klp_check_stack`] of a stack holding `frames` (an idle task's has none
/// in a patched function, but the kernel walks the funcs for it too).
pub fn klp_check_frames(sc: &Scenario, s: &State, frames: &[crate::state::Frame]) -> (bool, bool) {
    let Some(tp) = s.klp_transition_patch else {
        return (true, false);
    };
    if sc.variant == Variant::SkipStackCheck
        || (sc.variant == Variant::B1Immediate && sc.patches[tp as usize].immediate)
    {
        // B1: immediate funcs are not checked; mutation: nothing is.
        return (true, false);
    }
    let target = s.klp_target_state;
    let mut out_of_bounds = false;
    for obj in objects_of(sc, s, tp) {
        if s.patch(tp).obj_patched & (1 << obj) == 0 {
            continue;
        }
        for f in bits(funcs_of(sc, s, tp, obj)) {
            let Some(checked) = checked_impl(sc, s, tp, f, target) else {
                out_of_bounds = true;
                if sc.stack_check_oob == crate::spec::OobRange::Everything {
                    // Every return address is inside the bogus range.
                    return (false, true);
                }
                continue;
            };
            if frames.iter().any(|fr| fr.func == f && fr.code == checked) {
                return (false, out_of_bounds);
            }
        }
    }
    (true, out_of_bounds)
}

/// The implementation klp_check_stack_func looks for on the stack, or None
/// when it reads the `klp_ops` list head as a func (see above).
///
/// Variant `fix-stack-check-last`: the fix proposed in
/// docs/findings/klp-check-stack-func-oob.md, `if
/// (list_is_last(&func->stack_node, &ops->func_stack))` instead of
/// `list_is_singular(&ops->func_stack)`: the last entry checks the original
/// function.
fn checked_impl(sc: &Scenario, s: &State, tp: PatchId, f: u8, target: KlpState) -> Option<Impl> {
    if target == KlpState::Unpatched {
        return Some(s.impl_of(tp, f));
    }
    let stack = &s.func_stacks[f as usize];
    match stack.iter().rposition(|&q| q == tp) {
        Some(i) if i > 0 => Some(s.impl_of(stack[i - 1], f)),
        Some(0) if stack.len() >= 2 && sc.variant != Variant::FixStackCheckLast => None,
        _ => Some(Impl::Original),
    }
}

/// The `busy` sets worth trying at a klp_try_complete_transition on a
/// machine with `sc.cpus` CPUs. The try runs on some CPU `k` (the command's
/// process, or the kworker of klp_transition_work), so the idle task of `k`
/// is not running; each other CPU runs either its idle task or one of the
/// tasks. A task (or idle task) that is running and not yet switched fails
/// with -EBUSY. Only the tasks the try would otherwise switch matter, so
/// the choices are those sets, without repeats; with one CPU the only
/// choice is the empty set. Which CPU a task runs on is not kept in the
/// state: it can change between any two steps (tasks sleep, wake up and
/// migrate), so every try may see a new placement.
pub fn busy_choices(sc: &Scenario, s: &State) -> smallvec::SmallVec<[u16; 8]> {
    let mut out: smallvec::SmallVec<[u16; 8]> = smallvec::SmallVec::new();
    let target = s.klp_target_state;
    let n = s.tasks.len();
    let cpus = s.idle_tasks.len();
    let mut cand_real = 0u16;
    for t in 0..n {
        if s.tasks[t].listed() && s.tasks[t].patch_state != target && klp_check_stack(sc, s, t).0 {
            cand_real |= 1 << t;
        }
    }
    // Tasks that can be running on a CPU: listed ones and exiting ones
    // (off the task list, still in do_exit); not unborn or gone slots.
    let runnable = s.tasks.iter().filter(|t| t.runs()).count();
    let mut cand_idle = 0u16;
    for c in 0..cpus {
        if s.idle_tasks[c].patch_state != target {
            cand_idle |= 1 << c;
        }
    }
    let all_cpus: u16 = (1u16 << cpus) - 1;
    for k in 0..cpus {
        let others = all_cpus & !(1 << k);
        // D: the other CPUs that run a task instead of their idle task.
        let mut d = others;
        loop {
            let nd = d.count_ones() as usize;
            if nd <= runnable {
                let idle_busy = others & !d & cand_idle;
                // R: the candidate tasks among the nd running ones; the
                // other nd - |R| running tasks must be tasks the try would
                // not switch anyway.
                let others_real = runnable - cand_real.count_ones() as usize;
                let mut r = cand_real;
                loop {
                    let nr = r.count_ones() as usize;
                    if nr <= nd && nd - nr <= others_real {
                        let b = r | idle_busy << n;
                        if !out.contains(&b) {
                            out.push(b);
                        }
                    }
                    if r == 0 {
                        break;
                    }
                    r = (r - 1) & cand_real;
                }
            }
            if d == 0 {
                break;
            }
            d = (d - 1) & others;
        }
    }
    out.sort_unstable();
    out
}
