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
    /// Import livepatch module C sources and klp-build patches as a scenario.
    Import(ImportArgs),
    /// Print the JSON Schema of scenario files.
    Schema,
    /// List property ids, profiles and variants.
    List,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Livepatch module sources (.c), target module sources, klp-build
    /// patches (.patch/.diff), in series order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The files are versions of one livepatch, oldest first: the search may
    /// load older versions again after newer ones (downgrades).
    #[arg(long)]
    pub series: bool,
    /// Force `klp_patch.replace = true` on every patch (a cumulative series).
    #[arg(long, conflicts_with = "no_replace")]
    pub replace: bool,
    /// klp-build patches: like `klp-build --no-replace` (KLP_NO_REPLACE).
    #[arg(long)]
    pub no_replace: bool,
    /// Define a macro for conditional compilation (NAME or NAME=VALUE).
    #[arg(short = 'D', value_name = "NAME[=VALUE]")]
    pub define: Vec<String>,
    /// Undefine a macro of the default configuration (x86_64, MODULE).
    #[arg(short = 'U', value_name = "NAME")]
    pub undefine: Vec<String>,
    /// Write the scenario here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// An oracle case (specs/selftests/oracle/*.json) or a scenario with a `script`.
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
    #[arg(long, value_enum, default_value_t = EngineKind::Native)]
    pub engine: EngineKind,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Check under these profiles instead of the scenario's own
    /// (comma-separated: `mainline,v5.4,draft-2018` prints a side-by-side
    /// table of verdicts).
    #[arg(long)]
    pub profile: Option<String>,
    /// Override the scenario's variant.
    #[arg(long)]
    pub variant: Option<String>,
    /// Symmetry reduction over tasks (tasks are interchangeable): on by
    /// default for the native engine; stateright-dfs supports it too,
    /// stateright-bfs does not.
    #[arg(long, overrides_with = "no_symmetry")]
    pub symmetry: bool,
    /// No symmetry reduction.
    #[arg(long, overrides_with = "symmetry")]
    pub no_symmetry: bool,
    /// Memory for the native engine's fingerprint table and parent links
    /// (e.g. 512MiB, 2GiB); by default it starts small and grows.
    #[arg(long, value_parser = parse_memory)]
    pub memory: Option<usize>,
    /// Skip the liveness search (transition-completes, patch-freed are then
    /// reported as unknown): for scenarios whose state graph is too big to
    /// keep, and for measuring the safety engines alone.
    #[arg(long)]
    pub no_liveness: bool,
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

/// `512MiB`, `2GiB`, `64M`, `1G` or a number of bytes.
pub fn parse_memory(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 512MiB or 2GiB"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return Err(format!("`{text}`: unknown unit (use KiB, MiB or GiB)")),
    };
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if bytes < 4096 {
        return Err(format!("`{text}` is too small for a table (at least 4KiB)"));
    }
    Ok(bytes)
}
