//! Session-6 adversarial audit of the public safe API added in sessions 4
//! and 5: `Compact` (handles, guards, re-entrant progress callbacks, slide
//! runs, tiny and misaligned memories, threads), the per-thread handles
//! (`Linear::local`, `Pool::local`, `BlockPool::local`, `SmallFront::local`)
//! and `Tlsf`'s refusals. Each test asserts the safe outcome (an `Err`, a
//! `None`, unchanged bytes, a passing `check`); Miri runs the file.

use core::alloc::Layout;
use std::panic::{AssertUnwindSafe, catch_unwind};

use flight_mem::{
    AllocError, Compact, DefragBudget, Handle, Linear, RawAllocator, RawMemory, SmallFront, Stack,
    Tlsf,
};

/// `len` bytes at `misalign` past an 8-aligned address, with `pad` canary
/// bytes on either side that nothing built over the memory may touch.
struct Fenced {
    base: *mut u8,
    pad: usize,
    len: usize,
}

const CANARY: u8 = 0xA5;

impl Fenced {
    fn new(len: usize, misalign: usize, pad: usize) -> (Fenced, RawMemory) {
        // 16-aligned storage (and `pad` a multiple of 16 in every caller),
        // so `misalign` is exact modulo 16.
        let words = (pad * 2 + misalign + len).div_ceil(16) + 1;
        let storage: &'static mut [u128] =
            Vec::leak(vec![u128::from_ne_bytes([CANARY; 16]); words]);
        let base = storage.as_mut_ptr().cast::<u8>();
        let fenced = Fenced {
            base: base.wrapping_add(misalign),
            pad,
            len,
        };
        // SAFETY: the leaked buffer lives forever; `pad..pad + len` is
        // handed to one allocator and the canaries around it are only read
        // through `base`, derived from the same allocation.
        let memory = unsafe { RawMemory::from_raw_parts(fenced.base.add(pad), len) };
        (fenced, memory)
    }

    /// Whether every canary is intact.
    fn intact(&self) -> bool {
        // SAFETY: both canary ranges lie inside the leaked buffer, and no
        // allocator owns them, so nothing writes them concurrently.
        unsafe {
            let before = core::slice::from_raw_parts(self.base, self.pad);
            let after = core::slice::from_raw_parts(self.base.add(self.pad + self.len), self.pad);
            before.iter().chain(after).all(|&b| b == CANARY)
        }
    }
}

fn compact(capacity: usize, handles: usize) -> (Fenced, Compact) {
    let (fenced, memory) = Fenced::new(Compact::bytes_for(capacity, handles), 0, 32);
    (fenced, Compact::new(memory, handles))
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// The byte block `id` holds at `i`.
fn pattern(id: u32, i: usize) -> u8 {
    (id as usize * 31 + i * 7 + 1) as u8
}

fn fill(c: &Compact, h: Handle, id: u32) {
    let mut block = c.get_mut(h).expect("fill: block reachable");
    for (i, b) in block.iter_mut().enumerate() {
        *b = pattern(id, i);
    }
}

fn holds(c: &Compact, h: Handle, id: u32) -> bool {
    let block = c.get(h).expect("holds: block reachable");
    block.iter().enumerate().all(|(i, &b)| b == pattern(id, i))
}

/// A deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Live blocks with their pattern ids.
struct Live {
    blocks: Vec<(Handle, u32, usize)>,
    next_id: u32,
}

impl Live {
    fn new() -> Self {
        Live {
            blocks: Vec::new(),
            next_id: 1,
        }
    }

    fn alloc(&mut self, c: &Compact, size: usize, align: usize) -> Option<Handle> {
        let h = c.allocate(layout(size, align)).ok()?;
        let id = self.next_id;
        self.next_id += 1;
        fill(c, h, id);
        self.blocks.push((h, id, align));
        Some(h)
    }

    fn free_at(&mut self, c: &Compact, at: usize) -> Result<(), AllocError> {
        let (h, _, _) = self.blocks[at];
        c.free(h)?;
        self.blocks.swap_remove(at);
        Ok(())
    }

    /// After a `done` defragmentation with nothing pinned: every block
    /// sits at the first place after its predecessor its alignment allows.
    fn packed(&self, c: &Compact) {
        let mut spans: Vec<(usize, usize, usize)> = self
            .blocks
            .iter()
            .map(|&(h, _, align)| {
                (
                    c.get(h).unwrap().as_ptr().addr(),
                    c.len_of(h).unwrap(),
                    align,
                )
            })
            .collect();
        spans.sort_unstable();
        for w in spans.windows(2) {
            let end = w[0].0 + w[0].1.next_multiple_of(8);
            assert_eq!(w[1].0, end.next_multiple_of(w[1].2), "not packed: {w:?}");
        }
    }

    fn verify(&self, c: &Compact) {
        c.check().unwrap();
        for &(h, id, align) in &self.blocks {
            assert!(holds(c, h, id), "block {id} ({h:?}) lost its bytes");
            let pinned = c.get(h).unwrap();
            assert_eq!(pinned.as_ptr().addr() % align, 0, "block {id} misaligned");
            assert!(c.owns(core::ptr::NonNull::new(pinned.as_ptr().cast_mut()).unwrap()));
        }
        // No two live blocks overlap.
        let mut spans: Vec<(usize, usize)> = self
            .blocks
            .iter()
            .map(|&(h, _, _)| {
                let p = c.get(h).unwrap();
                (p.as_ptr().addr(), p.len())
            })
            .collect();
        spans.sort_unstable();
        for w in spans.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "blocks overlap: {w:?}");
        }
    }
}

// ---------------------------------------------------------------------
// Compact: handles.
// ---------------------------------------------------------------------

/// Forged handles (`Handle::from_bits` of any value, another allocator's
/// handles, a live handle with its generation off by one either way) reach
/// nothing: `None` from every read, an `Err` from `free`, nothing changed.
#[test]
fn forged_handles_reach_nothing() {
    let (fence, c) = compact(4096, 8);
    let (_other_fence, other) = compact(4096, 64);
    let mut live = Live::new();
    for size in [24, 100, 8] {
        live.alloc(&c, size, 8).unwrap();
    }
    // The other allocator has handed out slots far past this one's table.
    let mut foreign = Vec::new();
    for _ in 0..40 {
        foreign.push(other.allocate(layout(16, 8)).unwrap());
    }
    let mut forged: Vec<Handle> = [
        0u64,
        u64::MAX,
        u64::MAX - 1,
        1 << 32,
        3 << 32,
        7 << 32,
        8 << 32,
        (u32::MAX as u64) << 32,
        ((u32::MAX - 1) as u64) << 32,
        u32::MAX as u64,
    ]
    .into_iter()
    .map(Handle::from_bits)
    .collect();
    for &(h, _, _) in &live.blocks {
        let bits = h.to_bits();
        forged.push(Handle::from_bits(bits.wrapping_add(1)));
        forged.push(Handle::from_bits(bits.wrapping_sub(1)));
        forged.push(Handle::from_bits(bits ^ (1 << 31)));
    }
    forged.extend(foreign.iter().skip(3));
    let genuine: Vec<Handle> = live.blocks.iter().map(|b| b.0).collect();
    for h in forged {
        if genuine.contains(&h) {
            continue;
        }
        assert!(c.get(h).is_none(), "{h:?}");
        assert!(c.get_mut(h).is_none(), "{h:?}");
        assert!(!c.contains(h), "{h:?}");
        assert!(c.len_of(h).is_none(), "{h:?}");
        assert!(c.pin_all().get(h).is_none(), "{h:?}");
        assert!(c.free(h).is_err(), "{h:?}");
    }
    live.verify(&c);
    assert!(fence.intact());
}

