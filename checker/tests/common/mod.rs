//! Helpers shared by the integration tests: scripts run through the
//! library (selftests.rs, lab.rs) and the binary run with a timeout
//! (errors.rs, reliability.rs).

// Each test binary uses some of these.
#![allow(dead_code)]

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

/// The part of docs/script-vocabulary.md between the heading that starts
/// with `from` and the next heading that starts with `to`.
pub fn vocabulary_section(from: &str, to: &str) -> String {
    let path = repo().join("docs/script-vocabulary.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = doc
        .find(&format!("\n{from}"))
        .unwrap_or_else(|| panic!("no heading `{from}` in {}", path.display()));
    let rest = &doc[start + 1..];
    let end = rest[from.len()..]
        .find(&format!("\n{to}"))
        .map_or(rest.len(), |e| e + from.len());
    rest[..end].to_string()
}

/// The names quoted in the first column of the tables of `section`.
pub fn first_column_names(section: &str) -> BTreeSet<String> {
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|line| event_names(line.split('|').nth(1).unwrap()).collect::<Vec<_>>())
        .collect()
}

/// The events the kernel's selftests see (docs/script-vocabulary.md,
/// "## Events", before the lab's own events).
pub fn oracle_vocabulary() -> BTreeSet<String> {
    first_column_names(&vocabulary_section("## Events", "### Events of the lab"))
}

/// The lab's own events (docs/script-vocabulary.md, "### Events of the lab").
#[allow(dead_code)] // used by lab.rs only
pub fn lab_vocabulary() -> BTreeSet<String> {
    first_column_names(&vocabulary_section("### Events of the lab", "### "))
}

/// Every step op documented in docs/script-vocabulary.md ("## Steps").
#[allow(dead_code)] // used by selftests.rs only
pub fn step_vocabulary() -> BTreeSet<String> {
    first_column_names(&vocabulary_section("## Steps", "## "))
}

/// Runs the `klpcheck` binary with `args` (no GitHub Actions environment,
/// a 120 s timeout, so that a hang fails instead of stalling the suite):
/// exit code (-1 when killed), stdout, stderr.
pub fn klpcheck(args: &[&str]) -> (i32, String, String) {
    let o = assert_cmd::Command::cargo_bin("klpcheck")
        .unwrap()
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
