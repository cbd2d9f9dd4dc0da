//! # klp-checker: the `klpcheck` command
//!
//! Loads scenarios, runs a search engine over the livepatch model of
//! `klp-model`, judges each property against the scenario's expectations and
//! prints the report (`klp-reports`). The binary (`main.rs`) only maps the
//! outcome to an exit code:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | every scenario met its expectations |
//! | 1 | some expectation failed (a counterexample was printed) |
//! | 2 | usage error or invalid input |
//! | 3 | incomplete: a bound stopped a search or pass (0 with `--allow-incomplete`) |

/// `eprint!` that drops its text when stderr is closed
/// (`klpcheck check bad.json 2>&1 | head -1`) instead of panicking: a
/// reader that stopped reading is not an error of the check.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprintln!` that drops its text when stderr is closed (see [`say!`]).
macro_rules! sayln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `print!` that drops its text when stdout is closed (`| head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

pub mod check;
pub mod cli;
pub mod cmd_check;
pub mod cmd_gen;
pub mod cmd_validate;
pub mod coverage;
/// The native engine, a crate of its own (engine/): generic over a
/// `stateright::Model`, no livepatch knowledge.
pub use klp_engine as engine;
pub mod engines;
pub mod explore;
pub mod fuzz;
pub mod import;
pub mod interrupt;
pub mod list;
pub mod liveness;
pub mod load;
pub mod locate;
pub mod out;
pub mod progress;
pub mod replay;
pub mod run;
pub mod schema;
pub mod selftest;
pub mod simulate;
pub mod trace_validation;
