//! klp-build source patches (Linux 6.19+ `scripts/livepatch/klp-build`): a
//! unified diff against the kernel tree. The livepatch it builds patches every
//! function a hunk changes, registers the callbacks named by the
//! `KLP_PRE_PATCH_CALLBACK` family of include/linux/livepatch_helpers.h, and
//! is an atomic-replace patch unless built with `--no-replace`
//! (`-DKLP_NO_REPLACE`).
//!
//! The diff format itself is read line by line (it is not C); the C of each
//! file's hunks is put back at its line numbers in the new file and parsed
//! with tree-sitter, so a changed line is attributed to the function
//! definition around it (or, when the hunk starts inside a function, to the
//! function named in the hunk header, parsed as a C declaration).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::cfront::{function_name, At, Index, Unit};
use crate::eval::{Ctx, Eff, Walker};
use crate::module::{FuncImport, ObjImport, PatchImport, CALLBACKS};
use crate::{ImportError, Loc, Notes, Options};

struct Hunk {
    new_start: usize,
    /// New-side lines: (text, changed, line in the patch file).
    lines: Vec<(String, bool, usize)>,
    /// Lines removed before each new-side line index (deletions count as
    /// changes of the function around them).
    removed_before: BTreeSet<usize>,
    header_context: String,
    header_line: usize,
}

struct FileDiff {
    path: String,
    hunks: Vec<Hunk>,
}

fn err(file: &str, line: usize, message: impl Into<String>) -> ImportError {
    ImportError {
        loc: Loc {
            file: file.to_string(),
            line,
            col: 1,
        },
        message: message.into(),
    }
}

fn parse_diff(display: &str, text: &str) -> Result<Vec<FileDiff>, ImportError> {
    let mut files: Vec<FileDiff> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if let Some(rest) = l.strip_prefix("+++ ") {
            let path = rest.split('\t').next().unwrap_or("").trim();
            let path = path.strip_prefix("b/").unwrap_or(path).to_string();
            files.push(FileDiff {
                path,
                hunks: vec![],
            });
            i += 1;
            continue;
        }
        if let Some(rest) = l.strip_prefix("@@ ") {
            let Some(file) = files.last_mut() else {
                return Err(err(display, i + 1, "hunk before any `+++ file` header"));
            };
            let (ranges, context) = match rest.split_once(" @@") {
                Some(x) => x,
                None => return Err(err(display, i + 1, "malformed hunk header (no closing @@)")),
            };
            let mut new_start = None;
            let (mut old_len, mut new_len) = (1usize, 1usize);
            for r in ranges.split_whitespace() {
                let (sign, body) = r.split_at(1);
                let mut it = body.splitn(2, ',');
                let start: usize = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| err(display, i + 1, format!("malformed hunk range `{r}`")))?;
                let len: usize = it.next().map(|s| s.parse().unwrap_or(1)).unwrap_or(1);
                if sign == "+" {
                    new_start = Some(start);
                    new_len = len;
                } else {
                    old_len = len;
                }
            }
            let new_start =
                new_start.ok_or_else(|| err(display, i + 1, "hunk header without a +range"))?;
            let mut hunk = Hunk {
                new_start,
                lines: vec![],
                removed_before: BTreeSet::new(),
                header_context: context.trim().to_string(),
                header_line: i + 1,
            };
            let (mut seen_old, mut seen_new) = (0, 0);
            i += 1;
            while i < lines.len() && (seen_old < old_len || seen_new < new_len) {
                let l = lines[i];
                match l.chars().next() {
                    Some('+') => {
                        hunk.lines.push((l[1..].to_string(), true, i + 1));
                        seen_new += 1;
                    }
                    Some('-') => {
                        hunk.removed_before.insert(hunk.lines.len());
                        seen_old += 1;
                    }
                    Some(' ') | None => {
                        hunk.lines
                            .push((l.get(1..).unwrap_or("").to_string(), false, i + 1));
                        seen_old += 1;
                        seen_new += 1;
                    }
                    Some('\\') => {}
                    _ => break,
                }
                i += 1;
            }
            file.hunks.push(hunk);
            continue;
        }
        i += 1;
    }
    if files.iter().all(|f| f.hunks.is_empty()) {
        return Err(err(
            display,
            1,
            "not a unified diff with hunks (expected `+++ b/path` and `@@ -a,b +c,d @@`)",
        ));
    }
    Ok(files)
}

