//! # klp-reports: what klpcheck prints
//!
//! The result of checking one scenario ([`ScenarioReport`], the JSON contract
//! of design.md) and its renderings: JSON lines, and text in kernel terms (the
//! commands a shell user types and the log lines the kernel prints).

pub mod action_json;
pub mod ci;
pub mod escape;
pub mod github;
pub mod itf;
pub mod junit;
pub mod kernel_log;
pub mod mermaid;
pub mod report;
pub mod reproduce_sh;
pub mod reproducer;
pub mod sarif;
pub mod state_view;
pub mod text;
pub mod trace;
pub mod trace_file;
pub mod trace_txt;

pub use report::{
    ActionCount, Coverage, PropertyReport, ScenarioReport, SpecRef, Stats, Status, TraceStep,
};
pub use trace::{build_trace, Walk};
