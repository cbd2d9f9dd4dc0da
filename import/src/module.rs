//! A livepatch module source: its `struct klp_patch` and everything it
//! points to (klp_object, klp_func, klp_callbacks, klp_state arrays), the
//! new functions and callbacks walked for their effects, module_init's
//! `patch.replace = …` and module_exit. A C file with no livepatch in it
//! but a module_init is a target module.

use std::collections::{BTreeMap, BTreeSet};

use crate::cfront::{At, Index};
use crate::eval::{Ctx, Eff, ShadowSeen, Walker};
use crate::{ImportError, Loc, Notes};

pub struct FuncImport {
    pub old_name: String,
    pub new_func: String,
    pub code: Eff,
}

pub struct ObjImport {
    /// `None` is vmlinux.
    pub name: Option<String>,
    pub funcs: Vec<FuncImport>,
    /// pre_patch, post_patch, pre_unpatch, post_unpatch.
    pub callbacks: [Option<Eff>; 4],
}

pub struct PatchImport {
    pub module: String,
    pub replace: bool,
    pub objects: Vec<ObjImport>,
    pub states: Vec<(u64, u32)>,
    pub exit: Option<Eff>,
    /// Initial value of `pre_patch_ret` when the module has that parameter.
    pub pre_patch_ret: Option<i64>,
    pub params: Vec<String>,
    pub shadows: BTreeMap<i64, ShadowSeen>,
    pub loc: Loc,
}

pub struct TargetImport {
    pub module: String,
    pub logs: bool,
}

pub enum ModuleImport {
    Patch(Box<PatchImport>),
    Target(TargetImport),
}

pub const CALLBACKS: [&str; 4] = ["pre_patch", "post_patch", "pre_unpatch", "post_unpatch"];
const CTXS: [Ctx; 4] = [
    Ctx::PrePatch,
    Ctx::PostPatch,
    Ctx::PreUnpatch,
    Ctx::PostUnpatch,
];

fn err(loc: Loc, message: impl Into<String>) -> ImportError {
    ImportError {
        loc,
        message: message.into(),
    }
}

/// The entries of an array initialiser `{ {...}, {...}, { } }` up to the
/// empty terminator.
fn entries<'a>(list: At<'a>) -> Vec<At<'a>> {
    let mut out = Vec::new();
    for e in list.named() {
        if e.kind() != "initializer_list" {
            continue;
        }
        if e.named().is_empty() {
            break;
        }
        out.push(e);
    }
    out
}

/// `.field = value` pairs of a struct initialiser.
fn fields<'a>(list: At<'a>) -> Vec<(String, At<'a>, At<'a>)> {
    let mut out = Vec::new();
    for p in list.named() {
        if p.kind() != "initializer_pair" {
            continue;
        }
        let name = p
            .field("designator")
            .map(|d| d.text().trim_start_matches('.').trim().to_string())
            .unwrap_or_default();
        // A value tree-sitter could not parse whole (`__stringify(X) "s"`)
        // leaves an ERROR before the value: evaluate the pair's children
        // after the designator.
        if let Some(v) = p.field("value") {
            let kids = p.named();
            let val = if kids.len() > 2 {
                // ERROR + value: hand over the pair itself for strings.
                p
            } else {
                v
            };
            out.push((name, val, p));
        }
    }
    out
}

/// The string value of a field (`.old_name`, `.name`), whose value may be
/// spread over an ERROR node and a literal.
fn string_field(ix: &Index, v: At) -> Option<String> {
    if v.kind() == "initializer_pair" {
        let mut s = String::new();
        for k in v.named().into_iter().skip(1) {
            s.push_str(&ix.string_eval(k)?);
        }
        return Some(s);
    }
    ix.string_eval(v)
}

fn ident_of(v: At) -> Option<String> {
    match v.kind() {
        "identifier" => Some(v.text().to_string()),
        "pointer_expression" | "parenthesized_expression" | "cast_expression" => v
            .field("argument")
            .or_else(|| v.field("value"))
            .or_else(|| v.named().into_iter().last())
            .and_then(ident_of),
        _ => None,
    }
}

