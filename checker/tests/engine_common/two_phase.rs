//! Two-phase commit as in stateright's examples/2pc.rs (after Gray and
//! Lamport, "Consensus on Transaction Commit"), with the same state layout
//! (Vec and BTreeSet) so that its pinned counts apply: 288 unique states for
//! 3 resource managers, 8,832 for 5. Resource managers are interchangeable,
//! which makes it the symmetry test bed.
//!
//! Properties added to the example's three: an `always` that is violated
//! ("no commit": some run commits) and, optionally, an `eventually`.

use std::collections::BTreeSet;

use stateright::{Model, Property};

pub type R = usize;

#[derive(Clone, Debug)]
pub struct TwoPhase {
    pub rm_count: usize,
    /// Adds the `eventually` property "decided".
    pub eventually: bool,
}

impl TwoPhase {
    pub fn new(rm_count: usize) -> Self {
        Self {
            rm_count,
            eventually: false,
        }
    }
}

#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct State {
    pub rm_state: Vec<RmState>,
    pub tm_state: TmState,
    pub tm_prepared: Vec<bool>,
    pub msgs: BTreeSet<Message>,
}

#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Message {
    Prepared { rm: R },
    Commit,
    Abort,
}

#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum RmState {
    Working,
    Prepared,
    Committed,
    Aborted,
}

#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum TmState {
    Init,
    Committed,
    Aborted,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    TmRcvPrepared(R),
    TmCommit,
    TmAbort,
    RmPrepare(R),
    RmChooseToAbort(R),
    RmRcvCommitMsg(R),
    RmRcvAbortMsg(R),
}

impl Model for TwoPhase {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State {
            rm_state: vec![RmState::Working; self.rm_count],
            tm_state: TmState::Init,
            tm_prepared: vec![false; self.rm_count],
            msgs: BTreeSet::new(),
        }]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        if state.tm_state == TmState::Init && state.tm_prepared.iter().all(|p| *p) {
            actions.push(Action::TmCommit);
        }
        if state.tm_state == TmState::Init {
            actions.push(Action::TmAbort);
        }
        for rm in 0..self.rm_count {
            if state.tm_state == TmState::Init && state.msgs.contains(&Message::Prepared { rm }) {
                actions.push(Action::TmRcvPrepared(rm));
            }
            if state.rm_state[rm] == RmState::Working {
                actions.push(Action::RmPrepare(rm));
                actions.push(Action::RmChooseToAbort(rm));
            }
            if state.msgs.contains(&Message::Commit) {
                actions.push(Action::RmRcvCommitMsg(rm));
            }
            if state.msgs.contains(&Message::Abort) {
                actions.push(Action::RmRcvAbortMsg(rm));
            }
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut state = last.clone();
        match action {
            Action::TmRcvPrepared(rm) => state.tm_prepared[rm] = true,
            Action::TmCommit => {
                state.tm_state = TmState::Committed;
                state.msgs.insert(Message::Commit);
            }
            Action::TmAbort => {
                state.tm_state = TmState::Aborted;
                state.msgs.insert(Message::Abort);
            }
            Action::RmPrepare(rm) => {
                state.rm_state[rm] = RmState::Prepared;
                state.msgs.insert(Message::Prepared { rm });
            }
            Action::RmChooseToAbort(rm) => state.rm_state[rm] = RmState::Aborted,
            Action::RmRcvCommitMsg(rm) => state.rm_state[rm] = RmState::Committed,
            Action::RmRcvAbortMsg(rm) => state.rm_state[rm] = RmState::Aborted,
        }
        Some(state)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut props = vec![
            Property::<Self>::sometimes("abort agreement", |_, s| {
                s.rm_state.iter().all(|r| r == &RmState::Aborted)
            }),
            Property::<Self>::sometimes("commit agreement", |_, s| {
                s.rm_state.iter().all(|r| r == &RmState::Committed)
            }),
            Property::<Self>::always("consistent", |_, s| {
                !(s.rm_state.contains(&RmState::Aborted)
                    && s.rm_state.contains(&RmState::Committed))
            }),
            Property::<Self>::always("no commit", |_, s| {
                !s.rm_state.contains(&RmState::Committed)
            }),
        ];
        if self.eventually {
            props.push(Property::<Self>::eventually("decided", |_, s| {
                s.rm_state
                    .iter()
                    .all(|r| matches!(r, RmState::Committed | RmState::Aborted))
            }));
        }
        props
    }
}

/// The canonical representative of a state's class under permutations of
/// resource managers: sort the managers by everything that belongs to one
/// manager (its state, whether the TM received its vote, whether its vote
/// is in flight) and renumber the messages. Two states get the same
/// representative exactly when they differ by a permutation, which
/// stateright's example `Representative` (sorting by `rm_state` only) does
/// not guarantee.
pub fn canonical(state: &State) -> State {
    let mut rms: Vec<(RmState, bool, bool)> = (0..state.rm_state.len())
        .map(|rm| {
            (
                state.rm_state[rm],
                state.tm_prepared[rm],
                state.msgs.contains(&Message::Prepared { rm }),
            )
        })
        .collect();
    rms.sort();
    let mut msgs: BTreeSet<Message> = state
        .msgs
        .iter()
        .filter(|m| !matches!(m, Message::Prepared { .. }))
        .cloned()
        .collect();
    msgs.extend(
        rms.iter()
            .enumerate()
            .filter(|(_, r)| r.2)
            .map(|(rm, _)| Message::Prepared { rm }),
    );
    State {
        rm_state: rms.iter().map(|r| r.0).collect(),
        tm_state: state.tm_state,
        tm_prepared: rms.iter().map(|r| r.1).collect(),
        msgs,
    }
}
