//! Liveness under fairness: `transition-completes` and `patch-freed`.
//!
//! stateright's `Property::eventually` only looks at terminal states and
//! misses violations on cycles, and it has no notion of fairness. This
//! search is sound for weak fairness: it builds the reachable state graph,
//! keeps the states where the obligation is still pending, splits them into
//! strongly connected components (Tarjan), and reports a component that a
//! fair run can stay in forever. A component C holds a fair cycle iff, for
//! every weakly fair action class, the class is disabled in some state of C
//! or taken by some edge inside C. The counterexample is a lasso: a shortest
//! prefix to C and a loop inside C that takes the required edges.
//!
//! Fairness (stated, never implied): the kernel's work items are weakly fair
//! (klp_transition_work while a transition is pending, each patch's
//! free_work); every task not listed in `fairness.may_block_forever` is
//! just: it returns to user space infinitely often (it may call again, but
//! never stays in the kernel forever, asleep or looping through calls); the
//! admin eventually stops typing (loops contain no admin command), and with
//! `fairness.admin_forces` the admin eventually writes 1 to `force` of a
//! stuck transition patch (weak fairness). A component is fair when, in
//! addition, every just task is at user space in one of its states, and so
//! is every `fairness.interruptible` sleeper that has TIF_PATCH_PENDING in
//! one of its states (klp_send_signals wakes it every 15th failed try).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use klp_model::properties::{patch_release_pending, transition_pending};
use klp_model::{Action, KlpModel, State};
use stateright::Model;

use crate::engines::{Bounds, Snapshot};

/// A weakly fair class of actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    /// klp_transition_work finding none of the scenario's tasks running on
    /// another CPU (a running task is preempted or sleeps sooner or later;
    /// the idle tasks are woken and switch in do_idle: `IdleLoop`).
    TransitionWork,
    /// The livepatch command in progress goes on.
    Continue,
    /// The idle task of a CPU goes round do_idle.
    IdleLoop(u8),
    FreeWork(u8),
    Force,
}

/// The explicit state graph.
struct Graph {
    states: Vec<State>,
    /// Per state: (target, action).
    edges: Vec<Vec<(u32, Action)>>,
    /// BFS parent for shortest prefixes.
    parent: Vec<Option<(u32, Action)>>,
}

/// The verdict of one liveness property.
pub struct LivenessResult {
    pub id: &'static str,
    /// None: holds; Some((prefix, loop)): a fair lasso that violates it.
    pub lasso: Option<(Vec<Action>, Vec<Action>)>,
    /// The graph was larger than the bound: no verdict.
    pub unknown: Option<String>,
}

fn is_admin(a: &Action) -> bool {
    matches!(
        a,
        Action::Insmod(..)
            | Action::WriteEnabled(..)
            | Action::WriteForce(_)
            | Action::Rmmod(_)
            | Action::SetPrePatchRet(..)
            | Action::LoadModule(_)
            | Action::UnloadModule(_)
    )
}

/// The fair class of `a` in a scenario with `tasks` tasks.
fn class_of(a: &Action, tasks: usize) -> Option<Class> {
    let real_tasks: u16 = (1u16 << tasks) - 1;
    match *a {
        Action::TransitionWork { busy } if busy & real_tasks == 0 => Some(Class::TransitionWork),
        Action::Continue { .. } => Some(Class::Continue),
        Action::IdleLoop { cpu } => Some(Class::IdleLoop(cpu)),
        Action::FreeWork(p) => Some(Class::FreeWork(p)),
        Action::WriteForce(_) => Some(Class::Force),
        _ => None,
    }
}

/// Fingerprints are already well mixed: hash them as they are.
#[derive(Default)]
struct Passthrough(u64);

