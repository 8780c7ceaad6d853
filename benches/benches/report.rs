//! Prints the tables of `BENCHMARKS.md`: per workload the median and spread
//! of repeated runs, the worst single operations of workload 3, the usable
//! share of the arena (workload 4) and the total time of workload 5.
//!
//! Run with `cargo bench -p flight-mem-benches --bench report`; pass
//! workload names (`atomics w1 w2a w2b w3 w3-latency w1-latency w2b-latency
//! w4 w5`) to run only some; `w3-ab` (only when named) alternates Tlsf and
//! rlsf with and without a lock over many rounds and prints per-round ratios
//! (`w2b-ab`, also only when named, does so for heapless, `Pool<T>` and
//! `BlockPool` on workload 2b);
//! `w3-latency-ab` (only when named) interleaves their latency passes.
//! Timing is `std::time::Instant` (the vDSO clock), measured around whole
//! runs for throughput and around every single operation for the latency
//! table, whose own cost is printed as the `timer` row.

use std::hint::black_box;
use std::time::{Duration, Instant};

use flight_mem_benches::plan::{self, SEED};
use flight_mem_benches::workload::{self, Utilisation};
use flight_mem_benches::{
    Reset, Subject, arena_contenders, general_contenders, lifo_contenders, linear_contenders,
    pool_contenders,
};

/// Timed repetitions per throughput cell.
const REPEATS: usize = 11;

/// The median, minimum and maximum of some samples.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(samples: &mut [f64]) -> Self {
        samples.sort_by(f64::total_cmp);
        Self {
            median: samples[samples.len() / 2],
            min: samples[0],
            max: samples[samples.len() - 1],
        }
    }

    fn row(&self, name: &str, unit: &str, extra: &str) {
        println!(
            "| {name} | {:.2} {unit} | {:.2} – {:.2} | {extra} |",
            self.median, self.min, self.max
        );
    }
}

fn per_op(elapsed: Duration, ops: usize) -> f64 {
    elapsed.as_nanos() as f64 / ops as f64
}

fn throughput_header(title: &str, unit: &str) {
    println!("\n### {title}\n");
    println!("| allocator | median {unit} | min – max ({REPEATS} runs) | notes |");
    println!("|---|---:|---:|---|");
}

fn linear<S: Reset>() {
    let mut subject = S::create(plan::LINEAR_ARENA);
    assert_eq!(
        workload::linear(&mut subject, plan::LINEAR_ALLOCATIONS),
        plan::LINEAR_ALLOCATIONS,
        "{} cannot hold workload 1",
        S::NAME
    );
    let mut samples: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            black_box(workload::linear(&mut subject, plan::LINEAR_ALLOCATIONS));
            per_op(start.elapsed(), plan::LINEAR_ALLOCATIONS)
        })
        .collect();
    Spread::of(&mut samples).row(S::NAME, "ns", "");
}

fn pool_lifo<S: Subject>() {
    let mut subject = S::create(plan::POOL_ARENA);
    black_box(workload::pool_lifo(
        &mut subject,
        plan::POOL_LIFO_PAIRS / 10,
    ));
    let mut samples: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            black_box(workload::pool_lifo(&mut subject, plan::POOL_LIFO_PAIRS));
            per_op(start.elapsed(), plan::POOL_LIFO_PAIRS)
        })
        .collect();
    Spread::of(&mut samples).row(S::NAME, "ns", "");
}

/// Times the steps of `churn` per step (`per_pair`) or per operation.
fn churn<S: Subject>(arena: usize, churn: &plan::Churn, per_pair: bool, repeats: usize) {
    let mut subject = S::create(arena);
    let mut live = Vec::with_capacity(churn.initial.len() + 1);
    let mut refused = 0;
    let mut samples: Vec<f64> = (0..repeats)
        .map(|_| {
            assert!(
                workload::fill(&mut subject, churn, &mut live),
                "{} cannot hold the live set",
                S::NAME
            );
            let start = Instant::now();
            refused += workload::churn_steps(&mut subject, &churn.steps, &mut live);
            let elapsed = start.elapsed();
            workload::drain(&mut subject, &mut live);
            let ops = if per_pair {
                churn.steps.len()
            } else {
                churn.step_ops()
            };
            per_op(elapsed, ops)
        })
        .collect();
    let note = if refused > 0 {
        format!("{refused} allocations refused")
    } else {
        String::new()
    };
    let unit = if per_pair { "ns/pair" } else { "ns/op" };
    Spread::of(&mut samples).row(S::NAME, unit, &note);
}

