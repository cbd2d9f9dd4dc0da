//! The step function, one kernel operation at a time.
//!
//! Each test builds a small scenario inline, steps it with
//! `KlpModel::step_with_events` and checks the resulting `State` and the
//! events, in exact order, as the kernel would print them (the oracle
//! vocabulary of docs/script-vocabulary.md). Each test's doc comment names
//! the kernel function it stands for. Where the model and the kernel disagree
//! the test is written as the kernel behaves and marked `#[ignore]` with the
//! reason.

use klp_model::klp_state::klp_is_patch_compatible;
use klp_model::patch::klp_ftrace_handler;
use klp_model::properties::{property, PROPERTIES, PROPERTY_IDS};
use klp_model::scenario::{FuncId, ObjId, PatchId};
use klp_model::state::{Frame, Impl, KlpState, Life};
use klp_model::{parse_spec, Action, InsmodParams, KlpModel, Scenario, State};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// All four callbacks of an object, each logging its test-module line.
const CB: &str = r#"{"pre_patch":{},"post_patch":{},"pre_unpatch":{},"post_unpatch":{}}"#;

/// A compiled scenario with name lookups and stepping helpers.
struct Sys {
    m: KlpModel,
}

impl Sys {
    /// Parses and compiles `json`; `@CB` stands for [`CB`].
    fn new(json: &str) -> Sys {
        let text = json.replace("@CB", CB);
        let spec = parse_spec(&text).unwrap_or_else(|e| panic!("test spec does not parse: {e}"));
        let sc = Scenario::compile(&spec, "test")
            .unwrap_or_else(|e| panic!("test spec does not compile: {e}"));
        Sys {
            m: KlpModel::new(sc),
        }
    }

    fn sc(&self) -> &Scenario {
        &self.m.sc
    }

    fn p(&self, name: &str) -> PatchId {
        self.sc()
            .patch_by_name(name)
            .unwrap_or_else(|| panic!("no patch {name}"))
    }

    fn f(&self, name: &str) -> FuncId {
        self.sc()
            .func_by_name(name)
            .unwrap_or_else(|| panic!("no function {name}"))
    }

    fn o(&self, name: &str) -> ObjId {
        self.sc()
            .object_by_name(name)
            .unwrap_or_else(|| panic!("no object {name}"))
    }

    /// Bit of a shadow variable in `State::shadow`.
    fn var(&self, name: &str) -> u64 {
        let i = self
            .sc()
            .shadow_vars
            .iter()
            .position(|v| v.name == name)
            .expect("shadow var");
        1 << i
    }

    /// Bit of a system modification in `State::sysmods`.
    fn sysmod(&self, name: &str) -> u64 {
        let i = self
            .sc()
            .sysmods
            .iter()
            .position(|m| m == name)
            .expect("sysmod");
        1 << i
    }

    fn boot(&self) -> State {
        self.m.boot()
    }

    /// One step; the logged events (kernel log lines), rendered.
    fn step(&self, s: &State, a: &Action) -> (State, Vec<String>) {
        let (next, events) = self.m.step_command(s, a);
        let lines = events
            .iter()
            .filter(|e| e.is_logged())
            .map(|e| e.oracle(self.sc()))
            .collect();
        (next, lines)
    }

    /// One step; every event, silent ones included, rendered, except the
    /// idle tasks' switches (model/tests/concurrency.rs checks those).
    fn step_all(&self, s: &State, a: &Action) -> (State, Vec<String>) {
        let (next, events) = self.m.step_command(s, a);
        let lines = events
            .iter()
            .filter(|e| !matches!(e, klp_model::Event::IdleSwitched { .. }))
            .map(|e| e.oracle(self.sc()))
            .collect();
        (next, lines)
    }

    /// Several steps, events ignored.
    fn run(&self, s: &State, actions: &[Action]) -> State {
        actions
            .iter()
            .fold(s.clone(), |s, a| self.m.step_command(&s, a).0)
    }

    fn insmod(&self, p: &str) -> Action {
        Action::Insmod(self.p(p), InsmodParams::default())
    }

    fn enable(&self, p: &str) -> Action {
        Action::WriteEnabled(self.p(p), true)
    }

    fn disable(&self, p: &str) -> Action {
        Action::WriteEnabled(self.p(p), false)
    }

    fn force(&self, p: &str) -> Action {
        Action::WriteForce(self.p(p))
    }

    fn rmmod(&self, p: &str) -> Action {
        Action::Rmmod(self.p(p))
    }

    fn free_work(&self, p: &str) -> Action {
        Action::FreeWork(self.p(p))
    }

    fn load(&self, m: &str) -> Action {
        Action::LoadModule(self.o(m))
    }

    fn unload(&self, m: &str) -> Action {
        Action::UnloadModule(self.o(m))
    }

    /// Task `task` (0-based) calls `f`.
    fn call(&self, task: u8, f: &str) -> Action {
        Action::Call {
            task,
            func: self.f(f),
        }
    }

    fn ret(&self, task: u8) -> Action {
        Action::Return { task }
    }

    /// The implementation that patch `p`'s current instance installs.
    fn code(&self, s: &State, p: &str) -> Impl {
        Impl::Patch {
            patch: self.p(p),
            load: s.patch(self.p(p)).loads,
        }
    }

    fn stack(&self, s: &State, f: &str) -> Vec<PatchId> {
        s.func_stacks[self.f(f) as usize].to_vec()
    }

    fn holds(&self, id: &str, s: &State) -> bool {
        let prop = property(id).unwrap_or_else(|| panic!("no property {id}"));
        (prop.check)(self.sc(), s)
    }
}

fn bit(i: u8) -> u64 {
    1 << i
}

/// Every task idle with TIF_PATCH_PENDING clear and no transition.
fn assert_quiescent(s: &State) {
    assert_eq!(s.klp_transition_patch, None);
    assert_eq!(s.klp_target_state, KlpState::Idle);
    for t in &s.tasks {
        assert_eq!(t.patch_state, KlpState::Idle);
        assert!(!t.tif_patch_pending);
    }
}

// ---------------------------------------------------------------------------
// klp_enable_patch
// ---------------------------------------------------------------------------

const ONE_FUNC: &str = r#"{"spec_version":1,
    "objects":{"vmlinux":{"funcs":["f"]}},
    "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}}}}}}}"#;

/// core.c:klp_enable_patch + __klp_enable_patch: with no task in the kernel
/// the first klp_try_complete_transition inside module_init completes the
/// patching transition; no callbacks, nothing else printed.
#[test]
fn enable_without_callbacks_completes_inside_insmod() {
    let k = Sys::new(ONE_FUNC);
    let p1 = k.p("P1");
    let (s, all) = k.step_all(&k.boot(), &k.insmod("P1"));
    assert_eq!(
        all,
        [
            "enabling(P1)",
            "transition_init(P1,patching)",
            "transition_start(P1,patching)",
            "task_switched(1,patching,stack_check)",
            "transition_completing(P1,patching)",
            "transition_complete(P1,patching)",
        ]
    );
    assert_eq!(s.klp_patches[..], [p1]);
    let rec = s.patch(p1);
    assert_eq!(rec.life, Life::Listed);
    assert_eq!(rec.loads, 1);
    assert!(rec.enabled && !rec.forced && !rec.transition && !rec.replace);
    assert_eq!(rec.nops, 0);
    assert_eq!(rec.obj_patched, bit(k.o("vmlinux")));
    // klp_pre_patch_callback sets post_unpatch_enabled even without a callback.
    assert_eq!(rec.post_unpatch_enabled, bit(k.o("vmlinux")));
    assert_eq!(k.stack(&s, "f"), [p1]);
    assert_quiescent(&s);
    assert_eq!(s.violations, 0);
}

/// core.c:__klp_enable_patch: pre_patch then patch for each *loaded* object
/// in obj_list order, then start; transition.c:klp_complete_transition:
/// post_patch for each loaded object. An object of an unloaded module gets
/// neither callback nor func_stack entries.
#[test]
fn enable_with_callbacks_runs_pre_patch_per_loaded_object_in_obj_list_order() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f"]},
                   "modA":{"funcs":["ha"],"loaded":true},
                   "modB":{"funcs":["hb"]}},
        "patches":{"P1":{"object_order":["modA","vmlinux","modB"],
            "objects":{"vmlinux":{"funcs":{"f":{}},"callbacks":@CB},
                       "modA":{"funcs":{"ha":{}},"callbacks":@CB},
                       "modB":{"funcs":{"hb":{}},"callbacks":@CB}}}}}"#,
    );
    let p1 = k.p("P1");
    let (s, log) = k.step(&k.boot(), &k.insmod("P1"));
    assert_eq!(
        log,
        [
            "enabling(P1)",
            "transition_init(P1,patching)",
            "pre_patch(P1,modA,LIVE)",
            "pre_patch(P1,vmlinux)",
            "transition_start(P1,patching)",
            "transition_completing(P1,patching)",
            "post_patch(P1,modA,LIVE)",
            "post_patch(P1,vmlinux)",
            "transition_complete(P1,patching)",
        ]
    );
    let rec = s.patch(p1);
    let loaded = bit(k.o("vmlinux")) | bit(k.o("modA"));
    assert_eq!(rec.obj_patched, loaded);
    assert_eq!(
        rec.obj_mod,
        bit(k.o("modA")),
        "klp_find_object_module: obj->mod only for a loaded module"
    );
    assert_eq!(rec.post_unpatch_enabled, loaded);
    assert_eq!(k.stack(&s, "f"), [p1]);
    assert_eq!(k.stack(&s, "ha"), [p1]);
    assert!(k.stack(&s, "hb").is_empty());
    assert_quiescent(&s);
}

const TWO_TASKS_CB: &str = r#"{"spec_version":1,
    "objects":{"vmlinux":{"funcs":["f","g"]}},
    "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}},"callbacks":@CB}}}},
    "tasks":{"count":2,"entry":["f","g"]}}"#;

/// transition.c:klp_try_complete_transition: a task sleeping in the
/// function being patched keeps the transition open; the enable returns with
/// the patch enabled, the task UNPATCHED with TIF_PATCH_PENDING, the other
/// task (in code the patch does not touch) switched by its stack check.
#[test]
fn enable_with_a_task_sleeping_in_the_patched_function_stays_in_transition() {
    let k = Sys::new(TWO_TASKS_CB);
    let p1 = k.p("P1");
    let s = k.run(&k.boot(), &[k.call(0, "f"), k.call(1, "g")]);
    let (s, all) = k.step_all(&s, &k.insmod("P1"));
    assert_eq!(
        all,
        [
            "enabling(P1)",
            "transition_init(P1,patching)",
            "pre_patch(P1,vmlinux)",
            "transition_start(P1,patching)",
            "task_switched(2,patching,stack_check)",
            "transition_pending(P1,1)",
        ]
    );
    assert_eq!(s.klp_transition_patch, Some(p1));
    assert_eq!(s.klp_target_state, KlpState::Patched);
    assert!(
        s.patch(p1).enabled,
        "__klp_enable_patch sets enabled right after klp_start_transition"
    );
    assert!(s.patch(p1).transition);
    assert_eq!(s.tasks[0].patch_state, KlpState::Unpatched);
    assert!(s.tasks[0].tif_patch_pending);
    assert_eq!(s.tasks[1].patch_state, KlpState::Patched);
    assert!(!s.tasks[1].tif_patch_pending);
    // The new func is on the func_stack before any task switched.
    assert_eq!(k.stack(&s, "f"), [p1]);

    // The retry from klp_transition_work finds the task still there.
    let (s2, all) = k.step_all(&s, &Action::TransitionWork { busy: 0 });
    assert_eq!(all, ["transition_pending(P1,1)"]);
    assert_eq!(s2, s);
}

