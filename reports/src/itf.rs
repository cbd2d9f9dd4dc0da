//! trace.itf.json: the Informal Trace Format of Apalache and Quint
//! (ADR-015): `#meta`, `vars`, and `states`, each state with `#meta.index`.
//!
//! Encoding: integers as `{"#bigint": "N"}`, sets of names as `#set`, maps
//! keyed by name (func_stacks, patches) as `#map` of pairs, records as plain
//! objects, lists as arrays. `action` is the command that led to the state
//! (`boot` for the first).

use klp_model::event::impl_name;
use klp_model::kernel::bits;
use klp_model::{KlpModel, Scenario, State};
use serde_json::{json, Value};

use crate::state_view::{klp_state_name, life_name};
use crate::trace::Walk;

/// The variables every state has, in this order.
pub const VARS: &[&str] = &[
    "action",
    "klp_patches",
    "klp_transition_patch",
    "klp_target_state",
    "func_stacks",
    "patches",
    "tasks",
    "modules_loaded",
    "shadow_vars",
    "system_modifications",
];

fn int(n: impl Into<i64>) -> Value {
    json!({ "#bigint": n.into().to_string() })
}

fn set(items: impl Iterator<Item = String>) -> Value {
    json!({ "#set": items.map(Value::String).collect::<Vec<_>>() })
}

fn map(pairs: impl Iterator<Item = (String, Value)>) -> Value {
    json!({ "#map": pairs.map(|(k, v)| json!([k, v])).collect::<Vec<_>>() })
}

/// One state's variables.
pub fn state_value(sc: &Scenario, s: &State, index: usize, action: &str) -> Value {
    let pname = |p: u8| sc.patches[p as usize].name.clone();
    let func_stacks = map(sc.funcs.iter().enumerate().map(|(f, func)| {
        let stack: Vec<Value> = s.func_stacks[f].iter().map(|&p| json!(pname(p))).collect();
        (func.name.clone(), Value::Array(stack))
    }));
    let patches = map(s.patches.iter().enumerate().map(|(p, r)| {
        let nops = bits(r.nops).map(|f| sc.funcs[f as usize].name.clone());
        (
            sc.patches[p].name.clone(),
            json!({
                "life": life_name(r.life),
                "loads": int(r.loads),
                "enabled": r.enabled,
                "forced": r.forced,
                "replace": r.replace,
                "transition": r.transition,
                "replaced": r.replaced,
                "nops": set(nops),
            }),
        )
    }));
    let tasks: Vec<Value> = s
        .tasks
        .iter()
        .map(|t| {
            let frames: Vec<Value> = t
                .frames
                .iter()
                .map(|fr| json!({"func": sc.funcs[fr.func as usize].name, "code": impl_name(sc, fr.code)}))
                .collect();
            json!({
                "patch_state": klp_state_name(t.patch_state),
                "tif_patch_pending": t.tif_patch_pending,
                "frames": frames,
            })
        })
        .collect();
    let loaded = sc
        .objects
        .iter()
        .enumerate()
        .filter(|(i, _)| s.modules_loaded & (1 << i) != 0)
        .map(|(_, o)| o.name.clone());
    json!({
        "#meta": {"index": index},
        "action": action,
        "klp_patches": s.klp_patches.iter().map(|&p| pname(p)).collect::<Vec<_>>(),
        "klp_transition_patch": s.klp_transition_patch.map(pname).unwrap_or_default(),
        "klp_target_state": klp_state_name(s.klp_target_state),
        "func_stacks": func_stacks,
        "patches": patches,
        "tasks": tasks,
        "modules_loaded": set(loaded),
        "shadow_vars": set(bits(s.shadow).map(|v| sc.shadow_vars[v as usize].name.clone())),
        "system_modifications": set(bits(s.sysmods).map(|m| sc.sysmods[m as usize].clone())),
    })
}

/// The ITF trace of `walk`.
pub fn itf_trace(model: &KlpModel, walk: &Walk, source: &str, property: &str) -> Value {
    let sc = &*model.sc;
    let mut states = vec![state_value(sc, walk.before(0), 0, "boot")];
    for (i, a) in walk.actions.iter().enumerate() {
        let action = klp_model::describe::command_in(sc, walk.before(i), a);
        states.push(state_value(sc, walk.after(i), i + 1, &action));
    }
    json!({
        "#meta": {
            "format": "ITF",
            "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
            "source": source,
            "description": format!("klpcheck counterexample: {} violates {property}", sc.name),
        },
        "vars": VARS,
        "states": states,
    })
}