pub fn import_module(ix: &Index, notes: &mut Notes) -> Result<ModuleImport, ImportError> {
    let main = &ix.units[0];
    let patches: Vec<_> = ix
        .decls
        .iter()
        .filter(|d| d.struct_name.as_deref() == Some("klp_patch"))
        .collect();
    let livepatch_info = ix
        .calls
        .iter()
        .find(|c| c.name == "MODULE_INFO" && c.args.first().map(|a| a.text()) == Some("livepatch"));
    let enable_call = find_call(ix, "klp_enable_patch");
    let init = module_fn(ix, "module_init");
    let exit = module_fn(ix, "module_exit");
    if patches.is_empty() {
        if let Some(c) = livepatch_info {
            return Err(err(
                c.at.loc(),
                "MODULE_INFO(livepatch, \"Y\") but no `struct klp_patch` initialiser in the file: nothing to import",
            ));
        }
        if let Some(c) = enable_call {
            return Err(err(
                c.loc(),
                "klp_enable_patch is called but the file has no `struct klp_patch` initialiser",
            ));
        }
        if let Some((name, f)) = init {
            // A target module.
            // Test modules print `<mod>_init` with `pr_info("%s\n", __func__)`.
            let logs = ix.funcs.contains_key(&name) && prints_func_name(f);
            return Ok(ModuleImport::Target(TargetImport {
                module: ix.module_name.clone(),
                logs,
            }));
        }
        let loc = match main.first_error() {
            Some(e) => {
                return Err(err(
                    main.loc(e),
                    "not C source the importer understands (syntax error here) and no `struct klp_patch`",
                ))
            }
            None => Loc {
                file: main.display.clone(),
                line: 1,
                col: 1,
            },
        };
        return Err(err(
            loc,
            "no `struct klp_patch` initialiser (and no module_init): not a livepatch module",
        ));
    }
    // The patch passed to klp_enable_patch, else the one with an initialiser.
    let enabled_name = enable_call
        .and_then(|c| c.field("arguments"))
        .and_then(|a| a.named().into_iter().next())
        .and_then(ident_of);
    let patch = patches
        .iter()
        .filter(|d| d.value.is_some())
        .find(|d| Some(&d.name) == enabled_name.as_ref())
        .or_else(|| patches.iter().find(|d| d.value.is_some()))
        .copied()
        .ok_or_else(|| {
            err(
                patches[0].at.loc(),
                format!(
                    "`struct klp_patch {}` is declared but never initialised",
                    patches[0].name
                ),
            )
        })?;
    let value = patch.value.expect("filtered on value");
    let pf = fields(value);
    let params: Vec<String> = ix.module_params().into_iter().map(|(n, _)| n).collect();

    // klp_state array first: callbacks ask klp_get_state about it.
    let mut states = Vec::new();
    if let Some((_, v, _)) = pf.iter().find(|(n, _, _)| n == "states") {
        let name = ident_of(*v).ok_or_else(|| err(v.loc(), "`.states` is not an array name"))?;
        let decl = ix
            .decl(&name, "klp_state")
            .and_then(|d| d.value)
            .ok_or_else(|| {
                err(
                    v.loc(),
                    format!("`.states = {name}`: no `struct klp_state {name}[]` initialiser in the file"),
                )
            })?;
        for e in entries(decl) {
            let sf = fields(e);
            let id = sf
                .iter()
                .find(|(n, _, _)| n == "id")
                .and_then(|(_, v, _)| ix.const_eval(*v));
            let version = sf
                .iter()
                .find(|(n, _, _)| n == "version")
                .map(|(_, v, _)| ix.const_eval(*v));
            let id = id.ok_or_else(|| {
                err(
                    e.loc(),
                    "klp_state without a constant `.id` the importer can resolve",
                )
            })?;
            let version = match version {
                None => 0,
                Some(Some(v)) => v,
                Some(None) => {
                    return Err(err(
                        e.loc(),
                        "klp_state `.version` is not a constant the importer can resolve",
                    ))
                }
            };
            if id <= 0 || version < 0 {
                return Err(err(
                    e.loc(),
                    format!("klp_state id {id} version {version}: the id must be positive"),
                ));
            }
            states.push((id as u64, version as u32));
        }
    }
    let own: BTreeSet<u64> = states.iter().map(|(i, _)| *i).collect();
    let mut shadows = BTreeMap::new();

    // replace: the initialiser, then module_init's `patch.replace = X;`.
    let mut replace = false;
    if let Some((_, v, _)) = pf.iter().find(|(n, _, _)| n == "replace") {
        replace = bool_value(ix, *v, &params, notes)?;
    }
    if let Some((_, f)) = init {
        if let Some(v) = init_replace(f, &patch.name) {
            replace = bool_value(ix, v, &params, notes)?;
        }
    }

    let objs_v = pf
        .iter()
        .find(|(n, _, _)| n == "objs")
        .map(|(_, v, _)| *v)
        .ok_or_else(|| {
            err(
                value.loc(),
                format!("`struct klp_patch {}` has no `.objs`", patch.name),
            )
        })?;
    let objs_name =
        ident_of(objs_v).ok_or_else(|| err(objs_v.loc(), "`.objs` is not an array name"))?;
    let objs_decl = ix
        .decl(&objs_name, "klp_object")
        .and_then(|d| d.value)
        .ok_or_else(|| {
            err(
                objs_v.loc(),
                format!("`.objs = {objs_name}`: no `struct klp_object {objs_name}[]` initialiser in the file"),
            )
        })?;
    let mut objects = Vec::new();
    for o in entries(objs_decl) {
        let of = fields(o);
        let name = match of.iter().find(|(n, _, _)| n == "name") {
            None => None,
            Some((_, v, _)) if v.kind() == "null" => None,
            Some((_, v, _)) => Some(string_field(ix, *v).ok_or_else(|| {
                err(
                    v.loc(),
                    "klp_object `.name` is not a string the importer can resolve",
                )
            })?),
        };
        let mut funcs = Vec::new();
        if let Some((_, v, _)) = of.iter().find(|(n, _, _)| n == "funcs") {
            let fname =
                ident_of(*v).ok_or_else(|| err(v.loc(), "`.funcs` is not an array name"))?;
            let fdecl = ix.decl(&fname, "klp_func").and_then(|d| d.value).ok_or_else(|| {
                err(
                    v.loc(),
                    format!("`.funcs = {fname}`: no `struct klp_func {fname}[]` initialiser in the file"),
                )
            })?;
            for f in entries(fdecl) {
                let ff = fields(f);
                let old = ff
                    .iter()
                    .find(|(n, _, _)| n == "old_name")
                    .ok_or_else(|| err(f.loc(), "klp_func without `.old_name`"))?;
                let old_name = string_field(ix, old.1).ok_or_else(|| {
                    err(
                        old.2.loc(),
                        "klp_func `.old_name` is not a string the importer can resolve",
                    )
                })?;
                let newf = ff.iter().find(|(n, _, _)| n == "new_func").ok_or_else(|| {
                    err(
                        f.loc(),
                        format!("klp_func `{old_name}` without `.new_func`"),
                    )
                })?;
                let new_name = ident_of(newf.1)
                    .ok_or_else(|| err(newf.1.loc(), "`.new_func` is not a function name"))?;
                let body = *ix.funcs.get(&new_name).ok_or_else(|| {
                    err(
                        newf.1.loc(),
                        format!("new_func `{new_name}` of `{old_name}` is not defined in the file"),
                    )
                })?;
                if let Some((_, v, _)) = ff.iter().find(|(n, _, _)| n == "old_sympos") {
                    if ix.const_eval(*v).unwrap_or(0) > 1 {
                        notes.note(
                            v.loc(),
                            "old_sympos is not modelled (function names are unique in a scenario)",
                        );
                    }
                }
                let code = Walker::new(ix, notes, Ctx::Code, own.clone(), &mut shadows)
                    .function(&new_name, body);
                funcs.push(FuncImport {
                    old_name,
                    new_func: new_name,
                    code,
                });
            }
        }
        let mut callbacks: [Option<Eff>; 4] = Default::default();
        if let Some((_, v, _)) = of.iter().find(|(n, _, _)| n == "callbacks") {
            let v = match v.kind() {
                "identifier" => ix.macro_initializer(v.text()).ok_or_else(|| {
                    err(
                        v.loc(),
                        format!(
                            "`.callbacks = {}`: not a macro with a `{{ ... }}` initialiser",
                            v.text()
                        ),
                    )
                })?,
                _ => *v,
            };
            for (cname, cv, _) in fields(v) {
                let Some(i) = CALLBACKS.iter().position(|c| *c == cname) else {
                    continue;
                };
                if cv.kind() == "null" {
                    continue;
                }
                let fname = ident_of(cv).ok_or_else(|| {
                    err(
                        cv.loc(),
                        format!("callback `.{cname}` is not a function name"),
                    )
                })?;
                let body = *ix.funcs.get(&fname).ok_or_else(|| {
                    err(
                        cv.loc(),
                        format!(
                            "unresolved callback: `.{cname} = {fname}` but `{fname}` is not defined in the file"
                        ),
                    )
                })?;
                callbacks[i] = Some(
                    Walker::new(ix, notes, CTXS[i], own.clone(), &mut shadows)
                        .function(&fname, body),
                );
            }
        }
        objects.push(ObjImport {
            name,
            funcs,
            callbacks,
        });
    }
    if objects.is_empty() {
        return Err(err(
            objs_decl.loc(),
            format!("`{objs_name}` has no klp_object before its terminator (klp_enable_patch returns -EINVAL)"),
        ));
    }
    let exit_eff = match exit {
        Some((name, f)) => {
            let e = Walker::new(ix, notes, Ctx::Exit, own.clone(), &mut shadows).function(&name, f);
            Some(e)
        }
        None => None,
    };
    let pre_patch_ret = params.iter().any(|p| p == "pre_patch_ret").then(|| {
        ix.decls
            .iter()
            .find(|d| d.name == "pre_patch_ret")
            .and_then(|d| d.value)
            .and_then(|v| ix.const_eval(v))
            .unwrap_or(0)
    });
    Ok(ModuleImport::Patch(Box::new(PatchImport {
        module: ix.module_name.clone(),
        replace,
        objects,
        states,
        exit: exit_eff,
        pre_patch_ret,
        params,
        shadows,
        loc: patch.at.loc(),
    })))
}