/// kernel/entry: exit_to_user_mode_loop -> transition.c:klp_update_patch_state:
/// a pending task takes the target state when it returns to user space; the
/// next klp_transition_work then completes the transition.
#[test]
fn exit_to_user_space_switches_a_pending_task() {
    let k = Sys::new(TWO_TASKS_CB);
    let s = k.run(&k.boot(), &[k.call(0, "f"), k.call(1, "g"), k.insmod("P1")]);
    let (s, all) = k.step_all(&s, &k.ret(0));
    assert_eq!(
        all,
        ["task_return(1,f)", "task_switched(1,patching,exit_to_user)"]
    );
    assert_eq!(s.tasks[0].patch_state, KlpState::Patched);
    assert!(!s.tasks[0].tif_patch_pending);
    assert!(
        s.klp_transition_patch.is_some(),
        "the switch alone does not complete the transition"
    );
    let (s, log) = k.step(&s, &Action::TransitionWork { busy: 0 });
    assert_eq!(
        log,
        [
            "transition_completing(P1,patching)",
            "post_patch(P1,vmlinux)",
            "transition_complete(P1,patching)"
        ]
    );
    assert_quiescent(&s);
}

/// kernel/entry: klp_update_patch_state runs only on the way back to user
/// space: returning from an inner frame leaves the task pending.
#[test]
fn return_from_an_inner_frame_does_not_switch() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f","g"]}},
        "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}}}}}},
        "tasks":{"count":1,"max_depth":2,"entry":["g"],"calls":{"g":["f"]}}}"#,
    );
    let s = k.run(&k.boot(), &[k.call(0, "g"), k.call(0, "f"), k.insmod("P1")]);
    assert!(s.tasks[0].tif_patch_pending);
    let (s, all) = k.step_all(&s, &k.ret(0));
    assert_eq!(all, ["task_return(1,f)"]);
    assert!(s.tasks[0].tif_patch_pending);
    assert_eq!(s.tasks[0].patch_state, KlpState::Unpatched);
    let (s, all) = k.step_all(&s, &k.ret(0));
    assert_eq!(
        all,
        ["task_return(1,g)", "task_switched(1,patching,exit_to_user)"]
    );
    assert!(!s.tasks[0].tif_patch_pending);
}

/// core.c:__klp_enable_patch error path: a failing pre_patch aborts,
/// klp_cancel_transition completes an UNPATCHED transition that runs
/// post_unpatch only for objects whose pre_patch succeeded (not for the
/// failing one, not for the ones never reached); klp_enable_patch frees the
/// patch and the module load fails. Nothing of the patch is left.
#[test]
fn pre_patch_failure_cancels_and_the_module_load_fails() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f"]},
                   "modA":{"funcs":["ha"],"loaded":true},
                   "modB":{"funcs":["hb"],"loaded":true}},
        "patches":{"P1":{"objects":{
            "vmlinux":{"funcs":{"f":{}},"callbacks":@CB},
            "modA":{"funcs":{"ha":{}},"callbacks":{"pre_patch":{"ret":"ENODEV"},"post_patch":{},"pre_unpatch":{},"post_unpatch":{}}},
            "modB":{"funcs":{"hb":{}},"callbacks":@CB}}}}}"#,
    );
    let boot = k.boot();
    let (s, log) = k.step(&boot, &k.insmod("P1"));
    assert_eq!(
        log,
        [
            "enabling(P1)",
            "transition_init(P1,patching)",
            "pre_patch(P1,vmlinux)",
            "pre_patch(P1,modA,LIVE)",
            "pre_patch_failed(P1,modA)",
            "enable_failed(P1)",
            "transition_cancel(P1)",
            "transition_completing(P1,unpatching)",
            "post_unpatch(P1,vmlinux)",
            "transition_complete(P1,unpatching)",
            "load_error(P1,ENODEV)",
        ]
    );
    assert_eq!(s, boot, "a failed insmod leaves no trace");
    assert_eq!(s.patch(k.p("P1")).life, Life::Unloaded);
}

/// The selftest "pre-patch callback -ENODEV" (test_klp_callbacks_demo
/// pre_patch_ret=-19): the callback returns the module parameter.
#[test]
fn pre_patch_returning_the_module_parameter_fails_the_load() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f"]}},
        "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}},
            "callbacks":{"pre_patch":{"ret":"param"},"post_patch":{},"pre_unpatch":{},"post_unpatch":{}}}}}}}"#,
    );
    let a = Action::Insmod(
        k.p("P1"),
        InsmodParams {
            replace: None,
            pre_patch_ret: Some(19),
        },
    );
    let (s, log) = k.step(&k.boot(), &a);
    assert_eq!(
        log,
        [
            "enabling(P1)",
            "transition_init(P1,patching)",
            "pre_patch(P1,vmlinux)",
            "pre_patch_failed(P1,vmlinux)",
            "enable_failed(P1)",
            "transition_cancel(P1)",
            "transition_completing(P1,unpatching)",
            "transition_complete(P1,unpatching)",
            "load_error(P1,ENODEV)",
        ]
    );
    assert_eq!(s, k.boot());
    // Without the parameter the same module loads.
    let (s, _) = k.step(&k.boot(), &k.insmod("P1"));
    assert!(s.patch(k.p("P1")).enabled);
}

const TWO_PATCHES: &str = r#"{"spec_version":1,
    "objects":{"vmlinux":{"funcs":["f","g"]}},
    "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}},"callbacks":@CB}}},
               "P2":{"objects":{"vmlinux":{"funcs":{"g":{}},"callbacks":@CB}}}},
    "tasks":{"count":1,"entry":["f","g"]}}"#;

/// core.c:__klp_enable_patch: -EBUSY while another transition runs (here a
/// task sleeps in the function the first patch is patching). Nothing is
/// printed but insmod's error; nothing changes.
#[test]
fn insmod_during_a_transition_is_ebusy() {
    let k = Sys::new(TWO_PATCHES);
    let s = k.run(&k.boot(), &[k.call(0, "f"), k.insmod("P1")]);
    assert_eq!(s.klp_transition_patch, Some(k.p("P1")));
    let (s2, log) = k.step(&s, &k.insmod("P2"));
    assert_eq!(log, ["load_error(P2,EBUSY)"]);
    assert_eq!(s2, s);
}

/// core.c:klp_enable_patch: the compatibility check (-EINVAL) comes before
/// __klp_enable_patch's -EBUSY.
#[test]
fn incompatible_insmod_during_a_transition_is_einval_not_ebusy() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f","g"]}},
        "patches":{"P1":{"states":[{"id":1,"version":1}],"objects":{"vmlinux":{"funcs":{"f":{}}}}},
                   "P2":{"replace":true,"objects":{"vmlinux":{"funcs":{"g":{}}}}}},
        "tasks":{"count":1,"entry":["f","g"]}}"#,
    );
    let s = k.run(&k.boot(), &[k.call(0, "f"), k.insmod("P1")]);
    let (s2, log) = k.step(&s, &k.insmod("P2"));
    assert_eq!(log, ["incompatible(P2)", "load_error(P2,EINVAL)"]);
    assert_eq!(s2, s);
}

/// core.c:__klp_disable_patch: -EBUSY when another patch is in transition.
#[test]
fn disable_during_another_transition_is_ebusy() {
    let k = Sys::new(TWO_PATCHES);
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.call(0, "g"), k.insmod("P2")]);
    assert_eq!(s.klp_transition_patch, Some(k.p("P2")));
    let (s2, all) = k.step_all(&s, &k.disable("P1"));
    assert_eq!(all, ["write_error(P1,enabled,EBUSY)"]);
    assert_eq!(s2, s);
}

/// core.c:klp_enable_patch: loading a module that is already loaded fails in
/// the module loader (-EEXIST), before any livepatch code runs.
#[test]
fn insmod_of_a_loaded_livepatch_module_is_eexist() {
    let k = Sys::new(ONE_FUNC);
    let s = k.run(&k.boot(), &[k.insmod("P1")]);
    let (s2, log) = k.step(&s, &k.insmod("P1"));
    assert_eq!(log, ["load_error(P1,EEXIST)"]);
    assert_eq!(s2, s);
}

// ---------------------------------------------------------------------------
// enabled_store: disable, reverse, -EINVAL
// ---------------------------------------------------------------------------

/// core.c:__klp_disable_patch: pre_unpatch for each patched object before
/// the transition starts; klp_complete_transition unpatches and runs
/// post_unpatch; klp_free_patch_async takes the patch off klp_patches; the
/// free_work (klp_free_patch_finish) drops the module reference; then rmmod
/// works.
#[test]
fn disable_runs_pre_unpatch_then_post_unpatch_and_frees_the_patch() {
    let k = Sys::new(TWO_TASKS_CB);
    let p1 = k.p("P1");
    let s = k.run(&k.boot(), &[k.insmod("P1")]);
    let (s, log) = k.step(&s, &k.disable("P1"));
    assert_eq!(
        log,
        [
            "transition_init(P1,unpatching)",
            "pre_unpatch(P1,vmlinux)",
            "transition_start(P1,unpatching)",
            "transition_completing(P1,unpatching)",
            "post_unpatch(P1,vmlinux)",
            "transition_complete(P1,unpatching)",
        ]
    );
    assert!(s.klp_patches.is_empty());
    assert!(k.stack(&s, "f").is_empty());
    let rec = s.patch(p1);
    assert_eq!(rec.life, Life::Freeing);
    assert!(!rec.enabled && rec.retired && !rec.replaced);
    assert_eq!(rec.obj_patched, 0);
    assert_eq!(
        rec.post_unpatch_enabled, 0,
        "klp_post_unpatch_callback clears the flag"
    );
    assert_quiescent(&s);

    // rmmod before the free_work ran: the module reference is still held.
    let (s2, all) = k.step_all(&s, &k.rmmod("P1"));
    assert_eq!(all, ["unload_error(P1,EAGAIN)"]);
    assert_eq!(s2, s);

    let (s, all) = k.step_all(&s, &k.free_work("P1"));
    assert_eq!(all, ["patch_freed(P1)"]);
    assert_eq!(s.patch(p1).life, Life::Freed);
    let (s, all) = k.step_all(&s, &k.rmmod("P1"));
    assert_eq!(all, ["module_gone(P1)"]);
    assert_eq!(s.patch(p1).life, Life::Unloaded);
}

