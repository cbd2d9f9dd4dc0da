//! state.c: system state ids and versions (v5.5+).

use crate::event::EventSink;
use crate::kernel::Kernel;
use crate::scenario::{PatchId, Scenario};
use crate::state::State;

impl<E: EventSink> Kernel<'_, E> {
    /// state.c:klp_get_prev_state — during a transition, the version of
    /// state `id` in the last patch in front of `klp_transition_patch` on
    /// `klp_patches` that carries it (the kernel returns that `struct
    /// klp_state`; `None` for NULL). Outside a transition,
    /// `WARN_ON_ONCE(!klp_transition_patch)`: a kernel WARNING
    /// (`no-kernel-warning`), and NULL. That happens, e.g., in a module
    /// object's callback run by klp_module_coming after the patch's own
    /// transition completed (the audit's 6.1 run e3 printed it).
    ///
    /// `klp_get_state(patch, id)`, a callback's read of its own patch's
    /// state, needs no branch: it is the patch's static `struct klp_state`
    /// (`Patch::state_version`), so a scenario writes its effect directly.
    pub fn klp_get_prev_state(&mut self, id: u64) -> Option<u32> {
        let Some(tp) = self.s.klp_transition_patch else {
            self.s.violations |= crate::properties::V_KERNEL_WARNING;
            self.emit(|| crate::event::Event::KernelWarning("state.c:klp_get_prev_state"));
            return None;
        };
        self.s
            .klp_patches
            .iter()
            .take_while(|&&p| p != tp)
            .filter_map(|&p| self.sc.patches[p as usize].state_version(id))
            .last()
    }
}

/// state.c:klp_is_patch_compatible — for every state of every patch on
/// `klp_patches`, the new patch must carry it with a version at least as
/// high; a non-replace patch may lack it (klp_is_state_compatible).
pub fn klp_is_patch_compatible(sc: &Scenario, s: &State, p: PatchId, replace: bool) -> bool {
    klp_is_patch_compatible_with(sc, &s.klp_patches, p, replace)
}

/// klp_is_patch_compatible against the patches `listed` (in list order).
pub fn klp_is_patch_compatible_with(
    sc: &Scenario,
    listed: &[PatchId],
    p: PatchId,
    replace: bool,
) -> bool {
    if matches!(
        sc.profile,
        crate::profile::Profile::Draft2018 | crate::profile::Profile::V5_4
    ) {
        // klp_state and klp_is_patch_compatible came in 5.5 ("livepatch:
        // Basic API to track system state changes"): 4.x and 5.1-5.4 load
        // any patch.
        return true;
    }
    let new = &sc.patches[p as usize];
    listed.iter().all(|&old| {
        sc.patches[old as usize]
            .states
            .iter()
            .all(|&(id, version)| match new.state_version(id) {
                None => !replace,
                Some(v) => v >= version,
            })
    })
}
