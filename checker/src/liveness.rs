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
//! Without symmetry reduction the graph is the full state space's. With
//! it, the graph is the quotient, its edges annotated with the
//! permutations that canonicalise their targets, and the quotient decides
//! "holds" by following each task and CPU through a component (the
//! section "Liveness on the symmetry quotient" below); a possible violation,
//! and a scenario whose fairness names tasks (named tasks are not
//! interchangeable), are decided on the full graph.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use klp_model::properties::{patch_release_pending, transition_pending};
use klp_model::{Action, KlpModel, State};
use stateright::Model;

use crate::coverage::CoverageLocal;
use crate::engine::hooks::EdgeLabel;
use crate::engine::{Hooks, StateGraph};
use crate::engines::{Bounds, Snapshot};

/// The liveness properties, in the order every verdict list has them.
const LIVENESS_IDS: [&str; 2] = ["transition-completes", "patch-freed"];

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
    fn edge(&self, s: &State, node: &mut u64, a: &Action, next: &State) -> Option<u32> {
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
        Some(class.map_or(0, |i| i as u32 + 1))
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
    /// The search reduces by symmetry: each kept edge also carries the
    /// permutations that canonicalise its target ([`quotient_verdicts`]),
    /// interned in `labels`.
    symmetric: bool,
    labels: Mutex<LabelDict>,
}

/// The distinct labels of a symmetric search's edges (class index + 1 and
/// the two permutation ranks, [`perm_bits`]: 29 bits) by their 16-bit id,
/// the label the graph stores (a few hundred occur in a scenario of 3
/// tasks; past 65,535 the quotient gives up and the full graph decides).
#[derive(Default)]
struct LabelDict {
    ids: HashMap<u32, EdgeLabel>,
    full: Vec<u32>,
    overflowed: bool,
}

/// A search thread's accumulator: its coverage counts, and the label ids it
/// has seen (so that the shared [`LabelDict`] is locked once per new label
/// and thread, not per edge).
#[derive(Default)]
pub struct KlpLocal {
    pub coverage: CoverageLocal,
    ids: HashMap<u32, EdgeLabel>,
}

impl<'m, const GRAPH: bool> KlpHooks<'m, GRAPH> {
    pub fn new(model: &'m KlpModel, coverage: bool) -> Self {
        KlpHooks {
            model,
            coverage,
            layout: Layout::new(model),
            symmetric: false,
            labels: Mutex::new(LabelDict::default()),
        }
    }

    /// Hooks for a search with symmetry reduction: the graph is the
    /// quotient, its edges annotated with the canonicalising permutations
    /// ([`quotient_verdicts`] reads it).
    pub fn symmetric(model: &'m KlpModel, coverage: bool) -> Self {
        KlpHooks {
            symmetric: true,
            ..KlpHooks::new(model, coverage)
        }
    }

    /// The stored id of a symmetric search's edge label.
    fn intern(&self, local: &mut KlpLocal, label: u32) -> EdgeLabel {
        if let Some(&id) = local.ids.get(&label) {
            return id;
        }
        let mut d = self.labels.lock().unwrap_or_else(|p| p.into_inner());
        let id = match d.ids.get(&label) {
            Some(&id) => id,
            None if d.full.len() < EdgeLabel::MAX as usize => {
                let id = d.full.len() as EdgeLabel;
                d.full.push(label);
                d.ids.insert(label, id);
                id
            }
            None => {
                d.overflowed = true;
                return 0;
            }
        };
        local.ids.insert(label, id);
        id
    }

    /// The labels of a symmetric search's graph by id, or `None` when there
    /// were more than the ids can name.
    fn label_table(&self) -> Option<Vec<u32>> {
        let d = self.labels.lock().unwrap_or_else(|p| p.into_inner());
        (!d.overflowed).then(|| d.full.clone())
    }
}

impl<const GRAPH: bool> Hooks<KlpModel> for KlpHooks<'_, GRAPH> {
    type Local = KlpLocal;
    const GRAPH: bool = GRAPH;
    const ACTIONS: bool = true;

    fn local(&self) -> KlpLocal {
        KlpLocal::default()
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
        local: &mut KlpLocal,
        s: &State,
        node: &mut u64,
        a: Action,
    ) -> (Option<State>, Option<EdgeLabel>) {
        let kept = (self.coverage || GRAPH).then(|| a.clone());
        let next = self.model.next_state(s, a);
        let Some(a) = kept else {
            return (next, None);
        };
        if self.coverage {
            local.coverage.count(&a, next.as_ref().map(|n| n != s));
        }
        let label = match (&next, &self.layout, GRAPH) {
            (Some(n), Ok(l), true) => l.edge(s, node, &a, n).map(|c| {
                if self.symmetric {
                    self.intern(local, c | perm_bits(n))
                } else {
                    c as EdgeLabel
                }
            }),
            _ => None,
        };
        (next, label)
    }
}

