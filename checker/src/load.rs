//! Finding and reading scenario files: a file, or every `*.json` below a
//! directory (sorted, so runs are reproducible), and errors shown the way
//! rustc shows them: `error: message`, `--> file:line:column`, the line with
//! a caret, the JSON path, and a "did you mean" for a misspelt name.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use klp_model::{parse_spec, Scenario, SpecError};

use crate::locate::{locate, offset_of, pos_of};

/// A scenario that could not be loaded: which file and why. Always exit 2.
#[derive(Debug)]
pub enum LoadError {
    Io {
        path: String,
        source: std::io::Error,
    },
    /// An error at a place in a file.
    At(Box<Located>),
    Empty {
        path: String,
    },
}

/// An error with its place: file, line, column, JSON path.
#[derive(Debug, Clone)]
pub struct Located {
    pub path: String,
    pub line: usize,
    pub column: usize,
    /// The JSON path (`patches.P1.objects`), empty when there is none.
    pub json_path: String,
    pub message: String,
    /// `did you mean `f`?`
    pub help: Option<String>,
    /// The line of the file the error is on.
    pub source_line: String,
}

impl LoadError {
    /// The file the error is about.
    pub fn path(&self) -> &str {
        match self {
            LoadError::Io { path, .. } | LoadError::Empty { path } => path,
            LoadError::At(l) => &l.path,
        }
    }
}

impl std::error::Error for LoadError {}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { path, source } => write!(f, "error: {path}: cannot read: {source}"),
            LoadError::Empty { path } => {
                write!(f, "error: {path}: no scenario files (*.json) found")
            }
            LoadError::At(l) => {
                writeln!(f, "error: {}", l.message)?;
                let num = l.line.to_string();
                let pad = " ".repeat(num.len());
                writeln!(f, "{pad}--> {}:{}:{}", l.path, l.line, l.column)?;
                writeln!(f, "{pad} |")?;
                let shown: String = l.source_line.chars().take(160).collect();
                writeln!(f, "{num} | {shown}")?;
                let caret_at: String = l
                    .source_line
                    .chars()
                    .take(l.column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                write!(f, "{pad} | {caret_at}^")?;
                if !l.json_path.is_empty() {
                    write!(f, "\n{pad} = at: {}", l.json_path)?;
                }
                if let Some(h) = &l.help {
                    write!(f, "\n{pad} = help: {h}")?;
                }
                Ok(())
            }
        }
    }
}

/// A loaded scenario and where it came from.
pub struct Loaded {
    pub path: PathBuf,
    pub scenario: Scenario,
}

/// The name of the file `check --out` writes at the top of its folder; a
/// folder holding one is output, not input, and `check DIR` skips it.
pub const REPORT_FILE: &str = "report.json";

/// Whether `dir` is a folder that `check --out` wrote (its report.json is a
/// klpcheck report).
pub fn is_output_dir(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(REPORT_FILE)) else {
        return false;
    };
    let first = text.lines().next().unwrap_or("");
    first.is_empty()
        || serde_json::from_str::<serde_json::Value>(first)
            .is_ok_and(|v| v.get("schema_version").is_some())
}

/// Expands the command-line arguments into scenario files: a file as it
/// is, a directory searched for `*.json` (sorted; .gitignore'd paths,
/// hidden ones, folders `check --out` wrote, and the non-scenario folders
/// `modules`, `scripts`, `oracle` are skipped; directory symlinks are not
/// followed, so a cycle of them ends; a symlink named `*.json` is read as
/// the file it leads to, and one that is broken or loops is an error
/// naming it). A file reached twice is loaded once.
pub fn expand(args: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    let mut seen = BTreeSet::new();
    let mut push = |p: PathBuf, files: &mut Vec<PathBuf>| {
        let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if seen.insert(key) {
            files.push(p);
        }
    };
    for arg in args {
        if arg.is_dir() {
            let found = collect_dir(arg)?;
            let none = found.is_empty();
            for p in found {
                push(p, &mut files);
            }
            if none {
                return Err(LoadError::Empty {
                    path: arg.display().to_string(),
                });
            }
        } else {
            push(arg.clone(), &mut files);
        }
    }
    Ok(files)
}

/// Directories under a scenario tree that hold other things than scenarios:
/// test module definitions, scripts for `klpcheck run`, the oracle cases.
const NOT_SCENARIOS: &[&str] = &["modules", "scripts", "oracle"];

fn collect_dir(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    if is_output_dir(dir) {
        return Ok(Vec::new());
    }
    let walker = ignore::WalkBuilder::new(dir)
        .follow_links(false)
        .require_git(false)
        .sort_by_file_path(|a, b| a.cmp(b))
        .filter_entry(|e| {
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            if !is_dir || e.depth() == 0 {
                return true;
            }
            let name = e.file_name().to_string_lossy();
            !NOT_SCENARIOS.contains(&name.as_ref()) && !is_output_dir(e.path())
        })
        .build();
    let mut out = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| LoadError::Io {
            path: dir.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let p = entry.path();
        if !(p.extension().is_some_and(|e| e == "json")
            && p.file_name().is_some_and(|n| n != "schema.json"))
        {
            continue;
        }
        let Some(t) = entry.file_type() else { continue };
        // A symlink named *.json is read when it leads to a file (the
        // caller loads a file reached twice once); one that leads nowhere
        // or loops is kept, so that loading it reports the error with its
        // path; one that leads to a directory is not followed.
        if t.is_file() || (t.is_symlink() && std::fs::metadata(p).map_or(true, |m| m.is_file())) {
            out.push(p.to_path_buf());
        }
    }
    Ok(out)
}

/// Reads and compiles one scenario file.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    load_text(path).map(|(l, _)| l)
}

