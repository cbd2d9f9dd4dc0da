//! A state as named lines a kernel developer can read (`func_stack f: [P1, P2]`),
//! and the difference between two states. trace.txt prints these lines after
//! every step with the changed ones marked.

use klp_model::event::impl_name;
use klp_model::kernel::bits;
use klp_model::state::{KlpState, Life};
use klp_model::{Scenario, State};

/// `KLP_TRANSITION_*` without the prefix.
pub fn klp_state_name(s: KlpState) -> &'static str {
    match s {
        KlpState::Idle => "IDLE",
        KlpState::Unpatched => "UNPATCHED",
        KlpState::Patched => "PATCHED",
    }
}

/// Where a patch module is in its life, in words.
pub fn life_name(l: Life) -> &'static str {
    match l {
        Life::Unloaded => "not loaded",
        Life::Listed => "listed",
        Life::Freeing => "freeing",
        Life::Freed => "freed",
        Life::Replaced => "replaced (registered)",
    }
}

fn set_text(items: impl Iterator<Item = String>) -> String {
    format!("{{{}}}", items.collect::<Vec<_>>().join(", "))
}

/// The state as (name, value) lines, in a fixed order: patch list and
/// transition, func_stacks, patches, tasks, target modules, shadow variables,
/// system modifications.
pub fn state_lines(sc: &Scenario, s: &State) -> Vec<(String, String)> {
    let pname = |p: u8| sc.patches[p as usize].name.clone();
    let mut out = Vec::new();
    let list: Vec<String> = s.klp_patches.iter().map(|&p| pname(p)).collect();
    out.push(("klp_patches".to_string(), format!("[{}]", list.join(", "))));
    out.push((
        "klp_transition_patch".to_string(),
        match s.klp_transition_patch {
            None => "none".to_string(),
            Some(p) => format!(
                "{} (target {})",
                pname(p),
                klp_state_name(s.klp_target_state)
            ),
        },
    ));
    for (f, func) in sc.funcs.iter().enumerate() {
        let stack: Vec<String> = s.func_stacks[f]
            .iter()
            .map(|&p| {
                if s.patch(p).nops & (1 << f) != 0 {
                    format!("{}:nop", pname(p))
                } else {
                    pname(p)
                }
            })
            .collect();
        out.push((
            format!("func_stack {}", func.name),
            format!("[{}]", stack.join(", ")),
        ));
    }
    for (p, rec) in s.patches.iter().enumerate() {
        let mut v = vec![life_name(rec.life).to_string()];
        if rec.module_loaded() && rec.loads > 1 {
            v.push(format!("instance #{}", rec.loads));
        }
        for (flag, word) in [
            (rec.enabled, "enabled"),
            (rec.transition, "transition"),
            (rec.forced, "forced"),
            (rec.replaced, "replaced"),
        ] {
            if flag {
                v.push(word.to_string());
            }
        }
        if rec.nops != 0 {
            let nops: Vec<&str> = bits(rec.nops)
                .map(|f| sc.funcs[f as usize].name.as_str())
                .collect();
            v.push(format!("nops {}", nops.join(",")));
        }
        out.push((format!("patch {}", sc.patches[p].name), v.join(", ")));
    }
    for (t, task) in s.tasks.iter().enumerate() {
        let mut st = klp_state_name(task.patch_state).to_string();
        if task.tif_patch_pending {
            st += ", TIF_PATCH_PENDING";
        }
        out.push((format!("task {} patch_state", t + 1), st));
        let frames: Vec<String> = task
            .frames
            .iter()
            .map(|fr| {
                format!(
                    "{}() runs {}",
                    sc.funcs[fr.func as usize].name,
                    impl_name(sc, fr.code)
                )
            })
            .collect();
        out.push((
            format!("task {} frames", t + 1),
            format!("[{}]", frames.join(", ")),
        ));
    }
    if sc.objects.len() > 1 {
        let loaded = sc
            .objects
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(i, _)| s.modules_loaded & (1 << i) != 0)
            .map(|(_, o)| o.name.clone());
        out.push(("target modules loaded".to_string(), set_text(loaded)));
    }
    if !sc.shadow_vars.is_empty() {
        let vars = bits(s.shadow).map(|v| sc.shadow_vars[v as usize].name.clone());
        out.push(("shadow variables".to_string(), set_text(vars)));
    }
    if !sc.sysmods.is_empty() {
        let mods = bits(s.sysmods).map(|m| sc.sysmods[m as usize].clone());
        out.push(("system modifications".to_string(), set_text(mods)));
    }
    out
}

/// One line of a state listing, compared with the state before.
pub struct DiffLine {
    pub name: String,
    pub value: String,
    /// The value before the step, when it changed.
    pub was: Option<String>,
}

/// `after`'s lines, each with its value in `before` when it differs.
pub fn diff(sc: &Scenario, before: &State, after: &State) -> Vec<DiffLine> {
    let old = state_lines(sc, before);
    state_lines(sc, after)
        .into_iter()
        .zip(old)
        .map(|((name, value), (_, was))| DiffLine {
            was: (was != value).then_some(was),
            name,
            value,
        })
        .collect()
}
