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
        Action::TransitionWork => {
            "[kworker] klp_transition_work runs (klp_try_complete_transition)".to_string()
        }
        Action::LoadModule(m) => format!("insmod {}.ko", sc.objects[m as usize].name),
        Action::UnloadModule(m) => format!("rmmod {}", sc.objects[m as usize].name),
        Action::Call { task, func } => {
            format!("task {} calls {}()", task + 1, sc.funcs[func as usize].name)
        }
        Action::Return { task } => format!("task {} returns", task + 1),
    }
}

/// The same, with what the state adds (which function a task returns from,
/// and whether it goes back to user space).
pub fn command_in(sc: &Scenario, s: &State, a: &Action) -> String {
    match *a {
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
