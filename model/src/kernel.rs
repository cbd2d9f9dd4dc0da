//! The kernel's livepatch code as a context that one step runs in.
//!
//! A step is one atomic kernel operation (everything the kernel does under
//! `klp_mutex` for one sysfs write, one insmod, one run of the transition
//! work...), or one step of one task. Each operation lives in the module named
//! after its kernel file: `core` (core.c), `transition` (transition.c),
//! `patch` (patch.c), `callbacks` (core.h), `shadow` (shadow.c),
//! `klp_state` (state.c), `task` (entry code and the tasks themselves).

use crate::event::{Event, EventSink};
use crate::scenario::{ObjId, PatchId, Scenario, VMLINUX};
use crate::state::State;

/// One step's view of the system: the scenario (read-only), the state being
/// changed, and where events go.
pub struct Kernel<'a, E: EventSink> {
    pub sc: &'a Scenario,
    pub s: &'a mut State,
    pub ev: &'a mut E,
    /// Inside klp_module_coming/klp_module_going: the only place where a
    /// non-transition patch's callbacks may run during a replace transition.
    pub in_module_notifier: bool,
}

impl<'a, E: EventSink> Kernel<'a, E> {
    pub fn new(sc: &'a Scenario, s: &'a mut State, ev: &'a mut E) -> Self {
        Kernel {
            sc,
            s,
            ev,
            in_module_notifier: false,
        }
    }

    /// Whether the scenario runs with variant `v`.
    #[inline]
    pub fn variant(&self, v: crate::profile::Variant) -> bool {
        self.sc.variant == v
    }

    /// Whether the scenario runs under profile `p`.
    #[inline]
    pub fn profile(&self, p: crate::profile::Profile) -> bool {
        self.sc.profile == p
    }

    #[inline]
    pub fn emit(&mut self, make: impl FnOnce() -> Event) {
        if E::ENABLED {
            self.ev.push(make());
        }
    }

    /// core.h:klp_is_object_loaded — vmlinux, or a module object whose
    /// `obj->mod` is set.
    pub fn klp_is_object_loaded(&self, p: PatchId, obj: ObjId) -> bool {
        obj == VMLINUX || self.s.patch(p).obj_mod & (1 << obj) != 0
    }

    /// The objects of `p` in `obj_list` order (see [`objects_of`]).
    pub fn objects_of(&self, p: PatchId) -> ObjList {
        objects_of(self.sc, self.s, p)
    }

    /// The funcs of `p` in `obj` (static funcs and nops), as a bit set.
    pub fn funcs_of(&self, p: PatchId, obj: ObjId) -> u64 {
        funcs_of(self.sc, self.s, p, obj)
    }

    /// All funcs of `p` (static and nops).
    pub fn all_funcs_of(&self, p: PatchId) -> u64 {
        all_funcs_of(self.sc, self.s, p)
    }
}

/// A patch's objects in `obj_list` order (inline: no allocation on the hot
/// path).
pub type ObjList = smallvec::SmallVec<[ObjId; 8]>;

/// Iterates the set bits of a u64, lowest first.
pub fn bits(mut mask: u64) -> impl Iterator<Item = u8> {
    std::iter::from_fn(move || {
        if mask == 0 {
            None
        } else {
            let b = mask.trailing_zeros() as u8;
            mask &= mask - 1;
            Some(b)
        }
    })
}

/// The objects of `p` in `obj_list` order: the static objects, then the
/// dynamic objects that klp_add_nops allocated (in object order; they have no
/// callbacks, so their relative order is not observable).
pub fn objects_of(sc: &Scenario, s: &State, p: PatchId) -> ObjList {
    let def = &sc.patches[p as usize];
    let mut objs: ObjList = def.objects.iter().map(|o| o.obj).collect();
    objs.extend(bits(s.patch(p).dyn_objs & !def.objs_mask));
    objs
}

/// The funcs of `p` in `obj` (static funcs and nops), as a bit set.
pub fn funcs_of(sc: &Scenario, s: &State, p: PatchId, obj: ObjId) -> u64 {
    all_funcs_of(sc, s, p) & sc.object_funcs_mask(obj)
}

/// All funcs of `p` (static and nops).
pub fn all_funcs_of(sc: &Scenario, s: &State, p: PatchId) -> u64 {
    sc.patches[p as usize].funcs_mask | s.patch(p).nops
}
