//! Bug variants (kernel-semantics.md section 8 and single-rule mutations):
//! every variant other than `none` has a scenario `specs/bugs/<variant>.json`
//! that catches it, and the unmodified model passes the same scenario.
//!
//! For each file: the scenario, run with its own `variant` (native engine,
//! no symmetry), meets every expectation (verdicts and the pinned state
//! count) and violates at least one `always` or `eventually` property. The
//! same scenario with `Variant::None` must then hold every `always` and
//! `eventually` property that the file expects to be violated, except the
//! ones the kernel violates too (listed in `kernel_too`: force breaks
//! consistent-universe by design). The properties that flip from violated
//! to holds are the ones that catch the variant; the `sometimes` witnesses
//! (replace-completes, replaced-patch-reloadable) never count.
//!
//! `cargo test -p klp-checker --test bugs -- --nocapture` prints the
//! mutation score.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use klp_checker::check::check_scenario;
use klp_checker::engines::{Bounds, EngineKind};
use klp_checker::load::{expand, load};
use klp_model::properties::{property, Kind};
use klp_model::{Variant, Verdict};
use klp_reports::Status;

/// What each variant's scenario is meant to show.
struct Bug {
    variant: &'static str,
    /// `always`/`eventually` properties the variant violates and the kernel
    /// keeps (the README's "caught by" column). The test checks that this is
    /// exactly the set that flips from violated to holds.
    caught_by: &'static [&'static str],
    /// Properties the scenario violates with and without the variant (a
    /// documented kernel behaviour, such as force breaking consistency).
    kernel_too: &'static [&'static str],
}

const BUGS: &[Bug] = &[
    Bug {
        variant: "b1-immediate",
        caught_by: &["consistent-universe"],
        kernel_too: &[],
    },
    Bug {
        variant: "b3a-force-marks-all",
        caught_by: &["patch-freed"],
        kernel_too: &["consistent-universe"],
    },
    Bug {
        variant: "b3b-force-replace-no-exception",
        caught_by: &["no-dangling-code", "forced-module-pinned"],
        kernel_too: &["consistent-universe"],
    },
    Bug {
        variant: "b4-global-forced-flag",
        caught_by: &["patch-freed"],
        kernel_too: &["consistent-universe"],
    },
    Bug {
        variant: "b5-coming-keeps-obj-mod",
        caught_by: &["no-dangling-code", "callback-pairing"],
        kernel_too: &[],
    },
    Bug {
        variant: "b6-coming-no-cleanup",
        caught_by: &["no-dangling-code", "callback-pairing"],
        kernel_too: &[],
    },
    Bug {
        variant: "b9-free-replaced-before-post-patch",
        caught_by: &["code-requirements-met"],
        kernel_too: &[],
    },
    Bug {
        variant: "b12-rmmod-frees-shadow",
        caught_by: &["shadow-no-use-after-free"],
        kernel_too: &[],
    },
    Bug {
        variant: "replaced-unpatch-callbacks",
        caught_by: &["only-new-callbacks", "shadow-no-use-after-free"],
        kernel_too: &[],
    },
    Bug {
        variant: "reenable-replaced",
        caught_by: &[
            "replaced-never-reenabled",
            "stack-well-formed",
            "replace-leaves-only-new",
            "callback-pairing",
            "consistent-universe",
            "completion-keeps-code",
        ],
        // The reversed disable of P2 below P1 (klp_check_stack_func).
        kernel_too: &["stack-check-in-bounds"],
    },
    Bug {
        variant: "skip-stack-check",
        caught_by: &["no-dangling-code", "consistent-universe"],
        kernel_too: &[],
    },
    Bug {
        variant: "keep-nops",
        caught_by: &["replace-leaves-only-new"],
        kernel_too: &[],
    },
    Bug {
        variant: "forced-module-put",
        caught_by: &["forced-module-pinned", "no-dangling-code"],
        kernel_too: &["consistent-universe"],
    },
    Bug {
        variant: "two-transitions",
        caught_by: &[
            "single-transition",
            "consistent-universe",
            "completion-keeps-code",
            "no-kernel-warning",
        ],
        kernel_too: &[],
    },
    Bug {
        variant: "post-unpatch-ungated",
        caught_by: &["callback-pairing"],
        kernel_too: &[],
    },
    Bug {
        // Profile replace-set: the RFC's klp_force_transition.
        variant: "rfc-force-marks-self",
        caught_by: &["patch-freed"],
        kernel_too: &["consistent-universe"],
    },
];

/// Variants that no property of the model can catch yet, with the reason
/// (their scenario comes as close as the model allows, their test is
/// `#[ignore]`d and they count as not caught in the mutation score). None
/// at the moment.
const KNOWN_GAPS: &[(&str, &str)] = &[];