/// Strongly connected components of the nodes `0..n` that `keep`: the
/// component of each node (u32::MAX when not kept) and the count,
/// components numbered in the order they complete (reverse topological, as
/// Tarjan's). `succ(v, out)` pushes the successors of `v`; those not kept
/// are skipped.
///
/// Pearce's variant of Tarjan ("A space-efficient algorithm for finding
/// strongly connected components", 2016), iterative: one word per node
/// (`rindex`: 0 unvisited, the visit index while the node is open, then
/// `n - component` once it is done, always above every open index) instead
/// of Tarjan's index, lowlink, on-stack flag and component arrays; the
/// graph's slot arrays are the size of its table, so this is 4 bytes a slot
/// where Tarjan took 13.
fn tarjan(
    n: usize,
    keep: impl Fn(u32) -> bool,
    mut succ: impl FnMut(u32, &mut Vec<u32>),
) -> (Vec<u32>, u32) {
    assert!(n < u32::MAX as usize, "too many nodes for 32-bit indices");
    let mut rindex = vec![0u32; n];
    let mut index = 1u32;
    // The next component's value in rindex: n, n - 1, ...
    let mut c = n as u32;
    let mut stack: Vec<u32> = Vec::new();
    // The call stack: (node, next successor, first successor, is root) per
    // frame, the successors of every frame in one buffer (a frame's run
    // ends where the next one's starts), so a deep search allocates nothing
    // per node.
    type Frame = (u32, usize, usize, bool);
    let mut call: Vec<Frame> = Vec::new();
    let mut succs: Vec<u32> = Vec::new();
    let mut open = |v: u32, call: &mut Vec<Frame>, succs: &mut Vec<u32>| {
        let from = succs.len();
        succ(v, succs);
        let mut k = from;
        for i in from..succs.len() {
            if keep(succs[i]) {
                succs[k] = succs[i];
                k += 1;
            }
        }
        succs.truncate(k);
        call.push((v, from, from, true));
    };
    for root in 0..n as u32 {
        if rindex[root as usize] != 0 || !keep(root) {
            continue;
        }
        rindex[root as usize] = index;
        index += 1;
        open(root, &mut call, &mut succs);
        while let Some(&(v, ei, _, _)) = call.last() {
            if ei < succs.len() {
                let w = succs[ei];
                call.last_mut().expect("a frame is open").1 += 1;
                if rindex[w as usize] == 0 {
                    rindex[w as usize] = index;
                    index += 1;
                    open(w, &mut call, &mut succs);
                } else if rindex[w as usize] < rindex[v as usize] {
                    rindex[v as usize] = rindex[w as usize];
                    call.last_mut().expect("a frame is open").3 = false;
                }
                continue;
            }
            // v is done: its successors leave the buffer.
            let (_, _, from, is_root) = call.pop().expect("a frame is open");
            succs.truncate(from);
            if is_root {
                index -= 1;
                while let Some(&w) = stack.last() {
                    if rindex[v as usize] > rindex[w as usize] {
                        break;
                    }
                    stack.pop();
                    rindex[w as usize] = c;
                    index -= 1;
                }
                rindex[v as usize] = c;
                c -= 1;
            } else {
                stack.push(v);
            }
            if let Some(&(u, _, _, _)) = call.last() {
                if rindex[v as usize] < rindex[u as usize] {
                    rindex[u as usize] = rindex[v as usize];
                    call.last_mut().expect("a frame is open").3 = false;
                }
            }
        }
    }
    let ncomp = n as u32 - c;
    for r in &mut rindex {
        *r = if *r == 0 { u32::MAX } else { n as u32 - *r };
    }
    (rindex, ncomp)
}

/// Strongly connected components of the states pending for obligation `k`
/// over the kept edges between them. Returns the component per slot
/// (u32::MAX when not pending) and the count.
fn sccs(g: &StateGraph, lay: &Layout, k: usize) -> (Vec<u32>, u32) {
    tarjan(
        g.capacity(),
        |v| g.expanded(v) && lay.pending(g.label(v), k),
        |v, out| out.extend(g.edges(v).map(|e| e.0)),
    )
}

