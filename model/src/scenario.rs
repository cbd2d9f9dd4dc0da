//! A scenario compiled into the indexed form the model runs on: every name is
//! resolved once here, so the step function only handles small integers and
//! bit sets.

use std::collections::BTreeMap;

use crate::errno;
use crate::profile::{Profile, Variant};
use crate::spec::{self, ErrnoSpec, Spec, Verdict};

pub type PatchId = u8;
pub type ObjId = u8;
pub type FuncId = u8;

/// Limits that keep bit sets in a u64 and states small.
pub const MAX_PATCHES: usize = 16;
pub const MAX_OBJECTS: usize = 64;
pub const MAX_FUNCS: usize = 64;
pub const MAX_SHADOW_VARS: usize = 64;
pub const MAX_SYSMODS: usize = 64;
pub const MAX_TASKS: u32 = 8;
pub const MAX_DEPTH: u32 = 4;
/// CPUs a scenario may have (each adds an idle task).
pub const MAX_CPUS: u32 = 4;
/// The CPU count when a scenario does not say.
pub const DEFAULT_CPUS: u32 = 2;
pub const MAX_LOADS: u32 = 4;

/// An error in a scenario, with where it is (a JSON path such as
/// `patches.P1.objects.vmlinux.funcs.foo`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The text is not valid JSON for the scenario language.
    #[error("{line}:{column}: at `{path}`: {message}")]
    Parse {
        line: usize,
        column: usize,
        path: String,
        message: String,
    },
    /// Valid JSON whose content makes no sense (unknown name, absurd bound).
    #[error("at `{path}`: {message}")]
    Semantic { path: String, message: String },
}

fn semantic(path: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError::Semantic {
        path: path.into(),
        message: message.into(),
    }
}

/// Parses scenario text; errors carry line, column and the JSON path.
pub fn parse_spec(text: &str) -> Result<Spec, SpecError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        SpecError::Parse {
            line: inner.line(),
            column: inner.column(),
            path,
            message: inner
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or("")
                .to_string(),
        }
    })
}

/// A patch target: vmlinux (index 0) or a module.
#[derive(Debug, Clone)]
pub struct Object {
    pub name: String,
    pub is_vmlinux: bool,
    pub loaded_at_boot: bool,
    /// The module logs `<mod>_init` / `<mod>_exit` (test modules do).
    pub logs: bool,
    pub funcs: Vec<FuncId>,
    /// The module's own init fails with this errno (0: it succeeds).
    pub init_fails: u8,
}

/// A function of an object (`old_name`; sympos is not modelled: names are
/// unique within a scenario).
#[derive(Debug, Clone)]
pub struct Func {
    pub name: String,
    pub obj: ObjId,
}

/// A shadow variable `(parent, id)`.
#[derive(Debug, Clone)]
pub struct ShadowVar {
    pub name: String,
    pub parent: String,
    pub id: String,
}

/// What a patched implementation does, as bit sets over shadow variables and
/// system modifications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Code {
    pub uses_shadow: u64,
    /// NULL-checked `klp_shadow_get`: a violation only when freed.
    pub uses_shadow_if_present: u64,
    pub allocates_shadow: u64,
    pub frees_shadow: u64,
    pub needs: u64,
    pub conflicts: u64,
    pub emit: Vec<String>,
}

/// A callback's return value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ret {
    #[default]
    Zero,
    Errno(u8),
    /// The `pre_patch_ret` module parameter.
    Param,
}

/// Compiled [`spec::Effects`].
#[derive(Debug, Clone, Default)]
pub struct Effects {
    pub log: bool,
    pub emit: Vec<String>,
    pub shadow_alloc: u64,
    pub shadow_get_or_alloc: u64,
    pub shadow_free: u64,
    pub shadow_free_all: u64,
    pub set: u64,
    pub clear: u64,
    pub ret: Ret,
    /// `(id, min_version, then, else)`.
    pub if_prev_state: Option<Box<(u64, u32, Effects, Effects)>>,
}

impl Effects {
    /// Whether running these effects changes what a task can see: a shadow
    /// variable or a system modification (a log line or a return value
    /// changes nothing a task runs). A klp_get_prev_state branch counts
    /// when either side does.
    pub fn task_visible(&self) -> bool {
        self.shadow_alloc
            | self.shadow_get_or_alloc
            | self.shadow_free
            | self.shadow_free_all
            | self.set
            | self.clear
            != 0
            || self
                .if_prev_state
                .as_ref()
                .is_some_and(|b| b.2.task_visible() || b.3.task_visible())
    }
}

/// Callback kinds, in `struct klp_callbacks` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallbackKind {
    PrePatch,
    PostPatch,
    PreUnpatch,
    PostUnpatch,
}

impl CallbackKind {
    pub fn name(self) -> &'static str {
        match self {
            CallbackKind::PrePatch => "pre_patch",
            CallbackKind::PostPatch => "post_patch",
            CallbackKind::PreUnpatch => "pre_unpatch",
            CallbackKind::PostUnpatch => "post_unpatch",
        }
    }
}

