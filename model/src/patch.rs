//! patch.c: func stacks (`struct klp_ops`) and the ftrace handler.

use crate::event::EventSink;
use crate::kernel::{bits, Kernel};
use crate::scenario::{FuncId, ObjId, PatchId};
use crate::state::{Impl, KlpState, State};

impl<E: EventSink> Kernel<'_, E> {
    /// patch.c:klp_patch_object — push every func of `p` in `obj` (static and
    /// nops) on the head of its func_stack and mark the object patched.
    /// Ftrace registration failures (-EBUSY with ftrace_enabled=0 or an
    /// IPMODIFY kprobe) are not modelled: no property depends on them.
    pub fn klp_patch_object(&mut self, p: PatchId, obj: ObjId) {
        let rec = self.s.patch(p);
        if rec.obj_patched & (1 << obj) != 0 {
            return;
        }
        for f in bits(self.funcs_of(p, obj)) {
            self.s.func_stacks[f as usize].push(p);
        }
        self.s.patch_mut(p).obj_patched |= 1 << obj;
    }

    /// patch.c:klp_unpatch_object — remove `p`'s funcs in `obj` from their
    /// func_stacks (from the middle too: any enabled patch may be disabled
    /// since 5.1); an empty stack means the ftrace ops is unregistered.
    pub fn klp_unpatch_object(&mut self, p: PatchId, obj: ObjId) {
        self.unpatch_funcs(p, obj, self.funcs_of(p, obj));
        self.s.patch_mut(p).obj_patched &= !(1 << obj);
    }

    fn unpatch_funcs(&mut self, p: PatchId, obj: ObjId, funcs: u64) {
        if self.s.patch(p).obj_patched & (1 << obj) == 0 {
            return;
        }
        for f in bits(funcs) {
            let stack = &mut self.s.func_stacks[f as usize];
            if let Some(i) = stack.iter().rposition(|&q| q == p) {
                stack.remove(i);
            }
        }
    }

    /// patch.c:klp_unpatch_objects — every object of `p`.
    pub fn klp_unpatch_objects(&mut self, p: PatchId) {
        for obj in self.objects_of(p) {
            self.klp_unpatch_object(p, obj);
        }
    }

    /// patch.c:klp_unpatch_objects_dynamic + core.c:klp_free_objects_dynamic —
    /// pop the nops and free every dynamic object (`__klp_free_objects` with
    /// `nops_only`: a dynamic object goes whether or not it had nops), so a
    /// module unloaded after the replace completed gets no "reverting patch"
    /// line for it (klp_discard_nops).
    pub fn klp_unpatch_nops(&mut self, p: PatchId) {
        let nops = self.s.patch(p).nops;
        let dyn_objs = self.s.patch(p).dyn_objs & !self.sc.patches[p as usize].objs_mask;
        for obj in self.objects_of(p) {
            self.unpatch_funcs(p, obj, nops & self.sc.object_funcs_mask(obj));
            if dyn_objs & (1 << obj) != 0 {
                let rec = self.s.patch_mut(p);
                rec.obj_patched &= !(1 << obj);
                rec.obj_mod &= !(1 << obj);
                rec.post_unpatch_enabled &= !(1 << obj);
                rec.cb_open &= !(1 << obj);
            }
        }
        let rec = self.s.patch_mut(p);
        rec.nops = 0;
        rec.dyn_objs = 0;
    }
}

/// patch.c:klp_ftrace_handler — the implementation a call of `f` by a task in
/// `patch_state` runs: the head of the func_stack; while the head func is in
/// transition, an UNPATCHED task takes the entry below it (or the original
/// when there is none); a nop runs the original.
pub fn klp_ftrace_handler(s: &State, patch_state: KlpState, f: FuncId) -> Impl {
    let stack = &s.func_stacks[f as usize];
    let Some(&top) = stack.last() else {
        return Impl::Original;
    };
    let mut chosen = top;
    if s.patch(top).transition && patch_state == KlpState::Unpatched {
        match stack.len() {
            1 => return Impl::Original,
            n => chosen = stack[n - 2],
        }
    }
    s.impl_of(chosen, f)
}
