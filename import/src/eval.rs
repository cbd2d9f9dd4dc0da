//! What a callback, a patched function or module_exit does, found by walking
//! its body (and the bodies of the file's own functions it calls) over the
//! tree-sitter tree: an abstract interpretation that keeps only what the
//! scenario language can say.
//!
//! * `klp_shadow_alloc/get_or_alloc/get/free/free_all(…, ID, …)` with ID a
//!   constant (macros resolved);
//! * `klp_get_prev_state(ID)` splits the walk in two (the `if_prev_state`
//!   branch of the scenario); `klp_get_state(&patch, ID)` is non-NULL
//!   exactly when the patch declares ID;
//! * allocations (`kzalloc`, a shadow allocation) succeed: the model has no
//!   allocation failure;
//! * `return -EXXX` / `return 0` / `return <module parameter>`;
//! * a printk (`pr_info`, …) makes the callback log;
//! * an assignment to a kernel global (not a local, not the module's own
//!   variable) is a system modification the importer cannot name: a
//!   placeholder.
//!
//! Any other condition is undecidable here: both branches are walked and,
//! when their effects differ, the union is kept with a located note.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::cfront::{param_names, At, Index};
use crate::{Loc, Notes};

/// What kind of body is walked (system modifications only count in
/// callbacks and module_exit).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ctx {
    PrePatch,
    PostPatch,
    PreUnpatch,
    PostUnpatch,
    Code,
    Exit,
}

/// A shadow variable id as seen in the source.
#[derive(Clone, Debug)]
pub struct ShadowSeen {
    /// The macro it was written with (`SV_LEAK`), if any.
    pub name: Option<String>,
    pub parent: String,
    pub loc: Loc,
}

/// The effects of one path (no branch).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flat {
    pub log: bool,
    pub alloc: BTreeSet<i64>,
    pub get_or_alloc: BTreeSet<i64>,
    pub get: BTreeSet<i64>,
    /// `klp_shadow_get` results kept and then NULL-checked (`p = get(..);
    /// if (p)`, `if (!p)`, `p ? .. : ..`): the code copes with a missing
    /// variable.
    pub get_checked: BTreeSet<i64>,
    /// `klp_shadow_get` calls tested directly and not kept
    /// (`if (klp_shadow_get(..)) klp_shadow_free(..)`): a probe, no read.
    pub get_probe: BTreeSet<i64>,
    pub free: BTreeSet<i64>,
    pub free_all: BTreeSet<i64>,
    /// System modifications (placeholder names).
    pub set: BTreeSet<String>,
    pub clear: BTreeSet<String>,
}

impl Flat {
    fn union(&mut self, o: &Flat) {
        self.log |= o.log;
        self.alloc.extend(o.alloc.iter().copied());
        self.get_or_alloc.extend(o.get_or_alloc.iter().copied());
        self.get.extend(o.get.iter().copied());
        self.get_checked.extend(o.get_checked.iter().copied());
        self.get_probe.extend(o.get_probe.iter().copied());
        self.free.extend(o.free.iter().copied());
        self.free_all.extend(o.free_all.iter().copied());
        self.set.extend(o.set.iter().cloned());
        self.clear.extend(o.clear.iter().cloned());
    }
    fn intersect(&self, o: &Flat) -> Flat {
        fn i<T: Ord + Clone>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> BTreeSet<T> {
            a.intersection(b).cloned().collect()
        }
        Flat {
            log: self.log && o.log,
            alloc: i(&self.alloc, &o.alloc),
            get_or_alloc: i(&self.get_or_alloc, &o.get_or_alloc),
            get: i(&self.get, &o.get),
            get_checked: i(&self.get_checked, &o.get_checked),
            get_probe: i(&self.get_probe, &o.get_probe),
            free: i(&self.free, &o.free),
            free_all: i(&self.free_all, &o.free_all),
            set: i(&self.set, &o.set),
            clear: i(&self.clear, &o.clear),
        }
    }
    fn minus(&mut self, o: &Flat) {
        if o.log {
            self.log = false;
        }
        self.alloc.retain(|x| !o.alloc.contains(x));
        self.get_or_alloc.retain(|x| !o.get_or_alloc.contains(x));
        self.get.retain(|x| !o.get.contains(x));
        self.get_checked.retain(|x| !o.get_checked.contains(x));
        self.get_probe.retain(|x| !o.get_probe.contains(x));
        self.free.retain(|x| !o.free.contains(x));
        self.free_all.retain(|x| !o.free_all.contains(x));
        self.set.retain(|x| !o.set.contains(x));
        self.clear.retain(|x| !o.clear.contains(x));
    }
}

