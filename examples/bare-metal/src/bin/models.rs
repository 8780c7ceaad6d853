//! The core's model tests, on the emulated core: every allocator kind
//! (Linear, Frames, Stack, Pool, BlockPool, Buddy, Tlsf, FreeList) driven by
//! a deterministic generator (xorshift, eight seeds) and compared after
//! every step with a small reference model. A port, without proptest or a
//! heap, of the model of `flight-mem/tests/common` (live blocks inside the
//! allocator, aligned, disjoint, keeping their contents; counters;
//! invariants; refused misuse) and of the exact bump-offset model of
//! `model_linear.rs`, plus the LIFO rule and markers of the stack and the
//! value-returning exhaustion of the typed pool. Exit code 0 only when every
//! check held.
//!
//! The allocators run over the first 8 KiB of SRAM (where the scenario's
//! banks sit; the linker keeps the firmware's own RAM above it), filled with
//! noise before each test, one test at a time.
//!
//! `examples/bare-metal/run.sh thumbv6m-none-eabi models`
#![no_std]
#![no_main]

use core::alloc::Layout;
use core::ptr::NonNull;

use cortex_m_rt::entry;
use flight_mem::{
    AllocError, BlockPool, Buddy, Fit, Frames, FreeList, Linear, Pool, PoolBox, RawAllocator,
    RawMemory, Stack, Tlsf,
};
use flight_mem_bare_metal::{
    Checks, XorShift, check, check_eq, fill_with_noise, hprintln, machine, paint_stack, stack_peak,
};

/// SRAM below the linker's RAM region: the tests' memory.
const SCRATCH: usize = machine::FIRMWARE_RAM_START - machine::RAM_START;

/// `len` bytes of noise-filled SRAM starting `misalign` bytes in.
///
/// # Safety
///
/// Every allocator built over memory from an earlier call is gone (each
/// test builds its allocator as a local and drops it before returning).
unsafe fn memory(len: usize, misalign: usize, rng: &mut XorShift) -> RawMemory {
    assert!(misalign + len <= SCRATCH && misalign.is_multiple_of(4));
    let start = machine::RAM_START + misalign;
    // SAFETY: SRAM below the firmware's RAM (the linker places nothing
    // there) that no allocator uses any more, per the caller.
    unsafe {
        fill_with_noise(start, len, rng);
        RawMemory::from_raw_parts(core::ptr::with_exposed_provenance_mut(start), len)
    }
}

fn layout(size: usize, align_log2: u32) -> Layout {
    Layout::from_size_align(size, 1 << align_log2).unwrap()
}

/// A live block of the model.
#[derive(Clone, Copy)]
struct Live {
    ptr: NonNull<u8>,
    size: usize,
    pattern: u8,
}

const MAX_LIVE: usize = 48;

/// The reference model: the live blocks and the counters any allocator
/// must agree with.
struct Model {
    live: [Option<Live>; MAX_LIVE],
    len: usize,
    allocations: u64,
    deallocations: u64,
    failures: u64,
    next_pattern: u8,
}

impl Model {
    const fn new() -> Self {
        Self {
            live: [None; MAX_LIVE],
            len: 0,
            allocations: 0,
            deallocations: 0,
            failures: 0,
            next_pattern: 0,
        }
    }

    fn get(&self, index: usize) -> Live {
        self.live[index].unwrap()
    }

    fn requested(&self) -> usize {
        self.live[..self.len].iter().flatten().map(|b| b.size).sum()
    }

