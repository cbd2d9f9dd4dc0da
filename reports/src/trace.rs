//! Turning a path of actions into a trace: replay each action from boot with
//! the model's step function and keep what it printed.

use klp_model::describe::command_in;
use klp_model::{Action, Event, KlpModel, State};

use crate::kernel_log::log_line;
use crate::report::TraceStep;

/// A path replayed from boot: every state on it and what each step printed.
/// `states[0]` is the boot state; step `i` leads from `states[i]` to
/// `states[i + 1]`.
pub struct Walk {
    pub actions: Vec<Action>,
    pub states: Vec<State>,
    pub events: Vec<Vec<Event>>,
}

impl Walk {
    /// Replays `actions` from the boot state of `model`.
    pub fn new(model: &KlpModel, actions: &[Action]) -> Walk {
        let mut states = vec![model.boot()];
        let mut events = Vec::with_capacity(actions.len());
        for a in actions {
            let (next, ev) = model.step_with_events(states.last().expect("boot state"), a);
            states.push(next);
            events.push(ev);
        }
        Walk {
            actions: actions.to_vec(),
            states,
            events,
        }
    }

    /// The state step `i` starts from.
    pub fn before(&self, i: usize) -> &State {
        &self.states[i]
    }

    /// The state step `i` leads to.
    pub fn after(&self, i: usize) -> &State {
        &self.states[i + 1]
    }
}

/// Replays `actions` from the boot state of `model`.
pub fn build_trace(model: &KlpModel, actions: &[Action]) -> Vec<TraceStep> {
    let sc = &*model.sc;
    let walk = Walk::new(model, actions);
    walk.actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let events = &walk.events[i];
            TraceStep {
                action: command_in(sc, walk.before(i), a),
                events: events.iter().map(|e| e.oracle(sc)).collect(),
                log: events.iter().filter_map(|e| log_line(sc, e)).collect(),
                transcript: events
                    .iter()
                    .map(|e| log_line(sc, e).unwrap_or_else(|| format!("# {}", e.oracle(sc))))
                    .collect(),
            }
        })
        .collect()
}
