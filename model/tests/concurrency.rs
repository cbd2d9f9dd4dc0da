//! The finer model of the 2026-12 audit: CPUs and idle tasks, tasks running
//! on other CPUs at a try (-EBUSY), enable and disable as several steps
//! under klp_mutex, the kthread/user distinction, and the two properties
//! that came with it (no-kernel-warning, stack-check-in-bounds). Each test
//! names the kernel function it stands for.

use klp_model::properties::property;
use klp_model::state::{KlpOp, KlpState};
use klp_model::transition::busy_choices;
use klp_model::{parse_spec, Action, InsmodParams, KlpModel, Scenario, State};
use stateright::Model;

fn model(json: &str) -> KlpModel {
    let spec = parse_spec(json).unwrap_or_else(|e| panic!("{e}"));
    KlpModel::new(Scenario::compile(&spec, "test").unwrap_or_else(|e| panic!("{e}")))
}

fn insmod(m: &KlpModel, name: &str) -> Action {
    Action::Insmod(m.sc.patch_by_name(name).unwrap(), InsmodParams::default())
}

fn call(m: &KlpModel, task: u8, f: &str) -> Action {
    Action::Call {
        task,
        func: m.sc.func_by_name(f).unwrap(),
    }
}

fn run(m: &KlpModel, s: &State, actions: &[Action]) -> (State, Vec<String>) {
    let mut s = s.clone();
    let mut out = vec![];
    for a in actions {
        let (n, ev) = m.step_with_events(&s, a);
        out.extend(ev.iter().map(|e| e.oracle(&m.sc)));
        s = n;
    }
    (s, out)
}

fn holds(m: &KlpModel, id: &str, s: &State) -> bool {
    (property(id).unwrap().check)(&m.sc, s)
}

fn actions(m: &KlpModel, s: &State) -> Vec<Action> {
    let mut v = vec![];
    m.actions(s, &mut v);
    v
}

const ONE_PATCH: &str = r#"{"spec_version":1,
    "objects":{"vmlinux":{"funcs":["f"]}},
    "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}}}}}},
    "tasks":{"count":1}}"#;

/// The e1 patches of the audit (shadow-uaf-cumulative-2cpus.json).
const E1: &str = r#"{"spec_version":1, "cpus":2,
    "objects":{"audit_target":{"funcs":["audit_f"],"loaded":true}},
    "shadow_vars":{"V":{"parent":"OBJ","id":"7"}},
    "patches":{
      "P1":{"states":[{"id":1,"version":0}],
            "objects":{"audit_target":{"funcs":{"audit_f":{"frees_shadow":["V"]}}}}},
      "P2":{"replace":true,"states":[{"id":1,"version":1}],
            "objects":{"audit_target":{"funcs":{"audit_f":{"uses_shadow":["V"]}},
              "callbacks":{"pre_patch":{"shadow_get_or_alloc":["V"]}}}}}},
    "tasks":{"count":1}}"#;

/// transition.c:klp_init_transition and klp_start_transition walk the idle
/// tasks too; core.c:__klp_enable_patch returns (klp_op FirstTry) before
/// its first klp_try_complete_transition, which is a step of its own.
#[test]
fn insmod_stops_before_its_first_try_and_idle_tasks_take_part() {
    let m = model(ONE_PATCH);
    assert_eq!(m.boot().idle_tasks.len(), 2, "the default is 2 CPUs");
    let (s, ev) = run(&m, &m.boot(), &[insmod(&m, "P1")]);
    assert_eq!(
        ev,
        [
            "enabling(P1)",
            "transition_init(P1,patching)",
            "transition_start(P1,patching)"
        ]
    );
    assert_eq!(s.klp_op, Some(KlpOp::FirstTry { patch: 0 }));
    assert!(s.patch(0).enabled);
    for t in s.idle_tasks.iter().chain(s.tasks.iter()) {
        assert_eq!(t.patch_state, KlpState::Unpatched);
        assert!(t.tif_patch_pending);
    }
    // klp_mutex is held: no other livepatch command, no transition work.
    let acts = actions(&m, &s);
    assert!(acts.iter().all(|a| matches!(
        a,
        Action::Continue { .. } | Action::Call { .. } | Action::IdleLoop { .. }
    )));
}

