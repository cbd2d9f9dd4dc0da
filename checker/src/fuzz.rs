//! The fuzz harness: three targets that take arbitrary bytes the way the
//! CLI takes a file, and a mutator that turns the repository's JSON files
//! into hostile inputs. It runs on stable Rust (no cargo-fuzz): the driver
//! is `checker/examples/fuzz.rs`, the seeds and kept inputs are in
//! `fuzz/corpus/<target>/`, the smoke in `.ci/run`, see fuzz/README.md.
//!
//! A target *crashes* when it panics (caught by the driver), aborts or
//! hangs (a watchdog in the driver); every other outcome, an error
//! included, is fine as long as an error names where it is.
//!
//! - [`loader`]: `parse_spec` and `Scenario::compile`, and for a scenario
//!   they accept a bounded pipeline: a native search of at most
//!   [`DEEP_STATES`] states, liveness and coverage bounded alike, and every
//!   report writer on the result and its counterexamples.
//! - [`run`]: `klpcheck run` (an oracle case or a scripted scenario):
//!   `load_case` and `run_case`.
//! - [`replay`]: `klpcheck replay <spec> <trace>` on a mutated trace.json.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use klp_model::{parse_spec, KlpModel, Scenario, SpecError};
use klp_reports::ci::Checked;
use klp_reports::{SpecRef, Status, Walk};
use serde_json::Value;

use crate::engines::Bounds;

/// States the bounded pipeline of [`loader`] explores.
pub const DEEP_STATES: u64 = 200;

/// What a target made of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted (and, for the loader, pushed through the pipeline).
    Accepted,
    /// Refused with a message; the string is a coarse class of the
    /// message (where and what), used to keep inputs that reach new places.
    Refused(String),
}

/// A coarse class of an error message: its words without names and
/// numbers, so that inputs refused for a new reason can be kept.
fn class_of(message: &str) -> String {
    let mut out = String::new();
    let mut in_name = false;
    for c in message.chars().take(120) {
        if c == '`' {
            in_name = !in_name;
            out.push('`');
        } else if !in_name && !c.is_ascii_digit() {
            out.push(c);
        }
    }
    out
}

/// The loader target: parse, validate and compile `bytes`; for an accepted
/// scenario, when `deep`, the bounded pipeline too.
pub fn loader(bytes: &[u8], deep: bool) -> Verdict {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => return Verdict::Refused(format!("utf8 {}", e.error_len().is_some())),
    };
    let spec = match parse_spec(text) {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            assert!(
                matches!(e, SpecError::Parse { line, .. } if line >= 1),
                "parse error without a line: {msg}"
            );
            return Verdict::Refused(class_of(&msg));
        }
    };
    let sc = match Scenario::compile(&spec, "fuzz") {
        Ok(sc) => sc,
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty(), "empty semantic error");
            return Verdict::Refused(format!("compile {}", class_of(&msg)));
        }
    };
    if deep {
        let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        pipeline(sc, &json);
    }
    Verdict::Accepted
}

