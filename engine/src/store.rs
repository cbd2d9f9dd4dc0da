//! How the search keeps a state between generating it and expanding it.
//!
//! The search holds every successor in its insert batch until the table
//! answers, and every new state in a block of the next level until a
//! worker expands it: for a model whose state is large and sparse, most of
//! the search's memory traffic and its frontier's memory are those copies.
//! A [`Store`] lets the model say how to keep a state compactly (a packed
//! byte string, say); [`Whole`] keeps the state itself.
//!
//! The contract that keeps the search exact: an item hashes exactly as the
//! state it was made from (the same calls on the hasher), so the table's
//! fingerprints, the trace replay (which fingerprints states) and the graph
//! hooks agree whichever form was fingerprinted; and `load(store(s))`
//! equals `s`.

use std::hash::Hash;

/// A compact form of the states waiting in the search (module comment).
pub trait Store<S>: Sync {
    /// What the search keeps: hashes as the state it came from.
    type Item: Hash + Send;
    /// The item for `state`.
    fn store(&self, state: S) -> Self::Item;
    /// The state back from its item.
    fn load(&self, item: Self::Item) -> S;
}

/// Keeps each state as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Whole;

impl<S: Hash + Send> Store<S> for Whole {
    type Item = S;
    #[inline(always)]
    fn store(&self, state: S) -> S {
        state
    }
    #[inline(always)]
    fn load(&self, item: S) -> S {
        item
    }
}