/// One object of a patch.
#[derive(Debug, Clone)]
pub struct PatchObject {
    pub obj: ObjId,
    /// klp_patch_object fails with this errno (0: it succeeds).
    pub patch_fails: u8,
    pub funcs: Vec<(FuncId, Code)>,
    pub callbacks: [Option<Effects>; 4],
}

impl PatchObject {
    pub fn callback(&self, kind: CallbackKind) -> Option<&Effects> {
        self.callbacks[kind as usize].as_ref()
    }
}

/// A livepatch module and its `struct klp_patch`.
#[derive(Debug, Clone)]
pub struct Patch {
    pub name: String,
    pub module: String,
    pub replace: bool,
    /// `immediate` (honoured only by the b1-immediate variant).
    pub immediate: bool,
    /// Static objects in `obj_list` order.
    pub objects: Vec<PatchObject>,
    /// Functions this patch patches (static funcs).
    pub funcs_mask: u64,
    /// Objects with static `klp_object`s.
    pub objs_mask: u64,
    /// `klp_state` (id, version).
    pub states: Vec<(u64, u32)>,
    pub module_exit: Effects,
    /// The module has an init and no exit: rmmod always fails (-EBUSY).
    pub no_module_exit: bool,
    pub pre_patch_ret: u8,
    /// `klp_patch.replace_set` (profile `replace-set`; 0 by default).
    pub replace_set: u32,
    /// The v3 `override_replace_sets` knob: other sets this patch replaces.
    pub override_replace_sets: Vec<u32>,
    /// `klp_patch.replaceable` (profile `replaceable`; true by default).
    pub replaceable: bool,
    /// The states API's view of `klp_patch.states` (profile `states-api`),
    /// in the order of `states`.
    pub state_defs: Vec<StateDef>,
    /// Shadow variables whose id some code, callback or module_exit of this
    /// patch names (every variable with such an id), for
    /// `shadow-single-set`.
    pub shadow_ids_used: u64,
}

/// One `struct klp_state` with the states API's fields (profile
/// `states-api`, "[PATCH v1 00/19] livepatch: Better integrate callbacks and
/// shadow variables with the states API", 20250115082431.5550-1-pmladek@suse.com).
#[derive(Debug, Clone)]
pub struct StateDef {
    pub id: u64,
    /// `struct klp_state_callbacks`, in [`CallbackKind`] order.
    pub callbacks: [Option<Effects>; 4],
    pub is_shadow: bool,
    pub block_disable: bool,
    /// The shadow variables `klp_shadow_free_all(state->id)` frees (those
    /// whose id is the decimal state id), when `is_shadow`.
    pub shadow_mask: u64,
}

impl Patch {
    /// The new code of `func` in this patch, if it patches it statically.
    pub fn code(&self, func: FuncId) -> Option<&Code> {
        self.objects
            .iter()
            .flat_map(|o| o.funcs.iter())
            .find(|(f, _)| *f == func)
            .map(|(_, c)| c)
    }

    pub fn object(&self, obj: ObjId) -> Option<&PatchObject> {
        self.objects.iter().find(|o| o.obj == obj)
    }

    /// `klp_get_state(patch, id)`.
    pub fn state_version(&self, id: u64) -> Option<u32> {
        self.states.iter().find(|(i, _)| *i == id).map(|(_, v)| *v)
    }
}

/// The tasks of the scenario.
#[derive(Debug, Clone)]
pub struct Tasks {
    pub count: u32,
    pub max_depth: u32,
    /// Functions callable from user space.
    pub entry: u64,
    /// Per function: the functions it may call.
    pub calls: Vec<u64>,
    pub kind: spec::TaskKind,
    /// Slots for forked children (`tasks.forks`).
    pub forks: u32,
    /// Whether tasks may exit.
    pub exit: bool,
    /// Functions an exiting task may still call (`tasks.exit_calls`).
    pub exit_calls: u64,
}

impl Tasks {
    /// Task slots in a state: the tasks and the children they may fork.
    pub fn slots(&self) -> u32 {
        self.count + self.forks
    }
}

/// Compiled [`spec::FairnessSpec`].
#[derive(Debug, Clone, Default)]
pub struct Fairness {
    /// Task indices (from 0) that may sleep forever.
    pub may_block_forever: Vec<usize>,
    /// Task indices (from 0) of `may_block_forever` that sleep
    /// interruptibly: klp_send_signals wakes them while they are pending.
    pub interruptible: Vec<usize>,
    pub admin_forces: bool,
}

/// Bounds on admin actions.
#[derive(Debug, Clone)]
pub struct Admin {
    pub max_loads: Vec<u8>,
    pub disable: bool,
    pub enable: bool,
    pub force: bool,
    pub rmmod: bool,
    pub target_load: u64,
    pub target_unload: u64,
}