/// The members of each component, in slot order, as one array (a vector
/// per component cost an allocation per state, most components being
/// single states).
struct Members {
    slots: Vec<u32>,
    /// Component `c`'s members are `slots[start[c]..start[c + 1]]`.
    start: Vec<u32>,
}

impl Members {
    fn new(comp: &[u32], ncomp: u32) -> Members {
        let mut start = vec![0u32; ncomp as usize + 1];
        for &c in comp.iter().filter(|&&c| c != u32::MAX) {
            start[c as usize + 1] += 1;
        }
        for c in 0..ncomp as usize {
            start[c + 1] += start[c];
        }
        let mut fill = start.clone();
        let mut slots = vec![0u32; start[ncomp as usize] as usize];
        for (s, &c) in comp.iter().enumerate() {
            if c != u32::MAX {
                slots[fill[c as usize] as usize] = s as u32;
                fill[c as usize] += 1;
            }
        }
        Members { slots, start }
    }
}

impl std::ops::Index<usize> for Members {
    type Output = [u32];
    fn index(&self, c: usize) -> &[u32] {
        &self.slots[self.start[c] as usize..self.start[c + 1] as usize]
    }
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
type SlotLasso = (u32, Vec<(u32, EdgeLabel)>);

/// Finds a fair lasso that stays in states pending for obligation `k`.
fn find_lasso(model: &KlpModel, g: &StateGraph, lay: &Layout, k: usize) -> Option<SlotLasso> {
    let (comp, ncomp) = sccs(g, lay, k);
    let members = Members::new(&comp, ncomp);
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
                    .find(|&(w, l)| class_label(l) == cl + 1 && comp[w as usize] == c)
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
fn path_within(g: &StateGraph, comp: &[u32], c: u32, from: u32, to: u32) -> Vec<(u32, EdgeLabel)> {
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
                    && (class_label(class) == 0
                        || class_of(a, state.tasks.len()).map(|c| lay.class_index(c) + 1)
                            == Some(class_label(class)))
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
    let ids = LIVENESS_IDS;
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
/// records the graph, within `bounds` (`--timeout` as the whole command's
/// deadline, `--max-states`, `--memory`); when a bound stops it, both are
/// unknown (never `holds` from a partial graph). With symmetry, and
/// fairness that names no task, the search is the symmetric one and the
/// quotient decides "holds" ([`quotient_verdicts`]); otherwise, or when the
/// quotient finds a component that may be fair, the full graph is searched
/// ([`full_liveness`]). `check` with the native engine records the graph
/// in its own search instead ([`crate::engines::run_all`]).
pub fn check_liveness(
    model: &KlpModel,
    bounds: &Bounds,
    progress: &mut dyn FnMut(&Snapshot),
) -> Vec<LivenessResult> {
    if bounds.symmetry && quotient_applies(model) {
        let hooks = KlpHooks::<true>::symmetric(model, false);
        let run =
            crate::engines::run_native_hooked(model, bounds, &hooks, "liveness", None, progress);
        if let Some(v) = run
            .graph
            .as_ref()
            .and_then(|g| quotient_verdicts(model, &hooks, g, run.graph_complete()))
        {
            return v;
        }
    }
    full_liveness(model, bounds, progress)
}

/// Both liveness properties on the full graph: a native search of its own
/// without symmetry reduction (whatever `bounds` say), within `bounds`.
pub(crate) fn full_liveness(
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
    LIVENESS_IDS
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
    LIVENESS_IDS
        .into_iter()
        .map(|id| LivenessResult {
            id,
            lasso: None,
            unknown: Some("--no-liveness".to_string()),
        })
        .collect()
}

// ---------------------------------------------------------------------
// Liveness on the symmetry quotient.
//
// With symmetry reduction the search records the quotient graph: a node is
// a canonical state (tasks sorted, idle tasks sorted), and each kept edge
// `q -> q'` also carries the two permutations that canonicalise the
// successor: where each task (and each CPU's idle task) of the successor
// `r` sits in `q' = canonical(r)` (Emerson and Sistla's annotated quotient
// structure). Justice is per task (each just task returns to user space)
// and weak fairness of `IdleLoop` is per CPU, so a quotient component alone
// says nothing about them: a component where "some task" is at user space
// in every state may be one where one task stays in the kernel forever
// while the others take turns, or one where they all take turns (sorting
// puts the task at user space first either way). The permutations let the
// check follow one task (one CPU) through the component: the product of
// the component with the positions `0..n`, edge `(q, i) -> (q', σ(i))`.
//
// The condition, for a quotient component C of pending states: the
// symmetric classes as in the full graph (each fair class disabled in some
// state of C or taken inside C), and for every position `i` of one state
// `q0` of C, the product component of `(q0, i)` (inside C) has a cycle and
// a witness: a state where the tracked task is at user space (for tasks),
// a state where the tracked CPU's `IdleLoop` is disabled or an edge where
// it is taken (for CPUs). It is exact:
// - necessary: a fair cycle of the full graph maps onto C (every concrete
//   state over C lies on a cycle through a concrete copy of q0, by lifting
//   quotient cycles and repeating them until the permutation returns); a
//   concrete task followed around that cycle, repeated until the
//   permutation accumulated at q0 is the identity again, is a product
//   cycle through `(q0, i)` that passes its witness;
// - sufficient: a product cycle from `(q0, i)` with its witness lifts, from
//   the concrete state q0, to a path that ends at a copy of q0 with the
//   task back at `i`; repeating it (the copies form a cycle of a finite
//   group) returns to q0 itself, a cycle through q0 that passes the
//   task's witness; the cycles of all tasks and CPUs, joined at q0, are one
//   fair cycle (the model's steps commute with task and CPU permutations:
//   that is what makes the symmetry reduction sound for safety too).
// The quotient decides "holds" alone; when it finds a component that may
// be fair, the verdict and the concrete lasso come from the full graph
// (`full_liveness`), so every counterexample is a concrete run.
// checker/tests/liveness_quotient.rs compares both on every spec.
// ---------------------------------------------------------------------

/// Where a symmetric search's edge label keeps the task permutation's rank
/// (16 bits: at most 8 task slots, 8! < 2^16) and the CPU permutation's
/// (5 bits: at most 4 CPUs); the low byte is the class index + 1.
const TASK_PERM_SHIFT: u32 = 8;
const CPU_PERM_SHIFT: u32 = 24;

/// The class field of an edge label (class index + 1, 0 for none).
fn class_label(l: impl Into<u32>) -> usize {
    (l.into() & 0xff) as usize
}

/// Where each element of `xs` lands when they are sorted (as
/// `State::into_canonical` sorts tasks and idle tasks: equal elements are
/// equal, so which of them goes first does not change the sorted state).
fn sorted_positions<T: Ord>(xs: &[T]) -> [u8; 8] {
    let mut order = [0u8, 1, 2, 3, 4, 5, 6, 7];
    let order = &mut order[..xs.len()];
    order.sort_by(|&a, &b| xs[a as usize].cmp(&xs[b as usize]));
    let mut pos = [0u8; 8];
    for (rank, &i) in order.iter().enumerate() {
        pos[i as usize] = rank as u8;
    }
    pos
}

/// The rank of a permutation of `0..p.len()` (Lehmer code).
fn perm_rank(p: &[u8]) -> u32 {
    let n = p.len();
    let mut r = 0u32;
    for i in 0..n {
        let smaller = p[i + 1..].iter().filter(|&&x| x < p[i]).count();
        r = r * (n - i) as u32 + smaller as u32;
    }
    r
}

/// The permutation of `0..n` with rank `r` ([`perm_rank`]'s inverse).
fn perm_unrank(mut r: u32, n: usize) -> [u8; 8] {
    let mut digits = [0u8; 8];
    for i in (0..n).rev() {
        let base = (n - i) as u32;
        digits[i] = (r % base) as u8;
        r /= base;
    }
    let mut left = [0u8, 1, 2, 3, 4, 5, 6, 7];
    let mut len = n;
    let mut p = [0u8; 8];
    for i in 0..n {
        let d = digits[i] as usize;
        p[i] = left[d];
        left.copy_within(d + 1..len, d);
        len -= 1;
    }
    p
}

/// The permutation bits of an edge to the (not yet canonical) successor
/// `next`.
fn perm_bits(next: &State) -> u32 {
    let t = sorted_positions(&next.tasks);
    let c = sorted_positions(&next.idle_tasks);
    perm_rank(&t[..next.tasks.len()]) << TASK_PERM_SHIFT
        | perm_rank(&c[..next.idle_tasks.len()]) << CPU_PERM_SHIFT
}

/// Whether the quotient can decide liveness: the fairness assumptions name
/// no task (`fairness.may_block_forever` and `fairness.interruptible` make
/// tasks unequal; the full graph is searched then).
pub fn quotient_applies(model: &KlpModel) -> bool {
    let f = &model.sc.fairness;
    f.may_block_forever.is_empty() && f.interruptible.is_empty()
}

/// One component `members` (component `c` of `comp`) followed per entity
/// (task or CPU): for every position `i` of `members[0]`, whether the
/// product component of `(members[0], i)` has a cycle and a witness
/// (`node_w(slot, i)`, or an edge inside it with `edge_w(label, i)`, `i`
/// the tracked position at the edge's source). `local` maps a member's slot
/// to its index in `members` (other slots are not read).
#[allow(clippy::too_many_arguments)]
fn tracked_fair(
    g: &StateGraph,
    comp: &[u32],
    c: u32,
    members: &[u32],
    local: &[u32],
    n: usize,
    perm_of: impl Fn(EdgeLabel) -> [u8; 8],
    node_w: impl Fn(u32, usize) -> bool,
    edge_w: impl Fn(EdgeLabel, usize) -> bool,
) -> bool {
    if n == 0 {
        return true;
    }
    let inside = |w: u32| comp[w as usize] == c;
    let (pcomp, npcomp) = tarjan(
        members.len() * n,
        |_| true,
        |v, out| {
            let (a, i) = (v as usize / n, v as usize % n);
            for (w, l) in g.edges(members[a]) {
                if inside(w) {
                    let p = perm_of(l);
                    out.push(local[w as usize] * n as u32 + p[i] as u32);
                }
            }
        },
    );
    // Per product component: has a cycle, has a witness.
    let mut size = vec![0u32; npcomp as usize];
    let mut cycle = vec![false; npcomp as usize];
    let mut witness = vec![false; npcomp as usize];
    for (a, &slot) in members.iter().enumerate() {
        for i in 0..n {
            let pc = pcomp[a * n + i] as usize;
            size[pc] += 1;
            if node_w(slot, i) {
                witness[pc] = true;
            }
        }
        for (w, l) in g.edges(slot) {
            if !inside(w) {
                continue;
            }
            let p = perm_of(l);
            let b = local[w as usize] as usize;
            for i in 0..n {
                let (from, to) = (pcomp[a * n + i], pcomp[b * n + p[i] as usize]);
                if from == to {
                    cycle[from as usize] |= a * n + i == b * n + p[i] as usize;
                    if edge_w(l, i) {
                        witness[from as usize] = true;
                    }
                }
            }
        }
    }
    (0..n).all(|i| {
        let pc = pcomp[i] as usize;
        (size[pc] > 1 || cycle[pc]) && witness[pc]
    })
}

/// Whether the quotient graph `g` of a symmetric search may hold a fair
/// lasso that stays in states pending for obligation `k` (false: it holds
/// no such lasso, and neither does the full graph).
fn quotient_may_fail(g: &StateGraph, table: &[u32], lay: &Layout, k: usize) -> bool {
    let all_user = |l: u64| (0..lay.tasks).all(|t| lay.at_user(l, t));
    let stutter = (0..g.capacity() as u32).any(|s| {
        g.expanded(s) && {
            let l = g.label(s);
            lay.pending(l, k) && !lay.any_fair_enabled(l) && all_user(l)
        }
    });
    if stutter {
        return true;
    }
    let (comp, ncomp) = sccs(g, lay, k);
    let members = Members::new(&comp, ncomp);
    let cpus: Vec<usize> = lay
        .classes
        .iter()
        .filter(|c| matches!(c, Class::IdleLoop(_)))
        .map(|&c| lay.class_index(c))
        .collect();
    let fair_classes: Vec<usize> = (0..lay.classes.len())
        .filter(|&i| lay.fair >> i & 1 != 0)
        .collect();
    let symmetric: Vec<usize> = fair_classes
        .iter()
        .copied()
        .filter(|i| !cpus.contains(i))
        .collect();
    // Each stored label id decoded once: its class and its permutations.
    let class: Vec<usize> = table.iter().map(|&l| class_label(l)).collect();
    let task_perm: Vec<[u8; 8]> = table
        .iter()
        .map(|&l| perm_unrank(l >> TASK_PERM_SHIFT & 0xffff, lay.tasks))
        .collect();
    let cpu_perm: Vec<[u8; 8]> = table
        .iter()
        .map(|&l| perm_unrank(l >> CPU_PERM_SHIFT & 0x1f, cpus.len()))
        .collect();
    let mut local = vec![0u32; g.capacity()];
    for c in 0..ncomp {
        let m = &members[c as usize];
        let has_cycle = m.len() > 1 || m.iter().any(|&s| g.edges(s).any(|(w, _)| w == s));
        let terminal = m.len() == 1 && !lay.has_nonadmin(g.label(m[0]));
        if !has_cycle && !terminal {
            continue;
        }
        if !has_cycle {
            // One state, no step of the kernel or a task: a run stays
            // there if nothing fair is enabled and every task is at user
            // space (no edge is kept, so none can be taken).
            let l = g.label(m[0]);
            if fair_classes.iter().all(|&cl| !lay.enabled(l, cl)) && all_user(l) {
                return true;
            }
            continue;
        }
        let symmetric_fair = symmetric.iter().all(|&cl| {
            m.iter().any(|&s| !lay.enabled(g.label(s), cl))
                || m.iter().any(|&s| {
                    g.edges(s)
                        .any(|(w, l)| class[l as usize] == cl + 1 && comp[w as usize] == c)
                })
        });
        if !symmetric_fair {
            continue;
        }
        for (a, &s) in m.iter().enumerate() {
            local[s as usize] = a as u32;
        }
        let cpus_fair = tracked_fair(
            g,
            &comp,
            c,
            m,
            &local,
            cpus.len(),
            |l| cpu_perm[l as usize],
            |s, i| !lay.enabled(g.label(s), cpus[i]),
            |l, i| class[l as usize] == cpus[i] + 1,
        );
        if !cpus_fair {
            continue;
        }
        let tasks_fair = tracked_fair(
            g,
            &comp,
            c,
            m,
            &local,
            lay.tasks,
            |l| task_perm[l as usize],
            |s, i| lay.at_user(g.label(s), i),
            |_, _| false,
        );
        if tasks_fair {
            return true;
        }
    }
    false
}

/// The liveness verdicts from the quotient graph `g` of a symmetric search
/// recorded with `hooks` ([`KlpHooks::symmetric`]), or `None` when the
/// quotient cannot decide them: a component that may hold a fair lasso (the
/// full graph then gives the verdict and the concrete lasso), or a scenario
/// whose labels do not fit.
pub fn quotient_verdicts(
    model: &KlpModel,
    hooks: &KlpHooks<'_, true>,
    g: &StateGraph,
    complete: Result<(), String>,
) -> Option<Vec<LivenessResult>> {
    if complete.is_err() {
        return Some(from_graph(model, g, complete));
    }
    let lay = Layout::new(model).ok()?;
    if !quotient_applies(model) || !hooks.symmetric {
        return None;
    }
    let table = hooks.label_table()?;
    if (0..=lay.patches).any(|k| quotient_may_fail(g, &table, &lay, k)) {
        return None;
    }
    Some(
        LIVENESS_IDS
            .into_iter()
            .map(|id| LivenessResult {
                id,
                lasso: None,
                unknown: None,
            })
            .collect(),
    )
}

/// For the tests that hold the quotient to the full graph: per obligation
/// (`transition-completes`, then `patch-freed` of each patch), whether the
/// quotient graph of a symmetric search may hold a fair lasso, and whether
/// the full graph holds one. `None` when the quotient does not apply or a
/// search is incomplete within `bounds`.
#[doc(hidden)]
pub fn quotient_against_full(model: &KlpModel, bounds: &Bounds) -> Option<Vec<(bool, bool)>> {
    if !quotient_applies(model) {
        return None;
    }
    let lay = Layout::new(model).ok()?;
    let run = |hooks: &KlpHooks<'_, true>, symmetry: bool| {
        let mut b = bounds.clone();
        b.symmetry = symmetry;
        crate::engines::run_native_hooked(model, &b, hooks, "liveness", None, &mut |_| {})
    };
    let symmetric = KlpHooks::<true>::symmetric(model, false);
    let quotient = run(&symmetric, true);
    let full = run(&KlpHooks::<true>::new(model, false), false);
    quotient.graph_complete().ok()?;
    full.graph_complete().ok()?;
    let (q, f) = (quotient.graph.as_ref()?, full.graph.as_ref()?);
    let table = symmetric.label_table()?;
    Some(
        (0..=lay.patches)
            .map(|k| {
                (
                    quotient_may_fail(q, &table, &lay, k),
                    find_lasso(model, f, &lay, k).is_some(),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod scc_tests {
    use super::tarjan;
    use proptest::prelude::*;

    proptest! {
        /// Same components as mutual reachability (two nodes are in one
        /// component exactly when each reaches the other through kept
        /// nodes), numbered in reverse topological order (an edge between
        /// components goes to a smaller number, as Tarjan's).
        #[test]
        fn components_are_mutual_reachability(
            n in 1usize..24,
            edges in prop::collection::vec((0usize..24, 0usize..24), 0..60),
            dropped in prop::collection::vec(0usize..24, 0..4),
        ) {
            let keep = |v: u32| !dropped.contains(&(v as usize));
            let adj: Vec<Vec<u32>> = (0..n)
                .map(|v| edges.iter().filter(|e| e.0 % n == v).map(|e| (e.1 % n) as u32).collect())
                .collect();
            let (comp, ncomp) = tarjan(n, keep, |v, out| out.extend(&adj[v as usize]));
            // reach[a][b]: b reachable from a through kept nodes.
            let mut reach = vec![vec![false; n]; n];
            for a in (0..n).filter(|&a| keep(a as u32)) {
                let mut todo = vec![a];
                reach[a][a] = true;
                while let Some(v) = todo.pop() {
                    for &w in &adj[v] {
                        let w = w as usize;
                        if keep(w as u32) && !reach[a][w] {
                            reach[a][w] = true;
                            todo.push(w);
                        }
                    }
                }
            }
            let mut seen = std::collections::HashSet::new();
            for a in 0..n {
                prop_assert_eq!(comp[a] == u32::MAX, !keep(a as u32));
                if comp[a] == u32::MAX {
                    continue;
                }
                prop_assert!(comp[a] < ncomp);
                seen.insert(comp[a]);
                for b in (0..n).filter(|&b| comp[b] != u32::MAX) {
                    prop_assert_eq!(comp[a] == comp[b], reach[a][b] && reach[b][a]);
                    if reach[a][b] {
                        prop_assert!(comp[b] <= comp[a]);
                    }
                }
            }
            prop_assert_eq!(seen.len() as u32, ncomp);
        }
    }
}

#[cfg(test)]
mod quotient_tests {
    use super::*;

    /// Three interchangeable tasks, 1 in the kernel and 0 at user space, at
    /// most one of them at user space: a task at user space enters the
    /// kernel, and when all three are in, any one returns. Concretely each
    /// task returns to user space again and again (they take turns); in
    /// the quotient (sorted) the only task at user space is always at
    /// position 0. Node label: bit `i` when position `i` is at user space.
    struct TakeTurns;

    impl stateright::Model for TakeTurns {
        type State = [u8; 3];
        type Action = usize;
        fn init_states(&self) -> Vec<[u8; 3]> {
            vec![[1, 1, 1]]
        }
        fn actions(&self, _: &[u8; 3], a: &mut Vec<usize>) {
            a.extend(0..3);
        }
        fn next_state(&self, s: &[u8; 3], t: usize) -> Option<[u8; 3]> {
            let mut n = *s;
            match s[t] {
                0 => n[t] = 1,
                _ if s.iter().all(|&x| x == 1) => n[t] = 0,
                _ => return None,
            }
            Some(n)
        }
    }

    struct TurnHooks;

    impl Hooks<TakeTurns> for TurnHooks {
        type Local = ();
        const GRAPH: bool = true;
        const ACTIONS: bool = true;
        fn local(&self) {}
        fn node(&self, s: &[u8; 3]) -> u64 {
            (0..3).fold(0, |l, i| l | ((s[i] == 0) as u64) << i)
        }
        fn step(
            &self,
            _: &mut (),
            s: &[u8; 3],
            _: &mut u64,
            t: usize,
        ) -> (Option<[u8; 3]>, Option<EdgeLabel>) {
            let next = stateright::Model::next_state(&TakeTurns, s, t);
            let label = next
                .map(|n| (perm_rank(&sorted_positions(&n)[..3]) << TASK_PERM_SHIFT) as EdgeLabel);
            (next, label)
        }
    }

    #[test]
    fn following_a_task_through_the_quotient_sees_tasks_take_turns() {
        let sort = |mut s: [u8; 3]| {
            s.sort();
            s
        };
        let opts = crate::engine::NativeOptions {
            threads: 1,
            symmetry: true,
            ..Default::default()
        };
        let run = crate::engine::check_with(&TakeTurns, &opts, Some(&sort), &TurnHooks);
        let g = run.graph.expect("the graph is recorded");
        let (comp, ncomp) = tarjan(
            g.capacity(),
            |v| g.expanded(v),
            |v, out| out.extend(g.edges(v).map(|e| e.0)),
        );
        assert_eq!(ncomp, 1, "the two quotient states are one component");
        let members: Vec<u32> = (0..g.capacity() as u32)
            .filter(|&v| comp[v as usize] == 0)
            .collect();
        assert_eq!(members.len(), 2);
        let mut local = vec![0u32; g.capacity()];
        for (a, &s) in members.iter().enumerate() {
            local[s as usize] = a as u32;
        }
        let at_user = |s: u32, i: usize| g.label(s) >> i & 1 != 0;
        // Positions 1 and 2 are never at user space in the quotient ...
        for i in 1..3 {
            assert!(members.iter().all(|&s| !at_user(s, i)));
        }
        // ... but every task is, followed with the permutations.
        // The graph stores the labels themselves (no dictionary).
        let followed = |perm: &dyn Fn(EdgeLabel) -> [u8; 8]| {
            tracked_fair(&g, &comp, 0, &members, &local, 3, perm, at_user, |_, _| {
                false
            })
        };
        assert!(followed(&|l| perm_unrank(
            u32::from(l) >> TASK_PERM_SHIFT,
            3
        )));
        // Read off the representatives (no permutation), task 1 and 2 would
        // seem to stay in the kernel forever: a fair cycle missed.
        assert!(!followed(&|_| perm_unrank(0, 3)));
    }

    /// `perm_bits` says where each task of a successor lands in its
    /// canonical form: `canonical.tasks[σ(i)] == next.tasks[i]`.
    #[test]
    fn the_edge_permutation_says_where_each_task_lands() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let l = crate::load::load(&root.join("specs/bench/bench-replace-3tasks.json")).unwrap();
        let model = KlpModel::new(l.scenario);
        assert_eq!(model.sc.tasks.count, 3);
        let mut states = vec![model.init_states().swap_remove(0)];
        let mut checked = 0;
        while let Some(s) = states.pop() {
            let mut actions = Vec::new();
            model.actions(&s, &mut actions);
            for a in actions {
                let Some(next) = model.next_state(&s, a) else {
                    continue;
                };
                let bits = perm_bits(&next);
                let canon = next.clone().into_canonical();
                let t = perm_unrank(bits >> TASK_PERM_SHIFT & 0xffff, next.tasks.len());
                let c = perm_unrank(bits >> CPU_PERM_SHIFT & 0x1f, next.idle_tasks.len());
                for (i, task) in next.tasks.iter().enumerate() {
                    assert_eq!(&canon.tasks[t[i] as usize], task);
                }
                for (i, idle) in next.idle_tasks.iter().enumerate() {
                    assert_eq!(&canon.idle_tasks[c[i] as usize], idle);
                }
                checked += 1;
                if checked < 2000 {
                    states.push(next);
                }
            }
        }
        assert!(checked >= 2000);
    }

    #[test]
    fn permutation_ranks_round_trip() {
        for n in 0..=8usize {
            let count: u32 = (1..=n as u32).product();
            let mut seen = std::collections::HashSet::new();
            for r in 0..count {
                let p = perm_unrank(r, n);
                let mut sorted = p[..n].to_vec();
                sorted.sort();
                assert_eq!(sorted, (0..n as u8).collect::<Vec<_>>(), "rank {r} of {n}");
                assert_eq!(perm_rank(&p[..n]), r);
                assert!(seen.insert(p));
            }
        }
        assert!(perm_rank(&[7, 6, 5, 4, 3, 2, 1, 0]) < 1 << 16);
        assert!(perm_rank(&[3, 2, 1, 0]) < 1 << 5);
    }

    #[test]
    fn sorted_positions_say_where_each_element_lands() {
        let xs = [5, 1, 5, 0, 3];
        let pos = sorted_positions(&xs);
        let mut sorted = xs;
        sorted.sort();
        for (i, x) in xs.iter().enumerate() {
            assert_eq!(sorted[pos[i] as usize], *x);
        }
        let mut p = pos[..5].to_vec();
        p.sort();
        assert_eq!(p, vec![0, 1, 2, 3, 4]);
    }
}
