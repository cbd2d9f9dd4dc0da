//! The properties, by stable id (design.md "Properties"). Each is a predicate
//! over one state; the three that are about steps rather than states
//! (callback order, replace results) are watched by monitors in the step
//! function, which set a ghost bit in `State::violations`.

use crate::kernel::{all_funcs_of, funcs_of, objects_of};
use crate::patch::klp_ftrace_handler;
use crate::scenario::Scenario;
use crate::state::{Impl, KlpState, Life, State};

/// Ghost bits of `State::violations`.
pub const V_ONLY_NEW_CALLBACKS: u32 = 1 << 0;
pub const V_CALLBACK_PAIRING: u32 = 1 << 1;
pub const V_REPLACE_LEAVES_ONLY_NEW: u32 = 1 << 2;
/// A step printed a kernel WARNING (TAINT_WARN; a panic with panic_on_warn).
pub const V_KERNEL_WARNING: u32 = 1 << 3;
/// klp_check_stack_func read past the end of a func_stack.
pub const V_STACK_CHECK_IN_BOUNDS: u32 = 1 << 4;
/// klp_complete_transition changed what a call of some function runs for
/// the tasks that were already in the target state.
pub const V_COMPLETION_KEEPS_CODE: u32 = 1 << 5;

/// stateright's three kinds of property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Always,
    Sometimes,
    Eventually,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Always => "always",
            Kind::Sometimes => "sometimes",
            Kind::Eventually => "eventually",
        }
    }
}

/// One property: id, kind, meaning, and its predicate (for `always`: must
/// hold in every state; for `sometimes`: must hold in some state).
pub struct PropertyInfo {
    pub id: &'static str,
    pub kind: Kind,
    pub meaning: &'static str,
    pub check: fn(&Scenario, &State) -> bool,
}

