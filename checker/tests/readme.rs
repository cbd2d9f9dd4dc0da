//! The README's state counts are the scenarios' pins: every table row that
//! names a scenario of specs/ and ends in a number quotes that scenario's
//! `expected_unique_states` (without symmetry reduction), which
//! tests/specs.rs checks on every engine.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn readme_state_counts_are_the_pins() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let specs = klp_checker::load::expand(&[repo().join("specs")]).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in readme.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(count) = cells
            .iter()
            .rev()
            .find(|c| !c.is_empty())
            .and_then(|c| c.replace(',', "").parse::<u64>().ok())
        else {
            continue;
        };
        let Some(path) = specs.iter().find(|p| {
            let stem = p.file_stem().unwrap().to_str().unwrap();
            cells
                .iter()
                .any(|c| *c == stem || *c == format!("`{stem}`"))
        }) else {
            continue;
        };
        let l = klp_checker::load::load(path).unwrap();
        checked += 1;
        if l.scenario.expected_unique_states != Some(count) {
            wrong.push(format!(
                "{}: README says {count}, the pin is {:?}",
                path.display(),
                l.scenario.expected_unique_states
            ));
        }
    }
    assert!(checked >= 20, "only {checked} README rows name a scenario");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
