//! # klp-import: livepatch sources as klpcheck scenarios
//!
//! `klpcheck import FILE...` reads livepatch module C sources (the kernel's
//! samples/livepatch, the selftest test_modules, vendor modules) and klp-build
//! source patches (unified diffs), and writes a scenario of the existing
//! scenario language (`klp_model::spec::Spec`): the objects and functions,
//! the patches in the order given, their replace flags, callbacks and
//! patched code with the effects the importer can see, klp_states and
//! module_exit. What it cannot infer becomes a marked placeholder in the
//! scenario and a located note (`file:line:col: note: ...`).
//!
//! The C is parsed with tree-sitter's C grammar ([`cfront`]); macros are
//! resolved by the importer's own small preprocessor of `#define` constants
//! and `#if` branches. The effects come from an abstract walk of the bodies
//! ([`eval`]).

pub mod cfront;
pub mod diff;
pub mod eval;
pub mod module;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use klp_model::spec::{
    self, CallbacksSpec, CodeSpec, Effects, ErrnoSpec, KlpStateSpec, ObjectSpec, PatchObjectSpec,
    PatchSpec, PrevStateCond, ShadowVarSpec, Spec,
};

use crate::eval::{Eff, Ret, ShadowSeen};
use crate::module::{ModuleImport, PatchImport, TargetImport};

/// A place in an input file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl Loc {
    pub fn file(f: &str) -> Loc {
        Loc {
            file: f.to_string(),
            line: 1,
            col: 1,
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// An input the importer cannot use: where, and what is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub loc: Loc,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: error: {}", self.loc, self.message)
    }
}

impl std::error::Error for ImportError {}

/// A located remark about something the importer could not infer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub loc: Loc,
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: note: {}", self.loc, self.message)
    }
}

#[derive(Debug, Default)]
pub struct Notes(pub Vec<Note>);

impl Notes {
    pub fn note(&mut self, loc: Loc, message: impl Into<String>) {
        let n = Note {
            loc,
            message: message.into(),
        };
        if !self.0.contains(&n) {
            self.0.push(n);
        }
    }
}

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The inputs are versions of one livepatch, oldest first: the scenario
    /// gets plans for the upgrade and the downgrade between each pair of
    /// consecutive versions (see `series_plans`).
    pub series: bool,
    /// Force `klp_patch.replace = true` on every patch.
    pub replace: bool,
    /// klp-build patches: like klp-build's `--no-replace` (KLP_NO_REPLACE).
    pub no_replace: bool,
    /// Extra `-D NAME[=VALUE]` for conditional compilation.
    pub defines: Vec<(String, String)>,
    /// `-U NAME`.
    pub undefines: Vec<String>,
}

/// The result: the scenario and the notes.
pub struct Imported {
    pub spec: Spec,
    pub notes: Vec<Note>,
}

/// The kernel module name of a source file (KBUILD_MODNAME: the file stem
/// with `-` as `_`).
pub fn module_name_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().replace('-', "_"))
        .unwrap_or_else(|| "module".into())
}

fn is_diff(path: &Path, text: &str) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("patch" | "diff")
    ) || text.starts_with("diff --git ")
        || text.starts_with("--- ")
        || text.lines().take(200).any(|l| l.starts_with("diff --git "))
}

