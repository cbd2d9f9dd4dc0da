//! `check --out DIR`: report.json (one JSON object per scenario and line, as
//! `--format json` prints them) and, per violated property, the folder
//! DIR/<scenario>/<property>/ with trace.txt, trace.json, trace.itf.json,
//! trace.md, case.json and reproduce.sh.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use klp_model::KlpModel;
use klp_reports::{ScenarioReport, SpecRef, Status, Walk};
use serde_json::Value;

/// The files of one counterexample folder.
pub const TRACE_FILES: &[&str] = &[
    "trace.txt",
    "trace.json",
    "trace.itf.json",
    "trace.md",
    "case.json",
    "reproduce.sh",
];

/// Longest path component written under `--out` (most file systems allow
/// 255 bytes; the rest is left for suffixes).
pub const MAX_COMPONENT: usize = 100;

/// A name as one path component, injectively: letters, digits, `-`, `_`
/// and `.` stay (a leading `.` does not), every other byte is `%XX`, so
/// `a/b` and `a_b` never share a folder and no name can be `..` or reach
/// outside its parent. A result longer than [`MAX_COMPONENT`] is cut and
/// ends with a hash of the whole name.
pub fn component(name: &str) -> String {
    let mut s = String::new();
    for (i, b) in name.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0);
        if keep {
            s.push(b as char);
        } else {
            s += &format!("%{b:02X}");
        }
    }
    if s.is_empty() {
        // `%e` is no escape of a byte, so no name encodes to this.
        return "%empty".to_string();
    }
    if s.len() > MAX_COMPONENT {
        let mut cut = MAX_COMPONENT - 17;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s += &format!("~{:016x}", fnv1a(name.as_bytes()));
    }
    s
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Which scenario (spec path and name) owns each scenario folder written in
/// this process, by folder: a second scenario whose name maps to a taken
/// folder gets `<name>~2`, `~3`, ... (`~` never comes out of
/// [`component`]), so two scenarios never share a folder.
static CLAIMED: Mutex<BTreeMap<PathBuf, (String, String)>> = Mutex::new(BTreeMap::new());

/// The folder of scenario `report` under `dir`, claimed for it.
fn scenario_folder(dir: &Path, report: &ScenarioReport) -> PathBuf {
    let owner = (report.spec.path.clone(), report.spec.name.clone());
    let base = component(&report.spec.name);
    let mut claimed = CLAIMED.lock().unwrap_or_else(|e| e.into_inner());
    for n in 1.. {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}~{n}")
        };
        // Case-insensitive file systems fold `A` and `a` together.
        let key = dir.join(name.to_ascii_lowercase());
        match claimed.get(&key) {
            Some(o) if *o != owner => continue,
            _ => {
                claimed.insert(key, owner);
                return dir.join(name);
            }
        }
    }
    unreachable!("some suffix is free")
}

/// Makes `dir` (below `root`, which must exist) a real directory: every
/// component below `root` that is a symbolic link is removed (not
/// followed) and created as a directory.
pub fn ensure_dir(root: &Path, dir: &Path) -> io::Result<()> {
    let rel = dir.strip_prefix(root).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not below {}", dir.display(), root.display()),
        )
    })?;
    let mut at = root.to_path_buf();
    for c in rel.components() {
        let std::path::Component::Normal(c) = c else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a plain path below --out", dir.display()),
            ));
        };
        at.push(c);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                fs::remove_file(&at)?;
                fs::create_dir(&at)?;
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a directory", at.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&at)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes `path` whole or not at all: the text goes to a new temporary
/// file beside it (created exclusively, so never through a symbolic link)
/// with permissions `mode`, which is then renamed over `path` (a symbolic
/// link at `path` is replaced, not followed). A reader never sees a
/// half-written file.
pub fn write_atomic(path: &Path, text: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp.{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = options.open(&tmp).and_then(|mut f| {
        f.write_all(text)?;
        #[cfg(unix)]
        {
            // The umask may have cleared bits of `mode`.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    });
    let result = result.and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn pretty(v: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(v).expect("serializes") + "\n"
}

/// Writes the folders of every violated property of `report`; returns the
/// folder of each property id. `spec` is the scenario file's JSON.
pub fn write_traces(
    dir: &Path,
    report: &ScenarioReport,
    model: &KlpModel,
    spec: &Value,
) -> io::Result<BTreeMap<String, PathBuf>> {
    let mut written = BTreeMap::new();
    for p in &report.properties {
        let (Status::Violated, Some(actions)) = (p.status, &p.actions) else {
            continue;
        };
        let folder = scenario_folder(dir, report).join(component(&p.id));
        fs::create_dir_all(dir)?;
        ensure_dir(dir, &folder)?;
        let walk = Walk::new(model, actions);
        let path = report.spec.path.as_str();
        let cx = klp_reports::trace_txt::TraceContext {
            spec_path: path,
            property: &p.id,
        };
        let spec_ref = SpecRef {
            name: report.spec.name.clone(),
            path: path.to_string(),
        };
        let trace = klp_reports::trace_file::trace_file(model, &walk, spec_ref, &p.id, &p.kind);
        let files: [(&str, String); 6] = [
            (
                "trace.txt",
                klp_reports::trace_txt::render(model, &walk, &cx),
            ),
            ("trace.json", pretty(&trace)),
            (
                "trace.itf.json",
                pretty(&klp_reports::itf::itf_trace(model, &walk, path, &p.id)),
            ),
            (
                "trace.md",
                klp_reports::mermaid::trace_md(model, &walk, &p.id),
            ),
            (
                "case.json",
                pretty(&klp_reports::reproducer::case_json(
                    model, &walk, spec, &p.id,
                )),
            ),
            (
                "reproduce.sh",
                klp_reports::reproduce_sh::reproduce_sh(model, &walk, &p.id, path),
            ),
        ];
        for (name, text) in files {
            let mode = if name == "reproduce.sh" { 0o755 } else { 0o644 };
            write_atomic(&folder.join(name), text.as_bytes(), mode)?;
        }
        written.insert(p.id.clone(), folder);
    }
    Ok(written)
}

/// report.json: one scenario report per line.
pub fn write_report_json(dir: &Path, reports: &[ScenarioReport]) -> io::Result<()> {
    let mut text = String::new();
    for r in reports {
        text +=
            &klp_reports::escape::json_line(&serde_json::to_string(r).expect("report serializes"));
        text.push('\n');
    }
    write_atomic(&dir.join("report.json"), text.as_bytes(), 0o644)
}
