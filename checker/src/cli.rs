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
    /// Re-run a trace written by `check --out` (trace.json) step by step.
    Replay(ReplayArgs),
    /// Seeded random walks, checking `always` properties along the way.
    Simulate(SimulateArgs),
    /// stateright's Explorer web UI for a scenario.
    Explore(ExploreArgs),
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
pub struct ReplayArgs {
    /// The scenario file the trace was found in.
    pub spec: PathBuf,
    /// A trace.json written by `check --out`.
    pub trace: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The scenario file.
    pub spec: PathBuf,
    /// Seed of the pseudo-random choices.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How many walks.
    #[arg(long, default_value_t = 100)]
    pub runs: u64,
    /// Steps per walk at most.
    #[arg(long, default_value_t = 50)]
    pub depth: u64,
    /// Run only the walk with this index (what a violation's command line says).
    #[arg(long)]
    pub run: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write report.json and the traces of violations here (as `check --out`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ExploreArgs {
    /// The scenario file.
    pub spec: PathBuf,
    /// Address to serve on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub addr: String,
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
    /// Write report.json and, per violated property, its traces and
    /// reproducers under DIR/<scenario>/<property>/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write a JUnit XML report (one suite per scenario, one case per property).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a SARIF 2.1.0 log (one result per failed expectation).
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// No progress on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the action coverage table of each scenario (text format).
    #[arg(long)]
    pub coverage: bool,
    /// Skip the action coverage pass.
    #[arg(long, conflicts_with_all = ["coverage", "fail_on_vacuous"])]
    pub no_coverage: bool,
    /// Fail (exit 1) when an allowed action never fires or a `sometimes`
    /// property the scenario expects to hold is never satisfied.
    #[arg(long)]
    pub fail_on_vacuous: bool,
}