/// A bounded search of `sc` and every writer on its result.
fn pipeline(sc: Scenario, spec_json: &Value) {
    let model = KlpModel::new(sc);
    let bounds = Bounds {
        threads: 1,
        max_states: Some(DEEP_STATES),
        timeout: None,
        symmetry: true,
        memory: Some(64 << 10),
        first_table: None,
        no_liveness: false,
        deadline: None,
    };
    let outcome = crate::engines::run_native(&model, &bounds);
    let mut report =
        crate::check::report(Path::new("fuzz.json"), &model, "native", &bounds, &outcome);
    report.coverage = Some(crate::coverage::coverage(&model, &report, &bounds, &|_| {}));
    let text = klp_reports::text::render(&report);
    let _ = klp_reports::escape::neutralise_workflow_commands(&text);
    let _ = serde_json::to_string(&report).expect("report serializes");
    let folders = BTreeMap::new();
    let checked = [Checked {
        report: &report,
        folders: &folders,
        spec_text: None,
    }];
    let _ = klp_reports::junit::junit(&checked, false);
    let _ = klp_reports::sarif::sarif(&checked);
    let _ = klp_reports::github::annotations(&checked);
    let _ = klp_reports::github::step_summary(&checked, &[]);
    for p in &report.properties {
        let (Status::Violated, Some(actions)) = (p.status, &p.actions) else {
            continue;
        };
        let walk = Walk::new(&model, actions);
        let cx = klp_reports::trace_txt::TraceContext {
            spec_path: "fuzz.json",
            property: &p.id,
        };
        let _ = klp_reports::trace_txt::render(&model, &walk, &cx);
        let spec_ref = SpecRef {
            name: report.spec.name.clone(),
            path: "fuzz.json".into(),
        };
        let tf = klp_reports::trace_file::trace_file(&model, &walk, spec_ref, &p.id, &p.kind);
        let _ = serde_json::to_string(&tf).expect("trace serializes");
        let _ = klp_reports::itf::itf_trace(&model, &walk, "fuzz.json", &p.id);
        let _ = klp_reports::mermaid::trace_md(&model, &walk, &p.id);
        let _ = klp_reports::reproducer::case_json(&model, &walk, spec_json, &p.id);
        let _ = klp_reports::reproduce_sh::reproduce_sh(&model, &walk, &p.id, "fuzz.json");
    }
}

/// The `run` target: `bytes` as an oracle case or scripted scenario file
/// at `path` (the loader reads files), loaded and run.
pub fn run(bytes: &[u8], path: &Path) -> Verdict {
    if std::fs::write(path, bytes).is_err() {
        return Verdict::Refused("cannot write the input".into());
    }
    let lib = crate::selftest::library::Library::builtin();
    match crate::selftest::load_case(path, &lib) {
        Ok(case) => {
            let _ = crate::selftest::run_case(&case, &lib);
            Verdict::Accepted
        }
        Err(e) => {
            assert!(!e.is_empty(), "empty error");
            Verdict::Refused(class_of(e.rsplit(".json").next().unwrap_or(&e)))
        }
    }
}

/// The `replay` target: `bytes` as a trace.json of scenario `spec`,
/// replayed by `klpcheck replay` (which prints to stdout).
pub fn replay(spec: &Path, bytes: &[u8], path: &Path) -> Verdict {
    if std::fs::write(path, bytes).is_err() {
        return Verdict::Refused("cannot write the input".into());
    }
    match crate::replay::replay(spec, path) {
        0 => Verdict::Accepted,
        code => Verdict::Refused(format!("exit {code}")),
    }
}

/// xorshift64*: a small, seeded, reproducible generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Strings that have broken or could break a reader or a writer.
pub const HOSTILE_STRINGS: &[&str] = &[
    "",
    " ",
    "vmlinux",
    "P1",
    "a/b",
    "a_b",
    "..",
    ".",
    "-",
    "$(touch /tmp/klpcheck-fuzz-pwned)",
    "`id`",
    "x;reboot",
    "x\nEXPECTED\ntouch /tmp/klpcheck-fuzz-pwned",
    "EXPECTED",
    "::error::forged",
    "##[add-mask]x",
    "%0A%25",
    "a,b:c",
    "<x>&\"'",
    "\u{0}",
    "\u{7f}\u{1b}[31m",
    "é\u{202e}",
    "{patch}",
    "param",
    "ENODEV",
    "-EBUSY",
];

/// Numbers at the edges of the types the scenario language uses.
pub const EDGE_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "4",
    "5",
    "8",
    "9",
    "16",
    "17",
    "64",
    "65",
    "255",
    "256",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "1e308",
    "1e999",
    "0.5",
    "-0",
];

/// Byte strings spliced in by the byte-level mutations.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"true",
    b"\\u0000",
    b"\\ud800",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\n",
    b"\r\n",
    b"/*",
    b"1e999",
    b"-",
    b"\\",
];

/// The mutator's material: every seed input of a target, and every object
/// key seen in any seed (so that mutations rename keys into real ones).
#[derive(Debug, Default, Clone)]
pub struct Material {
    pub seeds: Vec<Vec<u8>>,
    pub keys: Vec<String>,
    pub strings: Vec<String>,
}

