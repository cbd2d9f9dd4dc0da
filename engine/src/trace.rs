//! Rebuilding a discovery's path from parent links.
//!
//! The table keeps only fingerprints, so a path is recovered in two steps:
//! walk the parent links from the discovered slot back to an initial state,
//! which gives the chain of fingerprints, then replay the model from the
//! initial states, at each step taking the first action whose (canonical)
//! successor has the next fingerprint of the chain. This runs once per
//! discovered property, so its cost (re-generating successors along one
//! path) does not matter; what it saves is a path per queued state.
//!
//! With symmetry the replay follows the *actual* states, not their
//! representatives, so the returned actions apply to the states a user gets
//! by running the model from `init_states()`: for a symmetric model, if the
//! representative `c` of `s` has a successor in class `C`, so has `s`.

use std::hash::Hash;

use stateright::Model;

use super::fingerprint::Fingerprinter;
use super::table::{stored_key, FingerprintTable};
use super::Canonicalize;

/// The initial-state index and actions leading to the state in `slot`.
///
/// Panics if the model does not reproduce the recorded chain, which means
/// its `init_states`, `actions` or `next_state` are not deterministic (or,
/// with symmetry, that it is not symmetric under `canonicalize`).
pub(crate) fn replay<M>(
    model: &M,
    canonicalize: Option<Canonicalize<'_, M::State>>,
    table: &FingerprintTable,
    slot: u32,
    canonical_limit: usize,
) -> (usize, Vec<M::Action>)
where
    M: Model,
    M::State: Hash + Clone,
{
    let hasher = Fingerprinter::default();
    let key = |state: &M::State| {
        stored_key(match canonicalize {
            Some(canonical) => hasher.fingerprint(&canonical(state.clone())),
            None => hasher.fingerprint(state),
        })
    };

    let mut chain = vec![table.fingerprint_at(slot)];
    let mut at = slot;
    while let Some(parent) = table.parent_of(at) {
        chain.push(table.fingerprint_at(parent));
        at = parent;
    }
    chain.reverse();
    // The recorded chain is deterministic (a state's parent is its
    // smallest-fingerprint predecessor of the level before, see
    // `FingerprintTable::adopt_smaller_parent`) but reads as an arbitrary
    // shortest path. The one a one-thread BFS in the model's action order
    // finds first reads better and is as deterministic: take it when that
    // BFS stays within `canonical_limit` states.
    if let Some(canonical) = canonical_chain(model, &key, &chain, canonical_limit) {
        chain = canonical;
    }

    let (init_index, mut state) = model
        .init_states()
        .into_iter()
        .enumerate()
        .find(|(_, s)| model.within_boundary(s) && key(s) == chain[0])
        .unwrap_or_else(|| could_not_replay(0));

    let mut actions = Vec::with_capacity(chain.len() - 1);
    let mut candidates = Vec::new();
    for (step, &target) in chain.iter().enumerate().skip(1) {
        model.actions(&state, &mut candidates);
        let mut hit = None;
        for (index, action) in candidates.drain(..).enumerate() {
            if let Some(next) = model.next_state(&state, action) {
                if model.within_boundary(&next) && key(&next) == target {
                    hit = Some((index, next));
                    break;
                }
            }
        }
        let (index, next) = hit.unwrap_or_else(|| could_not_replay(step));
        // `next_state` consumed the action; generate the list again to keep
        // it, which spares models a `Clone` bound on actions.
        candidates.clear();
        model.actions(&state, &mut candidates);
        actions.push(candidates.swap_remove(index));
        candidates.clear();
        state = next;
    }
    (init_index, actions)
}

/// States a canonical re-search may visit before the recorded chain is
/// used instead (a bound on the cost of making long counterexamples
/// deterministic; it holds every counterexample of specs/).
pub const CANONICAL_LIMIT: usize = 200_000;

/// The fingerprints of the first shortest path to `chain`'s last state that
/// a one-thread BFS in action order finds, or None past `limit` states.
fn canonical_chain<M>(
    model: &M,
    key: &dyn Fn(&M::State) -> u64,
    chain: &[u64],
    limit: usize,
) -> Option<Vec<u64>>
where
    M: Model,
{
    use std::collections::HashMap;
    let target = *chain.last()?;
    let depth = chain.len() - 1;
    // key -> parent key (u64::MAX for an initial state)
    let mut parent: HashMap<u64, u64> = HashMap::new();
    let mut frontier: Vec<(u64, M::State)> = Vec::new();
    for s in model.init_states() {
        if !model.within_boundary(&s) {
            continue;
        }
        let k = key(&s);
        if parent.insert(k, u64::MAX).is_none() {
            frontier.push((k, s));
        }
    }
    let mut found = parent.contains_key(&target);
    let mut actions = Vec::new();
    for _ in 0..depth {
        if found {
            break;
        }
        let mut next_frontier = Vec::new();
        for (k, s) in &frontier {
            model.actions(s, &mut actions);
            for a in actions.drain(..) {
                let Some(n) = model.next_state(s, a) else {
                    continue;
                };
                if !model.within_boundary(&n) {
                    continue;
                }
                let nk = key(&n);
                if parent.contains_key(&nk) {
                    continue;
                }
                parent.insert(nk, *k);
                if parent.len() > limit {
                    return None;
                }
                if nk == target {
                    found = true;
                }
                next_frontier.push((nk, n));
            }
            if found {
                break;
            }
        }
        frontier = next_frontier;
    }
    if !found {
        return None;
    }
    let mut out = vec![target];
    let mut at = target;
    while let Some(&p) = parent.get(&at) {
        if p == u64::MAX {
            break;
        }
        out.push(p);
        at = p;
    }
    out.reverse();
    (out.len() == chain.len()).then_some(out)
}

fn could_not_replay(step: usize) -> ! {
    panic!(
        "native engine: could not replay a discovery's path at step {step}: the model's \
         init_states/actions/next_state are not deterministic functions of the state, or the \
         model is not symmetric under the canonicaliser"
    )
}
