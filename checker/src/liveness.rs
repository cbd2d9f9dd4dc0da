//! Liveness under fairness: `transition-completes` and `patch-freed`.
//!
//! stateright's `Property::eventually` only looks at terminal states and
//! misses violations on cycles, and it has no notion of fairness. This
//! search is sound for weak fairness: it reads the reachable state graph
//! the native engine recorded in its search ([`StateGraph`]: table slots,
//! a label per state and labelled edges, no state kept), keeps the states
//! where the obligation is still pending, splits them into strongly
//! connected components (Tarjan), and reports a component that a fair run
//! can stay in forever. A component C holds a fair cycle iff, for
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

//!
//! What the graph keeps, per state ([`Layout`]): which obligations are
//! pending, which tasks are at user space, which fair classes are enabled
//! and whether any non-admin action is; per edge: only the non-admin edges
//! between two states that share a pending obligation (the only ones a
//! component or a path inside one uses), labelled with their fair class.
//! The graph is that of the full state space (no symmetry reduction: the
//! justice of named tasks is not symmetric).

use std::collections::VecDeque;

use klp_model::properties::{patch_release_pending, transition_pending};
use klp_model::{Action, KlpModel, State};
use stateright::Model;

use crate::coverage::CoverageLocal;
use crate::engine::{Hooks, StateGraph};
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

/// The verdict of one liveness property.
pub struct LivenessResult {
    pub id: &'static str,
    /// None: holds; Some((prefix, loop)): a fair lasso that violates it.
    pub lasso: Option<(Vec<Action>, Vec<Action>)>,
    /// The graph was larger than the bound: no verdict.
    pub unknown: Option<String>,
}

pub(crate) fn is_admin(a: &Action) -> bool {
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

/// Where each fact sits in a state's graph label: `pending` bits (bit 0
/// `transition-completes`, bit 1 + p `patch-freed` of patch p), then a bit
/// per task at user space, then a TIF_PATCH_PENDING bit per
/// `fairness.interruptible` task, then a bit per enabled class (in
/// [`Layout::classes`] order), then whether a non-admin action is enabled.
/// 17 + 8 + 23 + 1 bits at the scenario limits (16 patches, 8 tasks, 4
/// CPUs) and one per interruptible task: within the engine's 56 unless
/// more than 7 tasks are interruptible ([`Layout::new`] then refuses).
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    patches: usize,
    tasks: usize,
    /// The `fairness.interruptible` tasks.
    interruptible: Vec<usize>,
    /// Every class that can occur (fair or not: `Force` is fair only with
    /// `fairness.admin_forces`).
    classes: Vec<Class>,
    /// Which of `classes` are weakly fair in this scenario.
    fair: u64,
    user_shift: u32,
    tif_shift: u32,
    class_shift: u32,
    nonadmin_bit: u32,
}

impl Layout {
    pub(crate) fn new(model: &KlpModel) -> Result<Self, String> {
        let sc = &model.sc;
        let patches = sc.patches.len();
        // Task slots (forked tasks included), as in the states.
        let tasks = model.init_states().first().map_or(0, |s| s.tasks.len());
        let interruptible: Vec<usize> = sc
            .fairness
            .interruptible
            .iter()
            .copied()
            .filter(|&t| t < tasks)
            .collect();
        let mut classes = vec![Class::TransitionWork, Class::Continue, Class::Force];
        for cpu in 0..sc.cpus {
            classes.push(Class::IdleLoop(cpu as u8));
        }
        for p in 0..patches {
            classes.push(Class::FreeWork(p as u8));
        }
        let mut fair = 0u64;
        for (i, c) in classes.iter().enumerate() {
            if *c != Class::Force || sc.fairness.admin_forces {
                fair |= 1 << i;
            }
        }
        let user_shift = 1 + patches as u32;
        let tif_shift = user_shift + tasks as u32;
        let class_shift = tif_shift + interruptible.len() as u32;
        let nonadmin_bit = class_shift + classes.len() as u32;
        if nonadmin_bit >= crate::engine::hooks::NODE_LABEL_BITS {
            return Err(format!(
                "the liveness graph labels a state with {} bits, more than the engine's {}",
                nonadmin_bit + 1,
                crate::engine::hooks::NODE_LABEL_BITS
            ));
        }
        Ok(Layout {
            patches,
            tasks,
            interruptible,
            classes,
            fair,
            user_shift,
            tif_shift,
            class_shift,
            nonadmin_bit,
        })
    }

    fn pending_bits(&self, s: &State) -> u64 {
        let mut bits = transition_pending(s) as u64;
        for p in 0..self.patches {
            bits |= (patch_release_pending(s, p as u8) as u64) << (1 + p);
        }
        bits
    }

