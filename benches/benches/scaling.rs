//! Two-thread scaling (issue 12): the same work on one thread, then on two
//! threads at once (each with its own handle where the allocator has one),
//! and the throughput ratio. A ratio of 2.0 is perfect scaling on this
//! machine's two cores; shared atomics make it fall below 1.
//!
//! Run with `cargo bench -p flight-mem-benches --bench scaling`.

use std::alloc::Layout;
use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use flight_mem::{BlockPool, Linear, RawMemory};
use flight_mem_benches::peers::{Bumpalo, HeaplessPool, Mimalloc};
use flight_mem_benches::{AlignedBuf, Reset, Subject};

const BLOCK: Layout = match Layout::from_size_align(64, 8) {
    Ok(layout) => layout,
    Err(_) => panic!(),
};
/// Allocations per thread per run (64 MiB each).
const OPS: usize = 1_000_000;
/// Alloc/free pairs per thread per run.
const PAIRS: usize = 4_000_000;
const RUNS: usize = 7;

/// Runs `work(thread)` on `threads` threads at once; the wall time from the
/// first thread's start to the last thread's finish. Each thread reads the
/// clock itself: a start read by the spawning thread after the barrier can
/// come after the workers finished when the machine is busy (a run on a
/// loaded machine measured two threads at 1,140× one).
fn timed(threads: usize, work: &(impl Fn(usize) + Sync)) -> Duration {
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    work(thread);
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = spans.iter().map(|s| s.0).min().unwrap();
    let end = spans.iter().map(|s| s.1).max().unwrap();
    end - start
}

/// Median throughput (ops per µs) on one and two threads; `reset` runs
/// between runs.
fn scale(name: &str, ops: usize, work: &(impl Fn(usize) + Sync), reset: &mut dyn FnMut()) {
    let mut rates = [Vec::new(), Vec::new()];
    for _ in 0..RUNS {
        for threads in [1, 2] {
            let elapsed = timed(threads, work);
            rates[threads - 1].push((threads * ops) as f64 / elapsed.as_secs_f64() / 1e6);
            reset();
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let one = median(&mut rates[0]);
    let two = median(&mut rates[1]);
    println!("| {name} | {one:.1} | {two:.1} | {:.2}× |", two / one);
}

fn main() {
    println!("\n### Two threads: throughput in million operations per second (median of {RUNS})\n");
    println!("| contender | 1 thread | 2 threads | 2 threads / 1 |");
    println!("|---|---:|---:|---:|");

    // Workload 1 per thread: OPS allocations of 64 B.
    let memory = AlignedBuf::new(2 * OPS * 64 + (1 << 20));
    // SAFETY: the buffer outlives the allocator, which is its only user.
    let linear = Linear::new(unsafe { RawMemory::from_raw_parts(memory.as_ptr(), memory.len()) });
    // `reset` needs no live handle; each run's handles drop before it.
    let reset_linear = |linear: &Linear| {
        // SAFETY: every handle of the run was dropped and no block is used.
        unsafe { linear.reset() }
    };
    {
        let shared = |_thread: usize| {
            for _ in 0..OPS {
                black_box(linear.allocate(BLOCK).unwrap());
            }
        };
        let mut reset = || reset_linear(&linear);
        scale(
            "linear 64 B: flight-mem Linear (shared)",
            OPS,
            &shared,
            &mut reset,
        );
    }
    {
        let local = |_thread: usize| {
            let handle = linear.local();
            for _ in 0..OPS {
                black_box(handle.allocate(BLOCK).unwrap());
            }
        };
        let mut reset = || reset_linear(&linear);
        scale(
            "linear 64 B: flight-mem Linear::local",
            OPS,
            &local,
            &mut reset,
        );
    }
    {
        // Created (and their pages touched) before timing, reset after.
        let bumps: Vec<Mutex<Bumpalo>> = (0..2)
            .map(|_| {
                let mut bump = Bumpalo::create(OPS * 64);
                for _ in 0..OPS {
                    bump.alloc(BLOCK).unwrap();
                }
                bump.reset();
                Mutex::new(bump)
            })
            .collect();
        let bump = |thread: usize| {
            let mut bump = bumps[thread].lock().unwrap();
            for _ in 0..OPS {
                black_box(bump.alloc(BLOCK).unwrap());
            }
        };
        let mut reset = || bumps.iter().for_each(|b| b.lock().unwrap().reset());
        scale(
            "linear 64 B: bumpalo (one per thread)",
            OPS,
            &bump,
            &mut reset,
        );
    }

    // Workload 2a per thread: PAIRS LIFO pairs of 64 B.
    let pool_memory = AlignedBuf::new(BlockPool::bytes_for(64, 8, 4096));
    // SAFETY: as above.
    let pool = BlockPool::new(
        unsafe { RawMemory::from_raw_parts(pool_memory.as_ptr(), pool_memory.len()) },
        64,
        8,
    );
    let mut noop = || {};
    scale(
        "pool LIFO pair: flight-mem BlockPool (shared)",
        PAIRS,
        &|_| {
            for _ in 0..PAIRS {
                let block = pool.allocate(BLOCK).unwrap();
                // SAFETY: allocated just above.
                unsafe { pool.free(black_box(block).cast()) }.unwrap();
            }
        },
        &mut noop,
    );
    scale(
        "pool LIFO pair: flight-mem BlockPool::local",
        PAIRS,
        &|_| {
            let local = pool.local();
            for _ in 0..PAIRS {
                let block = local.allocate(BLOCK).unwrap();
                // SAFETY: allocated just above.
                unsafe { local.free(black_box(block).cast()) }.unwrap();
            }
        },
        &mut noop,
    );
    scale(
        "pool LIFO pair: heapless pool (shared)",
        PAIRS,
        &|_| {
            let mut pool = HeaplessPool::create(0);
            for _ in 0..PAIRS {
                let block = pool.alloc(BLOCK).unwrap();
                // SAFETY: allocated just above.
                unsafe { pool.free(black_box(block)) };
            }
        },
        &mut noop,
    );
    scale(
        "pool LIFO pair: mimalloc",
        PAIRS,
        &|_| {
            let mut mi = Mimalloc::create(0);
            for _ in 0..PAIRS {
                let block = mi.alloc(BLOCK).unwrap();
                // SAFETY: allocated just above.
                unsafe { mi.free(black_box(block)) };
            }
        },
        &mut noop,
    );
}
