//! Turning parsed arguments into work and an exit code.

use std::io::Write;
use std::time::Duration;

use klp_model::{Profile, Variant};

use crate::check::check_scenario;
use crate::cli::{CheckArgs, Cli, Command, Format};
use crate::engines::Bounds;
use crate::load::{expand, load};

/// Exit codes of the CLI contract.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_INCOMPLETE: i32 = 3;

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Schema => print(&klp_model::spec::schema_json()),
        Command::List => print(&crate::list::render()),
        Command::Check(args) => check(&args),
        Command::Run(args) => run_script(&args.file),
    }
}

fn print(text: &str) -> i32 {
    // A closed pipe (`klpcheck list | head`) is not an error.
    let _ = std::io::stdout().write_all(text.as_bytes());
    EXIT_OK
}

fn usage_error(msg: impl std::fmt::Display) -> i32 {
    eprintln!("klpcheck: {msg}");
    EXIT_USAGE
}

fn check(args: &CheckArgs) -> i32 {
    let mut profiles = Vec::new();
    for name in args
        .profile
        .iter()
        .flat_map(|p| p.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        match Profile::from_name(name) {
            Some(p) => profiles.push(p),
            None => return usage_error(format!("unknown profile `{name}` (see `klpcheck list`)")),
        }
    }
    let variant = match &args.variant {
        None => None,
        Some(name) => match Variant::from_name(name) {
            Some(v) => Some(v),
            None => return usage_error(format!("unknown variant `{name}` (see `klpcheck list`)")),
        },
    };
    if args.threads == Some(0) {
        return usage_error("--threads must be at least 1");
    }
    if args.max_states == Some(0) {
        return usage_error("--max-states must be at least 1");
    }
    let files = match expand(&args.specs) {
        Ok(f) => f,
        Err(e) => return usage_error(e),
    };
    // Load everything first: bad input is reported before any search runs.
    let mut loaded = Vec::new();
    for f in &files {
        match load(f) {
            Ok(l) => loaded.push(l),
            Err(e) => return usage_error(e),
        }
    }
    let bounds = Bounds {
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        max_states: args.max_states,
        timeout: args.timeout.map(Duration::from_secs),
        symmetry: if args.symmetry {
            true
        } else if args.no_symmetry {
            false
        } else {
            args.engine == crate::engines::EngineKind::Native
        },
        memory: args.memory,
    };
    let mut failed = false;
    let mut incomplete = false;
    let mut out = std::io::stdout().lock();
    for mut l in loaded {
        if let Some(v) = variant {
            l.scenario.variant = v;
        }
        // One run per profile asked for (the scenario's own by default).
        let runs: Vec<Profile> = if profiles.is_empty() {
            vec![l.scenario.profile]
        } else {
            profiles.clone()
        };
        let mut reports = Vec::new();
        for p in &runs {
            let mut sc = l.scenario.clone();
            sc.profile = *p;
            let report = check_scenario(&l.path, sc, args.engine, &bounds);
            failed |= !report.ok;
            incomplete |= !report.complete;
            reports.push(report);
        }
        let text = match args.format {
            Format::Json => reports
                .iter()
                .map(|r| serde_json::to_string(r).expect("report serializes") + "\n")
                .collect(),
            Format::Text if reports.len() > 1 => klp_reports::text::render_side_by_side(&reports),
            Format::Text => klp_reports::text::render(&reports[0]),
        };
        if out.write_all(text.as_bytes()).is_err() {
            break;
        }
    }
    if failed {
        EXIT_FAILED
    } else if incomplete && args.fail_on_incomplete {
        EXIT_INCOMPLETE
    } else {
        EXIT_OK
    }
}

/// `klpcheck run`: events on stdout, the verdict and first divergence on
/// stderr.
fn run_script(path: &std::path::Path) -> i32 {
    use crate::selftest::{load_case, run_case};
    let lib = crate::selftest::library::Library::builtin();
    let case = match load_case(path, &lib) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let outcome = run_case(&case, &lib);
    let mut out = std::io::stdout().lock();
    for (_, e) in &outcome.events {
        if writeln!(out, "{e}").is_err() {
            break;
        }
    }
    if let Some((_, msg)) = &outcome.error {
        eprintln!("klpcheck: {}: {msg}", case.name);
    }
    if let Some(d) = &outcome.divergence {
        let step = d
            .step
            .and_then(|i| {
                case.steps
                    .get(i)
                    .map(|s| format!(" (printed by step {} {})", i + 1, s.describe()))
            })
            .unwrap_or_default();
        eprintln!(
            "klpcheck: {}: event {} differs{step}:\n  expected: {}\n  got:      {}",
            case.name,
            d.index + 1,
            d.expected.as_deref().unwrap_or("(nothing more)"),
            d.got.as_deref().unwrap_or("(nothing more)")
        );
    }
    if outcome.ok() {
        if case.expected_events.is_some() {
            eprintln!(
                "klpcheck: {}: {} events match expected_events",
                case.name,
                outcome.events.len()
            );
        }
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}
