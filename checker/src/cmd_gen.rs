//! `klpcheck gen --seed S`: a small random scenario with a script, for the
//! lab's fuzzing (lab/fuzz; issue 11 point 4). Same seed, same scenario.
//!
//! The scenario has 1-3 target modules (`test_klp_g_tN`, functions
//! `klpg_tN_fM`, each behind `/proc/klp_g_tN`, logging `M_init`/`M_exit`),
//! 1-4 livepatches (`P1`.., modules `test_klp_g<seed>_pN`; atomic replace or
//! not; functions that use, allocate or free shadow variables; callbacks
//! that log like the selftests' modules, allocate or free shadow variables,
//! or fail; klp_states with versions; a module_exit that frees shadow
//! variables), 1-3 workload tasks (user processes reading `/proc/klp_g_tN` in
//! a loop, `start_workload`), 1-4 CPUs, and a script of waiting and
//! non-waiting steps with target module loads. The C modules are written
//! from the scenario by lab/tools/klpgen.py.
//!
//! Every generated script runs under `klpcheck run`: a step the model
//! refuses (a disable of a patch that is gone, an insmod the kernel would
//! refuse) is replaced by the step that expects the refusal, or dropped,
//! until the whole script runs.

use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::run::{usage_error, EXIT_OK};

#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Seed of the random choices.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fix the CPU count (default: random, 1 to 4).
    #[arg(long)]
    pub cpus: Option<u32>,
    /// At least this many CPUs (lab/fuzz uses 2).
    #[arg(long, default_value_t = 1)]
    pub min_cpus: u32,
    /// Write the scenario here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// splitmix64: a small, well-known generator; the sequence is part of the
/// contract "same seed, same scenario".
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in lo..=hi.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

fn st(op: &str, args: Value) -> Value {
    json!({"op": op, "args": args})
}

/// The shadow variables a generated scenario may use.
const SHADOW: [(&str, &str); 2] = [("V1", "1"), ("V2", "2")];

fn effects(r: &mut Rng, kind: &str) -> Value {
    let mut e = Map::new();
    e.insert("log".into(), json!(true));
    let v = SHADOW[r.range(0, 1) as usize].0;
    match r.range(0, 5) {
        0 if kind == "pre_patch" || kind == "post_patch" => {
            e.insert("shadow_get_or_alloc".into(), json!([v]));
        }
        1 if kind == "post_unpatch" || kind == "pre_unpatch" => {
            e.insert("shadow_free".into(), json!([v]));
        }
        _ => {}
    }
    if kind == "pre_patch" && r.chance(8) {
        e.insert("ret".into(), json!("ENODEV"));
    }
    Value::Object(e)
}

/// The scenario for `seed`, before its script is fitted to the model.
fn scenario(seed: u64, cpus: Option<u32>, min_cpus: u32) -> Value {
    let mut r = Rng(seed ^ 0x6b6c_7067_656e);
    let nobj = r.range(1, 3) as usize;
    let mut objects = Map::new();
    let mut funcs_of: Vec<Vec<String>> = Vec::new();
    for i in 1..=nobj {
        let nf = r.range(1, 2) as usize;
        let funcs: Vec<String> = (1..=nf).map(|f| format!("klpg_t{i}_f{f}")).collect();
        objects.insert(
            format!("test_klp_g_t{i}"),
            json!({"funcs": funcs, "logs": true}),
        );
        funcs_of.push(funcs);
    }
    let npatch = r.range(1, 4) as usize;
    let mut patches = Map::new();
    for j in 1..=npatch {
        let mut pobjs = Map::new();
        // one or two objects, each with one or more of its functions
        let first = r.range(0, nobj as u64 - 1) as usize;
        let mut chosen = vec![first];
        if nobj > 1 && r.chance(30) {
            chosen.push((first + 1) % nobj);
        }
        for &o in &chosen {
            let mut funcs = Map::new();
            for f in &funcs_of[o] {
                if funcs.is_empty() || r.chance(50) {
                    let v = SHADOW[r.range(0, 1) as usize].0;
                    let code = match r.range(0, 4) {
                        0 => json!({"uses_shadow": [v]}),
                        1 => json!({"frees_shadow": [v]}),
                        2 => json!({"allocates_shadow": [v]}),
                        _ => json!({}),
                    };
                    funcs.insert(f.clone(), code);
                }
            }
            let mut cbs = Map::new();
            for kind in ["pre_patch", "post_patch", "pre_unpatch", "post_unpatch"] {
                if r.chance(60) {
                    cbs.insert(kind.into(), effects(&mut r, kind));
                }
            }
            pobjs.insert(
                format!("test_klp_g_t{}", o + 1),
                json!({"funcs": funcs, "callbacks": cbs}),
            );
        }
        let mut p = Map::new();
        p.insert("module".into(), json!(format!("test_klp_g{seed}_p{j}")));
        p.insert("replace".into(), json!(r.chance(35)));
        if r.chance(40) {
            p.insert(
                "states".into(),
                json!([{"id": 1, "version": r.range(0, 2)}]),
            );
        }
        if r.chance(25) {
            // klp_shadow_free_all takes an id (every parent)
            let id = SHADOW[r.range(0, 1) as usize].1;
            p.insert(
                "module_exit".into(),
                json!({"log": false, "shadow_free_all": [id]}),
            );
        }
        p.insert("objects".into(), Value::Object(pobjs));
        patches.insert(format!("P{j}"), Value::Object(p));
    }
    let ntasks = r.range(1, 3);
    let ncpus = cpus.unwrap_or_else(|| r.range(min_cpus.clamp(1, 4) as u64, 4) as u32);
    // the script: workloads on the first object, a random admin walk,
    // cleanup
    let late = if nobj > 1 && r.chance(40) {
        Some(nobj)
    } else {
        None
    };
    let mut steps = Vec::new();
    for i in 1..=nobj {
        if Some(i) != late {
            steps.push(st(
                "load_module",
                json!({"module": format!("test_klp_g_t{i}")}),
            ));
        }
    }
    for t in 1..=ntasks {
        let obj = r.range(1, nobj as u64) as usize;
        let obj = if Some(obj) == late { 1 } else { obj };
        steps.push(st(
            "start_workload",
            json!({"name": format!("w{t}"), "program": "klp_hammer", "args": [format!("/proc/klp_g_t{obj}")]}),
        ));
    }
    let nacts = r.range(2, 7);
    let names: Vec<String> = (1..=npatch).map(|j| format!("P{j}")).collect();
    let mut late_loaded = late.is_none();
    for _ in 0..nacts {
        let p = r.pick(&names).clone();
        match r.range(0, 9) {
            0..=2 => steps.push(st("load_livepatch", json!({"patch": p}))),
            3 | 4 => {
                steps.push(st("load_livepatch_nowait", json!({"patch": p})));
                if r.chance(50) {
                    steps.push(st("wait_transition", json!({"patch": p, "value": 0})));
                }
            }
            5 => steps.push(st("disable_livepatch", json!({"patch": p}))),
            6 => {
                steps.push(st("write_enabled", json!({"patch": p, "value": 0})));
                steps.push(st("wait_livepatch_gone", json!({"patch": p})));
            }
            7 => steps.push(st("unload_module", json!({"module": p}))),
            8 if !late_loaded => {
                late_loaded = true;
                steps.push(st(
                    "load_module",
                    json!({"module": format!("test_klp_g_t{}", late.unwrap_or(1))}),
                ));
            }
            _ => steps.push(st("show_state", json!({}))),
        }
    }
    steps.push(st("show_state", json!({})));
    for t in 1..=ntasks {
        steps.push(st("stop_workload", json!({"name": format!("w{t}")})));
    }
    for p in names.iter().rev() {
        steps.push(st("disable_livepatch", json!({"patch": p})));
    }
    for p in &names {
        steps.push(st("unload_module", json!({"module": p})));
    }
    for i in 1..=nobj {
        steps.push(st(
            "unload_module",
            json!({"module": format!("test_klp_g_t{i}")}),
        ));
    }
    json!({
        "spec_version": 1,
        "name": format!("gen-{seed}"),
        "description": format!("Random scenario of `klpcheck gen --seed {seed}` (lab/fuzz): {nobj} target module(s), {npatch} livepatch(es), {ntasks} workload task(s), {ncpus} CPU(s)."),
        "cpus": ncpus,
        "objects": objects,
        "shadow_vars": {"V1": {"parent": "SHADOW_OBJ", "id": "1"}, "V2": {"parent": "SHADOW_OBJ", "id": "2"}},
        "patches": patches,
        "tasks": {"count": ntasks, "max_depth": 1, "kind": "user"},
        "script": steps,
    })
}