/// Loads every file, or returns every file's error.
pub fn load_all(files: &[PathBuf]) -> Result<Vec<(Loaded, String)>, Vec<LoadError>> {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match load_text(f) {
            Ok(l) => ok.push(l),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(ok)
    } else {
        Err(errors)
    }
}

/// Reads and compiles one scenario file, returning its text too.
pub fn load_text(path: &Path) -> Result<(Loaded, String), LoadError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: shown.clone(),
        source,
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..good]).into_owned();
            let at = pos_of(&prefix, good);
            return Err(located(
                &shown,
                &lossy,
                at.line,
                at.column,
                "",
                "the file is not valid UTF-8".to_string(),
                None,
            ));
        }
    };
    let spec = parse(&shown, &text)?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let scenario = Scenario::compile(&spec, &stem).map_err(|e| spec_error(&shown, &text, e))?;
    Ok((
        Loaded {
            path: path.to_path_buf(),
            scenario,
        },
        text,
    ))
}

/// Parses scenario text: syntax first (trailing text after the value is an
/// error), then the scenario language.
pub fn parse(shown: &str, text: &str) -> Result<klp_model::Spec, LoadError> {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        return Err(located(
            shown,
            text,
            e.line().max(1),
            e.column().max(1),
            "",
            msg,
            None,
        ));
    }
    parse_spec(text).map_err(|e| spec_error(shown, text, e))
}

/// A model error placed in the file.
pub fn spec_error(shown: &str, text: &str, e: SpecError) -> LoadError {
    match e {
        SpecError::Parse {
            line,
            column,
            path,
            message,
        } => {
            let help = suggest_from_expected(&message);
            // serde reports the end of the offending token; the start of
            // the key or value the path names is where the caret belongs.
            let (line, column) = match locate(text, &path) {
                Some(o) if !path.is_empty() && path != "." => {
                    let p = pos_of(text, o);
                    (p.line, p.column)
                }
                _ => (line.max(1), column.max(1)),
            };
            located(shown, text, line, column, &path, message, help)
        }
        SpecError::Semantic { path, message } => {
            let (line, column) = locate(text, &path)
                .map(|o| {
                    let p = pos_of(text, o);
                    (p.line, p.column)
                })
                .unwrap_or((1, 1));
            let help = suggest_name(text, &message);
            located(shown, text, line, column, &path, message, help)
        }
    }
}

fn located(
    shown: &str,
    text: &str,
    line: usize,
    column: usize,
    json_path: &str,
    message: String,
    help: Option<String>,
) -> LoadError {
    let start = offset_of(text, line, 1);
    let source_line = text[start..].lines().next().unwrap_or("").to_string();
    LoadError::At(Box::new(Located {
        path: shown.to_string(),
        line,
        column,
        json_path: if json_path == "." {
            String::new()
        } else {
            json_path.to_string()
        },
        message,
        help,
        source_line,
    }))
}

/// The first name quoted in backticks.
fn quoted(message: &str) -> Option<&str> {
    message.split('`').nth(1)
}

/// The closest of `candidates` to `name`, if it is close enough to be a
/// typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, c)| {
            *score >= 0.8 || strsim::levenshtein(name, c) <= (name.len() / 3).max(1)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// serde's "unknown field `x`, expected one of `a`, `b`": the closest.
fn suggest_from_expected(message: &str) -> Option<String> {
    let name = quoted(message)?;
    let (_, rest) = message.split_once("expected")?;
    let candidates: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// A name the scenario (or klpcheck) knows, closest to the unknown one.
fn suggest_name(text: &str, message: &str) -> Option<String> {
    if !message.starts_with("unknown") {
        return None;
    }
    let name = quoted(message)?;
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let keys = |key: &str| -> Vec<String> {
        v.get(key)
            .and_then(|o| o.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut names: Vec<String> = Vec::new();
    let kind = message
        .trim_start_matches("unknown ")
        .split('`')
        .next()
        .unwrap_or("")
        .trim();
    match kind {
        "function" => {
            if let Some(objs) = v.get("objects").and_then(|o| o.as_object()) {
                for o in objs.values() {
                    if let Some(fs) = o.get("funcs").and_then(|f| f.as_array()) {
                        names.extend(fs.iter().filter_map(|f| f.as_str().map(str::to_string)));
                    }
                }
            }
        }
        "object" => {
            names = keys("objects");
            names.push("vmlinux".to_string());
        }
        "patch" => {
            names = keys("patches");
            if let Some(ps) = v.get("patches").and_then(|o| o.as_object()) {
                names.extend(
                    ps.values()
                        .filter_map(|p| p.get("module").and_then(|m| m.as_str()))
                        .map(str::to_string),
                );
            }
        }
        "shadow variable" => names = keys("shadow_vars"),
        "system modification" => {
            names = v
                .get("system_modifications")
                .and_then(|a| a.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        }
        "property id" => {
            names = klp_model::properties::PROPERTIES
                .iter()
                .map(|p| p.id.to_string())
                .collect()
        }
        "profile" => {
            names = klp_model::Profile::ALL
                .iter()
                .map(|p| p.name().to_string())
                .collect()
        }
        "variant" => {
            names = klp_model::Variant::ALL
                .iter()
                .map(|p| p.name().to_string())
                .collect()
        }
        _ => return None,
    }
    closest(name, names.iter().map(String::as_str)).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let m = "unknown field `patchs`, expected one of `spec_version`, `patches`, `tasks`";
        assert_eq!(
            suggest_from_expected(m).as_deref(),
            Some("did you mean `patches`?")
        );
        assert_eq!(closest("fo", ["f", "g"]), Some("f"));
        assert_eq!(closest("zzz", ["f", "g"]), None);
    }
}
