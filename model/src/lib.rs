//! # klp-model: Linux kernel livepatch, executable
//!
//! A pure model of kernel/livepatch/: the patch list and func stacks, atomic
//! replace with nops, per-task transitions with the stack check, callbacks,
//! target modules coming and going, shadow variables and system states. No
//! I/O, no threads: a scenario goes in, states and events come out.
//!
//! ```
//! use klp_model::{parse_spec, Scenario, KlpModel, Action, InsmodParams};
//!
//! let spec = parse_spec(r#"{
//!     "spec_version": 1,
//!     "objects": {"vmlinux": {"funcs": ["cmdline_proc_show"]}},
//!     "patches": {"P1": {"module": "test_klp_livepatch",
//!                        "objects": {"vmlinux": {"funcs": {"cmdline_proc_show": {}}}}}}
//! }"#).unwrap();
//! let model = KlpModel::new(Scenario::compile(&spec, "doc").unwrap());
//! let (state, events) = model.step_with_events(&model.boot(), &Action::Insmod(0, InsmodParams::default()));
//! let lines: Vec<String> = events.iter().filter(|e| e.is_logged()).map(|e| e.oracle(&model.sc)).collect();
//! assert_eq!(lines[0], "enabling(P1)");
//! assert_eq!(state.klp_patches[..], [0]);
//! ```
//!
//! Layout, one module per kernel concern: [`core`] (core.c), [`transition`]
//! (transition.c), [`patch`] (patch.c), [`callbacks`] (core.h), [`shadow`]
//! (shadow.c), [`klp_state`] (state.c), [`task`] (the tasks), [`properties`]
//! (the invariants), [`model`] (the stateright model), [`plan`] (the
//! admin's ordered plans: an admin's order, not a kernel rule).

pub mod action;
pub mod callbacks;
pub mod core;
pub mod describe;
pub mod errno;
pub mod event;
pub mod inline_vec;
pub mod kernel;
pub mod klp_state;
pub mod model;
pub mod names;
pub mod packed;
pub mod patch;
pub mod plan;
pub mod profile;
pub mod properties;
pub mod scenario;
pub mod shadow;
pub mod spec;
pub mod state;
pub mod task;
pub mod transition;
pub mod why;

pub use action::Action;
pub use core::InsmodParams;
pub use event::Event;
pub use model::{step, KlpModel};
pub use profile::{Profile, Variant};
pub use scenario::{parse_spec, Scenario, SpecError};
pub use spec::{Spec, Verdict};
pub use state::State;