/// Imports every input, in order, into one scenario.
pub fn import(paths: &[PathBuf], opts: &Options) -> Result<Imported, ImportError> {
    let mut notes = Notes::default();
    let mut config = cfront::default_config();
    for (k, v) in &opts.defines {
        config.insert(k.clone(), v.clone());
    }
    for k in &opts.undefines {
        config.remove(k);
    }
    let mut mods = Vec::new();
    for p in paths {
        let display = p.display().to_string();
        let head = std::fs::read(p).map_err(|e| ImportError {
            loc: Loc::file(&display),
            message: format!("cannot read: {e}"),
        })?;
        let text = String::from_utf8_lossy(&head);
        if is_diff(p, &text) {
            mods.push(ModuleImport::Patch(Box::new(diff::import_diff(
                p, &display, opts, &config, &mut notes,
            )?)));
            continue;
        }
        let units = cfront::load_units(p, &display)?;
        let ix = cfront::Index::build(&units, &config, module_name_of(p), &mut notes);
        if ix.funcs.is_empty() && ix.decls.is_empty() && ix.calls.is_empty() {
            let loc = units[0]
                .first_error()
                .map(|e| units[0].loc(e))
                .unwrap_or_else(|| Loc::file(&display));
            return Err(ImportError {
                loc,
                message: "not C source: no declaration or function definition parses here (expected a livepatch module or a klp-build patch)".into(),
            });
        }
        mods.push(module::import_module(&ix, &mut notes)?);
    }
    let spec = build(paths, mods, opts, &mut notes)?;
    Ok(Imported {
        spec,
        notes: notes.0,
    })
}

/// A target (non-livepatch) module source: its module name and whether its
/// init logs (`<mod>_init`); `None` when the file is a livepatch.
pub fn target_module(path: &Path, opts: &Options) -> Result<Option<(String, bool)>, ImportError> {
    let mut notes = Notes::default();
    let mut config = cfront::default_config();
    for (k, v) in &opts.defines {
        config.insert(k.clone(), v.clone());
    }
    let display = path.display().to_string();
    let units = cfront::load_units(path, &display)?;
    let ix = cfront::Index::build(&units, &config, module_name_of(path), &mut notes);
    Ok(match module::import_module(&ix, &mut notes)? {
        ModuleImport::Target(t) => Some((t.module, t.logs)),
        ModuleImport::Patch(_) => None,
    })
}

struct ShadowTable {
    /// id value -> (scenario variable name, id string, parent)
    vars: BTreeMap<i64, (String, String, String)>,
}

impl ShadowTable {
    fn new(all: &[&BTreeMap<i64, ShadowSeen>]) -> ShadowTable {
        let mut vars = BTreeMap::new();
        let mut used = BTreeSet::new();
        for m in all {
            for (id, seen) in m.iter() {
                if vars.contains_key(id) {
                    continue;
                }
                let mut name = seen
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("shadow_{id:#x}"));
                if used.contains(&name) {
                    name = format!("{name}_{id:#x}");
                }
                used.insert(name.clone());
                let parent = if seen.parent == "*" {
                    "(any)".to_string()
                } else {
                    seen.parent.clone()
                };
                vars.insert(*id, (name, format!("{id:#x}"), parent));
            }
        }
        ShadowTable { vars }
    }
    fn names(&self, ids: &BTreeSet<i64>) -> Vec<String> {
        ids.iter()
            .filter_map(|i| self.vars.get(i))
            .map(|v| v.0.clone())
            .collect()
    }
    fn idstrs(&self, ids: &BTreeSet<i64>) -> Vec<String> {
        ids.iter()
            .filter_map(|i| self.vars.get(i))
            .map(|v| v.1.clone())
            .collect()
    }
}

fn effects(e: &Eff, sh: &ShadowTable, log_default: bool, is_pre_patch: bool) -> Effects {
    let f = &e.flat;
    Effects {
        log: if f.log == log_default {
            None
        } else {
            Some(f.log)
        },
        emit: vec![],
        shadow_alloc: sh.names(&f.alloc),
        shadow_get_or_alloc: sh.names(&f.get_or_alloc),
        shadow_free: sh.names(&f.free),
        shadow_free_all: sh.idstrs(&f.free_all),
        set: f.set.iter().cloned().collect(),
        clear: f.clear.iter().cloned().collect(),
        ret: if is_pre_patch {
            match &e.ret {
                Ret::Zero => None,
                Ret::Errno(n) => Some(ErrnoSpec::Name(n.clone())),
                Ret::Param => Some(ErrnoSpec::Name("param".into())),
            }
        } else {
            None
        },
        if_prev_state: e.branch.as_ref().map(|(id, t, o)| {
            Box::new(PrevStateCond {
                id: *id,
                min_version: 0,
                then: effects(t, sh, false, is_pre_patch),
                otherwise: effects(o, sh, false, is_pre_patch),
            })
        }),
    }
}

