//! Turning a path of actions into a trace: replay each action from boot with
//! the model's step function and keep what it printed.

use klp_model::describe::command_in;
use klp_model::{Action, KlpModel};

use crate::kernel_log::log_line;
use crate::report::TraceStep;

/// Replays `actions` from the boot state of `model`.
pub fn build_trace(model: &KlpModel, actions: &[Action]) -> Vec<TraceStep> {
    let sc = &*model.sc;
    let mut state = model.boot();
    let mut steps = Vec::with_capacity(actions.len());
    for a in actions {
        let action = command_in(sc, &state, a);
        let (next, events) = model.step_with_events(&state, a);
        steps.push(TraceStep {
            action,
            events: events.iter().map(|e| e.oracle(sc)).collect(),
            log: events.iter().filter_map(|e| log_line(sc, e)).collect(),
            transcript: events
                .iter()
                .map(|e| log_line(sc, e).unwrap_or_else(|| format!("# {}", e.oracle(sc))))
                .collect(),
        });
        state = next;
    }
    steps
}