/// transition.c:klp_reverse_transition of a patching transition: no callback
/// runs on the reversal itself, pre_unpatch never runs, and the completion to
/// UNPATCHED runs post_unpatch. The patch is then freed like a disabled one.
#[test]
fn reversing_a_patching_transition_runs_post_unpatch_without_pre_unpatch() {
    let k = Sys::new(TWO_TASKS_CB);
    let p1 = k.p("P1");
    let s = k.run(&k.boot(), &[k.call(0, "f"), k.call(1, "g"), k.insmod("P1")]);
    assert_eq!(s.tasks[1].patch_state, KlpState::Patched);
    let (s, log) = k.step(&s, &k.disable("P1"));
    assert_eq!(
        log,
        [
            "transition_reverse(P1,patching,unpatching)",
            "transition_start(P1,unpatching)"
        ]
    );
    assert_eq!(s.klp_transition_patch, Some(p1));
    assert_eq!(s.klp_target_state, KlpState::Unpatched);
    assert!(
        !s.patch(p1).enabled,
        "klp_reverse_transition flips patch->enabled"
    );
    // The task that never switched is already at the new target: no TIF;
    // the one that had switched must come back.
    assert_eq!(s.tasks[0].patch_state, KlpState::Unpatched);
    assert!(!s.tasks[0].tif_patch_pending);
    assert_eq!(s.tasks[1].patch_state, KlpState::Patched);
    assert!(s.tasks[1].tif_patch_pending);

    let (s, log) = k.step(&s, &Action::TransitionWork { busy: 0 });
    assert_eq!(
        log,
        [
            "transition_completing(P1,unpatching)",
            "post_unpatch(P1,vmlinux)",
            "transition_complete(P1,unpatching)"
        ]
    );
    assert!(s.klp_patches.is_empty());
    assert_eq!(s.patch(p1).life, Life::Freeing);
    assert!(k.stack(&s, "f").is_empty());
    assert_quiescent(&s);
    assert!(k.holds("callback-pairing", &s));
}

/// transition.c:klp_reverse_transition of an unpatching transition: the
/// completion to PATCHED runs post_patch again (pairing with the pre_unpatch
/// already done); the patch stays enabled and listed, and that is not a
/// re-enable.
#[test]
fn reversing_an_unpatching_transition_runs_post_patch_again() {
    let k = Sys::new(TWO_TASKS_CB);
    let p1 = k.p("P1");
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.call(0, "f")]);
    assert_eq!(
        s.tasks[0].frames[..],
        [Frame {
            func: k.f("f"),
            code: k.code(&s, "P1")
        }]
    );
    let (s, log) = k.step(&s, &k.disable("P1"));
    assert_eq!(
        log,
        [
            "transition_init(P1,unpatching)",
            "pre_unpatch(P1,vmlinux)",
            "transition_start(P1,unpatching)"
        ]
    );
    assert!(
        s.tasks[0].tif_patch_pending,
        "the task runs the code being removed"
    );
    let (s, log) = k.step(&s, &k.enable("P1"));
    assert_eq!(
        log,
        [
            "transition_reverse(P1,unpatching,patching)",
            "transition_start(P1,patching)"
        ]
    );
    assert!(s.patch(p1).enabled);
    assert_eq!(s.klp_target_state, KlpState::Patched);
    let (s, log) = k.step(&s, &Action::TransitionWork { busy: 0 });
    assert_eq!(
        log,
        [
            "transition_completing(P1,patching)",
            "post_patch(P1,vmlinux)",
            "transition_complete(P1,patching)"
        ]
    );
    assert_eq!(s.klp_patches[..], [p1]);
    assert_eq!(k.stack(&s, "f"), [p1]);
    let rec = s.patch(p1);
    assert!(rec.enabled && !rec.retired);
    assert_eq!(rec.life, Life::Listed);
    assert!(k.holds("replaced-never-reenabled", &s));
    assert!(k.holds("callback-pairing", &s));
}

/// core.c:enabled_store: writing the current value is -EINVAL, also while
/// the patch is in transition (enabled is the target there).
#[test]
fn writing_the_current_enabled_value_is_einval() {
    let k = Sys::new(TWO_TASKS_CB);
    let s = k.run(&k.boot(), &[k.insmod("P1")]);
    let (s2, all) = k.step_all(&s, &k.enable("P1"));
    assert_eq!(all, ["write_error(P1,enabled,EINVAL)"]);
    assert_eq!(s2, s);

    let s = k.run(&k.boot(), &[k.call(0, "f"), k.insmod("P1")]);
    assert!(s.klp_transition_patch.is_some());
    let (s2, all) = k.step_all(&s, &k.enable("P1"));
    assert_eq!(all, ["write_error(P1,enabled,EINVAL)"]);
    assert_eq!(s2, s);
}

/// core.c:enabled_store: a disabled patch is never re-enabled (since 5.1):
/// writing 1 while its sysfs directory still exists (free_work pending) is
/// -EINVAL; once freed the attribute is gone (-ENOENT).
#[test]
fn re_enabling_a_disabled_patch_is_einval() {
    let k = Sys::new(TWO_TASKS_CB);
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.disable("P1")]);
    assert_eq!(s.patch(k.p("P1")).life, Life::Freeing);
    let (s2, all) = k.step_all(&s, &k.enable("P1"));
    assert_eq!(all, ["write_error(P1,enabled,EINVAL)"]);
    assert_eq!(s2, s);
    let s = k.run(&s, &[k.free_work("P1")]);
    let (s2, all) = k.step_all(&s, &k.enable("P1"));
    assert_eq!(all, ["write_error(P1,enabled,ENOENT)"]);
    assert_eq!(s2, s);
}

// ---------------------------------------------------------------------------
// force_store
// ---------------------------------------------------------------------------

/// transition.c:klp_force_transition: every pending task is switched
/// whatever its stack (breaking consistency, as documented); the transition
/// is not completed by the force itself; a non-replace patching transition
/// marks no patch forced.
#[test]
fn force_switches_tasks_regardless_of_their_stack() {
    let k = Sys::new(TWO_TASKS_CB);
    let p1 = k.p("P1");
    let s = k.run(&k.boot(), &[k.call(0, "f"), k.insmod("P1")]);
    assert!(k.holds("consistent-universe", &s));
    let (s, all) = k.step_all(&s, &k.force("P1"));
    assert_eq!(all, ["forcing(P1)", "task_switched(1,patching,forced)"]);
    assert_eq!(s.tasks[0].patch_state, KlpState::Patched);
    assert!(!s.tasks[0].tif_patch_pending);
    assert_eq!(
        s.klp_transition_patch,
        Some(p1),
        "klp_force_transition does not complete"
    );
    assert!(
        !s.patch(p1).forced,
        "5.18+: a forced non-replace patching marks nothing"
    );
    // The task still runs the original f while the handler would now send it
    // to P1: exactly what force is documented to break.
    assert_eq!(s.tasks[0].frames[0].code, Impl::Original);
    assert!(!k.holds("consistent-universe", &s));

    let (s, log) = k.step(&s, &Action::TransitionWork { busy: 0 });
    assert_eq!(
        log,
        [
            "transition_completing(P1,patching)",
            "post_patch(P1,vmlinux)",
            "transition_complete(P1,patching)"
        ]
    );
    assert_quiescent(&s);
}

/// transition.c:klp_force_transition (5.18+): a forced UNPATCHED transition
/// marks the transition patch forced; core.c:klp_free_patch_finish then
/// skips module_put, so rmmod of its module never succeeds.
#[test]
fn forced_unpatching_marks_the_patch_and_pins_its_module() {
    let k = Sys::new(TWO_TASKS_CB);
    let p1 = k.p("P1");
    let s = k.run(
        &k.boot(),
        &[k.insmod("P1"), k.call(0, "f"), k.disable("P1")],
    );
    assert!(s.tasks[0].tif_patch_pending);
    let (s, log) = k.step(&s, &k.force("P1"));
    assert_eq!(log, ["forcing(P1)"]);
    assert!(s.patch(p1).forced);
    let s = k.run(&s, &[Action::TransitionWork { busy: 0 }]);
    assert_eq!(s.patch(p1).life, Life::Freeing);
    let (s, all) = k.step_all(&s, &k.free_work("P1"));
    assert_eq!(all, ["patch_freed(P1,forced)"]);
    let (s2, all) = k.step_all(&s, &k.rmmod("P1"));
    assert_eq!(all, ["unload_error(P1,EAGAIN)"]);
    assert_eq!(s2, s);
    assert_eq!(s2.patch(p1).life, Life::Freed);
    assert!(k.holds("forced-module-pinned", &s2));
}

/// transition.c:klp_force_transition (5.18+): a forced PATCHED transition of
/// a replace patch marks every *other* listed patch (the ones about to be
/// replaced), not the replace patch itself.
#[test]
fn forced_replace_marks_every_other_listed_patch() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f","g"]}},
        "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}}}}},
                   "P2":{"objects":{"vmlinux":{"funcs":{"g":{}}}}},
                   "P3":{"replace":true,"objects":{"vmlinux":{"funcs":{"f":{}}}}}},
        "tasks":{"count":1,"entry":["f","g"]}}"#,
    );
    let (p1, p2, p3) = (k.p("P1"), k.p("P2"), k.p("P3"));
    let s = k.run(
        &k.boot(),
        &[
            k.insmod("P1"),
            k.insmod("P2"),
            k.call(0, "f"),
            k.insmod("P3"),
        ],
    );
    assert_eq!(s.klp_transition_patch, Some(p3));
    let (s, all) = k.step_all(&s, &k.force("P3"));
    assert_eq!(all, ["forcing(P3)", "task_switched(1,patching,forced)"]);
    assert!(s.patch(p1).forced && s.patch(p2).forced);
    assert!(!s.patch(p3).forced);
    let s = k.run(&s, &[Action::TransitionWork { busy: 0 }]);
    assert_eq!(s.klp_patches[..], [p3]);
    let (s, all) = k.step_all(&s, &k.free_work("P1"));
    assert_eq!(all, ["patch_freed(P1,forced)"]);
    let (_, all) = k.step_all(&s, &k.rmmod("P1"));
    assert_eq!(all, ["unload_error(P1,EAGAIN)"]);
}

/// core.c:force_store: -EINVAL unless the patch is the transition patch.
#[test]
fn force_on_a_patch_not_in_transition_is_einval() {
    let k = Sys::new(TWO_TASKS_CB);
    let s = k.run(&k.boot(), &[k.insmod("P1")]);
    let (s2, all) = k.step_all(&s, &k.force("P1"));
    assert_eq!(all, ["write_error(P1,force,EINVAL)"]);
    assert_eq!(s2, s);
}

// ---------------------------------------------------------------------------
// Atomic replace
// ---------------------------------------------------------------------------

const REPLACE: &str = r#"{"spec_version":1,
    "objects":{"vmlinux":{"funcs":["f","g"]},"mod":{"funcs":["h"],"loaded":true}},
    "patches":{
        "P1":{"module":"lp1","objects":{"vmlinux":{"funcs":{"f":{},"g":{}},"callbacks":@CB},
                                        "mod":{"funcs":{"h":{}},"callbacks":@CB}},
              "module_exit":{"emit":["lp1: exit"]}},
        "P2":{"module":"lp2","replace":true,"objects":{"vmlinux":{"funcs":{"g":{}},"callbacks":@CB}}}},
    "tasks":{"count":2,"entry":["f","g","h"]}}"#;

