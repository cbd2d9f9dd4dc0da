//! The text report: per scenario, each property's verdict and, for a
//! violation, the trace as a shell session with the kernel's log.

use std::fmt::Write;

use crate::report::{Coverage, ScenarioReport, Status, TraceStep};

/// Renders one scenario's result.
pub fn render(r: &ScenarioReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} ({}) [profile {}, variant {}, engine {}]",
        if r.ok { "PASS" } else { "FAIL" },
        r.spec.name,
        r.spec.path,
        r.profile,
        r.variant,
        r.engine
    );
    let _ = writeln!(
        out,
        "  {} states, {} unique, depth {}, {:.2}s{}",
        r.stats.states,
        r.stats.unique_states,
        r.stats.max_depth,
        r.stats.seconds,
        match &r.incomplete_reason {
            Some(why) => format!(" (incomplete: {why})"),
            None => String::new(),
        }
    );
    if let Some(n) = r.expected_unique_states {
        if !r.count_ok() {
            let _ = writeln!(
                out,
                "  state count changed: expected {n} unique states, got {}",
                r.stats.unique_states
            );
        }
    }
    for p in &r.properties {
        let mark = if p.ok { "ok  " } else { "FAIL" };
        let _ = writeln!(
            out,
            "  {mark} {:<28} {:<9} (expected {})",
            p.id,
            p.status.as_str(),
            p.expected
        );
        if let (Some(trace), true) = (&p.trace, p.status == Status::Violated || !p.ok) {
            let what = match p.kind.as_str() {
                "sometimes" => "example",
                "eventually" => "lasso",
                _ => "counterexample",
            };
            let _ = writeln!(out, "       {what} ({} steps):", trace.len());
            match p.loop_start {
                Some(k) if k == trace.len() => {
                    out += &render_trace(trace, "         ");
                    let _ = writeln!(
                        out,
                        "         -- then no action that must happen is enabled: the system stays here forever --"
                    );
                }
                Some(k) => {
                    out += &render_trace(&trace[..k], "         ");
                    let _ = writeln!(
                        out,
                        "         -- loop: the following steps repeat forever --"
                    );
                    out += &render_trace(&trace[k..], "         ");
                }
                None => out += &render_trace(trace, "         "),
            }
        }
    }
    out
}

/// A trace as a shell session: `$ command` then the log lines it printed.
pub fn render_trace(trace: &[TraceStep], indent: &str) -> String {
    let mut out = String::new();
    for (i, step) in trace.iter().enumerate() {
        out += &step_header(i, step, indent);
        for line in &step.transcript {
            let _ = writeln!(out, "{indent}       {line}");
        }
    }
    out
}

/// One scenario checked under several profiles: a table of verdicts, one
/// column per profile (`*` marks a verdict that is not the expected one),
/// then the full report of every profile whose run failed.
pub fn render_side_by_side(reports: &[ScenarioReport]) -> String {
    let mut out = String::new();
    let Some(first) = reports.first() else {
        return out;
    };
    let all_ok = reports.iter().all(|r| r.ok);
    let _ = writeln!(
        out,
        "{} {} ({}) [profiles {}, variant {}, engine {}]",
        if all_ok { "PASS" } else { "FAIL" },
        first.spec.name,
        first.spec.path,
        reports
            .iter()
            .map(|r| r.profile.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        first.variant,
        first.engine
    );
    let _ = write!(out, "  {:<28}", "property");
    for r in reports {
        let _ = write!(out, " {:<12}", r.profile);
    }
    out.push('\n');
    for (i, p) in first.properties.iter().enumerate() {
        let _ = write!(out, "  {:<28}", p.id);
        for r in reports {
            let q = &r.properties[i];
            let cell = format!("{}{}", q.status.as_str(), if q.ok { "" } else { "*" });
            let _ = write!(out, " {cell:<12}");
        }
        out.push('\n');
    }
    let _ = write!(out, "  {:<28}", "unique states");
    for r in reports {
        let _ = write!(out, " {:<12}", r.stats.unique_states);
    }
    out.push('\n');
    if !all_ok {
        out += "  (* not the expected verdict; details below)\n";
        for r in reports.iter().filter(|r| !r.ok) {
            out += &render(r);
        }
    }
    out
}

/// Whether a step is a command typed in a shell (not a kernel work item or a
/// task's step).
pub fn is_shell(action: &str) -> bool {
    !action.starts_with('[') && !action.starts_with("task ")
}

/// `  3. $ insmod p.ko` or `  4. (task 1 calls f())`, with a newline.
pub fn step_header(i: usize, step: &TraceStep, indent: &str) -> String {
    if is_shell(&step.action) {
        format!("{indent}{:>3}. $ {}\n", i + 1, step.action)
    } else {
        format!("{indent}{:>3}. ({})\n", i + 1, step.action)
    }
}

/// The action coverage table: each kind, how often it changed the state and
/// how often it was enabled.
pub fn render_coverage(c: &Coverage) -> String {
    let mut out = format!(
        "  action coverage ({} states{}): fired/enabled\n",
        c.states,
        if c.complete { "" } else { ", incomplete" }
    );
    for a in &c.actions {
        let _ = writeln!(out, "    {:>7}/{:<7} {}", a.fired, a.enabled, a.kind);
    }
    for w in &c.warnings {
        let _ = writeln!(out, "    warning: {w}");
    }
    out
}
