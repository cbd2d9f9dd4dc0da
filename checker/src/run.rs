//! Turning parsed arguments into work and an exit code.

use std::io::Write;

use crate::cli::{Cli, Command};

/// Exit codes of the CLI contract.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_INCOMPLETE: i32 = 3;

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Schema => print(&crate::schema::schema_text()),
        Command::List => print(&crate::list::render()),
        Command::Check(args) => crate::cmd_check::check(&args),
        Command::Run(args) => run_script(&args.file),
        Command::Replay(args) => crate::replay::replay(&args.spec, &args.trace),
        Command::Simulate(args) => crate::simulate::simulate(&args),
        Command::Explore(args) => crate::explore::explore(&args.spec, &args.addr),
        Command::Import(args) => crate::import::import(&args),
        Command::Validate(args) => crate::cmd_validate::validate_cmd(&args),
        Command::Gen(args) => crate::cmd_gen::gen_cmd(&args),
    }
}

fn print(text: &str) -> i32 {
    // A closed pipe (`klpcheck list | head`) is not an error.
    let _ = std::io::stdout().write_all(text.as_bytes());
    EXIT_OK
}

/// A usage error on stderr (names in it are data: no workflow command).
pub fn usage_error(msg: impl std::fmt::Display) -> i32 {
    say!("{}", neutral(&format!("klpcheck: {msg}\n")));
    EXIT_USAGE
}

/// Text for stdout or stderr with no GitHub workflow command in it (names
/// and emit lines of a scenario are data).
pub fn neutral(text: &str) -> String {
    klp_reports::escape::neutralise_workflow_commands(text)
}

/// `klpcheck run`: events on stdout, the verdict, the first divergence and
/// the first safety violation on stderr.
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
        if writeln!(out, "{}", neutral(e)).is_err() {
            break;
        }
    }
    let say = |text: String| say!("{}", neutral(&(text + "\n")));
    if let Some((_, msg)) = &outcome.error {
        say(format!("klpcheck: {}: {msg}", case.name));
    }
    let violated = |v: &crate::selftest::runner::Violation, note: &str| {
        let step = case
            .steps
            .get(v.step)
            .map(|s| format!("step {} {}", v.step + 1, s.describe()))
            .unwrap_or_else(|| format!("step {}", v.step + 1));
        format!(
            "klpcheck: {}: {} violated{note} by {step}:\n  {}\n  why: {}",
            case.name, v.property, v.action, v.why
        )
    };
    for v in &outcome.expected_violations {
        say(violated(v, " (as expected)"));
    }
    if let Some(v) = &outcome.violation {
        say(violated(v, ""));
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
        say(format!(
            "klpcheck: {}: event {} differs{step}:\n  expected: {}\n  got:      {}",
            case.name,
            d.index + 1,
            d.expected.as_deref().unwrap_or("(nothing more)"),
            d.got.as_deref().unwrap_or("(nothing more)")
        ));
    }
    if outcome.ok() {
        if case.expected_events.is_some() {
            say(format!(
                "klpcheck: {}: {} events match expected_events",
                case.name,
                outcome.events.len()
            ));
        }
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}
