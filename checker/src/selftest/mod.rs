//! `klpcheck run`: the kernel's livepatch selftests as scripts over the
//! model. A case (an oracle file of specs/selftests/oracle, or a scenario with a
//! `script`) names test modules and steps in the selftests' vocabulary
//! (docs/script-vocabulary.md); the runner steps the model the way the
//! selftests' helpers drive a kernel, with their waiting rules, and collects
//! the log as events (section 1).

pub mod case;
pub mod library;
pub mod runner;
pub mod shadow_program;

pub use case::{load_case, Case};
pub use runner::{run_case, Divergence, RunOutcome};
