//! A walk on a square grid with a boundary: exercises `within_boundary`,
//! several initial states (one outside the boundary), actions that do not
//! change the state (`next_state` = `None`), and the rule that a state
//! which discovers every property is not expanded.

use stateright::{Model, Property};

/// Which properties the model declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Props {
    /// "sum not 13" (violated), "diagonal" (satisfied), "bounded" (holds).
    All,
    /// Only "sum not 13": every violating state discovers every property,
    /// so it is not expanded.
    OnlyViolated,
    /// No properties: only the initial states are visited (stateright's
    /// rule, mirrored).
    None,
}

#[derive(Clone, Debug)]
pub struct Walk {
    /// The boundary: both coordinates at most `limit`.
    pub limit: u16,
    pub props: Props,
    /// Adds a duplicate of the first initial state.
    pub duplicate_init: bool,
}

impl Walk {
    pub fn new(limit: u16, props: Props) -> Self {
        Self {
            limit,
            props,
            duplicate_init: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    IncX,
    IncY,
    DoubleX,
    Swap,
}

impl Model for Walk {
    type State = (u16, u16);
    type Action = Step;

    fn init_states(&self) -> Vec<(u16, u16)> {
        let mut inits = vec![(0, 0), (1, 0)];
        if self.duplicate_init {
            inits.push((0, 0));
        }
        // Outside the boundary, and last: stateright numbers initial states
        // after dropping those outside but rebuilds paths from the full
        // list, so one in front would shift its paths.
        inits.push((self.limit + 5, 0));
        inits
    }

    fn actions(&self, _: &(u16, u16), actions: &mut Vec<Step>) {
        actions.extend([Step::IncX, Step::IncY, Step::DoubleX, Step::Swap]);
    }

    fn next_state(&self, &(x, y): &(u16, u16), step: Step) -> Option<(u16, u16)> {
        match step {
            Step::IncX => Some((x + 1, y)),
            Step::IncY => Some((x, y + 1)),
            Step::DoubleX if x > 0 => Some((2 * x, y)),
            Step::Swap if x != y => Some((y, x)),
            _ => None,
        }
    }

    fn within_boundary(&self, &(x, y): &(u16, u16)) -> bool {
        x <= self.limit && y <= self.limit
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let sum = Property::<Self>::always("sum not 13", |_, s| s.0 + s.1 != 13);
        match self.props {
            Props::All => vec![
                sum,
                Property::<Self>::sometimes("diagonal", |_, s| s.0 == s.1 && s.0 >= 5),
                Property::<Self>::always("bounded", |m, s| s.0 <= m.limit),
            ],
            Props::OnlyViolated => vec![sum],
            Props::None => vec![],
        }
    }
}
