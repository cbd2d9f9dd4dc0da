//! `klpcheck validate SCENARIO OBSERVED`: is a real kernel's event sequence a
//! behaviour of the model? The search is in `trace_validation`.
//!
//! OBSERVED is an events file (one event per line, as `lab/run` writes
//! `lab/out/<case>.events`; `#` lines are comments) or a JSON file with an
//! `expected_events` array (a lab case with its recorded events). SCENARIO
//! is anything `klpcheck run` loads (a scenario with a `script`, an oracle
//! or lab case). Exit 0: a model path prints exactly the observed events
//! (printed; `--out DIR` writes it as trace.txt and a case.json that
//! `klpcheck run` replays). Exit 1: no path does; the longest explained
//! prefix, the first event the model cannot produce there and what it could
//! print instead. Exit 2: bad input. Exit 3: `--max-states` stopped the
//! search.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use klp_model::{Action, KlpModel};
use klp_reports::Walk;
use serde_json::Value;

use crate::run::{usage_error, EXIT_FAILED, EXIT_INCOMPLETE, EXIT_OK};
use crate::trace_validation::{prepare, validate, Verdict, DEFAULT_IGNORED};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The scenario (or oracle / lab case) the kernel ran.
    pub scenario: PathBuf,
    /// The observed events: an events file (one per line) or a JSON file
    /// with `expected_events`.
    pub observed: PathBuf,
    /// Write the matching path (or the longest explained prefix) here:
    /// trace.txt and case.json, as `check --out` writes a counterexample.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Leave out observed events with this prefix (repeatable), besides the
    /// lab's own events that the model has no counterpart for.
    #[arg(long, value_name = "PREFIX")]
    pub ignore: Vec<String>,
    /// Bound of the search (visited states).
    #[arg(long, default_value_t = 2_000_000)]
    pub max_states: usize,
}

/// Reads OBSERVED: (line, event) pairs, and the `ignored_events` of a JSON
/// case.
/// The observed events with their line numbers, and the events left out.
type Observed = (Vec<(usize, String)>, Vec<String>);

fn read_observed(path: &Path) -> Result<Observed, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    if text.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{shown}:{}:{}: {e}", e.line(), e.column()))?;
        let list = v
            .get("expected_events")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{shown}: at `expected_events`: missing array of events"))?;
        let mut out = Vec::new();
        for (i, e) in list.iter().enumerate() {
            let s = e
                .as_str()
                .ok_or_else(|| format!("{shown}: at `expected_events[{i}]`: must be a string"))?;
            out.push((i + 1, s.to_string()));
        }
        let ignored = v
            .get("ignored_events")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        return Ok((out, ignored));
    }
    Ok((
        text.lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_string()))
            .collect(),
        vec![],
    ))
}

/// The path in kernel terms: `$` lines are the admin's commands, `#` lines
/// silent steps, indented lines the events each printed.
pub fn render_path(model: &KlpModel, actions: &[Action]) -> String {
    let walk = Walk::new(model, actions);
    let sc = &*model.sc;
    let mut out = String::new();
    for (i, a) in actions.iter().enumerate() {
        let cmd = klp_model::describe::command_in(sc, walk.before(i), a);
        let admin = matches!(
            a,
            Action::Insmod(..)
                | Action::WriteEnabled(..)
                | Action::WriteForce(_)
                | Action::Rmmod(_)
                | Action::LoadModule(_)
                | Action::UnloadModule(_)
        );
        let _ = writeln!(out, "{} {cmd}", if admin { "$" } else { "#" });
        for e in &walk.events[i] {
            if e.is_logged() {
                let _ = writeln!(out, "    {}", e.oracle(sc));
            }
        }
    }
    out
}

fn write_out(
    dir: &Path,
    model: &KlpModel,
    actions: &[Action],
    spec: &Value,
    text: &str,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let walk = Walk::new(model, actions);
    let case = klp_reports::reproducer::case_json(model, &walk, spec, "trace-validation");
    let case = serde_json::to_string_pretty(&case).expect("case serializes") + "\n";
    for (name, body) in [("trace.txt", text.to_string()), ("case.json", case)] {
        std::fs::write(dir.join(name), body)
            .map_err(|e| format!("{}: {e}", dir.join(name).display()))?;
    }
    Ok(())
}

pub fn validate_cmd(args: &ValidateArgs) -> i32 {
    let lib = crate::selftest::library::Library::builtin();
    let case = match crate::selftest::load_case(&args.scenario, &lib) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let spec: Value = std::fs::read_to_string(&args.scenario)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let (lines, case_ignored) = match read_observed(&args.observed) {
        Ok(x) => x,
        Err(e) => return usage_error(e),
    };
    let mut ignore: Vec<String> = DEFAULT_IGNORED.iter().map(|s| s.to_string()).collect();
    ignore.extend(case_ignored);
    ignore.extend(args.ignore.iter().cloned());
    let trace = prepare(&lines, &ignore);
    let model = KlpModel::new(case.scenario.clone());
    let verdict = match validate(&model, &trace.events, &ignore, args.max_states) {
        Ok(v) => v,
        Err(e) => return usage_error(format!("{}: {e}", args.observed.display())),
    };
    let obs = args.observed.display();
    let mut head = String::new();
    if !trace.ignored.is_empty() {
        let mut kinds: Vec<&str> = trace
            .ignored
            .iter()
            .map(|o| o.event.split('(').next().unwrap_or(""))
            .collect();
        kinds.sort();
        kinds.dedup();
        let _ = writeln!(
            head,
            "klpcheck: {obs}: {} event(s) with no model counterpart left out ({})",
            trace.ignored.len(),
            kinds.join(", ")
        );
    }
    let (code, actions, text) = match verdict {
        Verdict::Explained { actions } => {
            let path = render_path(&model, &actions);
            let _ = writeln!(
                head,
                "klpcheck: {obs}: validated: a model path of {} steps prints all {} observed events",
                actions.len(),
                trace.events.len()
            );
            (EXIT_OK, actions, head + &path)
        }
        Verdict::Unexplained {
            explained,
            actions,
            could_print,
        } => {
            let first = &trace.events[explained.min(trace.events.len().saturating_sub(1))];
            let _ = writeln!(
                head,
                "klpcheck: {obs}: NOT a behaviour of the model: the model explains the first {explained} of {} events",
                trace.events.len()
            );
            if explained < trace.events.len() {
                let _ = writeln!(
                    head,
                    "  first unexplained event (line {}): {}",
                    first.line, first.event
                );
            } else {
                let _ = writeln!(
                    head,
                    "  every event is explained, but the last command cannot start or return"
                );
            }
            let _ = writeln!(head, "  the model can print there instead:");
            for c in &could_print {
                let _ = writeln!(head, "    {c}");
            }
            let _ = writeln!(head, "  a path explaining the prefix:");
            let text = head + &render_path(&model, &actions);
            (EXIT_FAILED, actions, text)
        }
        Verdict::Incomplete {
            explained,
            actions,
            states,
        } => {
            let _ = writeln!(
                head,
                "klpcheck: {obs}: incomplete: --max-states {} reached ({states} states) with {explained} of {} events explained",
                args.max_states,
                trace.events.len()
            );
            let text = head + &render_path(&model, &actions);
            (EXIT_INCOMPLETE, actions, text)
        }
    };
    out!("{text}");
    if let Some(dir) = &args.out {
        if let Err(e) = write_out(dir, &model, &actions, &spec, &text) {
            return usage_error(e);
        }
    }
    code
}
