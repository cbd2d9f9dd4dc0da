//! state.c: system state ids and versions (v5.5+).

use crate::event::{Event, EventSink};
use crate::kernel::Kernel;
use crate::profile::Profile;
use crate::scenario::{CallbackKind, PatchId, Scenario};
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
    match sc.profile {
        Profile::ReplaceSet => return replace_set_compatible(sc, listed, p),
        Profile::StatesApi => return states_api_compatible(sc, listed, p, replace),
        _ => {}
    }
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

/// replace-set profile: state.c:klp_is_patch_compatible of replace_set v2
/// ("[PATCH v2 2/4] livepatch: Support scoped atomic replace using
/// replace_set", Message-Id 20260529034542.68766-3-laoar.shao@gmail.com).
/// For every listed patch: one of the same set (or of a set the new patch
/// overrides, the v3 knob) must have every state with a version at least
/// as high (klp_is_state_compatible); one of another set must not use any
/// of its state ids ("Two livepatches with a different "replace_set" must
/// _not_ use the same "state->id"") and must not patch a function the new
/// patch patches ("Refuse loading a livepatch which would want to modify a
/// function which is already livepatched with the livepatch with another
/// "replace_set""; klp_find_func over the old patch's objects, so its nops
/// count too).
fn replace_set_compatible(sc: &Scenario, listed: &[PatchId], p: PatchId) -> bool {
    let new = &sc.patches[p as usize];
    listed.iter().all(|&old| {
        let o = &sc.patches[old as usize];
        if crate::core::same_replace_scope(sc, p, old) {
            o.states
                .iter()
                .all(|&(id, version)| new.state_version(id).is_some_and(|v| v >= version))
        } else {
            o.states
                .iter()
                .all(|&(id, _)| new.state_version(id).is_none())
                && o.funcs_mask & new.funcs_mask == 0
        }
    })
}

/// states-api profile: state.c:klp_is_patch_compatible of 04/19
/// (https://lore.kernel.org/live-patching/20250115082431.5550-5-pmladek@suse.com/):
/// "Non-cumulative patches are always compatible"; a replace patch is
/// refused only when it lacks a state that blocks disable
/// (`if (!state && old_state->block_disable) return false;`); the version
/// is no longer compared ("The "version" field ... has been replaced with
/// the "block_disable" flag").
fn states_api_compatible(sc: &Scenario, listed: &[PatchId], p: PatchId, replace: bool) -> bool {
    if !replace {
        return true;
    }
    let new = &sc.patches[p as usize];
    listed.iter().all(|&old| {
        sc.patches[old as usize]
            .state_defs
            .iter()
            .all(|d| !d.block_disable || new.state_version(d.id).is_some())
    })
}

/// states-api 04/19 state.c:klp_patch_disable_blocked — some state of `p`
/// has `block_disable`.
pub fn klp_patch_disable_blocked(sc: &Scenario, p: PatchId) -> bool {
    sc.patches[p as usize]
        .state_defs
        .iter()
        .any(|d| d.block_disable)
}