    fn node(&self, s: &State) -> u64 {
        let mut label = self.pending_bits(s);
        for (t, task) in s.tasks.iter().enumerate().take(self.tasks) {
            label |= (task.frames.is_empty() as u64) << (self.user_shift + t as u32);
        }
        for (i, &t) in self.interruptible.iter().enumerate() {
            let pending = s.tasks.get(t).is_some_and(|x| x.tif_patch_pending);
            label |= (pending as u64) << (self.tif_shift + i as u32);
        }
        label
    }

    fn class_index(&self, c: Class) -> usize {
        self.classes
            .iter()
            .position(|&k| k == c)
            .expect("every class has a bit")
    }

    /// Adds what `a` (enabled in `s`, leading to `next`) says to the label
    /// and answers the edge label to keep (class index + 1, 0 for none).
    fn edge(&self, s: &State, node: &mut u64, a: &Action, next: &State) -> Option<u8> {
        let class = class_of(a, s.tasks.len()).map(|c| self.class_index(c));
        if let Some(i) = class {
            *node |= 1 << (self.class_shift + i as u32);
        }
        if is_admin(a) {
            return None;
        }
        *node |= 1 << self.nonadmin_bit;
        let pending = *node & ((1 << self.user_shift) - 1);
        if pending & self.pending_bits(next) == 0 {
            return None;
        }
        Some(class.map_or(0, |i| i as u8 + 1))
    }

    fn pending(&self, label: u64, k: usize) -> bool {
        label >> k & 1 != 0
    }

    fn at_user(&self, label: u64, t: usize) -> bool {
        label >> (self.user_shift + t as u32) & 1 != 0
    }

    /// Whether the `i`th interruptible task has TIF_PATCH_PENDING.
    fn tif_pending(&self, label: u64, i: usize) -> bool {
        label >> (self.tif_shift + i as u32) & 1 != 0
    }

    fn enabled(&self, label: u64, class: usize) -> bool {
        label >> (self.class_shift + class as u32) & 1 != 0
    }

    fn any_fair_enabled(&self, label: u64) -> bool {
        (label >> self.class_shift) & self.fair != 0
    }

    fn has_nonadmin(&self, label: u64) -> bool {
        label >> self.nonadmin_bit & 1 != 0
    }
}

/// The hooks of the checker's native search: action coverage (when
/// `coverage`) and, with `GRAPH`, the liveness graph.
pub struct KlpHooks<'m, const GRAPH: bool> {
    pub model: &'m KlpModel,
    pub coverage: bool,
    /// The graph's label layout (an error when the scenario needs more
    /// bits than a label has: then no graph edge is kept and liveness is
    /// unknown).
    layout: Result<Layout, String>,
}

impl<'m, const GRAPH: bool> KlpHooks<'m, GRAPH> {
    pub fn new(model: &'m KlpModel, coverage: bool) -> Self {
        KlpHooks {
            model,
            coverage,
            layout: Layout::new(model),
        }
    }
}

impl<const GRAPH: bool> Hooks<KlpModel> for KlpHooks<'_, GRAPH> {
    type Local = CoverageLocal;
    const GRAPH: bool = GRAPH;
    const ACTIONS: bool = true;

    fn local(&self) -> CoverageLocal {
        CoverageLocal::default()
    }

    fn node(&self, s: &State) -> u64 {
        match (&self.layout, GRAPH) {
            (Ok(l), true) => l.node(s),
            _ => 0,
        }
    }

    #[inline]
    fn step(
        &self,
        local: &mut CoverageLocal,
        s: &State,
        node: &mut u64,
        a: Action,
    ) -> (Option<State>, Option<u8>) {
        let kept = (self.coverage || GRAPH).then(|| a.clone());
        let next = self.model.next_state(s, a);
        let Some(a) = kept else {
            return (next, None);
        };
        if self.coverage {
            local.count(&a, next.as_ref().map(|n| n != s));
        }
        let label = match (&next, &self.layout, GRAPH) {
            (Some(n), Ok(l), true) => l.edge(s, node, &a, n),
            _ => None,
        };
        (next, label)
    }
}

