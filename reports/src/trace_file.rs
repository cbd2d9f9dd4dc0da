//! trace.json: a counterexample as data, for tools and for `klpcheck replay`.
//!
//! ```json
//! {"schema_version":1,"spec":{"name":"claim-08","path":"specs/doc/claim-08.json"},
//!  "profile":"mainline","variant":"none","property":"shadow-no-use-after-free",
//!  "kind":"always","steps":[{"index":1,"action":{"op":"insmod","patch":"P1"},
//!  "command":"insmod P1.ko","events":["enabling(P1)", "..."],"log":["..."]}]}
//! ```
//!
//! `action` names patches, modules and functions (see [`ActionJson`]);
//! `events` are the oracle-vocabulary events the step printed, silent ones
//! included; `log` the kernel log lines.

use klp_model::KlpModel;
use serde::{Deserialize, Serialize};

use crate::action_json::{encode, ActionJson};
use crate::report::SpecRef;
use crate::trace::{build_trace, Walk};

/// The version of this file format.
pub const TRACE_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceFile {
    pub schema_version: u32,
    pub spec: SpecRef,
    pub profile: String,
    pub variant: String,
    /// The property the last state violates (or, for `sometimes`, satisfies).
    pub property: String,
    pub kind: String,
    pub steps: Vec<TraceFileStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceFileStep {
    /// 1-based.
    pub index: usize,
    pub action: ActionJson,
    /// The command or happening in kernel terms.
    pub command: String,
    pub events: Vec<String>,
    pub log: Vec<String>,
}

/// The trace.json of `walk`, a path to a state where `property` breaks.
pub fn trace_file(
    model: &KlpModel,
    walk: &Walk,
    spec: SpecRef,
    property: &str,
    kind: &str,
) -> TraceFile {
    let sc = &*model.sc;
    let steps = build_trace(model, &walk.actions)
        .into_iter()
        .zip(&walk.actions)
        .enumerate()
        .map(|(i, (t, a))| TraceFileStep {
            index: i + 1,
            action: encode(sc, a),
            command: t.action,
            events: t.events,
            log: t.log,
        })
        .collect();
    TraceFile {
        schema_version: TRACE_SCHEMA_VERSION,
        spec,
        profile: sc.profile.name().to_string(),
        variant: sc.variant.name().to_string(),
        property: property.to_string(),
        kind: kind.to_string(),
        steps,
    }
}