/// Every property the model checks, in report order.
pub const PROPERTIES: &[PropertyInfo] = &[
    PropertyInfo {
        id: "single-transition",
        kind: Kind::Always,
        meaning: "at most one patch in transition; when none, every task is IDLE with TIF_PATCH_PENDING clear",
        check: single_transition,
    },
    PropertyInfo {
        id: "consistent-universe",
        kind: Kind::Always,
        meaning: "while a patch is in transition, every frame in a function it touches runs what klp_ftrace_handler would choose now for that task (tasks on the task list: an exiting task off it is never switched, and what it runs is checked by no-dangling-code and no-kernel-warning)",
        check: consistent_universe,
    },
    PropertyInfo {
        id: "only-new-callbacks",
        kind: Kind::Always,
        meaning: "an atomic replace runs no callback of another patch (module notifiers aside), and a replaced patch never runs a callback again",
        check: only_new_callbacks,
    },
    PropertyInfo {
        id: "callback-pairing",
        kind: Kind::Always,
        meaning: "post_patch/post_unpatch only after a successful pre_patch not yet closed; pre_unpatch only on a patched object outside a patching transition",
        check: callback_pairing,
    },
    PropertyInfo {
        id: "replaced-never-reenabled",
        kind: Kind::Always,
        meaning: "a replaced patch instance, or one whose disable completed, is never enabled again",
        check: replaced_never_reenabled,
    },
    PropertyInfo {
        id: "replace-leaves-only-new",
        kind: Kind::Always,
        meaning: "right after a replace completes: klp_patches is [new] (replace-set, replaceable: no patch the replace removes is left), no nop remains, functions it does not patch have empty func_stacks",
        check: replace_leaves_only_new,
    },
    PropertyInfo {
        id: "stack-well-formed",
        kind: Kind::Always,
        meaning: "a func is on its func_stack iff its object is patched; stacks hold listed patches in klp_patches order",
        check: stack_well_formed,
    },
    PropertyInfo {
        id: "no-dangling-code",
        kind: Kind::Always,
        meaning: "no task runs, and no func_stack holds, code of an unloaded livepatch module or of an unloaded target module; obj->mod only for loaded modules",
        check: no_dangling_code,
    },
    PropertyInfo {
        id: "forced-module-pinned",
        kind: Kind::Always,
        meaning: "the module of a forced patch is never unloaded",
        check: forced_module_pinned,
    },
    PropertyInfo {
        id: "states-compatible",
        kind: Kind::Always,
        meaning: "the enabled patches satisfy klp_is_patch_compatible pairwise in enable order",
        check: states_compatible,
    },
    PropertyInfo {
        id: "shadow-no-use-after-free",
        kind: Kind::Always,
        meaning: "patched code that uses a shadow variable never runs while the variable does not exist, and code that gets it NULL-checked (uses_shadow_if_present) never runs after it was freed",
        check: shadow_no_use_after_free,
    },
    PropertyInfo {
        id: "code-requirements-met",
        kind: Kind::Always,
        meaning: "patched code runs only while the system modifications it needs are set and those it conflicts with are clear",
        check: code_requirements_met,
    },
    PropertyInfo {
        id: "no-kernel-warning",
        kind: Kind::Always,
        meaning: "no step makes the kernel print a WARNING (klp_get_prev_state outside a transition, a duplicate klp_shadow_alloc): TAINT_WARN, a panic under panic_on_warn",
        check: no_kernel_warning,
    },
    PropertyInfo {
        id: "stack-check-in-bounds",
        kind: Kind::Always,
        meaning: "klp_check_stack_func never reads a func_stack entry that does not exist (list_next_entry past the bottom reads the klp_ops list head as a klp_func)",
        check: stack_check_in_bounds,
    },
    PropertyInfo {
        id: "completion-keeps-code",
        kind: Kind::Always,
        meaning: "completing a transition redirects no call: every function runs for an IDLE task after klp_complete_transition what it ran for a task in the target state before (Petr Mladek's consistency argument against replaceable, Z5eYzcF5JLR4o5Yl@pathway.suse.cz)",
        check: completion_keeps_code,
    },
    PropertyInfo {
        id: "state-shadow-owned",
        kind: Kind::Always,
        meaning: "a shadow variable tied to an is_shadow state (its id is the state id) exists only while some patch on klp_patches has that state (states API 02/19, 20250115082431.5550-3-pmladek@suse.com)",
        check: state_shadow_owned,
    },
    PropertyInfo {
        id: "one-active-per-set",
        kind: Kind::Always,
        meaning: "replace-set: besides the transition patch, at most one enabled patch per replace_set (\"Only one livepatch within a given replace_set can be active at a time\", 20260529034542.68766-1-laoar.shao@gmail.com); holds trivially under other profiles",
        check: one_active_per_set,
    },
    PropertyInfo {
        id: "shadow-single-set",
        kind: Kind::Always,
        meaning: "replace-set: no shadow variable id is used by loaded patches of two replace_sets (\"developers must assign unique shadow IDs\", 20260529034542.68766-3-laoar.shao@gmail.com; not enforced); holds trivially under other profiles",
        check: shadow_single_set,
    },
    PropertyInfo {
        id: "replace-completes",
        kind: Kind::Sometimes,
        meaning: "vacuity witness: some atomic replace transition completes",
        check: replace_completes,
    },
    PropertyInfo {
        id: "replaced-patch-reloadable",
        kind: Kind::Sometimes,
        meaning: "witness: a replaced patch's module is loaded again and replaces its replacer",
        check: replaced_patch_reloadable,
    },
        PropertyInfo {
        id: "replace-over-disabled",
        kind: Kind::Sometimes,
                meaning: "witness: a replace patch is enabled (or being enabled) while a patch in front of it on klp_patches is not (the v7 draft's exception to the stacking order)",
        check: replace_over_disabled,
    },
    PropertyInfo {
        id: "disable-from-middle",
        kind: Kind::Sometimes,
        meaning: "witness: a patch is disabled while a non-replace patch after it on klp_patches stays enabled (allowed since 5.1)",
        check: disable_from_middle,
    },
    PropertyInfo {
        id: "transition-completes",
        kind: Kind::Eventually,
        meaning: "under the scenario's fairness, every transition eventually completes (no fair cycle stays in transition)",
        check: no_transition,
    },
    PropertyInfo {
        id: "patch-freed",
        kind: Kind::Eventually,
        meaning: "under fairness, a disabled or replaced patch is eventually freed and, unless force pinned it on purpose, its module reference dropped",
        check: no_patch_release_pending,
    },
];

/// Every valid property id (what a scenario's `expect` may name).
pub const PROPERTY_IDS: &[&str] = &[
    "single-transition",
    "consistent-universe",
    "only-new-callbacks",
    "callback-pairing",
    "replaced-never-reenabled",
    "replace-leaves-only-new",
    "stack-well-formed",
    "no-dangling-code",
    "forced-module-pinned",
    "states-compatible",
    "shadow-no-use-after-free",
    "code-requirements-met",
    "no-kernel-warning",
    "stack-check-in-bounds",
    "completion-keeps-code",
    "state-shadow-owned",
    "one-active-per-set",
    "shadow-single-set",
    "replace-completes",
    "replaced-patch-reloadable",
    "replace-over-disabled",
    "disable-from-middle",
    "transition-completes",
    "patch-freed",
];

pub fn property(id: &str) -> Option<&'static PropertyInfo> {
    PROPERTIES.iter().find(|p| p.id == id)
}

