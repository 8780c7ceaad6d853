//! The defragmentation targets of issue 13, on a `Compact` over 16 MiB:
//!
//! 1. Fragment: allocate random 64 B ..= 256 KiB blocks until the first
//!    refusal, free half of them at random. Then call `defragment` with a
//!    256 KiB budget until the largest free range is at least 95 % of all
//!    free bytes. Prints the calls, the bytes moved against two minimums
//!    (below), and the time per MiB moved next to `memmove` making the same
//!    moves on a plain buffer (the copying alone). Timing columns are the
//!    fastest of three identical runs.
//! 2. `get` + deref of an unpinned handle against a plain slice index and a
//!    raw pointer dereference, on 4,096 blocks of 64 B read in a random order.
//!
//! The two minimums: **sliding** is what a perfect sliding compaction moves
//! to reach the same 95 % (every block above its packed place moved once, in
//! address order, stopping at 95 %); **window bound** is a lower bound for
//! *any* compaction. Its argument: at the end some free range `R` of at
//! least `goal` bytes exists; a block that overlapped `R` at the start is not
//! where it was, so it moved, and moving it copied at least its length (the
//! unit `DefragReport::bytes_moved` counts). So the bytes moved are at least
//! the lengths of the blocks overlapping `R` at the start, which is at least
//! the minimum of that sum over every range of `goal` bytes inside the data
//! area. That minimum is attained at a range starting at 0 or at a block's
//! end (moving a range's start down to the nearest such place adds no
//! block), so the sweep over those starts is exact. It ignores where the
//! moved blocks can go, so no algorithm may reach it; it is never above
//! what one must move.
//!
//! Run: `cargo run --release -p flight-mem-benches --bin defrag`
//! (about 10 s). Sizes are drawn log-uniformly (as many 64..128 B blocks as
//! 128..256 KiB ones), and uniformly in a second row; seeds are fixed.
//!
//! `defrag reads` runs only the second part, `defrag moves` only the
//! first. `defrag icount ACCESS N`
//! makes N reads of one kind (`index`, `raw`, `handle_floor`,
//! `handle_floor16`, `get`, `pin_all`) and nothing else, for instruction counts under
//! callgrind: `(count at N = 1,000,000 - count at N = 100,000) / 900,000`
//! is the instructions of one read (`benches/defrag-icount.sh`).

use std::alloc::Layout;
use std::hint::black_box;
use std::time::{Duration, Instant};

use flight_mem::{Compact, DefragBudget, Handle, RawMemory};

const REGION: usize = 16 << 20;
const BUDGET: usize = 256 << 10;
const MIN: usize = 64;
const MAX: usize = 256 << 10;

/// xorshift64*: deterministic, no OS entropy.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Sizes {
    LogUniform,
    Uniform,
}

impl Sizes {
    fn draw(self, rng: &mut Rng) -> usize {
        match self {
            Sizes::LogUniform => {
                let (lo, hi) = ((MIN as f64).ln(), ((MAX + 1) as f64).ln());
                ((lo + rng.unit() * (hi - lo)).exp() as usize).clamp(MIN, MAX)
            }
            Sizes::Uniform => MIN + (rng.next() % (MAX - MIN + 1) as u64) as usize,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Sizes::LogUniform => "log-uniform",
            Sizes::Uniform => "uniform",
        }
    }
}

fn new_compact() -> (&'static Compact, usize) {
    let compact = compact_of(REGION, Compact::default_handles(REGION));
    assert_eq!(compact.0.capacity(), REGION);
    compact
}

/// A leaked `Compact` of `capacity` bytes and `handles` handles, and the
/// address of its memory.
fn compact_of(capacity: usize, handles: usize) -> (&'static Compact, usize) {
    let bytes = Compact::bytes_for(capacity, handles);
    let layout = Layout::from_size_align(bytes, 4096).unwrap();
    // SAFETY: non-zero size; leaked and given to one allocator.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!ptr.is_null());
    // SAFETY: as above.
    let compact = Compact::new(unsafe { RawMemory::from_raw_parts(ptr, bytes) }, handles);
    (Box::leak(Box::new(compact)), ptr as usize)
}

