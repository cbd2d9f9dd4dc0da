//! State fingerprints and the probability that two states share one.
//!
//! The engine identifies a state by a 64-bit hash of its (canonical) value
//! and never stores the state itself once it has been expanded. This is the
//! classic "hash compaction" of SPIN and TLC: it makes the visited set small
//! and fixed-size at the price of a tiny chance that two distinct states get
//! the same fingerprint, in which case the second is wrongly taken as
//! visited. [`collision_probability`] estimates that chance for a run so
//! that the report can state it, as TLC does.

use std::hash::Hash;

/// A fixed-seed hasher: fingerprints are stable from run to run and across
/// threads of one build (they may change with the `ahash` version or with
/// the CPU features the binary is compiled for, which only matters if
/// fingerprints were persisted, and they are not).
///
/// aHash's fallback path mixes each written word with a folded 64x64-bit
/// multiply, so the structured, low-entropy fields of model states (small
/// enums, counters) still spread over all 64 bits; a weaker word hash such
/// as FxHash would need a finaliser and still collide more on short inputs.
#[derive(Clone)]
pub struct Fingerprinter {
    state: ahash::RandomState,
}

impl Default for Fingerprinter {
    fn default() -> Self {
        Self {
            state: ahash::RandomState::with_seeds(
                0x243F_6A88_85A3_08D3,
                0x1319_8A2E_0370_7344,
                0xA409_3822_299F_31D0,
                0x082E_FA98_EC4E_6C89,
            ),
        }
    }
}

impl Fingerprinter {
    /// The 64-bit fingerprint of `value` (through its `Hash` impl).
    #[inline]
    pub fn fingerprint<T: Hash + ?Sized>(&self, value: &T) -> u64 {
        self.state.hash_one(value)
    }
}

/// Estimated probability that at least two of `n` distinct states share a
/// 64-bit fingerprint, so that one of them was never explored.
///
/// Formula (birthday bound, fingerprints taken as independent and uniform
/// over 2^64 values): `P = 1 - exp(-n(n-1) / 2^65)`, which is
/// `n(n-1)/2^65 ≈ n²/2^65` while it is small. Examples: 10^6 states give
/// 2.7e-8, 10^7 give 2.7e-6, 10^9 give 0.027.
///
/// Why this formula: a state is lost only when its fingerprint equals that of
/// a *different* state already in the table, which over the whole run is the
/// chance that any two of the `n` distinct states share a fingerprint. A
/// lookup of an already-visited state finds its own fingerprint, so
/// duplicates add no risk of their own. TLC's "optimistic" figure,
/// `distinct × (generated - distinct) / 2^64`, counts every lookup and is
/// `2 (generated - distinct) / distinct` times this one (about 4 to 20 for 3
/// to 10 successors per state); both are estimates under the same uniformity
/// assumption.
pub fn collision_probability(n: u64) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let n = n as f64;
    let pairs_over_space = n * (n - 1.0) / 2f64.powi(65);
    -(-pairs_over_space).exp_m1()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_distinguish_fields() {
        let f = Fingerprinter::default();
        let g = Fingerprinter::default();
        assert_eq!(f.fingerprint(&(1u8, 2u8)), g.fingerprint(&(1u8, 2u8)));
        assert_ne!(f.fingerprint(&(1u8, 2u8)), f.fingerprint(&(2u8, 1u8)));
        assert_ne!(f.fingerprint(&vec![1u8]), f.fingerprint(&vec![1u8, 0]));
    }

    #[test]
    fn collision_probability_follows_the_birthday_bound() {
        assert_eq!(collision_probability(0), 0.0);
        assert_eq!(collision_probability(1), 0.0);
        let p = collision_probability(1_000_000);
        let expected = 1e6 * (1e6 - 1.0) / 2f64.powi(65);
        assert!((p - expected).abs() / expected < 1e-6, "{p} vs {expected}");
        // Saturates below 1 for absurd counts.
        let big = collision_probability(u64::MAX);
        assert!(big > 0.999 && big <= 1.0);
        assert!(collision_probability(10_000_000) > p);
    }
}
