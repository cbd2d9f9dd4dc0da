//! SARIF 2.1.0 for code scanning (GitHub and others): one rule per property
//! id, one `error` result per property that failed its expectation, located
//! at the line of the scenario file that states it (`ci::property_line`).

use serde::Serialize;

use crate::ci::{one_line, property_line, trace_summary, Checked};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

#[derive(Serialize)]
struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Serialize)]
struct Run {
    tool: Tool,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: String,
    short_description: Message,
    full_description: Message,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Message {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: String,
    rule_index: usize,
    level: &'static str,
    message: Message,
    locations: Vec<Location>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
}

/// A path as a SARIF URI relative to the repository root.
fn uri(path: &str) -> String {
    path.replace('\\', "/").trim_start_matches("./").to_string()
}

/// The SARIF log of `checked`.
pub fn sarif(checked: &[Checked]) -> String {
    let props = klp_model::properties::PROPERTIES;
    let rules = props
        .iter()
        .map(|p| Rule {
            id: p.id.to_string(),
            short_description: Message {
                text: format!("{} ({})", p.id, p.kind.name()),
            },
            full_description: Message {
                text: p.meaning.to_string(),
            },
            default_configuration: Configuration { level: "error" },
        })
        .collect();
    let mut results = Vec::new();
    for c in checked {
        let r = c.report;
        for p in r.properties.iter().filter(|p| !p.ok) {
            let mut text = format!("{}: {}", r.spec.name, one_line(p));
            let summary = trace_summary(p);
            if !summary.is_empty() {
                text += &format!("\n{summary}");
            }
            if let Some(folder) = c.folders.get(&p.id) {
                text += &format!("traces: {folder}\n");
            }
            results.push(SarifResult {
                rule_id: p.id.clone(),
                rule_index: props.iter().position(|q| q.id == p.id).unwrap_or(0),
                level: "error",
                message: Message { text },
                locations: vec![Location {
                    physical_location: PhysicalLocation {
                        artifact_location: ArtifactLocation {
                            uri: uri(&r.spec.path),
                        },
                        region: Region {
                            start_line: c.spec_text.map_or(1, |t| property_line(t, &p.id)),
                        },
                    },
                }],
            });
        }
    }
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "klpcheck",
                    version: env!("CARGO_PKG_VERSION"),
                    rules,
                },
            },
            results,
        }],
    };
    serde_json::to_string_pretty(&log).expect("SARIF serializes") + "\n"
}