/// transition.c:klp_try_complete_transition on 2 CPUs with no task of the
/// scenario running: the other CPU runs its idle task, which is not
/// switched (-EBUSY, "swapper/1:0 is running"); do_idle switches it
/// (klp_update_patch_state) and the next try completes.
#[test]
fn the_other_cpus_idle_task_keeps_the_first_try_from_completing() {
    let m = model(
        r#"{"spec_version":1,"objects":{"vmlinux":{"funcs":["f"]}},
        "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}}}}}},
        "tasks":{"count":1}}"#,
    );
    let (s, _) = run(&m, &m.boot(), &[insmod(&m, "P1")]);
    // Task 1 may run on the other CPU or sleep; when it sleeps, the other
    // CPU's idle task runs. Either way one of them is busy.
    let choices = busy_choices(&m.sc, &s);
    assert_eq!(choices.as_slice(), [0b001, 0b010, 0b100]);
    let (s, ev) = run(&m, &s, &[Action::Continue { busy: 0b100 }]);
    assert_eq!(
        ev,
        [
            "task_switched(1,patching,stack_check)",
            "idle_switched(swapper/0,patching,stack_check)",
            "task_running(swapper/1)",
            "transition_pending(P1,1)"
        ]
    );
    assert_eq!(s.klp_op, None);
    assert!(actions(&m, &s).contains(&Action::IdleLoop { cpu: 1 }));
    let (s, ev) = run(&m, &s, &[Action::IdleLoop { cpu: 1 }]);
    assert_eq!(ev, ["idle_switched(swapper/1,patching,idle_loop)"]);
    assert_eq!(busy_choices(&m.sc, &s).as_slice(), [0]);
    let (s, ev) = run(&m, &s, &[Action::TransitionWork { busy: 0 }]);
    assert_eq!(
        ev,
        [
            "transition_completing(P1,patching)",
            "transition_complete(P1,patching)"
        ]
    );
    assert!(holds(&m, "single-transition", &s));
}

/// With one CPU the try runs on the only CPU: nothing else runs, every
/// sleeping task with a clean stack switches.
#[test]
fn one_cpu_has_no_running_task_at_a_try() {
    let m = model(
        r#"{"spec_version":1,"cpus":1,"objects":{"vmlinux":{"funcs":["f"]}},
        "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}}}}}},
        "tasks":{"count":2}}"#,
    );
    let (s, _) = run(&m, &m.boot(), &[insmod(&m, "P1")]);
    assert_eq!(busy_choices(&m.sc, &s).as_slice(), [0]);
    let (s, _) = run(&m, &s, &[Action::Continue { busy: 0 }]);
    assert_eq!(s.klp_transition_patch, None);
}

/// transition.c:klp_check_and_switch_task: `if (task_curr(task) && task
/// != current) return -EBUSY`: a task with a clean stack that runs on
/// another CPU stays unswitched and keeps entering the old code
/// (patch.c:klp_ftrace_handler sends an UNPATCHED task below the func in
/// transition) until it switches on its way back to user space.
#[test]
fn a_running_task_stays_unswitched_and_enters_old_code() {
    let m = model(
        r#"{"spec_version":1,"objects":{"vmlinux":{"funcs":["f"]}},
        "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}}}}},
                   "P2":{"replace":true,"objects":{"vmlinux":{"funcs":{"f":{}}}}}},
        "tasks":{"count":1}}"#,
    );
    let quiet = |s: &State, a: &Action| m.step_command(s, a).0;
    let s = quiet(&m.boot(), &insmod(&m, "P1"));
    let (s, _) = run(&m, &s, &[insmod(&m, "P2")]);
    // Task 1 runs on CPU 1 while the try runs on CPU 0.
    let (s, ev) = run(&m, &s, &[Action::Continue { busy: 0b001 }]);
    assert!(ev.contains(&"task_running(1)".to_string()));
    assert_eq!(s.tasks[0].patch_state, KlpState::Unpatched);
    let (s, ev) = run(&m, &s, &[call(&m, 0, "f")]);
    assert_eq!(ev, ["task_call(1,f,P1)"]);
    let (s, ev) = run(&m, &s, &[Action::Return { task: 0 }, call(&m, 0, "f")]);
    assert_eq!(
        ev,
        [
            "task_return(1,f)",
            "task_switched(1,patching,exit_to_user)",
            "task_call(1,f,P2)"
        ]
    );
    assert!(holds(&m, "consistent-universe", &s));
}

