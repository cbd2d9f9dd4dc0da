//! reproduce.sh: the counterexample as a kernel livepatch selftest script
//! over tools/testing/selftests/livepatch/functions.sh (its helpers log the
//! `% insmod ...` lines and wait like the kernel's own tests do). Steps with
//! no kernel counterpart (a task's call or return, a work item that does not
//! complete anything) are comments that say so.

use std::fmt::Write;

use klp_model::KlpModel;
use serde_json::Value;

use crate::reproducer::{case_steps, CaseStep};
use crate::trace::Walk;

fn shell_var(name: &str) -> String {
    let v: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("MOD_{v}")
}

fn arg<'a>(s: &'a CaseStep, k: &str) -> &'a str {
    s.args.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The script for `walk`.
pub fn reproduce_sh(model: &KlpModel, walk: &Walk, property: &str, spec_path: &str) -> String {
    let sc = &*model.sc;
    let mut out = String::new();
    let _ = writeln!(out, "#!/bin/bash");
    let _ = writeln!(out, "# SPDX-License-Identifier: GPL-2.0");
    let _ = writeln!(out, "#");
    let _ = writeln!(
        out,
        "# klpcheck counterexample: {property} in scenario {} ({spec_path})",
        sc.name
    );
    let _ = writeln!(
        out,
        "# Run from tools/testing/selftests/livepatch/ with livepatch modules built"
    );
    let _ = writeln!(
        out,
        "# from the scenario's patches (one test_modules/<module>.ko each). Steps"
    );
    let _ = writeln!(
        out,
        "# that are a task's call or return have no kernel command: they are"
    );
    let _ = writeln!(
        out,
        "# comments, and a real run needs a kernel thread that sleeps in that"
    );
    let _ = writeln!(
        out,
        "# function (as test_klp_callbacks_busy's worker does)."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, ". $(dirname $0)/functions.sh");
    let _ = writeln!(out);
    for p in &sc.patches {
        let _ = writeln!(out, "{}={}", shell_var(&p.name), p.module);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "setup_config");
    let _ = writeln!(out);
    let _ = writeln!(out, "start_test \"klpcheck counterexample: {property}\"");
    let _ = writeln!(out);
    let var = |name: &str| match sc.patch_by_name(name) {
        Some(_) => format!("${}", shell_var(name)),
        None => name.to_string(),
    };
    let steps = case_steps(model, walk);
    for (i, s) in steps.iter().enumerate() {
        let _ = writeln!(out, "# {}. {}", i + 1, s.command);
        let params = s
            .args
            .get("params")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!(" {k}={v}"))
                    .collect::<String>()
            })
            .unwrap_or_default();
        let line = match s.op {
            "load_livepatch_nowait" => format!("load_lp_nowait {}{params}", var(arg(s, "patch"))),
            "load_livepatch_expect_failure" => format!(
                "load_failing_mod {}{params}\t# fails with {}",
                var(arg(s, "patch")),
                arg(s, "expected_errno")
            ),
            "write_enabled" => {
                let v = s.args.get("value").and_then(Value::as_u64).unwrap_or(0);
                let m = var(arg(s, "patch"));
                format!("log \"% echo {v} > $SYSFS_KLP_DIR/{m}/enabled\"\necho {v} > $SYSFS_KLP_DIR/{m}/enabled")
            }
            "force_livepatch" => {
                let m = var(arg(s, "patch"));
                format!("log \"% echo 1 > $SYSFS_KLP_DIR/{m}/force\"\necho 1 > $SYSFS_KLP_DIR/{m}/force")
            }
            "unload_module" if sc.patch_by_name(arg(s, "module")).is_some() => {
                format!("unload_lp {}", var(arg(s, "module")))
            }
            "unload_module" => format!("unload_mod {}", arg(s, "module")),
            "load_module" => format!("load_mod {}", arg(s, "module")),
            "load_module_expect_failure" => format!(
                "load_failing_mod {}\t# fails with {}",
                arg(s, "module"),
                arg(s, "expected_errno")
            ),
            "set_pre_patch_ret" => format!(
                "set_pre_patch_ret {} {}",
                var(arg(s, "patch")),
                s.args.get("value").map(|v| v.to_string()).unwrap_or_default()
            ),
            "transition_work" if s.completes_transition => {
                "# klp_transition_work completes the transition: wait for it\nloop_until 'grep -q \"^0$\" $SYSFS_KLP_DIR/*/transition' ||\n\tdie \"transition did not complete\"".to_string()
            }
            "transition_work" => {
                "# (klp_transition_work runs; no kernel command: it runs by itself)".to_string()
            }
            "free_work" => {
                let m = var(arg(s, "patch"));
                format!("loop_until '[[ ! -e $SYSFS_KLP_DIR/{m} ]]' ||\n\tdie \"{m} was not freed\"")
            }
            _ => format!("# ({}: no kernel counterpart)", s.command),
        };
        let _ = writeln!(out, "{line}");
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "# Here the model's state violates {property}; see trace.txt beside this file."
    );
    let _ = writeln!(
        out,
        "# The kernel log the model expects (check_result compares it):"
    );
    let _ = writeln!(out, "check_result \"$(cat <<'EXPECTED'");
    for (i, s) in steps.iter().enumerate() {
        if let Some(m) = &s.marker {
            let _ = writeln!(out, "% {}", marker_command(sc, s, m));
        }
        for e in &walk.events[i] {
            if let Some(l) = crate::kernel_log::log_line(sc, e) {
                let _ = writeln!(out, "{l}");
            }
        }
    }
    let _ = writeln!(out, "EXPECTED");
    let _ = writeln!(out, ")\"");
    let _ = writeln!(out);
    let _ = writeln!(out, "exit 0");
    out
}

/// The `% ...` line functions.sh logs for a step.
fn marker_command(sc: &klp_model::Scenario, s: &CaseStep, marker: &str) -> String {
    let module = |name: &str| {
        sc.patch_by_name(name)
            .map(|p| sc.patches[p as usize].module.clone())
            .unwrap_or_else(|| name.to_string())
    };
    match s.op {
        "load_livepatch_nowait"
        | "load_livepatch_expect_failure"
        | "load_module"
        | "load_module_expect_failure" => {
            let name = s
                .args
                .get("patch")
                .or_else(|| s.args.get("module"))
                .and_then(Value::as_str)
                .unwrap_or("");
            format!("insmod test_modules/{}.ko", module(name))
        }
        "unload_module" => format!("rmmod {}", module(arg(s, "module"))),
        "write_enabled" => format!(
            "echo {} > /sys/kernel/livepatch/{}/enabled",
            s.args.get("value").and_then(Value::as_u64).unwrap_or(0),
            module(arg(s, "patch"))
        ),
        "force_livepatch" => format!(
            "echo 1 > /sys/kernel/livepatch/{}/force",
            module(arg(s, "patch"))
        ),
        _ => marker.to_string(),
    }
}
