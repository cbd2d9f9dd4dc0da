//! Reading a case: an oracle file (`patches` alias -> test module, `steps`,
//! `expected_events`) or a scenario of specs/ with a `script`. Both become a
//! compiled scenario plus steps.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use klp_model::spec::{ObjectSpec, Spec, TasksSpec, SPEC_VERSION};
use klp_model::{parse_spec, Scenario};
use serde_json::{Map, Value};

use super::library::{Library, ModuleKind};

/// Every step op the runner knows (docs/script-vocabulary.md, "Steps"): the
/// selftests' helpers, the lab's and klpcheck's own.
pub const STEP_OPS: &[&str] = &[
    "load_livepatch",
    "load_livepatch_nowait",
    "wait_transition_stalled",
    "load_livepatch_expect_failure",
    "load_module",
    "load_module_expect_failure",
    "unload_module",
    "disable_livepatch",
    "set_pre_patch_ret",
    "observe",
    "assert_proc",
    "assert_livepatch_count",
    "wait_livepatch_count",
    "check_sysfs",
    "set_ftrace_enabled",
    "enable_kprobes",
    "trace_function",
    "check_traced_functions",
    "spawn_getpid_loops",
    "wait_npids_zero",
    "log_npids",
    "kill_getpid_loops",
    // The lab's ops (lab/README.md, lab/guest/init.sh):
    "force_livepatch",
    "write_enabled",
    "set_param",
    "try_unload_module",
    "wait_transition",
    "wait_livepatch_gone",
    "sleep",
    "show_state",
    "start_workload",
    "stop_workload",
    "read_patch_state",
    "read_forked_patch_state",
    "show_param",
    "set_dynamic_debug",
    // klpcheck's own ops, for counterexamples written by `check --out`
    // (reports/src/reproducer.rs): they do not wait.
    "transition_work",
    "free_work",
    "task_call",
    "task_return",
    "task_fork",
    "task_exit",
    "task_dead",
    "kernel_continue",
    "idle_loop",
];

/// Ops that drive the model's tasks directly: a script that uses them gets no
/// test-module workers or init programs (its tasks are the scenario's own).
pub const TASK_OPS: &[&str] = &[
    "task_call",
    "task_return",
    "task_fork",
    "task_exit",
    "task_dead",
];

/// One step: its op and arguments.
#[derive(Debug, Clone)]
pub struct Step {
    pub op: String,
    pub args: Map<String, Value>,
    /// The keys of `args.params` in file order (`args` itself is sorted):
    /// `cmd_load` prints the parameters as the command line had them.
    pub param_order: Vec<String>,
}

impl Step {
    /// `op(k=v, ...)` for messages.
    pub fn describe(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "note" | "logged"))
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                )
            })
            .collect();
        format!("{}({})", self.op, args.join(", "))
    }
}

/// A case ready to run.
pub struct Case {
    pub name: String,
    pub scenario: Scenario,
    pub steps: Vec<Step>,
    pub expected_events: Option<Vec<String>>,
    /// Task slots: the worker of each target module that has one.
    pub workers: BTreeMap<String, usize>,
    /// Task slots of the getpid loops (spawn_getpid_loops).
    pub hammers: Vec<usize>,
    /// The script drives the tasks itself (`task_call`, `task_return`).
    pub explicit_tasks: bool,
}

/// How many getpid loops the model runs for `spawn_getpid_loops`.
pub const HAMMERS: usize = 2;

/// Loads an oracle file or a scripted scenario.
pub fn load_case(path: &Path, lib: &Library) -> Result<Case, String> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{shown}:{}:{}: {e}", e.line(), e.column()))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut case = if value.get("spec_version").is_some() {
        let spec = parse_spec(&text).map_err(|e| format!("{shown}:{e}"))?;
        from_spec(&spec, &stem, lib).map_err(|e| format!("{shown}: {e}"))
    } else {
        from_oracle(&value, &stem, lib).map_err(|e| format!("{shown}: {e}"))
    }?;
    set_param_order(&text, &mut case.steps);
    Ok(case)
}

/// The keys of a JSON object in file order (serde_json's `Map` sorts them).
#[derive(Default)]
struct KeyOrder(Vec<String>);

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<KeyOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    m.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(KeyOrder(keys))
            }
        }
        d.deserialize_map(Keys)
    }
}