/// core.c:klp_add_nops: a replace patch gets a nop for every function of
/// every listed patch that it does not patch itself (in a dynamic object for
/// an object it lacks); __klp_enable_patch pushes them like any func.
#[test]
fn replace_adds_nops_for_the_functions_of_older_patches() {
    let k = Sys::new(REPLACE);
    let (p1, p2) = (k.p("P1"), k.p("P2"));
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.call(0, "g")]);
    let (s, log) = k.step(&s, &k.insmod("P2"));
    assert_eq!(
        log,
        [
            "enabling(P2)",
            "transition_init(P2,patching)",
            "pre_patch(P2,vmlinux)",
            "transition_start(P2,patching)"
        ]
    );
    let rec = s.patch(p2);
    assert_eq!(rec.nops, bit(k.f("f")) | bit(k.f("h")));
    assert_eq!(rec.obj_patched, bit(k.o("vmlinux")) | bit(k.o("mod")));
    assert_eq!(
        rec.obj_mod,
        bit(k.o("mod")),
        "the dynamic object of a loaded module is loaded"
    );
    assert_eq!(s.klp_patches[..], [p1, p2]);
    for f in ["f", "g", "h"] {
        assert_eq!(k.stack(&s, f), [p1, p2], "func_stack of {f}");
    }
    // The task sleeping in P1's g blocks (the stack check looks at P1's g).
    assert_eq!(s.klp_transition_patch, Some(p2));
    assert!(s.tasks[0].tif_patch_pending);
}

/// transition.c:klp_complete_transition with replace:
/// klp_unpatch_replaced_patches (no callbacks of the old patch), then
/// klp_discard_nops; post_patch of the new patch; then
/// klp_free_replaced_patches_async. The list becomes [new], no nop remains,
/// functions only the old patch touched run the original code again.
#[test]
fn replace_completion_unpatches_old_patches_without_callbacks_and_discards_nops() {
    let k = Sys::new(REPLACE);
    let (p1, p2) = (k.p("P1"), k.p("P2"));
    let s = k.run(
        &k.boot(),
        &[k.insmod("P1"), k.call(0, "g"), k.insmod("P2"), k.ret(0)],
    );
    let (s, log) = k.step(&s, &Action::TransitionWork { busy: 0 });
    assert_eq!(
        log,
        [
            "transition_completing(P2,patching)",
            "post_patch(P2,vmlinux)",
            "transition_complete(P2,patching)"
        ]
    );
    assert_eq!(s.klp_patches[..], [p2]);
    assert_eq!(k.stack(&s, "g"), [p2]);
    assert!(k.stack(&s, "f").is_empty());
    assert!(k.stack(&s, "h").is_empty());
    let new = s.patch(p2);
    assert_eq!(new.nops, 0);
    assert_eq!(
        new.obj_patched,
        bit(k.o("vmlinux")),
        "the dynamic object is gone"
    );
    assert_eq!(new.obj_mod, 0);
    let old = s.patch(p1);
    assert!(!old.enabled && old.replaced && old.retired);
    assert_eq!(old.life, Life::Freeing);
    assert_eq!(old.obj_patched, 0);
    assert_quiescent(&s);
    for id in [
        "replace-leaves-only-new",
        "only-new-callbacks",
        "stack-well-formed",
        "replace-completes",
    ] {
        assert!(k.holds(id, &s), "{id}");
    }
    // A task calling f now runs the original.
    let (_, all) = k.step_all(&s, &k.call(1, "f"));
    assert_eq!(all, ["task_call(2,f,original)"]);
}

/// core.c:klp_free_patch_finish for a replaced patch: its free_work drops
/// the module reference, after which rmmod runs its module_exit.
#[test]
fn replaced_patch_is_freed_by_free_work_then_rmmod_able() {
    let k = Sys::new(REPLACE);
    let p1 = k.p("P1");
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.insmod("P2")]);
    assert_eq!(s.patch(p1).life, Life::Freeing);
    let (s2, all) = k.step_all(&s, &k.rmmod("P1"));
    assert_eq!(all, ["unload_error(P1,EAGAIN)"]);
    assert_eq!(s2, s);
    let (s, all) = k.step_all(&s, &k.free_work("P1"));
    assert_eq!(all, ["patch_freed(P1)"]);
    let (s, log) = k.step(&s, &k.rmmod("P1"));
    assert_eq!(log, ["lp1: exit"]);
    assert_eq!(s.patch(p1).life, Life::Unloaded);
    assert!(k.holds("no-dangling-code", &s));
}

/// transition.c:klp_reverse_transition of a replace patch's enable: the
/// replaced patches stay as they were (replacement only happens on a
/// completion to PATCHED), only the new patch is unpatched, nops included.
#[test]
fn reversed_replace_leaves_the_old_patches_alone() {
    let k = Sys::new(REPLACE);
    let (p1, p2) = (k.p("P1"), k.p("P2"));
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.call(0, "g"), k.insmod("P2")]);
    let (s, log) = k.step(&s, &k.disable("P2"));
    assert_eq!(
        log,
        [
            "transition_reverse(P2,patching,unpatching)",
            "transition_start(P2,unpatching)"
        ]
    );
    let (s, log) = k.step(&s, &Action::TransitionWork { busy: 0 });
    assert_eq!(
        log,
        [
            "transition_completing(P2,unpatching)",
            "post_unpatch(P2,vmlinux)",
            "transition_complete(P2,unpatching)"
        ]
    );
    assert_eq!(s.klp_patches[..], [p1]);
    for f in ["f", "g", "h"] {
        assert_eq!(k.stack(&s, f), [p1], "func_stack of {f}");
    }
    assert!(s.patch(p1).enabled && !s.patch(p1).replaced);
    assert_eq!(s.patch(p2).life, Life::Freeing);
    assert!(k.holds("stack-well-formed", &s));
}

/// core.c:klp_free_replaced_patches_async frees only the patches *in front
/// of* the replace patch (klp_for_each_patch_safe ... if (old_patch ==
/// new_patch) return). A replace patch P2 whose disable is reversed
/// completes to PATCHED again while a newer non-replace patch P3 is listed
/// after it: P3 must stay listed, enabled and on its func_stack.
#[test]
fn reversed_disable_of_a_replace_patch_keeps_newer_patches() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f","g"]}},
        "patches":{"P2":{"replace":true,"objects":{"vmlinux":{"funcs":{"f":{}}}}},
                   "P3":{"objects":{"vmlinux":{"funcs":{"g":{}}}}}},
        "tasks":{"count":1,"entry":["f","g"]}}"#,
    );
    let (p2, p3) = (k.p("P2"), k.p("P3"));
    let s = k.run(
        &k.boot(),
        &[
            k.insmod("P2"),
            k.insmod("P3"),
            k.call(0, "f"),
            k.disable("P2"),
        ],
    );
    assert_eq!(s.klp_transition_patch, Some(p2));
    let s = k.run(&s, &[k.enable("P2"), Action::TransitionWork { busy: 0 }]);
    assert_quiescent(&s);
    assert_eq!(s.klp_patches[..], [p2, p3]);
    assert_eq!(s.patch(p3).life, Life::Listed);
    assert!(s.patch(p3).enabled);
    assert_eq!(k.stack(&s, "g"), [p3]);
    assert_eq!(k.stack(&s, "f"), [p2]);
    assert!(k.holds("stack-well-formed", &s));
}

// ---------------------------------------------------------------------------
// klp_ftrace_handler and the stack check
// ---------------------------------------------------------------------------

/// patch.c:klp_ftrace_handler during a patching transition: the head of the
/// func_stack is in transition, so an UNPATCHED task takes the entry below
/// (or the original when there is none) and a PATCHED task the head.
#[test]
fn ftrace_handler_during_a_patching_transition() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f","g"]}},
        "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}}}}},
                   "P2":{"objects":{"vmlinux":{"funcs":{"f":{},"g":{}}}}}},
        "tasks":{"count":2,"max_depth":2,"entry":["f","g"],"calls":{"f":["g"]}}}"#,
    );
    let (f, g) = (k.f("f"), k.f("g"));
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.call(0, "f"), k.insmod("P2")]);
    let (p1c, p2c) = (k.code(&s, "P1"), k.code(&s, "P2"));
    assert_eq!(klp_ftrace_handler(&s, KlpState::Unpatched, f), p1c);
    assert_eq!(klp_ftrace_handler(&s, KlpState::Patched, f), p2c);
    assert_eq!(
        klp_ftrace_handler(&s, KlpState::Unpatched, g),
        Impl::Original
    );
    assert_eq!(klp_ftrace_handler(&s, KlpState::Patched, g), p2c);
    // Through task calls: task 1 (UNPATCHED, blocked) and task 2 (switched).
    let (s, all) = k.step_all(&s, &k.call(0, "g"));
    assert_eq!(all, ["task_call(1,g,original)"]);
    let (s, all) = k.step_all(&s, &k.call(1, "f"));
    assert_eq!(all, ["task_call(2,f,P2)"]);
    assert!(k.holds("consistent-universe", &s));
}

/// patch.c:klp_ftrace_handler for a nop: a PATCHED task runs the original
/// code (nop), an UNPATCHED task the entry below it.
#[test]
fn ftrace_handler_runs_the_original_for_a_nop() {
    let k = Sys::new(REPLACE);
    let (f, h) = (k.f("f"), k.f("h"));
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.call(0, "g"), k.insmod("P2")]);
    let p1c = k.code(&s, "P1");
    for func in [f, h] {
        assert_eq!(
            klp_ftrace_handler(&s, KlpState::Patched, func),
            Impl::Original
        );
        assert_eq!(klp_ftrace_handler(&s, KlpState::Unpatched, func), p1c);
    }
    assert_eq!(
        klp_ftrace_handler(&s, KlpState::Patched, k.f("g")),
        k.code(&s, "P2")
    );
}

/// patch.c:klp_ftrace_handler only looks at the head's transition bit:
/// while a patch lower in the stack is being disabled every task runs the
/// head; core.c:__klp_disable_patch may disable a patch in the middle of a
/// func_stack (5.1+), and the stack check (target UNPATCHED) looks only at
/// the disabled patch's own code.
#[test]
fn disabling_a_patch_below_the_head_keeps_everyone_on_the_head() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f","g"]}},
        "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{},"g":{}}}}},
                   "P2":{"objects":{"vmlinux":{"funcs":{"f":{}}}}}},
        "tasks":{"count":2,"entry":["f","g"]}}"#,
    );
    let (p1, p2) = (k.p("P1"), k.p("P2"));
    let (f, g) = (k.f("f"), k.f("g"));
    let s = k.run(
        &k.boot(),
        &[
            k.insmod("P1"),
            k.insmod("P2"),
            k.call(0, "f"),
            k.call(1, "g"),
        ],
    );
    assert_eq!(s.tasks[0].frames[0].code, k.code(&s, "P2"));
    assert_eq!(s.tasks[1].frames[0].code, k.code(&s, "P1"));
    let (s, all) = k.step_all(&s, &k.disable("P1"));
    assert_eq!(
        all,
        [
            "transition_init(P1,unpatching)",
            "transition_start(P1,unpatching)",
            "task_switched(1,unpatching,stack_check)",
            "transition_pending(P1,1)",
        ]
    );
    assert_eq!(k.stack(&s, "f"), [p1, p2]);
    let p2c = k.code(&s, "P2");
    assert_eq!(klp_ftrace_handler(&s, KlpState::Unpatched, f), p2c);
    assert_eq!(klp_ftrace_handler(&s, KlpState::Patched, f), p2c);
    assert_eq!(
        klp_ftrace_handler(&s, KlpState::Unpatched, g),
        Impl::Original
    );
    assert_eq!(
        klp_ftrace_handler(&s, KlpState::Patched, g),
        k.code(&s, "P1")
    );
    // Completion removes P1 from the middle of f's stack.
    let s = k.run(&s, &[k.ret(1), Action::TransitionWork { busy: 0 }]);
    assert_eq!(k.stack(&s, "f"), [p2]);
    assert!(k.stack(&s, "g").is_empty());
    assert_eq!(s.klp_patches[..], [p2]);
    assert!(k.holds("stack-well-formed", &s));
}