/// A handle whose slot was freed and reused (several times) never reaches
/// the new block, through any path.
#[test]
fn stale_handles_after_slot_reuse_reach_nothing() {
    let (fence, c) = compact(2048, 2);
    let keep = c.allocate(layout(64, 8)).unwrap();
    let mut stale = Vec::new();
    let mut current = c.allocate(layout(32, 8)).unwrap();
    for round in 0..if cfg!(miri) { 8 } else { 50 } {
        fill(&c, current, round);
        c.free(current).unwrap();
        stale.push(current);
        current = c
            .allocate(layout(32 + (round as usize % 3) * 8, 8))
            .unwrap();
        assert_eq!(current.index(), stale[0].index(), "the slot is reused");
        fill(&c, current, 1000 + round);
        for &old in &stale {
            assert!(c.get(old).is_none());
            assert!(c.get_mut(old).is_none());
            assert!(c.pin_all().get(old).is_none());
            assert_eq!(c.free(old), Err(AllocError::DoubleFree));
            assert!(c.len_of(old).is_none());
        }
        assert!(holds(&c, current, 1000 + round));
    }
    // Out of handles: both slots hold blocks.
    assert!(matches!(
        c.allocate(layout(8, 8)),
        Err(AllocError::OutOfHandles { .. })
    ));
    c.free(keep).unwrap();
    c.check().unwrap();
    assert!(fence.intact());
}

// ---------------------------------------------------------------------
// Compact: guards against moves and frees.
// ---------------------------------------------------------------------

/// A fragmented layout: `n` blocks of mixed sizes, every other one freed.
fn fragmented(c: &Compact, n: usize, seed: u64, aligns: &[usize]) -> Live {
    let mut rng = Rng(seed);
    let mut live = Live::new();
    for _ in 0..n {
        let size = 1 + rng.below(90);
        let align = aligns[rng.below(aligns.len())];
        if live.alloc(c, size, align).is_none() {
            break;
        }
    }
    let mut i = 0;
    while i < live.blocks.len() {
        live.free_at(c, i).unwrap();
        i += 1;
    }
    live
}

/// Guards held across `defragment` keep their block's place and bytes; a
/// guarded block cannot be freed; once dropped the block moves with its
/// bytes.
#[test]
fn guards_held_across_defragment_keep_place_and_bytes() {
    let (fence, c) = compact(16 * 1024, 256);
    let live = fragmented(&c, if cfg!(miri) { 20 } else { 120 }, 7, &[8]);
    live.verify(&c);
    let n = live.blocks.len();
    let (a, id_a, _) = live.blocks[n / 4];
    let (b, id_b, _) = live.blocks[n / 2];
    let shared = c.get(a).unwrap();
    let shared_again = c.get(a).unwrap();
    let mut exclusive = c.get_mut(b).unwrap();
    let (pa, pb) = (shared.as_ptr(), exclusive.as_mut_ptr());
    assert!(c.get(b).is_none(), "a writer excludes readers");
    assert!(c.get_mut(a).is_none(), "readers exclude a writer");
    assert_eq!(c.free(a), Err(AllocError::Pinned));
    assert_eq!(c.free(b), Err(AllocError::Pinned));
    let mut steps = 0;
    loop {
        let report = c.defragment(DefragBudget {
            max_bytes: 256,
            max_moves: 3,
        });
        steps += 1;
        // The writer writes between steps: nobody else sees the bytes.
        exclusive[0] = exclusive[0].wrapping_add(0);
        if report.done() || steps > 10_000 {
            break;
        }
    }
    assert_eq!(shared.as_ptr(), pa);
    assert_eq!(exclusive.as_mut_ptr(), pb);
    assert!(
        shared
            .iter()
            .enumerate()
            .all(|(i, &x)| x == pattern(id_a, i))
    );
    assert!(
        exclusive
            .iter()
            .enumerate()
            .all(|(i, &x)| x == pattern(id_b, i))
    );
    drop((shared, shared_again, exclusive));
    let report = c.defragment(DefragBudget::UNLIMITED);
    assert!(report.done());
    assert_eq!(c.compact_stats().holes, 0);
    live.verify(&c);
    assert!(fence.intact());
}

/// `mem::forget` of each kind of guard: the block (or, for a scope, every
/// block) stays pinned forever — never moved, freed or lent mutably — and
/// the allocator stays consistent and usable.
#[test]
fn forgotten_guards_leave_blocks_fixed_forever() {
    let (fence, c) = compact(8192, 64);
    let mut live = fragmented(&c, if cfg!(miri) { 20 } else { 40 }, 11, &[8, 16]);
    let (a, _, _) = live.blocks[1];
    let (b, _, _) = live.blocks[3];
    let pa = c.get(a).unwrap().as_ptr();
    core::mem::forget(c.get(a).unwrap());
    core::mem::forget(c.get_mut(b).unwrap());
    c.defragment(DefragBudget::UNLIMITED);
    live.blocks.retain(|&(h, _, _)| h != b);
    live.verify(&c);
    assert_eq!(c.get(a).unwrap().as_ptr(), pa, "a forgotten pin still pins");
    assert_eq!(c.free(a), Err(AllocError::Pinned));
    assert!(c.get_mut(a).is_none());
    assert!(c.get(b).is_none(), "a forgotten writer still excludes");
    assert_eq!(c.free(b), Err(AllocError::Pinned));

    core::mem::forget(c.pin_all());
    let before: Vec<usize> = live
        .blocks
        .iter()
        .map(|&(h, _, _)| c.get(h).unwrap().as_ptr().addr())
        .collect();
    let (victim, _, _) = live.blocks[0];
    assert_eq!(c.free(victim), Err(AllocError::Pinned));
    assert!(c.get_mut(victim).is_none());
    assert_eq!(c.defragment(DefragBudget::UNLIMITED).blocks_moved, 0);
    let after: Vec<usize> = live
        .blocks
        .iter()
        .map(|&(h, _, _)| c.get(h).unwrap().as_ptr().addr())
        .collect();
    assert_eq!(before, after);
    // Allocation still works (a new block is zero-filled: no `get_mut`).
    let fresh = c.allocate(layout(40, 8)).unwrap();
    assert!(c.get(fresh).unwrap().iter().all(|&x| x == 0));
    c.check().unwrap();
    assert!(fence.intact());
}