impl Material {
    /// Adds a seed, learning its keys and short strings.
    pub fn add(&mut self, bytes: Vec<u8>) {
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            self.learn(&v);
        }
        self.seeds.push(bytes);
    }

    fn learn(&mut self, v: &Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if !self.keys.contains(k) && self.keys.len() < 4096 {
                        self.keys.push(k.clone());
                    }
                    self.learn(x);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| self.learn(x)),
            Value::String(s)
                if s.len() <= 40 && !self.strings.contains(s) && self.strings.len() < 4096 =>
            {
                self.strings.push(s.clone());
            }
            _ => {}
        }
    }
}

/// A mutation of `input`: one to four structural edits of its JSON (when it
/// parses) and, now and then, byte-level edits of the text.
pub fn mutate(rng: &mut Rng, input: &[u8], m: &Material) -> Vec<u8> {
    let mut bytes = input.to_vec();
    if let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) {
        for _ in 0..1 + rng.below(4) {
            mutate_value(rng, &mut v, m);
        }
        bytes = if rng.chance(2) {
            serde_json::to_vec(&v)
        } else {
            serde_json::to_vec_pretty(&v)
        }
        .unwrap_or(bytes);
        if !rng.chance(4) {
            return bytes;
        }
    }
    for _ in 0..1 + rng.below(3) {
        mutate_bytes(rng, &mut bytes);
    }
    bytes
}

fn mutate_bytes(rng: &mut Rng, b: &mut Vec<u8>) {
    let at = rng.below(b.len() + 1);
    match rng.below(6) {
        0 if !b.is_empty() => {
            let i = at.min(b.len() - 1);
            b[i] ^= 1 << rng.below(8);
        }
        1 => {
            let t = TOKENS[rng.below(TOKENS.len())];
            b.splice(at..at, t.iter().copied());
        }
        2 if !b.is_empty() => {
            let end = (at + 1 + rng.below(16)).min(b.len());
            b.drain(at.min(end)..end);
        }
        3 if !b.is_empty() => {
            let start = rng.below(b.len());
            let end = (start + 1 + rng.below(64)).min(b.len());
            let chunk: Vec<u8> = b[start..end].to_vec();
            b.splice(at..at, chunk);
        }
        4 => b.truncate(at),
        _ => b.insert(at, rng.below(256) as u8),
    }
}

fn random_string(rng: &mut Rng, m: &Material) -> String {
    match rng.below(6) {
        0 | 1 if !m.strings.is_empty() => m.strings[rng.below(m.strings.len())].clone(),
        2 => "A".repeat(1 + rng.below(600)),
        3 if rng.chance(8) => "x".repeat(70_000),
        _ => HOSTILE_STRINGS[rng.below(HOSTILE_STRINGS.len())].to_string(),
    }
}

fn random_value(rng: &mut Rng, m: &Material) -> Value {
    match rng.below(10) {
        0..=3 => Value::String(random_string(rng, m)),
        4..=6 => {
            serde_json::from_str(EDGE_NUMBERS[rng.below(EDGE_NUMBERS.len())]).unwrap_or(Value::Null)
        }
        7 => Value::Bool(rng.chance(2)),
        8 => Value::Array(vec![Value::String(random_string(rng, m))]),
        _ => match rng.below(3) {
            0 => Value::Null,
            1 => Value::Object(Default::default()),
            _ => Value::Array(vec![]),
        },
    }
}

/// Counts the nodes of `v`.
fn size(v: &Value) -> usize {
    1 + match v {
        Value::Object(o) => o.values().map(size).sum(),
        Value::Array(a) => a.iter().map(size).sum(),
        _ => 0,
    }
}

/// Calls `f` on node number `n` of `v` (preorder); whether it was found.
fn at_node(v: &mut Value, n: &mut usize, f: &mut dyn FnMut(&mut Value)) -> bool {
    if *n == 0 {
        f(v);
        return true;
    }
    *n -= 1;
    match v {
        Value::Object(o) => o.values_mut().any(|x| at_node(x, n, f)),
        Value::Array(a) => a.iter_mut().any(|x| at_node(x, n, f)),
        _ => false,
    }
}

