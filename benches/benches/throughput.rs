//! Criterion view of workloads 1, 2a, 2b, 3 and 5: one criterion iteration
//! is one allocation (1), one alloc/free pair (2a, 2b), one operation (3) or
//! one whole run (5), so the reported time is directly ns per op.
//!
//! Measurement times are short so the whole suite stays within minutes on
//! two cores; `benches/report.rs` prints the tables of `BENCHMARKS.md`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use flight_mem_benches::plan::{self, SEED};
use flight_mem_benches::workload;
use flight_mem_benches::{
    Reset, Subject, arena_contenders, general_contenders, lifo_contenders, linear_contenders,
    pool_contenders,
};

type Group<'a> = BenchmarkGroup<'a, WallTime>;

fn linear<S: Reset>(group: &mut Group<'_>) {
    let mut subject = S::create(plan::LINEAR_ARENA);
    group.bench_function(S::NAME, |b| {
        b.iter_custom(|iters| {
            let mut remaining = iters as usize;
            let mut elapsed = Duration::ZERO;
            while remaining > 0 {
                let chunk = remaining.min(plan::LINEAR_ALLOCATIONS);
                let start = Instant::now();
                black_box(workload::linear(&mut subject, chunk));
                elapsed += start.elapsed();
                remaining -= chunk;
            }
            elapsed
        });
    });
}

fn pool_lifo<S: Subject>(group: &mut Group<'_>) {
    let mut subject = S::create(plan::POOL_ARENA);
    group.bench_function(S::NAME, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            black_box(workload::pool_lifo(&mut subject, iters as usize));
            start.elapsed()
        });
    });
}

/// One criterion iteration is one step (`per_pair`) or half a step.
fn churn<S: Subject>(group: &mut Group<'_>, arena: usize, churn: &plan::Churn, per_pair: bool) {
    let mut subject = S::create(arena);
    let mut live = Vec::with_capacity(churn.initial.len() + 1);
    group.bench_function(S::NAME, |b| {
        b.iter_custom(|iters| {
            let steps = if per_pair { iters } else { iters.div_ceil(2) } as usize;
            workload::timed_churn(&mut subject, churn, &mut live, steps)
        });
    });
}

fn pool_churn<S: Subject>(group: &mut Group<'_>, plan: &plan::Churn) {
    churn::<S>(group, plan::POOL_ARENA, plan, true);
}

fn general<S: Subject>(group: &mut Group<'_>, plan: &plan::Churn) {
    churn::<S>(group, plan::GENERAL_ARENA, plan, false);
}

fn buddy<S: Subject>(group: &mut Group<'_>, layouts: &[core::alloc::Layout], order: &[usize]) {
    group.bench_function(S::NAME, |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let mut subject = S::create(plan::BUDDY_ARENA);
                let start = Instant::now();
                black_box(workload::buddy(&mut subject, layouts, order));
                elapsed += start.elapsed();
            }
            elapsed
        });
    });
}

fn short(group: &mut Group<'_>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(800));
}

fn workloads(c: &mut Criterion) {
    let mut group = c.benchmark_group("w1_linear");
    short(&mut group);
    linear_contenders!(linear(&mut group));
    group.finish();

    let mut group = c.benchmark_group("w2a_pool_lifo");
    short(&mut group);
    lifo_contenders!(pool_lifo(&mut group));
    group.finish();

    let plan = plan::pool_churn(SEED, 200_000);
    let mut group = c.benchmark_group("w2b_pool_churn");
    short(&mut group);
    pool_contenders!(pool_churn(&mut group, &plan));
    group.finish();

    let plan = plan::general_churn(SEED, 200_000);
    let mut group = c.benchmark_group("w3_general");
    short(&mut group);
    general_contenders!(general(&mut group, &plan));
    group.finish();

    let (layouts, order) = plan::buddy(SEED);
    let mut group = c.benchmark_group("w5_buddy");
    short(&mut group);
    arena_contenders!(buddy(&mut group, &layouts, &order));
    group.finish();
}

criterion_group!(benches, workloads);
criterion_main!(benches);