// ---------------------------------------------------------------------
// Compact: the progress callback re-entering the allocator.
// ---------------------------------------------------------------------

/// The callback allocates, frees (the block just moved among others),
/// writes, pins, takes scopes and runs nested `defragment` calls with
/// other budgets; every block keeps its bytes and `check` passes after
/// every call.
#[test]
fn a_reentrant_progress_callback_cannot_corrupt_the_allocator() {
    let (fence, c) = compact(24 * 1024, 512);
    let blocks = if cfg!(miri) { 20 } else { 200 };
    let live = core::cell::RefCell::new(fragmented(&c, blocks, 3, &[8, 8, 8, 32, 64]));
    let rng = core::cell::RefCell::new(Rng(99));
    let depth = core::cell::Cell::new(0u32);
    for round in 0..if cfg!(miri) { 2 } else { 40 } {
        let budget = DefragBudget {
            max_bytes: 64 + round * 37,
            max_moves: 1 + round % 5,
        };
        let mut callback = |step: &flight_mem::DefragStep| {
            let action = rng.borrow_mut().below(8);
            match action {
                0 => {
                    let mut live = live.borrow_mut();
                    let at = live.blocks.iter().position(|b| b.0 == step.handle);
                    if let Some(at) = at {
                        live.free_at(&c, at).unwrap();
                    } else {
                        // Freed already (or stale): refused.
                        assert!(c.free(step.handle).is_err());
                    }
                }
                1 => {
                    let size = 1 + rng.borrow_mut().below(120);
                    live.borrow_mut().alloc(&c, size, 16);
                }
                2 => {
                    let mut live = live.borrow_mut();
                    if !live.blocks.is_empty() {
                        let at = rng.borrow_mut().below(live.blocks.len());
                        live.free_at(&c, at).unwrap();
                    }
                }
                3 if depth.get() < 3 => {
                    depth.set(depth.get() + 1);
                    let inner = c.defragment(DefragBudget {
                        max_bytes: 48,
                        max_moves: 2,
                    });
                    assert!(inner.bytes_moved <= 48);
                    depth.set(depth.get() - 1);
                }
                4 => {
                    let scope = c.pin_all();
                    let live = live.borrow();
                    for &(h, id, _) in &live.blocks {
                        let bytes = scope.get(h).unwrap();
                        assert!(bytes.iter().enumerate().all(|(i, &x)| x == pattern(id, i)));
                    }
                    assert_eq!(c.defragment(DefragBudget::UNLIMITED).blocks_moved, 0);
                }
                5 => {
                    // Rewrite the block just moved with its pattern.
                    let live = live.borrow();
                    if let Some(&(h, id, _)) = live.blocks.iter().find(|b| b.0 == step.handle) {
                        fill(&c, h, id);
                    }
                }
                _ => {}
            }
            c.check().unwrap();
        };
        let report = c.defragment_with(budget, &mut callback);
        assert!(report.bytes_moved + report.bytes_abandoned <= budget.max_bytes);
        assert!(report.blocks_moved + report.abandoned <= budget.max_moves);
        live.borrow().verify(&c);
    }
    let report = c.defragment(DefragBudget::UNLIMITED);
    assert!(report.done());
    live.borrow().verify(&c);
    live.borrow().packed(&c);
    assert!(fence.intact());
}

/// The callback pins blocks (shared and exclusive) and keeps the guards
/// past its return, for the rest of the call: later steps and runs of the
/// same call must skip them, and each kept guard's bytes and place hold
/// until the end.
#[test]
fn guards_taken_in_the_callback_and_kept_stay_put() {
    let (fence, c) = compact(16 * 1024, 256);
    let live = fragmented(&c, if cfg!(miri) { 20 } else { 150 }, 31, &[8, 8, 16]);
    let handles: Vec<(Handle, u32)> = live.blocks.iter().map(|b| (b.0, b.1)).collect();
    let mut shared = Vec::new();
    let mut exclusive = Vec::new();
    let mut rng = Rng(77);
    let report = c.defragment_with(DefragBudget::UNLIMITED, |step| {
        // The block just moved, and one picked at random.
        let (h, id) = handles[rng.below(handles.len())];
        if rng.below(2) == 0 {
            if let Some(g) = c.get(step.handle) {
                let id = handles.iter().find(|x| x.0 == step.handle).unwrap().1;
                shared.push((g.as_ptr(), id, g));
            }
        } else if let Some(mut g) = c.get_mut(h) {
            exclusive.push((g.as_mut_ptr().cast_const(), id, g));
        }
    });
    assert!(report.blocks_moved > 0);
    for (p, id, g) in &shared {
        assert_eq!(g.as_ptr(), *p);
        assert!(g.iter().enumerate().all(|(i, &x)| x == pattern(*id, i)));
    }
    for (p, id, g) in &mut exclusive {
        assert_eq!(g.as_mut_ptr().cast_const(), *p);
        assert!(g.iter().enumerate().all(|(i, &x)| x == pattern(*id, i)));
    }
    drop((shared, exclusive));
    assert!(c.defragment(DefragBudget::UNLIMITED).done());
    live.verify(&c);
    live.packed(&c);
    assert!(fence.intact());
}

/// A callback that panics part-way leaves the allocator consistent and
/// usable (the lock is not held while it runs).
#[test]
fn a_panicking_progress_callback_leaves_the_allocator_usable() {
    let (fence, c) = compact(8192, 128);
    let live = fragmented(&c, if cfg!(miri) { 16 } else { 80 }, 5, &[8, 64]);
    let mut calls = 0;
    let result = catch_unwind(AssertUnwindSafe(|| {
        c.defragment_with(DefragBudget::UNLIMITED, |_| {
            calls += 1;
            if calls == 3 {
                panic!("callback gave up");
            }
        })
    }));
    assert!(result.is_err());
    live.verify(&c);
    assert!(c.defragment(DefragBudget::UNLIMITED).done());
    live.verify(&c);
    live.packed(&c);
    assert!(fence.intact());
}

// ---------------------------------------------------------------------
// Compact: slide runs with pins and alignments.
// ---------------------------------------------------------------------

