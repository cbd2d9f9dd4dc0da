//! The command line (design.md "CLI contract").

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};
use klp_model::{Profile, Variant};

use crate::engines::EngineKind;

/// The exit codes, for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  every scenario met its expectations
  1  some expectation failed (a counterexample is printed)
  2  usage error or invalid input (file:line:column and JSON path)
  3  incomplete: a bound (--timeout, --max-states, --memory) stopped a search
     or pass before it could decide (exit 0 instead with --allow-incomplete)";

#[derive(Debug, Parser)]
#[command(
    name = "klpcheck",
    version,
    about = "Model checker of Linux kernel livepatch semantics",
    after_help = EXIT_CODES_HELP
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
    #[command(after_help = EXIT_CODES_HELP)]
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
    /// Is a kernel's observed event sequence a behaviour of the model? (trace validation)
    Validate(crate::cmd_validate::ValidateArgs),
    /// A small random scenario with a script (same seed, same scenario), for lab/fuzz.
    Gen(crate::cmd_gen::GenArgs),
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
    /// The files are versions of one livepatch, oldest first: the scenario
    /// gets ordered admin plans for the upgrade and the downgrade between
    /// each pair of consecutive versions (`plans`), which `check` explores.
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
    /// Worker threads (default: all cores; 1 to 256).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Check under these profiles instead of the scenario's own
    /// (comma-separated: `mainline,v5.4,draft-2018` prints a side-by-side
    /// table of verdicts).
    #[arg(long, value_delimiter = ',', value_parser = profile_parser())]
    pub profile: Vec<Profile>,
    /// Override the scenario's variant (a historic bug or rule mutation).
    #[arg(long, value_parser = variant_parser())]
    pub variant: Option<Variant>,
    /// Symmetry reduction over tasks (tasks are interchangeable): on by
    /// default for the native engine; stateright-dfs supports it too,
    /// stateright-bfs does not.
    #[arg(long, overrides_with = "no_symmetry")]
    pub symmetry: bool,
    /// No symmetry reduction.
    #[arg(long, overrides_with = "symmetry")]
    pub no_symmetry: bool,
    /// Memory for the whole check (e.g. 512MiB, 2GiB): the native engine's
    /// fingerprint table and parent links, and, when liveness is checked,
    /// the state graph it records (no states are kept: about 16 bytes per
    /// state besides the table's 12); by default the table starts small
    /// and grows.
    #[arg(long, value_parser = parse_memory)]
    pub memory: Option<usize>,
    /// Skip the liveness search (transition-completes, patch-freed are then
    /// reported as unknown): for scenarios whose state graph is too big to
    /// keep, and for measuring the safety engines alone.
    #[arg(long)]
    pub no_liveness: bool,
    /// Stop every search and pass after this many states (the run is then
    /// incomplete).
    #[arg(long)]
    pub max_states: Option<u64>,
    /// Stop the whole command after this long (`90s`, `5m`, `1h 30m`, or bare
    /// seconds); searches and passes cut short are incomplete.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit 0, not 3, when a bound or the timeout stopped a search or pass
    /// (what was decided is still reported; the rest is `unknown`).
    #[arg(long)]
    pub allow_incomplete: bool,
    /// Exit 3 when a bound stopped a search: the default now, kept for old
    /// command lines.
    #[arg(long, hide = true, conflicts_with = "allow_incomplete")]
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
    /// No progress on stderr, and no lines for scenarios that passed (failures
    /// and the closing summary are still printed).
    #[arg(long, short, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Details: every trace (witness examples and expected violations too),
    /// and the state count of each pass.
    #[arg(long, short)]
    pub verbose: bool,
    /// Colour: `auto` (on a terminal, unless NO_COLOR is set), `always`,
    /// `never`.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
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

/// When to colour the text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour stdout: `auto` means a terminal and no NO_COLOR.
    pub fn enabled(self) -> bool {
        use std::io::IsTerminal;
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// `--profile`: the profile names, with what each means in `--help`.
fn profile_parser() -> impl clap::builder::TypedValueParser<Value = Profile> {
    let values = Profile::ALL
        .iter()
        .map(|p| PossibleValue::new(p.name()).help(p.meaning()));
    PossibleValuesParser::new(values)
        .map(|name| Profile::from_name(&name).expect("a possible value is a profile"))
}

/// `--variant`: the variant names, with what each means in `--help`.
fn variant_parser() -> impl clap::builder::TypedValueParser<Value = Variant> {
    let values = Variant::ALL
        .iter()
        .map(|v| PossibleValue::new(v.name()).help(v.meaning()));
    PossibleValuesParser::new(values)
        .map(|name| Variant::from_name(&name).expect("a possible value is a variant"))
}

/// `90s`, `5m`, `1h 30m` (humantime), or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let d = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| format!("`{text}`: {e}"))?
    } else {
        humantime::parse_duration(t)
            .map_err(|e| format!("`{text}` is not a duration such as 90s or 5m: {e}"))?
    };
    if d.is_zero() {
        return Err(format!("`{text}`: the timeout must be longer than zero"));
    }
    Ok(d)
}

/// `512MiB`, `2GiB`, `1.5G`, `64MB` (bytesize), or a number of bytes.
pub fn parse_memory(text: &str) -> Result<usize, String> {
    let size: bytesize::ByteSize = text
        .trim()
        .parse()
        .map_err(|e| format!("`{text}` is not a size such as 512MiB or 2GiB: {e}"))?;
    let bytes = usize::try_from(size.as_u64()).map_err(|_| format!("`{text}` is too large"))?;
    if bytes < 4096 {
        return Err(format!("`{text}` is too small for a table (at least 4KiB)"));
    }
    Ok(bytes)
}
