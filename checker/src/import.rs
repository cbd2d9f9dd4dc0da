//! `klpcheck import`: a thin front of the klp-import crate. The scenario goes
//! to stdout (or `--out`), the notes to stderr; bad input exits 2 with its
//! file, line and column.

use crate::cli::ImportArgs;
use crate::run::{EXIT_OK, EXIT_USAGE};

pub fn import(args: &ImportArgs) -> i32 {
    let opts = klp_import::Options {
        series: args.series,
        replace: args.replace,
        no_replace: args.no_replace,
        defines: args
            .define
            .iter()
            .map(|d| match d.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (d.clone(), "1".to_string()),
            })
            .collect(),
        undefines: args.undefine.clone(),
    };
    let imported = match klp_import::import(&args.files, &opts) {
        Ok(i) => i,
        Err(e) => {
            sayln!("klpcheck: {e}");
            return EXIT_USAGE;
        }
    };
    for n in &imported.notes {
        sayln!("klpcheck: {n}");
    }
    // The importer's output must be a scenario klpcheck accepts.
    if let Err(e) = klp_model::scenario::Scenario::compile(&imported.spec, "imported") {
        sayln!("klpcheck: the imported scenario does not compile ({e}); this is an importer bug");
        return EXIT_USAGE;
    }
    let json = klp_import::to_json(&imported.spec);
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &json) {
                sayln!("klpcheck: cannot write {}: {e}", path.display());
                return EXIT_USAGE;
            }
            sayln!(
                "klpcheck: wrote {} ({} patch(es), {} note(s))",
                path.display(),
                imported.spec.patches.len(),
                imported.notes.len()
            );
        }
        None => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(json.as_bytes());
        }
    }
    EXIT_OK
}