/// Long stretches of touching blocks of mixed alignment behind holes, some
/// pinned, slid in runs under small budgets: bytes, alignment and bounds
/// hold after every call; pinned blocks stay put.
#[test]
fn slide_runs_keep_bytes_alignment_and_pins() {
    let (fence, c) = compact(32 * 1024, 600);
    let mut live = Live::new();
    let mut rng = Rng(0xDEC0DE);
    // Holes first, then a dense tail that slides as runs.
    let holes = if cfg!(miri) { 16 } else { 40 };
    for _ in 0..holes {
        live.alloc(&c, 8 + rng.below(40), 8).unwrap();
    }
    for _ in 0..if cfg!(miri) { 24 } else { 300 } {
        let align = [8, 8, 8, 16, 64, 256][rng.below(6)];
        if live.alloc(&c, 1 + rng.below(60), align).is_none() {
            break;
        }
    }
    for at in (0..holes).rev().step_by(2) {
        live.free_at(&c, at).unwrap();
    }
    let pinned: Vec<(Handle, *const u8)> = live
        .blocks
        .iter()
        .skip(25)
        .step_by(if cfg!(miri) { 11 } else { 37 })
        .map(|&(h, _, _)| (h, c.get(h).unwrap().as_ptr()))
        .collect();
    let guards: Vec<_> = pinned.iter().map(|&(h, _)| c.get(h).unwrap()).collect();
    let budgets: &[usize] = if cfg!(miri) {
        &[60, 1000]
    } else {
        &[8, 60, 200, 1000, 5000]
    };
    for &max_bytes in budgets {
        let report = c.defragment(DefragBudget {
            max_bytes,
            max_moves: 40,
        });
        assert!(report.bytes_moved <= max_bytes);
        live.verify(&c);
        for (g, &(_, p)) in guards.iter().zip(&pinned) {
            assert_eq!(g.as_ptr(), p);
        }
    }
    drop(guards);
    assert!(c.defragment(DefragBudget::UNLIMITED).done());
    live.verify(&c);
    live.packed(&c);
    assert!(fence.intact());
}