/// The audit's kernel run e1 step by step: P2's pre_patch allocates V, the
/// task (not yet switched) runs P1's audit_f and frees it, and P2's
/// audit_f then runs without V.
#[test]
fn old_code_after_the_new_patchs_pre_patch_frees_its_shadow_variable() {
    let m = model(E1);
    let quiet = |s: &State, a: &Action| m.step_command(s, a).0;
    let s = quiet(&m.boot(), &insmod(&m, "P1"));
    let (s, ev) = run(&m, &s, &[insmod(&m, "P2")]);
    assert!(ev.contains(&"shadow_created(V)".to_string()));
    assert_ne!(s.shadow, 0);
    let (s, ev) = run(&m, &s, &[call(&m, 0, "audit_f")]);
    assert_eq!(ev, ["task_call(1,audit_f,P1)", "shadow_freed(V)"]);
    let (s, _) = run(
        &m,
        &s,
        &[
            Action::Continue { busy: 0b100 },
            Action::Return { task: 0 },
            call(&m, 0, "audit_f"),
        ],
    );
    assert_eq!(s.shadow, 0);
    assert!(!holds(&m, "shadow-no-use-after-free", &s));
}

/// core.c:__klp_enable_patch's loop over the objects: a step boundary
/// before the pre_patch of every object after the first whose callback
/// changes what tasks see; none when it only logs.
#[test]
fn enable_stops_between_objects_whose_pre_patch_tasks_can_see() {
    let json = |effects: &str| {
        format!(
            r#"{{"spec_version":1,"system_modifications":["M"],
            "objects":{{"vmlinux":{{"funcs":["f"]}},"m":{{"funcs":["g"],"loaded":true}}}},
            "patches":{{"P1":{{"objects":{{
                "vmlinux":{{"funcs":{{"f":{{}}}},"callbacks":{{"pre_patch":{{}}}}}},
                "m":{{"funcs":{{"g":{{}}}},"callbacks":{{"pre_patch":{effects}}}}}}}}}}},
            "tasks":{{"count":1}}}}"#
        )
    };
    let m = model(&json(r#"{"set":["M"]}"#));
    let (s, ev) = run(&m, &m.boot(), &[insmod(&m, "P1")]);
    assert_eq!(
        ev,
        [
            "enabling(P1)",
            "transition_init(P1,patching)",
            "pre_patch(P1,vmlinux)"
        ]
    );
    assert!(matches!(
        s.klp_op,
        Some(KlpOp::EnableObjects {
            next: 1,
            insmod: true,
            ..
        })
    ));
    let (s, ev) = run(&m, &s, &[Action::Continue { busy: 0 }]);
    assert_eq!(
        ev,
        [
            "pre_patch(P1,m,LIVE)",
            "sysmod_set(M)",
            "transition_start(P1,patching)"
        ]
    );
    assert_eq!(s.klp_op, Some(KlpOp::FirstTry { patch: 0 }));
    // A callback that only logs changes nothing a task sees: one step.
    let m = model(&json("{}"));
    let (s, _) = run(&m, &m.boot(), &[insmod(&m, "P1")]);
    assert_eq!(s.klp_op, Some(KlpOp::FirstTry { patch: 0 }));
}

/// A pre_patch failure in a later step of the insmod cancels the
/// transition and the module load fails (core.c:klp_enable_patch's err
/// path, klp_cancel_transition).
#[test]
fn a_pre_patch_failure_in_a_later_step_fails_the_insmod() {
    let m = model(
        r#"{"spec_version":1,"system_modifications":["M"],
        "objects":{"vmlinux":{"funcs":["f"]},"m":{"funcs":["g"],"loaded":true}},
        "patches":{"P1":{"objects":{
            "vmlinux":{"funcs":{"f":{}}},
            "m":{"funcs":{"g":{}},"callbacks":{"pre_patch":{"set":["M"],"ret":"ENODEV"}}}}}},
        "tasks":{"count":1}}"#,
    );
    let (s, _) = run(&m, &m.boot(), &[insmod(&m, "P1")]);
    assert!(s.klp_op.is_some());
    let (s, ev) = run(&m, &s, &[Action::Continue { busy: 0 }]);
    assert_eq!(ev.last().unwrap(), "load_error(P1,ENODEV)");
    assert!(!s.patch(0).module_loaded());
    assert_eq!(s.patch(0).loads, 0);
    assert!(s.klp_patches.is_empty() && s.klp_transition_patch.is_none());
    assert_eq!(s.klp_op, None);
}

