//! Actions as JSON that names patches, modules and functions (not indices),
//! so a saved trace survives a reordering of the scenario and `replay` can say
//! which name no longer exists.

use klp_model::{Action, InsmodParams, Scenario};
use serde::{Deserialize, Serialize};

/// One action of a trace, by name. Tasks are numbered from 1, as reports show
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionJson {
    Insmod {
        patch: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replace: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pre_patch_ret: Option<u8>,
    },
    WriteEnabled {
        patch: String,
        value: u8,
    },
    WriteForce {
        patch: String,
    },
    Rmmod {
        patch: String,
    },
    SetPrePatchRet {
        patch: String,
        errno: u8,
    },
    FreeWork {
        patch: String,
    },
    /// klp_transition_work; `running`: the tasks running on other CPUs
    /// then (task numbers, or `swapper/N` for an idle task).
    TransitionWork {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        running: Vec<String>,
    },
    /// The livepatch command in progress goes on (`running` as above when
    /// this is its first klp_try_complete_transition).
    Continue {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        running: Vec<String>,
    },
    /// The idle task of `cpu` goes round do_idle.
    IdleLoop {
        cpu: u8,
    },
    LoadModule {
        module: String,
    },
    UnloadModule {
        module: String,
    },
    Call {
        task: u32,
        func: String,
    },
    Return {
        task: u32,
    },
    /// The task forks (copy_process); the child is the first unborn slot.
    Fork {
        task: u32,
    },
    /// The task exits (do_exit: release_task takes it off the task list).
    Exit {
        task: u32,
    },
    /// The exiting task's do_task_dead.
    Dead {
        task: u32,
    },
}

/// The named form of `a`.
pub fn encode(sc: &Scenario, a: &Action) -> ActionJson {
    let p = |id: u8| sc.patches[id as usize].name.clone();
    let o = |id: u8| sc.objects[id as usize].name.clone();
    match *a {
        Action::Insmod(x, params) => ActionJson::Insmod {
            patch: p(x),
            replace: params.replace,
            pre_patch_ret: params.pre_patch_ret,
        },
        Action::WriteEnabled(x, v) => ActionJson::WriteEnabled {
            patch: p(x),
            value: v as u8,
        },
        Action::WriteForce(x) => ActionJson::WriteForce { patch: p(x) },
        Action::Rmmod(x) => ActionJson::Rmmod { patch: p(x) },
        Action::SetPrePatchRet(x, e) => ActionJson::SetPrePatchRet {
            patch: p(x),
            errno: e,
        },
        Action::FreeWork(x) => ActionJson::FreeWork { patch: p(x) },
        Action::TransitionWork { busy } => ActionJson::TransitionWork {
            running: running_names(sc, busy),
        },
        Action::Continue { busy } => ActionJson::Continue {
            running: running_names(sc, busy),
        },
        Action::IdleLoop { cpu } => ActionJson::IdleLoop { cpu },
        Action::LoadModule(m) => ActionJson::LoadModule { module: o(m) },
        Action::UnloadModule(m) => ActionJson::UnloadModule { module: o(m) },
        Action::Call { task, func } => ActionJson::Call {
            task: task as u32 + 1,
            func: sc.funcs[func as usize].name.clone(),
        },
        Action::Return { task } => ActionJson::Return {
            task: task as u32 + 1,
        },
        Action::Fork { task } => ActionJson::Fork {
            task: task as u32 + 1,
        },
        Action::Exit { task } => ActionJson::Exit {
            task: task as u32 + 1,
        },
        Action::Dead { task } => ActionJson::Dead {
            task: task as u32 + 1,
        },
    }
}