/// Readers on other threads pin blocks (one by one and by scope) while
/// this thread slides runs of small touching blocks, frees and allocates:
/// no reader ever sees a torn or foreign block.
#[test]
#[cfg_attr(miri, ignore = "threads: seconds natively, too slow under Miri")]
fn pins_from_other_threads_during_runs_never_tear() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (fence, memory) = Fenced::new(Compact::bytes_for(64 * 1024, 2048), 0, 32);
    let c: &'static Compact = Box::leak(Box::new(Compact::new(memory, 2048)));
    let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    // Each block's bytes are its handle's bits, repeated: a reader can
    // check any block it reaches without shared bookkeeping.
    let stamp = |h: Handle, bytes: &mut [u8]| {
        let key = h.to_bits().to_le_bytes();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = key[i % 8] ^ i as u8;
        }
    };
    let stamped = |h: Handle, bytes: &[u8]| {
        let key = h.to_bits().to_le_bytes();
        bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b == key[i % 8] ^ i as u8)
    };
    let handles: std::sync::Arc<std::sync::Mutex<Vec<Handle>>> = Default::default();
    let readers: Vec<_> = (0..2)
        .map(|t| {
            let handles = handles.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(17 + t);
                let mut seen = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let list = handles.lock().unwrap().clone();
                    if list.is_empty() {
                        continue;
                    }
                    if rng.below(4) == 0 {
                        let scope = c.pin_all();
                        for &h in list.iter().take(64) {
                            if let Some(bytes) = scope.get(h) {
                                assert!(stamped(h, bytes), "scope read a torn block");
                                seen += 1;
                            }
                        }
                    } else {
                        for _ in 0..64 {
                            let h = list[rng.below(list.len())];
                            if let Some(bytes) = c.get(h) {
                                assert!(stamped(h, &bytes), "pin read a torn block");
                                seen += 1;
                            }
                        }
                    }
                }
                seen
            })
        })
        .collect();
    // A writer scribbles over whole blocks and restores their stamp before
    // its guard drops: a move that copied a block mid-write would leave
    // the scribble for the readers to find.
    let writer = {
        let handles = handles.clone();
        std::thread::spawn(move || {
            let mut rng = Rng(1234);
            let mut wrote = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let list = handles.lock().unwrap().clone();
                if list.is_empty() {
                    continue;
                }
                let h = list[rng.below(list.len())];
                if let Some(mut bytes) = c.get_mut(h) {
                    bytes.fill(0xFF);
                    std::hint::black_box(&mut *bytes);
                    stamp(h, &mut bytes);
                    wrote += 1;
                }
            }
            wrote
        })
    };
    // A second defragmenter with another budget: its calls interleave with
    // this thread's, sharing (and invalidating) the planned batches.
    let mover = std::thread::spawn(move || {
        let mut moved = 0;
        while !stop.load(Ordering::Relaxed) {
            let report = c.defragment(DefragBudget {
                max_bytes: 300,
                max_moves: 5,
            });
            assert!(report.bytes_moved + report.bytes_abandoned <= 300);
            moved += report.blocks_moved;
            std::thread::yield_now();
        }
        moved
    });
    let mut rng = Rng(5);
    let mut mine: Vec<Handle> = Vec::new();
    for round in 0..300 {
        for _ in 0..20 {
            if let Ok(h) = c.allocate(layout(1 + rng.below(48), 8)) {
                // A reader's `PinnedAll` makes `get_mut` give way: retry.
                loop {
                    if let Some(mut bytes) = c.get_mut(h) {
                        stamp(h, &mut bytes);
                        break;
                    }
                    std::thread::yield_now();
                }
                mine.push(h);
            }
        }
        for _ in 0..12 {
            if mine.is_empty() {
                break;
            }
            let at = rng.below(mine.len());
            if c.free(mine[at]).is_ok() {
                mine.swap_remove(at);
            }
        }
        *handles.lock().unwrap() = mine.clone();
        c.defragment(DefragBudget {
            max_bytes: 512 + round * 8,
            max_moves: 64,
        });
        if round % 50 == 0 {
            c.check().unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let seen: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    // How much the second defragmenter moved depends on scheduling; its
    // asserts and the readers' are what count.
    let _moved = mover.join().unwrap();
    let _wrote = writer.join().unwrap();
    assert!(seen > 0);
    c.check().unwrap();
    for &h in &mine {
        assert!(stamped(h, &c.get(h).unwrap()));
    }
    assert!(fence.intact());
}

/// A scope taken before blocks are allocated in never-used slots (past
/// what the scope saw initialised) reaches them, zero-filled; a block in a
/// slot freed before the scope and reused during it too; old handles of
/// that slot do not.
#[test]
fn a_scope_reaches_blocks_allocated_after_it_began() {
    let (fence, c) = compact(4096, 16);
    let old = c.allocate(layout(40, 8)).unwrap();
    fill(&c, old, 5);
    c.free(old).unwrap();
    let scope = c.pin_all();
    let reused = c.allocate(layout(24, 8)).unwrap();
    assert_eq!(reused.index(), old.index());
    let fresh: Vec<Handle> = (0..5)
        .map(|n| c.allocate(layout(8 + n * 8, 8)).unwrap())
        .collect();
    assert!(scope.get(old).is_none());
    assert_eq!(scope.get(reused).unwrap(), &[0u8; 24][..]);
    for (n, &h) in fresh.iter().enumerate() {
        let bytes = scope.get(h).unwrap();
        assert_eq!(bytes.len(), 8 + n * 8);
        assert!(bytes.iter().all(|&x| x == 0));
    }
    assert_eq!(c.free(reused), Err(AllocError::Pinned));
    drop(scope);
    c.free(reused).unwrap();
    c.check().unwrap();
    assert!(fence.intact());
}

// ---------------------------------------------------------------------
// Compact: memories and requests at the edges.
// ---------------------------------------------------------------------

/// Memories of every small length at every misalignment, with tables of
/// several sizes: every call is safe, blocks stay inside the memory, and
/// the bytes around it are never touched.
#[test]
fn tiny_and_misaligned_memories_stay_in_bounds() {
    let lens: Vec<usize> = if cfg!(miri) {
        vec![0, 15, 44, 100]
    } else {
        (0..260).collect()
    };
    let misaligns: Vec<usize> = if cfg!(miri) {
        vec![0, 1, 9]
    } else {
        (0..16).collect()
    };
    for &len in &lens {
        for &misalign in &misaligns {
            for handles in [0, 1, 2, 5, 1000] {
                let (fence, memory) = Fenced::new(len, misalign, 16);
                let c = Compact::new(memory, handles);
                assert!(c.max_handles() * Compact::SLOT_SIZE <= len);
                assert!(c.capacity() + c.max_handles() * Compact::SLOT_SIZE <= len);
                let mut live = Live::new();
                let mut size = 1;
                while live.alloc(&c, size, 8).is_some() {
                    size += 3;
                }
                if c.capacity() >= 8 && c.max_handles() > 0 {
                    assert!(!live.blocks.is_empty(), "room for a byte, none given");
                }
                // `check` of a memory without a table is the hole below.
                if c.max_handles() > 0 {
                    live.verify(&c);
                }
                if !live.blocks.is_empty() {
                    live.free_at(&c, 0).unwrap();
                }
                c.defragment(DefragBudget::UNLIMITED);
                if c.max_handles() > 0 {
                    live.verify(&c);
                }
                let _ = c.compact_stats();
                assert!(fence.intact(), "len {len}, misalign {misalign}");
            }
        }
    }
}

/// `check` (and `validate`) of a `Compact` whose memory holds no slot, at
/// an address whose table position aligns down below the memory: it
/// computes the table's offset as `table - memory` and underflows.
#[test]
#[ignore = "HOLE: compact/check.rs:28 `g.table.addr() - self.memory.as_ptr().addr()` underflows (debug panic) when a table of 0 slots aligns down below a misaligned memory"]
fn check_of_a_memory_without_a_table_does_not_panic() {
    // 3 bytes at 1 past a 16-byte boundary: the table (0 slots) would
    // start at byte 3, aligned down to 16: one byte before the memory.
    let (fence, memory) = Fenced::new(3, 1, 16);
    let c = Compact::new(memory, 16);
    assert_eq!((c.max_handles(), c.capacity()), (0, 0));
    let checked = catch_unwind(AssertUnwindSafe(|| c.check()));
    assert!(matches!(checked, Ok(Ok(()))), "check panicked or failed");
    let validated = catch_unwind(AssertUnwindSafe(|| c.validate()));
    assert!(matches!(validated, Ok(Ok(()))));
    assert!(fence.intact());
}

/// Requests at the edges are errors, never panics or blocks past the end.
#[test]
fn edge_requests_are_errors() {
    let (fence, c) = compact(1024, 4);
    let cap = c.capacity();
    assert_eq!(c.allocate(layout(0, 8)), Err(AllocError::ZeroSize));
    assert!(matches!(
        c.allocate(layout(8, 2048)),
        Err(AllocError::AlignmentTooLarge { .. })
    ));
    assert!(matches!(
        c.allocate(layout(8, 1 << 40)),
        Err(AllocError::AlignmentTooLarge { .. })
    ));
    assert!(matches!(
        c.allocate(layout(cap + 1, 8)),
        Err(AllocError::TooLarge { .. })
    ));
    assert!(matches!(
        c.allocate(layout(isize::MAX as usize - 8, 8)),
        Err(AllocError::TooLarge { .. })
    ));
    let whole = c.allocate(layout(cap, 8)).unwrap();
    assert_eq!(c.len_of(whole), Some(cap));
    assert!(matches!(
        c.allocate(layout(1, 1)),
        Err(AllocError::OutOfMemory { .. })
    ));
    c.free(whole).unwrap();
    for budget in [
        DefragBudget {
            max_bytes: 0,
            max_moves: 0,
        },
        DefragBudget {
            max_bytes: usize::MAX,
            max_moves: 0,
        },
        DefragBudget {
            max_bytes: 0,
            max_moves: usize::MAX,
        },
        DefragBudget::bytes(1),
        DefragBudget::UNLIMITED,
    ] {
        let report = c.defragment(budget);
        assert_eq!(report.bytes_moved, 0);
    }
    // Through the generic interface a `Compact` hands out nothing.
    assert_eq!(
        RawAllocator::allocate(&c, layout(8, 8)),
        Err(AllocError::NoAllocator)
    );
    let mut x = 0u8;
    // SAFETY: the pointer is not a block of `c`; `free` refuses every
    // pointer without touching it (documented), and `x` outlives the call.
    let refused = unsafe { RawAllocator::free(&c, core::ptr::NonNull::from(&mut x)) };
    assert_eq!(refused, Err(AllocError::NoAllocator));
    c.check().unwrap();
    assert!(fence.intact());
}

/// Zero-budget defragmentation of a fragmented layout moves nothing and
/// reports honestly; tiny budgets make progress without exceeding them.
#[test]
fn budgets_are_hard_bounds() {
    let (fence, c) = compact(8192, 200);
    let live = fragmented(&c, if cfg!(miri) { 20 } else { 150 }, 23, &[8, 32]);
    let zero = c.defragment(DefragBudget {
        max_bytes: 0,
        max_moves: 10,
    });
    assert_eq!(zero.bytes_moved + zero.blocks_moved, 0);
    let none = c.defragment(DefragBudget {
        max_bytes: 10_000,
        max_moves: 0,
    });
    assert_eq!(none.bytes_moved + none.blocks_moved, 0);
    assert!(!none.done());
    let mut calls = 0;
    loop {
        let r = c.defragment(DefragBudget {
            max_bytes: 96,
            max_moves: 2,
        });
        assert!(r.bytes_moved + r.bytes_abandoned <= 96);
        assert!(r.blocks_moved + r.abandoned <= 2);
        calls += 1;
        if r.done() {
            break;
        }
        assert!(calls < 10_000);
    }
    live.verify(&c);
    assert!(fence.intact());
}

// ---------------------------------------------------------------------
// Per-thread handles.
// ---------------------------------------------------------------------

fn linear(len: usize) -> (Fenced, Linear) {
    let (fence, memory) = Fenced::new(len, 0, 32);
    (fence, Linear::new(memory))
}

/// Local handles, shared scopes that roll back, and a forgotten handle,
/// interleaved: no two live blocks overlap and none is overwritten.
#[test]
fn local_bumps_and_shared_scopes_never_share_bytes() {
    let (fence, lin) = linear(64 * 1024);
    let mut kept: Vec<(*mut u8, usize, u8)> = Vec::new();
    let write = |p: *mut u8, n: usize, v: u8| {
        // SAFETY: `p..p + n` is a live block of `lin`, ours alone.
        unsafe { p.write_bytes(v, n) }
    };
    let a = lin.local();
    let b = lin.local();
    for round in 0..if cfg!(miri) { 12u8 } else { 40 } {
        let size = 8 + round as usize * 5;
        let x = a.allocate(layout(size, 8)).unwrap().cast::<u8>().as_ptr();
        write(x, size, round);
        kept.push((x, size, round));
        // A shared scope allocates and rolls back between local claims.
        lin.scope(|s| {
            let t = s
                .alloc_layout(layout(300, 8))
                .unwrap()
                .cast::<u8>()
                .as_ptr();
            write(t, 300, 0xEE);
        });
        let y = b
            .allocate(layout(size + 3, 16))
            .unwrap()
            .cast::<u8>()
            .as_ptr();
        write(y, size + 3, round ^ 0x80);
        kept.push((y, size + 3, round ^ 0x80));
        if round % 7 == 0 {
            // A forgotten handle keeps its chunk (a leak, not a hazard).
            let lost = lin.local();
            let z = lost.allocate(layout(64, 8)).unwrap().cast::<u8>().as_ptr();
            write(z, 64, round.wrapping_add(0x40));
            kept.push((z, 64, round.wrapping_add(0x40)));
            core::mem::forget(lost);
        }
    }
    drop((a, b));
    lin.scope(|s| {
        let t = s
            .alloc_layout(layout(1000, 8))
            .unwrap()
            .cast::<u8>()
            .as_ptr();
        write(t, 1000, 0xDD);
    });
    for &(p, n, v) in &kept {
        // SAFETY: as above; nothing was reset.
        let bytes = unsafe { core::slice::from_raw_parts(p, n) };
        assert!(bytes.iter().all(|&x| x == v), "block {v} overwritten");
    }
    lin.check().unwrap();
    assert!(fence.intact());
}

/// Nested local scopes used out of order (the outer scope allocating
/// inside the inner one's closure): blocks of the still-open outer scope
/// are never given back early.
#[test]
fn local_scopes_interleaved_keep_the_outer_blocks() {
    let (fence, lin) = linear(16 * 1024);
    let mut local = lin.local();
    local.scope(|outer| {
        let first = outer.alloc_slice_copy(&[1u8; 24]).unwrap();
        let mut later = Vec::new();
        for round in 0..20u8 {
            outer.scope(|inner| {
                let i = inner.alloc_slice_copy(&[0xEEu8; 40]).unwrap();
                // The outer scope allocates while the inner one is open.
                let o = outer.alloc_slice_copy(&[round; 16]).unwrap();
                i.fill(0xEF);
                later.push(o.as_ptr());
            });
            // The inner scope could not roll back over the outer's block:
            // write more and check nothing of the outer's changed.
            outer.scope(|inner| inner.alloc_slice_copy(&[0xCCu8; 64]).unwrap().fill(0xCD));
        }
        assert!(first.iter().all(|&x| x == 1));
        for (round, &p) in later.iter().enumerate() {
            // SAFETY: the outer scope is still open; its blocks are live.
            let bytes = unsafe { core::slice::from_raw_parts(p, 16) };
            assert!(bytes.iter().all(|&x| x == round as u8), "round {round}");
        }
    });
    drop(local);
    lin.check().unwrap();
    assert!(fence.intact());
}

/// Local handles over small and misaligned `Linear`s and `Frames`, with
/// requests of every alignment up to 256 and sizes that straddle the
/// chunk rules (exact claims near the end, direct requests to the shared
/// bump): blocks lie inside the memory, aligned, disjoint, and keep their
/// bytes; the canaries around the memory are intact.
#[test]
fn local_handles_over_small_memories_stay_in_bounds() {
    let lens: &[usize] = if cfg!(miri) {
        &[40, 1500]
    } else {
        &[0, 1, 8, 40, 63, 64, 65, 200, 1024, 1500, 4096, 9000]
    };
    let check = |blocks: &[(*mut u8, usize, u8)], memory: (usize, usize)| {
        let mut sorted: Vec<(usize, usize)> = blocks.iter().map(|b| (b.0.addr(), b.1)).collect();
        sorted.sort_unstable();
        for w in sorted.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "overlap {w:?}");
        }
        for &(p, n, v) in blocks {
            assert!(
                p.addr() >= memory.0 && p.addr() + n <= memory.0 + memory.1,
                "outside"
            );
            // SAFETY: a live block of `n` bytes, written below.
            let bytes = unsafe { core::slice::from_raw_parts(p, n) };
            assert!(bytes.iter().all(|&x| x == v));
        }
    };
    for &len in lens {
        let misaligns: &[usize] = if cfg!(miri) {
            &[0, 3]
        } else {
            &[0, 1, 3, 8, 13]
        };
        for &misalign in misaligns {
            for frames in [0usize, 1, 3] {
                if cfg!(miri) && frames == 1 {
                    continue;
                }
                let (fence, memory) = Fenced::new(len, misalign, 32);
                let span = (memory.as_ptr().addr(), memory.len());
                let linear;
                let framed;
                let local = if frames == 0 {
                    linear = Linear::new(memory);
                    linear.local()
                } else {
                    if len < frames * flight_mem::Frames::RECORD_SIZE {
                        continue;
                    }
                    framed = flight_mem::Frames::new(memory, frames);
                    framed.local()
                };
                let mut rng = Rng(len as u64 * 31 + misalign as u64);
                let mut blocks = Vec::new();
                for i in 0..if cfg!(miri) { 30u32 } else { 200 } {
                    let align = 1 << rng.below(9);
                    let size = [1, 7, 8, 24, 100, 300, 2000][rng.below(7)];
                    let Ok(b) = local.allocate(layout(size, align)) else {
                        continue;
                    };
                    let p = b.cast::<u8>().as_ptr();
                    assert_eq!(p.addr() % align, 0);
                    assert!(b.len() >= size);
                    // SAFETY: a fresh block of at least `size` bytes.
                    unsafe { p.write_bytes(i as u8, size) };
                    blocks.push((p, size, i as u8));
                }
                check(&blocks, span);
                drop(local);
                check(&blocks, span);
                assert!(
                    fence.intact(),
                    "len {len}, misalign {misalign}, frames {frames}"
                );
            }
        }
    }
}

