//! `klpcheck simulate <SPEC>`: seeded random walks from boot. Each walk picks
//! one enabled action at a time with a splitmix64 generator seeded by
//! (`--seed`, run index), so `--seed S --run I` replays walk I exactly.
//! `always` properties are checked in every state visited, `sometimes`
//! properties are looked for; the first path to each is reported like a
//! `check` discovery. A walk is never exhaustive: properties not violated
//! are `unknown`, and the exit code follows `check` (1 when an expectation is
//! contradicted).

use std::collections::HashSet;
use std::io::Write;
use std::time::Instant;

use klp_model::properties::{Kind, PROPERTIES};
use klp_model::{Action, KlpModel, State};
use stateright::Model;

use crate::cli::{Format, SimulateArgs};
use crate::engines::{Bounds, Outcome};
use crate::load::load;
use crate::run::{usage_error, EXIT_FAILED, EXIT_OK};

/// splitmix64 (Steele, Lea, Flood 2014): small, fast, and the same sequence
/// on every platform.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The generator of walk `run` under `seed`.
pub fn walk_rng(seed: u64, run: u64) -> SplitMix64 {
    let mut mix = SplitMix64::new(seed ^ run.wrapping_mul(0xD1B5_4A32_D192_ED03));
    SplitMix64::new(mix.next_u64())
}

/// What the walks found, per offered property: (run index, path).
pub struct Found {
    pub discoveries: Vec<Option<(u64, Vec<Action>)>>,
    pub steps: u64,
    pub unique: u64,
    pub max_depth: u64,
}

/// Runs walks `runs` of at most `depth` steps.
pub fn walks(model: &KlpModel, seed: u64, runs: impl Iterator<Item = u64>, depth: u64) -> Found {
    let sc = &*model.sc;
    let offered: Vec<_> = PROPERTIES
        .iter()
        .filter(|p| p.kind != Kind::Eventually)
        .collect();
    let mut found: Vec<Option<(u64, Vec<Action>)>> = vec![None; offered.len()];
    let mut seen: HashSet<State> = HashSet::new();
    let (mut steps, mut max_depth) = (0u64, 0u64);
    let mut actions = Vec::new();
    for run in runs {
        let mut rng = walk_rng(seed, run);
        let mut state = model.boot();
        let mut path: Vec<Action> = Vec::new();
        let mut walked = 0u64;
        loop {
            if seen.len() < 1_000_000 {
                seen.insert(state.clone());
            }
            for (i, p) in offered.iter().enumerate() {
                if found[i].is_none() {
                    let holds = (p.check)(sc, &state);
                    let hit = if p.kind == Kind::Always {
                        !holds
                    } else {
                        holds
                    };
                    if hit {
                        found[i] = Some((run, path.clone()));
                    }
                }
            }
            if walked >= depth {
                break;
            }
            walked += 1;
            actions.clear();
            model.actions(&state, &mut actions);
            if actions.is_empty() {
                break;
            }
            let a = actions.swap_remove(rng.below(actions.len()));
            let Some(next) = model.next_state(&state, a.clone()) else {
                break;
            };
            steps += 1;
            // A step that changes nothing (a failing rmmod or sysfs write)
            // is walked but not kept: the path stays a path of changes, as
            // the exhaustive engines' paths are.
            if next != state {
                state = next;
                path.push(a);
            }
            max_depth = max_depth.max(path.len() as u64);
        }
    }
    Found {
        discoveries: found,
        steps,
        unique: seen.len() as u64,
        max_depth,
    }
}

pub fn simulate(args: &SimulateArgs) -> i32 {
    if args.runs == 0 {
        return usage_error("--runs must be at least 1");
    }
    let l = match load(&args.spec) {
        Ok(l) => l,
        Err(e) => return usage_error(e),
    };
    let spec_text = std::fs::read_to_string(&args.spec).unwrap_or_default();
    let model = KlpModel::new(l.scenario);
    let start = Instant::now();
    let found = match args.run {
        Some(i) => walks(&model, args.seed, std::iter::once(i), args.depth),
        None => walks(&model, args.seed, 0..args.runs, args.depth),
    };
    let seconds = start.elapsed().as_secs_f64();
    let how = match args.run {
        Some(i) => format!("walk {i} of seed {}", args.seed),
        None => format!("{} random walks (seed {})", args.runs, args.seed),
    };
    let outcome = Outcome {
        complete: false,
        incomplete_reason: Some(format!("simulation: {how}, depth {}", args.depth)),
        states: found.steps,
        unique_states: found.unique,
        max_depth: found.max_depth,
        seconds,
        discoveries: found
            .discoveries
            .iter()
            .map(|d| d.as_ref().map(|(_, p)| p.clone()))
            .collect(),
    };
    // Random walks say nothing about cycles: no liveness verdicts here.
    let bounds = Bounds {
        threads: 1,
        no_liveness: true,
        ..Bounds::default()
    };
    let mut report = crate::check::report(&l.path, &model, "simulate", &bounds, &outcome);
    report.expected_unique_states = None;
    let mut out = std::io::stdout().lock();
    let text = match args.format {
        Format::Json => {
            klp_reports::escape::json_line(
                &serde_json::to_string(&report).expect("report serializes"),
            ) + "\n"
        }
        Format::Text => crate::run::neutral(&klp_reports::text::render(&report)),
    };
    let _ = out.write_all(text.as_bytes());
    let offered: Vec<_> = PROPERTIES
        .iter()
        .filter(|p| p.kind != Kind::Eventually)
        .collect();
    for (i, d) in found.discoveries.iter().enumerate() {
        if let (Some((run, _)), Kind::Always) = (d, offered[i].kind) {
            say!(
                "{}",
                crate::run::neutral(&format!(
                    "klpcheck: {} violated in walk {run}; reproduce with:\n  klpcheck simulate {} --seed {} --run {run} --depth {}\n",
                    offered[i].id,
                    args.spec.display(),
                    args.seed,
                    args.depth
                ))
            );
        }
    }
    if let Some(dir) = &args.out {
        let spec_json = serde_json::from_str(&spec_text).unwrap_or(serde_json::Value::Null);
        let written = std::fs::create_dir_all(dir)
            .and_then(|_| crate::out::write_traces(dir, &report, &model, &spec_json))
            .and_then(|_| crate::out::write_report_json(dir, std::slice::from_ref(&report)));
        if let Err(e) = written {
            return usage_error(format!("--out {}: {e}", dir.display()));
        }
    }
    if report.ok {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs of splitmix64 seeded with 0 (Vigna's reference code).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn walks_are_determined_by_seed_and_run() {
        let a: Vec<u64> = (0..4).map(|_| walk_rng(7, 3).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(walk_rng(7, 3).next_u64(), walk_rng(7, 4).next_u64());
    }
}