/// What patched code does with shadow variables, in the scenario's terms.
///
/// * `klp_shadow_alloc` / `klp_shadow_get_or_alloc`: `allocates_shadow`.
/// * `klp_shadow_get` of a variable the same patch creates (in its code or
///   callbacks), followed by `klp_shadow_free` in the same function (the
///   samples' "fetch, detach and free"): `frees_shadow`: the patch's own
///   lifecycle, whose NULL check handles objects from before the patch.
/// * `klp_shadow_get` tested directly and not kept
///   (`if (klp_shadow_get(..)) klp_shadow_free(..)`), with a
///   `klp_shadow_free` in the function: a probe, `frees_shadow` only.
/// * `klp_shadow_get` whose result is NULL-checked (`if (p)`, `if (!p)`,
///   `p ? ..`, or the call tested directly, `if (!klp_shadow_get(..))
///   return ..`):
///   `uses_shadow_if_present` (plus `frees_shadow` if the function frees
///   it): the code copes with a variable that was never allocated, but data
///   it relies on may have been freed under it by another module (the
///   samples' fix2 dummy_free after fix1's module_exit free_all).
/// * any other `klp_shadow_get`: `uses_shadow`: the code reads a variable
///   it needs to exist, and a variable the patch never creates must come from
///   an earlier patch (the cumulative-patches.rst hazard).
/// * `klp_shadow_free` without a get: `frees_shadow`.
fn code_spec(
    p: &PatchImport,
    code: &Eff,
    sh: &ShadowTable,
    creates: &BTreeSet<i64>,
    notes: &mut Notes,
    func: &str,
) -> CodeSpec {
    let f = code.all_flat();
    let mut uses = BTreeSet::new();
    let mut uses_if_present = BTreeSet::new();
    let mut frees = BTreeSet::new();
    for id in &f.get {
        let probe_only = f.get_probe.contains(id) && !f.get_checked.contains(id);
        if f.free.contains(id) && (creates.contains(id) || probe_only) {
            frees.insert(*id);
        } else if probe_only || f.get_checked.contains(id) {
            // `if (!klp_shadow_get(..)) return ..;` and `p = klp_shadow_get(..);
            // if (!p) return ..;` are the same code: it copes with a missing
            // variable and relies on it when present.
            uses_if_present.insert(*id);
            if f.free.contains(id) {
                frees.insert(*id);
            }
        } else {
            uses.insert(*id);
            if f.free.contains(id) {
                if let Some((name, _, _)) = sh.vars.get(id) {
                    notes.note(
                        p.loc.clone(),
                        format!(
                            "{func} of {} reads and then frees shadow variable {name}, which {} never creates: imported as a use (the model frees on entry, before the read)",
                            p.module, p.module
                        ),
                    );
                }
            }
        }
    }
    for id in &f.free {
        if !f.get.contains(id) {
            frees.insert(*id);
        }
    }
    let allocs: BTreeSet<i64> = f.alloc.union(&f.get_or_alloc).copied().collect();
    uses.retain(|i| !allocs.contains(i));
    uses_if_present.retain(|i| !allocs.contains(i));
    frees.retain(|i| !allocs.contains(i));
    CodeSpec {
        uses_shadow: sh.names(&uses),
        uses_shadow_if_present: sh.names(&uses_if_present),
        allocates_shadow: sh.names(&allocs),
        frees_shadow: sh.names(&frees),
        needs: vec![],
        conflicts: vec![],
        emit: vec![],
    }
}