/// A `PoolBox` of another pool freed through a magazine goes back to its
/// own pool; foreign and double frees through a magazine are refused.
#[test]
fn magazines_route_foreign_boxes_and_refuse_bad_frees() {
    use flight_mem::{BlockPool, Pool};
    let (_fa, ma) = Fenced::new(4096, 0, 16);
    let (_fb, mb) = Fenced::new(4096, 0, 16);
    let pa: Pool<[u64; 4]> = Pool::new(ma);
    let pb: Pool<[u64; 4]> = Pool::new(mb);
    let mag = pa.local();
    let foreign = pb.alloc([9; 4]).unwrap();
    let own = mag.alloc([1; 4]).unwrap();
    mag.free(foreign);
    assert_eq!(pb.stats().live, 0, "the foreign box went back to its pool");
    assert!(mag.cached() > 0);
    mag.free(own);
    drop(mag);
    assert_eq!(pa.stats().live, 0);
    pa.check().unwrap();
    pb.check().unwrap();

    let (_fc, mc) = Fenced::new(4096, 0, 16);
    let (_fd, md) = Fenced::new(4096, 0, 16);
    let bp = BlockPool::new(mc, 32, 8);
    let other = BlockPool::new(md, 32, 8);
    let mag = bp.local();
    let x = mag.allocate(layout(32, 8)).unwrap().cast::<u8>();
    let y = other.allocate(layout(32, 8)).unwrap().cast::<u8>();
    // SAFETY: `y` is a live block of `other`; the magazine's documented
    // check refuses it without touching it.
    assert_eq!(unsafe { mag.free(y) }, Err(AllocError::ForeignPointer));
    // SAFETY: `x` came from this pool and is not used again.
    assert_eq!(unsafe { mag.free(x) }, Ok(()));
    // SAFETY: the second free of `x`, ordered after the first: the
    // documented double-free check refuses it.
    assert_eq!(unsafe { mag.free(x) }, Err(AllocError::DoubleFree));
    // SAFETY: as above, through the pool itself while the magazine caches it.
    assert_eq!(unsafe { bp.free(x) }, Err(AllocError::DoubleFree));
    drop(mag);
    bp.check().unwrap();
    // SAFETY: `y` came from `other` and is not used again.
    unsafe { other.free(y) }.unwrap();
}

