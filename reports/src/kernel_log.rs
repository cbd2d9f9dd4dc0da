//! Events as the kernel log lines they stand for (the strings of core.c,
//! transition.c and the test modules), as `dmesg` shows them.

use klp_model::event::{Event, ModState};
use klp_model::Scenario;

fn module_state_text(ms: ModState) -> &'static str {
    match ms {
        ModState::Live => "[MODULE_STATE_LIVE] Normal state",
        ModState::Coming => "[MODULE_STATE_COMING] Full formed, running module_init",
        ModState::Going => "[MODULE_STATE_GOING] Going away",
    }
}

/// The log line of a logged event; `None` for a silent one.
pub fn log_line(sc: &Scenario, e: &Event) -> Option<String> {
    let m = |p: &u8| sc.patches[*p as usize].module.as_str();
    let o = |x: &u8| sc.objects[*x as usize].name.as_str();
    Some(match e {
        Event::Enabling(p) => format!("livepatch: enabling patch '{}'", m(p)),
        Event::TransitionInit(p, d) => format!("livepatch: '{}': initializing {} transition", m(p), d.direction()),
        Event::TransitionStart(p, d) => format!("livepatch: '{}': starting {} transition", m(p), d.direction()),
        Event::TransitionCompleting(p, d) => {
            format!("livepatch: '{}': completing {} transition", m(p), d.direction())
        }
        Event::TransitionComplete(p, d) => format!("livepatch: '{}': {} complete", m(p), d.direction()),
        Event::TransitionReverse(p, from) => format!(
            "livepatch: '{}': reversing transition from {} to {}",
            m(p),
            from.direction(),
            from.flip().direction()
        ),
        Event::TransitionCancel(p) => {
            format!("livepatch: '{}': canceling patching transition, going to unpatch", m(p))
        }
        Event::Callback { patch, obj, kind, mod_state } => match mod_state {
            None => format!("{}: {}_callback: {}", m(patch), kind.name(), o(obj)),
            Some(ms) => format!("{}: {}_callback: {} -> {}", m(patch), kind.name(), o(obj), module_state_text(*ms)),
        },
        Event::PrePatchFailed(_, obj) => format!("livepatch: pre-patch callback failed for object '{}'", o(obj)),
        Event::EnableFailed(p) => format!("livepatch: failed to enable patch '{}'", m(p)),
        Event::ModuleApply(p, x) => format!("livepatch: applying patch '{}' to loading module '{}'", m(p), o(x)),
        Event::ModuleRevert(p, x) => format!("livepatch: reverting patch '{}' on unloading module '{}'", m(p), o(x)),
        Event::ModuleRefused(p, x) => format!(
            "livepatch: patch '{}' failed for module '{}', refusing to load module '{}'",
            m(p),
            o(x),
            o(x)
        ),
        Event::Incompatible(p) => format!(
            "livepatch: Livepatch patch ({}) is not compatible with the already installed livepatches.",
            m(p)
        ),
        Event::ModInit(x) => format!("{}: {}_init", o(x), o(x)),
        Event::ModExit(x) => format!("{}: {}_exit", o(x), o(x)),
        Event::Custom(s) => s.clone(),
        Event::Forcing(_) => "livepatch: forcing remaining tasks to the patched state".to_string(),
        Event::LoadErrorPatch(p, e) => format!(
            "insmod: ERROR: could not insert module {}.ko: {}",
            m(p),
            klp_model::errno::strerror(*e)
        ),
        Event::LoadErrorModule(x, e) => format!(
            "insmod: ERROR: could not insert module {}.ko: {}",
            o(x),
            klp_model::errno::strerror(*e)
        ),
        Event::ShadowDuplicate(v) => {
            let var = &sc.shadow_vars[*v as usize];
            format!("WARNING: Duplicate shadow variable <{}, {}>", var.parent, var.id)
        }
        _ => return None,
    })
}