impl std::hash::Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Builds the graph; states are told apart by their 64-bit fingerprint (as
/// in the native engine: the collision probability is reported there), so
/// the index holds 12 bytes per state instead of a second copy of it.
fn build(
    model: &KlpModel,
    bounds: &LivenessBounds,
    progress: &dyn Fn(&Snapshot),
) -> Result<Graph, String> {
    let start = Instant::now();
    let max_states = bounds.max_states;
    let fp = crate::engine::Fingerprinter::default();
    let mut index: HashMap<u64, u32, std::hash::BuildHasherDefault<Passthrough>> =
        HashMap::default();
    let mut g = Graph {
        states: vec![],
        edges: vec![],
        parent: vec![],
    };
    let mut queue = VecDeque::new();
    for s in model.init_states() {
        if let std::collections::hash_map::Entry::Vacant(e) = index.entry(fp.fingerprint(&s)) {
            e.insert(g.states.len() as u32);
            g.states.push(s);
            g.edges.push(vec![]);
            g.parent.push(None);
            queue.push_back(g.states.len() as u32 - 1);
        }
    }
    let mut actions = Vec::new();
    let mut expanded = 0u64;
    while let Some(i) = queue.pop_front() {
        expanded += 1;
        if expanded.is_multiple_of(1024) {
            if bounds.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(format!("{} reached", bounds.timeout_text));
            }
            if expanded.is_multiple_of(16384) {
                progress(&Snapshot {
                    phase: "liveness",
                    states: 0,
                    unique_states: g.states.len() as u64,
                    max_depth: 0,
                    seconds: start.elapsed().as_secs_f64(),
                    queue: Some(queue.len() as u64),
                });
            }
        }
        actions.clear();
        model.actions(&g.states[i as usize], &mut actions);
        for a in actions.drain(..) {
            let Some(next) = model.next_state(&g.states[i as usize], a.clone()) else {
                continue;
            };
            let key = fp.fingerprint(&next);
            let j = match index.get(&key) {
                Some(&j) => j,
                None => {
                    if g.states.len() >= max_states {
                        return Err(format!(
                            "its state graph has more than {max_states} states ({})",
                            bounds.limit_text
                        ));
                    }
                    let j = g.states.len() as u32;
                    index.insert(key, j);
                    g.states.push(next);
                    g.edges.push(vec![]);
                    g.parent.push(Some((i, a.clone())));
                    queue.push_back(j);
                    j
                }
            };
            g.edges[i as usize].push((j, a));
        }
    }
    Ok(g)
}

/// Strongly connected components of the subgraph of `keep` states using
/// non-admin edges (iterative Tarjan). Returns component id per state
/// (u32::MAX when not kept).
fn sccs(g: &Graph, keep: &[bool]) -> (Vec<u32>, u32) {
    let n = g.states.len();
    let mut comp = vec![u32::MAX; n];
    let mut idx = vec![u32::MAX; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next_index = 0u32;
    let mut ncomp = 0u32;
    for root in 0..n {
        if !keep[root] || idx[root] != u32::MAX {
            continue;
        }
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        idx[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut ei)) = call.last_mut() {
            let edges = &g.edges[v];
            if *ei < edges.len() {
                let (w, ref a) = edges[*ei];
                *ei += 1;
                let w = w as usize;
                if !keep[w] || is_admin(a) {
                    continue;
                }
                if idx[w] == u32::MAX {
                    idx[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(idx[w]);
                }
            } else {
                call.pop();
                if let Some(&(u, _)) = call.last() {
                    low[u] = low[u].min(low[v]);
                }
                if low[v] == idx[v] {
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp[w] = ncomp;
                        if w == v {
                            break;
                        }
                    }
                    ncomp += 1;
                }
            }
        }
    }
    (comp, ncomp)
}

/// The weakly fair classes for this scenario.
fn fair_classes(model: &KlpModel) -> Vec<Class> {
    let sc = &model.sc;
    let mut out = vec![Class::TransitionWork, Class::Continue];
    for cpu in 0..sc.cpus {
        out.push(Class::IdleLoop(cpu as u8));
    }
    for p in 0..sc.patches.len() {
        out.push(Class::FreeWork(p as u8));
    }
    if sc.fairness.admin_forces {
        out.push(Class::Force);
    }
    out
}

/// Tasks that must return to user space infinitely often.
fn just_tasks(model: &KlpModel, g: &Graph) -> Vec<usize> {
    let tasks = g.states.first().map_or(0, |s| s.tasks.len());
    (0..tasks)
        .filter(|t| !model.sc.fairness.may_block_forever.contains(t))
        .collect()
}

fn at_user(g: &Graph, s: usize, t: usize) -> bool {
    g.states[s].tasks[t].frames.is_empty()
}

fn enabled(g: &Graph, s: usize, c: Class) -> bool {
    let n = g.states[s].tasks.len();
    g.edges[s].iter().any(|(_, a)| class_of(a, n) == Some(c))
}

