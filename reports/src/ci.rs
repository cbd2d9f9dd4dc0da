//! What the CI formats share: a checked scenario with where its traces were
//! written and its file's text (for line numbers), and one-line summaries.

use std::collections::BTreeMap;

use crate::report::{PropertyReport, ScenarioReport, Status};

/// One scenario's result as the CI writers see it.
pub struct Checked<'a> {
    pub report: &'a ScenarioReport,
    /// Folder of each violated property's traces (`--out`), by property id.
    pub folders: &'a BTreeMap<String, String>,
    /// The scenario file's text, to find line numbers.
    pub spec_text: Option<&'a str>,
}

/// Why a property failed its expectation, in one line.
pub fn one_line(p: &PropertyReport) -> String {
    match (p.status, p.kind.as_str()) {
        (Status::Violated, "sometimes") => format!(
            "{} is never satisfied (expected {}): no reachable state witnesses it",
            p.id, p.expected
        ),
        (Status::Violated, _) => {
            let n = p.trace.as_ref().map_or(0, Vec::len);
            format!(
                "{} is violated (expected {}): counterexample of {n} steps",
                p.id, p.expected
            )
        }
        (Status::Holds, _) => format!("{} holds (expected {})", p.id, p.expected),
        (Status::Unknown, _) => format!("{} is unknown: the search stopped early", p.id),
    }
}

/// The trace as numbered commands, one per line, then the line saying why
/// the last state violates the property (if known).
pub fn trace_summary(p: &PropertyReport) -> String {
    let mut out: String = p
        .trace
        .as_ref()
        .map(|t| {
            t.iter()
                .enumerate()
                .map(|(i, s)| format!("{:>3}. {}\n", i + 1, s.action))
                .collect()
        })
        .unwrap_or_default();
    if let Some(why) = &p.why {
        out += &format!("why: {why}\n");
    }
    out
}

/// The 1-based line of the scenario file a property's result points at: the
/// line of `"<id>"` inside the `expect` block, else the line of the first
/// patch key, else 1.
pub fn property_line(text: &str, property: &str) -> usize {
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let quoted = format!("\"{property}\"");
    if let Some(e) = text.find("\"expect\"") {
        if let Some(i) = text[e..].find(&quoted) {
            return line_of(e + i);
        }
    }
    if let Some(p) = text.find("\"patches\"") {
        let after = p + "\"patches\"".len();
        if let Some(brace) = text[after..].find('{') {
            let start = after + brace + 1;
            if let Some(q) = text[start..].find('"') {
                return line_of(start + q);
            }
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::property_line;

    #[test]
    fn property_line_finds_the_expect_entry_then_the_first_patch() {
        let text = "{\n  \"patches\": {\n    \"P1\": {}\n  },\n  \"expect\": {\n    \"a\": \"holds\",\n    \"b\": \"violated\"\n  }\n}\n";
        assert_eq!(property_line(text, "b"), 7);
        assert_eq!(property_line(text, "c"), 3);
        assert_eq!(property_line("{}", "c"), 1);
    }
}
