//! Finding and reading scenario files: a file, or every `*.json` below a
//! directory (sorted, so runs are reproducible).

use std::path::{Path, PathBuf};

use klp_model::{parse_spec, Scenario, SpecError};

/// A scenario that could not be loaded: which file and why. Always exit 2.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{}{error}", if matches!(error, SpecError::Semantic { .. }) { " " } else { "" })]
    Spec { path: String, error: SpecError },
    #[error("{path}: no scenario files (*.json) found")]
    Empty { path: String },
}

/// A loaded scenario and where it came from.
pub struct Loaded {
    pub path: PathBuf,
    pub scenario: Scenario,
}

/// Expands the command-line arguments into scenario files.
pub fn expand(args: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for arg in args {
        if arg.is_dir() {
            let before = files.len();
            collect_dir(arg, &mut files)?;
            if files.len() == before {
                return Err(LoadError::Empty {
                    path: arg.display().to_string(),
                });
            }
        } else {
            files.push(arg.clone());
        }
    }
    Ok(files)
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            // Test module definitions (`modules`) and selftest-style scripts
            // for `klpcheck run` (`scripts`) and the copy of the kernel selftests as oracle cases
            // (`oracle`) are not scenarios.
            if p.file_name()
                .is_some_and(|n| n == "modules" || n == "scripts" || n == "oracle")
            {
                continue;
            }
            collect_dir(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "json")
            && p.file_name().is_some_and(|n| n != "schema.json")
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads and compiles one scenario file.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: shown.clone(),
        source,
    })?;
    let spec = parse_spec(&text).map_err(|error| LoadError::Spec {
        path: shown.clone(),
        error,
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let scenario =
        Scenario::compile(&spec, &stem).map_err(|error| LoadError::Spec { path: shown, error })?;
    Ok(Loaded {
        path: path.to_path_buf(),
        scenario,
    })
}
