//! The command line (design.md "CLI contract").

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::engines::EngineKind;

#[derive(Debug, Parser)]
#[command(
    name = "klpcheck",
    version,
    about = "Model checker of Linux kernel livepatch semantics"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exhaustive check of every scenario (files, or directories searched for *.json).
    Check(CheckArgs),
    /// Run a script (an oracle case or a scenario with `script`), print its
    /// events and compare them with `expected_events`.
    Run(RunArgs),
    /// Print the JSON Schema of scenario files.
    Schema,
    /// List property ids, profiles and variants.
    List,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// An oracle case (../shared/oracle/*.json) or a scenario with a `script`.
    pub file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Scenario files or directories.
    #[arg(required = true)]
    pub specs: Vec<PathBuf>,
    /// Search engine.
    #[arg(long, value_enum, default_value_t = EngineKind::StaterightBfs)]
    pub engine: EngineKind,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Override the scenario's profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// Override the scenario's variant.
    #[arg(long)]
    pub variant: Option<String>,
    /// Symmetry reduction over tasks (stateright-dfs only for now).
    #[arg(long, overrides_with = "no_symmetry")]
    pub symmetry: bool,
    /// No symmetry reduction.
    #[arg(long)]
    pub no_symmetry: bool,
    /// Stop after this many states (the run is then incomplete).
    #[arg(long)]
    pub max_states: Option<u64>,
    /// Stop after this many seconds (the run is then incomplete).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit 3 when a bound or the timeout stopped a search.
    #[arg(long)]
    pub fail_on_incomplete: bool,
}
