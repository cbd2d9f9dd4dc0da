//! The C front end: tree-sitter parse trees of a livepatch module (and the
//! local files it `#include`s), the file's own `#define` constants and
//! conditional compilation, and the top-level items the importer needs.
//!
//! No regular expressions: every construct is found through the tree-sitter
//! C grammar. Macros are resolved by a small preprocessor of our own:
//! object-like `#define`s are kept as text and re-parsed as C expressions
//! when a constant or string is evaluated; `#if`/`#ifdef`/`#elif`/`#else`
//! choose the active branch from the file's defines and the configuration's
//! (`-D`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use tree_sitter::{Node, Parser, Tree};

use crate::{ImportError, Loc, Notes};

/// One parsed file.
pub struct Unit {
    pub path: PathBuf,
    /// The name used in messages (the path as given).
    pub display: String,
    pub text: String,
    pub tree: Tree,
    /// For a synthetic unit (a klp-build patch's hunks): the line in the
    /// displayed file of each row; empty means row + 1.
    pub line_map: Vec<usize>,
}

pub fn parser() -> Parser {
    let mut p = Parser::new();
    p.set_language(&tree_sitter_c::LANGUAGE.into())
        .expect("the tree-sitter C grammar matches the tree-sitter library");
    p
}

impl Unit {
    pub fn parse(path: &Path, display: String) -> Result<Unit, ImportError> {
        let bytes = std::fs::read(path).map_err(|e| ImportError {
            loc: Loc::file(&display),
            message: format!("cannot read: {e}"),
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
            ImportError {
                loc: Loc {
                    file: display.clone(),
                    line,
                    col: 1,
                },
                message: "not C source: the file is not UTF-8 text".into(),
            }
        })?;
        Unit::from_text(path.to_path_buf(), display, text)
    }

    pub fn from_text(path: PathBuf, display: String, text: String) -> Result<Unit, ImportError> {
        let text = blank_attributes(&text);
        let tree = parser().parse(&text, None).ok_or_else(|| ImportError {
            loc: Loc::file(&display),
            message: "the C parser gave up on this file".into(),
        })?;
        Ok(Unit {
            path,
            display,
            text,
            tree,
            line_map: Vec::new(),
        })
    }

    pub fn text_of(&self, n: Node) -> &str {
        n.utf8_text(self.text.as_bytes()).unwrap_or("")
    }

    pub fn loc(&self, n: Node) -> Loc {
        let p = n.start_position();
        Loc {
            file: self.display.clone(),
            line: self.line_map.get(p.row).copied().unwrap_or(p.row + 1),
            col: p.column + 1,
        }
    }

    /// The first syntax error (an ERROR or MISSING node), if any.
    pub fn first_error(&self) -> Option<Node<'_>> {
        fn find(n: Node) -> Option<Node> {
            if n.is_error() || n.is_missing() {
                return Some(n);
            }
            if !n.has_error() {
                return None;
            }
            let mut c = n.walk();
            let kids: Vec<Node> = n.children(&mut c).collect();
            kids.into_iter().find_map(find)
        }
        find(self.tree.root_node())
    }
}

/// A node together with the unit it belongs to.
#[derive(Clone, Copy)]
pub struct At<'a> {
    pub unit: &'a Unit,
    pub node: Node<'a>,
}

impl<'a> At<'a> {
    pub fn text(&self) -> &'a str {
        self.unit.text_of(self.node)
    }
    pub fn loc(&self) -> Loc {
        self.unit.loc(self.node)
    }
    pub fn kind(&self) -> &'static str {
        self.node.kind()
    }
    pub fn field(&self, name: &str) -> Option<At<'a>> {
        self.node.child_by_field_name(name).map(|node| At {
            unit: self.unit,
            node,
        })
    }
    /// Named children (no punctuation, no comments).
    pub fn named(&self) -> Vec<At<'a>> {
        let mut c = self.node.walk();
        let kids: Vec<Node<'a>> = self.node.named_children(&mut c).collect();
        kids.into_iter()
            .filter(|n| n.kind() != "comment")
            .map(|node| At {
                unit: self.unit,
                node,
            })
            .collect()
    }
    pub fn with(&self, node: Node<'a>) -> At<'a> {
        At {
            unit: self.unit,
            node,
        }
    }
}

/// A top-level macro call such as `module_init(fn);`.
#[derive(Clone)]
pub struct TopCall<'a> {
    pub name: String,
    pub args: Vec<At<'a>>,
    pub at: At<'a>,
}