/// A compiled scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub profile: Profile,
    pub variant: Variant,
    /// The profile and variant the file states (the pinned state count is
    /// for these; `--profile`/`--variant` may override the two above).
    pub spec_profile: Profile,
    pub spec_variant: Variant,
    pub objects: Vec<Object>,
    pub funcs: Vec<Func>,
    pub shadow_vars: Vec<ShadowVar>,
    pub sysmods: Vec<String>,
    pub patches: Vec<Patch>,
    /// CPUs of the machine (each has an idle task).
    pub cpus: u32,
    /// What klp_check_stack_func's out-of-bounds func covers.
    pub stack_check_oob: spec::OobRange,
    pub tasks: Tasks,
    pub admin: Admin,
    pub fairness: Fairness,
    pub expect: BTreeMap<String, Verdict>,
    /// Verdicts that differ under another profile.
    pub expect_by_profile: BTreeMap<Profile, BTreeMap<String, Verdict>>,
    pub expected_unique_states: Option<u64>,
    /// The pinned count with symmetry reduction over tasks.
    pub expected_unique_states_symmetry: Option<u64>,
    pub script: Option<Vec<serde_json::Value>>,
    pub expected_events: Option<Vec<String>>,
    /// The admin's ordered plans ([`crate::plan`]); empty: the admin's
    /// commands are free (bounded by `admin`).
    pub plans: Vec<crate::plan::Plan>,
    /// Target modules some plan loads or unloads, bit per ObjId: only the
    /// plans load and unload them.
    pub plan_modules: u64,
}

pub const VMLINUX: ObjId = 0;

impl Scenario {
    /// Checks every name and bound of `spec` and builds the indexed scenario.
    /// `default_name` names the scenario when the spec does not.
    pub fn compile(spec: &Spec, default_name: &str) -> Result<Scenario, SpecError> {
        Compiler::default().compile(spec, default_name)
    }

    /// The verdict expected of property `id` under the scenario's current
    /// profile: `expect_by_profile` when the profile was overridden and names
    /// it, else `expect`, else `holds`.
    pub fn expected(&self, id: &str) -> Verdict {
        self.expect_by_profile
            .get(&self.profile)
            .and_then(|m| m.get(id))
            .or_else(|| self.expect.get(id))
            .copied()
            .unwrap_or(Verdict::Holds)
    }

    pub fn func_by_name(&self, name: &str) -> Option<FuncId> {
        self.funcs
            .iter()
            .position(|f| f.name == name)
            .map(|i| i as FuncId)
    }

    pub fn object_by_name(&self, name: &str) -> Option<ObjId> {
        self.objects
            .iter()
            .position(|o| o.name == name)
            .map(|i| i as ObjId)
    }

    pub fn patch_by_name(&self, name: &str) -> Option<PatchId> {
        self.patches
            .iter()
            .position(|p| p.name == name)
            .map(|i| i as PatchId)
    }

    pub fn patch_by_module(&self, module: &str) -> Option<PatchId> {
        self.patches
            .iter()
            .position(|p| p.module == module)
            .map(|i| i as PatchId)
    }