/// transition.c:klp_check_stack_func, target PATCHED: the range checked is
/// that of the next func on the stack (the implementation the task would
/// leave), and only that one: a frame in the original code under an earlier
/// patch (reachable only after a force) does not block.
#[test]
fn stack_check_for_patching_looks_only_at_the_previous_implementation() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f"]}},
        "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}}}}},
                   "P2":{"objects":{"vmlinux":{"funcs":{"f":{}}}}}},
        "tasks":{"count":2,"entry":["f"]}}"#,
    );
    let f = k.f("f");
    let mut s = k.run(&k.boot(), &[k.insmod("P1"), k.call(0, "f")]);
    s.tasks[1].frames.push(Frame {
        func: f,
        code: Impl::Original,
    });
    let (s, all) = k.step_all(&s, &k.insmod("P2"));
    assert_eq!(
        all,
        [
            "enabling(P2)",
            "transition_init(P2,patching)",
            "transition_start(P2,patching)",
            "task_switched(2,patching,stack_check)",
            "transition_pending(P2,1)",
        ]
    );
    assert!(s.tasks[0].tif_patch_pending, "the task in P1's f blocks");
}

/// transition.c:klp_check_stack_func, target UNPATCHED: the range checked is
/// the transition patch's own new_func; a task running it blocks the
/// disable until it leaves, a task in user space switches at once.
#[test]
fn stack_check_for_unpatching_blocks_a_task_running_the_new_code() {
    let k = Sys::new(TWO_TASKS_CB);
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.call(0, "f")]);
    let (s, all) = k.step_all(&s, &k.disable("P1"));
    assert_eq!(
        all,
        [
            "transition_init(P1,unpatching)",
            "pre_unpatch(P1,vmlinux)",
            "transition_start(P1,unpatching)",
            "task_switched(2,unpatching,stack_check)",
            "transition_pending(P1,1)",
        ]
    );
    assert_eq!(s.tasks[0].patch_state, KlpState::Patched);
    assert!(s.tasks[0].tif_patch_pending);
    // The UNPATCHED task already calls the original.
    let (s, all) = k.step_all(&s, &k.call(1, "f"));
    assert_eq!(all, ["task_call(2,f,original)"]);
    // Once the blocking task returns to user space the work completes.
    let (s, log) = k.step(&s, &Action::TransitionWork { busy: 0 });
    assert!(log.is_empty());
    let (s, _) = k.step(&s, &k.ret(0));
    let (s, log) = k.step(&s, &Action::TransitionWork { busy: 0 });
    assert_eq!(
        log.last().map(String::as_str),
        Some("transition_complete(P1,unpatching)")
    );
    assert_quiescent(&s);
}

// ---------------------------------------------------------------------------
// klp_module_coming / klp_module_going
// ---------------------------------------------------------------------------

const WITH_MODULE: &str = r#"{"spec_version":1,
    "objects":{"vmlinux":{"funcs":["f"]},"mod":{"funcs":["h"],"logs":true}},
    "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}},"callbacks":@CB},
                                "mod":{"funcs":{"h":{}},"callbacks":@CB}}}},
    "tasks":{"count":1,"entry":["f","h"]},
    "admin":{"target_modules":{"mod":{}}}}"#;

/// core.c:klp_module_coming for a patch not in transition: obj->mod, the
/// "applying patch" line, pre_patch (COMING), patch the object, post_patch
/// (COMING) right away; then the module's init runs.
#[test]
fn module_coming_applies_an_enabled_patch_with_callbacks() {
    let k = Sys::new(WITH_MODULE);
    let p1 = k.p("P1");
    let s = k.run(&k.boot(), &[k.insmod("P1")]);
    assert_eq!(s.patch(p1).obj_mod, 0);
    assert!(k.stack(&s, "h").is_empty());
    let (s, log) = k.step(&s, &k.load("mod"));
    assert_eq!(
        log,
        [
            "module_apply(P1,mod)",
            "pre_patch(P1,mod,COMING)",
            "post_patch(P1,mod,COMING)",
            "mod_init(mod)"
        ]
    );
    let m = bit(k.o("mod"));
    assert_ne!(s.modules_loaded & m, 0);
    assert_ne!(s.patch(p1).obj_mod & m, 0);
    assert_ne!(s.patch(p1).obj_patched & m, 0);
    assert_eq!(k.stack(&s, "h"), [p1]);
    assert!(k.holds("callback-pairing", &s));
}

/// core.c:klp_module_going -> klp_cleanup_module_patches_limited for a
/// patch not in transition: the module's exit has run; pre_unpatch (GOING),
/// "reverting patch", unpatch, post_unpatch (GOING), obj->mod = NULL.
#[test]
fn module_going_reverts_an_enabled_patch_with_callbacks() {
    let k = Sys::new(WITH_MODULE);
    let p1 = k.p("P1");
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.load("mod")]);
    let (s, all) = k.step_all(&s, &k.unload("mod"));
    assert_eq!(
        all,
        [
            "mod_exit(mod)",
            "pre_unpatch(P1,mod,GOING)",
            "module_revert(P1,mod)",
            "post_unpatch(P1,mod,GOING)",
            "module_gone(mod)",
        ]
    );
    let m = bit(k.o("mod"));
    assert_eq!(s.modules_loaded & m, 0);
    assert_eq!(s.patch(p1).obj_mod & m, 0);
    assert_eq!(s.patch(p1).obj_patched & m, 0);
    assert_eq!(s.patch(p1).post_unpatch_enabled & m, 0);
    assert!(k.stack(&s, "h").is_empty());
    assert_eq!(k.stack(&s, "f"), [p1], "the vmlinux part stays patched");
    assert!(s.patch(p1).enabled);
    assert!(k.holds("callback-pairing", &s));
}

/// core.c:klp_module_coming for the transition patch: pre_patch and patch
/// now, post_patch deferred to klp_complete_transition (which then runs it
/// with the module LIVE).
#[test]
fn module_coming_defers_post_patch_of_the_transition_patch() {
    let k = Sys::new(WITH_MODULE);
    let p1 = k.p("P1");
    let s = k.run(&k.boot(), &[k.call(0, "f"), k.insmod("P1")]);
    assert_eq!(s.klp_transition_patch, Some(p1));
    let (s, log) = k.step(&s, &k.load("mod"));
    assert_eq!(
        log,
        [
            "module_apply(P1,mod)",
            "pre_patch(P1,mod,COMING)",
            "mod_init(mod)"
        ]
    );
    assert_eq!(k.stack(&s, "h"), [p1]);
    let s = k.run(&s, &[k.ret(0)]);
    let (s, log) = k.step(&s, &Action::TransitionWork { busy: 0 });
    assert_eq!(
        log,
        [
            "transition_completing(P1,patching)",
            "post_patch(P1,vmlinux)",
            "post_patch(P1,mod,LIVE)",
            "transition_complete(P1,patching)",
        ]
    );
    assert_quiescent(&s);
}

/// core.c:klp_cleanup_module_patches_limited for the transition patch: no
/// pre_unpatch (the patch is in transition), unpatch, post_unpatch; the
/// completion then skips the unloaded object.
#[test]
fn module_going_skips_pre_unpatch_of_the_transition_patch() {
    let k = Sys::new(WITH_MODULE);
    let s = k.run(&k.boot(), &[k.call(0, "f"), k.insmod("P1"), k.load("mod")]);
    let (s, log) = k.step(&s, &k.unload("mod"));
    assert_eq!(
        log,
        [
            "mod_exit(mod)",
            "module_revert(P1,mod)",
            "post_unpatch(P1,mod,GOING)"
        ]
    );
    assert!(k.stack(&s, "h").is_empty());
    let s = k.run(&s, &[k.ret(0)]);
    let (s, log) = k.step(&s, &Action::TransitionWork { busy: 0 });
    assert_eq!(
        log,
        [
            "transition_completing(P1,patching)",
            "post_patch(P1,vmlinux)",
            "transition_complete(P1,patching)"
        ]
    );
    assert!(k.holds("callback-pairing", &s));
}

/// core.c:klp_module_coming error path: a pre_patch failing for the coming
/// module refuses the module (the load fails), obj->mod is reset, and
/// klp_cleanup_module_patches_limited undoes the patches in front of the
/// failing one (pre_unpatch, revert, post_unpatch, with the module still
/// COMING). The module's init never runs.
#[test]
fn module_refused_when_pre_patch_fails_on_coming_and_earlier_patches_are_undone() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f"]},"mod":{"funcs":["h"],"logs":true}},
        "patches":{
            "P1":{"objects":{"mod":{"funcs":{"h":{}},"callbacks":@CB}}},
            "P2":{"objects":{"mod":{"funcs":{"h":{}},
                "callbacks":{"pre_patch":{"ret":"ENODEV"},"post_patch":{},"pre_unpatch":{},"post_unpatch":{}}}}}},
        "admin":{"target_modules":{"mod":{}}}}"#,
    );
    let (p1, p2) = (k.p("P1"), k.p("P2"));
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.insmod("P2")]);
    assert_eq!(s.klp_patches[..], [p1, p2]);
    let (s2, log) = k.step(&s, &k.load("mod"));
    assert_eq!(
        log,
        [
            "module_apply(P1,mod)",
            "pre_patch(P1,mod,COMING)",
            "post_patch(P1,mod,COMING)",
            "module_apply(P2,mod)",
            "pre_patch(P2,mod,COMING)",
            "pre_patch_failed(P2,mod)",
            "module_refused(P2,mod)",
            "pre_unpatch(P1,mod,COMING)",
            "module_revert(P1,mod)",
            "post_unpatch(P1,mod,COMING)",
            "load_error(mod,ENODEV)",
        ]
    );
    assert_eq!(s2.modules_loaded & bit(k.o("mod")), 0);
    assert!(k.stack(&s2, "h").is_empty());
    assert_eq!(s2.patch(p1).obj_mod, 0);
    assert_eq!(
        s2.patch(p2).obj_mod,
        0,
        "obj->mod = NULL on the error path (4ff96fb52c69)"
    );
    assert_eq!(
        s2, s,
        "the refused load leaves the livepatch state as it was"
    );
}

/// core.c:klp_module_coming runs the callbacks of every listed patch, also
/// during an atomic replace of that patch (the documented exception to
/// "only the new patch's callbacks").
#[test]
fn module_coming_during_a_replace_runs_the_old_patch_callbacks() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f"]},"mod":{"funcs":["h"]}},
        "patches":{"P1":{"objects":{"mod":{"funcs":{"h":{}},"callbacks":@CB}}},
                   "P2":{"replace":true,"objects":{"vmlinux":{"funcs":{"f":{}},"callbacks":@CB}}}},
        "tasks":{"count":1,"entry":["f"]},
        "admin":{"target_modules":{"mod":{}}}}"#,
    );
    let (p1, p2) = (k.p("P1"), k.p("P2"));
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.call(0, "f"), k.insmod("P2")]);
    assert_eq!(s.klp_transition_patch, Some(p2));
    let (s, log) = k.step(&s, &k.load("mod"));
    assert_eq!(
        log,
        [
            "module_apply(P1,mod)",
            "pre_patch(P1,mod,COMING)",
            "post_patch(P1,mod,COMING)",
            "module_apply(P2,mod)",
        ]
    );
    assert_eq!(k.stack(&s, "h"), [p1, p2], "P2's nop for h goes on top");
    assert!(k.holds("only-new-callbacks", &s));
    assert!(k.holds("callback-pairing", &s));
}

