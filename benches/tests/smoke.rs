//! The harness itself: every contender serves small versions of the
//! workloads, and the seeded plans are what the tables claim. No timing.

use core::alloc::Layout;

use flight_mem_benches::plan::{self, Rng, SEED};
use flight_mem_benches::workload;
use flight_mem_benches::{
    Reset, Subject, arena_contenders, general_contenders, linear_contenders, pool_contenders,
};

fn linear<S: Reset>() {
    let mut subject = S::create(1 << 20);
    assert_eq!(workload::linear(&mut subject, 1000), 1000, "{}", S::NAME);
    // After the reset the whole arena is available again.
    assert_eq!(workload::linear(&mut subject, 1000), 1000, "{}", S::NAME);
}

#[test]
fn linear_contenders_serve_and_reset() {
    linear_contenders!(linear());
}

fn pool<S: Subject>(churn: &plan::Churn) {
    let mut subject = S::create(plan::POOL_ARENA);
    assert_eq!(workload::pool_lifo(&mut subject, 1000), 1000, "{}", S::NAME);
    let mut live = Vec::new();
    assert!(
        workload::fill(&mut subject, churn, &mut live),
        "{}",
        S::NAME
    );
    assert_eq!(
        workload::churn_steps(&mut subject, &churn.steps, &mut live),
        0,
        "{}",
        S::NAME
    );
    assert_eq!(live.len(), plan::POOL_CAPACITY / 2);
    workload::drain(&mut subject, &mut live);
    // Every block came back: at least the live set fits again at once (the
    // general allocators spend part of the pool-sized arena on headers).
    let fits = workload::fill_count(&mut subject, 64, plan::POOL_CAPACITY);
    assert!(fits >= plan::POOL_CAPACITY / 2, "{}: {fits}", S::NAME);
}

/// The heapless pool is a process-wide singleton, so everything that uses
/// it runs in this one test.
#[test]
fn pool_contenders_serve_the_pool_workloads() {
    let churn = plan::pool_churn(SEED, 2000);
    pool_contenders!(pool(&churn));

    use flight_mem_benches::limits::PlainFreeList;
    use flight_mem_benches::peers::HeaplessPool;
    let mut list = PlainFreeList::create(plan::POOL_ARENA);
    assert_eq!(
        workload::fill_count(&mut list, 64, usize::MAX),
        plan::POOL_CAPACITY
    );
    let mut heapless = HeaplessPool::create(plan::POOL_ARENA);
    assert_eq!(
        workload::fill_count(&mut heapless, 64, usize::MAX),
        plan::POOL_CAPACITY
    );
}

fn general<S: Subject>(churn: &plan::Churn) {
    let mut subject = S::create(plan::GENERAL_ARENA);
    let mut live = Vec::new();
    assert!(
        workload::fill(&mut subject, churn, &mut live),
        "{}",
        S::NAME
    );
    assert_eq!(
        workload::churn_steps(&mut subject, &churn.steps, &mut live),
        0,
        "{}",
        S::NAME
    );
    workload::drain(&mut subject, &mut live);
}

#[test]
fn general_contenders_serve_the_churn() {
    let churn = plan::general_churn(SEED, plan::GENERAL_LIVE + 2000);
    assert_eq!(churn.initial.len(), plan::GENERAL_LIVE);
    assert_eq!(churn.step_ops(), 2000);
    general_contenders!(general(&churn));
}

fn arena<S: Subject>(ops: &[plan::FragOp], layouts: &[Layout], order: &[usize]) {
    let mut subject = S::create(plan::FRAGMENTATION_ARENA);
    let found = workload::fragmentation(&mut subject, ops);
    assert!(
        found.live_bytes <= plan::FRAGMENTATION_ARENA
            && found.live_bytes > plan::FRAGMENTATION_ARENA / 2,
        "{}: {found:?}",
        S::NAME
    );
    // Everything was freed: the same run gives the same answer again.
    assert_eq!(
        workload::fragmentation(&mut subject, ops),
        found,
        "{}",
        S::NAME
    );
    let mut subject = S::create(plan::BUDDY_ARENA);
    assert_eq!(
        workload::buddy(&mut subject, layouts, order),
        0,
        "{}",
        S::NAME
    );
}

#[test]
fn arena_contenders_run_to_the_first_failure_and_serve_the_buddy_workload() {
    let ops = plan::fragmentation(SEED);
    let (layouts, order) = plan::buddy(SEED);
    arena_contenders!(arena(&ops, &layouts, &order));
}

#[test]
fn plans_are_seeded_and_in_range() {
    assert_eq!(
        plan::general_churn(7, 3000).steps.len(),
        plan::general_churn(7, 3000).steps.len()
    );
    let mut rng = Rng::new(SEED);
    let sizes: Vec<usize> = (0..10_000).map(|_| rng.log_uniform(16, 4096)).collect();
    assert!(sizes.iter().all(|&s| (16..=4096).contains(&s)));
    // Log-uniform: about half the sizes fall below the geometric midpoint (256).
    let small = sizes.iter().filter(|&&s| s < 256).count();
    assert!((4000..6000).contains(&small), "{small}");
    let (layouts, order) = plan::buddy(SEED);
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..layouts.len()).collect::<Vec<_>>());
    assert_eq!(plan::buddy(SEED).0, layouts);
}