#[derive(serde::Deserialize, Default)]
struct OrderDoc {
    #[serde(default)]
    steps: Vec<OrderStep>,
    #[serde(default)]
    script: Vec<OrderStep>,
}

#[derive(serde::Deserialize, Default)]
struct OrderStep {
    #[serde(default)]
    args: Option<OrderArgs>,
}

#[derive(serde::Deserialize, Default)]
struct OrderArgs {
    #[serde(default)]
    params: Option<KeyOrder>,
}

/// Fills each step's `param_order` from the file text (`steps` or `script`).
fn set_param_order(text: &str, steps: &mut [Step]) {
    let doc: OrderDoc = serde_json::from_str(text).unwrap_or_default();
    let list = if doc.steps.is_empty() {
        doc.script
    } else {
        doc.steps
    };
    for (step, o) in steps.iter_mut().zip(list) {
        if let Some(KeyOrder(keys)) = o.args.and_then(|a| a.params) {
            step.param_order = keys;
        }
    }
}

fn parse_steps(steps: &Value, at: &str) -> Result<Vec<Step>, String> {
    let list = steps
        .as_array()
        .ok_or_else(|| format!("at `{at}`: must be an array of steps"))?;
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let op = s
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("at `{at}[{i}].op`: missing step op"))?;
        if !STEP_OPS.contains(&op) {
            return Err(format!(
                "at `{at}[{i}].op`: unknown step op `{op}` (known: {})",
                STEP_OPS.join(", ")
            ));
        }
        let args = match s.get("args") {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(format!("at `{at}[{i}].args`: must be an object")),
        };
        out.push(Step {
            op: op.to_string(),
            args,
            param_order: vec![],
        });
    }
    Ok(out)
}

fn expected(value: &Value, at: &str) -> Result<Option<Vec<String>>, String> {
    match value.get("expected_events") {
        None => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, e)| {
                e.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("at `{at}[{i}]`: must be a string"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("at `{at}`: must be an array of strings")),
    }
}

/// Target modules the steps load, unload or set a parameter of (in first-use
/// order); a patch alias, or the module of one, is not a target.
fn target_modules_of(steps: &[Step], aliases: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for s in steps {
        if matches!(
            s.op.as_str(),
            "load_module"
                | "unload_module"
                | "load_module_expect_failure"
                | "try_unload_module"
                | "set_param"
        ) {
            if let Some(m) = s.args.get("module").and_then(Value::as_str) {
                let is_patch = aliases.contains_key(m) || aliases.values().any(|v| v == m);
                if !is_patch && !out.iter().any(|x| x == m) {
                    out.push(m.to_string());
                }
            }
        }
    }
    out
}

