//! `klpcheck replay <SPEC> <TRACE>`: re-runs a trace.json written by
//! `check --out`, step by step, showing each step's events and what changed
//! in the state. Exit 0 iff every step is possible, prints the recorded
//! events, and the last state still violates the recorded property; exit 1
//! naming the first step that fails; exit 2 for unreadable input.

use std::io::Write;
use std::path::Path;

use klp_model::properties::{Kind, PROPERTIES};
use klp_model::{KlpModel, Profile, Variant};
use klp_reports::action_json::decode;
use klp_reports::kernel_log::log_line;
use klp_reports::state_view::diff;
use klp_reports::trace_file::{TraceFile, TRACE_SCHEMA_VERSION};
use stateright::Model;

use crate::load::load;
use crate::run::{usage_error, EXIT_FAILED, EXIT_OK};

fn read_trace(path: &Path) -> Result<TraceFile, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let mut de = serde_json::Deserializer::from_str(&text);
    let tf: TraceFile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        format!(
            "{shown}:{}:{}: not a klpcheck trace.json: {inner} (at `{}`)",
            inner.line(),
            inner.column(),
            e.path()
        )
    })?;
    // Text after the JSON value is an error too, located at its start.
    de.end().map_err(|e| {
        format!(
            "{shown}:{}:{}: not a klpcheck trace.json: {e}",
            e.line(),
            e.column()
        )
    })?;
    if tf.schema_version != TRACE_SCHEMA_VERSION {
        return Err(format!(
            "{shown}: trace schema_version {} is not supported (expected {TRACE_SCHEMA_VERSION})",
            tf.schema_version
        ));
    }
    Ok(tf)
}

pub fn replay(spec: &Path, trace: &Path) -> i32 {
    let mut loaded = match load(spec) {
        Ok(l) => l,
        Err(e) => return usage_error(e),
    };
    let tf = match read_trace(trace) {
        Ok(t) => t,
        Err(e) => return usage_error(e),
    };
    let Some(prop) = PROPERTIES.iter().find(|p| p.id == tf.property) else {
        return usage_error(format!(
            "{}: unknown property `{}` (see `klpcheck list`)",
            trace.display(),
            tf.property
        ));
    };
    // A counterexample of an `eventually` property is a lasso (a prefix and
    // a loop that repeats forever); trace.json holds a finite path, whose
    // last state says nothing about "never". `check -v` prints lassos.
    if prop.kind == Kind::Eventually {
        return usage_error(format!(
            "{}: `{}` is an eventually property: its counterexample is a lasso (a loop that \
             repeats forever), which a trace.json cannot hold and replay cannot check; \
             `klpcheck check -v` prints it",
            trace.display(),
            prop.id
        ));
    }
    if tf.kind != prop.kind.name() {
        return usage_error(format!(
            "{}: the trace gives `{}` the kind `{}`; its kind is `{}`",
            trace.display(),
            prop.id,
            tf.kind,
            prop.kind.name()
        ));
    }
    match (
        Profile::from_name(&tf.profile),
        Variant::from_name(&tf.variant),
    ) {
        (Some(p), Some(v)) => {
            loaded.scenario.profile = p;
            loaded.scenario.variant = v;
        }
        _ => {
            return usage_error(format!(
                "{}: unknown profile `{}` or variant `{}`",
                trace.display(),
                tf.profile,
                tf.variant
            ))
        }
    }
    let model = KlpModel::new(loaded.scenario);
    let sc = &*model.sc;
    let mut out = std::io::stdout().lock();
    say(
        &mut out,
        format!(
            "replaying {} ({} steps) on {} [profile {}, variant {}]",
            trace.display(),
            tf.steps.len(),
            spec.display(),
            tf.profile,
            tf.variant
        ),
    );
    let fail = |out: &mut std::io::StdoutLock, msg: String| {
        let _ = out.flush();
        say!(
            "{}",
            crate::run::neutral(&format!("klpcheck: replay: {msg}\n"))
        );
        EXIT_FAILED
    };
    let mut state = model.boot();
    let mut enabled = Vec::new();
    for step in &tf.steps {
        let n = step.index;
        let action = match decode(sc, &step.action) {
            Ok(a) => a,
            Err(e) => {
                return fail(
                    &mut out,
                    format!("step {n} (`{}`) no longer applies: {e}", step.command),
                )
            }
        };
        enabled.clear();
        model.actions(&state, &mut enabled);
        if !enabled.contains(&action) {
            return fail(
                &mut out,
                format!(
                    "step {n} (`{}`) no longer applies: the model does not offer it in the state the steps before it reach",
                    step.command
                ),
            );
        }
        let (next, events) = model.step_with_events(&state, &action);
        let command = klp_model::describe::command_in(sc, &state, &action);
        say(&mut out, format!("{n:>4}. {command}"));
        for e in &events {
            let line = log_line(sc, e).unwrap_or_else(|| format!("# {}", e.oracle(sc)));
            say(&mut out, format!("        {line}"));
        }
        for d in diff(sc, &state, &next) {
            if let Some(was) = d.was {
                say(
                    &mut out,
                    format!("      * {}: {} (was {was})", d.name, d.value),
                );
            }
        }
        let got: Vec<String> = events.iter().map(|e| e.oracle(sc)).collect();
        if next == state && got != step.events {
            return fail(
                &mut out,
                format!(
                    "step {n} (`{}`) no longer applies: it fails now ({})",
                    step.command,
                    got.join(", ")
                ),
            );
        }
        if got != step.events {
            let i = got
                .iter()
                .zip(&step.events)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(step.events.len()));
            return fail(
                &mut out,
                format!(
                    "step {n} (`{}`) prints other events than recorded: event {} is {} now, recorded {}",
                    step.command,
                    i + 1,
                    got.get(i).map_or("(nothing)", String::as_str),
                    step.events.get(i).map_or("(nothing)", String::as_str)
                ),
            );
        }
        state = next;
    }
    let holds = (prop.check)(sc, &state);
    let (ok, verdict) = match prop.kind {
        Kind::Always => (!holds, "violates"),
        _ => (holds, "satisfies"),
    };
    if !ok {
        return fail(
            &mut out,
            format!(
                "every step applies, but the last state no longer {verdict} {}",
                prop.id
            ),
        );
    }
    say(
        &mut out,
        format!("the last state {verdict} {}: the trace is valid", prop.id),
    );
    EXIT_OK
}

/// One line of replay output on stdout, with no workflow command in it
/// (names and log lines of the scenario are data).
fn say(out: &mut std::io::StdoutLock, line: String) {
    let _ = out.write_all(crate::run::neutral(&(line + "\n")).as_bytes());
}