// ---------------------------------------------------------------------------
// state.c: klp_is_patch_compatible, klp_get_prev_state
// ---------------------------------------------------------------------------

const STATES: &str = r#"{"spec_version":1,
    "objects":{"vmlinux":{"funcs":["f","g","h"]}},
    "patches":{
        "P1":{"states":[{"id":1,"version":2}],"objects":{"vmlinux":{"funcs":{"f":{}}}}},
        "Rmissing":{"replace":true,"objects":{"vmlinux":{"funcs":{"g":{}}}}},
        "Rlow":{"replace":true,"states":[{"id":1,"version":1}],"objects":{"vmlinux":{"funcs":{"g":{}}}}},
        "Req":{"replace":true,"states":[{"id":1,"version":2},{"id":2,"version":0}],"objects":{"vmlinux":{"funcs":{"g":{}}}}},
        "Rhigh":{"replace":true,"states":[{"id":1,"version":3}],"objects":{"vmlinux":{"funcs":{"g":{}}}}},
        "Nmissing":{"objects":{"vmlinux":{"funcs":{"h":{}}}}},
        "Nlow":{"states":[{"id":1,"version":1}],"objects":{"vmlinux":{"funcs":{"h":{}}}}}}}"#;

/// state.c:klp_is_patch_compatible: a replace patch must carry every state
/// id of every listed patch with a version >= the old one; a non-replace
/// patch may lack an id but not carry a lower version; brand-new ids are
/// fine. core.c:klp_enable_patch refuses an incompatible patch with -EINVAL
/// and its message, changing nothing.
#[test]
fn klp_is_patch_compatible_rules() {
    let k = Sys::new(STATES);
    let s = k.run(&k.boot(), &[k.insmod("P1")]);
    let sc = k.sc();
    let compat =
        |p: &str| klp_is_patch_compatible(sc, &s, k.p(p), sc.patches[k.p(p) as usize].replace);
    assert!(!compat("Rmissing"));
    assert!(!compat("Rlow"));
    assert!(compat("Req"));
    assert!(compat("Rhigh"));
    assert!(compat("Nmissing"));
    assert!(!compat("Nlow"));
    // The same module loaded with replace=0 may lack the id.
    assert!(klp_is_patch_compatible(sc, &s, k.p("Rmissing"), false));
    // Nothing listed: everything is compatible.
    assert!(klp_is_patch_compatible(
        sc,
        &k.boot(),
        k.p("Rmissing"),
        true
    ));

    for p in ["Rmissing", "Rlow", "Nlow"] {
        let (s2, log) = k.step(&s, &k.insmod(p));
        assert_eq!(
            log,
            [
                format!("incompatible({p})"),
                format!("load_error({p},EINVAL)")
            ]
        );
        assert_eq!(s2, s);
    }
    for p in ["Req", "Rhigh", "Nmissing"] {
        let (s2, log) = k.step(&s, &k.insmod(p));
        assert_eq!(log[0], format!("enabling({p})"));
        assert!(s2.patch(k.p(p)).enabled);
        assert!(k.holds("states-compatible", &s2));
    }
    let a = Action::Insmod(
        k.p("Rmissing"),
        InsmodParams {
            replace: Some(false),
            pre_patch_ret: None,
        },
    );
    let (s2, _) = k.step(&s, &a);
    assert!(s2.patch(k.p("Rmissing")).enabled && !s2.patch(k.p("Rmissing")).replace);
}

const PREV_STATE: &str = r#"{"spec_version":1,
    "objects":{"vmlinux":{"funcs":["f"]}},
    "patches":{
        "P1":{"replace":true,"states":[{"id":1,"version":1}],"objects":{"vmlinux":{"funcs":{"f":{}},"callbacks":@STATECB}}},
        "P2":{"replace":true,"states":[{"id":1,"version":1}],"objects":{"vmlinux":{"funcs":{"f":{}},"callbacks":@STATECB}}}},
    "tasks":{"count":1,"entry":["f"]}}"#;

const STATECB: &str = r#"{
    "pre_patch":{"log":false,"if_prev_state":{"id":1,
        "then":{"emit":["state_alloc_skip({patch},1)"]},"else":{"emit":["state_alloc({patch},1)"]}}},
    "post_patch":{"log":false,"if_prev_state":{"id":1,
        "then":{"emit":["state_takeover({patch},1)"]},"else":{"emit":["state_fix({patch},1)"]}}},
    "pre_unpatch":{"log":false,"emit":["state_restore({patch},1)"]},
    "post_unpatch":{"log":false,"if_prev_state":{"id":1,
        "then":{"emit":["state_keep({patch},1)"]},"else":{"emit":["state_free({patch},1)"]}}}}"#;

/// state.c:klp_get_prev_state: the newest state with the id among the
/// patches in front of the transition patch. The first patch sees none; a
/// replace patch sees its predecessor in pre_patch *and* in post_patch
/// (replaced patches stay listed until after post_patch since 5.5); a disable
/// with nothing in front sees none in post_unpatch.
#[test]
fn klp_get_prev_state_branches_in_callbacks() {
    let k = Sys::new(&PREV_STATE.replace("@STATECB", STATECB));
    let (s, log) = k.step(&k.boot(), &k.insmod("P1"));
    assert_eq!(
        log,
        [
            "enabling(P1)",
            "transition_init(P1,patching)",
            "state_alloc(P1,1)",
            "transition_start(P1,patching)",
            "transition_completing(P1,patching)",
            "state_fix(P1,1)",
            "transition_complete(P1,patching)",
        ]
    );
    let (s, log) = k.step(&s, &k.insmod("P2"));
    assert_eq!(
        log,
        [
            "enabling(P2)",
            "transition_init(P2,patching)",
            "state_alloc_skip(P2,1)",
            "transition_start(P2,patching)",
            "transition_completing(P2,patching)",
            "state_takeover(P2,1)",
            "transition_complete(P2,patching)",
        ]
    );
    assert_eq!(s.klp_patches[..], [k.p("P2")]);
    let (_, log) = k.step(&s, &k.disable("P2"));
    assert_eq!(
        log,
        [
            "transition_init(P2,unpatching)",
            "state_restore(P2,1)",
            "transition_start(P2,unpatching)",
            "transition_completing(P2,unpatching)",
            "state_free(P2,1)",
            "transition_complete(P2,unpatching)",
        ]
    );
}

/// state.c:klp_get_prev_state during a reversed replace: post_unpatch of the
/// new patch still sees the old patch in front of it (a reverse, not a
/// disable: keep the state).
#[test]
fn klp_get_prev_state_sees_the_old_patch_when_a_replace_is_reversed() {
    let k = Sys::new(&PREV_STATE.replace("@STATECB", STATECB));
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.call(0, "f"), k.insmod("P2")]);
    let (s, _) = k.step(&s, &k.disable("P2"));
    let (_, log) = k.step(&s, &Action::TransitionWork { busy: 0 });
    assert_eq!(
        log,
        [
            "transition_completing(P2,unpatching)",
            "state_keep(P2,1)",
            "transition_complete(P2,unpatching)"
        ]
    );
}

// ---------------------------------------------------------------------------
// shadow.c
// ---------------------------------------------------------------------------

const SHADOW: &str = r#"{"spec_version":1,
    "objects":{"vmlinux":{"funcs":["f","g"]}},
    "shadow_vars":{"A":{"parent":"sta1","id":"PS_LOCK"},
                   "B":{"parent":"sta2","id":"PS_LOCK"},
                   "C":{"parent":"sta1","id":"OTHER"}},
    "patches":{"P1":{
        "objects":{"vmlinux":{"funcs":{"f":{"allocates_shadow":["A"]},"g":{"frees_shadow":["A"]}},
            "callbacks":{
                "pre_patch":{"log":false,"shadow_alloc":["A"]},
                "post_patch":{"log":false,"shadow_alloc":["A"],"shadow_get_or_alloc":["B","C"]},
                "pre_unpatch":{"log":false,"shadow_get_or_alloc":["A"],"shadow_free":["C"]},
                "post_unpatch":{"log":false,"shadow_free_all":["PS_LOCK"]}}}},
        "module_exit":{"shadow_free":["C"]}}},
    "tasks":{"count":1,"entry":["f","g"]}}"#;

/// shadow.c: klp_shadow_alloc on an existing variable WARNs "Duplicate
/// shadow variable" and returns NULL; klp_shadow_get_or_alloc creates only
/// when absent, silently; klp_shadow_free frees one (parent, id);
/// klp_shadow_free_all(id) frees that id across all parents and keeps other
/// ids; freeing an absent variable does nothing.
#[test]
fn shadow_alloc_get_or_alloc_free_and_free_all() {
    let k = Sys::new(SHADOW);
    let (a, b, c) = (k.var("A"), k.var("B"), k.var("C"));
    let (s, all) = k.step_all(&k.boot(), &k.insmod("P1"));
    assert_eq!(
        all,
        [
            "enabling(P1)",
            "transition_init(P1,patching)",
            "shadow_created(A)",
            "transition_start(P1,patching)",
            "task_switched(1,patching,stack_check)",
            "transition_completing(P1,patching)",
            "shadow_duplicate(A)",
            "shadow_created(B)",
            "shadow_created(C)",
            "transition_complete(P1,patching)",
        ]
    );
    assert_eq!(s.shadow, a | b | c);
    // The WARN is a kernel log line; creations are silent.
    let (_, log) = k.step(&k.boot(), &k.insmod("P1"));
    assert!(log.contains(&"shadow_duplicate(A)".to_string()));
    assert!(!log.iter().any(|l| l.starts_with("shadow_created")));

    let (s, all) = k.step_all(&s, &k.disable("P1"));
    assert_eq!(
        all,
        [
            "transition_init(P1,unpatching)",
            "shadow_freed(C)",
            "transition_start(P1,unpatching)",
            "task_switched(1,unpatching,stack_check)",
            "transition_completing(P1,unpatching)",
            "shadow_freed(A)",
            "shadow_freed(B)",
            "transition_complete(P1,unpatching)",
        ]
    );
    assert_eq!(s.shadow, 0);
    // module_exit frees C, which is already gone: nothing happens.
    let s = k.run(&s, &[k.free_work("P1")]);
    let (s, all) = k.step_all(&s, &k.rmmod("P1"));
    assert_eq!(all, ["module_gone(P1)"]);
    assert_eq!(s.shadow, 0);
}

/// shadow.c:klp_shadow_free_all(id) keeps variables with another id. Here
/// post_unpatch runs without pre_unpatch (a reversed enable), so C survives.
#[test]
fn shadow_free_all_keeps_other_ids() {
    let k = Sys::new(SHADOW);
    let s = k.run(&k.boot(), &[k.call(0, "g"), k.insmod("P1")]);
    assert_eq!(
        s.klp_transition_patch,
        Some(k.p("P1")),
        "the task in the original g blocks"
    );
    assert_eq!(s.shadow, k.var("A"), "pre_patch allocated A");
    let mut s = s;
    s.shadow |= k.var("B") | k.var("C");
    let (s, log) = k.step(&s, &k.disable("P1"));
    assert_eq!(
        log,
        [
            "transition_reverse(P1,patching,unpatching)",
            "transition_start(P1,unpatching)"
        ]
    );
    let (s, all) = k.step_all(&s, &Action::TransitionWork { busy: 0 });
    assert_eq!(
        all,
        [
            "transition_completing(P1,unpatching)",
            "shadow_freed(A)",
            "shadow_freed(B)",
            "transition_complete(P1,unpatching)",
        ]
    );
    assert_eq!(s.shadow, k.var("C"));
}