/// The new-side text of a file's hunks at their own line numbers.
fn synthetic_unit(display: &str, f: &FileDiff) -> Result<(Unit, Vec<(usize, bool)>), ImportError> {
    let mut rows: Vec<String> = Vec::new();
    let mut map: Vec<usize> = Vec::new();
    // Per row: changed?
    let mut changed: Vec<(usize, bool)> = Vec::new();
    for h in &f.hunks {
        let base = h.new_start.saturating_sub(1);
        // Lines the patch does not show: blank, and a lone `;` just before
        // the hunk so that the parser cannot join a function header at the
        // end of one hunk with a body at the start of the next.
        while rows.len() < base {
            rows.push(if rows.len() + 1 == base {
                ";".into()
            } else {
                String::new()
            });
            map.push(h.header_line);
        }
        for (k, (text, ch, pline)) in h.lines.iter().enumerate() {
            let row = rows.len();
            rows.push(text.clone());
            map.push(*pline);
            changed.push((row, *ch || h.removed_before.contains(&k)));
        }
        if h.removed_before.contains(&h.lines.len()) {
            if let Some(last) = changed.last_mut() {
                last.1 = true;
            }
        }
    }
    let mut u = Unit::from_text(
        PathBuf::from(&f.path),
        display.to_string(),
        rows.join("\n") + "\n",
    )?;
    u.line_map = map;
    Ok((u, changed))
}

/// The function around `row` in the synthetic unit, if its definition is
/// in the hunk.
fn function_at<'a>(root: At<'a>, row: usize) -> Option<(String, At<'a>)> {
    for n in root.named() {
        let (s, e) = (n.node.start_position().row, n.node.end_position().row);
        if row < s || row > e {
            continue;
        }
        if n.kind() == "function_definition" {
            return function_name(n).map(|name| (name, n));
        }
        if matches!(
            n.kind(),
            "ERROR" | "preproc_if" | "preproc_ifdef" | "preproc_else"
        ) {
            if let Some(x) = function_at(n, row) {
                return Some(x);
            }
        }
    }
    None
}

/// The function a hunk header names (`@@ ... @@ static int foo(void)`).
fn header_function(context: &str) -> Option<String> {
    if context.is_empty() {
        return None;
    }
    let u = Unit::from_text(PathBuf::new(), String::new(), format!("{context};\n")).ok()?;
    fn find(n: At) -> Option<String> {
        if n.kind() == "function_declarator" {
            return n
                .field("declarator")
                .and_then(crate::cfront::declarator_name);
        }
        n.named().into_iter().find_map(find)
    }
    find(At {
        unit: &u,
        node: u.tree.root_node(),
    })
}