/// A magazine holding cached slots and live blocks is sent to another
/// thread, used and dropped there; the pool's figures are exact after.
#[test]
fn a_magazine_sent_to_another_thread_returns_everything() {
    use flight_mem::BlockPool;
    let (_f, m) = Fenced::new(8192, 0, 16);
    let pool: &'static BlockPool = Box::leak(Box::new(BlockPool::new(m, 64, 8)));
    let mag = pool.local();
    let kept = mag.allocate(layout(64, 8)).unwrap().cast::<u8>();
    let gone = mag.allocate(layout(64, 8)).unwrap().cast::<u8>();
    // SAFETY: `gone` came from this pool and is not used again.
    unsafe { mag.free(gone) }.unwrap();
    let kept_addr = kept.as_ptr().addr();
    std::thread::spawn(move || {
        let b = mag.allocate(layout(64, 8)).unwrap().cast::<u8>();
        assert_ne!(b.as_ptr().addr(), kept_addr);
        // SAFETY: `b` came from this pool and is not used again.
        unsafe { mag.free(b) }.unwrap();
        drop(mag);
    })
    .join()
    .unwrap();
    assert_eq!(pool.stats().live, 1);
    // SAFETY: `kept` came from this pool and is not used again.
    unsafe { pool.free(kept) }.unwrap();
    assert_eq!(pool.stats().live, 0);
    pool.check().unwrap();
}

/// Blocks cached in a `SmallLocal` keep their slab: `release_empty` does
/// not hand it back to the heap under the cache.
#[test]
fn release_empty_keeps_slabs_whose_blocks_a_handle_caches() {
    // Large enough to reuse a released slab's memory.
    const BIG: usize = 100 * 1024;
    let (fence, memory) = Fenced::new(256 * 1024, 0, 32);
    let front = SmallFront::new(Tlsf::new(memory));
    let l = layout(48, 8);
    let local = front.local();
    let blocks: Vec<_> = (0..6).map(|_| local.allocate(l).unwrap()).collect();
    for b in &blocks {
        // SAFETY: each block came from `local` with `l` and is not used again.
        unsafe { local.free(b.cast(), l) }.unwrap();
    }
    assert!(local.cached() > 0);
    front.release_empty();
    // Handed out again from the cache: its slab must still be ours.
    let again = local.allocate(l).unwrap().cast::<u8>();
    // SAFETY: a live block of 48 bytes.
    unsafe { again.as_ptr().write_bytes(0x5A, 48) };
    let big = front.allocate(layout(BIG, 8)).unwrap().cast::<u8>();
    // SAFETY: a live block of `BIG` bytes.
    unsafe { big.as_ptr().write_bytes(0x11, BIG) };
    // SAFETY: a live block of 48 bytes.
    let kept = unsafe { core::slice::from_raw_parts(again.as_ptr(), 48) };
    assert!(kept.iter().all(|&x| x == 0x5A));
    // SAFETY: each came from this front end with its layout.
    unsafe {
        local.free(again, l).unwrap();
        front.free(big, layout(BIG, 8)).unwrap();
    }
    drop(local);
    front.release_empty();
    front.check().unwrap();
    assert_eq!(front.stats().live, 0);
    assert!(fence.intact());
}

/// Extreme layouts through the small front end, its handle and the
/// compact and bump handles are errors, never panics.
#[test]
fn extreme_layouts_are_errors_everywhere() {
    let (_f, memory) = Fenced::new(128 * 1024, 0, 32);
    let front = SmallFront::new(Tlsf::new(memory));
    let local = front.local();
    let (_g, lm) = Fenced::new(4096, 0, 32);
    let lin = Linear::new(lm);
    let bump = lin.local();
    let huge = [
        layout(isize::MAX as usize - 4096, 1),
        layout(isize::MAX as usize / 2, 1 << 20),
        layout(1, 1 << 30),
        layout(4097, 4096),
        layout(4096, 8192),
        layout(0, 1 << 20),
    ];
    for l in huge {
        let r = catch_unwind(AssertUnwindSafe(|| {
            (
                front.allocate(l).is_err(),
                local.allocate(l).is_err(),
                bump.allocate(l).is_err(),
            )
        }));
        let (a, b, c) = r.unwrap_or_else(|_| panic!("{l:?} panicked"));
        if l.size() > 128 * 1024 || l.align() > 128 * 1024 {
            assert!(a && b && c, "{l:?} served");
        }
    }
    drop((local, bump));
    front.check().unwrap();
    lin.check().unwrap();
}

