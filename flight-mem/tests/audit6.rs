//! Session-6 adversarial audit of `Compact` (added in sessions 4 and 5)
//! through its public safe API: forged and stale handles, guards held across
//! moves and forgotten, re-entrant and panicking progress callbacks, slide
//! runs with pins and alignments, other threads pinning, writing and
//! defragmenting, tiny and misaligned memories, edge requests and budgets.
//! Each test asserts the safe outcome (an `Err`, a `None`, unchanged bytes,
//! a passing `check`); Miri runs the file. The per-thread handles and heaps
//! are in `audit6_heaps.rs`.

mod audit6_support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use audit6_support::{Fenced, Rng, layout};
use flight_mem::{AllocError, Compact, DefragBudget, Handle, RawAllocator};

fn compact(capacity: usize, handles: usize) -> (Fenced, Compact) {
    let (fenced, memory) = Fenced::new(Compact::bytes_for(capacity, handles), 0, 32);
    (fenced, Compact::new(memory, handles))
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
/// computed the table's offset as `table - memory`, which underflowed (a
/// debug-build panic) until the offset saturated.
#[test]
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
        c.allocate(layout(8, 1 << (usize::BITS - 2))),
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