/// Variants that are proposed fixes, not bugs: they have no scenario in
/// specs/bugs and no row in BUGS; each has its own test below.
const FIXES: &[&str] = &["fix-stack-check-last"];

fn bugs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/bugs")
}

fn bounds() -> Bounds {
    Bounds {
        threads: 2,
        max_states: None,
        timeout: None,
        symmetry: false,
        memory: None,
        no_liveness: false,
        ..Bounds::default()
    }
}

fn bug(variant: &str) -> &'static Bug {
    BUGS.iter()
        .find(|b| b.variant == variant)
        .unwrap_or_else(|| panic!("no entry for variant `{variant}` in BUGS"))
}

fn is_safety_or_liveness(id: &str) -> bool {
    property(id).is_some_and(|p| p.kind != Kind::Sometimes)
}

/// Runs `specs/bugs/<variant>.json` with its variant and without; returns
/// the properties that catch the variant, or what went wrong.
fn judge(variant: &str) -> Result<Vec<String>, String> {
    let b = bug(variant);
    let path = bugs_dir().join(format!("{variant}.json"));
    let loaded = load(&path).map_err(|e| e.to_string())?;
    let mut scenario = loaded.scenario;
    if scenario.variant.name() != variant {
        return Err(format!(
            "{}: scenario runs variant `{}`, not `{variant}`",
            path.display(),
            scenario.variant.name()
        ));
    }
    if scenario.expected_unique_states.is_none() {
        return Err(format!("{}: no expected_unique_states", path.display()));
    }
    let expected_violated: Vec<String> = scenario
        .expect
        .iter()
        .filter(|(id, v)| **v == Verdict::Violated && is_safety_or_liveness(id))
        .map(|(id, _)| id.clone())
        .collect();

    // 1. With the variant: every expectation met, something violated.
    let with = check_scenario(&path, scenario.clone(), EngineKind::Native, &bounds());
    if !with.complete || !with.ok {
        return Err(format!(
            "{} with its variant does not meet its expectations:\n{}",
            path.display(),
            klp_reports::text::render(&with)
        ));
    }
    let violated_with: Vec<&str> = with
        .properties
        .iter()
        .filter(|p| p.status == Status::Violated && is_safety_or_liveness(&p.id))
        .map(|p| p.id.as_str())
        .collect();
    if violated_with.is_empty() {
        return Err(format!(
            "{}: no always or eventually property is violated with the variant",
            path.display()
        ));
    }

    // 2. The same scenario on the unmodified model.
    scenario.variant = Variant::None;
    let without = check_scenario(&path, scenario, EngineKind::Native, &bounds());
    let status: BTreeMap<&str, Status> = without
        .properties
        .iter()
        .map(|p| (p.id.as_str(), p.status))
        .collect();
    let mut problems = Vec::new();
    for (id, s) in &status {
        if *s == Status::Unknown {
            problems.push(format!("{id} is unknown without the variant"));
        }
    }
    for id in &expected_violated {
        let s = status.get(id.as_str()).copied();
        let want = if b.kernel_too.contains(&id.as_str()) {
            Status::Violated
        } else {
            Status::Holds
        };
        if s != Some(want) {
            problems.push(format!(
                "{id}: expected {} without the variant, got {}",
                want.as_str(),
                s.map_or("nothing", |s| s.as_str())
            ));
        }
    }
    for id in b.kernel_too {
        if !expected_violated.iter().any(|e| e == id) {
            problems.push(format!(
                "{id} is listed as violated in the kernel too but the file does not expect it violated"
            ));
        }
    }
    let caught: Vec<String> = violated_with
        .iter()
        .filter(|id| status.get(*id) == Some(&Status::Holds))
        .map(|id| id.to_string())
        .collect();
    let mut want: Vec<&str> = b.caught_by.to_vec();
    want.sort_unstable();
    let mut got: Vec<&str> = caught.iter().map(String::as_str).collect();
    got.sort_unstable();
    if got != want {
        problems.push(format!(
            "caught by {got:?}, the table says {want:?} (update BUGS and the README)"
        ));
    }
    if caught.is_empty() {
        problems.push("not caught: no property flips from violated to holds".to_string());
    }
    if problems.is_empty() {
        Ok(caught)
    } else {
        Err(format!(
            "{} ({variant}):\n  {}\nwithout the variant:\n{}",
            path.display(),
            problems.join("\n  "),
            klp_reports::text::render(&without)
        ))
    }
}

