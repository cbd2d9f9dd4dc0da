//! shadow.c: shadow variables, keyed by (parent, id). The model keeps only
//! whether each declared variable exists: its data is the author's business.

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
            self.emit(|| Event::ShadowCreated(v));
        }
    }

    /// shadow.c:klp_shadow_get_or_alloc — create it unless it exists.
    pub fn klp_shadow_get_or_alloc(&mut self, v: u8) {
        if self.s.shadow & (1 << v) == 0 {
            self.s.shadow |= 1 << v;
            self.emit(|| Event::ShadowCreated(v));
        }
    }

    /// shadow.c:klp_shadow_free (and each variable of klp_shadow_free_all) —
    /// remove it if it exists; nothing otherwise.
    pub fn klp_shadow_free(&mut self, v: u8) {
        if self.s.shadow & (1 << v) != 0 {
            self.s.shadow &= !(1 << v);
            self.emit(|| Event::ShadowFreed(v));
        }
    }
}
