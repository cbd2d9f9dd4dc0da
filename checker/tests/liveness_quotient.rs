//! Liveness on the symmetry quotient (`liveness::quotient_verdicts`) is
//! held to the full graph: on every scenario of specs/ whose fairness names
//! no task, and on random scenarios, each obligation's quotient answer
//! ("may hold a fair lasso") equals the full graph's ("holds one"). The
//! quotient is exact (liveness.rs says why); `check` trusts only its
//! "holds", so a disagreement either way is a bug this test must catch.

use std::path::{Path, PathBuf};

use klp_checker::engines::Bounds;
use klp_checker::liveness::quotient_against_full;
use klp_checker::load::{expand, load};
use klp_model::KlpModel;

fn bounds() -> Bounds {
    Bounds {
        threads: 2,
        ..Bounds::default()
    }
}

#[test]
fn the_quotient_agrees_with_the_full_graph_on_every_spec() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let specs: Vec<PathBuf> = expand(&[dir]).expect("specs/ has scenarios");
    let mut compared = 0;
    let mut violations = 0;
    let mut failures = Vec::new();
    for path in specs {
        if path.components().any(|c| c.as_os_str() == "bench") {
            continue;
        }
        let l = load(&path).unwrap_or_else(|e| panic!("{e}"));
        let model = KlpModel::new(l.scenario);
        let Some(per_obligation) = quotient_against_full(&model, &bounds()) else {
            continue;
        };
        compared += 1;
        for (k, (quotient, full)) in per_obligation.into_iter().enumerate() {
            violations += full as usize;
            if quotient != full {
                failures.push(format!(
                    "{}: obligation {k}: quotient says {quotient}, full graph {full}",
                    path.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(compared > 50, "only {compared} specs compared");
    assert!(
        violations > 0,
        "no spec has a liveness violation to compare"
    );
    eprintln!("compared {compared} specs, {violations} fair lassos");
}

mod random {
    use klp_checker::engines::Bounds;
    use klp_checker::liveness::quotient_against_full;
    use klp_model::{parse_spec, KlpModel, Scenario};
    use proptest::prelude::*;

    /// A random scenario of 2 or 3 interchangeable tasks on 1 or 2 CPUs:
    /// two patches over f and g, the admin's commands, user tasks or
    /// kthreads, and now and then what breaks liveness (a bug variant that
    /// keeps a module reference after a force, the stack check of the
    /// klp-check-stack-func-oob finding that never switches a kthread).
    fn spec_json(
        tasks: u32,
        cpus: u32,
        funcs: [bool; 4],
        replace: bool,
        admin: [bool; 4],
        kthread: bool,
        breaks: u8,
    ) -> String {
        let patch = |f: bool, g: bool| {
            let mut v = Vec::new();
            if f {
                v.push(r#""f": {}"#);
            }
            if g || !f {
                v.push(r#""g": {}"#);
            }
            format!(
                r#"{{"objects": {{"vmlinux": {{"funcs": {{{}}}}}}}}}"#,
                v.join(", ")
            )
        };
        let p2 = patch(funcs[2], funcs[3]);
        let p2 = if replace {
            p2.replacen('{', r#"{"replace": true, "#, 1)
        } else {
            p2
        };
        let [disable, enable, force, rmmod] = admin;
        let (variant, oob) = match breaks {
            1 => (r#""variant": "b4-global-forced-flag","#, ""),
            2 => (r#""variant": "b3a-force-marks-all","#, ""),
            3 => ("", r#""stack_check_oob": "everything","#),
            _ => ("", ""),
        };
        let kind = if kthread { "kthread" } else { "user" };
        format!(
            r#"{{"spec_version": 1, {variant} {oob}
                "cpus": {cpus},
                "objects": {{"vmlinux": {{"funcs": ["f", "g"]}}}},
                "patches": {{"P1": {}, "P2": {p2}}},
                "tasks": {{"count": {tasks}, "max_depth": 1, "entry": ["f", "g"], "kind": "{kind}"}},
                "admin": {{"disable": {disable}, "enable": {enable}, "force": {force}, "rmmod": {rmmod}}}}}"#,
            patch(funcs[0], funcs[1])
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        /// The quotient's answer per obligation equals the full graph's.
        #[test]
        fn the_quotient_agrees_with_the_full_graph_on_random_scenarios(
            tasks in 2u32..=3,
            cpus in 1u32..=2,
            funcs in any::<[bool; 4]>(),
            replace in any::<bool>(),
            admin in any::<[bool; 4]>(),
            kthread in any::<bool>(),
            breaks in 0u8..4,
        ) {
            let text = spec_json(tasks, cpus, funcs, replace, admin, kthread, breaks);
            let spec = parse_spec(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let sc = Scenario::compile(&spec, "random").unwrap_or_else(|e| panic!("{e}\n{text}"));
            let model = KlpModel::new(sc);
            let bounds = Bounds { threads: 2, ..Bounds::default() };
            let per = quotient_against_full(&model, &bounds).expect("the quotient applies");
            for (k, (quotient, full)) in per.into_iter().enumerate() {
                prop_assert_eq!(quotient, full, "obligation {} of {}", k, text);
            }
        }
    }
}
