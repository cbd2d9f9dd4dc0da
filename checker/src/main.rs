//! `klpcheck`: see the crate documentation of klp_checker for the exit codes.

use clap::Parser;

fn main() {
    let cli = match klp_checker::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                klp_checker::run::EXIT_USAGE
            } else {
                0
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    std::process::exit(klp_checker::run::run(cli));
}