fn pool_churn<S: Subject>(plan: &plan::Churn) {
    churn::<S>(plan::POOL_ARENA, plan, true, REPEATS);
}

fn general<S: Subject>(plan: &plan::Churn) {
    churn::<S>(plan::GENERAL_ARENA, plan, false, 5);
}

/// Rounds of `w3-ab`.
const AB_ROUNDS: usize = 31;

/// One contender of `w3-ab`: a subject kept across rounds and its live set.
struct AbSide<S: Subject> {
    subject: S,
    live: Vec<S::Block>,
}

impl<S: Subject> AbSide<S> {
    fn new(plan: &plan::Churn) -> Self {
        Self::over(plan::GENERAL_ARENA, plan)
    }

    fn over(arena: usize, plan: &plan::Churn) -> Self {
        Self {
            subject: S::create(arena),
            live: Vec::with_capacity(plan.initial.len() + 1),
        }
    }

    /// One timed churn of workload 3, as `general` times it: ns per op.
    fn run(&mut self, plan: &plan::Churn) -> f64 {
        self.run_per(plan, plan.step_ops())
    }

    /// One timed churn of `plan`: ns per `units` (ops or pairs).
    fn run_per(&mut self, plan: &plan::Churn, units: usize) -> f64 {
        assert!(workload::fill(&mut self.subject, plan, &mut self.live));
        let start = Instant::now();
        let refused = workload::churn_steps(&mut self.subject, &plan.steps, &mut self.live);
        let elapsed = start.elapsed();
        workload::drain(&mut self.subject, &mut self.live);
        assert_eq!(refused, 0, "{} refused allocations", S::NAME);
        per_op(elapsed, units)
    }
}

/// Workload 2b for heapless' pool, `Pool<T>` and `BlockPool`, alternated
/// round by round as `general_ab` does (ns per pair; ratios per round).
fn pool_ab(plan: &plan::Churn) {
    use flight_mem_benches::peers::HeaplessPool;
    use flight_mem_benches::subjects::{FmBlockPool, FmPool};
    let mut heapless = AbSide::<HeaplessPool>::over(plan::POOL_ARENA, plan);
    let mut typed = AbSide::<FmPool>::over(plan::POOL_ARENA, plan);
    let mut block = AbSide::<FmBlockPool>::over(plan::POOL_ARENA, plan);
    let pairs = plan.steps.len();
    heapless.run_per(plan, pairs);
    typed.run_per(plan, pairs);
    block.run_per(plan, pairs);
    let mut ratios = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..AB_ROUNDS {
        let mut t = [0.0; 3];
        for k in 0..3 {
            match (round + k) % 3 {
                0 => t[0] = heapless.run_per(plan, pairs),
                1 => t[1] = typed.run_per(plan, pairs),
                _ => t[2] = block.run_per(plan, pairs),
            }
        }
        ratios[0].push(t[2] / t[0]);
        ratios[1].push(t[1] / t[0]);
        ratios[2].push(t[2] / t[1]);
    }
    quartiles(
        &[
            "BlockPool / heapless",
            "Pool<T> / heapless",
            "BlockPool / Pool<T>",
        ],
        ratios.iter_mut(),
    );
}