/// The live blocks as `(offset, extent, length)` in address order.
fn blocks(compact: &Compact, base: usize, live: &[Handle]) -> Vec<(usize, usize, usize)> {
    let mut v: Vec<(usize, usize, usize)> = live
        .iter()
        .map(|&h| {
            let p = compact.get(h).unwrap();
            (
                p.as_ptr() as usize - base,
                p.len().next_multiple_of(8),
                p.len(),
            )
        })
        .collect();
    v.sort_unstable();
    v
}

/// Bytes a perfect sliding compaction moves before the largest free range
/// reaches `goal` bytes.
fn sliding_minimum(blocks: &[(usize, usize, usize)], capacity: usize, goal: usize) -> usize {
    // Slide block by block; after sliding block i, the free range between
    // it and block i+1 is the traveling hole.
    let largest = |blocks: &[(usize, usize, usize)]| {
        let (mut end, mut best) = (0, 0);
        for &(o, e, _) in blocks {
            best = best.max(o - end);
            end = o + e;
        }
        best.max(capacity - end)
    };
    let mut b = blocks.to_vec();
    let (mut end, mut moved) = (0, 0);
    for i in 0..b.len() {
        if largest(&b) >= goal {
            break;
        }
        if b[i].0 > end {
            b[i].0 = end;
            moved += b[i].2;
        }
        end = b[i].0 + b[i].1;
    }
    moved
}

/// The least total length of blocks overlapping any range of `goal` bytes
/// (the window bound of the module documentation).
fn window_bound(blocks: &[(usize, usize, usize)], capacity: usize, goal: usize) -> usize {
    // An optimal range starts at 0 or right after a block; sweep the starts
    // with a second pointer over the blocks it overlaps.
    let mut starts = vec![0];
    starts.extend(blocks.iter().map(|&(o, e, _)| o + e));
    let mut best = usize::MAX;
    let mut first = 0;
    for s in starts {
        if s + goal > capacity {
            break;
        }
        while first < blocks.len() && blocks[first].0 + blocks[first].1 <= s {
            first += 1;
        }
        let cost: usize = blocks[first..]
            .iter()
            .take_while(|&&(o, _, _)| o < s + goal)
            .map(|&(_, _, len)| len)
            .sum();
        best = best.min(cost);
    }
    best
}

/// A `Compact` over 16 MiB filled with `sizes` blocks until the first
/// refusal, then half of them freed at random; returns it, its memory's
/// address, the live handles and how many blocks were allocated.
fn fragment(sizes: Sizes, seed: u64) -> (&'static Compact, usize, Vec<Handle>, usize) {
    let (compact, base) = new_compact();
    let mut rng = Rng(0x5EED_0000_0000 + seed);
    let mut live = Vec::new();
    while let Ok(h) = compact.allocate(Layout::from_size_align(sizes.draw(&mut rng), 8).unwrap()) {
        compact.get_mut(h).unwrap().fill(h.index() as u8);
        live.push(h);
    }
    let filled = live.len();
    for _ in 0..filled / 2 {
        let i = (rng.next() % live.len() as u64) as usize;
        compact.free(live.swap_remove(i)).unwrap();
    }
    (compact, base, live, filled)
}

/// Defragments with the 256 KiB budget until the largest free range
/// reaches `goal` (`usize::MAX`: until `done()`): calls, the moves made
/// `(from, to, len)`, the time inside `defragment`.
fn defragment_until(
    compact: &Compact,
    goal: usize,
) -> (usize, Vec<(usize, usize, usize)>, Duration) {
    let (calls, moves, time, _) = defragment_calls(compact, goal);
    (calls, moves, time)
}

/// What `defragment_calls` returns: `defragment_until`'s, and how many
/// moves had been made after each call (for `twin_replay`).
type Calls = (usize, Vec<(usize, usize, usize)>, Duration, Vec<usize>);

