//! Why a state violates a safety property, in kernel terms: the one line a
//! counterexample ends with (the task, frame, shadow variable, system
//! modification or patch concerned). Pure: it reads the scenario, the
//! violating state and the step that led to it.
//!
//! The five properties that are watched by monitors in the step function
//! (a ghost bit in `State::violations`) are explained by the step that set
//! the bit; the state alone does not keep which callback or stack entry it
//! was.

use crate::action::Action;
use crate::event::impl_name;
use crate::kernel::{all_funcs_of, bits, funcs_of, objects_of};
use crate::patch::klp_ftrace_handler;
use crate::scenario::Scenario;
use crate::state::{Impl, KlpState, Life, State};

fn patch(sc: &Scenario, p: u8) -> &str {
    &sc.patches[p as usize].name
}

fn func(sc: &Scenario, f: u8) -> &str {
    &sc.funcs[f as usize].name
}

/// "P's code", "P#2's code (load 2 of its module)", "the original code".
fn code_of(sc: &Scenario, code: Impl) -> String {
    match code {
        Impl::Original => "the original code".to_string(),
        Impl::Patch { load, .. } if load > 1 => {
            format!("{}'s code (load {load} of its module)", impl_name(sc, code))
        }
        Impl::Patch { .. } => format!("{}'s code", impl_name(sc, code)),
    }
}

fn klp_state(k: KlpState) -> &'static str {
    match k {
        KlpState::Idle => "KLP_IDLE",
        KlpState::Unpatched => "KLP_UNPATCHED",
        KlpState::Patched => "KLP_PATCHED",
    }
}

fn life(l: Life) -> &'static str {
    match l {
        Life::Unloaded => "its module is unloaded",
        Life::Listed => "it is on klp_patches",
        Life::Freeing => "it is off klp_patches, free_work pending",
        Life::Freed => "it is freed (module loaded, dormant)",
        Life::Replaced => "it is on klp_replaced_patches",
    }
}