/// Patched code that allocates (klp_shadow_get_or_alloc) or frees a shadow
/// variable does it when a task enters it; the original code does not.
#[test]
fn patched_code_allocates_and_frees_shadow_variables_on_entry() {
    let k = Sys::new(SHADOW);
    let a = k.var("A");
    let mut s = k.run(&k.boot(), &[k.insmod("P1")]);
    s.shadow = 0;
    let (s, all) = k.step_all(&s, &k.call(0, "f"));
    assert_eq!(all, ["task_call(1,f,P1)", "shadow_created(A)"]);
    assert_eq!(s.shadow, a);
    let (s, all) = k.step_all(&s, &k.ret(0));
    assert_eq!(all, ["task_return(1,f)"]);
    let (s, all) = k.step_all(&s, &k.call(0, "g"));
    assert_eq!(all, ["task_call(1,g,P1)", "shadow_freed(A)"]);
    assert_eq!(s.shadow, 0);
    // The original g frees nothing.
    let mut before = k.boot();
    before.shadow = a;
    let (after, all) = k.step_all(&before, &k.call(0, "g"));
    assert_eq!(all, ["task_call(1,g,original)"]);
    assert_eq!(after.shadow, a);
}

// ---------------------------------------------------------------------------
// rmmod of a livepatch module and its module_exit
// ---------------------------------------------------------------------------

/// kernel/module + core.c:klp_free_patch_finish: rmmod fails while the patch
/// is enabled, in transition or waiting for its free_work; after the free it
/// runs the module's module_exit (here: a log line, klp_shadow_free_all and
/// undoing a system modification) and the module is gone.
#[test]
fn rmmod_runs_module_exit_only_after_the_patch_is_freed() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f"]}},
        "shadow_vars":{"A":{"parent":"sta1","id":"PS_LOCK"}},
        "system_modifications":["M"],
        "patches":{"P1":{"module":"lp1",
            "objects":{"vmlinux":{"funcs":{"f":{}},"callbacks":{"post_patch":{"log":false,"shadow_alloc":["A"],"set":["M"]}}}},
            "module_exit":{"emit":["lp1: lp1_exit"],"shadow_free_all":["PS_LOCK"],"clear":["M"]}}},
        "tasks":{"count":1,"entry":["f"]}}"#,
    );
    let p1 = k.p("P1");
    let s = k.run(&k.boot(), &[k.call(0, "f"), k.insmod("P1")]);
    let (s2, all) = k.step_all(&s, &k.rmmod("P1"));
    assert_eq!(all, ["unload_error(P1,EAGAIN)"], "in transition");
    assert_eq!(s2, s);
    let s = k.run(&s, &[k.ret(0), Action::TransitionWork { busy: 0 }]);
    assert_eq!(s.shadow, k.var("A"));
    assert_eq!(s.sysmods, k.sysmod("M"));
    let (s2, all) = k.step_all(&s, &k.rmmod("P1"));
    assert_eq!(all, ["unload_error(P1,EAGAIN)"], "enabled");
    assert_eq!(s2, s);
    let s = k.run(&s, &[k.disable("P1")]);
    let (_, all) = k.step_all(&s, &k.rmmod("P1"));
    assert_eq!(all, ["unload_error(P1,EAGAIN)"], "free_work pending");
    let s = k.run(&s, &[k.free_work("P1")]);
    let (s, all) = k.step_all(&s, &k.rmmod("P1"));
    assert_eq!(
        all,
        [
            "lp1: lp1_exit",
            "shadow_freed(A)",
            "sysmod_cleared(M)",
            "module_gone(P1)"
        ]
    );
    assert_eq!(s.patch(p1).life, Life::Unloaded);
    assert_eq!(s.shadow, 0);
    assert_eq!(s.sysmods, 0);
    // The module can be loaded again: a new instance.
    let (s, _) = k.step(&s, &k.insmod("P1"));
    assert_eq!(s.patch(p1).loads, 2);
    assert!(s.patch(p1).enabled && !s.patch(p1).retired);
}

// ---------------------------------------------------------------------------
// Properties: one state where each holds, one where it is violated
// ---------------------------------------------------------------------------

/// The ids the tests below cover; kept equal to PROPERTY_IDS so that a new
/// property needs new tests here.
const COVERED: &[&str] = &[
    "single-transition",
    "consistent-universe",
    "only-new-callbacks",
    "callback-pairing",
    "replaced-never-reenabled",
    "replace-leaves-only-new",
    "stack-well-formed",
    "no-dangling-code",
    "forced-module-pinned",
    "states-compatible",
    "shadow-no-use-after-free",
    "code-requirements-met",
    "no-kernel-warning",
    "stack-check-in-bounds",
    // The four below: model/tests/proposal_properties.rs.
    "completion-keeps-code",
    "state-shadow-owned",
    "one-active-per-set",
    "shadow-single-set",
    "replace-completes",
    "replaced-patch-reloadable",
    "replace-over-disabled",
    "disable-from-middle",
    "transition-completes",
    "patch-freed",
];

#[test]
fn every_property_is_covered_here() {
    let ids: Vec<&str> = PROPERTIES.iter().map(|p| p.id).collect();
    assert_eq!(ids, PROPERTY_IDS);
    assert_eq!(COVERED, PROPERTY_IDS);
}

/// single-transition (S1/S2): at most one patch in transition; when none,
/// every task IDLE with TIF_PATCH_PENDING clear.
#[test]
fn property_single_transition() {
    let k = Sys::new(TWO_PATCHES);
    let boot = k.boot();
    assert!(k.holds("single-transition", &boot));
    let mid = k.run(&boot, &[k.call(0, "f"), k.insmod("P1")]);
    assert!(k.holds("single-transition", &mid));

    let mut stray_tif = boot.clone();
    stray_tif.tasks[0].tif_patch_pending = true;
    assert!(!k.holds("single-transition", &stray_tif));
    let mut stray_state = boot.clone();
    stray_state.tasks[0].patch_state = KlpState::Patched;
    assert!(!k.holds("single-transition", &stray_state));
    let mut two = mid.clone();
    two.patch_mut(k.p("P2")).transition = true;
    assert!(!k.holds("single-transition", &two));
    let mut no_target = mid;
    no_target.klp_target_state = KlpState::Idle;
    assert!(!k.holds("single-transition", &no_target));
}

/// consistent-universe (S4): see force_switches_tasks_regardless_of_their_stack
/// for the violation by force; here a task that switched while running the
/// old code of a function the transition patch touches.
#[test]
fn property_consistent_universe() {
    let k = Sys::new(TWO_TASKS_CB);
    let mid = k.run(&k.boot(), &[k.call(0, "f"), k.insmod("P1")]);
    assert!(k.holds("consistent-universe", &mid));
    let mut switched = mid.clone();
    switched.tasks[0].patch_state = KlpState::Patched;
    switched.tasks[0].tif_patch_pending = false;
    assert!(!k.holds("consistent-universe", &switched));
    let forced = k.run(&mid, &[k.force("P1")]);
    assert!(!k.holds("consistent-universe", &forced));
    // No transition: nothing to be inconsistent with.
    let done = k.run(&forced, &[Action::TransitionWork { busy: 0 }]);
    assert!(k.holds("consistent-universe", &done));
}

/// only-new-callbacks (S7): the monitor flags a callback of a replaced patch
/// (here forced by marking an enabled patch replaced), and lets the module
/// notifiers run old patches' callbacks during a replace.
#[test]
fn property_only_new_callbacks() {
    let k = Sys::new(REPLACE);
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.insmod("P2")]);
    assert!(k.holds("only-new-callbacks", &s));

    let k = Sys::new(WITH_MODULE);
    let mut s = k.run(&k.boot(), &[k.insmod("P1")]);
    assert!(k.holds("only-new-callbacks", &s));
    s.patch_mut(k.p("P1")).replaced = true;
    assert!(
        k.holds("only-new-callbacks", &s),
        "the flag alone is no violation"
    );
    let (s, log) = k.step(&s, &k.load("mod"));
    assert!(log.contains(&"pre_patch(P1,mod,COMING)".to_string()));
    assert!(!k.holds("only-new-callbacks", &s));
}

/// callback-pairing (S8): post_patch only after a successful pre_patch not
/// closed by post_unpatch.
#[test]
fn property_callback_pairing() {
    let k = Sys::new(TWO_TASKS_CB);
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.disable("P1")]);
    assert!(k.holds("callback-pairing", &s));
    let mut mid = k.run(&k.boot(), &[k.call(0, "f"), k.insmod("P1"), k.ret(0)]);
    assert!(k.holds("callback-pairing", &mid));
    mid.patch_mut(k.p("P1")).cb_open = 0;
    let (s, log) = k.step(&mid, &Action::TransitionWork { busy: 0 });
    assert!(log.contains(&"post_patch(P1,vmlinux)".to_string()));
    assert!(!k.holds("callback-pairing", &s));
}

/// replaced-never-reenabled (S9): a replaced instance, or one whose disable
/// completed, never has enabled set again.
#[test]
fn property_replaced_never_reenabled() {
    let k = Sys::new(REPLACE);
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.insmod("P2")]);
    assert!(s.patch(k.p("P1")).retired);
    assert!(k.holds("replaced-never-reenabled", &s));
    let mut bad = s;
    bad.patch_mut(k.p("P1")).enabled = true;
    assert!(!k.holds("replaced-never-reenabled", &bad));
}

/// replace-leaves-only-new (S11): the monitor checks the state right after a
/// replace completes; a func_stack entry left on a function the new patch
/// does not patch breaks it.
#[test]
fn property_replace_leaves_only_new() {
    let k = Sys::new(REPLACE);
    let mid = k.run(
        &k.boot(),
        &[k.insmod("P1"), k.call(0, "g"), k.insmod("P2"), k.ret(0)],
    );
    let good = k.run(&mid, &[Action::TransitionWork { busy: 0 }]);
    assert!(k.holds("replace-leaves-only-new", &good));
    // A stray entry for P2 on f that neither the unpatch of P1 nor the
    // discard of nops removes.
    let mut stray = mid;
    let f = k.f("f");
    stray.func_stacks[f as usize].insert(0, k.p("P2"));
    let bad = k.run(&stray, &[Action::TransitionWork { busy: 0 }]);
    assert!(!k.holds("replace-leaves-only-new", &bad));
}

/// stack-well-formed (S12): a func is on its func_stack iff its object is
/// patched; stacks follow klp_patches order and hold only listed patches.
#[test]
fn property_stack_well_formed() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f"]}},
        "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}}}}},
                   "P2":{"objects":{"vmlinux":{"funcs":{"f":{}}}}}}}"#,
    );
    let (p1, p2) = (k.p("P1"), k.p("P2"));
    let f = k.f("f") as usize;
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.insmod("P2")]);
    assert!(k.holds("stack-well-formed", &s));
    let mut reversed = s.clone();
    reversed.func_stacks[f] = [p2, p1].into_iter().collect();
    assert!(!k.holds("stack-well-formed", &reversed));
    let mut missing = s.clone();
    missing.func_stacks[f] = [p1].into_iter().collect();
    assert!(!k.holds("stack-well-formed", &missing));
    let mut unlisted = s;
    unlisted.klp_patches = [p1].into_iter().collect();
    assert!(!k.holds("stack-well-formed", &unlisted));
}