/// A file-scope variable or struct initialiser.
#[derive(Clone)]
pub struct Decl<'a> {
    pub name: String,
    /// `struct X` type name, when the type is a struct.
    pub struct_name: Option<String>,
    pub value: Option<At<'a>>,
    pub at: At<'a>,
}

/// What the preprocessed files define at file scope.
pub struct Index<'a> {
    /// Object-like macros: name -> (replacement text, where).
    pub defines: HashMap<String, String>,
    pub funcs: BTreeMap<String, At<'a>>,
    pub decls: Vec<Decl<'a>>,
    pub calls: Vec<TopCall<'a>>,
    /// `#include <...>` names seen.
    pub system_includes: Vec<String>,
    pub module_name: String,
    /// Units, main file first.
    pub units: &'a [Unit],
}

/// Loads `main` and, recursively, the files it includes with `#include "..."`
/// that exist next to it.
pub fn load_units(path: &Path, display: &str) -> Result<Vec<Unit>, ImportError> {
    let mut units = vec![Unit::parse(path, display.to_string())?];
    let mut i = 0;
    while i < units.len() && units.len() < 32 {
        let mut incs = Vec::new();
        collect_local_includes(&units[i], units[i].tree.root_node(), &mut incs);
        let dir = units[i]
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let ddir = Path::new(&units[i].display)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for inc in incs {
            let p = dir.join(&inc);
            if p.is_file() && !units.iter().any(|u| u.path == p) {
                let d = ddir.join(&inc).display().to_string();
                units.push(Unit::parse(&p, d)?);
            }
        }
        i += 1;
    }
    Ok(units)
}

fn collect_local_includes(u: &Unit, n: Node, out: &mut Vec<String>) {
    if n.kind() == "preproc_include" {
        if let Some(p) = n.child_by_field_name("path") {
            if p.kind() == "string_literal" {
                out.push(string_content(u, p));
            }
        }
        return;
    }
    let mut c = n.walk();
    let kids: Vec<Node> = n.children(&mut c).collect();
    for k in kids {
        collect_local_includes(u, k, out);
    }
}

/// Kernel attribute macros that expand to compiler attributes (or nothing)
/// and that the C grammar cannot place: the preprocessor step blanks them
/// (same length, so every line and column stays where it was).
const ATTRIBUTE_MACROS: &[&str] = &[
    "__init",
    "__exit",
    "__kprobes",
    "__used",
    "__maybe_unused",
    "__always_unused",
    "__always_inline",
    "noinline",
    "notrace",
    "asmlinkage",
    "__cold",
    "__noreturn",
    "__weak",
    "__ro_after_init",
    "__read_mostly",
    "__initdata",
    "__exitdata",
    "__visible",
    "__nocfi",
    "__noclone",
    "__latent_entropy",
    "__must_check",
];