    /// Shadow variables whose id is `id` (for `klp_shadow_free_all`).
    pub fn shadow_ids_mask(&self, id: &str) -> u64 {
        self.shadow_vars
            .iter()
            .enumerate()
            .filter(|(_, v)| v.id == id)
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    /// Bits of the functions that belong to `obj`.
    pub fn object_funcs_mask(&self, obj: ObjId) -> u64 {
        self.objects[obj as usize]
            .funcs
            .iter()
            .fold(0, |m, f| m | 1 << f)
    }
}

#[derive(Default)]
struct Compiler {
    objects: Vec<Object>,
    funcs: Vec<Func>,
    shadow_vars: Vec<ShadowVar>,
    sysmods: Vec<String>,
}

impl Compiler {
    fn compile(mut self, spec: &Spec, default_name: &str) -> Result<Scenario, SpecError> {
        if spec.spec_version != spec::SPEC_VERSION {
            return Err(semantic(
                "spec_version",
                format!(
                    "unsupported spec_version {} (this klpcheck reads 1)",
                    spec.spec_version
                ),
            ));
        }
        // Names are data: their shapes and the input bounds (names.rs).
        crate::names::check_spec(spec)?;
        let profile = match &spec.profile {
            None => Profile::default(),
            Some(name) => Profile::from_name(name).ok_or_else(|| {
                semantic(
                    "profile",
                    format!("unknown profile `{name}` (known: {})", known_profiles()),
                )
            })?,
        };
        let variant = match &spec.variant {
            None => Variant::default(),
            Some(name) => Variant::from_name(name).ok_or_else(|| {
                semantic(
                    "variant",
                    format!("unknown variant `{name}` (known: {})", known_variants()),
                )
            })?,
        };
        self.objects_from(spec)?;
        self.shadow_from(spec)?;
        for (i, m) in spec.system_modifications.iter().enumerate() {
            if self.sysmods.contains(m) {
                return Err(semantic(
                    format!("system_modifications[{i}]"),
                    format!("`{m}` is listed twice"),
                ));
            }
            self.sysmods.push(m.clone());
        }
        if self.sysmods.len() > MAX_SYSMODS {
            return Err(semantic(
                "system_modifications",
                format!("at most {MAX_SYSMODS} are supported"),
            ));
        }
        if spec.patches.is_empty() && spec.script.is_none() {
            return Err(semantic("patches", "a scenario needs at least one patch"));
        }
        if spec.patches.len() > MAX_PATCHES {
            return Err(semantic(
                "patches",
                format!("at most {MAX_PATCHES} patches are supported"),
            ));
        }
        let mut patches = Vec::new();
        for (name, p) in &spec.patches {
            patches.push(self.patch(name, p)?);
        }
        for (i, a) in patches.iter().enumerate() {
            if let Some(b) = patches[..i].iter().find(|b| b.module == a.module) {
                return Err(semantic(
                    format!("patches.{}.module", a.name),
                    format!(
                        "module `{}` is also the module of patch `{}`",
                        a.module, b.name
                    ),
                ));
            }
        }
        let tasks = self.tasks(&spec.tasks, &patches, spec.script.is_some())?;
        let cpus = spec.cpus.unwrap_or(DEFAULT_CPUS);
        if cpus == 0 || cpus > MAX_CPUS {
            return Err(semantic(
                "cpus",
                format!("must be between 1 and {MAX_CPUS}"),
            ));
        }
        let admin = self.admin(&spec.admin, &patches)?;
        let mut fairness = Fairness {
            may_block_forever: vec![],
            interruptible: vec![],
            admin_forces: spec.fairness.admin_forces,
        };
        for (i, &t) in spec.fairness.interruptible.iter().enumerate() {
            if !spec.fairness.may_block_forever.contains(&t) {
                return Err(semantic(
                    format!("fairness.interruptible[{i}]"),
                    format!(
                        "task {t} is not in fairness.may_block_forever (every other task returns anyway)"
                    ),
                ));
            }
            fairness.interruptible.push(t as usize - 1);
        }
        for (i, &t) in spec.fairness.may_block_forever.iter().enumerate() {
            if t == 0 || t > tasks.count {
                return Err(semantic(
                    format!("fairness.may_block_forever[{i}]"),
                    format!(
                        "task {t} does not exist (tasks are numbered 1 to {})",
                        tasks.count
                    ),
                ));
            }
            fairness.may_block_forever.push(t as usize - 1);
        }
        if fairness.admin_forces && !admin.force {
            return Err(semantic(
                "fairness.admin_forces",
                "needs admin.force: the admin cannot force",
            ));
        }
        let mut expect_by_profile = BTreeMap::new();
        for (name, verdicts) in &spec.expect_by_profile {
            let p = Profile::from_name(name).ok_or_else(|| {
                semantic(
                    format!("expect_by_profile.{name}"),
                    format!("unknown profile `{name}` (known: {})", known_profiles()),
                )
            })?;
            for id in verdicts.keys() {
                if !crate::properties::PROPERTY_IDS.contains(&id.as_str()) {
                    return Err(semantic(
                        format!("expect_by_profile.{name}.{id}"),
                        format!("unknown property id `{id}` (see `klpcheck list`)"),
                    ));
                }
            }
            expect_by_profile.insert(p, verdicts.clone());
        }
        for id in spec.expect.keys() {
            if !crate::properties::PROPERTY_IDS.contains(&id.as_str()) {
                return Err(semantic(
                    format!("expect.{id}"),
                    format!("unknown property id `{id}` (see `klpcheck list`)"),
                ));
            }
        }
        let mut sc = Scenario {
            name: spec
                .name
                .clone()
                .unwrap_or_else(|| default_name.to_string()),
            description: spec.description.clone().unwrap_or_default(),
            profile,
            variant,
            spec_profile: profile,
            spec_variant: variant,
            objects: self.objects,
            funcs: self.funcs,
            shadow_vars: self.shadow_vars,
            sysmods: self.sysmods,
            patches,
            cpus,
            stack_check_oob: spec.stack_check_oob,
            tasks,
            admin,
            fairness,
            expect: spec.expect.clone(),
            expect_by_profile,
            expected_unique_states: spec
                .expected_unique_states
                .and_then(|p| p.for_setting(false)),
            expected_unique_states_symmetry: spec
                .expected_unique_states
                .and_then(|p| p.for_setting(true)),
            script: spec.script.clone(),
            expected_events: spec.expected_events.clone(),
            plans: Vec::new(),
            plan_modules: 0,
        };
        let (plans, plan_modules) = crate::plan::compile(&spec.plans, &sc)?;
        sc.plans = plans;
        sc.plan_modules = plan_modules;
        Ok(sc)
    }