/// A `SmallFront` over a `Stack` (a `RawAllocator` that frees only its top
/// block) returning an empty slab that is not on top: the stack refuses,
/// and `release_empty` (a safe call with no error to return) must neither
/// panic nor forget the slab's memory.
#[test]
#[ignore = "HOLE: Class::release debug_asserts the backing heap's free; a Stack backing refuses OutOfOrder and safe release_empty panics (debug builds)"]
fn release_empty_over_a_stack_backing_does_not_panic() {
    let (fence, memory) = Fenced::new(320 * 1024, 0, 32);
    let front = SmallFront::new(Stack::new(memory));
    let small = layout(16, 8);
    let large = layout(1024, 8);
    // Two slabs, of two classes: the first is below the second on the stack.
    let a = front.allocate(small).unwrap().cast::<u8>();
    let b = front.allocate(large).unwrap().cast::<u8>();
    // SAFETY: `a` came from `front` with `small` and is not used again. Its
    // slab empties and is kept (one empty slab per class).
    unsafe { front.free(a, small) }.unwrap();
    let released = catch_unwind(AssertUnwindSafe(|| front.release_empty()));
    assert!(released.is_ok(), "release_empty panicked");
    // SAFETY: `b` came from `front` with `large` and is not used again.
    unsafe { front.free(b, large) }.unwrap();
    front.check().unwrap();
    assert!(fence.intact());
}

// ---------------------------------------------------------------------
// Tlsf.
// ---------------------------------------------------------------------

/// Requests at the edges are errors; the documented free checks refuse
/// pointers outside the region, off a payload boundary, and a second free.
#[test]
fn tlsf_edges_and_refused_frees() {
    let (fence, memory) = Fenced::new(8192, 3, 32);
    let heap = Tlsf::new(memory);
    assert!(heap.allocate(layout(0, 8)).is_err());
    assert!(heap.allocate(layout(8, 1 << 20)).is_err());
    assert!(heap.allocate(layout(isize::MAX as usize - 64, 8)).is_err());
    assert!(heap.allocate(layout(heap.capacity() + 1, 8)).is_err());
    let a = heap.allocate(layout(100, 64)).unwrap().cast::<u8>();
    assert_eq!(a.as_ptr().addr() % 64, 0);
    let b = heap.allocate(layout(40, 8)).unwrap().cast::<u8>();
    let c = heap.allocate(layout(40, 8)).unwrap().cast::<u8>();
    // SAFETY: (all frees below) each pointer is either a block of `heap`
    // freed once, or one the documented O(1) checks refuse without writing
    // (outside the region, off an 8-byte payload boundary, already free
    // with no reuse in between).
    unsafe {
        let mut outside = 0u64;
        assert!(
            heap.free(core::ptr::NonNull::from(&mut outside).cast())
                .is_err()
        );
        assert!(heap.free(b.add(3)).is_err());
        heap.free(b).unwrap();
        assert_eq!(heap.free(b), Err(AllocError::DoubleFree));
        // `c` merges with the free `b` in front of it; `b`'s old header now
        // lies inside a free block.
        heap.free(c).unwrap();
        assert!(heap.free(b).is_err());
        assert!(heap.free(c).is_err());
        heap.free(a).unwrap();
        assert!(heap.free(a).is_err());
    }
    heap.check().unwrap();
    assert_eq!(heap.stats().live, 0);
    assert!(fence.intact());
}

/// Many alignments and sizes in a small heap, with allocator_api2 vectors
/// growing through the default grow (allocate, copy, free): bytes survive
/// and nothing leaves the region.
#[test]
fn tlsf_vectors_grow_and_shrink_in_bounds() {
    use flight_mem::allocator_api2::vec::Vec as ApiVec;
    let (fence, memory) = Fenced::new(16 * 1024, 5, 32);
    // `&'static Tlsf` is the allocator type collections take.
    let heap: &'static Tlsf = Box::leak(Box::new(Tlsf::new(memory)));
    let mut vecs: Vec<ApiVec<u32, &Tlsf>> = (0..6).map(|_| ApiVec::new_in(heap)).collect();
    for i in 0..if cfg!(miri) { 150 } else { 600 } {
        let v = &mut vecs[i % 6];
        if v.try_reserve(1).is_ok() {
            v.push(i as u32);
        }
        if i % 97 == 0 {
            v.shrink_to_fit();
        }
    }
    for (k, v) in vecs.iter().enumerate() {
        assert!(v.iter().all(|&x| x as usize % 6 == k));
    }
    drop(vecs);
    heap.check().unwrap();
    assert_eq!(heap.stats().live, 0);
    assert!(fence.intact());
}

/// `Tlsf`, `Buddy` and `FreeList` (the heaps behind the locked wrapper)
/// over memories of every small length at every misalignment: blocks stay
/// inside, aligned and disjoint, the bytes around the memory are
/// untouched, and everything comes back.
#[test]
fn locked_heaps_over_tiny_and_misaligned_memories_stay_in_bounds() {
    tiny_heaps(Tlsf::new);
    tiny_heaps(flight_mem::Buddy::new);
    tiny_heaps(flight_mem::FreeList::new);
}

fn tiny_heaps<H: RawAllocator>(make: fn(RawMemory) -> H) {
    let lens: Vec<usize> = if cfg!(miri) {
        vec![0, 24, 41, 300]
    } else {
        (0..400).step_by(3).collect()
    };
    let misaligns: &[usize] = if cfg!(miri) {
        &[5]
    } else {
        &[0, 1, 4, 7, 8, 13]
    };
    for &len in &lens {
        for &misalign in misaligns {
            let (fence, memory) = Fenced::new(len, misalign, 32);
            let span = (memory.as_ptr().addr(), memory.len());
            let heap = make(memory);
            let mut blocks = Vec::new();
            let mut rng = Rng(len as u64 ^ 0x55);
            for i in 0..if cfg!(miri) { 16u8 } else { 40 } {
                let l = layout(1 + rng.below(48), 1 << rng.below(7));
                let Ok(b) = heap.allocate(l) else { continue };
                let p = b.cast::<u8>().as_ptr();
                assert_eq!(p.addr() % l.align(), 0);
                assert!(p.addr() >= span.0 && p.addr() + b.len() <= span.0 + span.1);
                // SAFETY: a fresh block of `b.len()` bytes.
                unsafe { p.write_bytes(i, b.len()) };
                blocks.push((p, b.len(), i));
                if rng.below(3) == 0 {
                    let (p, _, _) = blocks.swap_remove(rng.below(blocks.len()));
                    // SAFETY: a live block of `heap`, not used again.
                    unsafe { heap.free(core::ptr::NonNull::new(p).unwrap()) }.unwrap();
                }
            }
            for &(p, n, v) in &blocks {
                // SAFETY: a live block of `n` bytes.
                let bytes = unsafe { core::slice::from_raw_parts(p, n) };
                assert!(bytes.iter().all(|&x| x == v));
            }
            for (p, _, _) in blocks {
                // SAFETY: a live block of `heap`, not used again.
                unsafe { heap.free(core::ptr::NonNull::new(p).unwrap()) }.unwrap();
            }
            heap.check().unwrap();
            assert_eq!(heap.stats().live, 0);
            assert!(fence.intact(), "len {len}, misalign {misalign}");
        }
    }
}
