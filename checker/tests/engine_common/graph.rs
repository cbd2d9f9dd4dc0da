//! Random small graphs as models, for property-based agreement tests:
//! nodes are states, edges are actions, and the boundary and the
//! properties are node sets drawn at random.

use stateright::{Model, Property};

/// Edge target meaning "this action does not change the state".
pub const NO_CHANGE: u8 = u8::MAX;

#[derive(Clone, Debug)]
pub struct Graph {
    /// `edges[n]`: the targets of node `n`'s actions, in order.
    pub edges: Vec<Vec<u8>>,
    pub inits: Vec<u8>,
    /// Nodes within the boundary (bit set).
    pub boundary: u64,
    /// Nodes where "a0"/"a1" hold (always) and "s0"/"s1" hold (sometimes).
    pub a0: u64,
    pub a1: u64,
    pub s0: u64,
    pub s1: u64,
    /// How many of the four properties the model declares (in the order
    /// a0, s0, a1, s1).
    pub property_count: usize,
}

fn has(set: u64, n: u8) -> bool {
    set >> n & 1 == 1
}

impl Model for Graph {
    type State = u8;
    type Action = usize;

    fn init_states(&self) -> Vec<u8> {
        self.inits.clone()
    }

    fn actions(&self, &n: &u8, actions: &mut Vec<usize>) {
        actions.extend(0..self.edges[n as usize].len());
    }

    fn next_state(&self, &n: &u8, action: usize) -> Option<u8> {
        match self.edges[n as usize][action] {
            NO_CHANGE => None,
            target => Some(target),
        }
    }

    fn within_boundary(&self, &n: &u8) -> bool {
        has(self.boundary, n)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let all = vec![
            Property::<Self>::always("a0", |m, &n| has(m.a0, n)),
            Property::<Self>::sometimes("s0", |m, &n| has(m.s0, n)),
            Property::<Self>::always("a1", |m, &n| has(m.a1, n)),
            Property::<Self>::sometimes("s1", |m, &n| has(m.s1, n)),
        ];
        all.into_iter().take(self.property_count).collect()
    }
}