fn build(
    paths: &[PathBuf],
    mods: Vec<ModuleImport>,
    opts: &Options,
    notes: &mut Notes,
) -> Result<Spec, ImportError> {
    let patches: Vec<&PatchImport> = mods
        .iter()
        .filter_map(|m| match m {
            ModuleImport::Patch(p) => Some(&**p),
            _ => None,
        })
        .collect();
    let targets: Vec<&TargetImport> = mods
        .iter()
        .filter_map(|m| match m {
            ModuleImport::Target(t) => Some(t),
            _ => None,
        })
        .collect();
    if patches.is_empty() {
        return Err(ImportError {
            loc: Loc::file(&paths.first().map(|p| p.display().to_string()).unwrap_or_default()),
            message: "no input defines a `struct klp_patch` (only target modules were given): nothing to check".into(),
        });
    }
    let all_shadows: Vec<&BTreeMap<i64, ShadowSeen>> = patches.iter().map(|p| &p.shadows).collect();
    let sh = ShadowTable::new(&all_shadows);

    let mut objects: BTreeMap<String, ObjectSpec> = BTreeMap::new();
    objects.insert("vmlinux".into(), ObjectSpec::default());
    for t in &targets {
        objects.insert(
            t.module.clone(),
            ObjectSpec {
                funcs: vec![],
                loaded: true,
                logs: t.logs,
                init_fails: None,
            },
        );
    }
    let mut owner: HashMap<String, String> = HashMap::new();
    let mut sysmods: BTreeSet<String> = BTreeSet::new();
    let mut out_patches = BTreeMap::new();
    let mut order = Vec::new();
    for p in &patches {
        if out_patches.contains_key(&p.module) {
            return Err(ImportError {
                loc: p.loc.clone(),
                message: format!("module `{}` is given twice", p.module),
            });
        }
        let creates: BTreeSet<i64> = {
            let mut c = BTreeSet::new();
            for o in &p.objects {
                for f in &o.funcs {
                    let a = f.code.all_flat();
                    c.extend(a.alloc.iter().chain(a.get_or_alloc.iter()).copied());
                }
                for cb in o.callbacks.iter().flatten() {
                    let a = cb.all_flat();
                    c.extend(a.alloc.iter().chain(a.get_or_alloc.iter()).copied());
                }
            }
            c
        };
        let mut objs = BTreeMap::new();
        let mut obj_order = Vec::new();
        for o in &p.objects {
            let oname = o.name.clone().unwrap_or_else(|| "vmlinux".into());
            let entry = objects.entry(oname.clone()).or_insert_with(|| ObjectSpec {
                funcs: vec![],
                loaded: true,
                logs: false,
                init_fails: None,
            });
            let mut funcs = BTreeMap::new();
            for f in &o.funcs {
                match owner.get(&f.old_name) {
                    Some(ob) if ob != &oname => {
                        return Err(ImportError {
                            loc: p.loc.clone(),
                            message: format!(
                                "function `{}` is patched in object `{oname}` and in `{ob}`: the scenario language needs unique function names",
                                f.old_name
                            ),
                        })
                    }
                    _ => {}
                }
                owner.insert(f.old_name.clone(), oname.clone());
                if !entry.funcs.contains(&f.old_name) {
                    entry.funcs.push(f.old_name.clone());
                }
                funcs.insert(
                    f.old_name.clone(),
                    code_spec(p, &f.code, &sh, &creates, notes, &f.new_func),
                );
            }
            let cb = |i: usize| {
                o.callbacks[i]
                    .as_ref()
                    .map(|e| effects(e, &sh, true, i == 0))
            };
            for e in o.callbacks.iter().flatten() {
                let a = e.all_flat();
                sysmods.extend(a.set.iter().chain(a.clear.iter()).cloned());
            }
            obj_order.push(oname.clone());
            objs.insert(
                oname,
                PatchObjectSpec {
                    funcs,
                    patch_fails: None,
                    callbacks: CallbacksSpec {
                        pre_patch: cb(0),
                        post_patch: cb(1),
                        pre_unpatch: cb(2),
                        post_unpatch: cb(3),
                    },
                },
            );
        }
        let mut default_order = obj_order.clone();
        default_order.sort();
        default_order.sort_by_key(|n| n != "vmlinux");
        let module_exit = p.exit.as_ref().and_then(|e| {
            let a = e.all_flat();
            sysmods.extend(a.set.iter().chain(a.clear.iter()).cloned());
            let x = effects(e, &sh, false, false);
            (x.shadow_free_all.len()
                + x.shadow_free.len()
                + x.shadow_alloc.len()
                + x.shadow_get_or_alloc.len()
                + x.set.len()
                + x.clear.len()
                > 0
                || x.if_prev_state.is_some())
            .then_some(x)
        });
        let ps = PatchSpec {
            no_module_exit: false,
            module: None,
            replace: p.replace || opts.replace,
            immediate: false,
            objects: objs,
            states: p
                .states
                .iter()
                .map(|(id, v)| KlpStateSpec {
                    id: *id,
                    version: *v,
                    callbacks: Default::default(),
                    is_shadow: false,
                    block_disable: false,
                })
                .collect(),
            module_exit,
            pre_patch_ret: p.pre_patch_ret.filter(|v| *v != 0).map(ErrnoSpec::Number),
            object_order: (obj_order != default_order).then_some(obj_order),
            replace_set: None,
            override_replace_sets: vec![],
            replaceable: None,
        };
        order.push(p.module.clone());
        out_patches.insert(p.module.clone(), ps);
    }
    let shadow_vars = sh
        .vars
        .values()
        .map(|(name, id, parent)| {
            (
                name.clone(),
                ShadowVarSpec {
                    parent: parent.clone(),
                    id: id.clone(),
                },
            )
        })
        .collect();
    let admin = spec::AdminSpec::default();
    let plans = if opts.series && out_patches.len() > 1 {
        series_plans(&order, &out_patches, paths, notes)
    } else {
        BTreeMap::new()
    };
    let inputs: Vec<String> = paths
        .iter()
        .map(|p| {
            p.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let placeholders = notes.0.len();
    let description = format!(
        "Imported by `klpcheck import{}` from {}{}. {}",
        if opts.series { " --series" } else { "" },
        inputs.join(", "),
        if opts.replace {
            " with replace forced"
        } else {
            ""
        },
        if placeholders == 0 {
            "Nothing was left as a placeholder.".to_string()
        } else {
            format!(
                "{placeholders} note(s) on stderr say what the importer could not infer; system modifications it could not name are `TODO(import) ...`."
            )
        }
    );
    Ok(Spec {
        cpus: None,
        stack_check_oob: Default::default(),
        spec_version: spec::SPEC_VERSION,
        name: Some(if opts.series {
            format!("series-{}", order.join("-"))
        } else {
            order.join("-")
        }),
        description: Some(description),
        profile: None,
        variant: None,
        objects,
        shadow_vars,
        system_modifications: sysmods.into_iter().collect(),
        patches: out_patches,
        tasks: spec::TasksSpec::default(),
        admin,
        fairness: spec::FairnessSpec::default(),
        expect: BTreeMap::new(),
        expect_by_profile: BTreeMap::new(),
        expected_unique_states: None,
        script: None,
        expected_events: None,
        plans,
    })
}

/// The admin's routes through a series (oldest first), as ordered plans:
/// for each pair of consecutive versions `a`, `b`, the upgrade a -> b and
/// the downgrade b -> a that follows it.
///
/// When `b` is a replace (cumulative) patch, the upgrade loads `b` over `a`
/// and removes `a`'s module once its refcount is 0 (the replaced patch is
/// freed); the downgrade then loads `a` again over `b` and removes `b`
/// (when `a` is not a replace patch, it disables and removes `b` first and
/// loads `a` after: a non-replace `a` would stack on `b`). When `b` stacks
/// on `a` (no replace), the upgrade loads `b` over `a`, and the downgrade
/// disables and removes `b`. Every plan starts on a clean system with `a`:
/// the routes between consecutive versions, not every version on a clean
/// system. At most `plan::MAX_PLANS` plans: a longer series keeps the
/// routes between its newest versions (a note says so).
fn series_plans(
    order: &[String],
    patches: &BTreeMap<String, PatchSpec>,
    paths: &[PathBuf],
    notes: &mut Notes,
) -> BTreeMap<String, Vec<spec::PlanStepSpec>> {
    use spec::{PlanModuleArgs, PlanPatchArgs, PlanStepSpec as S};
    let load = |p: &str| {
        S::load_livepatch(PlanPatchArgs {
            patch: p.to_string(),
            retry: false,
            note: None,
        })
    };
    let disable = |p: &str| {
        S::disable_livepatch(PlanPatchArgs {
            patch: p.to_string(),
            retry: false,
            note: None,
        })
    };
    let unload = |m: &str| {
        S::unload_module(PlanModuleArgs {
            module: m.to_string(),
            retry: false,
            note: None,
        })
    };
    let pairs: Vec<(&String, &String)> = order.iter().zip(order.iter().skip(1)).collect();
    let keep = klp_model::plan::MAX_PLANS / 2;
    let skipped = pairs.len().saturating_sub(keep);
    if skipped > 0 {
        notes.note(
            Loc::file(&paths[0].display().to_string()),
            format!(
                "the series has {} steps between versions; the scenario plans the {keep} newest \
                 (at most {} plans)",
                pairs.len(),
                klp_model::plan::MAX_PLANS
            ),
        );
    }
    let mut plans = BTreeMap::new();
    for (a, b) in pairs.into_iter().skip(skipped) {
        let mut up = vec![load(a), load(b)];
        let mut down = up.clone();
        if patches[b].replace {
            up.push(unload(a));
            down.push(unload(a));
            if patches[a].replace {
                down.extend([load(a), unload(b)]);
            } else {
                down.extend([disable(b), unload(b), load(a)]);
            }
        } else {
            down.extend([disable(b), unload(b)]);
        }
        plans.insert(format!("upgrade-{a}-to-{b}"), up);
        plans.insert(format!("downgrade-{b}-to-{a}"), down);
    }
    plans
}

/// The scenario as JSON, without the keys that only repeat a default.
pub fn to_json(spec: &Spec) -> String {
    let mut v = serde_json::to_value(spec).expect("a Spec serializes");
    prune(&mut v, "");
    serde_json::to_string_pretty(&v).expect("JSON serializes") + "\n"
}

fn prune(v: &mut serde_json::Value, key: &str) {
    use serde_json::Value;
    if let Value::Object(m) = v {
        for (k, x) in m.iter_mut() {
            prune(x, k);
        }
        // `false` is the default of these keys (admin.disable/rmmod default
        // to true, so they stay).
        let false_default = [
            "replace",
            "immediate",
            "loaded",
            "logs",
            "enable",
            "force",
            "admin_forces",
            "retry",
        ];
        m.retain(|k, x| match x {
            Value::Null => false,
            Value::Array(a) => !a.is_empty() || k == "patches",
            Value::Object(o) => {
                !o.is_empty()
                    || matches!(key, "callbacks" | "objects" | "funcs" | "patches")
                    || matches!(
                        k.as_str(),
                        "pre_patch"
                            | "post_patch"
                            | "pre_unpatch"
                            | "post_unpatch"
                            | "then"
                            | "else"
                    )
            }
            Value::Bool(false) => !false_default.contains(&k.as_str()),
            _ => true,
        });
    }
    if let Value::Array(a) = v {
        for x in a {
            prune(x, "");
        }
    }
}
