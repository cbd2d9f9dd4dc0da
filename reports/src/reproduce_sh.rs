//! reproduce.sh: the counterexample as a kernel livepatch selftest script
//! over tools/testing/selftests/livepatch/functions.sh (its helpers log the
//! `% insmod ...` lines and wait like the kernel's own tests do). Steps with
//! no kernel counterpart (a task's call or return, a work item that does not
//! complete anything) are comments that say so.
//!
//! Names are data, never code: every name and value the script passes to a
//! command is one shell word quoted by the `shlex` crate; comments have
//! their control characters escaped so they stay one line; the expected log
//! sits in a quoted here-document (`<<'EXPECTED'`, no expansion) whose
//! delimiter is chosen so that no line of the log equals it. The script is
//! meant to run as root on a test machine, so a scenario must not be able to
//! make it run anything but the selftest helpers.

use std::borrow::Cow;
use std::fmt::Write;

use klp_model::KlpModel;
use serde_json::Value;

use crate::reproducer::{case_steps, CaseStep};
use crate::trace::Walk;

/// `text` as one shell word (`shlex`, bash-compatible); NUL, which no
/// shell word can hold, becomes `\0`.
pub fn quote(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        return Cow::Owned(quote(&text.replace('\0', "\\0")).into_owned());
    }
    shlex::try_quote(text).unwrap_or(Cow::Borrowed("''"))
}

/// `text` safe inside a `#` comment: one line, control characters escaped.
pub fn comment(text: &str) -> String {
    text.chars()
        .flat_map(|c| -> Box<dyn Iterator<Item = char>> {
            if c.is_control() {
                Box::new(c.escape_debug())
            } else {
                Box::new(std::iter::once(c))
            }
        })
        .collect()
}

/// A here-document delimiter that is no line of `lines`.
pub fn heredoc_delimiter(lines: &[String]) -> String {
    let mut delim = "EXPECTED".to_string();
    let mut n = 0;
    while lines
        .iter()
        .any(|l| l.trim_end_matches('\r') == delim || l == &delim)
    {
        n += 1;
        delim = format!("EXPECTED_{n}");
    }
    delim
}

/// The shell variable holding each patch's module name (`MOD_P1`): the
/// upper-cased patch name, with the patch's index appended when two names
/// would give the same variable.
fn shell_vars(sc: &klp_model::Scenario) -> Vec<String> {
    let base = |name: &str| -> String {
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
    };
    let bases: Vec<String> = sc.patches.iter().map(|p| base(&p.name)).collect();
    bases
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if bases.iter().filter(|x| *x == b).count() > 1 {
                format!("{b}_{i}")
            } else {
                b.clone()
            }
        })
        .collect()
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
        "# klpcheck counterexample: {} in scenario {} ({})",
        comment(property),
        comment(&sc.name),
        comment(spec_path)
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
    let _ = writeln!(out, ". \"$(dirname \"$0\")/functions.sh\"");
    let _ = writeln!(out);
    let vars = shell_vars(sc);
    for (p, v) in sc.patches.iter().zip(&vars) {
        let _ = writeln!(out, "{v}={}", quote(&p.module));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "setup_config");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "start_test {}",
        quote(&format!("klpcheck counterexample: {property}"))
    );
    let _ = writeln!(out);
    // A patch's module as a shell word: its variable, quoted.
    let var = |name: &str| match sc.patch_by_name(name) {
        Some(p) => format!("\"${}\"", vars[p as usize]),
        None => quote(name).into_owned(),
    };
    // The same inside a double-quoted string.
    let var_in = |name: &str| match sc.patch_by_name(name) {
        Some(p) => format!("${}", vars[p as usize]),
        None => "UNKNOWN_PATCH".to_string(),
    };
    let steps = case_steps(model, walk);
    for (i, s) in steps.iter().enumerate() {
        let _ = writeln!(out, "# {}. {}", i + 1, comment(&s.command));
        let params = s
            .args
            .get("params")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!(" {}", quote(&format!("{k}={v}"))))
                    .collect::<String>()
            })
            .unwrap_or_default();
        let line = match s.op {
            "load_livepatch_nowait" => format!("load_lp_nowait {}{params}", var(arg(s, "patch"))),
            "load_livepatch_expect_failure" => format!(
                "load_failing_mod {}{params}\t# fails with {}",
                var(arg(s, "patch")),
                comment(arg(s, "expected_errno"))
            ),
            "write_enabled" => {
                let v = s.args.get("value").and_then(Value::as_u64).unwrap_or(0);
                let m = var_in(arg(s, "patch"));
                format!("log \"% echo {v} > $SYSFS_KLP_DIR/{m}/enabled\"\necho {v} > \"$SYSFS_KLP_DIR/{m}/enabled\"")
            }
            "force_livepatch" => {
                let m = var_in(arg(s, "patch"));
                format!("log \"% echo 1 > $SYSFS_KLP_DIR/{m}/force\"\necho 1 > \"$SYSFS_KLP_DIR/{m}/force\"")
            }
            "unload_module" if sc.patch_by_name(arg(s, "module")).is_some() => {
                format!("unload_lp {}", var(arg(s, "module")))
            }
            "unload_module" => format!("unload_mod {}", quote(arg(s, "module"))),
            "load_module" => format!("load_mod {}", quote(arg(s, "module"))),
            "load_module_expect_failure" => format!(
                "load_failing_mod {}\t# fails with {}",
                quote(arg(s, "module")),
                comment(arg(s, "expected_errno"))
            ),
            "set_pre_patch_ret" => format!(
                "set_pre_patch_ret {} {}",
                var(arg(s, "patch")),
                quote(&s.args.get("value").map(|v| v.to_string()).unwrap_or_default())
            ),
            "transition_work" if s.completes_transition => {
                "# klp_transition_work completes the transition: wait for it\nloop_until 'grep -q \"^0$\" $SYSFS_KLP_DIR/*/transition' ||\n\tdie \"transition did not complete\"".to_string()
            }
            "transition_work" => {
                "# (klp_transition_work runs; no kernel command: it runs by itself)".to_string()
            }
            "free_work" => {
                let m = var_in(arg(s, "patch"));
                format!("loop_until '[[ ! -e \"$SYSFS_KLP_DIR/{m}\" ]]' ||\n\tdie \"{m} was not freed\"")
            }
            _ => format!("# ({}: no kernel counterpart)", comment(&s.command)),
        };
        let _ = writeln!(out, "{line}");
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "# Here the model's state violates {}; see trace.txt beside this file.",
        comment(property)
    );
    let _ = writeln!(
        out,
        "# The kernel log the model expects (check_result compares it):"
    );
    let mut log = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        if let Some(m) = &s.marker {
            log.push(format!("% {}", marker_command(sc, s, m)));
        }
        for e in &walk.events[i] {
            if let Some(l) = crate::kernel_log::log_line(sc, e) {
                log.push(l);
            }
        }
    }
    // One line per entry, no control characters: nothing can end the
    // here-document but its delimiter.
    let log: Vec<String> = log.iter().flat_map(|l| l.lines().map(comment)).collect();
    let delim = heredoc_delimiter(&log);
    let _ = writeln!(out, "check_result \"$(cat <<'{delim}'");
    for l in &log {
        let _ = writeln!(out, "{l}");
    }
    let _ = writeln!(out, "{delim}");
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
