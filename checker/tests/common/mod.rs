//! Helpers shared by the integration tests that run scripts through the
//! library (selftests.rs, lab.rs).

use std::collections::BTreeSet;
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

/// The event names (before the parenthesis) quoted in `text`.
pub fn event_names(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split('`').skip(1).step_by(2).map(|name| {
        name.split('(')
            .next()
            .unwrap()
            .trim_end_matches('*')
            .trim_end_matches('_')
            .to_string()
    })
}

/// The event vocabulary of selftests-oracle.md section 1 (its table's first
/// column).
pub fn oracle_vocabulary() -> BTreeSet<String> {
    let path = repo().join("../shared/reference/selftests-oracle.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (these tests read ../shared beside the repository, as CI lays it out)",
            path.display()
        )
    });
    let section = doc
        .split("## 1.")
        .nth(1)
        .unwrap()
        .split("## 2.")
        .next()
        .unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|line| event_names(line.split('|').nth(1).unwrap()).collect::<Vec<_>>())
        .collect()
}
