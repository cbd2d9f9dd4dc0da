//! The result of checking one scenario: the JSON object of design.md's CLI
//! contract, one per line with `--format json`.
//!
//! ```json
//! {"schema_version":1,"spec":{"name":"claim-11","path":"specs/doc/claim-11.json"},
//!  "profile":"mainline","variant":"none","engine":"stateright-bfs","threads":1,
//!  "complete":true,"stats":{"states":901,"unique_states":377,"max_depth":14,
//!  "seconds":0.01,"states_per_second":37700.0},
//!  "properties":[{"id":"single-transition","kind":"always","status":"holds",
//!                 "expected":"holds","ok":true,"trace":null}],"ok":true}
//! ```

use klp_model::Action;
use serde::{Deserialize, Serialize};

/// Which scenario, and from which file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpecRef {
    pub name: String,
    pub path: String,
}

/// Search statistics.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// States generated, duplicates included.
    pub states: u64,
    pub unique_states: u64,
    pub max_depth: u64,
    pub seconds: f64,
    /// Unique states per second.
    pub states_per_second: f64,
}

/// A property's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Holds,
    Violated,
    /// The search stopped before it could decide.
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Holds => "holds",
            Status::Violated => "violated",
            Status::Unknown => "unknown",
        }
    }
}

/// One step of a trace: the action and what it printed.
#[derive(Debug, Clone, Serialize)]
pub struct TraceStep {
    /// The command or happening in kernel terms (`insmod p2.ko`).
    pub action: String,
    /// Events in the oracle vocabulary (`transition_start(P2,patching)`).
    pub events: Vec<String>,
    /// The kernel log lines, as dmesg would show them.
    pub log: Vec<String>,
    /// Log lines and silent facts (`# task_switched(1,patching,stack_check)`)
    /// in the order they happened, for the text report.
    #[serde(skip)]
    pub transcript: Vec<String>,
}

/// One property's result.
#[derive(Debug, Clone, Serialize)]
pub struct PropertyReport {
    pub id: String,
    pub kind: String,
    pub status: Status,
    pub expected: String,
    pub ok: bool,
    /// For a violated `always` property: the counterexample; for a
    /// satisfied `sometimes` property: the example; for a violated
    /// `eventually` property: a lasso (see `loop_start`).
    pub trace: Option<Vec<TraceStep>>,
    /// For a lasso: the index in `trace` where the loop starts; the steps
    /// from there to the end repeat forever (none: the system then stays in
    /// the last state forever).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loop_start: Option<usize>,
    /// The path behind `trace`, for the writers of trace files.
    #[serde(skip)]
    pub actions: Option<Vec<Action>>,
    /// For a violation: one line saying why the last state of the trace
    /// violates the property (the task, frame, variable or patch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// The result of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub schema_version: u32,
    pub spec: SpecRef,
    pub profile: String,
    pub variant: String,
    pub engine: String,
    pub threads: usize,
    pub complete: bool,
    /// Why the search stopped early, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete_reason: Option<String>,
    pub stats: Stats,
    pub properties: Vec<PropertyReport>,
    /// The pinned unique-state count of the scenario, when it states one and
    /// the run can be compared with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_unique_states: Option<u64>,
    /// How often each kind of action fired (when computed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    pub ok: bool,
}

/// Per scenario: how often each kind of action the scenario allows was
/// enabled and how often it changed the state, over the reachable states.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// Whether every reachable state was visited.
    pub complete: bool,
    /// Reachable states visited.
    pub states: u64,
    pub actions: Vec<ActionCount>,
    /// Allowed actions that never fired, and `sometimes` properties never
    /// satisfied.
    pub warnings: Vec<String>,
    /// The warnings that `--fail-on-vacuous` turns into a failure.
    pub vacuous: bool,
}

/// One kind of action (`insmod P1`, `task call f()`).
#[derive(Debug, Clone, Serialize)]
pub struct ActionCount {
    pub kind: String,
    /// Transitions out of reachable states where it was enabled.
    pub enabled: u64,
    /// Of those, the ones that changed the state.
    pub fired: u64,
}

impl ScenarioReport {
    /// Whether the pinned state count (if any) matches.
    pub fn count_ok(&self) -> bool {
        match self.expected_unique_states {
            Some(n) => !self.complete || n == self.stats.unique_states,
            None => true,
        }
    }
}
