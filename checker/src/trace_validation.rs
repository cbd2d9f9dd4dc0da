//! Trace validation: is an observed kernel event sequence a behaviour of the
//! model? (Issue 11 point 5; the approach of Cirstea, Kuppe, Loillier, Merz
//! and Ron, "Validating traces of distributed programs against TLA+
//! specifications", 2024.)
//!
//! The observed trace is what a real kernel printed for a scenario's script:
//! the `% ...` command markers (`cmd_load(P)`, `cmd_disable(P)`, ...), the
//! kernel's `livepatch:` lines and the callbacks' lines as events
//! (docs/script-vocabulary.md), and the lab's state dumps
//! (`sysfs(P,enabled=e,transition=t)`, `module(M,refcnt=n)`). The search looks
//! for a path of the model whose observable events are exactly these, in this
//! order:
//!
//! * a `cmd_*` marker is the admin typing the command: the command itself
//!   (insmod, `echo 0|1 > enabled`, `echo 1 > force`, rmmod, a target
//!   module's insmod/rmmod) then starts at some later point, once klp_mutex is
//!   free, and its events must come next in the trace; the next marker is
//!   accepted only after the command returned (the script is sequential);
//! * task steps (calls, returns) and kernel work (klp_transition_work, the
//!   rest of a command, free_work, the idle loops) are silent except through
//!   the events they print; any number of them may happen between two
//!   observed events;
//! * a block of `sysfs(...)` / `module(...)` lines must equal what the state
//!   implies at that point (the runner's `show_state`);
//! * events the model has no counterpart for (the lab's workload markers,
//!   counters, dynamic-debug lines of klp_try_switch_task, ...) are left out
//!   before the search, and listed.
//!
//! The search is best-first on the number of explained events, with the
//! visited set keyed by the canonical state (tasks and CPUs sorted), the
//! trace position and the command waiting to start. A kernel run is one
//! behaviour among many: the question is inclusion, not equality.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashSet};

use klp_model::event::{Event, EventSink};
use klp_model::{step, Action, InsmodParams, KlpModel, State};
use stateright::{Model, Representative};

/// Events of the lab that the model has no counterpart for (they are
/// dropped before the search): the workload markers and `/proc/<pid>/
/// patch_state` readings, module-parameter counters, klp_try_switch_task's
/// dynamic-debug lines (their count depends on timing), the lab modules'
/// own probes and lines, the `observe(...)` greps.
pub const DEFAULT_IGNORED: &[&str] = &[
    "workload_start(",
    "workload_stop(",
    "patch_state(",
    "param(",
    "task_running(",
    "task_sleeping(",
    "task_unreliable(",
    "signaling(",
    "shadow_check(",
    "oob_probe(",
    "oob_read(",
    "oob_count(",
    "new_func_block(",
    "new_func_release(",
    "patched_work(",
    "observe(",
    "cmd_set_param(",
    "busy_work_enter(",
    "busy_work_exit(",
];

/// One observed event and its line in the input (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub event: String,
    pub line: usize,
}

/// What the search found.
#[derive(Debug)]
pub enum Verdict {
    /// A model path prints exactly the observed events.
    Explained { actions: Vec<Action> },
    /// No path does: the longest explained prefix, the path that explains
    /// it, and what the model could print instead of the first unexplained
    /// event.
    Unexplained {
        explained: usize,
        actions: Vec<Action>,
        could_print: Vec<String>,
    },
    /// The state bound stopped the search before it could decide.
    Incomplete {
        explained: usize,
        actions: Vec<Action>,
        states: usize,
    },
}

/// The observed trace with the ignored events left out.
pub struct Trace {
    pub events: Vec<Observed>,
    pub ignored: Vec<Observed>,
}

/// Splits observed lines (`#` comments and blank lines skipped) into the
/// events the search explains and those it leaves out.
pub fn prepare(lines: &[(usize, String)], ignore: &[String]) -> Trace {
    let mut events = Vec::new();
    let mut ignored = Vec::new();
    for (line, e) in lines {
        let e = e.trim();
        if e.is_empty() || e.starts_with('#') {
            continue;
        }
        let o = Observed {
            event: e.to_string(),
            line: *line,
        };
        if ignore.iter().any(|p| e.starts_with(p.as_str())) {
            ignored.push(o);
        } else {
            events.push(o);
        }
    }
    Trace { events, ignored }
}