    /// Checks an allocation's result (inside the allocator, aligned, long
    /// enough, disjoint from every live block), fills the block with a
    /// pattern and records it.
    fn on_alloc<A: RawAllocator + ?Sized>(
        &mut self,
        c: &mut Checks,
        alloc: &A,
        layout: Layout,
        result: Result<NonNull<[u8]>, AllocError>,
    ) -> Option<Live> {
        let block = match result {
            Err(error) => {
                check!(
                    c,
                    matches!(
                        error,
                        AllocError::OutOfMemory { .. } | AllocError::TooLarge { .. }
                    ),
                    "refusal of {:?}: {:?}",
                    layout,
                    error
                );
                self.failures += 1;
                return None;
            }
            Ok(block) => block,
        };
        let ptr = block.cast::<u8>();
        let start = ptr.as_ptr().addr();
        let end = start + layout.size();
        check!(c, block.len() >= layout.size(), "block length");
        check_eq!(c, start % layout.align(), 0);
        // SAFETY: pointer arithmetic inside the block just returned.
        let last = unsafe { ptr.add(layout.size() - 1) };
        check!(
            c,
            alloc.owns(ptr) && alloc.owns(last),
            "block inside the allocator"
        );
        for other in self.live[..self.len].iter().flatten() {
            let (os, oe) = (
                other.ptr.as_ptr().addr(),
                other.ptr.as_ptr().addr() + other.size,
            );
            check!(
                c,
                end <= os || oe <= start,
                "blocks overlap: {:#x}..{:#x} and {:#x}..{:#x}",
                start,
                end,
                os,
                oe
            );
        }
        self.next_pattern = self.next_pattern.wrapping_add(1);
        let live = Live {
            ptr,
            size: layout.size(),
            pattern: self.next_pattern,
        };
        // SAFETY: the block is valid for writes of `layout.size()` bytes.
        unsafe { ptr.as_ptr().write_bytes(live.pattern, live.size) };
        self.allocations += 1;
        if self.len < MAX_LIVE {
            self.live[self.len] = Some(live);
            self.len += 1;
        } else {
            check!(c, false, "model full");
        }
        Some(live)
    }

    /// Checks the pattern of live block `index` and removes it (swap
    /// remove); the caller frees it.
    fn take(&mut self, c: &mut Checks, index: usize) -> Live {
        let live = self.get(index);
        self.len -= 1;
        self.live[index] = self.live[self.len].take();
        // SAFETY: the block is live and `size` bytes long.
        let bytes = unsafe { core::slice::from_raw_parts(live.ptr.as_ptr(), live.size) };
        check!(
            c,
            bytes.iter().all(|&b| b == live.pattern),
            "block content overwritten"
        );
        self.deallocations += 1;
        live
    }

    /// Checks the allocator's counters and invariants against the model.
    fn check_stats<A: RawAllocator + ?Sized>(&self, c: &mut Checks, alloc: &A) {
        let s = alloc.stats();
        check_eq!(c, s.live, self.len);
        check_eq!(c, s.requested, self.requested());
        check_eq!(c, s.allocations, self.allocations);
        check_eq!(c, s.deallocations, self.deallocations);
        check_eq!(c, s.failures, self.failures);
        check!(
            c,
            s.requested <= s.used && s.used <= s.capacity,
            "requested <= used <= capacity: {}",
            s
        );
        check!(c, s.used <= s.peak, "used <= peak: {}", s);
        check!(
            c,
            s.largest_free <= s.capacity - s.used,
            "largest_free <= free: {}",
            s
        );
        check_eq!(c, s.capacity, alloc.capacity());
        let invariants = alloc.check();
        check!(c, invariants.is_ok(), "invariants: {:?}", invariants);
    }
}

/// Names the model test `name` when a check failed since `before`.
fn report(c: &Checks, name: &str, before: u32) {
    let failed = c.counts().1 - before;
    if failed > 0 {
        hprintln!("model: {} FAILED ({} checks)", name, failed);
    }
}

/// Whether a test should stop: a check failed since it began.
fn failed_since(c: &Checks, before: u32) -> bool {
    c.counts().1 > before
}

