//! Native engine against stateright's BFS and DFS checkers, at 1 and 2
//! threads, on a stand-in model with more than a million unique states
//! (two-phase commit with 8 resource managers, state packed in a `u64`:
//! 1,745,408 unique states), measured as unique states per
//! second. The native table is sized for the known count
//! ([`NativeOptions::memory_for_states`]: 14.4 bytes per state here, at a
//! final load of 0.83).
//!
//! Two ways to run it:
//! - `cargo bench -p klp-checker --bench engine` runs criterion (10 samples
//!   per engine; the stateright runs take several seconds each) and prints
//!   throughput in unique states per second (`thrpt`, elements/s).
//! - `ENGINE_BENCH_TABLE=1 cargo bench -p klp-checker --bench engine` runs
//!   each engine a few times (`ENGINE_BENCH_RUNS`, default 3), keeps the
//!   best, and prints a table with the ratios asked for by the native
//!   engine's issue.
//!
//! `ENGINE_BENCH_ONLY=native` (or `stateright-bfs`, `stateright-dfs`)
//! restricts the table to one engine, for profiling, and
//! `ENGINE_BENCH_EXPECTED=<unique states>` skips the counting run (for
//! peak-memory measurements with `/usr/bin/time -v`).
//! `ENGINE_BENCH_RMS` changes the number of resource managers (default 8)
//! and `ENGINE_BENCH_MODEL=vec` switches to the `Vec`/`BTreeSet` layout of
//! stateright's own example, where model cost dominates.

#[allow(dead_code)]
#[path = "../tests/engine_common/mod.rs"]
mod engine_common;

use std::hash::Hash;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use engine_common::never;
use engine_common::two_phase::TwoPhase;
use engine_common::two_phase_packed::TwoPhasePacked;
use klp_checker::engine::{check, NativeOptions, StopReason};
use stateright::{Checker, Model};

#[derive(Clone, Copy, Debug)]
enum Engine {
    Native,
    StaterightBfs,
    StaterightDfs,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Native => "native",
            Engine::StaterightBfs => "stateright-bfs",
            Engine::StaterightDfs => "stateright-dfs",
        }
    }
}

const ENGINES: [Engine; 3] = [Engine::Native, Engine::StaterightBfs, Engine::StaterightDfs];

/// Runs one engine to completion and returns the unique state count.
/// `expected` sizes the native table (0: the default budget).
fn run<M>(model: &M, engine: Engine, threads: usize, expected: u64) -> u64
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Hash + Send + Sync + Clone + PartialEq + std::fmt::Debug + 'static,
    M::Action: Clone + PartialEq + std::fmt::Debug,
{
    match engine {
        Engine::Native => {
            let opts = NativeOptions {
                threads,
                symmetry: false,
                max_states: None,
                timeout: None,
                memory_bytes: (expected > 0).then(|| table_bytes(expected)),
                ..NativeOptions::default()
            };
            let out = check(model, &opts, None);
            assert_eq!(out.stop, StopReason::Complete);
            out.unique_states
        }
        Engine::StaterightBfs => {
            let c = model
                .clone()
                .checker()
                .threads(threads)
                .finish_when(never())
                .spawn_bfs()
                .join();
            c.unique_state_count() as u64
        }
        Engine::StaterightDfs => {
            let c = model
                .clone()
                .checker()
                .threads(threads)
                .finish_when(never())
                .spawn_dfs()
                .join();
            c.unique_state_count() as u64
        }
    }
}

/// The table budget for a known state count: the smallest power-of-two
/// table that holds the count plus `ENGINE_BENCH_SLACK` percent (default
/// 0) under the 0.9 load limit.
fn table_bytes(states: u64) -> usize {
    let slack: u64 = std::env::var("ENGINE_BENCH_SLACK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    NativeOptions::memory_for_states(states + states * slack / 100)
}

fn rms() -> usize {
    std::env::var("ENGINE_BENCH_RMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

fn bench<M>(c: &mut Criterion, label: &str, model: M)
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Hash + Send + Sync + Clone + PartialEq + std::fmt::Debug + 'static,
    M::Action: Clone + PartialEq + std::fmt::Debug,
{
    let unique = run(&model, Engine::Native, 2, 0);
    let mut group = c.benchmark_group(label);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(100));
    group.measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(unique));
    for engine in ENGINES {
        for threads in [1, 2] {
            group.bench_with_input(
                BenchmarkId::new(engine.name(), format!("{threads}t")),
                &threads,
                |b, &threads| {
                    b.iter(|| assert_eq!(run(&model, engine, threads, unique), unique));
                },
            );
        }
    }
    group.finish();
}

/// Best-of-N wall time of each engine and thread count, printed as a table
/// of unique states per second and the ratios.
fn table<M>(label: &str, model: M)
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Hash + Send + Sync + Clone + PartialEq + std::fmt::Debug + 'static,
    M::Action: Clone + PartialEq + std::fmt::Debug,
{
    let runs: usize = std::env::var("ENGINE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // The count is needed to size the native table; pass it in to keep the
    // counting run's default-size table out of peak-memory measurements.
    let unique = std::env::var("ENGINE_BENCH_EXPECTED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| run(&model, Engine::Native, 2, 0));
    println!(
        "{label}: {unique} unique states; native table {} bytes ({:.1} bytes/state); best of {runs}",
        table_bytes(unique),
        table_bytes(unique) as f64 / unique as f64
    );
    let only = std::env::var("ENGINE_BENCH_ONLY").ok();
    let mut rate = std::collections::HashMap::new();
    for engine in ENGINES {
        if only.as_deref().is_some_and(|o| o != engine.name()) {
            continue;
        }
        for threads in [1usize, 2] {
            let best = (0..runs)
                .map(|_| {
                    let t = Instant::now();
                    assert_eq!(run(&model, engine, threads, unique), unique);
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min);
            let per_s = unique as f64 / best;
            rate.insert((engine.name(), threads), per_s);
            println!(
                "  {:<15} {threads} thread(s): {best:>8.3} s  {:>7.2} M unique states/s",
                engine.name(),
                per_s / 1e6
            );
        }
    }
    if only.is_some() {
        return;
    }
    let r = |e: &str, t: usize| rate[&(e, t)];
    println!(
        "  native 2t / stateright-bfs 2t = {:.2}x; native 2t / stateright-dfs 2t = {:.2}x; \
         native 2t / native 1t = {:.2}x; native 1t / stateright-dfs 1t = {:.2}x",
        r("native", 2) / r("stateright-bfs", 2),
        r("native", 2) / r("stateright-dfs", 2),
        r("native", 2) / r("native", 1),
        r("native", 1) / r("stateright-dfs", 1),
    );
}

fn main() {
    let rms = rms();
    let vec_layout = std::env::var("ENGINE_BENCH_MODEL").is_ok_and(|m| m == "vec");
    if std::env::var_os("ENGINE_BENCH_TABLE").is_some() {
        if vec_layout {
            table(&format!("2pc-vec-{rms}"), TwoPhase::new(rms));
        } else {
            table(&format!("2pc-packed-{rms}"), TwoPhasePacked::new(rms));
        }
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    if vec_layout {
        bench(&mut c, &format!("2pc-vec-{rms}"), TwoPhase::new(rms));
    } else {
        bench(
            &mut c,
            &format!("2pc-packed-{rms}"),
            TwoPhasePacked::new(rms),
        );
    }
    c.final_summary();
}