fn from_oracle(value: &Value, stem: &str, lib: &Library) -> Result<Case, String> {
    let name = value
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or(stem)
        .to_string();
    let patches = value
        .get("patches")
        .and_then(Value::as_object)
        .ok_or("at `patches`: missing object of patch aliases")?;
    let mut aliases = BTreeMap::new();
    for (alias, p) in patches {
        let module = p
            .get("module")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("at `patches.{alias}.module`: missing module name"))?;
        aliases.insert(alias.clone(), module.to_string());
    }
    let steps = parse_steps(value.get("steps").unwrap_or(&Value::Null), "steps")?;
    let mut spec = Spec {
        spec_version: SPEC_VERSION,
        name: Some(name.clone()),
        description: None,
        profile: None,
        variant: None,
        objects: BTreeMap::new(),
        shadow_vars: BTreeMap::new(),
        system_modifications: vec![],
        // An oracle file may say how many CPUs its machine had (the
        // selftests ran on SMP machines: the default).
        cpus: match value.get("cpus") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or("at `cpus`: must be a number of CPUs")?,
            ),
        },
        stack_check_oob: Default::default(),
        patches: BTreeMap::new(),
        tasks: TasksSpec {
            count: 0,
            max_depth: 2,
            entry: Some(vec![]),
            calls: BTreeMap::new(),
            kind: Default::default(),
            ..Default::default()
        },
        admin: Default::default(),
        fairness: Default::default(),
        plans: Default::default(),
        // The safety properties the case reaches a violation of on purpose
        // (a forced transition breaks consistent-universe): `klpcheck run`
        // checks every state and reports these without failing.
        expect: match value.get("expect") {
            None => BTreeMap::new(),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                format!("at `expect`: {e} (an object of property id: \"holds\" or \"violated\")")
            })?,
        },
        expect_by_profile: BTreeMap::new(),
        expected_unique_states: None,
        script: Some(vec![]),
        expected_events: None,
    };
    let mut declare = |objects: &BTreeMap<String, ObjectSpec>| {
        for (oname, o) in objects {
            let entry = spec.objects.entry(oname.clone()).or_default();
            for f in &o.funcs {
                if !entry.funcs.contains(f) {
                    entry.funcs.push(f.clone());
                }
            }
            entry.logs |= o.logs;
        }
    };
    for (alias, module) in &aliases {
        let def = lib.get(module).ok_or_else(|| {
            format!(
                "at `patches.{alias}.module`: unknown test module `{module}` (known: {})",
                lib.names()
            )
        })?;
        if def.kind != ModuleKind::Livepatch {
            return Err(format!(
                "at `patches.{alias}.module`: `{module}` is not a livepatch module"
            ));
        }
        declare(&def.objects);
    }
    let targets = target_modules_of(&steps, &aliases);
    for m in &targets {
        let def = lib
            .get(m)
            .ok_or_else(|| format!("steps use unknown module `{m}` (known: {})", lib.names()))?;
        if def.kind != ModuleKind::Target {
            return Err(format!("steps load `{m}` as a target module, but it is a livepatch module without an alias"));
        }
        declare(&def.objects);
    }
    for m in targets.iter().chain(aliases.values()) {
        for (n, v) in &lib.modules[m].shadow_vars {
            spec.shadow_vars.insert(n.clone(), v.clone());
        }
    }
    for (alias, module) in &aliases {
        let def = &lib.modules[module];
        let mut p = def.patch.clone().unwrap_or_default();
        p.module = Some(module.clone());
        spec.patches.insert(alias.clone(), p);
    }
    let mut workers = BTreeMap::new();
    for m in &targets {
        if lib.modules[m].worker.is_some() {
            workers.insert(m.clone(), workers.len());
        }
    }
    let mut hammers = Vec::new();
    if steps.iter().any(|s| s.op == "spawn_getpid_loops") {
        hammers = (workers.len()..workers.len() + HAMMERS).collect();
    }
    // the lab's workloads (start_workload): one task each, after the others
    let workloads: BTreeSet<&str> = steps
        .iter()
        .filter(|s| s.op == "start_workload")
        .filter_map(|s| s.args.get("name").and_then(Value::as_str))
        .collect();
    spec.tasks.count = (workers.len() + hammers.len() + workloads.len()) as u32;
    let scenario = Scenario::compile(&spec, stem).map_err(|e| e.to_string())?;
    Ok(Case {
        name,
        scenario,
        steps,
        expected_events: expected(value, "expected_events")?,
        workers,
        hammers,
        explicit_tasks: false,
    })
}

pub fn from_spec(spec: &Spec, stem: &str, lib: &Library) -> Result<Case, String> {
    let script = spec
        .script
        .as_ref()
        .ok_or("this scenario has no `script` to run (use `klpcheck check` for a search)")?;
    let steps = parse_steps(&Value::Array(script.clone()), "script")?;
    let scenario = Scenario::compile(spec, stem).map_err(|e| e.to_string())?;
    let explicit_tasks = steps.iter().any(|s| TASK_OPS.contains(&s.op.as_str()));
    let mut workers = BTreeMap::new();
    let mut next = 0usize;
    for o in &scenario.objects {
        if !explicit_tasks && lib.get(&o.name).is_some_and(|d| d.worker.is_some()) {
            workers.insert(o.name.clone(), next);
            next += 1;
        }
    }
    let hammers = if steps.iter().any(|s| s.op == "spawn_getpid_loops") {
        (next..next + HAMMERS).collect()
    } else {
        vec![]
    };
    if (next + hammers.len()) as u32 > scenario.tasks.count {
        return Err(format!(
            "the script needs {} tasks (module workers and getpid loops) but tasks.count is {}",
            next + hammers.len(),
            scenario.tasks.count
        ));
    }
    Ok(Case {
        name: scenario.name.clone(),
        expected_events: spec.expected_events.clone(),
        scenario,
        steps,
        workers,
        hammers,
        explicit_tasks,
    })
}