fn bool_value(
    ix: &Index,
    v: At,
    params: &[String],
    notes: &mut Notes,
) -> Result<bool, ImportError> {
    if let Some(c) = ix.const_eval(v) {
        return Ok(c != 0);
    }
    if v.kind() == "identifier" && params.iter().any(|p| p == v.text()) {
        let init = ix
            .decls
            .iter()
            .find(|d| d.name == v.text())
            .and_then(|d| d.value)
            .and_then(|x| ix.const_eval(x))
            .unwrap_or(0);
        notes.note(
            v.loc(),
            format!(
                "klp_patch.replace comes from the module parameter `{}` (default {init}); the scenario uses the default (`klpcheck import --replace` forces replace)",
                v.text()
            ),
        );
        return Ok(init != 0);
    }
    Err(err(
        v.loc(),
        format!(
            "klp_patch.replace = `{}`: not a constant or module parameter the importer can resolve",
            v.text()
        ),
    ))
}

/// `module_init(f)` / `module_exit(f)`: the function's name and definition.
fn module_fn<'a>(ix: &Index<'a>, which: &str) -> Option<(String, At<'a>)> {
    let c = ix.calls.iter().rev().find(|c| c.name == which)?;
    let name = c.args.first()?.text().to_string();
    let f = ix.funcs.get(&name)?;
    Some((name, *f))
}

