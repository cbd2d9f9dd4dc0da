//! The packed state (klp_model::packed) on the states the specs reach:
//! every state unpacks to itself and hashes as its packed form, and
//! distinct states pack apart. The native engine keeps its waiting states
//! packed and fingerprints them; tests/specs.rs checks that it still finds
//! exactly stateright's states on every spec, this checks the codec itself.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::path::Path;

use klp_checker::engine::Fingerprinter;
use klp_checker::load::{expand, load};
use klp_model::packed::PackedState;
use klp_model::{KlpModel, State};
use stateright::Model;

/// States visited per spec (breadth first from boot).
const PER_SPEC: usize = 3_000;

fn fingerprint<T: Hash>(x: &T) -> u64 {
    Fingerprinter::default().fingerprint(x)
}

#[test]
fn reachable_states_round_trip_and_pack_apart() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let mut checked = 0;
    let mut deep = 0;
    for path in expand(&[dir]).expect("specs/ has scenarios") {
        let model = KlpModel::new(load(&path).unwrap_or_else(|e| panic!("{e}")).scenario);
        // Packed form -> the state it came from, to catch two states
        // packing alike.
        let mut seen: HashMap<PackedState, State> = HashMap::new();
        let mut queue: VecDeque<State> = model.init_states().into();
        let mut actions = Vec::new();
        while let Some(s) = queue.pop_front() {
            if seen.len() >= PER_SPEC {
                break;
            }
            let packed = PackedState::pack(&s);
            assert_eq!(
                packed.unpack(),
                s,
                "{}: a state does not round-trip",
                path.display()
            );
            assert_eq!(
                fingerprint(&s),
                fingerprint(&packed),
                "{}: a state hashes unlike its packed form",
                path.display()
            );
            if s.tasks.iter().any(|t| t.frames.len() > 1) {
                deep += 1;
            }
            match seen.get(&packed) {
                Some(other) => {
                    assert_eq!(other, &s, "{}: two states pack alike", path.display());
                    continue;
                }
                None => {
                    seen.insert(packed, s.clone());
                }
            }
            checked += 1;
            model.actions(&s, &mut actions);
            for a in actions.drain(..) {
                if let Some(next) = model.next_state(&s, a) {
                    queue.push_back(next);
                }
            }
        }
    }
    assert!(checked > 50_000, "only {checked} states checked");
    assert!(deep > 1_000, "only {deep} states with nested calls");
}
