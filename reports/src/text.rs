//! The text report: per scenario, each property's verdict and, for a
//! violation, the trace as a shell session with the kernel's log.

use std::fmt::Write;

use crate::report::{Coverage, PropertyReport, ScenarioReport, Status, TraceStep};

/// How the text report is rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// Every property line and every trace (witness examples, expected
    /// violations); otherwise only what is not a plain "holds as expected",
    /// and traces only of failed expectations.
    pub verbose: bool,
    /// ANSI colours (the caller decides: a terminal, NO_COLOR unset).
    pub color: bool,
}

impl TextOptions {
    /// Everything, no colour: what [`render`] prints.
    pub const FULL: TextOptions = TextOptions {
        verbose: true,
        color: false,
    };

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// The scenario's verdict word: PASS, FAIL, or INCOMPLETE (a bound stopped
/// a search or pass before everything was decided; never PASS).
pub fn verdict_word(r: &ScenarioReport) -> &'static str {
    if !r.ok {
        "FAIL"
    } else if !r.complete {
        "INCOMPLETE"
    } else {
        "PASS"
    }
}

/// Whether `p` is a `sometimes` witness the scenario states nothing about.
pub fn is_report_only(p: &PropertyReport) -> bool {
    p.kind == "sometimes" && p.expected == "none"
}

/// A property's status as the text report words it: witnesses are
/// `reached` / `not reached`.
pub fn status_word(p: &PropertyReport) -> &'static str {
    match (p.kind.as_str(), p.status) {
        ("sometimes", Status::Holds) => "reached",
        ("sometimes", Status::Violated) => "not reached",
        (_, s) => s.as_str(),
    }
}

/// Renders one scenario's result in full (every property, every trace).
pub fn render(r: &ScenarioReport) -> String {
    render_with(r, TextOptions::FULL)
}

/// Renders one scenario's result.
pub fn render_with(r: &ScenarioReport, opt: TextOptions) -> String {
    let mut out = String::new();
    let word = verdict_word(r);
    let painted = match word {
        "PASS" => opt.paint("1;32", word),
        "FAIL" => opt.paint("1;31", word),
        _ => opt.paint("1;33", word),
    };
    let _ = writeln!(
        out,
        "{painted} {} ({}) [profile {}, variant {}, engine {}]",
        r.spec.name, r.spec.path, r.profile, r.variant, r.engine
    );
    let _ = writeln!(
        out,
        "  {} unique states ({} generated), depth {}, {:.2}s{}",
        r.stats.unique_states,
        r.stats.states,
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
                "  {} state count changed: expected {n} unique states, got {}",
                opt.paint("1;31", "FAIL"),
                r.stats.unique_states
            );
        }
    }
    let mut quiet_holds = 0;
    for p in &r.properties {
        let report_only = is_report_only(p);
        let plain = p.ok && !report_only && p.status.as_str() == p.expected;
        if plain && p.expected == "holds" && !opt.verbose {
            quiet_holds += 1;
            continue;
        }
        let mark = if !p.ok {
            opt.paint("1;31", "FAIL")
        } else if p.status == Status::Unknown {
            opt.paint("33", "??  ")
        } else if report_only {
            "--  ".to_string()
        } else {
            opt.paint("32", "ok  ")
        };
        let note = if report_only {
            "(witness, no expectation)".to_string()
        } else if p.status == Status::Unknown {
            format!("(expected {}; not decided)", p.expected)
        } else {
            format!("(expected {})", p.expected)
        };
        let _ = writeln!(out, "  {mark} {:<28} {:<11} {note}", p.id, status_word(p));
        let show = !p.ok || opt.verbose;
        if let (Some(trace), true) = (&p.trace, show) {
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
            if let Some(why) = &p.why {
                let _ = writeln!(out, "         why: {why}");
            }
        } else if p.trace.is_some() && p.status != Status::Unknown {
            let what = if p.kind == "sometimes" {
                "example with -v"
            } else {
                "trace with -v or --out"
            };
            let _ = writeln!(out, "       ({what})");
        }
    }
    if quiet_holds > 0 {
        let _ = writeln!(
            out,
            "  {} {quiet_holds} other properties hold as expected (-v lists them)",
            opt.paint("32", "ok  ")
        );
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
    let all_complete = reports.iter().all(|r| r.complete);
    let _ = writeln!(
        out,
        "{} {} ({}) [profiles {}, variant {}, engine {}]",
        if !all_ok {
            "FAIL"
        } else if !all_complete {
            "INCOMPLETE"
        } else {
            "PASS"
        },
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
            let cell = format!("{}{}", status_word(q), if q.ok { "" } else { "*" });
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
        "  action coverage{}: fired/enabled\n",
        if c.complete {
            ""
        } else {
            " (incomplete: a bound stopped the pass)"
        }
    );
    for a in &c.actions {
        let _ = writeln!(out, "    {:>7}/{:<7} {}", a.fired, a.enabled, a.kind);
    }
    for w in &c.warnings {
        let _ = writeln!(out, "    warning: {w}");
    }
    out
}