/// A call of `name` anywhere in the file's functions.
fn find_call<'a>(ix: &Index<'a>, name: &str) -> Option<At<'a>> {
    fn find<'a>(n: At<'a>, name: &str) -> Option<At<'a>> {
        if n.kind() == "call_expression" && n.field("function").map(|f| f.text()) == Some(name) {
            return Some(n);
        }
        n.named().into_iter().find_map(|k| find(k, name))
    }
    ix.funcs.values().find_map(|f| find(*f, name))
}

/// `patch.replace = X;` in module_init.
fn init_replace<'a>(f: At<'a>, patch: &str) -> Option<At<'a>> {
    fn find<'a>(n: At<'a>, patch: &str) -> Option<At<'a>> {
        if n.kind() == "assignment_expression" {
            if let Some(l) = n.field("left") {
                if l.kind() == "field_expression"
                    && l.field("field").map(|f| f.text()) == Some("replace")
                    && l.field("argument").map(|a| a.text()) == Some(patch)
                {
                    return n.field("right");
                }
            }
        }
        n.named().into_iter().find_map(|k| find(k, patch))
    }
    find(f, patch)
}

fn prints_func_name(f: At) -> bool {
    if f.kind() == "call_expression" {
        if let Some(n) = f.field("function") {
            if (n.text().starts_with("pr_") || n.text() == "printk")
                && f.field("arguments")
                    .map(|a| a.named().iter().any(|x| x.text() == "__func__"))
                    .unwrap_or(false)
            {
                return true;
            }
        }
    }
    f.named().into_iter().any(prints_func_name)
}
