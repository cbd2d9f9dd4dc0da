//! # klp-reports: what klpcheck prints
//!
//! The result of checking one scenario ([`ScenarioReport`], the JSON contract
//! of design.md) and its renderings: JSON lines, and text in kernel terms (the
//! commands a shell user types and the log lines the kernel prints).

pub mod kernel_log;
pub mod report;
pub mod text;
pub mod trace;

pub use report::{PropertyReport, ScenarioReport, SpecRef, Stats, Status, TraceStep};
pub use trace::build_trace;
