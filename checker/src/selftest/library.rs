//! The kernel's livepatch test modules, and the lab's own modules
//! (lab/modules/*.c), as definitions the runner builds scenarios from
//! (specs/selftests/modules/*.json, compiled into the binary so `klpcheck run`
//! works from any directory).

use std::collections::BTreeMap;

use klp_model::spec::{ObjectSpec, PatchSpec, ShadowVarSpec};
use serde::Deserialize;

/// A test module: a livepatch (with its `struct klp_patch`) or a target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleDef {
    pub module: String,
    pub kind: ModuleKind,
    #[serde(default)]
    pub description: String,
    /// Objects (and their functions) this module defines or refers to.
    #[serde(default)]
    pub objects: BTreeMap<String, ObjectSpec>,
    /// For a livepatch module: its patch.
    #[serde(default)]
    pub patch: Option<PatchSpec>,
    /// Module parameters it accepts on insmod.
    #[serde(default)]
    pub params: Vec<String>,
    /// /proc files and the function that prints them.
    #[serde(default)]
    pub proc: BTreeMap<String, String>,
    /// A kernel task the module starts in its init that runs one of its
    /// functions: a work item run once, or a kthread calling it in a loop.
    #[serde(default)]
    pub worker: Option<WorkerDef>,
    /// For a livepatch module: what its new code does beyond the patch's
    /// `emit`, by the old function's name (e.g. sleep while a parameter is set).
    #[serde(default)]
    pub code: BTreeMap<String, NewCodeDef>,
    /// A counter of listed pids that have not yet run the patched function.
    #[serde(default)]
    pub pid_counter: Option<PidCounterDef>,
    /// Shadow variables the module uses.
    #[serde(default)]
    pub shadow_vars: BTreeMap<String, ShadowVarSpec>,
    /// What module init does with them (see `shadow_program`).
    #[serde(default)]
    pub init_program: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModuleKind {
    Livepatch,
    Target,
}

/// A kernel task a target module starts in its init, running `func` (the
/// module's own function, which livepatches may redirect).
///
/// * `repeat: false` (test_klp_callbacks_busy): init queues a work item that
///   calls `func` once and waits until the worker has entered the *original*
///   function (a completion only the original signals), so init never returns
///   when a patch already redirects `func`. Module exit clears `block_param`
///   and flushes the work.
/// * `repeat: true` (test_klp_lab_target): init starts a kthread that calls
///   `func` every 50 ms and sleeps *between* calls outside it; module exit
///   stops the kthread (kthread_stop waits until it is back in its loop).
///
/// While the original function runs, it sleeps as long as the module's bool
/// parameter `block_param` is set; patched code sleeps as its livepatch
/// module's [`NewCodeDef`] says.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerDef {
    pub func: String,
    /// The worker calls `func` again and again (a kthread loop).
    #[serde(default)]
    pub repeat: bool,
    /// Log event when the original function is entered (`{module}` replaced).
    #[serde(default)]
    pub enter: Option<String>,
    /// Log event when the original function leaves.
    #[serde(default)]
    pub exit: Option<String>,
    /// The module's bool parameter that keeps the original function sleeping.
    #[serde(default)]
    pub block_param: Option<String>,
}

/// What a livepatch module's new function does when a task runs it, beyond
/// the patch's `emit` lines: it sleeps inside the new function (so its
/// return address is in `[new_func, new_func + new_size)`, where the stack
/// check sees it) while the module's bool parameter `blocks_on_param` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCodeDef {
    pub blocks_on_param: String,
    /// Log event when it starts to sleep (`{patch}` replaced by the patch's name).
    #[serde(default)]
    pub on_block: Option<String>,
    /// Log event when the parameter is cleared and it returns.
    #[serde(default)]
    pub on_release: Option<String>,
}

/// test_klp_syscall's npids counter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PidCounterDef {
    pub param: String,
    pub func: String,
}

