//! core.h: the callback helpers, and the effects a scenario gives callbacks.
//! The two callback monitors (callback-pairing, only-new-callbacks) watch
//! every callback that runs, here.

use crate::event::{Event, EventSink, ModState};
use crate::kernel::{bits, Kernel};
use crate::properties::{V_CALLBACK_PAIRING, V_ONLY_NEW_CALLBACKS};
use crate::scenario::{CallbackKind, Effects, ObjId, PatchId, Ret, VMLINUX};
use crate::state::KlpState;

impl<E: EventSink> Kernel<'_, E> {
    /// The module state a test callback prints: none for vmlinux.
    fn mod_state(&self, obj: ObjId, ms: ModState) -> Option<ModState> {
        (obj != VMLINUX).then_some(ms)
    }

    /// core.h:klp_pre_patch_callback — run pre_patch (if any) and set
    /// `post_unpatch_enabled = (ret == 0)`. Returns the errno (0 = success).
    pub fn klp_pre_patch_callback(&mut self, p: PatchId, obj: ObjId, ms: ModState) -> u8 {
        let ret = match self.callback_effects(p, obj, CallbackKind::PrePatch) {
            Some(eff) => {
                self.watch_callback(p, obj, CallbackKind::PrePatch);
                self.run_effects(
                    p,
                    Some((obj, CallbackKind::PrePatch, self.mod_state(obj, ms))),
                    &eff,
                )
            }
            None => 0,
        };
        let bit = 1u64 << obj;
        let rec = self.s.patch_mut(p);
        if ret == 0 {
            rec.post_unpatch_enabled |= bit;
            // Monitor: a second successful pre_patch without post_unpatch between.
            if rec.cb_open & bit != 0 {
                self.s.violations |= V_CALLBACK_PAIRING;
            }
            self.s.patch_mut(p).cb_open |= bit;
        } else {
            rec.post_unpatch_enabled &= !bit;
        }
        ret
    }

    /// core.h:klp_post_patch_callback.
    pub fn klp_post_patch_callback(&mut self, p: PatchId, obj: ObjId, ms: ModState) {
        if let Some(eff) = self.callback_effects(p, obj, CallbackKind::PostPatch) {
            self.watch_callback(p, obj, CallbackKind::PostPatch);
            if self.s.patch(p).cb_open & (1 << obj) == 0 {
                self.s.violations |= V_CALLBACK_PAIRING;
            }
            self.run_effects(
                p,
                Some((obj, CallbackKind::PostPatch, self.mod_state(obj, ms))),
                &eff,
            );
        }
    }

    /// core.h:klp_pre_unpatch_callback.
    pub fn klp_pre_unpatch_callback(&mut self, p: PatchId, obj: ObjId, ms: ModState) {
        if let Some(eff) = self.callback_effects(p, obj, CallbackKind::PreUnpatch) {
            self.watch_callback(p, obj, CallbackKind::PreUnpatch);
            let patching = self.s.klp_transition_patch == Some(p)
                && self.s.klp_target_state == KlpState::Patched;
            if self.s.patch(p).obj_patched & (1 << obj) == 0 || patching {
                self.s.violations |= V_CALLBACK_PAIRING;
            }
            self.run_effects(
                p,
                Some((obj, CallbackKind::PreUnpatch, self.mod_state(obj, ms))),
                &eff,
            );
        }
    }

    /// core.h:klp_post_unpatch_callback — runs only if `post_unpatch_enabled`,
    /// then clears it.
    pub fn klp_post_unpatch_callback(&mut self, p: PatchId, obj: ObjId, ms: ModState) {
        let bit = 1u64 << obj;
        let ungated = self.variant(crate::profile::Variant::PostUnpatchUngated);
        if self.s.patch(p).post_unpatch_enabled & bit != 0 || ungated {
            if let Some(eff) = self.callback_effects(p, obj, CallbackKind::PostUnpatch) {
                self.watch_callback(p, obj, CallbackKind::PostUnpatch);
                if self.s.patch(p).cb_open & bit == 0 {
                    self.s.violations |= V_CALLBACK_PAIRING;
                }
                self.run_effects(
                    p,
                    Some((obj, CallbackKind::PostUnpatch, self.mod_state(obj, ms))),
                    &eff,
                );
            }
            self.s.patch_mut(p).cb_open &= !bit;
        }
        self.s.patch_mut(p).post_unpatch_enabled &= !bit;
    }

    fn callback_effects(&self, p: PatchId, obj: ObjId, kind: CallbackKind) -> Option<Effects> {
        self.sc.patches[p as usize]
            .object(obj)
            .and_then(|o| o.callback(kind))
            .cloned()
    }

    /// Monitor of only-new-callbacks: during a replace transition only the
    /// transition patch's callbacks run (except in the module notifiers), and a
    /// replaced patch never runs a callback again.
    fn watch_callback(&mut self, p: PatchId, _obj: ObjId, _kind: CallbackKind) {
        if let Some(tp) = self.s.klp_transition_patch {
            if tp != p && self.s.patch(tp).replace && !self.in_module_notifier {
                self.s.violations |= V_ONLY_NEW_CALLBACKS;
            }
        }
        if self.s.patch(p).replaced {
            self.s.violations |= V_ONLY_NEW_CALLBACKS;
        }
    }

    /// Runs a callback's (or module_exit's) effects in order: its log line,
    /// extra log lines, shadow variables, system modifications, the
    /// klp_get_prev_state branch; returns the errno for pre_patch.
    pub fn run_effects(
        &mut self,
        p: PatchId,
        callback: Option<(ObjId, CallbackKind, Option<ModState>)>,
        eff: &Effects,
    ) -> u8 {
        if eff.log {
            if let Some((obj, kind, mod_state)) = callback {
                self.emit(|| Event::Callback {
                    patch: p,
                    obj,
                    kind,
                    mod_state,
                });
            }
        }
        if E::ENABLED {
            let name = &self.sc.patches[p as usize].name;
            for line in &eff.emit {
                let text = line.replace("{patch}", name);
                self.ev.push(Event::Custom(text));
            }
        }
        for v in bits(eff.shadow_alloc) {
            self.klp_shadow_alloc(v);
        }
        for v in bits(eff.shadow_get_or_alloc) {
            self.klp_shadow_get_or_alloc(v);
        }
        for v in bits(eff.shadow_free | eff.shadow_free_all) {
            self.klp_shadow_free(v);
        }
        for m in bits(eff.set & !self.s.sysmods) {
            self.s.sysmods |= 1 << m;
            self.emit(|| Event::SysmodSet(m));
        }
        for m in bits(eff.clear & self.s.sysmods) {
            self.s.sysmods &= !(1 << m);
            self.emit(|| Event::SysmodCleared(m));
        }
        let mut ret = match eff.ret {
            Ret::Zero => 0,
            Ret::Errno(e) => e,
            Ret::Param => self.s.patch(p).pre_patch_ret,
        };
        if let Some(cond) = &eff.if_prev_state {
            let (id, min_version, then, otherwise) = &**cond;
            let branch = if self
                .klp_get_prev_state(*id)
                .is_some_and(|v| v >= *min_version)
            {
                then
            } else {
                otherwise
            };
            let r = self.run_effects(p, callback, branch);
            if ret == 0 {
                ret = r;
            }
        }
        ret
    }
}