/// The quartiles, minimum and maximum of each named series of per-round
/// figures, as a table.
fn quartiles<'a>(names: &[&str], series: impl Iterator<Item = &'a mut Vec<f64>>) {
    println!("| measure | p25 | median | p75 | min | max |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, samples) in names.iter().zip(series) {
        samples.sort_by(f64::total_cmp);
        let q = |p: usize| samples[(samples.len() - 1) * p / 100];
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            q(25),
            q(50),
            q(75),
            q(0),
            q(100)
        );
    }
}

/// Workload 3 for flight-mem's Tlsf and rlsf with and without a lock, the
/// three run one after another in each round (the order rotated), so that
/// a loaded machine slows all three alike within a round: the ratios are
/// per round, and their spread is the result on a shared machine.
fn general_ab(plan: &plan::Churn) {
    use flight_mem_benches::peers::{Rlsf, RlsfNoLock};
    use flight_mem_benches::subjects::FmTlsf;
    let mut tlsf = AbSide::<FmTlsf>::new(plan);
    let mut locked = AbSide::<Rlsf>::new(plan);
    let mut bare = AbSide::<RlsfNoLock>::new(plan);
    // One untimed round: page faults and first-use costs out of the samples.
    tlsf.run(plan);
    locked.run(plan);
    bare.run(plan);
    let mut ns = [Vec::new(), Vec::new(), Vec::new()];
    let mut ratios = [Vec::new(), Vec::new()];
    println!(
        "| round | Tlsf | rlsf (spin lock) | rlsf (no lock) | Tlsf / rlsf locked | Tlsf / rlsf no lock |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for round in 0..AB_ROUNDS {
        let mut t = [0.0; 3];
        for k in 0..3 {
            match (round + k) % 3 {
                0 => t[0] = tlsf.run(plan),
                1 => t[1] = locked.run(plan),
                _ => t[2] = bare.run(plan),
            }
        }
        println!(
            "| {round} | {:.2} | {:.2} | {:.2} | {:.3} | {:.3} |",
            t[0],
            t[1],
            t[2],
            t[0] / t[1],
            t[0] / t[2]
        );
        for (samples, value) in ns.iter_mut().zip(t) {
            samples.push(value);
        }
        ratios[0].push(t[0] / t[1]);
        ratios[1].push(t[0] / t[2]);
    }
    println!();
    quartiles(
        &[
            "Tlsf ns/op",
            "rlsf (spin lock) ns/op",
            "rlsf (no lock) ns/op",
            "Tlsf / rlsf (spin lock)",
            "Tlsf / rlsf (no lock)",
        ],
        ns.iter_mut().chain(ratios.iter_mut()),
    );
}