/// no-dangling-code (S15/S16): no frame runs, and no func_stack holds, code
/// of an unloaded livepatch module or of an unloaded target module.
#[test]
fn property_no_dangling_code() {
    let k = Sys::new(WITH_MODULE);
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.load("mod"), k.call(0, "h")]);
    assert!(k.holds("no-dangling-code", &s));
    let mut module_gone = s.clone();
    module_gone.modules_loaded &= !bit(k.o("mod"));
    assert!(!k.holds("no-dangling-code", &module_gone));
    let mut patch_gone = s;
    patch_gone.tasks[0].frames.clear();
    patch_gone.patch_mut(k.p("P1")).life = Life::Unloaded;
    assert!(
        !k.holds("no-dangling-code", &patch_gone),
        "func_stacks still hold P1"
    );
    let mut frame_only = k.run(
        &k.boot(),
        &[
            k.insmod("P1"),
            k.disable("P1"),
            k.free_work("P1"),
            k.rmmod("P1"),
        ],
    );
    assert!(k.holds("no-dangling-code", &frame_only));
    frame_only.tasks[0].frames.push(Frame {
        func: k.f("f"),
        code: Impl::Patch {
            patch: k.p("P1"),
            load: 1,
        },
    });
    assert!(!k.holds("no-dangling-code", &frame_only));
}

/// forced-module-pinned (S17): a forced patch's module is never unloaded.
#[test]
fn property_forced_module_pinned() {
    let k = Sys::new(TWO_TASKS_CB);
    let s = k.run(
        &k.boot(),
        &[
            k.insmod("P1"),
            k.call(0, "f"),
            k.disable("P1"),
            k.force("P1"),
            Action::TransitionWork { busy: 0 },
            k.free_work("P1"),
        ],
    );
    assert!(s.patch(k.p("P1")).forced);
    assert!(k.holds("forced-module-pinned", &s));
    let mut bad = s;
    bad.patch_mut(k.p("P1")).life = Life::Unloaded;
    assert!(!k.holds("forced-module-pinned", &bad));
}

/// states-compatible (S18): the enabled patches satisfy
/// klp_is_patch_compatible pairwise in enable order.
#[test]
fn property_states_compatible() {
    let k = Sys::new(STATES);
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.insmod("Nmissing")]);
    assert!(k.holds("states-compatible", &s));
    let mut bad = s.clone();
    let rlow = k.p("Rlow");
    bad.klp_patches.push(rlow);
    let rec = bad.patch_mut(rlow);
    rec.life = Life::Listed;
    rec.enabled = true;
    rec.replace = true;
    rec.loads = 1;
    assert!(!k.holds("states-compatible", &bad));
}

/// shadow-no-use-after-free: the hazard of cumulative-patches.rst
/// "Limitations" (B12): the replaced patch's module_exit frees the shadow
/// variables the replacement's code still uses.
#[test]
fn property_shadow_no_use_after_free() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f"]}},
        "shadow_vars":{"A":{"parent":"sta","id":"PS_LOCK"}},
        "patches":{
            "P1":{"replace":true,"objects":{"vmlinux":{"funcs":{"f":{}},"callbacks":{"post_patch":{"log":false,"shadow_alloc":["A"]}}}},
                  "module_exit":{"shadow_free_all":["PS_LOCK"]}},
            "P2":{"replace":true,"objects":{"vmlinux":{"funcs":{"f":{"uses_shadow":["A"]}}}}}},
        "tasks":{"count":1,"entry":["f"]}}"#,
    );
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.insmod("P2"), k.call(0, "f")]);
    assert_eq!(s.tasks[0].frames[0].code, k.code(&s, "P2"));
    assert!(k.holds("shadow-no-use-after-free", &s));
    let s = k.run(
        &k.boot(),
        &[
            k.insmod("P1"),
            k.insmod("P2"),
            k.free_work("P1"),
            k.rmmod("P1"),
        ],
    );
    assert_eq!(s.shadow, 0);
    assert!(
        k.holds("shadow-no-use-after-free", &s),
        "nobody runs P2's f yet"
    );
    let (s, _) = k.step(&s, &k.call(0, "f"));
    assert!(!k.holds("shadow-no-use-after-free", &s));
}

/// code-requirements-met: new code that needs a system modification set by
/// post_patch can run before post_patch (a task that switched early), but
/// not when pre_patch sets it.
#[test]
fn property_code_requirements_met() {
    let spec = |cb: &str| {
        format!(
            r#"{{"spec_version":1,
            "objects":{{"vmlinux":{{"funcs":["f","g"]}}}},
            "system_modifications":["M"],
            "patches":{{"P1":{{"objects":{{"vmlinux":{{"funcs":{{"f":{{"needs":["M"]}}}},
                "callbacks":{{"{cb}":{{"log":false,"set":["M"]}}}}}}}}}}}},
            "tasks":{{"count":2,"entry":["f","g"]}}}}"#
        )
    };
    let late = Sys::new(&spec("post_patch"));
    let s = late.run(&late.boot(), &[late.call(0, "f"), late.insmod("P1")]);
    assert_eq!(s.tasks[1].patch_state, KlpState::Patched);
    let (s, all) = late.step_all(&s, &late.call(1, "f"));
    assert_eq!(all, ["task_call(2,f,P1)"]);
    assert_eq!(s.sysmods, 0);
    assert!(!late.holds("code-requirements-met", &s));

    let early = Sys::new(&spec("pre_patch"));
    let s = early.run(
        &early.boot(),
        &[early.call(0, "f"), early.insmod("P1"), early.call(1, "f")],
    );
    assert_eq!(s.sysmods, early.sysmod("M"));
    assert!(early.holds("code-requirements-met", &s));
}

/// replace-completes (sometimes): true in a state where a replace patch is
/// enabled and its transition done; false at boot and mid-transition.
#[test]
fn property_replace_completes() {
    let k = Sys::new(REPLACE);
    assert!(!k.holds("replace-completes", &k.boot()));
    let mid = k.run(&k.boot(), &[k.insmod("P1"), k.call(0, "g"), k.insmod("P2")]);
    assert!(!k.holds("replace-completes", &mid));
    let done = k.run(&mid, &[k.ret(0), Action::TransitionWork { busy: 0 }]);
    assert!(k.holds("replace-completes", &done));
}

/// replaced-patch-reloadable (sometimes): a replaced patch's module is
/// removed, loaded again, and its new instance replaces the replacement.
#[test]
fn property_replaced_patch_reloadable() {
    let k = Sys::new(
        r#"{"spec_version":1,
        "objects":{"vmlinux":{"funcs":["f"]}},
        "patches":{"P1":{"replace":true,"objects":{"vmlinux":{"funcs":{"f":{}}}}},
                   "P2":{"replace":true,"objects":{"vmlinux":{"funcs":{"f":{}}}}}}}"#,
    );
    let p1 = k.p("P1");
    assert!(!k.holds("replaced-patch-reloadable", &k.boot()));
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.insmod("P2")]);
    assert!(!k.holds("replaced-patch-reloadable", &s));
    let s = k.run(&s, &[k.free_work("P1"), k.rmmod("P1")]);
    let (s, log) = k.step(&s, &k.insmod("P1"));
    assert_eq!(
        log.last().map(String::as_str),
        Some("transition_complete(P1,patching)")
    );
    assert_eq!(s.klp_patches[..], [p1]);
    assert_eq!(s.patch(p1).loads, 2);
    assert!(k.holds("replaced-patch-reloadable", &s));
}

/// replace-over-disabled (sometimes): a replace patch is enabled while a
/// patch in front of it is not. Mainline never leaves a disabled patch on
/// klp_patches outside its own unpatching transition, so the witness needs
/// draft-2018's registered-but-disabled patches.
#[test]
fn property_replace_over_disabled() {
    let draft = r#"{"spec_version":1, "profile":"draft-2018",
        "objects":{"vmlinux":{"funcs":["f"]}},
        "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}}}}},
                   "P2":{"replace":true,"objects":{"vmlinux":{"funcs":{"f":{}}}}}}}"#;
    let k = Sys::new(draft);
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.disable("P1")]);
    assert!(!k.holds("replace-over-disabled", &s));
    // P2's transition: P1 (registered, disabled) is still in front of it.
    let s = k.run(&s, &[k.call(0, "f"), k.insmod("P2")]);
    assert_eq!(s.klp_transition_patch, Some(k.p("P2")));
    assert!(k.holds("replace-over-disabled", &s));
}

/// disable-from-middle (sometimes): a patch is disabled while a
/// non-replace patch after it stays enabled; visible while the disable's
/// transition waits for a task (core.c:__klp_disable_patch, no ordering
/// since 5.1).
#[test]
fn property_disable_from_middle() {
    let k = Sys::new(TWO_PATCHES);
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.insmod("P2")]);
    assert!(!k.holds("disable-from-middle", &s));
    let s = k.run(&s, &[k.call(0, "f"), k.disable("P1")]);
    assert_eq!(s.klp_transition_patch, Some(k.p("P1")));
    assert!(k.holds("disable-from-middle", &s));
}

/// transition-completes (eventually): its goal is "no transition"; the
/// liveness search (checker/src/liveness.rs) looks for fair cycles that
/// never reach it. Here only the goal predicate.
#[test]
fn property_transition_completes_goal() {
    let k = Sys::new(TWO_PATCHES);
    assert!(k.holds("transition-completes", &k.boot()));
    let s = k.run(&k.boot(), &[k.call(0, "f"), k.insmod("P1")]);
    assert!(!k.holds("transition-completes", &s));
}

/// patch-freed (eventually): pending while a disabled patch is not yet
/// freed or keeps its module reference (klp_free_patch_finish).
#[test]
fn property_patch_freed_goal() {
    let k = Sys::new(TWO_PATCHES);
    let s = k.run(&k.boot(), &[k.insmod("P1"), k.disable("P1")]);
    assert!(!k.holds("patch-freed", &s), "free_work has not run yet");
    let s = k.run(&s, &[k.free_work("P1")]);
    assert!(k.holds("patch-freed", &s));
}

/// describe::state_summary (stateright's Explorer shows it after every
/// step): the patch list, func_stacks, patches and tasks by their names.
#[test]
fn state_summary_speaks_kernel_terms() {
    let k = Sys::new(TWO_PATCHES);
    let s = k.run(&k.boot(), &[k.call(0, "f"), k.insmod("P1")]);
    let text = klp_model::describe::state_summary(&k.m.sc, &s);
    assert!(text.contains("klp_patches: [P1]"), "{text}");
    assert!(
        text.contains("klp_transition_patch: P1 (patching)"),
        "{text}"
    );
    assert!(text.contains("func_stack f: [P1] (head last)"), "{text}");
    assert!(
        text.contains("task 1: patch_state UNPATCHED, TIF_PATCH_PENDING, in f [original]"),
        "{text}"
    );
    assert!(text.contains("patch P2: module not loaded"), "{text}");
}
