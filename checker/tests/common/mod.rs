//! Helpers shared by the integration tests that run scripts through the
//! library (selftests.rs, lab.rs).

use std::path::{Path, PathBuf};

use klp_checker::selftest::library::Library;
use klp_checker::selftest::{load_case, run_case, RunOutcome};

/// The repository's root (checker/..).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Loads and runs one case (oracle format or scenario with a script).
pub fn run(path: &Path) -> RunOutcome {
    let lib = Library::builtin();
    let case = load_case(path, &lib).unwrap_or_else(|e| panic!("{e}"));
    run_case(&case, &lib)
}