/// Fits the script to the model: runs it, and where a step fails replaces
/// it by the step that expects the failure (an insmod error) or drops it;
/// then records the events as `expected_events`.
fn fit(mut spec: Value) -> Result<Value, String> {
    let lib = crate::selftest::library::Library::builtin();
    for _ in 0..200 {
        let parsed = klp_model::parse_spec(&spec.to_string()).map_err(|e| e.to_string())?;
        let case = crate::selftest::case::from_spec(&parsed, "gen", &lib)?;
        let out = crate::selftest::run_case(&case, &lib);
        let Some((i, _msg)) = out.error else {
            let events: Vec<String> = out.events.into_iter().map(|(_, e)| e).collect();
            spec["expected_events"] = json!(events);
            return Ok(spec);
        };
        let script = spec["script"].as_array_mut().expect("script");
        let step = script[i].clone();
        let op = step["op"].as_str().unwrap_or("");
        let errno = out
            .events
            .iter()
            .rev()
            .find(|(s, e)| *s == i && e.starts_with("load_error("))
            .and_then(|(_, e)| {
                e.trim_end_matches(')')
                    .rsplit(',')
                    .next()
                    .map(str::to_string)
            });
        match (op, errno) {
            ("load_livepatch" | "load_livepatch_nowait", Some(e)) => {
                script[i] = st(
                    "load_livepatch_expect_failure",
                    json!({"patch": step["args"]["patch"], "expected_errno": e}),
                );
            }
            _ => {
                script.remove(i);
            }
        }
    }
    Err("the script could not be fitted to the model in 200 rounds".to_string())
}

/// The fitted scenario of `seed`.
pub fn generate(seed: u64, cpus: Option<u32>, min_cpus: u32) -> Result<Value, String> {
    fit(scenario(seed, cpus, min_cpus))
}

pub fn gen_cmd(args: &GenArgs) -> i32 {
    if let Some(c) = args.cpus {
        if !(1..=klp_model::scenario::MAX_CPUS).contains(&c) {
            return usage_error(format!(
                "--cpus {c}: from 1 to {}",
                klp_model::scenario::MAX_CPUS
            ));
        }
    }
    let spec = match generate(args.seed, args.cpus, args.min_cpus) {
        Ok(s) => s,
        Err(e) => return usage_error(format!("gen --seed {}: {e}", args.seed)),
    };
    let text = serde_json::to_string_pretty(&spec).expect("scenario serializes") + "\n";
    match &args.out {
        Some(p) => {
            if let Err(e) = std::fs::write(p, text) {
                return usage_error(format!("{}: {e}", p.display()));
            }
        }
        None => out!("{text}"),
    }
    EXIT_OK
}
