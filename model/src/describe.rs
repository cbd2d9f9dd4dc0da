//! Actions in the words a shell user (or a kernel developer reading a trace)
//! would use: the command typed, or what the kernel or a task did.

use crate::action::Action;
use crate::scenario::Scenario;
use crate::state::State;

/// The command or happening, without looking at the state.
pub fn command(sc: &Scenario, a: &Action) -> String {
    let module = |p: u8| sc.patches[p as usize].module.as_str();
    match *a {
        Action::Insmod(p, params) => {
            let mut s = format!("insmod {}.ko", module(p));
            if let Some(r) = params.replace {
                s += &format!(" replace={}", r as u8);
            }
            if let Some(e) = params.pre_patch_ret {
                s += &format!(" pre_patch_ret=-{e}");
            }
            s
        }
        Action::WriteEnabled(p, v) => {
            format!(
                "echo {} > /sys/kernel/livepatch/{}/enabled",
                v as u8,
                module(p)
            )
        }
        Action::WriteForce(p) => format!("echo 1 > /sys/kernel/livepatch/{}/force", module(p)),
        Action::Rmmod(p) => format!("rmmod {}", module(p)),
        Action::SetPrePatchRet(p, e) => {
            let v = if e == 0 {
                "0".to_string()
            } else {
                format!("-{e}")
            };
            format!(
                "echo {v} > /sys/module/{}/parameters/pre_patch_ret",
                module(p)
            )
        }
        Action::FreeWork(p) => format!(
            "[kworker] free_work of '{}' runs (klp_free_patch_finish)",
            module(p)
        ),
        Action::TransitionWork { busy } => format!(
            "[kworker] klp_transition_work runs (klp_try_complete_transition){}",
            running(sc, busy)
        ),
        Action::Continue { busy } => format!(
            "[kernel] the livepatch command goes on{}",
            running(sc, busy)
        ),
        Action::IdleLoop { cpu } => {
            format!("[swapper/{cpu}] the idle task goes round do_idle (klp_update_patch_state)")
        }
        Action::LoadModule(m) => format!("insmod {}.ko", sc.objects[m as usize].name),
        Action::UnloadModule(m) => format!("rmmod {}", sc.objects[m as usize].name),
        Action::Call { task, func } => {
            format!("task {} calls {}()", task + 1, sc.funcs[func as usize].name)
        }
        Action::Return { task } => format!("task {} returns", task + 1),
        Action::Fork { task } => format!("task {} forks (clone: copy_process)", task + 1),
        Action::Exit { task } => format!(
            "task {} exits (exit_group: do_exit, release_task takes it off the task list)",
            task + 1
        ),
        Action::Dead { task } => format!("task {} is gone (do_task_dead)", task + 1),
    }
}

/// ", while task 1 and swapper/0 run on other CPUs" for a try's busy set.
fn running(sc: &Scenario, busy: u16) -> String {
    if busy == 0 {
        return String::new();
    }
    let n = sc.tasks.slots() as usize;
    let names: Vec<String> = (0..16)
        .filter(|b| busy & (1 << b) != 0)
        .map(|b| {
            if b < n {
                format!("task {}", b + 1)
            } else {
                format!("swapper/{}", b - n)
            }
        })
        .collect();
    if names.len() == 1 {
        format!(", while {} runs on another CPU", names[0])
    } else {
        format!(", while {} run on other CPUs", names.join(" and "))
    }
}

/// The same, with what the state adds (which function a task returns from,
/// and whether it goes back to user space).
///
/// An admin command of a plan says which plan and step it is:
/// `[plan 'downgrade' step 4: load_livepatch v2] insmod livepatch_v2.ko`.
pub fn command_in(sc: &Scenario, s: &State, a: &Action) -> String {
    let text = command_in_kernel(sc, s, a);
    if !sc.plan_governs(a) {
        return text;
    }
    // Plans that share this step (a common prefix) are named together.
    let mut groups: Vec<(usize, &str, Vec<String>)> = Vec::new();
    for (plan, cmd) in sc.plans_taking(s, a) {
        let name = format!("'{}'", plan.name);
        match groups
            .iter_mut()
            .find(|(step, t, _)| *step == cmd.step && *t == cmd.text)
        {
            Some(g) => g.2.push(name),
            None => groups.push((cmd.step, &cmd.text, vec![name])),
        }
    }
    if groups.is_empty() {
        return text;
    }
    let shown: Vec<String> = groups
        .iter()
        .map(|(step, t, names)| {
            let plural = if names.len() > 1 { "plans" } else { "plan" };
            format!("{plural} {} step {}: {t}", names.join(", "), step + 1)
        })
        .collect();
    format!("[{}] {text}", shown.join("; "))
}