/// The per-state callbacks of the states API ("[PATCH v1 01/19]
/// livepatch: Add callbacks for introducing and removing states",
/// re-posted as RFC 2/6, https://lore.kernel.org/live-patching/20260513143321.26185-3-laoar.shao@gmail.com/,
/// and 02/19 for `is_shadow`). Profile `states-api` only. The state
/// callbacks do not feed the only-new-callbacks and callback-pairing
/// monitors: running a replaced patch's state callbacks is the proposal's
/// rule, not a slip.
impl<E: EventSink> Kernel<'_, E> {
    /// state.c:is_state_in_other_patches — some patch on klp_patches other
    /// than `p` carries state `id` (enabled or not: the code "just checks
    /// whether the state is used in other enabled livepatches", Petr,
    /// https://lore.kernel.org/live-patching/Z9gE1B__mP6F0b9N@pathway.suse.cz/,
    /// and klp_patches also holds the patches a replace is about to free).
    fn is_state_in_other_patches(&self, p: PatchId, id: u64) -> bool {
        self.s
            .klp_patches
            .iter()
            .any(|&q| q != p && self.sc.patches[q as usize].state_version(id).is_some())
    }

    /// Runs one state callback of `p`'s state `i`; returns its errno.
    fn state_callback(&mut self, p: PatchId, i: usize, kind: CallbackKind) -> u8 {
        let def = &self.sc.patches[p as usize].state_defs[i];
        let (id, Some(eff)) = (def.id, def.callbacks[kind as usize].clone()) else {
            return 0;
        };
        if eff.log && E::ENABLED {
            let name = &self.sc.patches[p as usize].name;
            self.ev
                .push(Event::Custom(format!("state_{}({name},{id})", kind.name())));
        }
        self.run_effects(p, None, &eff)
    }

    /// state.c:klp_states_pre_patch — for every state of `p` that no other
    /// listed patch has, its pre_patch; the first failure returns its
    /// errno. `pre_patch_succeeded` is set for every state before the
    /// failing one, called or not.
    pub fn klp_states_pre_patch(&mut self, p: PatchId) -> u8 {
        for i in 0..self.sc.patches[p as usize].state_defs.len() {
            let id = self.sc.patches[p as usize].state_defs[i].id;
            if !self.is_state_in_other_patches(p, id) {
                let err = self.state_callback(p, i, CallbackKind::PrePatch);
                if err != 0 {
                    return err;
                }
            }
            self.s.patch_mut(p).state_pre_patch_ok |= 1 << i;
        }
        0
    }

    /// state.c:klp_states_post_patch — post_patch of every state of `p`
    /// that no other listed patch has.
    pub fn klp_states_post_patch(&mut self, p: PatchId) {
        for i in 0..self.sc.patches[p as usize].state_defs.len() {
            let id = self.sc.patches[p as usize].state_defs[i].id;
            if !self.is_state_in_other_patches(p, id) {
                self.state_callback(p, i, CallbackKind::PostPatch);
            }
        }
    }

    /// state.c:klp_states_pre_unpatch — pre_unpatch of every state of `p`
    /// that no other listed patch has.
    pub fn klp_states_pre_unpatch(&mut self, p: PatchId) {
        for i in 0..self.sc.patches[p as usize].state_defs.len() {
            let id = self.sc.patches[p as usize].state_defs[i].id;
            if !self.is_state_in_other_patches(p, id) {
                self.state_callback(p, i, CallbackKind::PreUnpatch);
            }
        }
    }

    /// state.c:klp_states_post_unpatch — for every state of `p` that no
    /// other listed patch has and whose pre_patch succeeded: post_unpatch,
    /// then (02/19) `if (state->is_shadow) klp_shadow_free_all(state->id,
    /// ...)`, and `pre_patch_succeeded = 0`.
    pub fn klp_states_post_unpatch(&mut self, p: PatchId) {
        for i in 0..self.sc.patches[p as usize].state_defs.len() {
            let (id, shadow) = {
                let d = &self.sc.patches[p as usize].state_defs[i];
                (d.id, d.shadow_mask)
            };
            if self.is_state_in_other_patches(p, id)
                || self.s.patch(p).state_pre_patch_ok & (1 << i) == 0
            {
                continue;
            }
            self.state_callback(p, i, CallbackKind::PostUnpatch);
            for v in crate::kernel::bits(shadow) {
                self.klp_shadow_free(v);
            }
            self.s.patch_mut(p).state_pre_patch_ok &= !(1 << i);
        }
    }

    /// state.c:klp_states_pre_unpatch_replaced — pre_unpatch states of
    /// every listed patch but `p` (all of klp_patches, not only those in
    /// front of `p`), then set the static flag.
    pub fn klp_states_pre_unpatch_replaced(&mut self, p: PatchId) {
        for old in self.s.klp_patches {
            if old != p {
                self.klp_states_pre_unpatch(old);
            }
        }
        self.s.klp_states_pre_unpatch_replaced_called = true;
    }

    /// state.c:klp_states_post_unpatch_replaced — post_unpatch states of
    /// every listed patch but `p`: `klp_for_each_patch(old_patch) if
    /// (old_patch != patch)`, with no stop at `p` (klp_unpatch_replaced_patches
    /// stops there), so after a reversed disable of an older replace patch
    /// the patches after it get their post_unpatch too. Clears the flag.
    pub fn klp_states_post_unpatch_replaced(&mut self, p: PatchId) {
        for old in self.s.klp_patches {
            if old != p {
                self.klp_states_post_unpatch(old);
            }
        }
        self.s.klp_states_pre_unpatch_replaced_called = false;
    }

    /// state.c:klp_states_post_patch_replaced — a replace that was
    /// cancelled or reversed: if the replaced patches' pre_unpatch state
    /// callbacks ran, their post_patch runs again. Clears the flag.
    pub fn klp_states_post_patch_replaced(&mut self, p: PatchId) {
        if !self.s.klp_states_pre_unpatch_replaced_called {
            return;
        }
        for old in self.s.klp_patches {
            if old != p {
                self.klp_states_post_patch(old);
            }
        }
        self.s.klp_states_pre_unpatch_replaced_called = false;
    }
}
