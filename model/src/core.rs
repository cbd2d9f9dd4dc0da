//! core.c: enabling, disabling, forcing, replacing and freeing patches, and
//! the livepatch side of loading and unloading modules.

use crate::errno::{EAGAIN, EBUSY, EINVAL};
use crate::event::{Event, EventSink, ModState};
use crate::kernel::Kernel;
use crate::klp_state::klp_is_patch_compatible;
use crate::profile::{Profile, Variant};
use crate::scenario::{CallbackKind, ObjId, PatchId, VMLINUX};
use crate::state::{KlpOp, KlpState, Life, PatchRec};

/// Who started an enable: its module_init (insmod) or a sysfs write; it
/// decides what a failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnableBy {
    Insmod,
    Sysfs,
}

/// Module parameters given on insmod (the kernel's test modules read them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct InsmodParams {
    /// `replace=` of test_klp_atomic_replace / test_klp_callbacks_demo2.
    pub replace: Option<bool>,
    /// `pre_patch_ret=` of test_klp_callbacks_demo.
    pub pre_patch_ret: Option<u8>,
}

impl<E: EventSink> Kernel<'_, E> {
    /// core.c:klp_enable_patch — insmod of a livepatch module: its module_init
    /// calls this, and its return value decides whether the load succeeds.
    /// Checks compatibility (-EINVAL), takes the module reference, builds a new
    /// `struct klp_patch` (klp_init_patch: nops for a replace patch, then
    /// `list_add_tail` on klp_patches) and enables it. On failure the patch is
    /// taken off the list again and the module load fails.
    ///
    /// This step runs until the first point where a task could see the
    /// difference (see [`Self::enable_objects`]); the command goes on with
    /// `Action::Continue` steps while tasks run (`State::klp_op`), and
    /// returns after its first klp_try_complete_transition.
    pub fn klp_enable_patch(&mut self, p: PatchId, params: InsmodParams) -> Result<(), u8> {
        if self.profile(Profile::Draft2018) {
            return self.draft_insmod(p, params);
        }
        let def = &self.sc.patches[p as usize];
        // replace-set: "The non-replace model is now deprecated" (v2 2/4):
        // every patch is an atomic replace of its own set.
        let replace = self.profile(Profile::ReplaceSet) || params.replace.unwrap_or(def.replace);
        if !klp_is_patch_compatible(self.sc, self.s, p, replace) {
            self.emit(|| Event::Incompatible(p));
            self.emit(|| Event::LoadErrorPatch(p, EINVAL));
            return Err(EINVAL);
        }
        // try_module_get(patch->mod): held from here until free_work.
        self.klp_init_patch(p, params, replace, true);
        let result = self.__klp_enable_patch(p, EnableBy::Insmod);
        if let Err(errno) = result {
            // err: klp_free_patch_start + klp_free_patch_finish (module_put).
            self.undo_failed_load(p, errno);
        }
        result
    }

    /// core.c:klp_init_patch_early + klp_init_patch — a fresh `struct
    /// klp_patch` for the module's new instance: nops for a replace patch
    /// (klp_add_nops), obj->mod of loaded, klp_alive target modules
    /// (klp_find_object_module), then `list_add_tail` on klp_patches.
    fn klp_init_patch(
        &mut self,
        p: PatchId,
        params: InsmodParams,
        replace: bool,
        module_ref: bool,
    ) {
        let def = &self.sc.patches[p as usize];
        let saved = *self.s.patch(p);
        *self.s.patch_mut(p) = PatchRec {
            life: Life::Listed,
            loads: saved.loads + 1,
            module_ref,
            replace,
            pre_patch_ret: params.pre_patch_ret.unwrap_or(def.pre_patch_ret),
            replaced_by: saved.replaced_by,
            ..PatchRec::unloaded()
        };
        if replace {
            self.klp_add_nops(p);
        }
        let mut obj_mod = 0;
        for obj in self.objects_of(p) {
            if obj != VMLINUX && self.s.modules_loaded & (1 << obj) != 0 {
                obj_mod |= 1 << obj;
            }
        }
        self.s.patch_mut(p).obj_mod = obj_mod;
        self.s.klp_patches.push(p);
    }

    /// A failed module_init: the patch leaves klp_patches, the module is not
    /// loaded (the instance never counts: `loads` goes back), insmod prints
    /// the error. The failed instance's record is dropped whole; only what
    /// outlives instances (`replaced_by`) stays.
    fn undo_failed_load(&mut self, p: PatchId, errno: u8) {
        self.s.klp_patches.retain(|q| *q != p);
        let rec = self.s.patch(p);
        *self.s.patch_mut(p) = PatchRec {
            loads: rec.loads - 1,
            replaced_by: rec.replaced_by,
            ..PatchRec::unloaded()
        };
        self.emit(|| Event::LoadErrorPatch(p, errno));
    }

    /// core.c:__klp_enable_patch, up to its first step boundary — -EBUSY
    /// while a transition runs; otherwise "enabling patch",
    /// klp_init_transition, and the loop over the objects
    /// ([`Self::enable_objects`]). Everything before the first object's
    /// pre_patch is in this step: klp_init_transition only moves the tasks
    /// from IDLE to UNPATCHED, which changes what they run only for a func
    /// in transition, and none is yet.
    fn __klp_enable_patch(&mut self, p: PatchId, by: EnableBy) -> Result<(), u8> {
        if self.s.klp_transition_patch.is_some() && !self.variant(Variant::TwoTransitions) {
            return Err(EBUSY);
        }
        if self.s.patch(p).enabled {
            return Err(EINVAL);
        }
        self.emit(|| Event::Enabling(p));
        self.klp_init_transition(p, KlpState::Patched);
        if self.profile(Profile::StatesApi) {
            // states-api 01/19: `ret = klp_states_pre_patch(patch); if (ret)
            // goto err; if (patch->replace) klp_states_pre_unpatch_replaced(patch);`
            // right after klp_init_transition. The state callbacks run in
            // the same step as the first object's pre_patch: the scenarios
            // of this profile give visible effects to one or the other, not
            // both, so no task step between them is lost.
            let ret = self.klp_states_pre_patch(p);
            if ret != 0 {
                self.emit(|| Event::EnableFailed(p));
                self.klp_cancel_transition();
                return Err(ret);
            }
            if self.s.patch(p).replace {
                self.klp_states_pre_unpatch_replaced(p);
            }
        }
        self.enable_objects(p, 0, by)
    }

    /// core.c:__klp_enable_patch, the loop `klp_for_each_object: pre_patch
    /// callback, klp_patch_object`, from object `next` (obj_list order),
    /// then klp_start_transition and `patch->enabled = true`; the first
    /// klp_try_complete_transition is the command's next step
    /// (`KlpOp::FirstTry`). The first pre_patch failure cancels the
    /// transition (klp_cancel_transition) and the command fails.
    ///
    /// Step boundaries (`KlpOp::EnableObjects`): before the pre_patch of
    /// every object after the first whose callback changes what tasks see
    /// (a shadow variable or a system modification): tasks keep running
    /// the old code with the effects of the earlier objects' pre_patch and
    /// not yet of this one's. No boundary between a pre_patch and its
    /// klp_patch_object: every task is UNPATCHED and the new func is in
    /// transition, so klp_ftrace_handler keeps sending every call to the
    /// entry below it (the old code) either way. No boundary between the
    /// last klp_patch_object and klp_start_transition either: TIF_PATCH_PENDING
    /// only lets a task switch itself, and a task's switch before the first
    /// try reaches the same states as its switch by that try; the first
    /// try itself is a step of its own, so tasks run (and enter old code)
    /// between the last pre_patch and it.
    pub fn enable_objects(&mut self, p: PatchId, next: usize, by: EnableBy) -> Result<(), u8> {
        let objs = self.objects_of(p);
        for (i, &obj) in objs.iter().enumerate().skip(next) {
            if !self.klp_is_object_loaded(p, obj) {
                continue;
            }
            if i > next && self.pre_patch_visible(p, obj) {
                self.s.klp_op = Some(KlpOp::EnableObjects {
                    patch: p,
                    next: i as u8,
                    insmod: by == EnableBy::Insmod,
                });
                return Ok(());
            }
            let ret = self.klp_pre_patch_callback(p, obj, ModState::Live);
            if ret != 0 {
                self.s.klp_op = None;
                self.emit(|| Event::PrePatchFailed(p, obj));
                self.emit(|| Event::EnableFailed(p));
                self.klp_cancel_transition();
                return Err(ret);
            }
            if let Err(errno) = self.klp_patch_object_or_fail(p, obj) {
                // `pr_warn("failed to patch object ...")`; goto err: the
                // cancel gives this object post_unpatch (its pre_patch
                // succeeded, so post_unpatch_enabled is set).
                self.s.klp_op = None;
                self.emit(|| Event::PatchObjectFailed(p, obj, errno));
                self.emit(|| Event::EnableFailed(p));
                self.klp_cancel_transition();
                return Err(errno);
            }
        }
        self.klp_start_transition();
        self.s.patch_mut(p).enabled = true;
        self.s.klp_op = Some(KlpOp::FirstTry { patch: p });
        Ok(())
    }

    /// patch.c:klp_patch_object, with the scenario's ftrace failure
    /// (`patch_fails`): klp_patch_func fails and the object stays unpatched.
    fn klp_patch_object_or_fail(&mut self, p: PatchId, obj: ObjId) -> Result<(), u8> {
        let fails = self.sc.patches[p as usize]
            .object(obj)
            .map_or(0, |o| o.patch_fails);
        if fails != 0 {
            return Err(fails);
        }
        self.klp_patch_object(p, obj);
        Ok(())
    }

    /// Whether `obj`'s pre_patch callback of `p` changes what tasks see.
    fn pre_patch_visible(&self, p: PatchId, obj: ObjId) -> bool {
        self.sc.patches[p as usize]
            .object(obj)
            .and_then(|o| o.callback(CallbackKind::PrePatch))
            .is_some_and(|e| e.task_visible())
    }

    /// Whether `obj`'s pre_unpatch callback of `p` changes what tasks see.
    fn pre_unpatch_visible(&self, p: PatchId, obj: ObjId) -> bool {
        self.sc.patches[p as usize]
            .object(obj)
            .and_then(|o| o.callback(CallbackKind::PreUnpatch))
            .is_some_and(|e| e.task_visible())
    }

    /// `Action::Continue`: the next step of the livepatch command in
    /// progress (`State::klp_op`).
    pub fn klp_op_continue(&mut self, busy: u16) {
        let Some(op) = self.s.klp_op else {
            return;
        };
        match op {
            KlpOp::EnableObjects {
                patch,
                next,
                insmod,
            } => {
                let by = if insmod {
                    EnableBy::Insmod
                } else {
                    EnableBy::Sysfs
                };
                if let Err(errno) = self.enable_objects(patch, next as usize, by) {
                    self.enable_failed(patch, errno, by);
                }
            }
            KlpOp::DisableObjects { patch, next } => self.disable_objects(patch, next as usize),
            KlpOp::FirstTry { .. } => {
                // The end of __klp_enable_patch / __klp_disable_patch: the
                // command returns after this try, and klp_mutex is free.
                self.s.klp_op = None;
                self.klp_try_complete_transition(busy);
            }
        }
    }

    /// A pre_patch failure found by a later step of the command: what the
    /// command's caller does with the error (insmod: the load fails; a
    /// sysfs write: the write fails).
    fn enable_failed(&mut self, p: PatchId, errno: u8, by: EnableBy) {
        match by {
            EnableBy::Insmod => self.undo_failed_load(p, errno),
            EnableBy::Sysfs => {
                if self.profile(Profile::Draft2018) {
                    self.s.patch_mut(p).module_ref = false;
                }
                self.emit(|| Event::WriteError {
                    patch: p,
                    attr: "enabled",
                    errno,
                });
            }
        }
    }

    /// core.c:klp_add_nops + klp_add_object_nops — for every object of every
    /// patch already on klp_patches (its dynamic objects included): if the new
    /// replace patch has no object of that name, allocate a dynamic one
    /// (klp_alloc_object_dynamic), **whether or not the old object has funcs**;
    /// then add a nop for every old func the new patch does not patch. So a
    /// funcless old object (test_klp_callbacks_demo's test_klp_callbacks_mod)
    /// still gets a funcless dynamic object, which klp_module_coming applies
    /// ("applying patch ... to loading module") while the replace is in
    /// transition, and which klp_discard_nops frees when it completes (lab-06).
    fn klp_add_nops(&mut self, p: PatchId) {
        let def = &self.sc.patches[p as usize];
        let (mine, static_objs) = (def.funcs_mask, def.objs_mask);
        let (mut nops, mut dyn_objs) = (0, 0);
        for &old in &self.s.klp_patches {
            if !same_replace_scope(self.sc, p, old) {
                // replace-set: `if (patch->replace_set != old_patch->replace_set)
                // continue;`; replaceable: `if (!old_patch->replaceable) continue;`.
                continue;
            }
            nops |= self.all_funcs_of(old) & !mine;
            for obj in self.objects_of(old) {
                dyn_objs |= (1 << obj) & !static_objs;
            }
        }
        let rec = self.s.patch_mut(p);
        rec.nops = nops;
        rec.dyn_objs = dyn_objs;
    }

    /// core.c:enabled_store — `echo 0|1 > /sys/kernel/livepatch/P/enabled`:
    /// -EINVAL for the current value; reverse the transition of the
    /// transition patch; disable on 0; -EINVAL for re-enabling (since 5.1).
    pub fn enabled_store(&mut self, p: PatchId, enabled: bool) -> Result<(), u8> {
        let result = if self.s.patch(p).enabled == enabled {
            Err(EINVAL)
        } else if self.profile(Profile::StatesApi)
            && self.s.patch(p).enabled
            && crate::klp_state::klp_patch_disable_blocked(self.sc, p)
        {
            // states-api 04/19: "The livepatch '%s' does not support
            // disable", before the reversal: a patching transition of such
            // a patch cannot be reversed either.
            Err(EINVAL)
        } else if self.s.klp_transition_patch == Some(p) {
            self.klp_reverse_transition();
            Ok(())
        } else if self.profile(Profile::Draft2018) {
            // 4.x: sysfs enables and disables registered patches.
            if enabled {
                self.draft_enable(p)
            } else {
                self.draft_disable(p)
            }
        } else if !enabled {
            self.__klp_disable_patch(p)
        } else if self.variant(Variant::ReenableReplaced) {
            // Mutation: the pre-5.1 re-enable, on an instance that was
            // replaced or disabled.
            self.__klp_enable_patch(p, EnableBy::Sysfs)
        } else {
            Err(EINVAL)
        };
        if let Err(errno) = result {
            self.emit(|| Event::WriteError {
                patch: p,
                attr: "enabled",
                errno,
            });
        }
        result
    }

    /// core.c:__klp_disable_patch — -EBUSY while a transition runs; otherwise
    /// init the unpatching transition and go through the patched objects'
    /// pre_unpatch callbacks ([`Self::disable_objects`]).
    fn __klp_disable_patch(&mut self, p: PatchId) -> Result<(), u8> {
        if !self.s.patch(p).enabled {
            return Err(EINVAL);
        }
        if self.s.klp_transition_patch.is_some() && !self.variant(Variant::TwoTransitions) {
            return Err(EBUSY);
        }
        self.klp_init_transition(p, KlpState::Unpatched);
        if self.profile(Profile::StatesApi) {
            // states-api 01/19: klp_states_pre_unpatch(patch) after
            // klp_init_transition, before the objects' pre_unpatch.
            self.klp_states_pre_unpatch(p);
        }
        self.disable_objects(p, 0);
        Ok(())
    }

    /// core.c:__klp_disable_patch, the loop `klp_for_each_object: if
    /// (obj->patched) klp_pre_unpatch_callback(obj)` from object `next`,
    /// then klp_start_transition and `patch->enabled = false`; the first
    /// klp_try_complete_transition is the command's next step. Boundaries
    /// as in [`Self::enable_objects`]: before every later pre_unpatch that
    /// changes what tasks see (every task is PATCHED and keeps running the
    /// patch's code meanwhile).
    pub fn disable_objects(&mut self, p: PatchId, next: usize) {
        let objs = self.objects_of(p);
        for (i, &obj) in objs.iter().enumerate().skip(next) {
            if self.s.patch(p).obj_patched & (1 << obj) == 0 {
                continue;
            }
            if i > next && self.pre_unpatch_visible(p, obj) {
                self.s.klp_op = Some(KlpOp::DisableObjects {
                    patch: p,
                    next: i as u8,
                });
                return;
            }
            self.klp_pre_unpatch_callback(p, obj, ModState::Live);
        }
        self.klp_start_transition();
        self.s.patch_mut(p).enabled = false;
        self.s.klp_op = Some(KlpOp::FirstTry { patch: p });
    }

    /// core.c:force_store — `echo 1 > .../force`: -EINVAL unless `p` is the
    /// transition patch; otherwise klp_force_transition.
    pub fn force_store(&mut self, p: PatchId) -> Result<(), u8> {
        if self.s.klp_transition_patch != Some(p) {
            self.emit(|| Event::WriteError {
                patch: p,
                attr: "force",
                errno: EINVAL,
            });
            return Err(EINVAL);
        }
        self.klp_force_transition();
        Ok(())
    }

    /// core.c:klp_unpatch_replaced_patches — every patch in front of `new`
    /// loses `enabled` and its funcs, with no callback.
    pub fn klp_unpatch_replaced_patches(&mut self, new: PatchId) {
        for old in self.s.klp_patches {
            if old == new {
                break;
            }
            if !same_replace_scope(self.sc, new, old) {
                continue;
            }
            self.s.patch_mut(old).enabled = false;
            if self.variant(Variant::ReplacedUnpatchCallbacks) {
                // Mutation: the old patch is "disabled" through its callbacks.
                for obj in self.objects_of(old) {
                    if self.s.patch(old).obj_patched & (1 << obj) != 0 {
                        self.klp_pre_unpatch_callback(old, obj, ModState::Live);
                    }
                }
                self.klp_unpatch_objects(old);
                for obj in self.objects_of(old) {
                    if self.klp_is_object_loaded(old, obj) {
                        self.klp_post_unpatch_callback(old, obj, ModState::Live);
                    }
                }
            } else {
                self.klp_unpatch_objects(old);
            }
            let rec = self.s.patch_mut(old);
            rec.retired = true;
            rec.replaced = true;
            rec.replaced_by |= 1 << new;
        }
    }

    /// core.c:klp_discard_nops — pop the nops, free the dynamic objects.
    pub fn klp_discard_nops(&mut self, p: PatchId) {
        if !self.variant(Variant::KeepNops) {
            self.klp_unpatch_nops(p);
        }
    }

    /// core.c:klp_free_patch_async — `list_del` from klp_patches now, the
    /// rest (sysfs removal, module_put) in `free_work` later.
    pub fn klp_free_patch_async(&mut self, p: PatchId) {
        self.s.klp_patches.retain(|q| *q != p);
        let rec = self.s.patch_mut(p);
        rec.life = Life::Freeing;
        rec.obj_mod = 0;
    }

    /// core.c:klp_free_replaced_patches_async — free every patch in front
    /// of `new` on klp_patches (the ones klp_unpatch_replaced_patches
    /// unpatched); patches after it (a reversed disable of an older replace
    /// patch) stay.
    pub fn klp_free_replaced_patches_async(&mut self, new: PatchId) {
        for old in self.s.klp_patches {
            if old == new {
                return;
            }
            if !same_replace_scope(self.sc, new, old) {
                continue;
            }
            self.klp_free_patch_async(old);
        }
    }

    /// core.c:klp_free_patch_finish (the `free_work`) — the sysfs directory
    /// goes away and the module reference is dropped unless the patch was
    /// forced.
    pub fn klp_free_patch_finish(&mut self, p: PatchId) {
        let pinned = (self.s.patch(p).forced || self.s.klp_forced)
            && !self.variant(Variant::ForcedModulePut);
        let rec = self.s.patch_mut(p);
        rec.life = Life::Freed;
        let module_put = !pinned;
        if module_put {
            rec.module_ref = false;
        }
        self.emit(|| Event::PatchFreed {
            patch: p,
            module_put,
        });
    }

    /// kernel/module: `rmmod` of a livepatch module — only when its
    /// refcount is 0: the patch was freed and not forced. Then module_exit
    /// runs (whatever the author put there) and the module is gone.
    /// Otherwise delete_module fails in kernel/module/main.c:try_stop_module
    /// with **-EWOULDBLOCK** (= -EAGAIN, "Resource temporarily unavailable";
    /// the lab's rmmod of a pinned module shows EAGAIN), not -EBUSY: -EBUSY
    /// is only for a module other modules depend on, or one not LIVE.
    pub fn rmmod_livepatch(&mut self, p: PatchId) -> Result<(), u8> {
        if self.sc.patches[p as usize].no_module_exit {
            // delete_module: `if (mod->init && !mod->exit) ... ret = -EBUSY`,
            // checked before the refcount.
            self.emit(|| Event::UnloadErrorPatch(p, EBUSY));
            return Err(EBUSY);
        }
        if self.s.patch(p).module_ref {
            self.emit(|| Event::UnloadErrorPatch(p, EAGAIN));
            return Err(EAGAIN);
        }
        let exit = self.sc.patches[p as usize].module_exit.clone();
        self.run_effects(p, None, &exit);
        if self.profile(Profile::Draft2018) {
            self.draft_unregister(p);
        }
        if self.variant(Variant::B12RmmodFreesShadow) {
            // B12: module_exit calls klp_shadow_free_all() for every id its
            // code uses.
            let def = &self.sc.patches[p as usize];
            let used = def
                .objects
                .iter()
                .flat_map(|o| o.funcs.iter())
                .fold(0u64, |m, (_, c)| m | c.uses_shadow | c.allocates_shadow);
            let mut ids = 0u64;
            for v in crate::kernel::bits(used) {
                ids |= self.sc.shadow_ids_mask(&self.sc.shadow_vars[v as usize].id);
            }
            for v in crate::kernel::bits(ids) {
                self.klp_shadow_free(v);
            }
        }
        let rec = self.s.patch_mut(p);
        rec.life = Life::Unloaded;
        rec.enabled = false;
        rec.nops = 0;
        rec.dyn_objs = 0;
        rec.obj_patched = 0;
        rec.obj_mod = 0;
        rec.post_unpatch_enabled = 0;
        rec.cb_open = 0;
        self.emit(|| Event::ModuleGone(p));
        Ok(())
    }

    /// core.c:klp_module_coming — a target module loads: for every patch on
    /// klp_patches (in order) with an object for it: set obj->mod, pre_patch,
    /// patch the object, and post_patch unless the patch is in transition
    /// (completion runs that). A failing pre_patch refuses the module and
    /// undoes the patches before it. Then the module's init runs.
    pub fn klp_module_coming(&mut self, m: ObjId) -> Result<(), u8> {
        self.in_module_notifier = true;
        self.s.modules_loaded |= 1 << m;
        let mut failed = None;
        for p in self.s.klp_patches {
            if !self.objects_of(p).contains(&m) {
                continue;
            }
            self.s.patch_mut(p).obj_mod |= 1 << m;
            if self.profile(Profile::Draft2018)
                && !self.s.patch(p).enabled
                && self.s.klp_transition_patch != Some(p)
            {
                // 4.x: "Only patch the module if the patch is enabled or is
                // in transition" (a registered, disabled patch).
                continue;
            }
            self.emit(|| Event::ModuleApply(p, m));
            let ret = self.klp_pre_patch_callback(p, m, ModState::Coming);
            if ret != 0 {
                self.emit(|| Event::PrePatchFailed(p, m));
                failed = Some((p, ret));
                break;
            }
            if let Err(errno) = self.klp_patch_object_or_fail(p, m) {
                // "failed to apply patch ... to module ..."; the pre_patch
                // succeeded, so the object gets its post_unpatch now.
                self.emit(|| Event::PatchObjectFailed(p, m, errno));
                self.klp_post_unpatch_callback(p, m, ModState::Coming);
                failed = Some((p, errno));
                break;
            }
            if self.s.klp_transition_patch != Some(p) {
                self.klp_post_patch_callback(p, m, ModState::Coming);
            }
        }
        let result = match failed {
            None if self.sc.objects[m as usize].init_fails != 0 => {
                // kernel/module/main.c:do_init_module: the module's own init
                // failed after the COMING notifiers: the GOING notifiers and
                // klp_module_going run, with GOING callbacks.
                let errno = self.sc.objects[m as usize].init_fails;
                self.s.modules_loaded &= !(1 << m);
                self.klp_cleanup_module_patches_limited(m, None, ModState::Going);
                self.emit(|| Event::LoadErrorModule(m, errno));
                Err(errno)
            }
            None => {
                if self.sc.objects[m as usize].logs {
                    self.emit(|| Event::ModInit(m));
                }
                Ok(())
            }
            Some((p, ret)) => {
                self.emit(|| Event::ModuleRefused(p, m));
                self.s.modules_loaded &= !(1 << m);
                if !self.variant(Variant::B5ComingKeepsObjMod) {
                    self.s.patch_mut(p).obj_mod &= !(1 << m);
                }
                if !self.variant(Variant::B6ComingNoCleanup) {
                    self.klp_cleanup_module_patches_limited(m, Some(p), ModState::Coming);
                }
                self.emit(|| Event::LoadErrorModule(m, ret));
                Err(ret)
            }
        };
        self.in_module_notifier = false;
        result
    }

    /// core.c:klp_module_going — a target module unloads: its exit function
    /// has run; klp_alive is cleared and every patch is reverted on it.
    pub fn klp_module_going(&mut self, m: ObjId) {
        self.in_module_notifier = true;
        if self.sc.objects[m as usize].logs {
            self.emit(|| Event::ModExit(m));
        }
        self.s.modules_loaded &= !(1 << m);
        self.klp_cleanup_module_patches_limited(m, None, ModState::Going);
        self.emit(|| Event::TargetGone(m));
        self.in_module_notifier = false;
    }

    /// core.c:klp_cleanup_module_patches_limited — for each patch before
    /// `limit` with an object for `m`: pre_unpatch (not for the transition
    /// patch), unpatch, post_unpatch (gated), forget obj->mod.
    fn klp_cleanup_module_patches_limited(
        &mut self,
        m: ObjId,
        limit: Option<PatchId>,
        ms: ModState,
    ) {
        for p in self.s.klp_patches {
            if Some(p) == limit {
                break;
            }
            if !self.objects_of(p).contains(&m) {
                continue;
            }
            let active = self.s.patch(p).enabled || self.s.klp_transition_patch == Some(p);
            if active || !self.profile(Profile::Draft2018) {
                if self.s.klp_transition_patch != Some(p) {
                    self.klp_pre_unpatch_callback(p, m, ms);
                }
                self.emit(|| Event::ModuleRevert(p, m));
                self.klp_unpatch_object(p, m);
                self.klp_post_unpatch_callback(p, m, ms);
            }
            // klp_free_object_loaded
            self.s.patch_mut(p).obj_mod &= !(1 << m);
        }
    }

    /// Whether a task runs code of target module `m` (its exit would wait).
    pub fn module_code_in_use(&self, m: ObjId) -> bool {
        let funcs = self.sc.object_funcs_mask(m);
        self.s
            .tasks
            .iter()
            .any(|t| t.frames.iter().any(|f| funcs & (1 << f.func) != 0))
    }
}