/// The action `j` names in `sc`, or what does not exist.
pub fn decode(sc: &Scenario, j: &ActionJson) -> Result<Action, String> {
    let p = |name: &str| {
        sc.patch_by_name(name)
            .ok_or_else(|| format!("the scenario has no patch `{name}`"))
    };
    let m = |name: &str| match sc.object_by_name(name) {
        Some(0) | None => Err(format!("the scenario has no target module `{name}`")),
        Some(id) => Ok(id),
    };
    let t = |task: u32| {
        if task >= 1 && task <= sc.tasks.slots() {
            Ok((task - 1) as u8)
        } else {
            Err(format!(
                "the scenario has no task {task} (it has {} task slots: tasks.count and tasks.forks)",
                sc.tasks.slots()
            ))
        }
    };
    Ok(match j {
        ActionJson::Insmod {
            patch,
            replace,
            pre_patch_ret,
        } => Action::Insmod(
            p(patch)?,
            InsmodParams {
                replace: *replace,
                pre_patch_ret: *pre_patch_ret,
            },
        ),
        ActionJson::WriteEnabled { patch, value } => Action::WriteEnabled(p(patch)?, *value != 0),
        ActionJson::WriteForce { patch } => Action::WriteForce(p(patch)?),
        ActionJson::Rmmod { patch } => Action::Rmmod(p(patch)?),
        ActionJson::SetPrePatchRet { patch, errno } => Action::SetPrePatchRet(p(patch)?, *errno),
        ActionJson::FreeWork { patch } => Action::FreeWork(p(patch)?),
        ActionJson::TransitionWork { running } => Action::TransitionWork {
            busy: running_mask(sc, running)?,
        },
        ActionJson::Continue { running } => Action::Continue {
            busy: running_mask(sc, running)?,
        },
        ActionJson::IdleLoop { cpu } => {
            if u32::from(*cpu) >= sc.cpus {
                return Err(format!(
                    "the scenario has no CPU {cpu} (cpus is {})",
                    sc.cpus
                ));
            }
            Action::IdleLoop { cpu: *cpu }
        }
        ActionJson::LoadModule { module } => Action::LoadModule(m(module)?),
        ActionJson::UnloadModule { module } => Action::UnloadModule(m(module)?),
        ActionJson::Call { task, func } => Action::Call {
            task: t(*task)?,
            func: sc
                .func_by_name(func)
                .ok_or_else(|| format!("the scenario has no function `{func}`"))?,
        },
        ActionJson::Return { task } => Action::Return { task: t(*task)? },
        ActionJson::Fork { task } => Action::Fork { task: t(*task)? },
        ActionJson::Exit { task } => Action::Exit { task: t(*task)? },
        ActionJson::Dead { task } => Action::Dead { task: t(*task)? },
    })
}

/// The tasks of a `busy` set by name: `1`, `2`, ... for tasks and
/// `swapper/N` for the idle task of CPU N.
pub fn running_names(sc: &Scenario, busy: u16) -> Vec<String> {
    let n = sc.tasks.slots() as usize;
    (0..16usize)
        .filter(|b| busy & (1 << b) != 0)
        .map(|b| {
            if b < n {
                (b + 1).to_string()
            } else {
                format!("swapper/{}", b - n)
            }
        })
        .collect()
}

/// The `busy` set that `names` (as [`running_names`] writes them) stand for.
pub fn running_mask(sc: &Scenario, names: &[String]) -> Result<u16, String> {
    let n = sc.tasks.slots() as usize;
    let mut mask = 0u16;
    for name in names {
        let bit = if let Some(cpu) = name.strip_prefix("swapper/") {
            match cpu.parse::<u32>() {
                Ok(c) if c < sc.cpus => n + c as usize,
                _ => {
                    return Err(format!(
                        "the scenario has no CPU for `{name}` (cpus is {})",
                        sc.cpus
                    ))
                }
            }
        } else {
            match name.parse::<usize>() {
                Ok(t) if t >= 1 && t <= n => t - 1,
                _ => return Err(format!("the scenario has no task `{name}`")),
            }
        };
        mask |= 1 << bit;
    }
    Ok(mask)
}
