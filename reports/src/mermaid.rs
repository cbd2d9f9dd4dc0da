//! trace.md: the counterexample as a Mermaid `sequenceDiagram` (lifelines:
//! the admin shell, the klp core with its work items, each task), ready for
//! a GitHub step summary or a pull request comment.

use std::fmt::Write;

use klp_model::{Action, Event, KlpModel};

use crate::text::is_shell;
use crate::trace::{build_trace, Walk};

/// Text safe inside a Mermaid message or note: `#` and `;` are Mermaid
/// syntax, `<`, `>`, `&` and `"` would be HTML to its renderer, a backtick
/// could end the Markdown fence, `%%` starts a comment; each is written as
/// a Mermaid entity code (`#35;`). Line breaks become spaces.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' | ';' | '<' | '>' | '&' | '"' | '`' | '%' | '{' | '}' | '\\' => {
                out += &format!("#{};", c as u32)
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The `sequenceDiagram` block, without the Markdown fence.
pub fn sequence_diagram(model: &KlpModel, walk: &Walk, property: &str) -> String {
    let sc = &*model.sc;
    let mut out = String::from("sequenceDiagram\n");
    out += "    participant A as admin shell\n";
    out += "    participant K as klp core\n";
    for t in 1..=sc.tasks.slots() {
        let _ = writeln!(out, "    participant T{t} as task {t}");
    }
    for (i, step) in build_trace(model, &walk.actions).iter().enumerate() {
        let n = i + 1;
        match walk.actions[i] {
            Action::Call { task, .. } | Action::Return { task } => {
                let _ = writeln!(out, "    T{}->>K: {n}. {}", task + 1, esc(&step.action));
            }
            _ if is_shell(&step.action) => {
                let _ = writeln!(out, "    A->>K: {n}. {}", esc(&step.action));
            }
            _ => {
                let _ = writeln!(out, "    K->>K: {n}. {}", esc(&step.action));
            }
        }
        // Task facts go on the task's lifeline, the rest on klp core's, in
        // the order they happened: consecutive core lines share one note.
        let mut core: Vec<String> = Vec::new();
        let flush = |out: &mut String, core: &mut Vec<String>| {
            if !core.is_empty() {
                let _ = writeln!(out, "    Note over K: {}", core.join("<br/>"));
                core.clear();
            }
        };
        for (e, line) in walk.events[i].iter().zip(&step.transcript) {
            let text = esc(line.strip_prefix("# ").unwrap_or(line));
            match e {
                Event::TaskCall { task, .. }
                | Event::TaskReturn { task, .. }
                | Event::TaskSwitched { task, .. } => {
                    flush(&mut out, &mut core);
                    let _ = writeln!(out, "    Note over T{}: {text}", task + 1);
                }
                _ => core.push(text),
            }
        }
        flush(&mut out, &mut core);
    }
    let last = if sc.tasks.slots() > 0 {
        format!("T{}", sc.tasks.slots())
    } else {
        "K".to_string()
    };
    let why = walk
        .states
        .last()
        .and_then(|st| klp_model::why::why_violated(sc, st, property, walk.actions.last()))
        .map(|w| format!(": {}", esc(&w)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "    Note over A,{last}: {} violated{why}",
        esc(property)
    );
    out
}

/// trace.md: a heading and the fenced diagram.
pub fn trace_md(model: &KlpModel, walk: &Walk, property: &str) -> String {
    format!(
        "### {}: {} violated ({} steps)\n\n```mermaid\n{}```\n",
        crate::escape::markdown(&model.sc.name),
        crate::escape::markdown(property),
        walk.actions.len(),
        sequence_diagram(model, walk, property)
    )
}