/// Percentile `p` (0..=100) of sorted samples.
fn percentile(sorted: &[u32], p: f64) -> u32 {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

/// Latency passes per contender: each operation's time is the minimum over
/// the passes, which removes preemptions (they strike a different operation
/// each pass) but keeps every slow path the allocator itself takes (the
/// seeded operation sequence is the same in every pass).
const LATENCY_PASSES: usize = 3;

/// Per-operation times of one pass, and which of them were allocations.
struct Pass {
    nanos: Vec<u32>,
    is_alloc: Vec<bool>,
}

fn latency_row(name: &str, passes: &[Pass]) {
    let first = &passes[0];
    let mut raw = first.nanos.clone();
    raw.sort_unstable();
    let mut all: Vec<u32> = (0..first.nanos.len())
        .map(|i| passes.iter().map(|p| p.nanos[i]).min().unwrap_or(0))
        .collect();
    let (slowest, _) = all
        .iter()
        .enumerate()
        .max_by_key(|&(_, &ns)| ns)
        .unwrap_or((0, &0));
    let mut allocs: Vec<u32> = all
        .iter()
        .zip(&first.is_alloc)
        .filter_map(|(&ns, &alloc)| alloc.then_some(ns))
        .collect();
    all.sort_unstable();
    allocs.sort_unstable();
    println!(
        "| {name} | {} | {} | {} | {} | {} (op #{slowest}) | {} | {} |",
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        percentile(&all, 99.99),
        percentile(&allocs, 99.99),
        all[all.len() - 1],
        percentile(&raw, 99.99),
        raw[raw.len() - 1],
    );
}

fn nanos(start: Instant) -> u32 {
    start.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32
}

/// A churn with a clock read around every operation (fill included).
fn latency_pass<S: Subject>(arena: usize, plan: &plan::Churn) -> Pass {
    let mut subject = S::create(arena);
    let mut live = Vec::with_capacity(plan.initial.len() + 1);
    let ops = plan.initial.len() + plan.step_ops();
    let mut pass = Pass {
        nanos: Vec::with_capacity(ops),
        is_alloc: Vec::with_capacity(ops),
    };
    for &layout in &plan.initial {
        let start = Instant::now();
        let block = subject.alloc(layout);
        pass.nanos.push(nanos(start));
        pass.is_alloc.push(true);
        live.push(block.expect("the live set fits"));
    }
    for step in &plan.steps {
        let victim = live.swap_remove(step.victim as usize % live.len());
        let start = Instant::now();
        // SAFETY: every block in `live` came from `subject` and is live.
        unsafe { subject.free(victim) };
        pass.nanos.push(nanos(start));
        pass.is_alloc.push(false);
        let start = Instant::now();
        let block = subject.alloc(step.layout);
        pass.nanos.push(nanos(start));
        pass.is_alloc.push(true);
        if let Some(block) = block {
            live.push(block);
        }
    }
    workload::drain(&mut subject, &mut live);
    pass
}

fn general_latency<S: Subject>(plan: &plan::Churn) {
    let passes: Vec<Pass> = (0..LATENCY_PASSES)
        .map(|_| latency_pass::<S>(plan::GENERAL_ARENA, plan))
        .collect();
    latency_row(S::NAME, &passes);
}

/// Passes per contender of `w3-latency-ab`.
const LATENCY_AB_PASSES: usize = 7;

/// Workload 3's single operations for Tlsf and rlsf with and without a
/// lock, their passes interleaved (Tlsf, rlsf, rlsf with no lock, repeated),
/// so a slow spell of a shared machine strikes all three; each operation's
/// time is its minimum over the passes, as in `w3-latency`.
fn general_latency_ab(plan: &plan::Churn) {
    use flight_mem_benches::peers::{Rlsf, RlsfNoLock};
    use flight_mem_benches::subjects::FmTlsf;
    let arena = plan::GENERAL_ARENA;
    let mut passes: [Vec<Pass>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..LATENCY_AB_PASSES {
        passes[0].push(latency_pass::<FmTlsf>(arena, plan));
        passes[1].push(latency_pass::<Rlsf>(arena, plan));
        passes[2].push(latency_pass::<RlsfNoLock>(arena, plan));
    }
    latency_row(FmTlsf::NAME, &passes[0]);
    latency_row(Rlsf::NAME, &passes[1]);
    latency_row(RlsfNoLock::NAME, &passes[2]);
}

fn pool_latency<S: Subject>(plan: &plan::Churn) {
    let passes: Vec<Pass> = (0..LATENCY_PASSES)
        .map(|_| latency_pass::<S>(plan::POOL_ARENA, plan))
        .collect();
    latency_row(S::NAME, &passes);
}

/// Workload 1 with a clock read around every allocation.
fn linear_latency<S: Reset>() {
    let mut subject = S::create(plan::LINEAR_ARENA);
    let passes: Vec<Pass> = (0..LATENCY_PASSES)
        .map(|_| {
            let nanos = (0..plan::LINEAR_ALLOCATIONS)
                .map(|_| {
                    let start = Instant::now();
                    let block = subject.alloc(plan::LINEAR_LAYOUT);
                    let ns = nanos(start);
                    black_box(block.expect("workload 1 fits"));
                    ns
                })
                .collect();
            subject.reset();
            Pass {
                nanos,
                is_alloc: vec![true; plan::LINEAR_ALLOCATIONS],
            }
        })
        .collect();
    latency_row(S::NAME, &passes);
}

fn latency_header(title: &str) {
    println!("\n### {title}\n");
    println!(
        "Per-operation minimum over {LATENCY_PASSES} identical seeded passes; the last two columns are one raw pass.\n"
    );
    println!(
        "| allocator | p50 op | p99 op | p99.99 op | p99.99 alloc | max op | raw p99.99 op | raw max op |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
}

fn timer_floor() {
    let passes: Vec<Pass> = (0..LATENCY_PASSES)
        .map(|_| {
            let nanos = (0..plan::GENERAL_OPS)
                .map(|_| {
                    let start = Instant::now();
                    black_box(());
                    nanos(start)
                })
                .collect();
            Pass {
                nanos,
                is_alloc: vec![true; plan::GENERAL_OPS],
            }
        })
        .collect();
    latency_row("timer (empty op)", &passes);
}

fn fragmentation<S: Subject>(plans: &[Vec<plan::FragOp>]) {
    let mut shares: Vec<f64> = plans
        .iter()
        .map(|ops| {
            let mut subject = S::create(plan::FRAGMENTATION_ARENA);
            let Utilisation { live_bytes, .. } = workload::fragmentation(&mut subject, ops);
            live_bytes as f64 * 100.0 / plan::FRAGMENTATION_ARENA as f64
        })
        .collect();
    let spread = Spread::of(&mut shares);
    let mut subject = S::create(plan::FRAGMENTATION_ARENA);
    let fits = workload::fill_count(&mut subject, 64, usize::MAX);
    println!(
        "| {} | {:.1} % | {:.1} % | {:.1} % | {:.1} B |",
        S::NAME,
        spread.median,
        spread.min,
        spread.max,
        plan::FRAGMENTATION_ARENA as f64 / fits as f64
    );
}

fn buddy<S: Subject>(layouts: &[core::alloc::Layout], order: &[usize]) {
    let mut refused = 0;
    let mut samples: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let mut subject = S::create(plan::BUDDY_ARENA);
            let start = Instant::now();
            refused = workload::buddy(&mut subject, layouts, order);
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let note = if refused > 0 {
        format!("{refused} of {} allocations refused", layouts.len())
    } else {
        String::new()
    };
    Spread::of(&mut samples).row(S::NAME, "µs", &note);
}

/// What one uncontended atomic read-modify-write costs on this machine: the
/// floor under every `Sync` allocator's hot path.
fn atomic_costs() {
    use std::sync::atomic::{AtomicU64, Ordering};
    const N: u64 = 2_000_000;
    let cell = AtomicU64::new(0);
    let row = |name: &str, op: &dyn Fn(u64)| {
        let mut samples: Vec<f64> = (0..REPEATS)
            .map(|_| {
                let start = Instant::now();
                for i in 0..N {
                    op(black_box(i));
                }
                per_op(start.elapsed(), N as usize)
            })
            .collect();
        Spread::of(&mut samples).row(name, "ns", "");
    };
    row("plain load + store", &|i| {
        let value = cell.load(Ordering::Relaxed);
        cell.store(value.wrapping_add(i), Ordering::Relaxed);
    });
    row("fetch_add", &|i| {
        cell.fetch_add(i, Ordering::Relaxed);
    });
    row("compare_exchange (succeeds)", &|i| {
        let value = cell.load(Ordering::Relaxed);
        let _ = cell.compare_exchange(value, i, Ordering::AcqRel, Ordering::Acquire);
    });
    row("fetch_max", &|i| {
        cell.fetch_max(i, Ordering::Relaxed);
    });
}

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);

    if run("atomics") {
        throughput_header(
            "Context — one uncontended atomic operation on this machine",
            "ns/op",
        );
        atomic_costs();
    }
    if run("w1") {
        throughput_header(
            "Workload 1 — linear: 1,000,000 × 64 B in 64 MiB, then reset",
            "ns/alloc",
        );
        linear_contenders!(linear());
    }
    if run("w2a") {
        throughput_header("Workload 2a — pool: LIFO alloc/free pairs, 64 B", "ns/pair");
        lifo_contenders!(pool_lifo());
    }
    if run("w2b") {
        let plan = plan::pool_churn(SEED, plan::POOL_CHURN_PAIRS);
        throughput_header(
            "Workload 2b — pool: random-order churn, 2,048 of 4,096 live",
            "ns/pair",
        );
        pool_contenders!(pool_churn(&plan));
    }
    let general_plan = plan::general_churn(SEED, plan::GENERAL_OPS);
    if run("w3") {
        println!(
            "\n### Workload 3 — general churn: 16..=4096 B, align 8/16/64, 2,000 live, 16 MiB\n"
        );
        println!("| allocator | median ns/op | min – max (5 runs) | notes |");
        println!("|---|---:|---:|---|");
        general_contenders!(general(&general_plan));
    }
    if wanted.iter().any(|w| w == "w2b-ab") {
        println!(
            "\n### Workload 2b — heapless, Pool<T> and BlockPool alternated, {AB_ROUNDS} rounds (ratios of ns/pair per round)\n"
        );
        pool_ab(&plan::pool_churn(SEED, plan::POOL_CHURN_PAIRS));
    }
    if wanted.iter().any(|w| w == "w3-ab") {
        println!(
            "\n### Workload 3 — Tlsf and rlsf alternated, {AB_ROUNDS} rounds (ns/op per round)\n"
        );
        general_ab(&general_plan);
    }
    if wanted.iter().any(|w| w == "w3-latency-ab") {
        latency_header(&format!(
            "Workload 3 — single operations, Tlsf and rlsf passes interleaved, minimum of {LATENCY_AB_PASSES} (ns, clock read included)"
        ));
        timer_floor();
        general_latency_ab(&general_plan);
    }
    if run("w3-latency") {
        latency_header(
            "Workload 3 — single operations over 1,000,000 ops (ns, clock read included)",
        );
        timer_floor();
        general_contenders!(general_latency(&general_plan));
    }
    if run("w1-latency") {
        latency_header(
            "Workload 1 — single allocations over 3 × 1,000,000 (ns, clock read included)",
        );
        linear_contenders!(linear_latency());
    }
    if run("w2b-latency") {
        let plan = plan::pool_churn(SEED, (plan::GENERAL_OPS - plan::POOL_CAPACITY / 2) / 2);
        latency_header(
            "Workload 2b — single operations of the pool churn, 1,000,000 ops (ns, clock read included)",
        );
        pool_contenders!(pool_latency(&plan));
    }
    if run("w4") {
        let plans: Vec<_> = (0..plan::FRAGMENTATION_SEEDS)
            .map(|i| plan::fragmentation(SEED + i))
            .collect();
        println!(
            "\n### Workload 4 — fragmentation: 16 MiB, 16..=65,536 B, live at the first failure\n"
        );
        println!(
            "| allocator | median live / arena | min | max ({} seeds) | bytes per 64 B alloc |",
            plan::FRAGMENTATION_SEEDS
        );
        println!("|---|---:|---:|---:|---:|");
        arena_contenders!(fragmentation(&plans));
    }
    if run("w4-60") {
        let plans: Vec<_> = (0..plan::FRAGMENTATION_SEEDS)
            .map(|i| plan::fragmentation_with_frees(SEED + i, 2))
            .collect();
        println!(
            "\n### Workload 4 at 60 % allocations — fragmentation: 16 MiB, 16..=65,536 B, live at the first failure\n"
        );
        println!(
            "| allocator | median live / arena | min | max ({} seeds) | bytes per 64 B alloc |",
            plan::FRAGMENTATION_SEEDS
        );
        println!("|---|---:|---:|---:|---:|");
        arena_contenders!(fragmentation(&plans));
    }
    if run("w5") {
        let (layouts, order) = plan::buddy(SEED);
        throughput_header(
            "Workload 5 — buddy: 5,000 allocations of 16..=8192 B, then 5,000 frees in random order (total)",
            "µs",
        );
        arena_contenders!(buddy(&layouts, &order));
    }
}