/// Finds a fair lasso that stays in `pending` states forever.
fn find_lasso(model: &KlpModel, g: &Graph, pending: &[bool]) -> Option<(Vec<Action>, Vec<Action>)> {
    let (comp, ncomp) = sccs(g, pending);
    let classes = fair_classes(model);
    let mut members: Vec<Vec<usize>> = vec![vec![]; ncomp as usize];
    for (s, &c) in comp.iter().enumerate() {
        if c != u32::MAX {
            members[c as usize].push(s);
        }
    }
    // Prefer the component reached first (shortest prefix): states are
    // numbered in BFS order.
    let mut order: Vec<usize> = (0..ncomp as usize).collect();
    order.sort_by_key(|&c| members[c].iter().min().copied().unwrap_or(usize::MAX));
    // A pending state where no fair class is enabled: nobody has to move,
    // so a run may stay there forever (stuttering).
    let just = just_tasks(model, g);
    let stutter = (0..g.states.len()).find(|&s| {
        pending[s]
            && classes.iter().all(|&cl| !enabled(g, s, cl))
            && just.iter().all(|&t| at_user(g, s, t))
    });
    let first_comp = order
        .first()
        .map(|&c| members[c].iter().min().copied().unwrap_or(usize::MAX));
    if let Some(s) = stutter {
        if first_comp.is_none_or(|f| s <= f) {
            return Some((path_from_root(g, s), vec![]));
        }
    }
    for c in order {
        let m = &members[c];
        let inside = |s: usize, w: u32, a: &Action| {
            comp[w as usize] == c as u32 && comp[s] == c as u32 && !is_admin(a)
        };
        let has_cycle = m.len() > 1
            || m.iter().any(|&s| {
                g.edges[s]
                    .iter()
                    .any(|(w, a)| *w as usize == s && !is_admin(a))
            });
        let terminal = m.len() == 1 && g.edges[m[0]].iter().all(|(_, a)| is_admin(a));
        if !has_cycle && !terminal {
            continue;
        }
        // Each class: disabled somewhere in C, or taken inside C.
        let mut required = Vec::new();
        let mut fair = true;
        for &cl in &classes {
            if m.iter().any(|&s| !enabled(g, s, cl)) {
                continue;
            }
            let edge = m.iter().find_map(|&s| {
                g.edges[s]
                    .iter()
                    .find(|(w, a)| {
                        class_of(a, g.states[s].tasks.len()) == Some(cl) && inside(s, *w, a)
                    })
                    .map(|(w, a)| (s, *w, a.clone()))
            });
            match edge {
                Some(e) => required.push(e),
                None => {
                    fair = false;
                    break;
                }
            }
        }
        if !fair {
            continue;
        }
        // Each just task is at user space somewhere in C; so is each
        // interruptible sleeper that is pending somewhere in C (the fake
        // signal of klp_send_signals wakes it: the tries go on in C).
        let mut waypoints = Vec::new();
        let woken = model.sc.fairness.interruptible.iter().copied().filter(|&t| {
            m.iter()
                .any(|&s| g.states[s].tasks.get(t).is_some_and(|x| x.tif_patch_pending))
        });
        let obliged: Vec<usize> = just.iter().copied().chain(woken).collect();
        for &t in &obliged {
            match m.iter().find(|&&s| at_user(g, s, t)) {
                Some(&s) => waypoints.push(s),
                None => {
                    fair = false;
                    break;
                }
            }
        }
        if !fair {
            continue;
        }
        let entry = *m.iter().min().expect("component is not empty");
        let prefix = path_from_root(g, entry);
        let mut lp = Vec::new();
        let mut at = entry;
        for (s, w, a) in required {
            lp.extend(path_within(g, &comp, c as u32, at, s));
            lp.push(a);
            at = w as usize;
        }
        for s in waypoints {
            lp.extend(path_within(g, &comp, c as u32, at, s));
            at = s;
        }
        lp.extend(path_within(g, &comp, c as u32, at, entry));
        if lp.is_empty() {
            // A self-loop with no required class, or a terminal state:
            // any internal edge (or stuttering) repeats.
            if let Some((_, a)) = g.edges[entry]
                .iter()
                .find(|(w, a)| *w as usize == entry && !is_admin(a))
            {
                lp.push(a.clone());
            }
        }
        if stutter.is_some_and(|s| s < entry) {
            break;
        }
        return Some((prefix, lp));
    }
    stutter.map(|s| (path_from_root(g, s), vec![]))
}