/// One line saying why `s` (reached by `last`, if any) violates the safety
/// property `id`; `None` when `s` does not violate it (or `id` is not a
/// safety property).
pub fn why_violated(sc: &Scenario, s: &State, id: &str, last: Option<&Action>) -> Option<String> {
    let step = || match last {
        Some(a) => format!("the step `{}`", crate::describe::command(sc, a)),
        None => "a step".to_string(),
    };
    let task = |i: usize| format!("task {}", i + 1);
    match id {
        "single-transition" => single_transition(sc, s),
        "consistent-universe" => {
            let tp = s.klp_transition_patch?;
            let touched = all_funcs_of(sc, s, tp);
            s.tasks.iter().enumerate().filter(|(_, t)| t.listed()).find_map(|(i, t)| {
                t.frames
                    .iter()
                    .filter(|fr| touched & (1 << fr.func) != 0)
                    .find_map(|fr| {
                        let want = klp_ftrace_handler(s, t.patch_state, fr.func);
                        (fr.code != want).then(|| {
                            format!(
                                "{} ({}) has a frame in {}() running {}, but while {} is in transition klp_ftrace_handler would choose {} for it",
                                task(i),
                                klp_state(t.patch_state),
                                func(sc, fr.func),
                                code_of(sc, fr.code),
                                patch(sc, tp),
                                code_of(sc, want)
                            )
                        })
                    })
            })
        }
        "only-new-callbacks" => (s.violations & crate::properties::V_ONLY_NEW_CALLBACKS != 0)
            .then(|| {
                format!(
                    "{} ran a callback of a patch other than the transition patch during an atomic replace, or of a replaced patch",
                    step()
                )
            }),
        "callback-pairing" => (s.violations & crate::properties::V_CALLBACK_PAIRING != 0).then(|| {
            format!(
                "{} broke the callback pairing: a pre_patch ran twice without post_unpatch, or a post/pre_unpatch ran without a successful pre_patch",
                step()
            )
        }),
        "no-kernel-warning" => (s.violations & crate::properties::V_KERNEL_WARNING != 0).then(|| {
            format!(
                "{} made the kernel print a WARNING (klp_get_prev_state outside a transition, a duplicate klp_shadow_alloc, or klp_ftrace_handler seeing a task off the task list with KLP_TRANSITION_IDLE)",
                step()
            )
        }),
        "completion-keeps-code" => (s.violations
            & crate::properties::V_COMPLETION_KEEPS_CODE
            != 0)
            .then(|| {
                format!(
                    "{} completed a transition that changes what a function runs for a task already in the target state (a call is redirected at completion)",
                    step()
                )
            }),
        "state-shadow-owned" => sc.patches.iter().find_map(|p| {
            p.state_defs.iter().find_map(|d| {
                let live = d.shadow_mask & s.shadow;
                let owned = s
                    .klp_patches
                    .iter()
                    .any(|&q| sc.patches[q as usize].state_version(d.id).is_some());
                (live != 0 && !owned).then(|| {
                    let names: Vec<&str> = crate::kernel::bits(live)
                        .map(|v| sc.shadow_vars[v as usize].name.as_str())
                        .collect();
                    format!(
                        "shadow variable(s) {} of state {} exist, but no listed patch has that state",
                        names.join(", "),
                        d.id
                    )
                })
            })
        }),
        "one-active-per-set" => {
            let active: Vec<u8> = s
                .klp_patches
                .iter()
                .copied()
                .filter(|&p| s.patch(p).enabled && s.klp_transition_patch != Some(p))
                .collect();
            active.iter().enumerate().find_map(|(i, &p)| {
                active[i + 1..]
                    .iter()
                    .find(|&&q| sc.patches[q as usize].replace_set == sc.patches[p as usize].replace_set)
                    .map(|&q| {
                        format!(
                            "{} and {} are both enabled in replace_set {}",
                            patch(sc, p),
                            patch(sc, q),
                            sc.patches[p as usize].replace_set
                        )
                    })
            })
        }
        "shadow-single-set" => Some(
            "loaded patches of two replace_sets use the same shadow variable id".to_string(),
        )
        .filter(|_| !(crate::properties::property("shadow-single-set").unwrap().check)(sc, s)),
        "stack-check-in-bounds" => (s.violations & crate::properties::V_STACK_CHECK_IN_BOUNDS != 0)
            .then(|| {
                format!(
                    "{} made klp_check_stack_func read past the bottom of a func_stack",
                    step()
                )
            }),
        "replace-leaves-only-new" => (s.violations
            & crate::properties::V_REPLACE_LEAVES_ONLY_NEW
            != 0)
            .then(|| {
                format!(
                    "{} completed an atomic replace that left an older patch's code reachable",
                    step()
                )
            }),
        "replaced-never-reenabled" => s
            .patches
            .iter()
            .position(|r| r.retired && r.enabled)
            .map(|p| {
                format!(
                    "patch {} was replaced and is enabled again",
                    patch(sc, p as u8)
                )
            }),
        "stack-well-formed" => stack_well_formed(sc, s),
        "no-dangling-code" => no_dangling_code(sc, s),
        "forced-module-pinned" => s
            .patches
            .iter()
            .position(|r| (r.forced || r.force_involved) && r.life == Life::Unloaded)
            .map(|p| {
                format!(
                    "patch {} took part in a forced transition and its module was unloaded",
                    patch(sc, p as u8)
                )
            }),
        "states-compatible" => {
            let enabled: Vec<u8> = s
                .klp_patches
                .iter()
                .copied()
                .filter(|&p| s.patch(p).enabled)
                .collect();
            (0..enabled.len()).find_map(|j| {
                let p = enabled[j];
                (!crate::klp_state::klp_is_patch_compatible_with(
                    sc,
                    &enabled[..j],
                    p,
                    s.patch(p).replace,
                ))
                .then(|| {
                    let before: Vec<&str> = enabled[..j].iter().map(|&q| patch(sc, q)).collect();
                    format!(
                        "enabled patch {} fails klp_is_patch_compatible against the patches enabled before it: [{}]",
                        patch(sc, p),
                        before.join(", ")
                    )
                })
            })
        }
        "shadow-no-use-after-free" => {
            let says = |(i, f, code, v): (usize, u8, Impl, usize), what: &str| {
                let var = &sc.shadow_vars[v];
                format!(
                    "{} runs {}() in {}, which {what} shadow variable {} (<{}, {}>)",
                    task(i),
                    func(sc, f),
                    code_of(sc, code),
                    var.name,
                    var.parent,
                    var.id
                )
            };
            running(sc, s, |c| c.uses_shadow & !s.shadow)
                .map(|r| {
                    let how = if s.shadow_freed & (1 << r.3) != 0 {
                        "it was freed"
                    } else {
                        "it was never allocated"
                    };
                    format!(
                        "{} without a NULL check, and that variable does not exist ({how})",
                        says(r, "uses")
                    )
                })
                .or_else(|| {
                    running(sc, s, |c| c.uses_shadow_if_present & s.shadow_freed).map(|r| {
                        format!(
                            "{} NULL-checked and relies on it, and that variable was allocated and then freed (its data destroyed under this code, e.g. by another patch's free or module_exit)",
                            says(r, "gets")
                        )
                    })
                })
        }
        "code-requirements-met" => {
            if let Some((i, f, code, m)) = running(sc, s, |c| c.needs & !s.sysmods) {
                return Some(format!(
                    "{} runs {}() in {}, which needs system modification {}, and it is not set",
                    task(i),
                    func(sc, f),
                    code_of(sc, code),
                    sc.sysmods[m]
                ));
            }
            running(sc, s, |c| c.conflicts & s.sysmods).map(|(i, f, code, m)| {
                format!(
                    "{} runs {}() in {}, which conflicts with system modification {}, and it is set",
                    task(i),
                    func(sc, f),
                    code_of(sc, code),
                    sc.sysmods[m]
                )
            })
        }
        _ => None,
    }
}