const SOURCES: &[(&str, &str)] = &[
    (
        "livepatch_shadow_fix1",
        include_str!("../../../specs/selftests/modules/livepatch_shadow_fix1.json"),
    ),
    (
        "livepatch_shadow_fix2",
        include_str!("../../../specs/selftests/modules/livepatch_shadow_fix2.json"),
    ),
    (
        "livepatch_shadow_mod",
        include_str!("../../../specs/selftests/modules/livepatch_shadow_mod.json"),
    ),
    (
        "test_klp_lab_conc_target",
        include_str!("../../../specs/selftests/modules/test_klp_lab_conc_target.json"),
    ),
    (
        "test_klp_lab_oob",
        include_str!("../../../specs/selftests/modules/test_klp_lab_oob.json"),
    ),
    (
        "test_klp_lab_shadow_p1",
        include_str!("../../../specs/selftests/modules/test_klp_lab_shadow_p1.json"),
    ),
    (
        "test_klp_lab_shadow_p2",
        include_str!("../../../specs/selftests/modules/test_klp_lab_shadow_p2.json"),
    ),
    (
        "test_klp_lab_stack_p1",
        include_str!("../../../specs/selftests/modules/test_klp_lab_stack_p1.json"),
    ),
    (
        "test_klp_lab_stack_p2",
        include_str!("../../../specs/selftests/modules/test_klp_lab_stack_p2.json"),
    ),
    (
        "test_klp_atomic_replace",
        include_str!("../../../specs/selftests/modules/test_klp_atomic_replace.json"),
    ),
    (
        "test_klp_callbacks_busy",
        include_str!("../../../specs/selftests/modules/test_klp_callbacks_busy.json"),
    ),
    (
        "test_klp_callbacks_demo",
        include_str!("../../../specs/selftests/modules/test_klp_callbacks_demo.json"),
    ),
    (
        "test_klp_callbacks_demo2",
        include_str!("../../../specs/selftests/modules/test_klp_callbacks_demo2.json"),
    ),
    (
        "test_klp_callbacks_mod",
        include_str!("../../../specs/selftests/modules/test_klp_callbacks_mod.json"),
    ),
    (
        "test_klp_lab_patch",
        include_str!("../../../specs/selftests/modules/test_klp_lab_patch.json"),
    ),
    (
        "test_klp_lab_patch2",
        include_str!("../../../specs/selftests/modules/test_klp_lab_patch2.json"),
    ),
    (
        "test_klp_lab_target",
        include_str!("../../../specs/selftests/modules/test_klp_lab_target.json"),
    ),
    (
        "test_klp_livepatch",
        include_str!("../../../specs/selftests/modules/test_klp_livepatch.json"),
    ),
    (
        "test_klp_mod_patch",
        include_str!("../../../specs/selftests/modules/test_klp_mod_patch.json"),
    ),
    (
        "test_klp_mod_target",
        include_str!("../../../specs/selftests/modules/test_klp_mod_target.json"),
    ),
    (
        "test_klp_state",
        include_str!("../../../specs/selftests/modules/test_klp_state.json"),
    ),
    (
        "test_klp_state2",
        include_str!("../../../specs/selftests/modules/test_klp_state2.json"),
    ),
    (
        "test_klp_state3",
        include_str!("../../../specs/selftests/modules/test_klp_state3.json"),
    ),
    (
        "test_klp_shadow_vars",
        include_str!("../../../specs/selftests/modules/test_klp_shadow_vars.json"),
    ),
    (
        "test_klp_syscall",
        include_str!("../../../specs/selftests/modules/test_klp_syscall.json"),
    ),
];

/// The module library.
pub struct Library {
    pub modules: BTreeMap<String, ModuleDef>,
}

impl Library {
    /// The modules shipped with klpcheck.
    pub fn builtin() -> Library {
        let mut modules = BTreeMap::new();
        for (name, text) in SOURCES {
            let def: ModuleDef = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("built-in module definition {name} is invalid: {e}"));
            assert_eq!(
                &def.module, name,
                "module definition file name and `module` differ"
            );
            modules.insert(def.module.clone(), def);
        }
        Library { modules }
    }

    pub fn get(&self, name: &str) -> Option<&ModuleDef> {
        self.modules.get(name)
    }

    pub fn names(&self) -> String {
        self.modules.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// The function behind a /proc file, from any module that defines it.
    pub fn proc_func(&self, file: &str) -> Option<&str> {
        self.modules
            .values()
            .find_map(|m| m.proc.get(file).map(String::as_str))
    }
}