/// Whether an atomic replace by `new` replaces the listed patch `old`:
/// always in mainline. replace-set (v2 2/4, 20260529034542.68766-3-laoar.shao@gmail.com):
/// `old_patch->replace_set == new_patch->replace_set`, or (the v3 knob,
/// https://www.mail-archive.com/live-patching@vger.kernel.org/msg00612.html)
/// a set `new` overrides. replaceable (RFC 4/4,
/// 20260402092607.96430-5-laoar.shao@gmail.com): `old_patch->replaceable`.
/// The filter of klp_add_nops, klp_unpatch_replaced_patches and
/// klp_free_replaced_patches_async (and, in replace-set, of
/// klp_force_transition and klp_is_patch_compatible).
pub fn same_replace_scope(sc: &crate::scenario::Scenario, new: PatchId, old: PatchId) -> bool {
    let (n, o) = (&sc.patches[new as usize], &sc.patches[old as usize]);
    match sc.profile {
        Profile::ReplaceSet => {
            o.replace_set == n.replace_set || n.override_replace_sets.contains(&o.replace_set)
        }
        Profile::Replaceable => o.replaceable,
        _ => true,
    }
}

/// draft-2018: the v7 atomic-replace series on the 4.15 API (registration,
/// sysfs enable and disable with the stacking order, klp_replaced_patches).
impl<E: EventSink> Kernel<'_, E> {
    /// module_init of a 4.x livepatch module: `klp_register_patch` (nops
    /// for a replace patch are added at registration, for every registered
    /// patch, enabled or not), then `klp_enable_patch`; if enabling fails the
    /// module unregisters the patch and the load fails.
    pub fn draft_insmod(&mut self, p: PatchId, params: InsmodParams) -> Result<(), u8> {
        let replace = params
            .replace
            .unwrap_or(self.sc.patches[p as usize].replace);
        // The module reference is taken by klp_enable_patch in 4.x.
        self.klp_init_patch(p, params, replace, false);
        // WARN_ON(klp_unregister_patch(&patch)) when enabling fails.
        let result = self.draft_enable_by(p, EnableBy::Insmod);
        if let Err(errno) = result {
            self.undo_failed_load(p, errno);
        }
        result
    }

    /// core.c:klp_enable_patch (4.15 + v7): -EINVAL for a replaced patch
    /// (klp_is_patch_usable) or an enabled one; -EBUSY during a transition;
    /// the stacking rule: only the first disabled patch above the enabled
    /// ones may be enabled (-EBUSY), except a replace patch; then the module
    /// reference is taken and the patch enabled as in mainline.
    pub fn draft_enable(&mut self, p: PatchId) -> Result<(), u8> {
        self.draft_enable_by(p, EnableBy::Sysfs)
    }

    fn draft_enable_by(&mut self, p: PatchId, by: EnableBy) -> Result<(), u8> {
        let rec = self.s.patch(p);
        if rec.life != Life::Listed || rec.enabled {
            return Err(EINVAL);
        }
        if self.s.klp_transition_patch.is_some() && !self.variant(Variant::TwoTransitions) {
            return Err(EBUSY);
        }
        let pos = self.s.list_pos(p).unwrap_or(0);
        if pos > 0 && !self.s.patch(self.s.klp_patches[pos - 1]).enabled && !rec.replace {
            return Err(EBUSY);
        }
        self.s.patch_mut(p).module_ref = true;
        let result = self.__klp_enable_patch(p, by);
        if result.is_err() {
            self.s.patch_mut(p).module_ref = false;
        }
        result
    }

    /// core.c:klp_disable_patch (4.15): -EINVAL unless enabled, -EBUSY during
    /// a transition, and the stacking rule: only the last enabled patch may
    /// be disabled (-EBUSY when the next one on the list is enabled).
    pub fn draft_disable(&mut self, p: PatchId) -> Result<(), u8> {
        if !self.s.patch(p).enabled {
            return Err(EINVAL);
        }
        let pos = self.s.list_pos(p).unwrap_or(0);
        if let Some(&next) = self.s.klp_patches.get(pos + 1) {
            if self.s.patch(next).enabled {
                return Err(EBUSY);
            }
        }
        self.__klp_disable_patch(p)
    }

    /// v7 klp_throw_away_replaced_patches: every patch in front of `new`,
    /// enabled or only registered, moves to klp_replaced_patches; the
    /// enabled ones drop their module reference unless a transition was
    /// forced (the 4.15 global klp_forced).
    pub fn draft_throw_away_replaced_patches(&mut self, new: PatchId) {
        for old in self.s.klp_patches {
            if old == new {
                break;
            }
            let keep_module = self.s.klp_forced;
            let rec = self.s.patch_mut(old);
            rec.life = Life::Replaced;
            // Off klp_patches, the module notifiers no longer see it; the
            // model forgets its objects' modules here (whether the v7 code
            // left obj->mod dangling is not modelled).
            rec.obj_mod = 0;
            if !keep_module {
                rec.module_ref = false;
            }
        }
        let replaced: Vec<PatchId> = self
            .s
            .klp_patches
            .iter()
            .copied()
            .take_while(|&q| q != new)
            .collect();
        self.s.klp_patches.retain(|q| !replaced.contains(q));
    }

    /// module_exit of a 4.x livepatch module: klp_unregister_patch (only a
    /// disabled patch; rmmod already needs the module reference gone).
    pub fn draft_unregister(&mut self, p: PatchId) {
        self.s.klp_patches.retain(|q| *q != p);
    }
}