/// The first frame running patched code for which `bad` gives a non-empty
/// mask: (task, func, code, lowest bit of the mask).
fn running(
    sc: &Scenario,
    s: &State,
    bad: impl Fn(&crate::scenario::Code) -> u64,
) -> Option<(usize, u8, Impl, usize)> {
    s.tasks.iter().enumerate().find_map(|(i, t)| {
        t.frames.iter().find_map(|fr| match fr.code {
            Impl::Original => None,
            Impl::Patch { patch, .. } => {
                let c = sc.patches[patch as usize].code(fr.func)?;
                let m = bad(c);
                (m != 0).then(|| (i, fr.func, fr.code, m.trailing_zeros() as usize))
            }
        })
    })
}

fn single_transition(sc: &Scenario, s: &State) -> Option<String> {
    let in_transition: Vec<u8> = (0..s.patches.len() as u8)
        .filter(|&p| s.patch(p).transition)
        .collect();
    match s.klp_transition_patch {
        None => {
            if let Some(&p) = in_transition.first() {
                return Some(format!(
                    "klp_transition_patch is NULL but patch {} is marked in transition",
                    patch(sc, p)
                ));
            }
            if s.klp_target_state != KlpState::Idle {
                return Some(format!(
                    "klp_transition_patch is NULL but klp_target_state is {}",
                    klp_state(s.klp_target_state)
                ));
            }
            let all = s
                .tasks
                .iter()
                .map(|t| (false, t))
                .enumerate()
                .chain(s.idle_tasks.iter().map(|t| (true, t)).enumerate());
            for (i, (idle, t)) in all {
                if t.patch_state != KlpState::Idle || t.tif_patch_pending {
                    let who = if idle {
                        format!("swapper/{i}")
                    } else {
                        format!("task {}", i + 1)
                    };
                    return Some(format!(
                        "no patch is in transition, yet {who} has patch_state {}{}",
                        klp_state(t.patch_state),
                        if t.tif_patch_pending {
                            " and TIF_PATCH_PENDING set"
                        } else {
                            ""
                        }
                    ));
                }
            }
            None
        }
        Some(tp) => {
            if s.klp_target_state == KlpState::Idle {
                return Some(format!(
                    "patch {} is klp_transition_patch but klp_target_state is KLP_IDLE",
                    patch(sc, tp)
                ));
            }
            in_transition.iter().find(|&&p| p != tp).map(|&p| {
                format!(
                    "patch {} is klp_transition_patch and patch {} is also in transition",
                    patch(sc, tp),
                    patch(sc, p)
                )
            })
        }
    }
}