    fn objects_from(&mut self, spec: &Spec) -> Result<(), SpecError> {
        // vmlinux is object 0 whether or not the spec lists it.
        self.objects.push(Object {
            name: "vmlinux".into(),
            is_vmlinux: true,
            loaded_at_boot: true,
            logs: false,
            funcs: vec![],
            init_fails: 0,
        });
        let mut ordered: Vec<(&String, &spec::ObjectSpec)> = spec.objects.iter().collect();
        ordered.sort_by_key(|(name, _)| name.as_str() != "vmlinux");
        for (name, o) in ordered {
            let id = if name == "vmlinux" {
                if o.loaded || o.logs || o.init_fails.is_some() {
                    return Err(semantic(
                        "objects.vmlinux",
                        "vmlinux is always loaded, does not log init/exit and has no init to fail",
                    ));
                }
                VMLINUX
            } else {
                if name.is_empty() {
                    return Err(semantic("objects", "an object name must not be empty"));
                }
                let init_fails = match &o.init_fails {
                    None => 0,
                    Some(e) => match self.errno(&format!("objects.{name}.init_fails"), e)? {
                        Ret::Errno(n) => n,
                        _ => {
                            return Err(semantic(
                                format!("objects.{name}.init_fails"),
                                "must be an errno such as ENOMEM",
                            ))
                        }
                    },
                };
                self.objects.push(Object {
                    name: name.clone(),
                    is_vmlinux: false,
                    loaded_at_boot: o.loaded,
                    logs: o.logs,
                    funcs: vec![],
                    init_fails,
                });
                (self.objects.len() - 1) as ObjId
            };
            for (i, f) in o.funcs.iter().enumerate() {
                if let Some(prev) = self.funcs.iter().find(|g| &g.name == f) {
                    return Err(semantic(
                        format!("objects.{name}.funcs[{i}]"),
                        format!(
                            "function `{f}` is already declared in object `{}` (names are unique in a scenario)",
                            self.objects[prev.obj as usize].name
                        ),
                    ));
                }
                self.funcs.push(Func {
                    name: f.clone(),
                    obj: id,
                });
                let fid = (self.funcs.len() - 1) as FuncId;
                self.objects[id as usize].funcs.push(fid);
            }
        }
        if self.objects.len() > MAX_OBJECTS {
            return Err(semantic(
                "objects",
                format!("at most {MAX_OBJECTS} objects are supported"),
            ));
        }
        if self.funcs.len() > MAX_FUNCS {
            return Err(semantic(
                "objects",
                format!("at most {MAX_FUNCS} functions are supported"),
            ));
        }
        Ok(())
    }

    fn shadow_from(&mut self, spec: &Spec) -> Result<(), SpecError> {
        for (name, v) in &spec.shadow_vars {
            if self
                .shadow_vars
                .iter()
                .any(|w| w.parent == v.parent && w.id == v.id)
            {
                return Err(semantic(
                    format!("shadow_vars.{name}"),
                    format!(
                        "another variable already has parent `{}` and id `{}`",
                        v.parent, v.id
                    ),
                ));
            }
            self.shadow_vars.push(ShadowVar {
                name: name.clone(),
                parent: v.parent.clone(),
                id: v.id.clone(),
            });
        }
        if self.shadow_vars.len() > MAX_SHADOW_VARS {
            return Err(semantic(
                "shadow_vars",
                format!("at most {MAX_SHADOW_VARS} are supported"),
            ));
        }
        Ok(())
    }

    fn func(&self, path: &str, name: &str) -> Result<FuncId, SpecError> {
        self.funcs
            .iter()
            .position(|f| f.name == name)
            .map(|i| i as FuncId)
            .ok_or_else(|| {
                semantic(
                    path,
                    format!("unknown function `{name}` (declare it under `objects`)"),
                )
            })
    }

    fn shadow_mask(&self, path: &str, names: &[String]) -> Result<u64, SpecError> {
        let mut mask = 0;
        for (i, n) in names.iter().enumerate() {
            let idx = self
                .shadow_vars
                .iter()
                .position(|v| &v.name == n)
                .ok_or_else(|| {
                    semantic(
                        format!("{path}[{i}]"),
                        format!("unknown shadow variable `{n}` (declare it under `shadow_vars`)"),
                    )
                })?;
            mask |= 1 << idx;
        }
        Ok(mask)
    }

    fn shadow_id_mask(&self, path: &str, ids: &[String]) -> Result<u64, SpecError> {
        let mut mask = 0;
        for (i, id) in ids.iter().enumerate() {
            let m = self
                .shadow_vars
                .iter()
                .enumerate()
                .filter(|(_, v)| &v.id == id)
                .fold(0u64, |m, (j, _)| m | 1 << j);
            if m == 0 {
                return Err(semantic(
                    format!("{path}[{i}]"),
                    format!("no shadow variable has id `{id}`"),
                ));
            }
            mask |= m;
        }
        Ok(mask)
    }

    fn sysmod_mask(&self, path: &str, names: &[String]) -> Result<u64, SpecError> {
        let mut mask = 0;
        for (i, n) in names.iter().enumerate() {
            let idx = self.sysmods.iter().position(|m| m == n).ok_or_else(|| {
                semantic(
                    format!("{path}[{i}]"),
                    format!(
                        "unknown system modification `{n}` (list it under `system_modifications`)"
                    ),
                )
            })?;
            mask |= 1 << idx;
        }
        Ok(mask)
    }

