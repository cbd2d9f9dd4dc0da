//! trace.txt: the counterexample as a shell session with the kernel log
//! (like the text report), and after every step the whole state with the
//! lines that changed marked `*` and their old value.

use std::fmt::Write;

use klp_model::properties::PROPERTIES;
use klp_model::KlpModel;

use crate::escape::pad;
use crate::state_view::{diff, state_lines};
use crate::text::step_header;
use crate::trace::{build_trace, Walk};

/// What trace.txt is about.
pub struct TraceContext<'a> {
    pub spec_path: &'a str,
    pub property: &'a str,
}

/// Renders trace.txt for the path `walk`.
pub fn render(model: &KlpModel, walk: &Walk, cx: &TraceContext) -> String {
    let sc = &*model.sc;
    let mut out = String::new();
    let info = PROPERTIES.iter().find(|p| p.id == cx.property);
    let _ = writeln!(
        out,
        "klpcheck counterexample: {} ({})",
        cx.property,
        info.map_or("?", |p| p.kind.name())
    );
    if let Some(p) = info {
        let _ = writeln!(out, "  {}", p.meaning);
    }
    let _ = writeln!(
        out,
        "scenario {} ({}), profile {}, variant {}, {} steps",
        sc.name,
        cx.spec_path,
        sc.profile.name(),
        sc.variant.name(),
        walk.actions.len()
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Lines starting with `$` are what an admin types; indented lines are the"
    );
    let _ = writeln!(
        out,
        "kernel log; `#` lines are facts with no log line. After each step the"
    );
    let _ = writeln!(
        out,
        "state is listed; `*` marks what the step changed, `(was ...)` the old value."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "boot:");
    let lines = state_lines(sc, walk.before(0));
    let width = lines.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, value) in &lines {
        let _ = writeln!(out, "         {}  {value}", pad(name, width));
    }
    let steps = build_trace(model, &walk.actions);
    for (i, step) in steps.iter().enumerate() {
        let _ = writeln!(out);
        out += &step_header(i, step, "");
        for line in &step.transcript {
            let _ = writeln!(out, "       {line}");
        }
        let _ = writeln!(out, "     state:");
        for d in diff(sc, walk.before(i), walk.after(i)) {
            let mark = if d.was.is_some() { '*' } else { ' ' };
            let was = d.was.map(|w| format!("  (was {w})")).unwrap_or_default();
            let _ = writeln!(
                out,
                "       {mark} {}  {}{was}",
                pad(&d.name, width),
                d.value
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "The last state violates {}.", cx.property);
    if let Some(why) = walk.states.last().and_then(|last| {
        klp_model::why::why_violated(&model.sc, last, cx.property, walk.actions.last())
    }) {
        let _ = writeln!(out, "why: {why}");
    }
    out
}
