//! GitHub Actions: workflow-command annotations
//! (`::error file=...,line=...,title=<property>::<one line>`) and the
//! Markdown job summary (appended to $GITHUB_STEP_SUMMARY).

use std::fmt::Write;

use crate::ci::{one_line, property_line, Checked};
use crate::escape::markdown;

/// Escapes a workflow-command property value (`%`, CR, LF, `:` and `,`).
fn esc_property(s: &str) -> String {
    esc_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Escapes workflow-command data (`%`, CR, LF).
fn esc_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// One `::error` line per property that failed its expectation.
pub fn annotations(checked: &[Checked]) -> String {
    let mut out = String::new();
    for c in checked {
        let r = c.report;
        for p in r.properties.iter().filter(|p| !p.ok) {
            let line = c.spec_text.map_or(1, |t| property_line(t, &p.id));
            let mut msg = format!("{}: {}", r.spec.name, one_line(p));
            if let Some(folder) = c.folders.get(&p.id) {
                msg += &format!(" (traces: {folder})");
            }
            let _ = writeln!(
                out,
                "::error file={},line={line},title={}::{}",
                esc_property(&r.spec.path),
                esc_property(&p.id),
                esc_data(&msg)
            );
        }
        if !r.count_ok() {
            let _ = writeln!(
                out,
                "::error file={},line=1,title=expected-unique-states::{}",
                esc_property(&r.spec.path),
                esc_data(&format!(
                    "{}: expected {} unique states, got {}",
                    r.spec.name,
                    r.expected_unique_states.unwrap_or(0),
                    r.stats.unique_states
                ))
            );
        }
    }
    out
}

/// The job summary: a table of scenarios, the failed expectations, and the
/// Mermaid diagram of each counterexample (`diagrams`: property folder's
/// trace.md, by scenario and property).
pub fn step_summary(checked: &[Checked], diagrams: &[(String, String, String)]) -> String {
    let mut out = String::from(
        "## klpcheck\n\n| scenario | result | unique states | violated |\n|---|---|---|---|\n",
    );
    for c in checked {
        let r = c.report;
        let violated: Vec<String> = r
            .properties
            .iter()
            .filter(|p| p.status == crate::Status::Violated)
            .map(|p| {
                if p.ok {
                    format!("{} (expected)", markdown(&p.id))
                } else {
                    format!("**{}**", markdown(&p.id))
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            markdown(&r.spec.name),
            if r.ok { "pass" } else { "**FAIL**" },
            r.stats.unique_states,
            violated.join(", ")
        );
    }
    let failed: Vec<String> = checked
        .iter()
        .flat_map(|c| {
            c.report.properties.iter().filter(|p| !p.ok).map(move |p| {
                format!(
                    "- {}: {}",
                    markdown(&c.report.spec.name),
                    markdown(&one_line(p))
                )
            })
        })
        .collect();
    if !failed.is_empty() {
        out += "\n### Failed expectations\n\n";
        out += &failed.join("\n");
        out.push('\n');
    }
    for (_, _, md) in diagrams {
        out.push('\n');
        out += md;
    }
    out
}