/// A callback's return value.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Ret {
    #[default]
    Zero,
    /// A negative errno (name, number).
    Errno(String),
    /// The `pre_patch_ret` module parameter.
    Param,
}

/// Effects as the scenario language has them: a flat part, a return value,
/// and at most one `klp_get_prev_state` branch (nested).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Eff {
    pub flat: Flat,
    pub ret: Ret,
    pub branch: Option<(u64, Box<Eff>, Box<Eff>)>,
}

impl Eff {
    /// Every shadow id any path touches (for code classification and the
    /// scenario's shadow_vars).
    pub fn all_flat(&self) -> Flat {
        let mut f = self.flat.clone();
        if let Some((_, t, e)) = &self.branch {
            f.union(&t.all_flat());
            f.union(&e.all_flat());
        }
        f
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Val {
    PrevState(u64),
    OwnState(bool),
    /// A pointer from a successful allocation (kzalloc, a shadow allocation).
    Alloc,
    /// A klp_shadow_get result (its id, when the importer resolved it).
    ShadowGet(Option<i64>),
    Int(i64),
    Errno(String),
    Param(String),
    Unknown,
}

#[derive(Clone)]
struct Path {
    assume: BTreeMap<u64, bool>,
    flat: Flat,
    ret: Option<Val>,
    done: bool,
    vars: HashMap<String, Val>,
    locals: HashSet<String>,
    forks: Vec<Loc>,
}

const MAX_PATHS: usize = 256;

pub struct Walker<'a, 'n> {
    pub ix: &'n Index<'a>,
    pub notes: &'n mut Notes,
    pub ctx: Ctx,
    /// klp_state ids the patch declares.
    pub own_states: BTreeSet<u64>,
    pub params: BTreeSet<String>,
    /// Shadow ids seen, with how they were written.
    pub shadows: &'n mut BTreeMap<i64, ShadowSeen>,
    stack: Vec<String>,
}

impl<'a, 'n> Walker<'a, 'n> {
    pub fn new(
        ix: &'n Index<'a>,
        notes: &'n mut Notes,
        ctx: Ctx,
        own_states: BTreeSet<u64>,
        shadows: &'n mut BTreeMap<i64, ShadowSeen>,
    ) -> Self {
        let params = ix.module_params().into_iter().map(|(n, _)| n).collect();
        Walker {
            ix,
            notes,
            ctx,
            own_states,
            params,
            shadows,
            stack: vec![],
        }
    }

    /// Walks the body of function `f` and returns its effects.
    pub fn function(&mut self, name: &str, f: At<'a>) -> Eff {
        self.stack.push(name.to_string());
        let start = Path {
            assume: BTreeMap::new(),
            flat: Flat::default(),
            ret: None,
            done: false,
            vars: HashMap::new(),
            locals: param_names(f).into_iter().collect(),
            forks: vec![],
        };
        let paths = match f.field("body") {
            Some(b) => self.stmt(b, vec![start]),
            None => vec![start],
        };
        let e = self.merge(paths);
        self.stack.pop();
        e
    }

    fn stmt(&mut self, s: At<'a>, paths: Vec<Path>) -> Vec<Path> {
        let (done, live): (Vec<Path>, Vec<Path>) = paths.into_iter().partition(|p| p.done);
        if live.is_empty() {
            return done;
        }
        let mut out = done;
        let res = match s.kind() {
            "compound_statement" => {
                let mut ps = live;
                for k in s.named() {
                    ps = self.stmt(k, ps);
                }
                ps
            }
            "declaration" => {
                let mut ps = live;
                for d in s.named() {
                    if d.kind() == "init_declarator" {
                        let name = d
                            .field("declarator")
                            .and_then(crate::cfront::declarator_name);
                        if let Some(v) = d.field("value") {
                            let mut next = Vec::new();
                            for (mut p, val) in self.expr_all(v, ps) {
                                if let Some(n) = &name {
                                    p.locals.insert(n.clone());
                                    p.vars.insert(n.clone(), val);
                                }
                                next.push(p);
                            }
                            ps = next;
                        } else if let Some(n) = name {
                            for p in &mut ps {
                                p.locals.insert(n.clone());
                            }
                        }
                    } else if let Some(n) = crate::cfront::declarator_name(d) {
                        if matches!(
                            d.kind(),
                            "identifier" | "pointer_declarator" | "array_declarator"
                        ) {
                            for p in &mut ps {
                                p.locals.insert(n.clone());
                            }
                        }
                    }
                }
                ps
            }
            "expression_statement" => {
                let mut ps = live;
                for e in s.named() {
                    ps = self.expr_all(e, ps).into_iter().map(|(p, _)| p).collect();
                }
                ps
            }
            "if_statement" => {
                let cond = s.field("condition");
                let mut next = Vec::new();
                let branches = match cond {
                    Some(c) => self.cond_all(c, live),
                    None => live.into_iter().map(|p| (p, true)).collect(),
                };
                let (yes, no): (Vec<_>, Vec<_>) = branches.into_iter().partition(|(_, b)| *b);
                let yes: Vec<Path> = yes.into_iter().map(|(p, _)| p).collect();
                let no: Vec<Path> = no.into_iter().map(|(p, _)| p).collect();
                if !yes.is_empty() {
                    match s.field("consequence") {
                        Some(c) => next.extend(self.stmt(c, yes)),
                        None => next.extend(yes),
                    }
                }
                if !no.is_empty() {
                    match s.field("alternative") {
                        Some(a) => {
                            let body = a.named().into_iter().next();
                            match body {
                                Some(b) => next.extend(self.stmt(b, no)),
                                None => next.extend(no),
                            }
                        }
                        None => next.extend(no),
                    }
                }
                next
            }
            "return_statement" => {
                let e = s.named().into_iter().next();
                let mut next = Vec::new();
                match e {
                    Some(e) => {
                        for (mut p, v) in self.expr_all(e, live) {
                            p.ret = Some(v);
                            p.done = true;
                            next.push(p);
                        }
                    }
                    None => {
                        for mut p in live {
                            p.done = true;
                            next.push(p);
                        }
                    }
                }
                next
            }
            "goto_statement" => {
                let loc = s.loc();
                self.notes.note(
                    loc,
                    format!(
                        "`{}`: the importer does not follow goto; the effects after the label are not seen on this path",
                        s.text()
                    ),
                );
                live.into_iter()
                    .map(|mut p| {
                        p.done = true;
                        p
                    })
                    .collect()
            }
            "for_statement" | "while_statement" | "do_statement" => {
                // Zero or one iteration: the effects of the body may or may
                // not happen (shadow operations are idempotent in the model).
                let body = s.field("body");
                let loc = s.loc();
                let mut once: Vec<Path> = live.clone();
                if let Some(b) = body {
                    once = self.stmt(b, once);
                }
                let mut next: Vec<Path> = live
                    .into_iter()
                    .map(|mut p| {
                        p.forks.push(loc.clone());
                        p
                    })
                    .collect();
                next.extend(once.into_iter().map(|mut p| {
                    p.forks.push(loc.clone());
                    p
                }));
                next
            }
            "switch_statement" => {
                let loc = s.loc();
                let mut next = Vec::new();
                if let Some(b) = s.field("body") {
                    for case in b.named() {
                        let mut ps: Vec<Path> = live
                            .iter()
                            .cloned()
                            .map(|mut p| {
                                p.forks.push(loc.clone());
                                p
                            })
                            .collect();
                        for st in case
                            .named()
                            .into_iter()
                            .skip(usize::from(case.field("value").is_some()))
                        {
                            ps = self.stmt(st, ps);
                        }
                        next.extend(ps);
                    }
                }
                if next.is_empty() {
                    next = live;
                }
                next
            }
            "labeled_statement" => {
                let mut ps = live;
                for k in s.named().into_iter().skip(1) {
                    ps = self.stmt(k, ps);
                }
                ps
            }
            _ => live,
        };
        out.extend(res);
        self.cap(out)
    }

    fn cap(&mut self, mut paths: Vec<Path>) -> Vec<Path> {
        if paths.len() > MAX_PATHS {
            // Merge paths with the same assumptions to keep the walk bounded.
            let mut by: BTreeMap<Vec<(u64, bool)>, Path> = BTreeMap::new();
            for p in paths.drain(..) {
                let key: Vec<(u64, bool)> = p.assume.iter().map(|(k, v)| (*k, *v)).collect();
                by.entry((key, p.done).0)
                    .and_modify(|q| q.flat.union(&p.flat))
                    .or_insert(p);
            }
            paths = by.into_values().collect();
        }
        paths
    }

    fn expr_all(&mut self, e: At<'a>, paths: Vec<Path>) -> Vec<(Path, Val)> {
        let mut out = Vec::new();
        for p in paths {
            out.extend(self.expr(e, p));
        }
        out
    }

    fn expr(&mut self, e: At<'a>, mut p: Path) -> Vec<(Path, Val)> {
        match e.kind() {
            "call_expression" => self.call(e, p),
            "assignment_expression" => {
                let mut out = Vec::new();
                let right = e.field("right");
                let results = match right {
                    Some(r) => self.expr(r, p),
                    None => vec![(p, Val::Unknown)],
                };
                for (mut q, v) in results {
                    if let Some(l) = e.field("left") {
                        self.assign(l, &mut q, v.clone());
                    }
                    out.push((q, v));
                }
                out
            }
            "update_expression" => {
                if let Some(a) = e.field("argument") {
                    self.assign(a, &mut p, Val::Unknown);
                }
                vec![(p, Val::Unknown)]
            }
            "identifier" => {
                let n = e.text();
                let v = if let Some(v) = p.vars.get(n) {
                    v.clone()
                } else if p.locals.contains(n) {
                    Val::Unknown
                } else if self.params.contains(n) {
                    Val::Param(n.to_string())
                } else if let Some(c) = self.ix.const_eval(e) {
                    Val::Int(c)
                } else {
                    Val::Unknown
                };
                vec![(p, v)]
            }
            "number_literal" | "true" | "false" | "null" | "char_literal" => {
                let v = self.ix.const_eval(e).map(Val::Int).unwrap_or(Val::Unknown);
                vec![(p, v)]
            }
            "unary_expression" => {
                let op = e.field("operator").map(|o| o.text()).unwrap_or("");
                let arg = e.field("argument");
                if op == "-" {
                    if let Some(a) = arg {
                        if a.kind() == "identifier" && errno_number(a.text()).is_some() {
                            return vec![(p, Val::Errno(a.text().to_string()))];
                        }
                        if let Some(c) = self.ix.const_eval(e) {
                            return vec![(p, Val::Int(c))];
                        }
                    }
                }
                if op == "!" {
                    return self
                        .cond(e, p)
                        .into_iter()
                        .map(|(q, b)| (q, Val::Int(b as i64)))
                        .collect();
                }
                match arg {
                    Some(a) => self
                        .expr(a, p)
                        .into_iter()
                        .map(|(q, _)| (q, Val::Unknown))
                        .collect(),
                    None => vec![(p, Val::Unknown)],
                }
            }
            "parenthesized_expression" => match e.named().into_iter().next() {
                Some(i) => self.expr(i, p),
                None => vec![(p, Val::Unknown)],
            },
            "cast_expression" => match e.field("value") {
                Some(v) => self.expr(v, p),
                None => vec![(p, Val::Unknown)],
            },
            "conditional_expression" => {
                let mut out = Vec::new();
                let c = e.field("condition");
                let branches = match c {
                    Some(c) => self.cond(c, p),
                    None => vec![(p, true)],
                };
                for (q, b) in branches {
                    let arm = if b {
                        e.field("consequence")
                    } else {
                        e.field("alternative")
                    };
                    match arm {
                        Some(a) => out.extend(self.expr(a, q)),
                        None => out.push((q, Val::Unknown)),
                    }
                }
                out
            }
            _ => {
                // Walk sub-expressions for the calls they make.
                let mut ps = vec![p];
                for k in e.named() {
                    ps = self.expr_all(k, ps).into_iter().map(|(q, _)| q).collect();
                }
                ps.into_iter().map(|q| (q, Val::Unknown)).collect()
            }
        }
    }

    fn assign(&mut self, l: At<'a>, p: &mut Path, v: Val) {
        if l.kind() != "identifier" {
            return;
        }
        let n = l.text();
        if p.locals.contains(n) {
            p.vars.insert(n.to_string(), v);
            return;
        }
        if self.ix.is_file_var(n) || self.ctx == Ctx::Code {
            return;
        }
        // A kernel global the module writes: a system modification.
        let name = format!("TODO(import) {n}");
        let set = matches!(self.ctx, Ctx::PrePatch | Ctx::PostPatch);
        if set {
            p.flat.set.insert(name.clone());
        } else {
            p.flat.clear.insert(name.clone());
        }
        self.notes.note(
            l.loc(),
            format!(
                "{} writes the kernel variable `{n}`: a system modification the importer cannot name; placeholder `{name}` is {} here (edit it, and give the patched code that needs it a `needs`)",
                self.stack.last().map(String::as_str).unwrap_or("?"),
                if set { "set" } else { "cleared" }
            ),
        );
    }

    fn shadow_id(&mut self, a: Option<At<'a>>, parent: String, call: At<'a>) -> Option<i64> {
        let a = a?;
        match self.ix.const_eval(a) {
            Some(id) => {
                let name = (a.kind() == "identifier").then(|| a.text().to_string());
                let loc = call.loc();
                self.shadows
                    .entry(id)
                    .or_insert(ShadowSeen { name, parent, loc });
                Some(id)
            }
            None => {
                self.notes.note(
                    a.loc(),
                    format!(
                        "shadow variable id `{}` is not a constant the importer can resolve; this shadow operation is left out",
                        a.text()
                    ),
                );
                None
            }
        }
    }

    fn call(&mut self, e: At<'a>, p: Path) -> Vec<(Path, Val)> {
        let fname = e
            .field("function")
            .map(|f| f.text().to_string())
            .unwrap_or_default();
        let args: Vec<At<'a>> = e.field("arguments").map(|a| a.named()).unwrap_or_default();
        // Evaluate the arguments first (their calls happen before this one).
        let mut ps = vec![p];
        let mut argvals: Vec<Vec<Val>> = vec![vec![]];
        for a in &args {
            let mut nps = Vec::new();
            let mut nvals = Vec::new();
            for (q, vals) in ps.into_iter().zip(argvals) {
                for (r, v) in self.expr(*a, q) {
                    let mut vs = vals.clone();
                    vs.push(v);
                    nps.push(r);
                    nvals.push(vs);
                }
            }
            ps = nps;
            argvals = nvals;
        }
        let parent = args
            .first()
            .map(|a| a.text().to_string())
            .unwrap_or_default();
        let mut out = Vec::new();
        for (mut q, vals) in ps.into_iter().zip(argvals) {
            let mut got = None;
            let v = match fname.as_str() {
                "klp_shadow_alloc"
                | "klp_shadow_get_or_alloc"
                | "klp_shadow_get"
                | "klp_shadow_free" => {
                    if let Some(id) = self.shadow_id(args.get(1).copied(), parent.clone(), e) {
                        match fname.as_str() {
                            "klp_shadow_alloc" => q.flat.alloc.insert(id),
                            "klp_shadow_get_or_alloc" => q.flat.get_or_alloc.insert(id),
                            "klp_shadow_get" => {
                                got = Some(id);
                                q.flat.get.insert(id)
                            }
                            _ => q.flat.free.insert(id),
                        };
                    }
                    match fname.as_str() {
                        "klp_shadow_get" => Val::ShadowGet(got),
                        "klp_shadow_free" => Val::Unknown,
                        _ => Val::Alloc,
                    }
                }
                "klp_shadow_free_all" => {
                    if let Some(id) = self.shadow_id(args.first().copied(), "*".into(), e) {
                        q.flat.free_all.insert(id);
                    }
                    Val::Unknown
                }
                "klp_get_prev_state" => match args.first().and_then(|a| self.ix.const_eval(*a)) {
                    Some(id) if id > 0 => Val::PrevState(id as u64),
                    _ => {
                        self.notes.note(
                            e.loc(),
                            "klp_get_prev_state with an id the importer cannot resolve; taken as NULL",
                        );
                        Val::Int(0)
                    }
                },
                "klp_get_state" => match args.get(1).and_then(|a| self.ix.const_eval(*a)) {
                    Some(id) => Val::OwnState(id > 0 && self.own_states.contains(&(id as u64))),
                    None => Val::Unknown,
                },
                "kzalloc" | "kmalloc" | "kcalloc" | "kmalloc_array" | "vmalloc" | "vzalloc"
                | "kvmalloc" | "kvzalloc" | "kmem_cache_alloc" | "kmem_cache_zalloc"
                | "kstrdup" | "kmemdup" => Val::Alloc,
                "pr_info"
                | "pr_notice"
                | "pr_warn"
                | "pr_err"
                | "pr_debug"
                | "pr_emerg"
                | "pr_alert"
                | "pr_crit"
                | "pr_cont"
                | "printk"
                | "pr_info_ratelimited"
                | "pr_warn_once"
                | "pr_info_once" => {
                    q.flat.log = true;
                    Val::Unknown
                }
                _ => {
                    if let Some(f) = self.ix.funcs.get(&fname).copied() {
                        if self.stack.len() < 10 && !self.stack.contains(&fname) {
                            out.extend(self.inline(&fname, f, q, vals));
                            continue;
                        }
                    }
                    Val::Unknown
                }
            };
            out.push((q, v));
        }
        out
    }

    /// Walks a static helper of the file with the caller's path.
    fn inline(&mut self, name: &str, f: At<'a>, p: Path, args: Vec<Val>) -> Vec<(Path, Val)> {
        self.stack.push(name.to_string());
        let saved_vars = p.vars.clone();
        let saved_locals = p.locals.clone();
        let mut callee = p;
        callee.vars = HashMap::new();
        callee.locals = HashSet::new();
        for (n, v) in param_names(f).into_iter().zip(args) {
            callee.locals.insert(n.clone());
            callee.vars.insert(n, v);
        }
        let results = match f.field("body") {
            Some(b) => self.stmt(b, vec![callee]),
            None => vec![callee],
        };
        self.stack.pop();
        results
            .into_iter()
            .map(|mut q| {
                let v = q.ret.take().unwrap_or(Val::Unknown);
                q.done = false;
                q.vars = saved_vars.clone();
                q.locals = saved_locals.clone();
                (q, v)
            })
            .collect()
    }

    fn cond_all(&mut self, c: At<'a>, paths: Vec<Path>) -> Vec<(Path, bool)> {
        let mut out = Vec::new();
        for p in paths {
            out.extend(self.cond(c, p));
        }
        out
    }

    fn cond(&mut self, c: At<'a>, p: Path) -> Vec<(Path, bool)> {
        match c.kind() {
            "parenthesized_expression" => match c.named().into_iter().next() {
                Some(i) => self.cond(i, p),
                None => vec![(p, true)],
            },
            "unary_expression" if c.field("operator").map(|o| o.text()) == Some("!") => {
                match c.field("argument") {
                    Some(a) => self.cond(a, p).into_iter().map(|(q, b)| (q, !b)).collect(),
                    None => vec![(p, true)],
                }
            }
            "binary_expression" => {
                let op = c.field("operator").map(|o| o.text()).unwrap_or("");
                let (Some(l), Some(r)) = (c.field("left"), c.field("right")) else {
                    return vec![(p, true)];
                };
                match op {
                    "&&" | "||" => {
                        let mut out = Vec::new();
                        for (q, b) in self.cond(l, p) {
                            if (op == "&&" && !b) || (op == "||" && b) {
                                out.push((q, b));
                            } else {
                                out.extend(self.cond(r, q));
                            }
                        }
                        out
                    }
                    "==" | "!=" if is_zero(self.ix, r) || is_zero(self.ix, l) => {
                        let side = if is_zero(self.ix, r) { l } else { r };
                        self.cond(side, p)
                            .into_iter()
                            .map(|(q, b)| (q, if op == "==" { !b } else { b }))
                            .collect()
                    }
                    _ => self.truth_of(c, p),
                }
            }
            _ => self.truth_of(c, p),
        }
    }

    fn truth_of(&mut self, c: At<'a>, p: Path) -> Vec<(Path, bool)> {
        let mut out = Vec::new();
        let loc = c.loc();
        for (mut q, v) in self.expr(c, p) {
            match v {
                Val::PrevState(id) => match q.assume.get(&id) {
                    Some(b) => {
                        let b = *b;
                        out.push((q, b));
                    }
                    None => {
                        let mut t = q.clone();
                        t.assume.insert(id, true);
                        q.assume.insert(id, false);
                        out.push((t, true));
                        out.push((q, false));
                    }
                },
                Val::OwnState(b) => out.push((q, b)),
                Val::ShadowGet(id) => {
                    // The NULL check of a get: on the call itself, a probe
                    // (`if (klp_shadow_get(..))`); on a kept result, a
                    // checked read.
                    if let Some(id) = id {
                        if c.kind() == "call_expression" {
                            q.flat.get_probe.insert(id);
                        } else {
                            q.flat.get_checked.insert(id);
                        }
                    }
                    out.push((q, true))
                }
                Val::Alloc | Val::Errno(_) => out.push((q, true)),
                Val::Int(n) => out.push((q, n != 0)),
                Val::Param(_) | Val::Unknown => {
                    q.forks.push(loc.clone());
                    out.push((q.clone(), true));
                    out.push((q, false));
                }
            }
        }
        out
    }

    fn ret_of(&mut self, v: &Option<Val>) -> Result<Ret, String> {
        match v {
            None => Ok(Ret::Zero),
            Some(Val::Int(0)) => Ok(Ret::Zero),
            Some(Val::Int(n)) if *n < 0 => Ok(Ret::Errno(
                errno_name(-n).unwrap_or_else(|| (-n).to_string()),
            )),
            Some(Val::Errno(n)) => Ok(Ret::Errno(n.clone())),
            Some(Val::Param(n)) if n == "pre_patch_ret" => Ok(Ret::Param),
            Some(Val::Param(n)) => Err(format!("the module parameter `{n}`")),
            Some(Val::Alloc) | Some(Val::ShadowGet(_)) | Some(Val::OwnState(_)) => Ok(Ret::Zero),
            Some(_) => Err("a value the importer cannot compute".into()),
        }
    }

    /// Paths to the scenario's effect tree.
    fn merge(&mut self, mut paths: Vec<Path>) -> Eff {
        let where_ = self.stack_name();
        if matches!(self.ctx, Ctx::Code | Ctx::Exit) {
            // Only callbacks print the test modules' callback line.
            for p in &mut paths {
                p.flat.log = false;
            }
        }
        let mut groups: BTreeMap<Vec<(u64, bool)>, Vec<Path>> = BTreeMap::new();
        for p in paths {
            let key = p.assume.iter().map(|(k, v)| (*k, *v)).collect();
            groups.entry(key).or_default().push(p);
        }
        let mut leaves: Vec<(BTreeMap<u64, bool>, Eff)> = Vec::new();
        for (key, ps) in groups {
            let mut flat = ps[0].flat.clone();
            let mut differ = false;
            for q in &ps[1..] {
                if q.flat != flat {
                    differ = true;
                }
                flat.union(&q.flat);
            }
            let mut rets = BTreeSet::new();
            let mut ret_list = Vec::new();
            for q in &ps {
                match self.ret_of(&q.ret) {
                    Ok(r) => {
                        if rets.insert(format!("{r:?}")) {
                            ret_list.push(r);
                        }
                    }
                    Err(what) => {
                        if self.ctx == Ctx::PrePatch {
                            let loc = q.forks.last().cloned().unwrap_or_else(|| Loc::file("?"));
                            self.notes.note(
                                loc,
                                format!(
                                    "{where_} returns {what}; the scenario takes 0 (placeholder)"
                                ),
                            );
                        }
                    }
                }
            }
            let ret = if self.ctx != Ctx::PrePatch {
                Ret::Zero
            } else if ret_list.len() > 1 {
                differ = true;
                if ret_list.contains(&Ret::Zero) {
                    Ret::Zero
                } else {
                    ret_list[0].clone()
                }
            } else {
                ret_list.pop().unwrap_or_default()
            };
            if differ {
                let mut forks: Vec<String> = ps
                    .iter()
                    .flat_map(|q| q.forks.iter())
                    .map(|l| format!("{}:{}", l.line, l.col))
                    .collect();
                forks.sort();
                forks.dedup();
                let loc = ps
                    .iter()
                    .flat_map(|q| q.forks.iter())
                    .next()
                    .cloned()
                    .unwrap_or_else(|| Loc::file("?"));
                self.notes.note(
                    loc,
                    format!(
                        "{where_}: what it does depends on conditions the importer cannot decide (at {}); the scenario takes the union of the effects{}",
                        forks.join(", "),
                        if self.ctx == Ctx::PrePatch { " and the successful return" } else { "" }
                    ),
                );
            }
            leaves.push((
                key.into_iter().collect(),
                Eff {
                    flat,
                    ret,
                    branch: None,
                },
            ));
        }
        let mut tree = build_tree(leaves);
        hoist(&mut tree);
        tree
    }

    fn stack_name(&self) -> String {
        self.stack.first().cloned().unwrap_or_default()
    }
}

/// Builds the `if_prev_state` tree from leaves keyed by their assumptions.
fn build_tree(leaves: Vec<(BTreeMap<u64, bool>, Eff)>) -> Eff {
    let id = leaves.iter().flat_map(|(a, _)| a.keys()).min().copied();
    match id {
        None => {
            let mut it = leaves.into_iter();
            let mut e = it.next().map(|(_, e)| e).unwrap_or_default();
            for (_, o) in it {
                e.flat.union(&o.flat);
            }
            e
        }
        Some(id) => {
            let mut then = Vec::new();
            let mut other = Vec::new();
            for (mut a, e) in leaves {
                match a.remove(&id) {
                    Some(true) => then.push((a, e)),
                    Some(false) => other.push((a, e)),
                    None => {
                        then.push((a.clone(), e.clone()));
                        other.push((a, e));
                    }
                }
            }
            Eff {
                flat: Flat::default(),
                ret: Ret::Zero,
                branch: Some((id, Box::new(build_tree(then)), Box::new(build_tree(other)))),
            }
        }
    }
}

/// Moves what both branches do to the level above (the model runs the flat
/// part before the branch), so a callback that logs on both paths logs once
/// at the top as the hand-written scenarios say.
fn hoist(e: &mut Eff) {
    if let Some((_, t, o)) = &mut e.branch {
        hoist(t);
        hoist(o);
        let common = t.flat.intersect(&o.flat);
        t.flat.minus(&common);
        o.flat.minus(&common);
        e.flat.union(&common);
        if t.ret == o.ret && t.ret != Ret::Zero {
            e.ret = t.ret.clone();
            t.ret = Ret::Zero;
            o.ret = Ret::Zero;
        }
    }
}

fn is_zero(ix: &Index, n: At) -> bool {
    n.kind() == "null" || ix.const_eval(n) == Some(0)
}

const ERRNOS: &[(&str, i64)] = &[
    ("EPERM", 1),
    ("ENOENT", 2),
    ("ESRCH", 3),
    ("EINTR", 4),
    ("EIO", 5),
    ("ENXIO", 6),
    ("E2BIG", 7),
    ("ENOEXEC", 8),
    ("EBADF", 9),
    ("ECHILD", 10),
    ("EAGAIN", 11),
    ("ENOMEM", 12),
    ("EACCES", 13),
    ("EFAULT", 14),
    ("EBUSY", 16),
    ("EEXIST", 17),
    ("ENODEV", 19),
    ("EINVAL", 22),
    ("ENOSPC", 28),
    ("ENOSYS", 38),
    ("EOPNOTSUPP", 95),
];

pub fn errno_number(name: &str) -> Option<i64> {
    ERRNOS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn errno_name(n: i64) -> Option<String> {
    ERRNOS
        .iter()
        .find(|(_, v)| *v == n)
        .map(|(s, _)| s.to_string())
}