/// A kthread never returns to user space: klp_update_patch_state in
/// exit_to_user_mode never runs for it, only a stack check switches it.
#[test]
fn a_kthread_does_not_switch_on_return() {
    let m = model(
        r#"{"spec_version":1,"cpus":1,"objects":{"vmlinux":{"funcs":["f"]}},
        "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}}}}}},
        "tasks":{"count":1,"kind":"kthread"}}"#,
    );
    let (s, _) = run(
        &m,
        &m.boot(),
        &[
            call(&m, 0, "f"),
            insmod(&m, "P1"),
            Action::Continue { busy: 0 },
        ],
    );
    assert_eq!(s.klp_transition_patch, Some(0));
    let (s, ev) = run(&m, &s, &[Action::Return { task: 0 }]);
    assert_eq!(ev, ["task_return(1,f)"]);
    assert_eq!(s.tasks[0].patch_state, KlpState::Unpatched);
    let (s, _) = run(&m, &s, &[Action::TransitionWork { busy: 0 }]);
    assert_eq!(s.klp_transition_patch, None);
}

/// transition.c:klp_check_stack_func on a reversed disable of P1 below P2:
/// `list_next_entry(func, stack_node)` of the bottom func is the klp_ops
/// list head (stack-check-in-bounds).
#[test]
fn reversed_disable_of_a_lower_patch_reads_past_the_func_stack() {
    let m = model(
        r#"{"spec_version":1,"cpus":1,"objects":{"vmlinux":{"funcs":["f","g"]}},
        "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{},"g":{}}}}},
                   "P2":{"objects":{"vmlinux":{"funcs":{"f":{}}}}}},
        "tasks":{"count":1,"max_depth":1},"admin":{"enable":true}}"#,
    );
    let quiet = |s: &State, a: &Action| m.step_command(s, a).0;
    let mut s = quiet(&m.boot(), &insmod(&m, "P1"));
    s = quiet(&s, &insmod(&m, "P2"));
    // The task sleeps in P1's g, so P1's disable stalls.
    s = quiet(&s, &call(&m, 0, "g"));
    s = quiet(&s, &Action::WriteEnabled(0, false));
    assert_eq!(s.klp_transition_patch, Some(0));
    assert!(holds(&m, "stack-check-in-bounds", &s));
    // The idle task switched to UNPATCHED; after the reversal it is
    // checked against target PATCHED like any task.
    s = quiet(&s, &Action::WriteEnabled(0, true));
    assert_eq!(s.idle_tasks[0].patch_state, KlpState::Unpatched);
    let (s, _) = run(&m, &s, &[Action::TransitionWork { busy: 0 }]);
    assert!(!holds(&m, "stack-check-in-bounds", &s));
}