/// Random allocations (twice as likely as frees) and frees of random live
/// blocks, checking the model after every step, then frees everything.
fn general<A: RawAllocator + ?Sized>(
    c: &mut Checks,
    alloc: &A,
    rng: &mut XorShift,
    ops: usize,
    max_size: usize,
    max_align_log2: u32,
) {
    let before = c.counts().1;
    let mut model = Model::new();
    for _ in 0..ops {
        if model.len < MAX_LIVE && (model.len == 0 || rng.below(3) != 0) {
            let layout = layout(
                1 + rng.below(max_size),
                rng.below(max_align_log2 as usize + 1) as u32,
            );
            model.on_alloc(c, alloc, layout, alloc.allocate(layout));
        } else {
            let live = model.take(c, rng.below(model.len));
            // SAFETY: allocated here, removed from the model, freed once.
            let result = unsafe { alloc.free(live.ptr) };
            check_eq!(c, result, Ok(()));
        }
        model.check_stats(c, alloc);
        if failed_since(c, before) {
            return;
        }
    }
    while model.len > 0 {
        let live = model.take(c, model.len - 1);
        // SAFETY: as above.
        check_eq!(c, unsafe { alloc.free(live.ptr) }, Ok(()));
    }
    model.check_stats(c, alloc);
    let s = alloc.stats();
    check_eq!(c, (s.used, s.live, s.requested), (0, 0, 0));
    // A detectable misuse changes nothing: a foreign pointer.
    let outside = 0u32;
    // SAFETY: a pointer no allocator owns; refusing it is what is tested.
    let foreign = unsafe { alloc.free(NonNull::from(&outside).cast()) };
    check_eq!(c, foreign, Err(AllocError::ForeignPointer));
    check_eq!(c, alloc.stats(), s);
}

#[inline(never)]
fn tlsf(c: &mut Checks, rng: &mut XorShift) {
    let before = c.counts().1;
    for (len, misalign) in [(4096, 0), (6000, 4), (8192, 0)] {
        // SAFETY: the previous test's allocator is gone.
        let tlsf = Tlsf::new(unsafe { memory(len, misalign, rng) });
        general(c, &tlsf, rng, 400, 256, 6);
        // Empty again: the whole capacity less one header is one block.
        let s = tlsf.stats();
        check_eq!(c, s.largest_free, s.capacity - Tlsf::HEADER_SIZE);
        let whole = tlsf.allocate(layout(s.largest_free, 0));
        check!(c, whole.is_ok(), "tlsf: the whole capacity in one block");
        if let Ok(block) = whole {
            // SAFETY: allocated just above.
            check_eq!(c, unsafe { tlsf.free(block.cast()) }, Ok(()));
        }
    }
    report(c, "Tlsf", before);
}

#[inline(never)]
fn buddy(c: &mut Checks, rng: &mut XorShift) {
    let before = c.counts().1;
    for len in [4096, 8192] {
        // SAFETY: the previous test's allocator is gone.
        let buddy = Buddy::new(unsafe { memory(len, 0, rng) });
        general(c, &buddy, rng, 400, 600, 6);
    }
    report(c, "Buddy", before);
}

#[inline(never)]
fn free_list(c: &mut Checks, rng: &mut XorShift) {
    let before = c.counts().1;
    for fit in [Fit::First, Fit::Best] {
        // SAFETY: the previous test's allocator is gone.
        let list = FreeList::with_fit(unsafe { memory(6144, 4, rng) }, fit);
        general(c, &list, rng, 400, 300, 4);
    }
    report(c, "FreeList", before);
}

#[inline(never)]
fn block_pool(c: &mut Checks, rng: &mut XorShift) {
    let before = c.counts().1;
    let (block, align, count) = (48, 16, 40);
    let bytes = BlockPool::bytes_for(block, align, count);
    // SAFETY: the previous test's allocator is gone.
    let pool = BlockPool::new(unsafe { memory(bytes, 0, rng) }, block, align);
    check_eq!(c, pool.slots(), count);
    general(c, &pool, rng, 400, block, 4);
    let s = pool.stats();
    check!(
        c,
        pool.allocate(layout(block + 1, 0)).is_err(),
        "a block holds {} bytes",
        block
    );
    check_eq!(c, pool.stats().failures, s.failures + 1);
    report(c, "BlockPool", before);
}