fn single_transition(_: &Scenario, s: &State) -> bool {
    let in_transition: Vec<usize> = s
        .patches
        .iter()
        .enumerate()
        .filter(|(_, r)| r.transition)
        .map(|(i, _)| i)
        .collect();
    match s.klp_transition_patch {
        None => {
            in_transition.is_empty()
                && s.klp_target_state == KlpState::Idle
                && s.listed_tasks()
                    .all(|t| t.patch_state == KlpState::Idle && !t.tif_patch_pending)
        }
        Some(tp) => {
            s.klp_target_state != KlpState::Idle && in_transition.iter().all(|&i| i == tp as usize)
        }
    }
}

fn consistent_universe(sc: &Scenario, s: &State) -> bool {
    let Some(tp) = s.klp_transition_patch else {
        return true;
    };
    let touched = all_funcs_of(sc, s, tp);
    s.tasks.iter().filter(|t| t.listed()).all(|t| {
        t.frames
            .iter()
            .filter(|fr| touched & (1 << fr.func) != 0)
            .all(|fr| fr.code == klp_ftrace_handler(s, t.patch_state, fr.func))
    })
}

fn only_new_callbacks(_: &Scenario, s: &State) -> bool {
    s.violations & V_ONLY_NEW_CALLBACKS == 0
}

fn callback_pairing(_: &Scenario, s: &State) -> bool {
    s.violations & V_CALLBACK_PAIRING == 0
}

fn no_kernel_warning(_: &Scenario, s: &State) -> bool {
    s.violations & V_KERNEL_WARNING == 0
}

fn stack_check_in_bounds(_: &Scenario, s: &State) -> bool {
    s.violations & V_STACK_CHECK_IN_BOUNDS == 0
}

fn completion_keeps_code(_: &Scenario, s: &State) -> bool {
    s.violations & V_COMPLETION_KEEPS_CODE == 0
}

fn state_shadow_owned(sc: &Scenario, s: &State) -> bool {
    sc.patches.iter().all(|p| {
        p.state_defs.iter().all(|d| {
            d.shadow_mask & s.shadow == 0
                || s.klp_patches
                    .iter()
                    .any(|&q| sc.patches[q as usize].state_version(d.id).is_some())
        })
    })
}

fn one_active_per_set(sc: &Scenario, s: &State) -> bool {
    if sc.profile != crate::profile::Profile::ReplaceSet {
        return true;
    }
    let active: crate::state::PatchList = s
        .klp_patches
        .iter()
        .copied()
        .filter(|&p| s.patch(p).enabled && s.klp_transition_patch != Some(p))
        .collect();
    active.iter().enumerate().all(|(i, &p)| {
        active[i + 1..]
            .iter()
            .all(|&q| sc.patches[q as usize].replace_set != sc.patches[p as usize].replace_set)
    })
}

fn shadow_single_set(sc: &Scenario, s: &State) -> bool {
    if sc.profile != crate::profile::Profile::ReplaceSet {
        return true;
    }
    let loaded: crate::state::PatchList = (0..s.patches.len() as u8)
        .filter(|&p| s.patch(p).life != Life::Unloaded)
        .collect();
    loaded.iter().enumerate().all(|(i, &p)| {
        let a = &sc.patches[p as usize];
        loaded[i + 1..].iter().all(|&q| {
            let b = &sc.patches[q as usize];
            a.replace_set == b.replace_set || a.shadow_ids_used & b.shadow_ids_used == 0
        })
    })
}

fn replace_leaves_only_new(_: &Scenario, s: &State) -> bool {
    s.violations & V_REPLACE_LEAVES_ONLY_NEW == 0
}

fn replaced_never_reenabled(_: &Scenario, s: &State) -> bool {
    s.patches.iter().all(|r| !(r.retired && r.enabled))
}

fn stack_well_formed(sc: &Scenario, s: &State) -> bool {
    for (p, rec) in s.patches.iter().enumerate() {
        let p = p as u8;
        let listed = s.list_pos(p).is_some();
        for obj in objects_of(sc, s, p) {
            let patched = rec.obj_patched & (1 << obj) != 0;
            if patched && !listed {
                return false;
            }
            for f in crate::kernel::bits(funcs_of(sc, s, p, obj)) {
                if s.func_stacks[f as usize].contains(&p) != patched {
                    return false;
                }
            }
        }
    }
    s.func_stacks.iter().enumerate().all(|(f, stack)| {
        let mut last_pos = None;
        stack.iter().all(|&p| {
            let Some(pos) = s.list_pos(p) else {
                return false;
            };
            let in_order = last_pos.is_none_or(|l| pos > l);
            last_pos = Some(pos);
            in_order && all_funcs_of(sc, s, p) & (1 << f) != 0
        })
    })
}

