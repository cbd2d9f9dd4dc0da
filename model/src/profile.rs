//! Semantic profiles (kernel eras) and variants (injected bugs and rule
//! mutations). Names are stable strings: scenario files and `--profile` /
//! `--variant` use them, and `klpcheck list` prints them.

/// Which kernel's rules the model follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Profile {
    /// Current mainline (v6.13+ core.c, 6.4+ transition.c).
    #[default]
    Mainline,
    /// 5.1 to 5.4: replaced patches are freed before the new patch's
    /// post_patch; `force` marks every listed patch forced.
    V5_4,
    /// The seed's v7 atomic-replace draft (Feb 2018): separate registration,
    /// stacking order enforced except for replace, replaced patches kept on a
    /// list and never enabled again.
    Draft2018,
    /// Proposal: replace_set v2 (Yafang Shao, "[PATCH v2 0/4] livepatch:
    /// Introduce replace set support", 29 May 2026,
    /// https://lore.kernel.org/live-patching/20260529034542.68766-1-laoar.shao@gmail.com/),
    /// code of 2/4 (Message-Id 20260529034542.68766-3-laoar.shao@gmail.com):
    /// every patch replaces the patches of its own `replace_set` (klp_add_nops,
    /// klp_unpatch_replaced_patches, klp_free_replaced_patches_async,
    /// klp_force_transition filter on the set); klp_is_patch_compatible
    /// refuses a patch that shares a function or a state id with a patch of
    /// another set. The v3 option `override_replace_sets` is a patch field;
    /// the RFC's force rule is the variant `rfc-force-marks-self`.
    ReplaceSet,
    /// Proposal: the states API (Petr Mladek, "[PATCH v1 00/19] livepatch:
    /// Better integrate callbacks and shadow variables with the states API",
    /// 15 Jan 2025, https://lore.kernel.org/live-patching/20250115082431.5550-1-pmladek@suse.com/):
    /// per-state callbacks gated by is_state_in_other_patches (01/19),
    /// `is_shadow` (02/19), `block_disable` (04/19), on mainline otherwise.
    StatesApi,
    /// Proposal: `replaceable` (Yafang Shao, "[RFC PATCH 4/4] livepatch:
    /// Implement livepatch hybrid mode", 2 Apr 2026, Message-Id
    /// 20260402092607.96430-5-laoar.shao@gmail.com): klp_add_nops,
    /// klp_unpatch_replaced_patches and klp_free_replaced_patches_async
    /// skip a patch with `replaceable = 0`; mainline otherwise.
    Replaceable,
}

impl Profile {
    pub const ALL: &'static [Profile] = &[
        Profile::Mainline,
        Profile::V5_4,
        Profile::Draft2018,
        Profile::ReplaceSet,
        Profile::StatesApi,
        Profile::Replaceable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Mainline => "mainline",
            Profile::V5_4 => "v5.4",
            Profile::Draft2018 => "draft-2018",
            Profile::ReplaceSet => "replace-set",
            Profile::StatesApi => "states-api",
            Profile::Replaceable => "replaceable",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Profile::Mainline => {
                "current kernel: klp_enable_patch from module_init, no stacking order, replaced \
                 patches kept until after post_patch (5.5), force marks only removed patches (5.18)"
            }
            Profile::V5_4 => {
                "5.1-5.4: as mainline, but klp_discard_replaced_patches frees replaced patches \
                 before the new patch's post_patch (klp_get_prev_state no longer sees them) and \
                 force marks every listed patch forced"
            }
            Profile::Draft2018 => {
                "v7 atomic-replace draft (Feb 2018, the seed): insmod registers (klp_register_patch), \
                 sysfs enables and disables; stacking enforced (-EBUSY) except that a replace patch \
                 may be enabled over disabled ones; replaced patches (enabled or not) move to \
                 klp_replaced_patches, are never enabled again, can be unregistered"
            }
            Profile::ReplaceSet => {
                "proposal replace_set v2 (20260529034542.68766-1-laoar.shao@gmail.com): every patch \
                 atomically replaces the patches of its replace_set (and of its \
                 override_replace_sets, the v3 knob); a patch sharing a function or a state id \
                 with another set is refused (-EINVAL); force marks the other patches of the set"
            }
            Profile::StatesApi => {
                "proposal states API v1 (20250115082431.5550-1-pmladek@suse.com): per-state \
                 pre/post (un)patch callbacks run only when no other listed patch has the state; \
                 is_shadow frees the state's shadow variables with it; block_disable refuses \
                 disable and replace patches without the state"
            }
            Profile::Replaceable => {
                "proposal replaceable (hybrid mode RFC 4/4, 20260402092607.96430-5-laoar.shao@gmail.com): \
                 an atomic replace adds no nops for, does not unpatch and does not free a patch \
                 with replaceable = 0; force is unchanged"
            }
        }
    }

    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::ALL.iter().copied().find(|p| p.name() == name)
    }
}

/// A deliberate deviation from the profile's rules, to show that the checker
/// catches it: the historic bugs of kernel-semantics.md section 8 and single
/// mutations of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Variant {
    /// The profile's rules, unchanged.
    #[default]
    None,
    B1Immediate,
    B3aForceMarksAll,
    B3bForceReplaceNoException,
    B4GlobalForcedFlag,
    B5ComingKeepsObjMod,
    B6ComingNoCleanup,
    B9FreeReplacedBeforePostPatch,
    B12RmmodFreesShadow,
    ReplacedUnpatchCallbacks,
    ReenableReplaced,
    SkipStackCheck,
    KeepNops,
    ForcedModulePut,
    TwoTransitions,
    PostUnpatchUngated,
    RfcForceMarksSelf,
    FixStackCheckLast,
}