/// A typed pool: random values in and out, exhaustion gives the value back.
#[inline(never)]
fn pool(c: &mut Checks, rng: &mut XorShift) {
    type Value = [u32; 5];
    const SLOTS: usize = 24;
    // SAFETY: the previous test's allocator is gone.
    let pool = Pool::<Value>::new(unsafe { memory(Pool::<Value>::bytes_for(SLOTS), 0, rng) });
    check_eq!(c, pool.slots(), SLOTS);
    let before = c.counts().1;
    let mut boxes: [Option<(PoolBox<'_, Value>, Value)>; SLOTS] = [const { None }; SLOTS];
    let (mut live, mut failures) = (0, 0);
    for _ in 0..600 {
        // Allocations twice as likely as drops: the pool fills up.
        if live > 0 && rng.below(3) == 0 {
            let pick = rng.below(live);
            let slot = boxes.iter_mut().filter(|b| b.is_some()).nth(pick).unwrap();
            let (value, expected) = slot.take().unwrap();
            check_eq!(c, *value, expected);
            drop(value);
            live -= 1;
        } else {
            let value = [rng.next_u64() as u32; 5];
            match pool.alloc(value) {
                Ok(b) => match boxes.iter_mut().find(|b| b.is_none()) {
                    Some(free) => {
                        *free = Some((b, value));
                        live += 1;
                    }
                    None => check!(c, false, "more than {} values in the pool", SLOTS),
                },
                Err(back) => {
                    check_eq!(c, back, value);
                    check_eq!(c, live, SLOTS);
                    failures += 1;
                }
            }
        }
        check_eq!(c, pool.len(), live);
        check_eq!(c, pool.available(), SLOTS - live);
        check_eq!(c, pool.stats().failures, failures);
        check!(c, pool.check().is_ok(), "pool invariants");
        if failed_since(c, before) {
            return;
        }
    }
    check!(c, failures > 0, "the pool was filled to exhaustion");
    for (value, expected) in boxes.iter_mut().filter_map(Option::take) {
        check_eq!(c, *value, expected);
    }
    check_eq!(c, pool.len(), 0);
    report(c, "Pool", before);
}

/// The stack: pushes, LIFO pops, refused out-of-order frees, markers.
#[inline(never)]
fn stack(c: &mut Checks, rng: &mut XorShift) {
    // SAFETY: the previous test's allocator is gone.
    let stack = Stack::new(unsafe { memory(4096, 0, rng) });
    let before = c.counts().1;
    let mut model = Model::new();
    for _ in 0..500 {
        match rng.below(8) {
            0..=3 if model.len < MAX_LIVE => {
                let layout = layout(1 + rng.below(200), rng.below(5) as u32);
                let top = (model.len > 0).then(|| model.get(model.len - 1));
                if let Some(block) = model.on_alloc(c, &stack, layout, stack.allocate(layout)) {
                    let above = top.is_none_or(|t| {
                        block.ptr.as_ptr().addr() >= t.ptr.as_ptr().addr() + t.size
                    });
                    check!(c, above, "a push lands above the top");
                }
            }
            4 | 5 if model.len > 0 => {
                let live = model.take(c, model.len - 1);
                // SAFETY: the top block, removed from the model, freed once.
                check_eq!(c, unsafe { stack.free(live.ptr) }, Ok(()));
            }
            6 if model.len > 1 => {
                let below = model.get(rng.below(model.len - 1));
                let s = stack.stats();
                // SAFETY: a live block below the top: the stack refuses it
                // before touching anything (what is tested).
                let result = unsafe { stack.free(below.ptr) };
                check_eq!(c, result, Err(AllocError::OutOfOrder));
                check_eq!(c, stack.stats(), s);
            }
            _ => {
                // A marker, a few pushes, and a release back to it.
                let (marker, mark) = (stack.marker(), model.len);
                for _ in 0..rng.below(4) {
                    if model.len < MAX_LIVE {
                        let layout = layout(1 + rng.below(64), 3);
                        model.on_alloc(c, &stack, layout, stack.allocate(layout));
                    }
                }
                while model.len > mark {
                    model.take(c, model.len - 1);
                }
                // SAFETY: the blocks pushed after the marker are dropped
                // from the model and not used again.
                check_eq!(c, unsafe { stack.release_to(marker) }, Ok(()));
            }
        }
        model.check_stats(c, &stack);
        if failed_since(c, before) {
            return;
        }
    }
    while model.len > 0 {
        let live = model.take(c, model.len - 1);
        // SAFETY: LIFO, freed once.
        check_eq!(c, unsafe { stack.free(live.ptr) }, Ok(()));
    }
    model.check_stats(c, &stack);
    report(c, "Stack", before);
}

/// The exact bump offset of a linear allocator or one frame.
struct Bump {
    base: usize,
    len: usize,
    offset: usize,
}

impl Bump {
    /// Checks an allocation against the predicted placement: at the next
    /// aligned offset if it fits, refused otherwise.
    fn alloc(
        &mut self,
        c: &mut Checks,
        layout: Layout,
        result: &Result<NonNull<[u8]>, AllocError>,
    ) {
        let start = (self.base + self.offset).next_multiple_of(layout.align()) - self.base;
        let end = start + layout.size();
        match result {
            Ok(block) if end <= self.len => {
                check_eq!(c, block.cast::<u8>().as_ptr().addr(), self.base + start);
                self.offset = end;
            }
            Ok(_) => check!(c, false, "an allocation past the end succeeded"),
            Err(_) => check!(c, end > self.len, "an allocation that fits was refused"),
        }
    }

    /// Drops the blocks at or above `offset` from the model.
    fn reclaim_from(&mut self, c: &mut Checks, model: &mut Model, offset: usize) {
        while let Some(index) =
            (0..model.len).find(|&i| model.get(i).ptr.as_ptr().addr() >= self.base + offset)
        {
            model.take(c, index);
        }
        self.offset = offset;
    }
}

/// Linear: predicted placement, checkpoints, resets and scopes.
#[inline(never)]
fn linear(c: &mut Checks, rng: &mut XorShift) {
    let len = 4096;
    // SAFETY: the previous test's allocator is gone.
    let memory = unsafe { memory(len, 4, rng) };
    let base = memory.as_ptr().addr();
    let linear = Linear::new(memory);
    let before = c.counts().1;
    let mut bump = Bump {
        base,
        len,
        offset: 0,
    };
    let mut model = Model::new();
    let mut checkpoint = None;
    for _ in 0..400 {
        match rng.below(10) {
            0..=5 if model.len < MAX_LIVE => {
                let layout = layout(1 + rng.below(300), rng.below(7) as u32);
                let result = linear.allocate(layout);
                bump.alloc(c, layout, &result);
                model.on_alloc(c, &linear, layout, result);
            }
            6 => checkpoint = Some((linear.checkpoint(), bump.offset)),
            7 => {
                if let Some((point, offset)) = checkpoint.take() {
                    check_eq!(c, point.offset(), offset);
                    bump.reclaim_from(c, &mut model, offset);
                    // SAFETY: the blocks after the checkpoint are dropped
                    // from the model; nothing older was reclaimed since.
                    unsafe { linear.reset_to(point) };
                }
            }
            8 => {
                let offset = bump.offset;
                linear.scope(|scope| {
                    for _ in 0..1 + rng.below(3) {
                        let layout = layout(1 + rng.below(100), rng.below(4) as u32);
                        let result = scope.alloc_layout(layout);
                        bump.alloc(c, layout, &result);
                        if let Ok(block) = result {
                            // SAFETY: a live block of the scope.
                            unsafe { block.cast::<u8>().as_ptr().write_bytes(0xEE, layout.size()) };
                        }
                    }
                });
                check_eq!(c, linear.stats().used, offset);
                // The scope's blocks were never in the model: only the
                // offset goes back.
                bump.offset = offset;
            }
            _ => {
                bump.reclaim_from(c, &mut model, 0);
                checkpoint = None;
                // SAFETY: the model holds no block any more, no scope is open.
                unsafe { linear.reset() };
            }
        }
        let s = linear.stats();
        check_eq!(c, s.used, bump.offset);
        check_eq!(c, s.live, model.len);
        check_eq!(c, s.largest_free, len - bump.offset);
        check!(c, linear.check().is_ok(), "linear invariants");
        if failed_since(c, before) {
            return;
        }
    }
    report(c, "Linear", before);
}

/// Frames: each frame's placement predicted; a frame keeps its blocks
/// until it is current again, then starts empty.
#[inline(never)]
fn frames(c: &mut Checks, rng: &mut XorShift) {
    const COUNT: usize = 3;
    // SAFETY: the previous test's allocator is gone.
    let memory = unsafe { memory(6144, 0, rng) };
    let base = memory.as_ptr().addr();
    let frames = Frames::new(memory, COUNT);
    let frame_len = frames.frame_capacity();
    let before = c.counts().1;
    // One model per frame: its blocks and its bump offset.
    let mut models = [const { Model::new() }; COUNT];
    let mut bumps: [Bump; COUNT] = core::array::from_fn(|i| Bump {
        base: base + i * frame_len,
        len: frame_len,
        offset: 0,
    });
    for round in 0..60 {
        let current = frames.current_frame();
        check_eq!(c, current, round % COUNT);
        for _ in 0..rng.below(12) {
            if models[current].len == MAX_LIVE {
                break;
            }
            let layout = layout(1 + rng.below(400), rng.below(6) as u32);
            let result = frames.allocate(layout);
            bumps[current].alloc(c, layout, &result);
            models[current].on_alloc(c, &frames, layout, result);
        }
        let live: usize = models.iter().map(|m| m.len).sum();
        let s = frames.stats();
        check_eq!(c, s.live, live);
        check_eq!(c, s.used, bumps.iter().map(|b| b.offset).sum::<usize>());
        check!(c, frames.check().is_ok(), "frames invariants");
        // The frame about to be reset: its blocks (checked) leave the model.
        let next = (current + 1) % COUNT;
        bumps[next].reclaim_from(c, &mut models[next], 0);
        // SAFETY: the next frame's blocks are dropped from the model and not
        // used again; no scope is open.
        unsafe { frames.next_frame() };
        if failed_since(c, before) {
            return;
        }
    }
    report(c, "Frames", before);
}

/// Rounds of the whole suite, each from its own seed.
const ROUNDS: u64 = 8;

#[entry]
fn main() -> ! {
    paint_stack();
    let mut c = Checks::default();
    hprintln!(
        "models on {} ({}), {} bytes of SRAM at {:#010x}: Linear, Frames, Stack, Pool, BlockPool, Buddy, Tlsf (3 regions), FreeList (first and best fit)",
        machine::QEMU,
        machine::CPU,
        SCRATCH,
        machine::RAM_START
    );
    for round in 0..ROUNDS {
        let seed = 0x5EED_F11E_u64.wrapping_mul(round + 1);
        let mut rng = XorShift::new(seed);
        let (checks, failed) = c.counts();
        linear(&mut c, &mut rng);
        frames(&mut c, &mut rng);
        stack(&mut c, &mut rng);
        pool(&mut c, &mut rng);
        block_pool(&mut c, &mut rng);
        buddy(&mut c, &mut rng);
        tlsf(&mut c, &mut rng);
        free_list(&mut c, &mut rng);
        let (now, now_failed) = c.counts();
        hprintln!(
            "round {} (seed {:#x}): {} checks, {}",
            round,
            seed,
            now - checks,
            if now_failed == failed { "ok" } else { "FAILED" }
        );
    }
    let (used, room) = stack_peak();
    hprintln!("stack: {} of {} bytes used at the deepest", used, room);
    check!(c, used + 256 <= room, "stack keeps 256 bytes of headroom");
    c.finish("models")
}