/// state.c:klp_get_prev_state outside a transition: WARN_ON_ONCE
/// (no-kernel-warning), as the audit's run e3 printed.
#[test]
fn get_prev_state_outside_a_transition_warns() {
    let m = model(
        r#"{"spec_version":1,"cpus":1,"objects":{"vmlinux":{"funcs":["f"]},"m":{"funcs":[]}},
        "patches":{"P1":{"states":[{"id":1}],"objects":{"vmlinux":{"funcs":{"f":{}}},
            "m":{"callbacks":{"pre_patch":{"if_prev_state":{"id":1}}}}}}},
        "tasks":{"count":1},"admin":{"target_modules":{"m":{"load":true}}}}"#,
    );
    let s = m.step_command(&m.boot(), &insmod(&m, "P1")).0;
    assert!(s.klp_transition_patch.is_none());
    assert!(holds(&m, "no-kernel-warning", &s));
    let (s, ev) = run(&m, &s, &[Action::LoadModule(1)]);
    assert!(ev.contains(&"kernel_warning(state.c:klp_get_prev_state)".to_string()));
    assert!(!holds(&m, "no-kernel-warning", &s));
}

/// Profile v5.4: no klp_state yet (it came in 5.5), so an insmod that
/// mainline refuses as incompatible loads.
#[test]
fn v54_has_no_klp_state_compatibility_check() {
    let json = |profile: &str| {
        format!(
            r#"{{"spec_version":1,"profile":"{profile}","cpus":1,"objects":{{"vmlinux":{{"funcs":["f"]}}}},
            "patches":{{"NEW":{{"replace":true,"states":[{{"id":1,"version":2}}],"objects":{{"vmlinux":{{"funcs":{{"f":{{}}}}}}}}}},
                       "OLD":{{"replace":true,"states":[{{"id":1,"version":1}}],"objects":{{"vmlinux":{{"funcs":{{"f":{{}}}}}}}}}}}},
            "tasks":{{"count":1}}}}"#
        )
    };
    for (profile, loads) in [("mainline", false), ("v5.4", true)] {
        let m = model(&json(profile));
        let s = m.step_command(&m.boot(), &insmod(&m, "NEW")).0;
        let s = m.step_command(&s, &Action::TransitionWork { busy: 0 }).0;
        let s = m.step_command(&s, &insmod(&m, "OLD")).0;
        assert_eq!(s.patch(1).module_loaded(), loads, "{profile}");
    }
}

const FORK_EXIT: &str = r#"{"spec_version":1, "cpus":2,
    "objects":{"vmlinux":{"funcs":["f"]}},
    "patches":{"P1":{"objects":{"vmlinux":{"funcs":{"f":{}}}}}},
    "tasks":{"count":1,"forks":1,"exit":true,"exit_calls":["f"],"kind":"kthread"}}"#;

/// fork.c:copy_process -> transition.c:klp_copy_process: the child takes
/// the parent's patch_state and TIF_PATCH_PENDING (a kthread keeps them:
/// it never returns to user space); the slot is used once.
#[test]
fn fork_child_takes_parents_patch_state_and_pending() {
    use klp_model::state::TaskLife;
    let m = model(FORK_EXIT);
    let boot = m.boot();
    assert_eq!(boot.tasks.len(), 2, "one task and one fork slot");
    assert_eq!(boot.tasks[1].life, TaskLife::Unborn);
    // The first try finds task 1 running on the other CPU (-EBUSY).
    let (s, _) = run(&m, &boot, &[insmod(&m, "P1"), Action::Continue { busy: 1 }]);
    assert_eq!(s.tasks[0].patch_state, KlpState::Unpatched);
    assert!(s.tasks[0].tif_patch_pending);
    let (s, ev) = run(&m, &s, &[Action::Fork { task: 0 }]);
    assert_eq!(ev, ["task_forked(1,2)"]);
    assert_eq!(s.tasks[1].life, TaskLife::Listed);
    assert_eq!(s.tasks[1].patch_state, KlpState::Unpatched);
    assert!(s.tasks[1].tif_patch_pending);
    assert!(
        !actions(&m, &s).contains(&Action::Fork { task: 0 }),
        "no slot left"
    );
    // The child is on the task list: the next try switches it too.
    let (s, _) = run(&m, &s, &[Action::TransitionWork { busy: 0 }]);
    assert!(s.klp_transition_patch.is_none(), "transition completed");
}