    fn errno(&self, path: &str, e: &ErrnoSpec) -> Result<Ret, SpecError> {
        match e {
            ErrnoSpec::Number(0) => Ok(Ret::Zero),
            ErrnoSpec::Number(n) => u8::try_from(n.unsigned_abs())
                .map(Ret::Errno)
                .map_err(|_| semantic(path, format!("errno {n} is out of range"))),
            ErrnoSpec::Name(s) if s == "param" => Ok(Ret::Param),
            ErrnoSpec::Name(s) => match errno::parse(s) {
                Some(0) => Ok(Ret::Zero),
                Some(n) => Ok(Ret::Errno(n)),
                None => Err(semantic(
                    path,
                    format!(
                        "unknown errno `{s}` (use a name such as ENODEV, a number, or `param`)"
                    ),
                )),
            },
        }
    }

    /// The four callbacks of `struct klp_callbacks` (only pre_patch returns
    /// a value).
    fn callbacks(
        &self,
        cpath: &str,
        cb: &spec::CallbacksSpec,
    ) -> Result<[Option<Effects>; 4], SpecError> {
        let one = |name: &str, e: &Option<spec::Effects>, may_return: bool| {
            e.as_ref()
                .map(|e| self.effects(&format!("{cpath}.{name}"), e, true, may_return))
                .transpose()
        };
        Ok([
            one("pre_patch", &cb.pre_patch, true)?,
            one("post_patch", &cb.post_patch, false)?,
            one("pre_unpatch", &cb.pre_unpatch, false)?,
            one("post_unpatch", &cb.post_unpatch, false)?,
        ])
    }

    fn effects(
        &self,
        path: &str,
        e: &spec::Effects,
        default_log: bool,
        may_return: bool,
    ) -> Result<Effects, SpecError> {
        let ret = match &e.ret {
            None => Ret::Zero,
            Some(_) if !may_return => {
                return Err(semantic(
                    format!("{path}.ret"),
                    "only a pre_patch callback returns a value",
                ))
            }
            Some(r) => self.errno(&format!("{path}.ret"), r)?,
        };
        let if_prev_state = match &e.if_prev_state {
            None => None,
            Some(c) => {
                if c.id == 0 {
                    return Err(semantic(
                        format!("{path}.if_prev_state.id"),
                        "state id 0 ends the klp_state array; use a non-zero id",
                    ));
                }
                let then = self.effects(
                    &format!("{path}.if_prev_state.then"),
                    &c.then,
                    false,
                    may_return,
                )?;
                let otherwise = self.effects(
                    &format!("{path}.if_prev_state.else"),
                    &c.otherwise,
                    false,
                    may_return,
                )?;
                Some(Box::new((c.id, c.min_version, then, otherwise)))
            }
        };
        Ok(Effects {
            log: e.log.unwrap_or(default_log),
            emit: e.emit.clone(),
            shadow_alloc: self.shadow_mask(&format!("{path}.shadow_alloc"), &e.shadow_alloc)?,
            shadow_get_or_alloc: self.shadow_mask(
                &format!("{path}.shadow_get_or_alloc"),
                &e.shadow_get_or_alloc,
            )?,
            shadow_free: self.shadow_mask(&format!("{path}.shadow_free"), &e.shadow_free)?,
            shadow_free_all: self
                .shadow_id_mask(&format!("{path}.shadow_free_all"), &e.shadow_free_all)?,
            set: self.sysmod_mask(&format!("{path}.set"), &e.set)?,
            clear: self.sysmod_mask(&format!("{path}.clear"), &e.clear)?,
            ret,
            if_prev_state,
        })
    }