/// Every variant except `none` has exactly one scenario, named after it,
/// that runs it, and a row in BUGS; nothing else lives in specs/bugs.
#[test]
fn every_variant_has_a_scenario_in_specs_bugs() {
    let files = expand(&[bugs_dir()]).expect("specs/bugs has scenarios");
    let mut names: Vec<String> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut variants: Vec<String> = Variant::ALL
        .iter()
        .filter(|v| **v != Variant::None && !FIXES.contains(&v.name()))
        .map(|v| v.name().to_string())
        .collect();
    variants.sort();
    assert_eq!(
        names, variants,
        "specs/bugs/<variant>.json for every variant but none"
    );
    let mut table: Vec<String> = BUGS.iter().map(|b| b.variant.to_string()).collect();
    table.sort();
    assert_eq!(table, variants, "BUGS has a row per variant");
    for path in files {
        let l = load(&path).unwrap_or_else(|e| panic!("{e}"));
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            l.scenario.variant.name(),
            stem,
            "{}: variant",
            path.display()
        );
        assert!(
            !l.scenario.description.is_empty(),
            "{}: the description says which bug it stands for",
            path.display()
        );
    }
    for b in BUGS {
        assert!(
            b.caught_by.iter().all(|id| is_safety_or_liveness(id)),
            "{}: a variant is caught by an always or eventually property, not a witness",
            b.variant
        );
    }
}

/// Caught variants over all variants other than `none`: must be 100%.
#[test]
fn mutation_score_is_100_percent() {
    let variants: Vec<Variant> = Variant::ALL
        .iter()
        .copied()
        .filter(|v| *v != Variant::None && !FIXES.contains(&v.name()))
        .collect();
    let mut caught = 0;
    let mut missed = Vec::new();
    for v in &variants {
        match judge(v.name()) {
            Ok(by) => {
                caught += 1;
                println!("caught  {:<36} by {}", v.name(), by.join(", "));
            }
            Err(e) => missed.push(format!("{}: {e}", v.name())),
        }
    }
    for (v, why) in KNOWN_GAPS {
        println!("gap     {v:<36} {why}");
    }
    println!(
        "Mutation score: {caught}/{} variants caught",
        variants.len()
    );
    assert!(
        missed.is_empty() && caught == variants.len(),
        "mutation score {caught}/{}:\n{}",
        variants.len(),
        missed.join("\n")
    );
}

macro_rules! bug_tests {
    ($($test:ident => $variant:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                assert!(
                    KNOWN_GAPS.iter().all(|(v, _)| *v != $variant),
                    "a known gap's test must be #[ignore]d"
                );
                if let Err(e) = judge($variant) {
                    panic!("{e}");
                }
            }
        )*
    };
}

bug_tests! {
    b1_immediate => "b1-immediate",
    b3a_force_marks_all => "b3a-force-marks-all",
    b3b_force_replace_no_exception => "b3b-force-replace-no-exception",
    b4_global_forced_flag => "b4-global-forced-flag",
    b5_coming_keeps_obj_mod => "b5-coming-keeps-obj-mod",
    b6_coming_no_cleanup => "b6-coming-no-cleanup",
    b9_free_replaced_before_post_patch => "b9-free-replaced-before-post-patch",
    b12_rmmod_frees_shadow => "b12-rmmod-frees-shadow",
    replaced_unpatch_callbacks => "replaced-unpatch-callbacks",
    reenable_replaced => "reenable-replaced",
    skip_stack_check => "skip-stack-check",
    keep_nops => "keep-nops",
    forced_module_put => "forced-module-put",
    two_transitions => "two-transitions",
    post_unpatch_ungated => "post-unpatch-ungated",
    rfc_force_marks_self => "rfc-force-marks-self",
}

/// The proposed klp_check_stack_func fix (docs/findings/klp-check-stack-func-oob.md):
/// with it the finding's scenario holds every property; without it the
/// same scenario reads past the func_stack.
#[test]
fn fix_stack_check_last_removes_the_read() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../specs/findings/klp-check-stack-func-oob-fixed.json");
    let mut scenario = load(&path).unwrap().scenario;
    assert_eq!(scenario.variant, Variant::FixStackCheckLast);
    let with = check_scenario(&path, scenario.clone(), EngineKind::Native, &bounds());
    assert!(
        with.complete && with.ok,
        "{}",
        klp_reports::text::render(&with)
    );
    assert!(with
        .properties
        .iter()
        .filter(|p| is_safety_or_liveness(&p.id))
        .all(|p| p.status == Status::Holds));
    scenario.variant = Variant::None;
    let without = check_scenario(&path, scenario, EngineKind::Native, &bounds());
    let oob = without
        .properties
        .iter()
        .find(|p| p.id == "stack-check-in-bounds")
        .unwrap();
    assert_eq!(oob.status, Status::Violated);
}