/// Strongly connected components of the states pending for obligation `k`
/// over the kept edges between them (iterative Tarjan). Returns the
/// component per slot (u32::MAX when not pending) and the count.
fn sccs(g: &StateGraph, lay: &Layout, k: usize) -> (Vec<u32>, u32) {
    let n = g.capacity();
    let keep = |v: u32| g.expanded(v) && lay.pending(g.label(v), k);
    let mut comp = vec![u32::MAX; n];
    let mut idx = vec![u32::MAX; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut next_index = 0u32;
    let mut ncomp = 0u32;
    for root in 0..n as u32 {
        if idx[root as usize] != u32::MAX || !keep(root) {
            continue;
        }
        let mut call: Vec<(u32, Vec<u32>, usize)> = Vec::new();
        let succ = |v: u32| -> Vec<u32> { g.edges(v).map(|e| e.0).filter(|&w| keep(w)).collect() };
        idx[root as usize] = next_index;
        low[root as usize] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        call.push((root, succ(root), 0));
        while let Some((v, ws, ei)) = call.last_mut() {
            let v = *v;
            if *ei < ws.len() {
                let w = ws[*ei];
                *ei += 1;
                if idx[w as usize] == u32::MAX {
                    idx[w as usize] = next_index;
                    low[w as usize] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    call.push((w, succ(w), 0));
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(idx[w as usize]);
                }
            } else {
                call.pop();
                if let Some((u, _, _)) = call.last() {
                    low[*u as usize] = low[*u as usize].min(low[v as usize]);
                }
                if low[v as usize] == idx[v as usize] {
                    while let Some(w) = stack.pop() {
                        on_stack[w as usize] = false;
                        comp[w as usize] = ncomp;
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

/// Tasks that must return to user space infinitely often.
fn just_tasks(model: &KlpModel, lay: &Layout) -> Vec<usize> {
    (0..lay.tasks)
        .filter(|t| !model.sc.fairness.may_block_forever.contains(t))
        .collect()
}

/// A lasso as graph slots: the state the prefix leads to, and the loop's
/// steps `(target, class index + 1 the step must take, or 0 for any
/// non-admin action)`.
type SlotLasso = (u32, Vec<(u32, u8)>);

/// Finds a fair lasso that stays in states pending for obligation `k`.
fn find_lasso(model: &KlpModel, g: &StateGraph, lay: &Layout, k: usize) -> Option<SlotLasso> {
    let (comp, ncomp) = sccs(g, lay, k);
    let mut members: Vec<Vec<u32>> = vec![vec![]; ncomp as usize];
    for (s, &c) in comp.iter().enumerate() {
        if c != u32::MAX {
            members[c as usize].push(s as u32);
        }
    }
    let first = |m: &[u32]| m.iter().map(|&s| g.order_key(s)).min();
    // Prefer the component reached first (shortest prefix).
    let mut order: Vec<usize> = (0..ncomp as usize).collect();
    order.sort_by_cached_key(|&c| first(&members[c]));
    // A pending state where no fair class is enabled: nobody has to move,
    // so a run may stay there forever (stuttering).
    let just = just_tasks(model, lay);
    let stutter = (0..g.capacity() as u32)
        .filter(|&s| {
            g.expanded(s) && {
                let l = g.label(s);
                lay.pending(l, k)
                    && !lay.any_fair_enabled(l)
                    && just.iter().all(|&t| lay.at_user(l, t))
            }
        })
        .min_by_key(|&s| g.order_key(s));
    let first_comp = order.first().and_then(|&c| first(&members[c]));
    if let Some(s) = stutter {
        if first_comp.is_none_or(|f| g.order_key(s) <= f) {
            return Some((s, vec![]));
        }
    }
    let fair_classes: Vec<usize> = (0..lay.classes.len())
        .filter(|&i| lay.fair >> i & 1 != 0)
        .collect();
    for c in order {
        let m = &members[c];
        let c = c as u32;
        let has_cycle = m.len() > 1 || m.iter().any(|&s| g.edges(s).any(|(w, _)| w == s));
        let terminal = m.len() == 1 && !lay.has_nonadmin(g.label(m[0]));
        if !has_cycle && !terminal {
            continue;
        }
        // Each class: disabled somewhere in C, or taken inside C.
        let mut required = Vec::new();
        let mut fair = true;
        for &cl in &fair_classes {
            if m.iter().any(|&s| !lay.enabled(g.label(s), cl)) {
                continue;
            }
            let edge = m.iter().find_map(|&s| {
                g.edges(s)
                    .find(|&(w, l)| l as usize == cl + 1 && comp[w as usize] == c)
                    .map(|(w, l)| (s, w, l))
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
        let woken = lay
            .interruptible
            .iter()
            .enumerate()
            .filter(|&(i, _)| m.iter().any(|&s| lay.tif_pending(g.label(s), i)))
            .map(|(_, &t)| t);
        let obliged: Vec<usize> = just.iter().copied().chain(woken).collect();
        for &t in &obliged {
            match m.iter().find(|&&s| lay.at_user(g.label(s), t)) {
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
        let entry = *m
            .iter()
            .min_by_key(|&&s| g.order_key(s))
            .expect("component is not empty");
        if stutter.is_some_and(|s| g.order_key(s) < g.order_key(entry)) {
            break;
        }
        let mut lp = Vec::new();
        let mut at = entry;
        for (s, w, l) in required {
            lp.extend(path_within(g, &comp, c, at, s));
            lp.push((w, l));
            at = w;
        }
        for s in waypoints {
            lp.extend(path_within(g, &comp, c, at, s));
            at = s;
        }
        lp.extend(path_within(g, &comp, c, at, entry));
        if lp.is_empty() && g.edges(entry).any(|(w, _)| w == entry) {
            // A self-loop with no required class: it repeats.
            lp.push((entry, 0));
        }
        return Some((entry, lp));
    }
    stutter.map(|s| (s, vec![]))
}

/// Shortest path from `from` to `to` inside component `c`, as steps.
fn path_within(g: &StateGraph, comp: &[u32], c: u32, from: u32, to: u32) -> Vec<(u32, u8)> {
    if from == to {
        return vec![];
    }
    let mut prev: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    let mut q = VecDeque::from([from]);
    while let Some(s) = q.pop_front() {
        for (w, _) in g.edges(s) {
            if comp[w as usize] != c || w == from || prev.contains_key(&w) {
                continue;
            }
            prev.insert(w, s);
            if w == to {
                let mut out = vec![];
                let mut at = to;
                while at != from {
                    out.push((at, 0));
                    at = prev[&at];
                }
                out.reverse();
                return out;
            }
            q.push_back(w);
        }
    }
    vec![]
}

/// Turns a lasso of slots into actions by replaying the model.
fn lasso_actions(
    model: &KlpModel,
    g: &StateGraph,
    lay: &Layout,
    lasso: SlotLasso,
) -> (Vec<Action>, Vec<Action>) {
    let (entry, steps) = lasso;
    let (_, prefix, mut state) = g.path_to(model, None, entry);
    let mut lp = Vec::new();
    for (target, class) in steps {
        let (a, next) = g
            .step(model, None, &state, target, |a| {
                !is_admin(a)
                    && (class == 0
                        || class_of(a, state.tasks.len()).map(|c| lay.class_index(c) + 1)
                            == Some(class as usize))
            })
            .expect("a recorded edge replays");
        lp.push(a);
        state = next;
    }
    (prefix, lp)
}

/// The liveness verdicts from the graph of a search (`complete`: whether
/// that search explored everything; if not, `why` says why and both are
/// unknown, never `holds` from a partial graph).
pub fn from_graph(
    model: &KlpModel,
    g: &StateGraph,
    complete: Result<(), String>,
) -> Vec<LivenessResult> {
    let ids = ["transition-completes", "patch-freed"];
    if let Err(why) = complete {
        return ids
            .iter()
            .map(|id| LivenessResult {
                id,
                lasso: None,
                unknown: Some(why.clone()),
            })
            .collect();
    }
    let lay = match Layout::new(model) {
        Ok(l) => l,
        Err(why) => return from_graph_missing(Err(why)),
    };
    let transition = LivenessResult {
        id: ids[0],
        lasso: find_lasso(model, g, &lay, 0).map(|l| lasso_actions(model, g, &lay, l)),
        unknown: None,
    };
    let mut freed = LivenessResult {
        id: ids[1],
        lasso: None,
        unknown: None,
    };
    for p in 0..lay.patches {
        if let Some(l) = find_lasso(model, g, &lay, 1 + p) {
            freed.lasso = Some(lasso_actions(model, g, &lay, l));
            break;
        }
    }
    vec![transition, freed]
}

/// Checks both liveness properties with a native search of its own that
/// records the graph (without symmetry reduction, whatever `bounds` say),
/// within `bounds` (`--timeout` as the whole command's deadline,
/// `--max-states`, `--memory`); when a bound stops it, both are unknown
/// (never `holds` from a partial graph). `check` does without this second
/// search when its own search runs without symmetry: the graph is then
/// recorded there ([`crate::engines::run_all`]).
pub fn check_liveness(
    model: &KlpModel,
    bounds: &Bounds,
    progress: &mut dyn FnMut(&Snapshot),
) -> Vec<LivenessResult> {
    let hooks = KlpHooks::<true>::new(model, false);
    let mut b = bounds.clone();
    b.symmetry = false;
    let run = crate::engines::run_native_hooked(model, &b, &hooks, "liveness", None, progress);
    match &run.graph {
        Some(g) => from_graph(model, g, run.graph_complete()),
        None => from_graph_missing(run.graph_complete()),
    }
}

/// Both verdicts unknown, for a search that recorded no graph.
pub(crate) fn from_graph_missing(why: Result<(), String>) -> Vec<LivenessResult> {
    let why = why
        .err()
        .unwrap_or_else(|| "no state graph was recorded".to_string());
    ["transition-completes", "patch-freed"]
        .into_iter()
        .map(|id| LivenessResult {
            id,
            lasso: None,
            unknown: Some(why.clone()),
        })
        .collect()
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
