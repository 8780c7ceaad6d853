//! Seeded operation sequences, generated before any timing starts.

use core::alloc::Layout;

/// The seed every table in `BENCHMARKS.md` was made with.
pub const SEED: u64 = 0x5eed_f11e_0000_0005;

/// SplitMix64: tiny, fast, and good enough to pick sizes and victims.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A size drawn log-uniformly from `low..=high`: every power-of-two
    /// octave is equally likely.
    pub fn log_uniform(&mut self, low: usize, high: usize) -> usize {
        let (ln_low, ln_high) = ((low as f64).ln(), ((high + 1) as f64).ln());
        let size = (ln_low + self.unit() * (ln_high - ln_low)).exp() as usize;
        size.clamp(low, high)
    }
}

/// One step of a churn: free the live block at `victim` (an index into the
/// live set, reduced modulo its length) and allocate `layout`.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// Which live block to free; taken modulo the live count.
    pub victim: u32,
    /// What to allocate after the free.
    pub layout: Layout,
}

/// A churn: fill the live set with `initial`, then run `steps`.
#[derive(Clone, Debug)]
pub struct Churn {
    /// Allocations made before the steps; the live set stays this large.
    pub initial: Vec<Layout>,
    /// Free-then-allocate pairs.
    pub steps: Vec<Step>,
}

impl Churn {
    /// Operations (allocations plus frees) the steps perform after the fill.
    pub fn step_ops(&self) -> usize {
        self.steps.len() * 2
    }
}

/// Workload 1: 1,000,000 allocations of 64 bytes, align 8.
pub const LINEAR_ALLOCATIONS: usize = 1_000_000;
/// Workload 1's arena: 64 MiB.
pub const LINEAR_ARENA: usize = 64 << 20;
/// Workload 1's request.
pub const LINEAR_LAYOUT: Layout = layout(64, 8);

/// Workload 2's request: 64 bytes, align 8.
pub const POOL_LAYOUT: Layout = layout(64, 8);
/// Workload 2's capacity in blocks.
pub const POOL_CAPACITY: usize = 4096;
/// Workload 2's arena for the contenders that take one: exactly the blocks.
pub const POOL_ARENA: usize = POOL_CAPACITY * 64;
/// Workload 2a: LIFO alloc/free pairs per run.
pub const POOL_LIFO_PAIRS: usize = 1_000_000;
/// Workload 2b: free-then-allocate pairs per run after filling half.
pub const POOL_CHURN_PAIRS: usize = 1_000_000;

/// Workload 3's arena: 16 MiB.
pub const GENERAL_ARENA: usize = 16 << 20;
/// Workload 3's live set.
pub const GENERAL_LIVE: usize = 2_000;
/// Workload 3's operation count (fill included).
pub const GENERAL_OPS: usize = 1_000_000;

/// Workload 4's arena: 16 MiB.
pub const FRAGMENTATION_ARENA: usize = 16 << 20;
/// Workload 4: one run per seed; the table shows the median and minimum.
pub const FRAGMENTATION_SEEDS: u64 = 9;

/// Workload 5's arena: 16 MiB.
pub const BUDDY_ARENA: usize = 16 << 20;
/// Workload 5's pair count.
pub const BUDDY_PAIRS: usize = 5_000;

const fn layout(size: usize, align: usize) -> Layout {
    match Layout::from_size_align(size, align) {
        Ok(layout) => layout,
        Err(_) => panic!("invalid layout"),
    }
}

/// Workload 2b: fill half the pool, then free a random live block and
/// allocate a new one, `pairs` times.
pub fn pool_churn(seed: u64, pairs: usize) -> Churn {
    let mut rng = Rng::new(seed);
    Churn {
        initial: vec![POOL_LAYOUT; POOL_CAPACITY / 2],
        steps: (0..pairs)
            .map(|_| Step {
                victim: rng.next_u64() as u32,
                layout: POOL_LAYOUT,
            })
            .collect(),
    }
}

/// A general-heap request: size log-uniform in 16..=4096, alignment 8, 16
/// or 64 with equal probability.
fn general_layout(rng: &mut Rng) -> Layout {
    let size = rng.log_uniform(16, 4096);
    let align = [8, 16, 64][rng.below(3)];
    Layout::from_size_align(size, align).expect("valid general layout")
}

/// Workload 3: fill [`GENERAL_LIVE`] blocks, then free a random live block
/// and allocate a new one until `ops` operations (fill included) are done.
pub fn general_churn(seed: u64, ops: usize) -> Churn {
    let mut rng = Rng::new(seed);
    let initial = (0..GENERAL_LIVE)
        .map(|_| general_layout(&mut rng))
        .collect();
    let steps = (0..ops.saturating_sub(GENERAL_LIVE) / 2)
        .map(|_| Step {
            victim: rng.next_u64() as u32,
            layout: general_layout(&mut rng),
        })
        .collect();
    Churn { initial, steps }
}

/// One action of workload 4.
#[derive(Clone, Copy, Debug)]
pub enum FragOp {
    /// Allocate this many bytes, align 8.
    Alloc(usize),
    /// Free the live block at this index (modulo the live count).
    Free(u32),
}

/// Workload 4: sizes log-uniform in 16..=65,536, and after each allocation a
/// one-in-three chance of freeing a random live block; the run stops at the
/// first refused allocation, so the sequence is generated long enough for
/// any contender (at least 16 MiB / 16 B allocations would be absurd; the
/// average request is ~8 KiB, so 50,000 actions are plenty).
pub fn fragmentation(seed: u64) -> Vec<FragOp> {
    fragmentation_with_frees(seed, 1)
}

/// Workload 4 with a `frees_in_3`-in-three chance of a free after each
/// allocation: 1 gives 75 % allocations ([`fragmentation`]), 2 gives 60 %.
pub fn fragmentation_with_frees(seed: u64, frees_in_3: usize) -> Vec<FragOp> {
    let mut rng = Rng::new(seed);
    let mut ops = Vec::with_capacity(60_000);
    while ops.len() < 60_000 {
        ops.push(FragOp::Alloc(rng.log_uniform(16, 65_536)));
        if rng.below(3) < frees_in_3 {
            ops.push(FragOp::Free(rng.next_u64() as u32));
        }
    }
    ops
}

/// Workload 5: [`BUDDY_PAIRS`] sizes log-uniform in 16..=8,192 (align 8),
/// allocated in order, then freed in the returned random order.
pub fn buddy(seed: u64) -> (Vec<Layout>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let layouts = (0..BUDDY_PAIRS)
        .map(|_| Layout::from_size_align(rng.log_uniform(16, 8_192), 8).expect("valid layout"))
        .collect();
    let mut order: Vec<usize> = (0..BUDDY_PAIRS).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    (layouts, order)
}