fn command_in_kernel(sc: &Scenario, s: &State, a: &Action) -> String {
    match *a {
        Action::Continue { busy } => {
            let module = |p: u8| sc.patches[p as usize].module.as_str();
            let obj = |p: u8, i: u8| {
                let objs = crate::kernel::objects_of(sc, s, p);
                objs.get(i as usize)
                    .map_or("?", |&o| sc.objects[o as usize].name.as_str())
                    .to_string()
            };
            let what = match s.klp_op {
                Some(crate::state::KlpOp::EnableObjects { patch, next, .. }) => format!(
                    "[kernel] enabling '{}' goes on: pre_patch and klp_patch_object of {}",
                    module(patch),
                    obj(patch, next)
                ),
                Some(crate::state::KlpOp::DisableObjects { patch, next }) => format!(
                    "[kernel] disabling '{}' goes on: pre_unpatch of {}",
                    module(patch),
                    obj(patch, next)
                ),
                Some(crate::state::KlpOp::FirstTry { patch }) => format!(
                    "[kernel] the command on '{}' tries to complete the transition, then returns",
                    module(patch)
                ),
                None => return command(sc, a),
            };
            format!("{what}{}", running(sc, busy))
        }
        Action::Return { task } => {
            let frames = &s.tasks[task as usize].frames;
            match frames.last() {
                Some(fr) if frames.len() == 1 => format!(
                    "task {} returns from {}() to user space",
                    task + 1,
                    sc.funcs[fr.func as usize].name
                ),
                Some(fr) => format!(
                    "task {} returns from {}()",
                    task + 1,
                    sc.funcs[fr.func as usize].name
                ),
                None => command(sc, a),
            }
        }
        _ => command(sc, a),
    }
}

/// The state in kernel terms, one fact per line (for stateright's Explorer
/// and anyone reading a state without the scenario's indices).
pub fn state_summary(sc: &Scenario, s: &State) -> String {
    use std::fmt::Write;
    let name = |p: u8| sc.patches[p as usize].name.as_str();
    let mut out = String::new();
    let list: Vec<&str> = s.klp_patches.iter().map(|&p| name(p)).collect();
    let _ = writeln!(out, "klp_patches: [{}]", list.join(", "));
    match s.klp_transition_patch {
        Some(tp) => {
            let _ = writeln!(
                out,
                "klp_transition_patch: {} ({})",
                name(tp),
                s.klp_target_state.direction()
            );
        }
        None => out += "klp_transition_patch: none\n",
    }
    for (f, stack) in s.func_stacks.iter().enumerate() {
        if !stack.is_empty() {
            let entries: Vec<String> = stack
                .iter()
                .map(|&p| {
                    let nop = s.patch(p).nops & (1 << f) != 0;
                    format!("{}{}", name(p), if nop { " (nop)" } else { "" })
                })
                .collect();
            let _ = writeln!(
                out,
                "func_stack {}: [{}] (head last)",
                sc.funcs[f].name,
                entries.join(", ")
            );
        }
    }
    for (p, r) in s.patches.iter().enumerate() {
        let life = match r.life {
            crate::state::Life::Unloaded => "module not loaded",
            crate::state::Life::Listed => "listed",
            crate::state::Life::Freeing => "off the list, free_work pending",
            crate::state::Life::Freed => "freed (module loaded, dormant)",
            crate::state::Life::Replaced => "on klp_replaced_patches",
        };
        let _ = writeln!(
            out,
            "patch {}: {life}{}{}{}{}",
            sc.patches[p].name,
            if r.enabled { ", enabled" } else { "" },
            if r.forced { ", forced" } else { "" },
            if r.module_ref {
                ", holds its module"
            } else {
                ""
            },
            if r.replaced { ", replaced" } else { "" },
        );
    }
    for (i, t) in s.tasks.iter().enumerate() {
        match t.life {
            crate::state::TaskLife::Unborn => continue,
            crate::state::TaskLife::Gone => {
                let _ = writeln!(out, "task {}: gone", i + 1);
                continue;
            }
            _ => {}
        }
        let frames: Vec<String> = t
            .frames
            .iter()
            .map(|fr| {
                format!(
                    "{} [{}]",
                    sc.funcs[fr.func as usize].name,
                    crate::event::impl_name(sc, fr.code)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "task {}: patch_state {}{}{}",
            i + 1,
            match t.patch_state {
                crate::state::KlpState::Idle => "IDLE",
                crate::state::KlpState::Unpatched => "UNPATCHED",
                crate::state::KlpState::Patched => "PATCHED",
            },
            if t.tif_patch_pending {
                ", TIF_PATCH_PENDING"
            } else {
                ""
            },
            if t.life == crate::state::TaskLife::Exiting {
                if frames.is_empty() {
                    ", exiting (off the task list)".to_string()
                } else {
                    format!(", exiting (off the task list), in {}", frames.join(" -> "))
                }
            } else if frames.is_empty() {
                ", in user space".to_string()
            } else {
                format!(", in {}", frames.join(" -> "))
            }
        );
    }
    let shadows: Vec<&str> = sc
        .shadow_vars
        .iter()
        .enumerate()
        .filter(|(v, _)| s.shadow & (1 << v) != 0)
        .map(|(_, v)| v.name.as_str())
        .collect();
    let freed: Vec<&str> = sc
        .shadow_vars
        .iter()
        .enumerate()
        .filter(|(v, _)| s.shadow_freed & (1 << v) != 0)
        .map(|(_, v)| v.name.as_str())
        .collect();
    if !sc.shadow_vars.is_empty() {
        let _ = write!(out, "shadow variables: [{}]", shadows.join(", "));
        if !freed.is_empty() {
            let _ = write!(out, " (freed: [{}])", freed.join(", "));
        }
        let _ = writeln!(out);
    }
    let mods: Vec<&str> = sc
        .sysmods
        .iter()
        .enumerate()
        .filter(|(m, _)| s.sysmods & (1 << m) != 0)
        .map(|(_, m)| m.as_str())
        .collect();
    if !sc.sysmods.is_empty() {
        let _ = writeln!(out, "system modifications set: [{}]", mods.join(", "));
    }
    out
}