/// `defragment_until` with the call boundaries.
fn defragment_calls(compact: &Compact, goal: usize) -> Calls {
    let (mut calls, mut time) = (0, Duration::ZERO);
    // Room for every move up front: the callback's pushes never grow it
    // inside the timed calls.
    let mut moves = Vec::with_capacity(1 << 14);
    let mut bounds = Vec::new();
    while goal == usize::MAX || compact.stats().largest_free < goal {
        let start = Instant::now();
        let report = compact.defragment_with(
            DefragBudget {
                max_bytes: BUDGET,
                max_moves: usize::MAX,
            },
            |step| moves.push((step.from, step.to, step.len)),
        );
        time += start.elapsed();
        assert!(report.bytes_moved <= BUDGET && report.abandoned == 0);
        calls += 1;
        bounds.push(moves.len());
        assert!(report.blocks_moved > 0 || report.done(), "stuck: {report}");
        if report.done() {
            break;
        }
    }
    (calls, moves, time, bounds)
}

/// The same moves copied with `ptr::copy` on a twin: another `Compact`
/// fragmented identically, call by call as `defragment_calls` made them
/// (each call's copies timed together, with the same untimed `stats()`
/// before each call of the first phase): the copying alone, on memory with
/// the same history as the defragmenter's. Returns the time of each phase.
/// One phase for `twin_replay`: its moves, the move count after each call,
/// and whether `stats()` ran before each call.
type Phase<'a> = (&'a [(usize, usize, usize)], &'a [usize], bool);

