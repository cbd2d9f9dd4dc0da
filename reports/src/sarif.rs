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
    invocations: Vec<Invocation>,
    results: Vec<SarifResult>,
}

/// Whether the run finished: false after an interrupt; each scenario whose
/// search stopped early is a notification.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
struct Notification {
    level: &'static str,
    message: Message,
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
    let notes: Vec<Notification> = checked
        .iter()
        .filter(|c| !c.report.complete)
        .map(|c| Notification {
            level: "warning",
            message: Message {
                text: format!(
                    "{}: incomplete: {}",
                    c.report.spec.name,
                    c.report
                        .incomplete_reason
                        .as_deref()
                        .unwrap_or("search stopped early")
                ),
            },
        })
        .collect();
    let interrupted = checked
        .iter()
        .any(|c| c.report.incomplete_reason.as_deref() == Some("interrupted"));
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
            invocations: vec![Invocation {
                execution_successful: !interrupted,
                tool_execution_notifications: notes,
            }],
            results,
        }],
    };
    serde_json::to_string_pretty(&log).expect("SARIF serializes") + "\n"
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::Value;

    use super::sarif;
    use crate::ci::Checked;
    use crate::report::{PropertyReport, ScenarioReport, SpecRef, Stats, Status, TraceStep};

    fn report(ok: bool) -> ScenarioReport {
        ScenarioReport {
            schema_version: 1,
            spec: SpecRef {
                name: "s".into(),
                path: "./specs/doc/s.json".into(),
            },
            profile: "mainline".into(),
            variant: "none".into(),
            engine: "stateright-bfs".into(),
            threads: 1,
            complete: true,
            incomplete_reason: None,
            stats: Stats {
                states: 1,
                unique_states: 1,
                max_depth: 0,
                seconds: 0.0,
                states_per_second: 0.0,
            },
            properties: vec![PropertyReport {
                id: "shadow-no-use-after-free".into(),
                kind: "always".into(),
                status: Status::Violated,
                expected: if ok { "violated" } else { "holds" }.into(),
                ok,
                trace: Some(vec![TraceStep {
                    action: "insmod p.ko".into(),
                    events: vec![],
                    log: vec![],
                    transcript: vec![],
                }]),
                loop_start: None,
                actions: None,
                why: Some("task 1 runs f() in P's code, which uses shadow variable V".into()),
            }],
            expected_unique_states: None,
            coverage: None,
            ok,
        }
    }

    fn log(ok: bool) -> Value {
        let r = report(ok);
        let folders = BTreeMap::from([(
            "shadow-no-use-after-free".to_string(),
            "out/s/x".to_string(),
        )]);
        let text = "{\n  \"patches\": {\"P\": {}},\n  \"expect\": {\n    \"shadow-no-use-after-free\": \"holds\"\n  }\n}\n";
        let c = Checked {
            report: &r,
            folders: &folders,
            spec_text: Some(text),
        };
        serde_json::from_str(&sarif(&[c])).unwrap()
    }

    /// The fields GitHub code scanning requires of an uploaded SARIF file.
    #[test]
    fn sarif_has_the_fields_github_requires() {
        let v = log(false);
        assert_eq!(v["version"], "2.1.0");
        assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
        let run = &v["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "klpcheck");
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert!(rules.iter().any(|r| r["id"] == "shadow-no-use-after-free"
            && r["shortDescription"]["text"].is_string()
            && r["fullDescription"]["text"].is_string()));
        let res = &run["results"][0];
        assert_eq!(res["ruleId"], "shadow-no-use-after-free");
        assert_eq!(
            rules[res["ruleIndex"].as_u64().unwrap() as usize]["id"],
            "shadow-no-use-after-free"
        );
        assert_eq!(res["level"], "error");
        let msg = res["message"]["text"].as_str().unwrap();
        assert!(msg.contains("s: shadow-no-use-after-free is violated (expected holds)"));
        assert!(msg.contains("1. insmod p.ko"));
        assert!(msg.contains("why: task 1 runs f() in P's code, which uses shadow variable V\n"));
        assert!(msg.contains("traces: out/s/x"));
        let loc = &res["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "specs/doc/s.json");
        assert_eq!(loc["region"]["startLine"], 4);
    }

    /// A property that met its expectation is no result.
    #[test]
    fn sarif_lists_only_failed_expectations() {
        assert_eq!(log(true)["runs"][0]["results"], serde_json::json!([]));
    }
}
