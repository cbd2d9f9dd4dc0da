//! The checker on the finer model's bench scenario
//! (`specs/bench/bench-replace-3tasks.json`: 291,589 unique states with
//! symmetry, 1,573,206 without), measured by criterion in unique states per
//! second (`thrpt`, elements/s), in one run:
//! - `native-symmetry/{1,2}`: the native engine's safety search with
//!   symmetry reduction (what `check --no-liveness --no-coverage` runs);
//! - `default-check/2`: the default `check` at 2 threads, safety, action
//!   coverage and liveness in one search (liveness on the symmetry
//!   quotient);
//! - `stateright-dfs-symmetry/2`: stateright's DFS with the same canonical
//!   form, the reference for the symmetric count.
//!
//! `cargo bench -p klp-checker --bench livepatch` (about two minutes on 2
//! cores). The search without symmetry against stateright's BFS and DFS is
//! `checker/benches/compare-engines.sh`, with peak memory.

use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput};
use klp_checker::engines::{run, run_all, Bounds, EngineKind, Passes};
use klp_checker::load::load;
use klp_model::KlpModel;

fn model() -> KlpModel {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/bench/bench-replace-3tasks.json");
    KlpModel::new(load(&path).expect("the bench scenario loads").scenario)
}

fn bounds(threads: usize) -> Bounds {
    Bounds {
        threads,
        symmetry: true,
        ..Bounds::default()
    }
}

fn main() {
    let model = model();
    let unique = run(&model, EngineKind::Native, &bounds(2)).unique_states;
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("bench-replace-3tasks");
    group.sample_size(10);
    group.throughput(Throughput::Elements(unique));
    for threads in [1, 2] {
        group.bench_with_input(
            BenchmarkId::new("native-symmetry", threads),
            &threads,
            |b, &t| {
                b.iter(|| {
                    let o = run(&model, EngineKind::Native, &bounds(t));
                    assert_eq!(o.unique_states, unique);
                })
            },
        );
    }
    group.bench_with_input(BenchmarkId::new("default-check", 2), &2, |b, &t| {
        b.iter(|| {
            let passes = Passes {
                coverage: true,
                liveness: true,
            };
            let all = run_all(&model, EngineKind::Native, &bounds(t), passes, &mut |_| {});
            assert_eq!(all.outcome.unique_states, unique);
            assert!(all
                .liveness
                .is_some_and(|l| l.iter().all(|r| r.lasso.is_none() && r.unknown.is_none())));
        })
    });
    group.bench_with_input(
        BenchmarkId::new("stateright-dfs-symmetry", 2),
        &2,
        |b, &t| {
            b.iter(|| {
                let o = run(&model, EngineKind::StaterightDfs, &bounds(t));
                assert_eq!(o.unique_states, unique);
            })
        },
    );
    group.finish();
    c.final_summary();
}