fn twin_replay(sizes: Sizes, seed: u64, phases: [Phase<'_>; 2]) -> [Duration; 2] {
    let (twin, base, _, _) = fragment(sizes, seed);
    phases.map(|(moves, bounds, stats)| {
        let (mut time, mut from) = (Duration::ZERO, 0);
        for &to in bounds {
            if stats {
                black_box(twin.stats());
            }
            let start = Instant::now();
            for &(src, dst, len) in &moves[from..to] {
                // SAFETY: the twin's data area starts at `base` (page
                // aligned) and holds these offsets; no guard of the twin
                // lives and it is used for nothing but `stats()` (which reads
                // its table, not its data) from here on, so these copies
                // race with nothing.
                unsafe { std::ptr::copy((base + src) as *const u8, (base + dst) as *mut u8, len) };
            }
            black_box(base);
            time += start.elapsed();
            from = to;
        }
        time
    })
}

/// The time `memmove` takes for the same moves on a plain 16 MiB buffer
/// (after making the moves of `before` untimed): the copying alone, the
/// floor of any compaction that makes these moves.
fn memmove_time(before: &[(usize, usize, usize)], moves: &[(usize, usize, usize)]) -> Duration {
    let mut buffer = vec![1u8; REGION];
    replay(&mut buffer, before);
    let start = Instant::now();
    replay(&mut buffer, moves);
    start.elapsed()
}

/// `defragment_until(compact, usize::MAX)`, under its own name for
/// callgrind's `--toggle-collect`.
#[inline(never)]
fn to_done(compact: &Compact) -> (usize, Vec<(usize, usize, usize)>, Duration) {
    defragment_until(compact, usize::MAX)
}

/// `replay`, under its own name for callgrind's `--toggle-collect`.
#[inline(never)]
fn replay_done(buffer: &mut [u8], moves: &[(usize, usize, usize)]) {
    replay(buffer, moves);
}

/// The moves on `buffer`; its own function so that callgrind can count it
/// alone.
#[inline(never)]
fn replay(buffer: &mut [u8], moves: &[(usize, usize, usize)]) {
    for &(from, to, len) in moves {
        buffer.copy_within(from..from + len, to);
        black_box(&mut *buffer);
    }
}

/// Runs of each workload; the timing columns are the fastest (least
/// disturbed) run, the other columns are identical across runs.
const RUNS: usize = 3;

/// What the second table (on from 95 % to `done()`) prints, per row.
struct Rest {
    calls: usize,
    moves: Vec<(usize, usize, usize)>,
    time: Duration,
    memmove: Duration,
    twin: Duration,
}

fn fragmenting(sizes: Sizes, seed: u64) -> Rest {
    let (compact, base, live, filled) = fragment(sizes, seed);
    let stats = compact.compact_stats();
    let free = stats.allocator.free();
    let goal = (free as f64 * 0.95).ceil() as usize;
    let placed = blocks(compact, base, &live);
    let sliding = sliding_minimum(&placed, REGION, goal);
    let window = window_bound(&placed, REGION, goal);
    let (largest_before, holes_before) = (stats.allocator.largest_free, stats.holes);
    let (calls, moves, mut time, bounds) = defragment_calls(compact, goal);
    let moved: usize = moves.iter().map(|m| m.2).sum();
    let blocks_moved = moves.len();
    for &h in &live {
        assert!(
            compact
                .get(h)
                .unwrap()
                .iter()
                .all(|&b| b == h.index() as u8)
        );
    }
    compact.check().unwrap();
    let largest_after = compact.stats().largest_free;
    // On to `done()`: the sliding phase.
    let (rest_calls, rest_moves, mut rest_time, rest_bounds) =
        defragment_calls(compact, usize::MAX);
    for &h in &live {
        assert!(
            compact
                .get(h)
                .unwrap()
                .iter()
                .all(|&b| b == h.index() as u8)
        );
    }
    assert_eq!(compact.compact_stats().holes, 0);
    compact.check().unwrap();
    for _ in 1..RUNS {
        let (again, _, _, _) = fragment(sizes, seed);
        let (c, m, t) = defragment_until(again, goal);
        assert_eq!((c, &m), (calls, &moves), "the workload is deterministic");
        time = time.min(t);
        let (c, m, t) = defragment_until(again, usize::MAX);
        assert_eq!((c, &m), (rest_calls, &rest_moves), "deterministic");
        rest_time = rest_time.min(t);
    }
    let (mut twin, mut rest_twin) = (Duration::MAX, Duration::MAX);
    for _ in 0..RUNS {
        let [t, r] = twin_replay(
            sizes,
            seed,
            [(&moves, &bounds, true), (&rest_moves, &rest_bounds, false)],
        );
        (twin, rest_twin) = (twin.min(t), rest_twin.min(r));
    }
    let memcpy = (0..RUNS).map(|_| memmove_time(&[], &moves)).min().unwrap();
    let rest_memmove = (0..RUNS)
        .map(|_| memmove_time(&moves, &rest_moves))
        .min()
        .unwrap();
    let mb = moved as f64 / (1 << 20) as f64;
    println!(
        "| {} | {} | {filled} / {} | {} | {:.2} → {:.2} | {calls} | {:.2} ({blocks_moved} blocks) | {:.2} | {:.2} | {:.2}× / {:.2}× | {:.0} µs | {:.0} µs | {:.2}× | {:.0} µs | {:.2}× |",
        sizes.name(),
        seed,
        live.len(),
        holes_before,
        largest_before as f64 / free as f64,
        largest_after as f64 / free as f64,
        mb,
        sliding as f64 / (1 << 20) as f64,
        window as f64 / (1 << 20) as f64,
        moved as f64 / sliding.max(1) as f64,
        moved as f64 / window.max(1) as f64,
        time.as_secs_f64() * 1e6 / mb,
        memcpy.as_secs_f64() * 1e6 / mb,
        time.as_secs_f64() / memcpy.as_secs_f64(),
        twin.as_secs_f64() * 1e6 / mb,
        time.as_secs_f64() / twin.as_secs_f64(),
    );
    Rest {
        calls: rest_calls,
        moves: rest_moves,
        time: rest_time,
        memmove: rest_memmove,
        twin: rest_twin,
    }
}

/// The blocks and indices the read benchmark uses.
struct Reads {
    compact: &'static Compact,
    handles: Vec<Handle>,
    slice: Vec<u8>,
    ptrs: Vec<*const u8>,
    /// Block indices in a random order; a power of two long.
    order: Vec<u32>,
    /// The floor of any handle scheme: a plain table of (generation,
    /// offset into `slice`) that a handle indexes, checked and followed.
    table: Vec<(u32, u32)>,
    /// The same with the 16 bytes a slice-returning handle needs per entry
    /// (a 64-bit state word with the generation, offset, length): what
    /// `Compact`'s hot table holds.
    table16: Vec<(u64, u32, u32)>,
}

const BLOCKS: usize = 4096;
const ORDER: usize = 1 << 20;

impl Reads {
    fn new() -> Self {
        // A region the size of its blocks, with a handle each: the blocks
        // and their table are as compact as the slice and pointer table
        // they are compared with.
        let (compact, _) = compact_of(BLOCKS * 64, BLOCKS);
        let handles: Vec<Handle> = (0..BLOCKS)
            .map(|i| {
                let h = compact
                    .allocate(Layout::from_size_align(64, 8).unwrap())
                    .unwrap();
                compact.get_mut(h).unwrap().fill(i as u8);
                h
            })
            .collect();
        let slice: Vec<u8> = (0..BLOCKS * 64).map(|i| (i / 64) as u8).collect();
        let ptrs: Vec<*const u8> = handles
            .iter()
            .map(|&h| compact.get(h).unwrap().as_ptr())
            .collect();
        let mut rng = Rng(7);
        let order: Vec<u32> = (0..ORDER)
            .map(|_| (rng.next() % BLOCKS as u64) as u32)
            .collect();
        let table = handles
            .iter()
            .enumerate()
            .map(|(i, h)| (h.generation(), (i * 64) as u32))
            .collect();
        let table16 = handles
            .iter()
            .enumerate()
            .map(|(i, h)| (u64::from(h.generation()) | 1 << 32, (i * 64) as u32, 64))
            .collect();
        Self {
            compact,
            handles,
            slice,
            ptrs,
            order,
            table,
            table16,
        }
    }

    /// `n` reads of the block at each next index, by `f`; the sum of the
    /// bytes read.
    #[inline(never)]
    fn run(&self, n: usize, f: impl Fn(usize) -> u8) -> u8 {
        let mut sum = 0u8;
        for k in 0..n {
            let i = self.order[k & (ORDER - 1)] as usize;
            sum = sum.wrapping_add(f(black_box(i)));
        }
        sum
    }

    /// `n` reads by `access` (`index`, `raw`, `get`, `pin_all`).
    fn access(&self, access: &str, n: usize) -> u8 {
        match access {
            "index" => self.run(n, |i| self.slice[i * 64 + 5]),
            // SAFETY: every pointer is a live 64-byte block that nothing
            // moves here.
            "raw" => self.run(n, |i| unsafe { *self.ptrs[i].add(5) }),
            "handle_floor" => self.run(n, |i| {
                let h = self.handles[i];
                let (generation, offset) = self.table[h.index() as usize];
                assert_eq!(generation, h.generation());
                self.slice[offset as usize + 5]
            }),
            "handle_floor16" => self.run(n, |i| {
                let h = self.handles[i];
                let (state, offset, len) = self.table16[h.index() as usize];
                assert_eq!(state, u64::from(h.generation()) | 1 << 32);
                self.slice[offset as usize..][..len as usize][5]
            }),
            "get" => self.run(n, |i| self.compact.get(self.handles[i]).unwrap()[5]),
            "pin_all" => {
                // One scope for the whole loop, as a frame would take it.
                let frame = self.compact.pin_all();
                self.run(n, |i| frame.get(self.handles[i]).unwrap()[5])
            }
            other => panic!(
                "unknown access {other}: index, raw, handle_floor, handle_floor16, get or pin_all"
            ),
        }
    }
}

fn get_versus_index() {
    const READS: usize = 20_000_000;
    let reads = Reads::new();
    let time = |access: &str| {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            black_box(reads.access(access, READS));
            best = best.min(start.elapsed().as_secs_f64() * 1e9 / READS as f64);
        }
        best
    };
    let index = time("index");
    let raw = time("raw");
    // The floor of any per-access pin: one locked increment and one locked
    // decrement of a per-block counter around the raw read.
    let counters: Vec<std::sync::atomic::AtomicU64> = (0..BLOCKS)
        .map(|_| std::sync::atomic::AtomicU64::new(0))
        .collect();
    let pin_floor = {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            black_box(reads.run(READS, |i| {
                use std::sync::atomic::Ordering::{Acquire, Release};
                counters[i].fetch_add(1, Acquire);
                // SAFETY: as in `Reads::access`.
                let b = unsafe { *reads.ptrs[i].add(5) };
                counters[i].fetch_sub(1, Release);
                b
            }));
            best = best.min(start.elapsed().as_secs_f64() * 1e9 / READS as f64);
        }
        best
    };
    // What one store-load barrier costs here, the least a per-access pin
    // that a concurrent mover must respect needs (see BENCHMARKS.md): one
    // locked increment of a single uncontended counter around the raw read,
    // and the announce-then-read of a per-reader epoch (a plain store, a
    // `SeqCst` fence, the raw read, a release store).
    fn timed(reads: &Reads, f: impl Fn(usize) -> u8) -> f64 {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            black_box(reads.run(READS, &f));
            best = best.min(start.elapsed().as_secs_f64() * 1e9 / READS as f64);
        }
        best
    }
    let counter = std::sync::atomic::AtomicU64::new(0);
    let one_locked = timed(&reads, |i| {
        counter.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        // SAFETY: as in `Reads::access`.
        unsafe { *reads.ptrs[i].add(5) }
    });
    let epoch = std::sync::atomic::AtomicU64::new(0);
    let epoch_fenced = timed(&reads, |i| {
        use std::sync::atomic::{Ordering::*, fence};
        epoch.store(i as u64 + 1, Relaxed);
        fence(SeqCst);
        // SAFETY: as in `Reads::access`.
        let b = unsafe { *reads.ptrs[i].add(5) };
        epoch.store(0, Release);
        b
    });
    let get = time("get");
    let pin_all = time("pin_all");
    let handle_floor = time("handle_floor");
    let handle_floor16 = time("handle_floor16");
    println!("| slice index `slice[i * 64 + 5]` | {index:.2} ns | 1.00 | |");
    println!(
        "| raw pointer `*ptrs[i].add(5)` | {raw:.2} ns | {:.2} | |",
        raw / index
    );
    println!(
        "| floor of any atomic pin: `fetch_add`, raw read, `fetch_sub` | {pin_floor:.2} ns | {:.2} | {:+.2} ns |",
        pin_floor / index,
        pin_floor - raw
    );
    println!(
        "| one locked instruction: `fetch_add` of one counter, raw read | {one_locked:.2} ns | {:.2} | {:+.2} ns |",
        one_locked / index,
        one_locked - raw
    );
    println!(
        "| per-reader epoch: store, `fence(SeqCst)`, raw read, release store | {epoch_fenced:.2} ns | {:.2} | {:+.2} ns |",
        epoch_fenced / index,
        epoch_fenced - raw
    );
    println!(
        "| floor of any handle: `handles[i]` → plain `(generation, offset)` table → checked → byte | {handle_floor:.2} ns | {:.2} | {:+.2} ns |",
        handle_floor / index,
        handle_floor - raw
    );
    println!(
        "| the same with a 16-byte entry `(state, offset, length)`, sliced | {handle_floor16:.2} ns | {:.2} | {:+.2} ns |",
        handle_floor16 / index,
        handle_floor16 - raw
    );
    println!(
        "| `compact.get(handles[i]).unwrap()[5]` | {get:.2} ns | {:.2} | {:+.2} ns |",
        get / index,
        get - raw
    );
    println!(
        "| `frame.get(handles[i]).unwrap()[5]`, `frame = compact.pin_all()` once | {pin_all:.2} ns | {:.2} | {:+.2} ns |",
        pin_all / index,
        pin_all - raw
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, sizes, seed @ ..] = &args[..]
        && mode == "icount-moves"
        && seed.len() <= 1
    {
        // One defragmentation of seed 1 (or the seed given after the
        // sizes) and its `memmove` replay, for callgrind with
        // `--toggle-collect` on each (see `benches/defrag-icount.sh`).
        let sizes = match sizes.as_str() {
            "uniform" => Sizes::Uniform,
            _ => Sizes::LogUniform,
        };
        let seed = seed.first().map_or(1, |s| s.parse().expect("a seed"));
        let (compact, _, _, _) = fragment(sizes, seed);
        let free = compact.stats().free();
        let goal = (free as f64 * 0.95).ceil() as usize;
        let (_, moves, _) = defragment_until(compact, goal);
        black_box(memmove_time(&[], &moves));
        let moved: usize = moves.iter().map(|m| m.2).sum();
        println!("moved {moved}");
        return;
    }
    if let [_, mode, sizes] = &args[..]
        && mode == "icount-done"
    {
        // The same, from 95 % on to `done()` (the sliding phase): only the
        // second `defragment_planned` calls and `replay` are to be counted,
        // so the first phase's run here untimed and uncounted is the
        // caller's `--toggle-collect` business (see the script).
        let sizes = match sizes.as_str() {
            "uniform" => Sizes::Uniform,
            _ => Sizes::LogUniform,
        };
        let (compact, _, _, _) = fragment(sizes, 1);
        let free = compact.stats().free();
        let goal = (free as f64 * 0.95).ceil() as usize;
        let (_, first, _) = defragment_until(compact, goal);
        let mut buffer = vec![1u8; REGION];
        replay(&mut buffer, &first);
        let (_, moves, _) = to_done(compact);
        replay_done(&mut buffer, &moves);
        let moved: usize = moves.iter().map(|m| m.2).sum();
        println!("moved {moved}");
        return;
    }
    if let [_, mode, access, n] = &args[..]
        && mode == "icount"
    {
        let reads = Reads::new();
        black_box(reads.access(access, n.parse().expect("a read count")));
        return;
    }
    let reads_only = args.get(1).is_some_and(|a| a == "reads");
    let moves_only = args.get(1).is_some_and(|a| a == "moves");
    println!(
        "### Defragmentation: 16 MiB, 64 B..=256 KiB blocks, half freed, 256 KiB per call, until largest free ≥ 95 % of free\n"
    );
    println!(
        "| sizes | seed | blocks filled / live | holes | largest free / free | calls | MiB moved | sliding min (MiB) | window bound (MiB) | moved / sliding / window | time per MiB moved | memmove per MiB | ratio | twin replay per MiB | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rests = Vec::new();
    for sizes in [Sizes::LogUniform, Sizes::Uniform] {
        for seed in [1, 2, 3] {
            if !reads_only {
                rests.push((sizes, seed, fragmenting(sizes, seed)));
            }
        }
    }
    if !reads_only {
        println!(
            "\n### Then on to `done()` (the sliding phase), same budget\n\n| sizes | seed | calls | MiB moved | time per MiB moved | memmove per MiB | ratio | twin replay per MiB | ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for (sizes, seed, rest) in &rests {
            let mb = rest.moves.iter().map(|m| m.2).sum::<usize>() as f64 / (1 << 20) as f64;
            println!(
                "| {} | {seed} | {} | {mb:.2} ({} blocks) | {:.0} µs | {:.0} µs | {:.2}× | {:.0} µs | {:.2}× |",
                sizes.name(),
                rest.calls,
                rest.moves.len(),
                rest.time.as_secs_f64() * 1e6 / mb,
                rest.memmove.as_secs_f64() * 1e6 / mb,
                rest.time.as_secs_f64() / rest.memmove.as_secs_f64(),
                rest.twin.as_secs_f64() * 1e6 / mb,
                rest.time.as_secs_f64() / rest.twin.as_secs_f64(),
            );
        }
    }
    if moves_only {
        return;
    }
    println!(
        "\n### `get` + deref of an unpinned handle, 4,096 blocks of 64 B, random order, best of 5 × 20 M reads\n"
    );
    println!("| access | per read | ratio to slice index | over the raw pointer |");
    println!("|---|---:|---:|---:|");
    get_versus_index();
}