/// Collects what a step prints that a kernel run can show: the logged events
/// and the errors a sysfs write or rmmod got (the lab's helpers log them).
struct Visible<'a> {
    sc: &'a klp_model::Scenario,
    ignore: &'a [String],
    out: Vec<String>,
}

impl EventSink for Visible<'_> {
    const ENABLED: bool = true;
    fn push(&mut self, e: Event) {
        if e.is_logged() || matches!(e, Event::WriteError { .. } | Event::UnloadErrorPatch(..)) {
            let text = e.oracle(self.sc);
            // what is left out of the observed trace is left out of the model's too
            if !self.ignore.iter().any(|p| text.starts_with(p.as_str())) {
                self.out.push(text);
            }
        }
    }
}

fn visible(model: &KlpModel, ignore: &[String], s: &State, a: &Action) -> (State, Vec<String>) {
    let mut v = Visible {
        sc: &model.sc,
        ignore,
        out: vec![],
    };
    let next = step(&model.sc, s, a, &mut v);
    (next, v.out)
}

/// The admin command a `cmd_*` marker stands for, or None when the event is
/// no command marker. Err: a marker naming nothing of the scenario.
pub fn command_of(model: &KlpModel, event: &str) -> Option<Result<Action, String>> {
    let sc = &*model.sc;
    let (name, args) = event.strip_suffix(')')?.split_once('(')?;
    if !name.starts_with("cmd_") || name == "cmd_set_param" {
        return None;
    }
    let mut parts = args.split(',');
    let x = parts.next().unwrap_or("");
    let patch = sc.patch_by_name(x).or_else(|| sc.patch_by_module(x));
    let unknown = || {
        Err(format!(
            "`{event}` names `{x}`, which the scenario does not have"
        ))
    };
    Some(match name {
        "cmd_load" => {
            if let Some(p) = patch {
                let mut params = InsmodParams::default();
                for kv in parts {
                    match kv.split_once('=') {
                        Some(("pre_patch_ret", v)) => {
                            let n: i64 = v.parse().unwrap_or(0);
                            params.pre_patch_ret = Some(n.unsigned_abs().min(255) as u8);
                        }
                        Some(("replace", v)) => params.replace = Some(matches!(v, "1" | "Y" | "y")),
                        _ => {}
                    }
                }
                Ok(Action::Insmod(p, params))
            } else if let Some(m) = sc.object_by_name(x).filter(|&m| m != 0) {
                Ok(Action::LoadModule(m))
            } else {
                unknown()
            }
        }
        "cmd_unload" => {
            if let Some(p) = patch {
                Ok(Action::Rmmod(p))
            } else if let Some(m) = sc.object_by_name(x).filter(|&m| m != 0) {
                Ok(Action::UnloadModule(m))
            } else {
                unknown()
            }
        }
        "cmd_disable" | "cmd_enable" => match patch {
            Some(p) => Ok(Action::WriteEnabled(p, name == "cmd_enable")),
            None => unknown(),
        },
        "cmd_force" => match patch {
            Some(p) => Ok(Action::WriteForce(p)),
            None => unknown(),
        },
        _ => Err(format!("`{event}`: unknown command marker")),
    })
}

fn is_admin(a: &Action) -> bool {
    matches!(
        a,
        Action::Insmod(..)
            | Action::WriteEnabled(..)
            | Action::WriteForce(_)
            | Action::Rmmod(_)
            | Action::LoadModule(_)
            | Action::UnloadModule(_)
            | Action::SetPrePatchRet(..)
    )
}

fn is_dump(e: &str) -> bool {
    e.starts_with("sysfs(") || e.starts_with("module(")
}

/// A search node: the state, how many observed events are explained, the
/// command typed but not started yet, and whether a started command has not
/// returned yet (klp_op set by it).
#[derive(Clone)]
struct Node {
    state: State,
    pos: usize,
    pending: Option<Action>,
    parent: usize,
    action: Option<Action>,
}