pub fn import_diff(
    path: &Path,
    display: &str,
    opts: &Options,
    config: &HashMap<String, String>,
    notes: &mut Notes,
) -> Result<PatchImport, ImportError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(display, 1, format!("cannot read as text: {e}")))?;
    let files = parse_diff(display, &text)?;
    let c_files: Vec<&FileDiff> = files
        .iter()
        .filter(|f| f.path.ends_with(".c") || f.path.ends_with(".h"))
        .collect();
    if c_files.is_empty() {
        return Err(err(
            display,
            1,
            "the patch changes no .c or .h file: klp-build has nothing to build",
        ));
    }
    let stem = crate::module_name_of(path);
    let module = format!("livepatch_{stem}");
    let mut units = Vec::new();
    let mut changed_rows = Vec::new();
    for f in &c_files {
        let (u, ch) = synthetic_unit(display, f)?;
        units.push(u);
        changed_rows.push(ch);
    }
    let mut shadows = BTreeMap::new();
    let mut funcs_out: Vec<FuncImport> = Vec::new();
    let mut callbacks: [Option<Eff>; 4] = Default::default();
    let mut no_replace = opts.no_replace;
    for (ui, u) in units.iter().enumerate() {
        let one = std::slice::from_ref(u);
        let ix = Index::build(one, config, module.clone(), notes);
        if ix.defines.contains_key("KLP_NO_REPLACE") && !config.contains_key("KLP_NO_REPLACE") {
            no_replace = true;
        }
        let root = At {
            unit: u,
            node: u.tree.root_node(),
        };
        let f = c_files[ui];
        let mut names: Vec<(String, Option<At>)> = Vec::new();
        let mut row_hunk = Vec::new();
        for h in &f.hunks {
            for _ in &h.lines {
                row_hunk.push(h);
            }
        }
        for (k, (row, ch)) in changed_rows[ui].iter().enumerate() {
            if !*ch {
                continue;
            }
            let found = function_at(root, *row);
            let (name, def) = match found {
                Some((n, d)) => (n, Some(d)),
                None => {
                    // A change outside any function in the hunk: the header's
                    // function when the hunk starts inside it; else a change
                    // at file scope (a #define, a KLP_* macro), no function.
                    let h = row_hunk[k];
                    let first_def = function_at(root, h.new_start.saturating_sub(1));
                    if first_def.is_some() {
                        continue;
                    }
                    let line_text = u.text.lines().nth(*row).unwrap_or("").trim();
                    if line_text.is_empty()
                        || line_text.starts_with('#')
                        || line_text.starts_with("KLP_")
                        || line_text.starts_with("//")
                        || line_text.starts_with("/*")
                        || line_text.starts_with('*')
                    {
                        continue;
                    }
                    match header_function(&h.header_context) {
                        Some(n) => (n, None),
                        None => continue,
                    }
                }
            };
            if !names.iter().any(|(n, _)| *n == name) {
                names.push((name, def));
            }
        }
        // Callbacks registered by the KLP_*_CALLBACK macros.
        let mut cb_names = BTreeSet::new();
        for c in &ix.calls {
            let kind = match c.name.as_str() {
                "KLP_PRE_PATCH_CALLBACK" => 0,
                "KLP_POST_PATCH_CALLBACK" => 1,
                "KLP_PRE_UNPATCH_CALLBACK" => 2,
                "KLP_POST_UNPATCH_CALLBACK" => 3,
                _ => continue,
            };
            let Some(arg) = c.args.first() else {
                return Err(c.at.loc().pipe(|loc| ImportError {
                    loc,
                    message: format!("{}() without a function", c.name),
                }));
            };
            let fname = arg.text().to_string();
            let body = ix.funcs.get(&fname).copied().ok_or_else(|| ImportError {
                loc: arg.loc(),
                message: format!(
                    "unresolved callback: {}({fname}) but the patch does not define `{fname}`",
                    c.name
                ),
            })?;
            if callbacks[kind].is_some() {
                return Err(ImportError {
                    loc: c.at.loc(),
                    message: format!(
                        "a second {} callback: klp-build registers one per object",
                        CALLBACKS[kind]
                    ),
                });
            }
            let ctx = [
                Ctx::PrePatch,
                Ctx::PostPatch,
                Ctx::PreUnpatch,
                Ctx::PostUnpatch,
            ][kind];
            callbacks[kind] = Some(
                Walker::new(&ix, notes, ctx, BTreeSet::new(), &mut shadows).function(&fname, body),
            );
            cb_names.insert(fname);
        }
        for (name, def) in names {
            if cb_names.contains(&name) {
                continue;
            }
            let code = match def {
                Some(d) => {
                    if d.node.has_error() {
                        notes.note(
                            d.loc(),
                            format!("`{name}` is only partly in the hunks; its effects are those of the lines shown"),
                        );
                    }
                    Walker::new(&ix, notes, Ctx::Code, BTreeSet::new(), &mut shadows)
                        .function(&name, d)
                }
                None => {
                    notes.note(
                        Loc {
                            file: display.to_string(),
                            line: f.hunks.first().map(|h| h.header_line).unwrap_or(1),
                            col: 1,
                        },
                        format!("`{name}` changes in a hunk that does not show its definition; its patched code is imported without effects"),
                    );
                    Eff::default()
                }
            };
            funcs_out.push(FuncImport {
                old_name: name.clone(),
                new_func: name,
                code,
            });
        }
        notes.note(
            Loc {
                file: display.to_string(),
                line: f.hunks.first().map(|h| h.header_line).unwrap_or(1),
                col: 1,
            },
            format!(
                "{}: klp-build finds the object (vmlinux or a module) from the build; the importer takes vmlinux",
                f.path
            ),
        );
    }
    if funcs_out.is_empty() && callbacks.iter().all(Option::is_none) {
        return Err(err(
            display,
            1,
            "the patch changes no function and registers no callback: klp-build would build an empty livepatch",
        ));
    }
    Ok(PatchImport {
        module,
        replace: !no_replace,
        objects: vec![ObjImport {
            name: None,
            funcs: funcs_out,
            callbacks,
        }],
        states: vec![],
        exit: None,
        pre_patch_ret: None,
        params: vec![],
        shadows,
        loc: Loc::file(display),
    })
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}