#[cfg(test)]
mod tests {
    use crate::state::Life;
    use crate::{parse_spec, Action, InsmodParams, KlpModel, Scenario, State};

    /// P1 patches vmlinux:f and has a funcless object for module `m` (like
    /// test_klp_callbacks_demo's test_klp_callbacks_mod); P2 is a replace
    /// patch of vmlinux only (like test_klp_callbacks_demo2 with replace=1).
    fn model() -> KlpModel {
        let spec = parse_spec(
            r#"{
            "spec_version": 1,
            "objects": {"vmlinux": {"funcs": ["f"]}, "m": {"funcs": [], "logs": true}},
            "patches": {
              "P1": {"objects": {"vmlinux": {"funcs": {"f": {}}},
                                 "m": {"callbacks": {"pre_patch": {}, "post_patch": {}}}}},
              "P2": {"replace": true, "objects": {"vmlinux": {}}}
            },
            "tasks": {"count": 1, "entry": ["f"]}
        }"#,
        )
        .unwrap();
        KlpModel::new(Scenario::compile(&spec, "unit").unwrap())
    }

    fn run(m: &KlpModel, s: &State, actions: &[Action]) -> (State, Vec<String>) {
        let mut s = s.clone();
        let mut out = Vec::new();
        for a in actions {
            let (next, events) = m.step_command(&s, a);
            out.extend(events.iter().map(|e| e.oracle(&m.sc)));
            s = next;
        }
        (s, out)
    }

    /// core.c:klp_add_object_nops allocates a dynamic object for every object
    /// of an older patch that the replace patch lacks, funcless ones too, so
    /// klp_module_coming applies the replace patch to that module while the
    /// replace is in transition (no callbacks: a dynamic object has none);
    /// klp_discard_nops frees it, so the module's later unload reverts
    /// nothing for it (lab-06 on 6.1).
    #[test]
    fn funcless_object_gets_a_dynamic_object_until_the_replace_completes() {
        let m = model();
        let f = m.sc.func_by_name("f").unwrap();
        let obj = m.sc.object_by_name("m").unwrap();
        let p2 = m.sc.patch_by_name("P2").unwrap();
        let (s, _) = run(
            &m,
            &m.boot(),
            &[
                Action::Insmod(0, InsmodParams::default()),
                // The task sleeps in P1's f: P2's nop for f cannot switch it.
                Action::Call { task: 0, func: f },
                Action::Insmod(p2, InsmodParams::default()),
            ],
        );
        assert_eq!(s.klp_transition_patch, Some(p2));
        assert_ne!(s.patch(p2).dyn_objs & (1 << obj), 0);
        let (s, events) = run(&m, &s, &[Action::LoadModule(obj)]);
        assert_eq!(
            events,
            [
                "module_apply(P1,m)",
                "pre_patch(P1,m,COMING)",
                "post_patch(P1,m,COMING)",
                "module_apply(P2,m)",
                "mod_init(m)",
            ]
        );
        let (s, _) = run(
            &m,
            &s,
            &[
                Action::Return { task: 0 },
                Action::TransitionWork { busy: 0 },
            ],
        );
        assert_eq!(s.klp_transition_patch, None);
        assert_eq!(s.patch(p2).dyn_objs, 0);
        let (_, events) = run(&m, &s, &[Action::UnloadModule(obj)]);
        assert_eq!(events, ["mod_exit(m)", "module_gone(m)"]);
    }

    /// kernel/module/main.c:try_stop_module: delete_module of a module whose
    /// refcount is not 0 fails with -EWOULDBLOCK (EAGAIN): while the patch is
    /// enabled, and for good once it was forced.
    #[test]
    fn rmmod_of_a_livepatch_module_in_use_is_eagain() {
        let m = model();
        let f = m.sc.func_by_name("f").unwrap();
        let (s, events) = run(
            &m,
            &m.boot(),
            &[Action::Insmod(0, InsmodParams::default()), Action::Rmmod(0)],
        );
        assert_eq!(events.last().unwrap(), "unload_error(P1,EAGAIN)");
        assert_eq!(s.patch(0).life, Life::Listed);
        // Disable with the task inside P1's f, force, free: pinned.
        let (s, events) = run(
            &m,
            &s,
            &[
                Action::Call { task: 0, func: f },
                Action::WriteEnabled(0, false),
                Action::WriteForce(0),
                Action::TransitionWork { busy: 0 },
                Action::FreeWork(0),
                Action::Return { task: 0 },
                Action::Rmmod(0),
            ],
        );
        assert!(events.contains(&"forcing(P1)".to_string()));
        assert!(events.contains(&"patch_freed(P1,forced)".to_string()));
        assert_eq!(events.last().unwrap(), "unload_error(P1,EAGAIN)");
        assert_eq!(s.patch(0).life, Life::Freed);
        assert!(s.patch(0).forced);
    }
}