/// Node number `n` of `v` (preorder).
fn nth(v: &Value, n: &mut usize) -> Option<Value> {
    if *n == 0 {
        return Some(v.clone());
    }
    *n -= 1;
    match v {
        Value::Object(o) => o.values().find_map(|x| nth(x, n)),
        Value::Array(a) => a.iter().find_map(|x| nth(x, n)),
        _ => None,
    }
}

fn mutate_value(rng: &mut Rng, root: &mut Value, m: &Material) {
    let mut n = rng.below(size(root));
    at_node(root, &mut n, &mut |node| edit(rng, node, m));
}

fn edit(rng: &mut Rng, node: &mut Value, m: &Material) {
    let op = rng.below(10);
    match node {
        Value::Object(o) if !o.is_empty() && op < 6 => {
            let keys: Vec<String> = o.keys().cloned().collect();
            let k = keys[rng.below(keys.len())].clone();
            match op {
                0 => {
                    o.remove(&k);
                }
                1 => {
                    // Rename a key: to a hostile name or a real key.
                    let v = o.remove(&k).unwrap_or(Value::Null);
                    let new = if rng.chance(2) && !m.keys.is_empty() {
                        m.keys[rng.below(m.keys.len())].clone()
                    } else {
                        random_string(rng, m)
                    };
                    o.insert(new, v);
                }
                2 => {
                    // Duplicate an entry under another name.
                    let v = o[&k].clone();
                    o.insert(format!("{k}{}", rng.below(10)), v);
                }
                3 if !m.keys.is_empty() => {
                    let key = m.keys[rng.below(m.keys.len())].clone();
                    o.insert(key, random_value(rng, m));
                }
                4 if !m.seeds.is_empty() => {
                    // Crossover: a subtree of another seed under this key.
                    let other = &m.seeds[rng.below(m.seeds.len())];
                    if let Ok(ov) = serde_json::from_slice::<Value>(other) {
                        let mut j = rng.below(size(&ov));
                        if let Some(sub) = nth(&ov, &mut j) {
                            o.insert(k, sub);
                        }
                    }
                }
                _ => {
                    o.insert(k, random_value(rng, m));
                }
            }
        }
        Value::Array(a) if !a.is_empty() && op < 6 => {
            let i = rng.below(a.len());
            match op {
                0 => {
                    a.remove(i);
                }
                1 => {
                    let v = a[i].clone();
                    let times = if rng.chance(8) { 200 } else { 1 };
                    for _ in 0..times {
                        a.insert(i, v.clone());
                    }
                }
                2 => {
                    let j = rng.below(a.len());
                    a.swap(i, j);
                }
                _ => a[i] = random_value(rng, m),
            }
        }
        _ => *node = random_value(rng, m),
    }
}

/// Every `*.json` file below `dir` (sorted), skipping `target` and `.git`.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(d) = stack.pop() {
        let Ok(canon) = d.canonicalize() else {
            continue;
        };
        if !seen.insert(canon) {
            continue;
        }
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if p.file_name()
                    .is_some_and(|n| n == "target" || n == ".git" || n == "crashes")
                {
                    continue;
                }
                stack.push(p);
            } else if ft.is_file() && p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_reproducible_and_change_the_input() {
        let mut m = Material::default();
        let seed = br#"{"spec_version": 1, "patches": {"P1": {"objects": {}}}}"#.to_vec();
        m.add(seed.clone());
        let run = |s: u64| {
            let mut rng = Rng::new(s);
            (0..50)
                .map(|_| mutate(&mut rng, &seed, &m))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert!(run(7).iter().any(|x| *x != seed));
    }

    #[test]
    fn class_of_drops_names_and_numbers() {
        assert_eq!(
            class_of("at `patches.P1`: 17 tasks is more"),
            "at ``:  tasks is more"
        );
    }
}