type Key = (State, usize, Option<Action>);

/// Searches the model for a path that prints `trace` exactly, leaving out
/// the model's events with an `ignore` prefix as the trace's were.
/// `max_states` bounds the visited set.
pub fn validate(
    model: &KlpModel,
    trace: &[Observed],
    ignore: &[String],
    max_states: usize,
) -> Result<Verdict, String> {
    // Every marker must name something of the scenario (bad input, not an
    // unexplained behaviour).
    let mut cmds = Vec::with_capacity(trace.len());
    for o in trace {
        cmds.push(match command_of(model, &o.event) {
            Some(Ok(a)) => Some(a),
            Some(Err(msg)) => return Err(format!("line {}: {msg}", o.line)),
            None => None,
        });
    }
    let sc = &*model.sc;
    let mut nodes: Vec<Node> = vec![Node {
        state: model.boot(),
        pos: 0,
        pending: None,
        parent: usize::MAX,
        action: None,
    }];
    let mut seen: HashSet<Key> = HashSet::new();
    seen.insert((nodes[0].state.representative(), 0, None));
    // Best-first: most explained events first, then fewest steps (FIFO).
    let mut heap: BinaryHeap<(usize, Reverse<usize>)> = BinaryHeap::new();
    heap.push((0, Reverse(0)));
    let mut best = 0usize;
    let mut best_nodes: Vec<usize> = vec![0];
    let mut acts = Vec::new();
    let mut incomplete = false;
    while let Some((_, Reverse(i))) = heap.pop() {
        let node = nodes[i].clone();
        if node.pos == trace.len() && node.pending.is_none() {
            return Ok(Verdict::Explained {
                actions: path(&nodes, i),
            });
        }
        let mut succ: Vec<(State, usize, Option<Action>, Action)> = Vec::new();
        let s = &node.state;
        let quiet = s.klp_op.is_none();
        // The admin types the next command (after the previous one returned).
        if node.pending.is_none() && quiet && node.pos < trace.len() {
            if let Some(a) = cmds[node.pos].clone() {
                // typing it changes no state: a marker node
                let key = (s.representative(), node.pos + 1, Some(a.clone()));
                if seen.insert(key) {
                    nodes.push(Node {
                        state: s.clone(),
                        pos: node.pos + 1,
                        pending: Some(a),
                        parent: i,
                        action: None,
                    });
                    let j = nodes.len() - 1;
                    note(&mut best, &mut best_nodes, node.pos + 1, j);
                    heap.push((node.pos + 1, Reverse(j)));
                }
            } else if is_dump(&trace[node.pos].event) {
                // A state dump: its lines must be what the state shows (two
                // dumps may follow each other once the events between them
                // are left out: one dump at a time).
                let shown = crate::selftest::runner::show_state_lines(sc, s);
                let end = node.pos + shown.len();
                // A dump is a set of facts: the guest lists modules in its
                // own order, so the lines are compared as a set.
                let same = end <= trace.len() && {
                    let mut want: Vec<&str> = shown.iter().map(String::as_str).collect();
                    let mut got: Vec<&str> = trace[node.pos..end]
                        .iter()
                        .map(|o| o.event.as_str())
                        .collect();
                    want.sort_unstable();
                    got.sort_unstable();
                    want == got
                };
                if same {
                    let key = (s.representative(), end, None);
                    if seen.insert(key) {
                        nodes.push(Node {
                            state: s.clone(),
                            pos: end,
                            pending: None,
                            parent: i,
                            action: None,
                        });
                        let j = nodes.len() - 1;
                        note(&mut best, &mut best_nodes, end, j);
                        heap.push((end, Reverse(j)));
                    }
                }
            }
        }
        // The typed command starts once klp_mutex is free.
        if let (Some(a), true) = (node.pending.clone(), quiet) {
            let (n, ev) = visible(model, ignore, s, &a);
            if let Some(p) = matches_at(trace, node.pos, &ev) {
                succ.push((n, p, None, a));
            } else {
                // The command's events explain part of what follows: the
                // first event it cannot produce is the one to report.
                let k = ev
                    .iter()
                    .zip(&trace[node.pos..])
                    .take_while(|(e, o)| **e == o.event)
                    .count();
                if k > 0 {
                    note(&mut best, &mut best_nodes, node.pos + k, i);
                }
            }
        }
        // Kernel work and task steps, silent but for their events.
        acts.clear();
        model.actions(s, &mut acts);
        for a in acts.iter().filter(|a| !is_admin(a)) {
            let (n, ev) = visible(model, ignore, s, a);
            if let Some(p) = matches_at(trace, node.pos, &ev) {
                succ.push((n, p, node.pending.clone(), a.clone()));
            }
        }
        for (n, p, pending, a) in succ {
            let key = (n.representative(), p, pending.clone());
            if seen.contains(&key) {
                continue;
            }
            if seen.len() >= max_states {
                incomplete = true;
                continue;
            }
            seen.insert(key);
            nodes.push(Node {
                state: n,
                pos: p,
                pending,
                parent: i,
                action: Some(a),
            });
            let j = nodes.len() - 1;
            note(&mut best, &mut best_nodes, p, j);
            heap.push((p, Reverse(j)));
        }
    }
    let witness = path(&nodes, best_nodes[0]);
    if incomplete {
        return Ok(Verdict::Incomplete {
            explained: best,
            actions: witness,
            states: seen.len(),
        });
    }
    // What the model could print where the trace goes on with trace[best].
    let mut could: BTreeSet<String> = BTreeSet::new();
    for &i in &best_nodes {
        let nd = &nodes[i];
        let s = &nd.state;
        // A node may explain the trace up to `best` partway through a
        // step's events: what the step prints next is at that offset.
        let off = best - nd.pos;
        let next = |ev: &[String]| -> Option<String> {
            let prefix_ok = ev
                .iter()
                .zip(&trace[nd.pos..best])
                .take(off)
                .all(|(e, o)| *e == o.event);
            (prefix_ok && ev.len() > off).then(|| ev[off].clone())
        };
        if let Some(a) = &nd.pending {
            if s.klp_op.is_none() {
                let (_, ev) = visible(model, ignore, s, a);
                if let Some(e) = next(&ev) {
                    could.insert(e);
                }
            }
        } else if s.klp_op.is_none() && off == 0 {
            could.insert("a command marker (cmd_...)".to_string());
            could.insert(format!(
                "a state dump: {}",
                crate::selftest::runner::show_state_lines(sc, s).join(" ")
            ));
        }
        acts.clear();
        model.actions(s, &mut acts);
        for a in acts.iter().filter(|a| !is_admin(a)) {
            let (_, ev) = visible(model, ignore, s, a);
            if let Some(e) = next(&ev) {
                could.insert(e);
            }
        }
        if could.len() > 40 {
            break;
        }
    }
    Ok(Verdict::Unexplained {
        explained: best,
        actions: witness,
        could_print: could.into_iter().collect(),
    })
}

fn note(best: &mut usize, best_nodes: &mut Vec<usize>, pos: usize, j: usize) {
    if pos > *best {
        *best = pos;
        best_nodes.clear();
    }
    if pos == *best && best_nodes.len() < 64 {
        best_nodes.push(j);
    }
}

/// Where the trace goes on if `ev` is printed at `pos` (None: it does not
/// match).
fn matches_at(trace: &[Observed], pos: usize, ev: &[String]) -> Option<usize> {
    if pos + ev.len() > trace.len() {
        return None;
    }
    ev.iter()
        .zip(&trace[pos..])
        .all(|(e, o)| *e == o.event)
        .then_some(pos + ev.len())
}

/// The model actions from boot to node `i` (marker and dump nodes take no
/// action).
fn path(nodes: &[Node], mut i: usize) -> Vec<Action> {
    let mut out = Vec::new();
    while i != usize::MAX {
        if let Some(a) = &nodes[i].action {
            out.push(a.clone());
        }
        i = nodes[i].parent;
    }
    out.reverse();
    out
}