fn path_from_root(g: &Graph, mut s: usize) -> Vec<Action> {
    let mut out = Vec::new();
    while let Some((p, a)) = &g.parent[s] {
        out.push(a.clone());
        s = *p as usize;
    }
    out.reverse();
    out
}

/// Shortest path from `from` to `to` inside component `c` (non-admin edges).
fn path_within(g: &Graph, comp: &[u32], c: u32, from: usize, to: usize) -> Vec<Action> {
    if from == to {
        return vec![];
    }
    let mut prev: HashMap<usize, (usize, Action)> = HashMap::new();
    let mut q = VecDeque::from([from]);
    while let Some(s) = q.pop_front() {
        for (w, a) in &g.edges[s] {
            let w = *w as usize;
            if comp[w] != c || is_admin(a) || w == from || prev.contains_key(&w) {
                continue;
            }
            prev.insert(w, (s, a.clone()));
            if w == to {
                let mut out = vec![];
                let mut at = to;
                while at != from {
                    let (p, a) = prev[&at].clone();
                    out.push(a);
                    at = p;
                }
                out.reverse();
                return out;
            }
            q.push_back(w);
        }
    }
    vec![]
}

/// What bounds the liveness pass: the states its graph may keep and when it
/// must stop.
#[derive(Debug, Clone)]
pub struct LivenessBounds {
    pub max_states: usize,
    pub deadline: Option<Instant>,
    /// `--timeout 5s`, for the message.
    pub timeout_text: String,
    /// Which option set `max_states`, for the message.
    pub limit_text: String,
}

/// The liveness graph's default bound when neither `--max-states` nor
/// `--memory` is given.
pub const DEFAULT_MAX_STATES: usize = 2_000_000;

impl From<&Bounds> for LivenessBounds {
    fn from(b: &Bounds) -> Self {
        let limit_text = match (b.max_states, b.memory) {
            (Some(_), Some(_)) => "--max-states, --memory",
            (Some(_), None) => "--max-states",
            (None, Some(_)) => "--memory",
            (None, None) => "the default bound; give --max-states or --memory",
        };
        LivenessBounds {
            max_states: b.kept_states(DEFAULT_MAX_STATES),
            deadline: b.stop_at(),
            timeout_text: format!("--timeout {}", b.timeout_text()),
            limit_text: limit_text.to_string(),
        }
    }
}

/// Checks both liveness properties within `bounds`; when a bound stops the
/// pass, both are unknown (never `holds` from a partial graph).
pub fn check_liveness(
    model: &KlpModel,
    bounds: &LivenessBounds,
    progress: &dyn Fn(&Snapshot),
) -> Vec<LivenessResult> {
    let ids = ["transition-completes", "patch-freed"];
    let g = match build(model, bounds, progress) {
        Ok(g) => g,
        Err(why) => {
            return ids
                .iter()
                .map(|id| LivenessResult {
                    id,
                    lasso: None,
                    unknown: Some(why.clone()),
                })
                .collect();
        }
    };
    let pending: Vec<bool> = g.states.iter().map(transition_pending).collect();
    let transition = LivenessResult {
        id: ids[0],
        lasso: find_lasso(model, &g, &pending),
        unknown: None,
    };
    let mut freed = LivenessResult {
        id: ids[1],
        lasso: None,
        unknown: None,
    };
    for p in 0..model.sc.patches.len() {
        let pending: Vec<bool> = g
            .states
            .iter()
            .map(|s| patch_release_pending(s, p as u8))
            .collect();
        if let Some(l) = find_lasso(model, &g, &pending) {
            freed.lasso = Some(l);
            break;
        }
    }
    vec![transition, freed]
}

/// The liveness verdicts when the search is skipped (`--no-liveness`).
pub fn skipped() -> Vec<LivenessResult> {
    ["transition-completes", "patch-freed"]
        .into_iter()
        .map(|id| LivenessResult {
            id,
            lasso: None,
            unknown: Some("--no-liveness".to_string()),
        })
        .collect()
}