fn stack_well_formed(sc: &Scenario, s: &State) -> Option<String> {
    for (p, rec) in s.patches.iter().enumerate() {
        let p = p as u8;
        let listed = s.list_pos(p).is_some();
        for obj in objects_of(sc, s, p) {
            let patched = rec.obj_patched & (1 << obj) != 0;
            let oname = &sc.objects[obj as usize].name;
            if patched && !listed {
                return Some(format!(
                    "patch {}'s object {oname} is patched but the patch is not on klp_patches",
                    patch(sc, p)
                ));
            }
            for f in bits(funcs_of(sc, s, p, obj)) {
                if s.func_stacks[f as usize].contains(&p) != patched {
                    return Some(format!(
                        "func_stack of {}() {} patch {} while its object {oname} is {}",
                        func(sc, f),
                        if patched { "lacks" } else { "holds" },
                        patch(sc, p),
                        if patched { "patched" } else { "not patched" }
                    ));
                }
            }
        }
    }
    for (f, stack) in s.func_stacks.iter().enumerate() {
        let mut last_pos = None;
        for &p in stack.iter() {
            let Some(pos) = s.list_pos(p) else {
                return Some(format!(
                    "func_stack of {}() holds patch {}, which is not on klp_patches",
                    func(sc, f as u8),
                    patch(sc, p)
                ));
            };
            if last_pos.is_some_and(|l| pos <= l) {
                return Some(format!(
                    "func_stack of {}() is not in klp_patches order at patch {}",
                    func(sc, f as u8),
                    patch(sc, p)
                ));
            }
            last_pos = Some(pos);
            if all_funcs_of(sc, s, p) & (1 << f) == 0 {
                return Some(format!(
                    "func_stack of {}() holds patch {}, which does not patch it",
                    func(sc, f as u8),
                    patch(sc, p)
                ));
            }
        }
    }
    None
}

fn no_dangling_code(sc: &Scenario, s: &State) -> Option<String> {
    let func_present = |f: u8| s.modules_loaded & (1 << sc.funcs[f as usize].obj) != 0;
    let module_of = |f: u8| &sc.objects[sc.funcs[f as usize].obj as usize].name;
    for (i, t) in s.tasks.iter().enumerate() {
        for fr in t.frames.iter() {
            if let Impl::Patch { patch: p, load } = fr.code {
                let r = s.patch(p);
                if r.life == Life::Unloaded {
                    return Some(format!(
                        "task {} has a frame in {}() running {}, and {}",
                        i + 1,
                        func(sc, fr.func),
                        code_of(sc, fr.code),
                        life(r.life)
                    ));
                }
                if r.loads != load {
                    return Some(format!(
                        "task {} has a frame in {}() running {} of an earlier load; the module was unloaded and loaded again",
                        i + 1,
                        func(sc, fr.func),
                        code_of(sc, fr.code)
                    ));
                }
            }
            if !func_present(fr.func) {
                return Some(format!(
                    "task {} has a frame in {}(), and its module {} is unloaded",
                    i + 1,
                    func(sc, fr.func),
                    module_of(fr.func)
                ));
            }
        }
    }
    for (f, stack) in s.func_stacks.iter().enumerate() {
        let f = f as u8;
        if stack.is_empty() {
            continue;
        }
        if !func_present(f) {
            return Some(format!(
                "func_stack of {}() is not empty, and its module {} is unloaded",
                func(sc, f),
                module_of(f)
            ));
        }
        if let Some(&p) = stack.iter().find(|&&p| s.patch(p).life == Life::Unloaded) {
            return Some(format!(
                "func_stack of {}() holds patch {}, whose module is unloaded",
                func(sc, f),
                patch(sc, p)
            ));
        }
    }
    s.patches.iter().enumerate().find_map(|(p, r)| {
        let gone = r.obj_mod & !s.modules_loaded;
        (gone != 0).then(|| {
            format!(
                "patch {}'s object {} still points at its module (obj->mod), which is unloaded",
                patch(sc, p as u8),
                sc.objects[gone.trailing_zeros() as usize].name
            )
        })
    })
}