/// A user task's fork: parent and child pass exit_to_user_mode
/// (klp_update_patch_state) on their way out of the clone syscall.
#[test]
fn user_fork_switches_parent_and_child_on_the_way_out() {
    let m = model(&FORK_EXIT.replace(r#","kind":"kthread""#, ""));
    let (s, _) = run(
        &m,
        &m.boot(),
        &[insmod(&m, "P1"), Action::Continue { busy: 1 }],
    );
    assert!(s.tasks[0].tif_patch_pending);
    let (s, ev) = run(&m, &s, &[Action::Fork { task: 0 }]);
    assert_eq!(
        ev,
        [
            "task_forked(1,2)",
            "task_switched(1,patching,exit_to_user)",
            "task_switched(2,patching,exit_to_user)"
        ]
    );
    assert_eq!(s.tasks[1].patch_state, KlpState::Patched);
}

/// exit.c:do_exit -> release_task takes the task off the task list: the
/// try no longer waits for it; an exiting task that calls a func in
/// transition with the IDLE state it kept hits klp_ftrace_handler's
/// WARN_ON_ONCE (no-kernel-warning).
#[test]
fn exited_task_leaves_the_task_list_and_can_hit_the_handler_warning() {
    use klp_model::state::TaskLife;
    let m = model(FORK_EXIT);
    let (s, ev) = run(&m, &m.boot(), &[Action::Exit { task: 0 }]);
    assert_eq!(ev, ["task_exited(1)"]);
    assert_eq!(s.tasks[0].life, TaskLife::Exiting);
    let (s, _) = run(&m, &s, &[insmod(&m, "P1")]);
    assert_eq!(
        s.tasks[0].patch_state,
        KlpState::Idle,
        "klp_init_transition did not see it"
    );
    assert!(!s.tasks[0].tif_patch_pending);
    assert!(holds(&m, "no-kernel-warning", &s));
    let (s2, ev) = run(&m, &s, &[call(&m, 0, "f")]);
    assert_eq!(ev[0], "kernel_warning(patch.c:klp_ftrace_handler)");
    assert!(!holds(&m, "no-kernel-warning", &s2));
    // The exiting task is not among the tasks the try switches, so the
    // transition completes while it sits in f.
    let (s3, _) = run(&m, &s2, &[Action::Continue { busy: 0 }]);
    assert!(s3.klp_transition_patch.is_none());
    let (s4, ev) = run(
        &m,
        &s3,
        &[Action::Return { task: 0 }, Action::Dead { task: 0 }],
    );
    assert_eq!(ev.last().unwrap(), "task_dead(1)");
    assert_eq!(s4.tasks[0].life, TaskLife::Gone);
    assert!(actions(&m, &s4)
        .iter()
        .all(|a| !matches!(a, Action::Call { .. } | Action::Fork { .. })));
}

/// state.c:klp_get_prev_state returns the last matching state; a callback
/// branches on its version (`if_prev_state.min_version`).
#[test]
fn prev_state_version_selects_the_branch() {
    let json = |v: u32| {
        format!(
            r#"{{"spec_version":1,
        "objects":{{"vmlinux":{{"funcs":["f"]}}}},
        "system_modifications":["old_fix","new_fix"],
        "patches":{{
          "P1":{{"states":[{{"id":1,"version":{v}}}],"objects":{{"vmlinux":{{"funcs":{{"f":{{}}}}}}}}}},
          "P2":{{"replace":true,"states":[{{"id":1,"version":3}}],"objects":{{"vmlinux":{{"funcs":{{"f":{{}}}},
            "callbacks":{{"pre_patch":{{"if_prev_state":{{"id":1,"min_version":2,
               "then":{{"set":["new_fix"]}},"else":{{"set":["old_fix"]}}}}}}}}}}}}}}}},
        "tasks":{{"count":1}}}}"#
        )
    };
    for (v, expect) in [(1, "sysmod_set(old_fix)"), (2, "sysmod_set(new_fix)")] {
        let m = model(&json(v));
        let (s, _) = m.step_command(&m.boot(), &insmod(&m, "P1"));
        let (s, _) = run(&m, &s, &[Action::TransitionWork { busy: 0 }]);
        let (_, ev) = m.step_command(&s, &insmod(&m, "P2"));
        assert!(
            ev.iter().any(|e| e.oracle(&m.sc) == expect),
            "version {v}: {ev:?}"
        );
    }
}