    fn patch(&self, name: &str, p: &spec::PatchSpec) -> Result<Patch, SpecError> {
        let base = format!("patches.{name}");
        if p.objects.is_empty() {
            return Err(semantic(
                format!("{base}.objects"),
                "a patch must name at least one object (klp_enable_patch returns -EINVAL for a patch without objects)",
            ));
        }
        let mut order: Vec<String> = match &p.object_order {
            Some(o) => {
                let mut sorted = o.clone();
                sorted.sort();
                let mut keys: Vec<String> = p.objects.keys().cloned().collect();
                keys.sort();
                if sorted != keys {
                    return Err(semantic(
                        format!("{base}.object_order"),
                        "must list exactly the patch's objects, each once",
                    ));
                }
                o.clone()
            }
            None => p.objects.keys().cloned().collect(),
        };
        if p.object_order.is_none() {
            order.sort_by_key(|n| n != "vmlinux");
        }
        let mut objects = Vec::new();
        let mut funcs_mask = 0u64;
        let mut objs_mask = 0u64;
        for oname in &order {
            let o = &p.objects[oname];
            let opath = format!("{base}.objects.{oname}");
            let obj = self
                .objects
                .iter()
                .position(|x| &x.name == oname)
                .ok_or_else(|| {
                    semantic(
                        &opath,
                        format!("unknown object `{oname}` (declare it under `objects`)"),
                    )
                })? as ObjId;
            objs_mask |= 1 << obj;
            let mut funcs = Vec::new();
            for (fname, code) in &o.funcs {
                let fpath = format!("{opath}.funcs.{fname}");
                let f = self.func(&fpath, fname)?;
                if self.funcs[f as usize].obj != obj {
                    return Err(semantic(
                        &fpath,
                        format!(
                            "function `{fname}` belongs to object `{}`, not `{oname}`",
                            self.objects[self.funcs[f as usize].obj as usize].name
                        ),
                    ));
                }
                funcs_mask |= 1 << f;
                funcs.push((
                    f,
                    Code {
                        uses_shadow: self
                            .shadow_mask(&format!("{fpath}.uses_shadow"), &code.uses_shadow)?,
                        uses_shadow_if_present: self.shadow_mask(
                            &format!("{fpath}.uses_shadow_if_present"),
                            &code.uses_shadow_if_present,
                        )?,
                        allocates_shadow: self.shadow_mask(
                            &format!("{fpath}.allocates_shadow"),
                            &code.allocates_shadow,
                        )?,
                        frees_shadow: self
                            .shadow_mask(&format!("{fpath}.frees_shadow"), &code.frees_shadow)?,
                        needs: self.sysmod_mask(&format!("{fpath}.needs"), &code.needs)?,
                        conflicts: self
                            .sysmod_mask(&format!("{fpath}.conflicts"), &code.conflicts)?,
                        emit: code.emit.clone(),
                    },
                ));
            }
            let cb = &o.callbacks;
            let cpath = format!("{opath}.callbacks");
            let callbacks = self.callbacks(&cpath, cb)?;
            let patch_fails = match &o.patch_fails {
                None => 0,
                Some(e) => match self.errno(&format!("{opath}.patch_fails"), e)? {
                    Ret::Errno(n) => n,
                    _ => {
                        return Err(semantic(
                            format!("{opath}.patch_fails"),
                            "must be an errno such as EBUSY",
                        ))
                    }
                },
            };
            objects.push(PatchObject {
                obj,
                patch_fails,
                funcs,
                callbacks,
            });
        }
        let mut states = Vec::new();
        for (i, s) in p.states.iter().enumerate() {
            if s.id == 0 {
                return Err(semantic(
                    format!("{base}.states[{i}].id"),
                    "state id 0 ends the klp_state array; use a non-zero id",
                ));
            }
            if states.iter().any(|(id, _)| *id == s.id) {
                return Err(semantic(
                    format!("{base}.states[{i}].id"),
                    format!("state id {} is listed twice", s.id),
                ));
            }
            states.push((s.id, s.version));
        }
        let mut state_defs = Vec::new();
        for (i, st) in p.states.iter().enumerate() {
            let cpath = format!("{base}.states[{i}].callbacks");
            let cb = &st.callbacks;
            let callbacks = self.callbacks(&cpath, cb)?;
            let id_text = st.id.to_string();
            let shadow_mask = if st.is_shadow {
                self.shadow_vars
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.id == id_text)
                    .fold(0u64, |m, (j, _)| m | 1 << j)
            } else {
                0
            };
            state_defs.push(StateDef {
                id: st.id,
                callbacks,
                is_shadow: st.is_shadow,
                block_disable: st.block_disable,
                shadow_mask,
            });
        }
        let module_exit = match &p.module_exit {
            None => Effects::default(),
            Some(e) => self.effects(&format!("{base}.module_exit"), e, false, false)?,
        };
        let pre_patch_ret = match &p.pre_patch_ret {
            None => 0,
            Some(e) => match self.errno(&format!("{base}.pre_patch_ret"), e)? {
                Ret::Zero => 0,
                Ret::Errno(n) => n,
                Ret::Param => {
                    return Err(semantic(
                        format!("{base}.pre_patch_ret"),
                        "must be a number or errno name",
                    ))
                }
            },
        };
        let shadow_ids_used = self.ids_closure(
            objects
                .iter()
                .flat_map(|o| {
                    o.funcs
                        .iter()
                        .map(|(_, c)| {
                            c.uses_shadow
                                | c.uses_shadow_if_present
                                | c.allocates_shadow
                                | c.frees_shadow
                        })
                        .chain(o.callbacks.iter().flatten().map(effects_shadow))
                })
                .chain(state_defs.iter().flat_map(|d| {
                    d.callbacks
                        .iter()
                        .flatten()
                        .map(effects_shadow)
                        .chain(std::iter::once(d.shadow_mask))
                }))
                .chain(std::iter::once(effects_shadow(&module_exit)))
                .fold(0, |m, x| m | x),
        );
        Ok(Patch {
            name: name.to_string(),
            module: p.module.clone().unwrap_or_else(|| name.to_string()),
            replace: p.replace,
            immediate: p.immediate,
            objects,
            funcs_mask,
            objs_mask,
            states,
            module_exit,
            no_module_exit: p.no_module_exit,
            pre_patch_ret,
            replace_set: p.replace_set.unwrap_or(0),
            override_replace_sets: p.override_replace_sets.clone(),
            replaceable: p.replaceable.unwrap_or(true),
            shadow_ids_used,
            state_defs,
        })
    }