impl Variant {
    pub const ALL: &'static [Variant] = &[
        Variant::None,
        Variant::B1Immediate,
        Variant::B3aForceMarksAll,
        Variant::B3bForceReplaceNoException,
        Variant::B4GlobalForcedFlag,
        Variant::B5ComingKeepsObjMod,
        Variant::B6ComingNoCleanup,
        Variant::B9FreeReplacedBeforePostPatch,
        Variant::B12RmmodFreesShadow,
        Variant::ReplacedUnpatchCallbacks,
        Variant::ReenableReplaced,
        Variant::SkipStackCheck,
        Variant::KeepNops,
        Variant::ForcedModulePut,
        Variant::TwoTransitions,
        Variant::PostUnpatchUngated,
        Variant::RfcForceMarksSelf,
        Variant::FixStackCheckLast,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::None => "none",
            Variant::B1Immediate => "b1-immediate",
            Variant::B3aForceMarksAll => "b3a-force-marks-all",
            Variant::B3bForceReplaceNoException => "b3b-force-replace-no-exception",
            Variant::B4GlobalForcedFlag => "b4-global-forced-flag",
            Variant::B5ComingKeepsObjMod => "b5-coming-keeps-obj-mod",
            Variant::B6ComingNoCleanup => "b6-coming-no-cleanup",
            Variant::B9FreeReplacedBeforePostPatch => "b9-free-replaced-before-post-patch",
            Variant::B12RmmodFreesShadow => "b12-rmmod-frees-shadow",
            Variant::ReplacedUnpatchCallbacks => "replaced-unpatch-callbacks",
            Variant::ReenableReplaced => "reenable-replaced",
            Variant::SkipStackCheck => "skip-stack-check",
            Variant::KeepNops => "keep-nops",
            Variant::ForcedModulePut => "forced-module-put",
            Variant::TwoTransitions => "two-transitions",
            Variant::PostUnpatchUngated => "post-unpatch-ungated",
            Variant::RfcForceMarksSelf => "rfc-force-marks-self",
            Variant::FixStackCheckLast => "fix-stack-check-last",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Variant::None => "the profile's rules, unchanged",
            Variant::B1Immediate => {
                "B1 'livepatch: Remove immediate feature' (v4.16): funcs of patches marked `immediate` \
                 skip the stack check, and klp_check_stack_func looks one entry down only"
            }
            Variant::B3aForceMarksAll => {
                "B3a 'Don't block removal of patches that are safe to unload' (v5.18): force marks \
                 every listed patch forced, so unrelated modules stay pinned"
            }
            Variant::B3bForceReplaceNoException => {
                "B3b: the 5.18 fix without its replace exception: a forced replace does not mark the \
                 replaced patches, whose modules can then go while forced tasks run their code"
            }
            Variant::B4GlobalForcedFlag => {
                "B4 'Don't block the removal of patches loaded after a forced transition' (5.1): one \
                 forced transition blocks the module_put of every patch, later ones included"
            }
            Variant::B5ComingKeepsObjMod => {
                "B5 'Nullify obj->mod in klp_module_coming()'s error path' (v5.4): a refused module \
                 leaves obj->mod set, so klp_is_object_loaded lies"
            }
            Variant::B6ComingNoCleanup => {
                "B6 (v4.15, klp_cleanup_module_patches_limited): a refused module is not unpatched \
                 by the patches that already patched it"
            }
            Variant::B9FreeReplacedBeforePostPatch => {
                "B9 'Keep replaced patches until post_patch callback is called' (v5.5): replaced \
                 patches leave klp_patches before post_patch, so klp_get_prev_state misses them"
            }
            Variant::B12RmmodFreesShadow => {
                "B12 (cumulative-patches.rst, Limitations): module_exit of a livepatch frees every \
                 shadow variable its code uses (klp_shadow_free_all)"
            }
            Variant::ReplacedUnpatchCallbacks => {
                "mutation: klp_unpatch_replaced_patches runs the replaced patches' pre_unpatch and \
                 post_unpatch"
            }
            Variant::ReenableReplaced => "mutation: enabled_store lets 1 re-enable a replaced or disabled patch",
            Variant::SkipStackCheck => "mutation: klp_check_stack always passes",
            Variant::KeepNops => "mutation: klp_discard_nops is skipped when a replace completes",
            Variant::ForcedModulePut => {
                "mutation: klp_free_patch_finish drops the module reference of a forced patch"
            }
            Variant::TwoTransitions => {
                "mutation: __klp_enable_patch/__klp_disable_patch do not return -EBUSY during a transition"
            }
            Variant::PostUnpatchUngated => {
                "mutation: klp_post_unpatch_callback ignores post_unpatch_enabled"
            }
            Variant::RfcForceMarksSelf => {
                "replace_set RFC 1/6 (20260513143321.26185-2-laoar.shao@gmail.com): with profile \
                 replace-set, klp_force_transition of a patching transition marks every patch of \
                 the set forced, the transition patch itself included (Sashiko review, \
                 20260514205439.925F1C2BCB7@smtp.kernel.org)"
            }
            Variant::FixStackCheckLast => {
                "proposed fix (docs/findings/klp-check-stack-func-oob.md): klp_check_stack_func tests \
                 list_is_last(&func->stack_node, &ops->func_stack) instead of list_is_singular, so \
                 the last func of a func_stack checks the original function"
            }
        }
    }

    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.iter().copied().find(|v| v.name() == name)
    }
}