/// Blanks [`ATTRIBUTE_MACROS`] where they appear as whole identifiers in
/// code (not in comments, strings or character literals).
fn blank_attributes(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut inserts: Vec<usize> = Vec::new();
    let mut i = 0;
    let is_id = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            c if is_id(c) => {
                let s = i;
                while i < b.len() && is_id(b[i]) {
                    i += 1;
                }
                let word = &text[s..i];
                if (s == 0 || !is_id(b[s - 1])) && ATTRIBUTE_MACROS.contains(&word) {
                    for x in &mut out[s..i] {
                        *x = b' ';
                    }
                }
                // `module_init(f)` expands to declarations that end with
                // their own `;`, so sources may omit it: add it after the
                // `)` (nothing but white space follows on that line).
                if matches!(word, "module_init" | "module_exit" | "late_initcall") {
                    let mut j = i;
                    let mut depth = 0usize;
                    while j < b.len() {
                        match b[j] {
                            b'(' => depth += 1,
                            b')' => {
                                depth = depth.saturating_sub(1);
                                if depth == 0 {
                                    break;
                                }
                            }
                            b'\n' if depth == 0 => break,
                            _ => {}
                        }
                        j += 1;
                    }
                    if j < b.len() && b[j] == b')' {
                        let next = b[j + 1..].iter().find(|c| !c.is_ascii_whitespace());
                        if next != Some(&b';') {
                            inserts.push(j + 1);
                        }
                    }
                }
            }
            _ => i += 1,
        }
    }
    for at in inserts.into_iter().rev() {
        out.insert(at, b';');
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// The text between the quotes of a string literal (escapes kept as written,
/// except `\n` which is dropped: log lines end with it).
pub fn string_content(u: &Unit, n: Node) -> String {
    let mut s = String::new();
    let mut c = n.walk();
    for k in n.children(&mut c) {
        match k.kind() {
            "string_content" => s.push_str(u.text_of(k)),
            "escape_sequence" => {
                let t = u.text_of(k);
                if t != "\\n" {
                    s.push_str(t);
                }
            }
            _ => {}
        }
    }
    s
}

/// The configuration of conditional compilation: x86_64 with syscall
/// wrappers, as the kernel builds modules (`MODULE` defined).
pub fn default_config() -> HashMap<String, String> {
    let mut m = HashMap::new();
    for d in [
        "MODULE",
        "__KERNEL__",
        "__x86_64__",
        "CONFIG_X86_64",
        "CONFIG_X86",
        "CONFIG_64BIT",
        "CONFIG_LIVEPATCH",
        "CONFIG_ARCH_HAS_SYSCALL_WRAPPER",
        "CONFIG_MODULES",
    ] {
        m.insert(d.to_string(), "1".to_string());
    }
    m
}

impl<'a> Index<'a> {
    pub fn build(
        units: &'a [Unit],
        config: &HashMap<String, String>,
        module_name: String,
        notes: &mut Notes,
    ) -> Index<'a> {
        let mut ix = Index {
            defines: config.clone(),
            funcs: BTreeMap::new(),
            decls: Vec::new(),
            calls: Vec::new(),
            system_includes: Vec::new(),
            module_name,
            units,
        };
        let root = At {
            unit: &units[0],
            node: units[0].tree.root_node(),
        };
        let mut depth = 0;
        ix.items(root, notes, &mut depth);
        ix
    }

    fn items(&mut self, parent: At<'a>, notes: &mut Notes, depth: &mut usize) {
        for it in parent.named() {
            self.item(it, notes, depth);
        }
    }

    fn item(&mut self, it: At<'a>, notes: &mut Notes, depth: &mut usize) {
        match it.kind() {
            "preproc_def" => {
                if let Some(name) = it.field("name") {
                    let value = it
                        .field("value")
                        .map(|v| v.text().replace("\\\n", " ").trim().to_string())
                        .unwrap_or_default();
                    self.defines.insert(name.text().to_string(), value);
                }
            }
            "preproc_function_def" => {}
            "preproc_call" => {
                let directive = it.field("directive").map(|d| d.text()).unwrap_or("");
                if directive == "#undef" {
                    if let Some(arg) = it.field("argument") {
                        self.defines.remove(arg.text().trim());
                    }
                }
            }
            "preproc_if" | "preproc_ifdef" | "preproc_elif" | "preproc_elifdef" => {
                let active = self.condition(it, notes);
                if active {
                    for k in it.named() {
                        if Some(k.node) == it.field("condition").map(|c| c.node)
                            || Some(k.node) == it.field("name").map(|c| c.node)
                            || Some(k.node) == it.field("alternative").map(|c| c.node)
                        {
                            continue;
                        }
                        self.item(k, notes, depth);
                    }
                } else if let Some(alt) = it.field("alternative") {
                    self.item(alt, notes, depth);
                }
            }
            "preproc_else" => self.items(it, notes, depth),
            "preproc_include" => {
                if let Some(p) = it.field("path") {
                    if p.kind() == "system_lib_string" {
                        self.system_includes
                            .push(p.text().trim_matches(['<', '>']).to_string());
                    } else if p.kind() == "string_literal" {
                        let inc = string_content(it.unit, p.node);
                        let dir = it.unit.path.parent().map(Path::to_path_buf);
                        let target = dir.map(|d| d.join(&inc));
                        let units = self.units;
                        match units.iter().find(|u| Some(&u.path) == target.as_ref()) {
                            Some(u) if *depth < 8 => {
                                *depth += 1;
                                let root = At {
                                    unit: u,
                                    node: u.tree.root_node(),
                                };
                                self.items(root, notes, depth);
                                *depth -= 1;
                            }
                            _ => notes.note(
                                it.loc(),
                                format!("#include \"{inc}\" not found next to the file; its definitions are not imported"),
                            ),
                        }
                    }
                }
            }
            "function_definition" => {
                if let Some(name) = function_name(it) {
                    self.funcs.insert(name, it);
                }
            }
            "declaration" => self.declaration(it),
            "expression_statement" => {
                if let Some(call) = it.named().into_iter().next() {
                    if call.kind() == "call_expression" {
                        self.top_call(call);
                    }
                }
            }
            "ERROR" => self.items(it, notes, depth),
            _ => {}
        }
    }

    fn top_call(&mut self, call: At<'a>) {
        let name = call.field("function").map(|f| f.text().to_string());
        if let (Some(name), Some(args)) = (name, call.field("arguments")) {
            self.calls.push(TopCall {
                name,
                args: args.named(),
                at: call,
            });
        }
    }

    fn declaration(&mut self, it: At<'a>) {
        let struct_name = it.field("type").and_then(|t| {
            (t.kind() == "struct_specifier")
                .then(|| t.field("name").map(|n| n.text().to_string()))
                .flatten()
        });
        let mut c = it.node.walk();
        let decls: Vec<Node<'a>> = it
            .node
            .children_by_field_name("declarator", &mut c)
            .collect();
        for d in decls {
            let d = it.with(d);
            let (declarator, value) = if d.kind() == "init_declarator" {
                (d.field("declarator"), d.field("value"))
            } else {
                (Some(d), None)
            };
            let Some(declarator) = declarator else {
                continue;
            };
            if declarator.kind() == "function_declarator" {
                continue;
            }
            if let Some(name) = declarator_name(declarator) {
                // `struct klp_patch *p` is a pointer, not a struct.
                let is_pointer = declarator.kind() == "pointer_declarator";
                self.decls.push(Decl {
                    name,
                    struct_name: if is_pointer {
                        None
                    } else {
                        struct_name.clone()
                    },
                    value,
                    at: d,
                });
            }
        }
    }

    /// Whether an `#if`/`#ifdef`/`#elif` branch is active.
    fn condition(&self, it: At<'a>, notes: &mut Notes) -> bool {
        match it.kind() {
            "preproc_ifdef" | "preproc_elifdef" => {
                let name = it.field("name").map(|n| n.text()).unwrap_or("");
                let neg = it
                    .node
                    .child(0)
                    .map(|k| {
                        it.unit.text_of(k).contains("ifndef")
                            || it.unit.text_of(k).contains("elifndef")
                    })
                    .unwrap_or(false);
                self.defines.contains_key(name) != neg
            }
            _ => match it.field("condition") {
                Some(c) => match self.pp_eval(c) {
                    Some(v) => v != 0,
                    None => {
                        notes.note(
                            c.loc(),
                            format!("cannot evaluate `#if {}`; taking it as false", c.text()),
                        );
                        false
                    }
                },
                None => false,
            },
        }
    }

    /// Evaluates a preprocessor condition.
    fn pp_eval(&self, n: At<'a>) -> Option<i64> {
        match n.kind() {
            "preproc_defined" => {
                let name = n.named().into_iter().next()?.text().to_string();
                Some(self.defines.contains_key(&name) as i64)
            }
            "identifier" => Some(
                self.defines
                    .get(n.text())
                    .and_then(|v| self.const_text(v, 0))
                    .unwrap_or(0),
            ),
            "number_literal" => parse_number(n.text()),
            "parenthesized_expression" => self.pp_eval(n.named().into_iter().next()?),
            "unary_expression" => {
                let v = self.pp_eval(n.field("argument")?)?;
                match n.field("operator")?.text() {
                    "!" => Some((v == 0) as i64),
                    "-" => Some(-v),
                    "~" => Some(!v),
                    _ => Some(v),
                }
            }
            "binary_expression" => {
                let op = n.field("operator")?.text();
                let l = self.pp_eval(n.field("left")?)?;
                if op == "&&" && l == 0 {
                    return Some(0);
                }
                if op == "||" && l != 0 {
                    return Some(1);
                }
                let r = self.pp_eval(n.field("right")?)?;
                binop(op, l, r)
            }
            "call_expression" => {
                // IS_ENABLED(CONFIG_X) and defined(X) written as a call.
                let f = n.field("function")?.text();
                let arg = n.field("arguments")?.named().into_iter().next()?;
                match f {
                    "IS_ENABLED" | "IS_BUILTIN" | "defined" => {
                        Some(self.defines.contains_key(arg.text()) as i64)
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Evaluates an integer constant expression (macros expanded).
    pub fn const_eval(&self, n: At<'a>) -> Option<i64> {
        self.const_eval_depth(n, 0)
    }

    fn const_eval_depth(&self, n: At<'a>, depth: usize) -> Option<i64> {
        if depth > 16 {
            return None;
        }
        match n.kind() {
            "number_literal" => parse_number(n.text()),
            "char_literal" => n.text().chars().nth(1).map(|c| c as i64),
            "true" => Some(1),
            "false" => Some(0),
            "null" => Some(0),
            "identifier" => {
                let v = self.defines.get(n.text())?;
                self.const_text(v, depth + 1)
            }
            "parenthesized_expression" => {
                self.const_eval_depth(n.named().into_iter().next()?, depth + 1)
            }
            "cast_expression" => self.const_eval_depth(n.field("value")?, depth + 1),
            "unary_expression" => {
                let v = self.const_eval_depth(n.field("argument")?, depth + 1)?;
                match n.field("operator")?.text() {
                    "!" => Some((v == 0) as i64),
                    "-" => Some(-v),
                    "~" => Some(!v),
                    _ => Some(v),
                }
            }
            "binary_expression" => {
                let op = n.field("operator")?.text();
                let l = self.const_eval_depth(n.field("left")?, depth + 1)?;
                let r = self.const_eval_depth(n.field("right")?, depth + 1)?;
                binop(op, l, r)
            }
            "conditional_expression" => {
                let c = self.const_eval_depth(n.field("condition")?, depth + 1)?;
                if c != 0 {
                    self.const_eval_depth(n.field("consequence")?, depth + 1)
                } else {
                    self.const_eval_depth(n.field("alternative")?, depth + 1)
                }
            }
            _ => None,
        }
    }

    /// Evaluates the replacement text of a macro as a constant expression
    /// (parsed with the C grammar as the initialiser of a variable).
    fn const_text(&self, text: &str, depth: usize) -> Option<i64> {
        if text.is_empty() {
            return None;
        }
        let unit = expr_unit(text)?;
        let e = expr_of(&unit)?;
        self.const_eval_depth(
            At {
                unit: &unit,
                node: e,
            },
            depth,
        )
    }

    /// The expansion text of an identifier (for `__stringify`).
    fn expand_ident(&self, name: &str, depth: usize) -> String {
        match self.defines.get(name) {
            Some(v) if depth < 16 => {
                let v = v.trim();
                if !v.is_empty()
                    && v.chars().all(|c| c.is_alphanumeric() || c == '_')
                    && self.defines.contains_key(v)
                    && v != name
                {
                    return self.expand_ident(v, depth + 1);
                }
                v.to_string()
            }
            _ => name.to_string(),
        }
    }

    /// Evaluates a string expression: literals, concatenation, `__stringify`,
    /// macros that expand to strings, `KBUILD_MODNAME`.
    pub fn string_eval(&self, n: At<'a>) -> Option<String> {
        self.string_eval_depth(n, 0)
    }

    fn string_eval_depth(&self, n: At<'a>, depth: usize) -> Option<String> {
        if depth > 16 {
            return None;
        }
        match n.kind() {
            "string_literal" => Some(string_content(n.unit, n.node)),
            "concatenated_string" | "ERROR" => {
                let mut s = String::new();
                for k in n.named() {
                    s.push_str(&self.string_eval_depth(k, depth + 1)?);
                }
                Some(s)
            }
            "identifier" => {
                let name = n.text();
                if name == "KBUILD_MODNAME" || name == "__KBUILD_MODNAME" {
                    return Some(self.module_name.clone());
                }
                let v = self.defines.get(name)?;
                let unit = expr_unit(v)?;
                let e = expr_of(&unit)?;
                self.string_eval_depth(
                    At {
                        unit: &unit,
                        node: e,
                    },
                    depth + 1,
                )
            }
            "call_expression" => {
                let f = n.field("function")?.text();
                if f == "__stringify" || f == "stringify" {
                    let args = n.field("arguments")?;
                    let arg = args.named().into_iter().next();
                    return Some(match arg {
                        Some(a) if a.kind() == "identifier" => self.expand_ident(a.text(), 0),
                        Some(a) => a.text().to_string(),
                        None => String::new(),
                    });
                }
                None
            }
            "parenthesized_expression" => {
                self.string_eval_depth(n.named().into_iter().next()?, depth + 1)
            }
            _ => None,
        }
    }

    /// An initialiser written as an object-like macro (`.callbacks =
    /// CALLBACKS` with `#define CALLBACKS { .pre_patch = f, ... }`), parsed
    /// from the macro's text. The parsed text lives as long as the import.
    pub fn macro_initializer(&self, name: &str) -> Option<At<'a>> {
        let text = self.defines.get(name)?;
        let src = format!("struct __klp_macro __klp_v = {text};\n");
        let unit: &'a Unit = Box::leak(Box::new(
            Unit::from_text(PathBuf::new(), format!("<macro {name}>"), src).ok()?,
        ));
        let e = expr_of(unit)?;
        (e.kind() == "initializer_list").then_some(At { unit, node: e })
    }

    pub fn decl(&self, name: &str, struct_name: &str) -> Option<&Decl<'a>> {
        // The definition (with an initialiser) wins over a forward declaration.
        self.decls
            .iter()
            .filter(|d| d.name == name && d.struct_name.as_deref() == Some(struct_name))
            .max_by_key(|d| d.value.is_some())
    }

    pub fn is_file_var(&self, name: &str) -> bool {
        self.decls.iter().any(|d| d.name == name)
    }

    pub fn module_params(&self) -> Vec<(String, At<'a>)> {
        self.calls
            .iter()
            .filter(|c| {
                matches!(
                    c.name.as_str(),
                    "module_param" | "module_param_named" | "module_param_array"
                )
            })
            .filter_map(|c| c.args.first().map(|a| (a.text().to_string(), c.at)))
            .collect()
    }
}

fn binop(op: &str, l: i64, r: i64) -> Option<i64> {
    Some(match op {
        "+" => l.wrapping_add(r),
        "-" => l.wrapping_sub(r),
        "*" => l.wrapping_mul(r),
        "/" => l.checked_div(r)?,
        "%" => l.checked_rem(r)?,
        "<<" => l.checked_shl(r.try_into().ok()?)?,
        ">>" => l.checked_shr(r.try_into().ok()?)?,
        "&" => l & r,
        "|" => l | r,
        "^" => l ^ r,
        "&&" => (l != 0 && r != 0) as i64,
        "||" => (l != 0 || r != 0) as i64,
        "==" => (l == r) as i64,
        "!=" => (l != r) as i64,
        "<" => (l < r) as i64,
        "<=" => (l <= r) as i64,
        ">" => (l > r) as i64,
        ">=" => (l >= r) as i64,
        _ => return None,
    })
}

/// A C integer literal: decimal, hex, octal, binary, with U/L suffixes.
pub fn parse_number(t: &str) -> Option<i64> {
    let t = t.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

/// A one-declaration unit `long __klp_v = (TEXT);` to evaluate macro text.
fn expr_unit(text: &str) -> Option<Unit> {
    let src = format!("long __klp_v = {text};\n");
    Unit::from_text(PathBuf::new(), "<macro>".into(), src).ok()
}

fn expr_of(u: &Unit) -> Option<Node<'_>> {
    let root = u.tree.root_node();
    let decl = root.named_child(0)?;
    let init = decl.child_by_field_name("declarator")?;
    init.child_by_field_name("value")
}

/// The name a declarator declares (through pointers, arrays, parentheses).
pub fn declarator_name(d: At) -> Option<String> {
    match d.kind() {
        "identifier" | "field_identifier" => Some(d.text().to_string()),
        _ => d
            .field("declarator")
            .and_then(declarator_name)
            .or_else(|| d.named().into_iter().find_map(declarator_name)),
    }
}

/// The name of a function definition.
pub fn function_name(f: At) -> Option<String> {
    let mut d = f.field("declarator")?;
    loop {
        match d.kind() {
            "function_declarator" => return declarator_name(d.field("declarator")?),
            _ => d = d.field("declarator")?,
        }
    }
}

/// Parameter names of a function definition.
pub fn param_names(f: At) -> Vec<String> {
    let mut d = match f.field("declarator") {
        Some(d) => d,
        None => return vec![],
    };
    while d.kind() != "function_declarator" {
        match d.field("declarator") {
            Some(x) => d = x,
            None => return vec![],
        }
    }
    d.field("parameters")
        .map(|ps| {
            ps.named()
                .into_iter()
                .filter(|p| p.kind() == "parameter_declaration")
                .filter_map(|p| p.field("declarator").and_then(declarator_name))
                .collect()
        })
        .unwrap_or_default()
}
