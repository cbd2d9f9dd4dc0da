//! `check --out DIR`: report.json (one JSON object per scenario and line, as
//! `--format json` prints them) and, per violated property, the folder
//! DIR/<scenario>/<property>/ with trace.txt, trace.json, trace.itf.json,
//! trace.md, case.json and reproduce.sh.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

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

/// A name safe as one path component.
pub fn component(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
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
        let folder = dir
            .join(component(&report.spec.name))
            .join(component(&p.id));
        fs::create_dir_all(&folder)?;
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
            fs::write(folder.join(name), text)?;
        }
        set_executable(&folder.join("reproduce.sh"));
        written.insert(p.id.clone(), folder);
    }
    Ok(written)
}

#[cfg(unix)]
fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o755));
}

#[cfg(not(unix))]
fn set_executable(_: &Path) {}

/// report.json: one scenario report per line.
pub fn write_report_json(dir: &Path, reports: &[ScenarioReport]) -> io::Result<()> {
    let mut text = String::new();
    for r in reports {
        text += &serde_json::to_string(r).expect("report serializes");
        text.push('\n');
    }
    fs::write(dir.join("report.json"), text)
}
