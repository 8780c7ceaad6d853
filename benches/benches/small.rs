//! Workload 3 (general churn, 16..4096 B) with flight-mem's small-object
//! front end, shared and through a local handle, side by side with the TLSF
//! it is built on, rlsf and mimalloc, in one run. One criterion iteration is
//! one operation (an allocation or a free), so the time is ns per op.
//!
//! `cargo bench -p flight-mem-benches --bench small`

use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use flight_mem_benches::plan::{self, SEED};
use flight_mem_benches::{Subject, for_each, workload};

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// As `throughput.rs`'s workload 3: each criterion iteration is half a
/// churn step (one free, one allocation per step).
fn general<S: Subject>(group: &mut Group<'_>, churn: &plan::Churn) {
    let mut subject = S::create(plan::GENERAL_ARENA);
    let mut live = Vec::with_capacity(churn.initial.len() + 1);
    group.bench_function(S::NAME, |b| {
        b.iter_custom(|iters| {
            let steps = iters.div_ceil(2) as usize;
            workload::timed_churn(&mut subject, churn, &mut live, steps)
        });
    });
}

fn small(c: &mut Criterion) {
    let churn = plan::general_churn(SEED, 200_000);
    let mut group = c.benchmark_group("w3_small");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for_each!(general(&mut group, &churn) for [
        flight_mem_benches::peers::Mimalloc,
        flight_mem_benches::peers::Rlsf,
        flight_mem_benches::subjects::FmTlsf,
        flight_mem_benches::small::FmSmallShared,
        flight_mem_benches::small::FmSmallLocal,
    ]);
    group.finish();
}

criterion_group!(benches, small);
criterion_main!(benches);
