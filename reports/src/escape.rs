//! Escaping for the places klpcheck's output goes: CI logs that parse
//! workflow commands, Markdown job summaries, XML. Names and log lines of a
//! scenario are data; none of these may turn them into commands or markup.
//!
//! GitHub Actions reads workflow commands from a job's stdout and stderr:
//! `::name args::data` when a line starts with `::` (after leading
//! whitespace), and the older `##[name args]data` anywhere in a line. So
//! that a scenario cannot issue one (`::add-mask::`, `::stop-commands::`
//! that would hide klpcheck's own annotations, a forged `::error::`),
//! [`neutralise_workflow_commands`] breaks both forms in text output, and
//! [`json_line`] writes the `[` of `##[` as `\u005b` in JSON lines (the
//! same JSON value).

/// Text output with no line that a CI runner would take for a workflow
/// command: a line whose first non-blank characters are `::` gets a
/// backslash between the colons (`:\:`), and every `##[` becomes `#\#[`.
pub fn neutralise_workflow_commands(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let blank = line.len() - line.trim_start().len();
        let (lead, rest) = line.split_at(blank);
        out += lead;
        let rest = match rest.strip_prefix("::") {
            Some(r) => format!(":\\:{r}"),
            None => rest.to_string(),
        };
        out += &rest.replace("##[", "#\\#[");
    }
    out
}

/// A serialized JSON line with every `##[` written as `##\u005b` (JSON
/// reads the same string), so no runner sees a workflow command in it. A
/// line of JSON starts with `{`, so the `::` form cannot occur.
pub fn json_line(json: &str) -> String {
    json.replace("##[", "##\\u005b")
}

/// Text safe inside Markdown (a table cell, a heading): the characters
/// Markdown or its HTML treat specially are backslash-escaped or written as
/// entities, line breaks become spaces.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '&' => out += "&amp;",
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text that XML 1.0 can hold: characters outside its `Char` production
/// (most C0 controls, U+FFFE, U+FFFF) become U+FFFD.
pub fn xml_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Text for an XML attribute: [`xml_text`], with tabs and line breaks as
/// spaces (an XML reader normalises them to spaces anyway).
pub fn xml_attr(text: &str) -> String {
    xml_text(text).replace(['\t', '\r', '\n'], " ")
}

/// `text` padded with spaces to `width` characters (no padding when it is
/// longer). Unlike `{:<width$}`, any width works: std's formatter panics
/// on widths beyond `u16::MAX`.
pub fn pad(text: &str, width: usize) -> String {
    let n = text.chars().count();
    let mut s = String::with_capacity(text.len() + width.saturating_sub(n));
    s += text;
    for _ in n..width {
        s.push(' ');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_are_broken_in_text() {
        let t = "ok\n::error::forged\n   ::add-mask::x\nlog ##[set-output name=a]b\n";
        let n = neutralise_workflow_commands(t);
        assert_eq!(
            n,
            "ok\n:\\:error::forged\n   :\\:add-mask::x\nlog #\\#[set-output name=a]b\n"
        );
        for line in n.lines() {
            assert!(!line.trim_start().starts_with("::"));
            assert!(!line.contains("##["));
        }
    }

    #[test]
    fn json_lines_keep_their_value() {
        let v = serde_json::json!({"name": "##[add-mask]x"});
        let line = json_line(&v.to_string());
        assert!(!line.contains("##["));
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn pad_handles_any_width() {
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(pad("abcdef", 4), "abcdef");
        assert_eq!(pad("x", 70_000).len(), 70_000);
    }

    #[test]
    fn markdown_and_xml() {
        assert_eq!(markdown("a|b<img>"), "a\\|b&lt;img&gt;");
        assert_eq!(xml_text("a\u{1}b"), "a\u{fffd}b");
    }
}
