//! shadow.c: shadow variables, keyed by (parent, id). The model keeps only
//! whether each declared variable was never allocated, is live, or was
//! freed after being live (`State::shadow`, `State::shadow_freed`): its
//! data is the author's business.

use crate::event::{Event, EventSink};
use crate::kernel::Kernel;

impl<E: EventSink> Kernel<'_, E> {
    /// shadow.c:klp_shadow_alloc — WARN "Duplicate shadow variable" and
    /// return NULL if it exists; otherwise create it (the ctor runs once).
    pub fn klp_shadow_alloc(&mut self, v: u8) {
        if self.s.shadow & (1 << v) != 0 {
            // WARN(1, "Duplicate shadow variable ...").
            self.s.violations |= crate::properties::V_KERNEL_WARNING;
            self.emit(|| Event::ShadowDuplicate(v));
        } else {
            self.s.shadow |= 1 << v;
            self.s.shadow_freed &= !(1 << v);
            self.emit(|| Event::ShadowCreated(v));
        }
    }

    /// shadow.c:klp_shadow_get_or_alloc — create it unless it exists.
    pub fn klp_shadow_get_or_alloc(&mut self, v: u8) {
        if self.s.shadow & (1 << v) == 0 {
            self.s.shadow |= 1 << v;
            self.s.shadow_freed &= !(1 << v);
            self.emit(|| Event::ShadowCreated(v));
        }
    }

    /// shadow.c:klp_shadow_free (and each variable of klp_shadow_free_all) —
    /// remove it if it exists (it is then freed, not never-allocated);
    /// nothing otherwise.
    pub fn klp_shadow_free(&mut self, v: u8) {
        if self.s.shadow & (1 << v) != 0 {
            self.s.shadow &= !(1 << v);
            self.s.shadow_freed |= 1 << v;
            self.emit(|| Event::ShadowFreed(v));
        }
    }

    /// shadow.c:klp_shadow_free called by patched code on entry for the
    /// object it runs on (`frees_shadow`, e.g. the samples' dummy_free):
    /// the variable is no longer live, but it is not "freed" either: the
    /// model has one variable for every parent object, and the code only
    /// freed its own object's copy, which it consumed itself; another
    /// object's NULL-checked get finds its own copy or none, never data
    /// destroyed under it. "Freed" is left to frees that destroy every
    /// object's copy from outside the code (callbacks, `module_exit`,
    /// `klp_shadow_free_all`, an is_shadow state's removal).
    pub fn klp_shadow_free_own(&mut self, v: u8) {
        if self.s.shadow & (1 << v) != 0 {
            self.s.shadow &= !(1 << v);
            self.emit(|| Event::ShadowFreed(v));
        }
    }
}
