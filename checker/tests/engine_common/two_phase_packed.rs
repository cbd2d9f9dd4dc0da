//! The same two-phase commit as [`super::two_phase`], with the whole state
//! packed into one `u64`: the layout a fast model should have (no heap, one
//! word to hash and copy). It must give the same counts as the `Vec` layout;
//! the benchmark uses it so that engine overhead, not model cost, dominates.
//!
//! Bits: 2 per manager for its state (0..24), one per manager for "TM
//! received its vote" (24..36) and "its vote is in flight" (36..48), 2 for
//! the TM state (48..50), one each for the Commit and Abort messages.

use stateright::{Model, Property};

pub const MAX_RMS: usize = 12;

const WORKING: u64 = 0;
const PREPARED: u64 = 1;
const COMMITTED: u64 = 2;
const ABORTED: u64 = 3;

const TM_INIT: u64 = 0;
const TM_COMMITTED: u64 = 1;
const TM_ABORTED: u64 = 2;

const VOTED: u32 = 24;
const IN_FLIGHT: u32 = 36;
const TM: u32 = 48;
const COMMIT_MSG: u64 = 1 << 50;
const ABORT_MSG: u64 = 1 << 51;

#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub struct Packed(pub u64);

impl Packed {
    fn rm(self, rm: usize) -> u64 {
        (self.0 >> (2 * rm)) & 3
    }
    fn with_rm(self, rm: usize, v: u64) -> Self {
        Packed(self.0 & !(3 << (2 * rm)) | (v << (2 * rm)))
    }
    fn bit(self, base: u32, rm: usize) -> bool {
        self.0 >> (base as usize + rm) & 1 == 1
    }
    fn tm(self) -> u64 {
        (self.0 >> TM) & 3
    }
    fn with_tm(self, v: u64) -> Self {
        Packed(self.0 & !(3 << TM) | (v << TM))
    }
}

#[derive(Clone, Debug)]
pub struct TwoPhasePacked {
    pub rm_count: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    TmRcvPrepared(u8),
    TmCommit,
    TmAbort,
    RmPrepare(u8),
    RmChooseToAbort(u8),
    RmRcvCommitMsg(u8),
    RmRcvAbortMsg(u8),
}

impl TwoPhasePacked {
    pub fn new(rm_count: usize) -> Self {
        assert!(rm_count <= MAX_RMS);
        Self { rm_count }
    }
    fn all_rms(&self, s: Packed, v: u64) -> bool {
        (0..self.rm_count).all(|rm| s.rm(rm) == v)
    }
    fn any_rm(&self, s: Packed, v: u64) -> bool {
        (0..self.rm_count).any(|rm| s.rm(rm) == v)
    }
}

impl Model for TwoPhasePacked {
    type State = Packed;
    type Action = Action;

    fn init_states(&self) -> Vec<Packed> {
        vec![Packed(0)]
    }

    fn actions(&self, s: &Packed, actions: &mut Vec<Action>) {
        let s = *s;
        let tm_init = s.tm() == TM_INIT;
        if tm_init && (0..self.rm_count).all(|rm| s.bit(VOTED, rm)) {
            actions.push(Action::TmCommit);
        }
        if tm_init {
            actions.push(Action::TmAbort);
        }
        for rm in 0..self.rm_count {
            let r = rm as u8;
            if tm_init && s.bit(IN_FLIGHT, rm) {
                actions.push(Action::TmRcvPrepared(r));
            }
            if s.rm(rm) == WORKING {
                actions.push(Action::RmPrepare(r));
                actions.push(Action::RmChooseToAbort(r));
            }
            if s.0 & COMMIT_MSG != 0 {
                actions.push(Action::RmRcvCommitMsg(r));
            }
            if s.0 & ABORT_MSG != 0 {
                actions.push(Action::RmRcvAbortMsg(r));
            }
        }
    }

    fn next_state(&self, s: &Packed, action: Action) -> Option<Packed> {
        let s = *s;
        Some(match action {
            Action::TmRcvPrepared(rm) => Packed(s.0 | 1 << (VOTED + rm as u32)),
            Action::TmCommit => Packed(s.with_tm(TM_COMMITTED).0 | COMMIT_MSG),
            Action::TmAbort => Packed(s.with_tm(TM_ABORTED).0 | ABORT_MSG),
            Action::RmPrepare(rm) => {
                Packed(s.with_rm(rm as usize, PREPARED).0 | 1 << (IN_FLIGHT + rm as u32))
            }
            Action::RmChooseToAbort(rm) | Action::RmRcvAbortMsg(rm) => {
                s.with_rm(rm as usize, ABORTED)
            }
            Action::RmRcvCommitMsg(rm) => s.with_rm(rm as usize, COMMITTED),
        })
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::<Self>::sometimes("abort agreement", |m, s| m.all_rms(*s, ABORTED)),
            Property::<Self>::sometimes("commit agreement", |m, s| m.all_rms(*s, COMMITTED)),
            Property::<Self>::always("consistent", |m, s| {
                !(m.any_rm(*s, ABORTED) && m.any_rm(*s, COMMITTED))
            }),
            Property::<Self>::always("no commit", |m, s| !m.any_rm(*s, COMMITTED)),
        ]
    }
}

/// The canonical representative under permutations of managers: sort the
/// 4-bit per-manager records (state, voted, in flight) and repack them.
pub fn canonical(s: &Packed) -> Packed {
    let s = *s;
    let mut rms = [0u8; MAX_RMS];
    let mut n = 0;
    while n < MAX_RMS {
        rms[n] = (s.rm(n) as u8) << 2 | (s.bit(VOTED, n) as u8) << 1 | s.bit(IN_FLIGHT, n) as u8;
        n += 1;
    }
    // Unused managers are all zero, the smallest record: they sort first.
    // Sorting must keep them out of the used positions, so sort descending
    // and let zero records fall to the unused tail.
    rms.sort_unstable_by(|a, b| b.cmp(a));
    let mut out = s.0 & (3 << TM | COMMIT_MSG | ABORT_MSG);
    for (rm, r) in rms.iter().enumerate() {
        let r = *r as u64;
        out |= (r >> 2) << (2 * rm);
        out |= ((r >> 1) & 1) << (VOTED as usize + rm);
        out |= (r & 1) << (IN_FLIGHT as usize + rm);
    }
    Packed(out)
}