    /// Every shadow variable that shares an id with one in `mask`.
    fn ids_closure(&self, mask: u64) -> u64 {
        let mut out = mask;
        for (i, v) in self.shadow_vars.iter().enumerate() {
            if mask & (1 << i) != 0 {
                for (j, w) in self.shadow_vars.iter().enumerate() {
                    if w.id == v.id {
                        out |= 1 << j;
                    }
                }
            }
        }
        out
    }

    fn tasks(
        &self,
        t: &spec::TasksSpec,
        patches: &[Patch],
        scripted: bool,
    ) -> Result<Tasks, SpecError> {
        if t.count == 0 && !scripted {
            return Err(semantic(
                "tasks.count",
                "a scenario needs at least one task (tasks.count >= 1)",
            ));
        }
        if t.count > MAX_TASKS {
            return Err(semantic(
                "tasks.count",
                format!("{} tasks is more than the supported {MAX_TASKS}", t.count),
            ));
        }
        if t.count.saturating_add(t.forks) > MAX_TASKS {
            return Err(semantic(
                "tasks.forks",
                format!(
                    "{} tasks and {} forks is more than the supported {MAX_TASKS} tasks",
                    t.count, t.forks
                ),
            ));
        }
        if !t.exit && !t.exit_calls.is_empty() {
            return Err(semantic(
                "tasks.exit_calls",
                "exit_calls needs tasks.exit: true",
            ));
        }
        if t.max_depth == 0 || t.max_depth > MAX_DEPTH {
            return Err(semantic(
                "tasks.max_depth",
                format!("must be between 1 and {MAX_DEPTH}"),
            ));
        }
        let entry = match &t.entry {
            None => patches.iter().fold(0, |m, p| m | p.funcs_mask),
            Some(names) => {
                let mut m = 0u64;
                for (i, n) in names.iter().enumerate() {
                    m |= 1 << self.func(&format!("tasks.entry[{i}]"), n)?;
                }
                m
            }
        };
        let mut calls = vec![0u64; self.funcs.len()];
        for (caller, callees) in &t.calls {
            let c = self.func(&format!("tasks.calls.{caller}"), caller)?;
            for (i, n) in callees.iter().enumerate() {
                calls[c as usize] |= 1 << self.func(&format!("tasks.calls.{caller}[{i}]"), n)?;
            }
        }
        let mut exit_calls = 0u64;
        for (i, n) in t.exit_calls.iter().enumerate() {
            exit_calls |= 1 << self.func(&format!("tasks.exit_calls[{i}]"), n)?;
        }
        Ok(Tasks {
            count: t.count,
            max_depth: t.max_depth,
            entry,
            calls,
            kind: t.kind,
            forks: t.forks,
            exit: t.exit,
            exit_calls,
        })
    }

    fn admin(&self, a: &spec::AdminSpec, patches: &[Patch]) -> Result<Admin, SpecError> {
        let mut max_loads = vec![1u8; patches.len()];
        for (name, n) in &a.insmod {
            let i = patches
                .iter()
                .position(|p| &p.name == name)
                .ok_or_else(|| {
                    semantic(
                        format!("admin.insmod.{name}"),
                        format!("unknown patch `{name}`"),
                    )
                })?;
            if *n > MAX_LOADS {
                return Err(semantic(
                    format!("admin.insmod.{name}"),
                    format!("{n} insmods is more than the supported {MAX_LOADS}"),
                ));
            }
            max_loads[i] = *n as u8;
        }
        let (mut target_load, mut target_unload) = (0u64, 0u64);
        for (name, t) in &a.target_modules {
            let path = format!("admin.target_modules.{name}");
            let obj = self
                .objects
                .iter()
                .position(|o| &o.name == name)
                .ok_or_else(|| semantic(&path, format!("unknown object `{name}`")))?;
            if obj == VMLINUX as usize {
                return Err(semantic(&path, "vmlinux cannot be loaded or unloaded"));
            }
            if t.load {
                target_load |= 1 << obj;
            }
            if t.unload {
                target_unload |= 1 << obj;
            }
        }
        Ok(Admin {
            max_loads,
            disable: a.disable,
            enable: a.enable,
            force: a.force,
            rmmod: a.rmmod,
            target_load,
            target_unload,
        })
    }
}

/// The shadow variables an [`Effects`] touches (its klp_get_prev_state
/// branches included).
fn effects_shadow(e: &Effects) -> u64 {
    let own = e.shadow_alloc | e.shadow_get_or_alloc | e.shadow_free | e.shadow_free_all;
    own | e
        .if_prev_state
        .as_ref()
        .map_or(0, |b| effects_shadow(&b.2) | effects_shadow(&b.3))
}

fn known_profiles() -> String {
    Profile::ALL
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn known_variants() -> String {
    Variant::ALL
        .iter()
        .map(|v| v.name())
        .collect::<Vec<_>>()
        .join(", ")
}