fn no_dangling_code(sc: &Scenario, s: &State) -> bool {
    let code_present = |code: Impl| match code {
        Impl::Original => true,
        Impl::Patch { patch, load } => {
            let r = s.patch(patch);
            r.life != Life::Unloaded && r.loads == load
        }
    };
    let func_present = |f: u8| s.modules_loaded & (1 << sc.funcs[f as usize].obj) != 0;
    let frames_ok = s.tasks.iter().all(|t| {
        t.frames
            .iter()
            .all(|fr| code_present(fr.code) && func_present(fr.func))
    });
    let stacks_ok = s.func_stacks.iter().enumerate().all(|(f, stack)| {
        stack.is_empty()
            || (func_present(f as u8) && stack.iter().all(|&p| s.patch(p).life != Life::Unloaded))
    });
    // kernel-semantics S15: obj->mod is set only while the module is alive.
    let obj_mod_ok = s.patches.iter().all(|r| r.obj_mod & !s.modules_loaded == 0);
    frames_ok && stacks_ok && obj_mod_ok
}

fn forced_module_pinned(_: &Scenario, s: &State) -> bool {
    s.patches
        .iter()
        .all(|r| !((r.forced || r.force_involved) && r.life == Life::Unloaded))
}

fn states_compatible(sc: &Scenario, s: &State) -> bool {
    let enabled: crate::state::PatchList = s
        .klp_patches
        .iter()
        .copied()
        .filter(|&p| s.patch(p).enabled)
        .collect();
    (0..enabled.len()).all(|j| {
        crate::klp_state::klp_is_patch_compatible_with(
            sc,
            &enabled[..j],
            enabled[j],
            s.patch(enabled[j]).replace,
        )
    })
}

fn running_code<'a>(
    sc: &'a Scenario,
    s: &'a State,
) -> impl Iterator<Item = &'a crate::scenario::Code> {
    s.tasks
        .iter()
        .flat_map(|t| t.frames.iter())
        .filter_map(move |fr| match fr.code {
            Impl::Original => None,
            Impl::Patch { patch, .. } => sc.patches[patch as usize].code(fr.func),
        })
}

fn shadow_no_use_after_free(sc: &Scenario, s: &State) -> bool {
    running_code(sc, s)
        .all(|c| c.uses_shadow & !s.shadow == 0 && c.uses_shadow_if_present & s.shadow_freed == 0)
}

fn code_requirements_met(sc: &Scenario, s: &State) -> bool {
    running_code(sc, s).all(|c| c.needs & !s.sysmods == 0 && c.conflicts & s.sysmods == 0)
}

fn replace_completes(_: &Scenario, s: &State) -> bool {
    s.klp_patches
        .iter()
        .any(|&p| s.patch(p).replace && s.patch(p).enabled && s.klp_transition_patch != Some(p))
}

fn replaced_patch_reloadable(_: &Scenario, s: &State) -> bool {
    s.patches.iter().enumerate().any(|(p, r)| {
        crate::kernel::bits(r.replaced_by as u64).any(|q| s.patch(q).replaced_by & (1 << p) != 0)
    })
}

/// transition-completes: the goal is "no transition".
fn no_transition(_: &Scenario, s: &State) -> bool {
    s.klp_transition_patch.is_none()
}

/// transition-completes is pending while some patch is in transition.
pub fn transition_pending(s: &State) -> bool {
    s.klp_transition_patch.is_some()
}

/// patch-freed is pending for `p` while its instance was disabled or
/// replaced, its module is still loaded, and either free_work has not run or
/// the module reference is still held although the 5.18 rules did not mean
/// to pin it (`force_involved`).
pub fn patch_release_pending(s: &State, p: u8) -> bool {
    let r = s.patch(p);
    r.retired
        && r.life != Life::Unloaded
        && (matches!(r.life, Life::Listed | Life::Freeing) || (r.module_ref && !r.force_involved))
}

fn no_patch_release_pending(_: &Scenario, s: &State) -> bool {
    (0..s.patches.len()).all(|p| !patch_release_pending(s, p as u8))
}

fn replace_over_disabled(_: &Scenario, s: &State) -> bool {
    s.klp_patches.iter().enumerate().any(|(i, &q)| {
        let r = s.patch(q);
        r.replace && r.enabled && s.klp_patches[..i].iter().any(|&p| !s.patch(p).enabled)
    })
}

fn disable_from_middle(_: &Scenario, s: &State) -> bool {
    s.klp_patches.iter().enumerate().any(|(i, &p)| {
        !s.patch(p).enabled
            && s.klp_patches[i + 1..]
                .iter()
                .any(|&q| s.patch(q).enabled && !s.patch(q).replace)
    })
}
