//! Loom models of `Compact`'s pin-versus-move protocol: every interleaving
//! of a reader (or writer, or freer) with a thread that defragments, and of
//! a `PinnedAll` scope's plain-load reads with a move, a free and a writer
//! (the fence protocol of the `scope` module).
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
//!     cargo test -p flight-mem --test loom_compact --release
//! ```
//!
//! Under loom the mover copies in 16-byte chunks with a scheduling point
//! between them, and the reader here checks its bytes in chunks with
//! scheduling points too, so loom runs the reader in the middle of a move.
//! Block contents depend on the position, so a read of a half-moved block —
//! or of the new place before the copy is published, or of the old place
//! after it is reused — fails the content check. Loom's weak-memory model of
//! the atomics catches an offset read with too weak an ordering the same way.
#![cfg(loom)]

use std::alloc::Layout;
// Plain std atomics: counters across loom's runs, outside the model.
use std::sync::atomic::{AtomicUsize, Ordering};

use flight_mem::{AllocError, Compact, DefragBudget, Handle, RawMemory};
use loom::sync::Arc;
use loom::thread;

fn byte(version: u8, i: usize) -> u8 {
    version.wrapping_mul(31).wrapping_add(i as u8 * 7)
}

/// A compact region holding a `hole`-byte free range followed by a block of
/// `len` bytes with version-1 content; returns it and the block's handle.
/// A hole at least as long as the block makes a non-overlapping move; a
/// shorter one a slide over itself (`FROZEN`).
fn fixture(hole: usize, len: usize) -> (Arc<Compact>, Handle) {
    let (compact, blocks) = fixture_with(256, hole, &[(len, 1)]);
    (compact, blocks[0])
}

/// A compact region of `capacity` data bytes holding a `hole`-byte free
/// range followed by touching blocks of `(length, content version)`;
/// returns it and the blocks' handles in address order.
fn fixture_with(
    capacity: usize,
    hole: usize,
    blocks: &[(usize, u8)],
) -> (Arc<Compact>, Vec<Handle>) {
    let bytes = Compact::bytes_for(capacity, 4);
    // Loom's atomics are larger than the real ones and may need more
    // alignment; `bytes_for` is computed with them.
    let layout = Layout::from_size_align(bytes, 64).unwrap();
    // SAFETY: non-zero size; leaked and given to one allocator.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!ptr.is_null());
    // SAFETY: as above.
    let compact = Compact::new(unsafe { RawMemory::from_raw_parts(ptr, bytes) }, 4);
    let l = |n| Layout::from_size_align(n, 8).unwrap();
    let gap = compact.allocate(l(hole)).unwrap();
    let handles: Vec<Handle> = blocks
        .iter()
        .map(|&(len, version)| {
            let handle = compact.allocate(l(len)).unwrap();
            let mut guard = compact.get_mut(handle).unwrap();
            for (i, b) in guard.iter_mut().enumerate() {
                *b = byte(version, i);
            }
            handle
        })
        .collect();
    compact.free(gap).unwrap();
    (Arc::new(compact), handles)
}

fn read(compact: &Compact, handle: Handle) -> Option<u8> {
    let pin = compact.get(handle)?;
    Some(check(&pin))
}

/// Reads the block twice through one pin, as `read` does: a pin taken
/// while a copy is still going on would see the copy overwrite bytes it
/// read, on one pass or the other.
fn read_twice(compact: &Compact, handle: Handle) -> Option<u8> {
    let pin = compact.get(handle)?;
    let version = check(&pin);
    thread::yield_now();
    assert_eq!(check(&pin), version, "pinned bytes changed");
    Some(version)
}

/// Reads the block through a `PinnedAll` scope taken here, as `read` does.
fn read_scoped(compact: &Compact, handle: Handle) -> Option<u8> {
    let scope = compact.pin_all();
    let bytes = scope.get(handle)?;
    Some(check(bytes))
}

/// Checks `bytes` chunk by chunk with scheduling points between chunks;
/// returns the one version they hold.
fn check(bytes: &[u8]) -> u8 {
    let version = (0..=255u8).find(|&v| byte(v, 0) == bytes[0]).unwrap();
    for (chunk, part) in bytes.chunks(16).enumerate() {
        for (j, &b) in part.iter().enumerate() {
            assert_eq!(b, byte(version, chunk * 16 + j), "torn read");
        }
        thread::yield_now();
    }
    version
}

fn offset(compact: &Compact, handle: Handle) -> usize {
    compact.get(handle).unwrap().as_ptr() as usize
}

/// A move into a separate range races a reader: the reader's pin is
/// honoured by abandoning the move, or the reader sees the block before or
/// after the move — always whole.
#[test]
fn reader_races_a_non_overlapping_move() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    static ABANDONED: AtomicUsize = AtomicUsize::new(0);
    loom::model(|| {
        RUNS.fetch_add(1, Ordering::Relaxed);
        let (compact, handle) = fixture(48, 48);
        let before = offset(&compact, handle);
        let reader = {
            let compact = compact.clone();
            thread::spawn(move || read(&compact, handle))
        };
        let report = compact.defragment(DefragBudget::UNLIMITED);
        // Reuse whatever the move freed (the old place, if it committed):
        // allocation zero-fills it, which a reader still reading there
        // would see.
        let reuse = compact
            .allocate(Layout::from_size_align(48, 8).unwrap())
            .unwrap();
        assert_eq!(reader.join().unwrap(), Some(1), "a live block was refused");
        compact.free(reuse).unwrap();
        // Pinned before the move started (skipped), during the copy
        // (abandoned), or not at all.
        assert_eq!(
            report.blocks_moved + report.abandoned + report.skipped_pinned,
            1
        );
        let after = offset(&compact, handle);
        if report.blocks_moved == 1 {
            assert_eq!(after, before - 48);
        } else {
            assert_eq!(after, before, "an abandoned move left the block in place");
        }
        assert_eq!(read(&compact, handle), Some(1));
        compact.check().unwrap();
        ABANDONED.fetch_add(report.abandoned, Ordering::Relaxed);
    });
    // Loom's exploration is deterministic: it must have reached both ends.
    let (runs, abandoned) = (
        RUNS.load(Ordering::Relaxed),
        ABANDONED.load(Ordering::Relaxed),
    );
    assert!(
        abandoned > 0 && abandoned < runs,
        "{abandoned} of {runs} runs abandoned"
    );
}

/// A slide over itself races a reader: the reader waits for it (never
/// refused, never torn).
#[test]
fn reader_races_an_overlapping_move() {
    loom::model(|| {
        let (compact, handle) = fixture(16, 48);
        let reader = {
            let compact = compact.clone();
            thread::spawn(move || read(&compact, handle))
        };
        let report = compact.defragment(DefragBudget::UNLIMITED);
        assert_eq!(reader.join().unwrap(), Some(1));
        // A frozen move cannot be abandoned; a pin taken before it starts
        // makes the defragmenter skip the block instead.
        assert_eq!(report.abandoned, 0);
        assert_eq!(report.blocks_moved + report.skipped_pinned, 1);
        assert_eq!(read(&compact, handle), Some(1));
        compact.check().unwrap();
    });
}

/// A writer races a move: either it is refused (the move holds the block)
/// or its new version survives the move whole.
#[test]
fn writer_races_a_move() {
    loom::model(|| {
        let (compact, handle) = fixture(16, 32);
        let writer = {
            let compact = compact.clone();
            thread::spawn(move || {
                let mut guard = compact.get_mut(handle)?;
                for (i, b) in guard.iter_mut().enumerate() {
                    *b = byte(2, i);
                    if i % 16 == 15 {
                        thread::yield_now();
                    }
                }
                Some(())
            })
        };
        let report = compact.defragment(DefragBudget::UNLIMITED);
        let wrote = writer.join().unwrap().is_some();
        assert_eq!(report.blocks_moved + report.skipped_pinned, 1);
        assert_eq!(read(&compact, handle), Some(if wrote { 2 } else { 1 }));
        compact.check().unwrap();
    });
}

/// A free races a reader: the free is refused while the pin lives, or the
/// reader finds the handle stale — never bytes of a freed block.
#[test]
fn free_races_a_reader() {
    loom::model(|| {
        let (compact, handle) = fixture(16, 32);
        let reader = {
            let compact = compact.clone();
            thread::spawn(move || read(&compact, handle))
        };
        let freed = compact.free(handle);
        let seen = reader.join().unwrap();
        match freed {
            Ok(()) => assert!(seen.is_none() || seen == Some(1)),
            Err(err) => {
                assert_eq!(err, AllocError::Pinned);
                assert_eq!(seen, Some(1));
                compact.free(handle).unwrap();
            }
        }
        assert!(compact.get(handle).is_none());
        compact.check().unwrap();
    });
}

/// A `PinnedAll` scope races a move (into a separate range, or over the
/// block itself): the mover sees the scope and skips the block, or the
/// scope's read waits for the move and reads the block at its new place —
/// whole either way, and never the old place after it is reused.
#[test]
fn scope_races_a_move() {
    static MOVED: AtomicUsize = AtomicUsize::new(0);
    static SKIPPED: AtomicUsize = AtomicUsize::new(0);
    // Into a separate range (48 bytes: readers may pin during the copy;
    // 32 bytes: at most loom's `FREEZE_MAX`, frozen from the start), and
    // over itself.
    for (hole, len) in [(48, 48), (32, 32), (16, 48)] {
        loom::model(move || {
            let (compact, handle) = fixture(hole, len);
            let reader = {
                let compact = compact.clone();
                thread::spawn(move || read_scoped(&compact, handle))
            };
            let report = compact.defragment(DefragBudget::UNLIMITED);
            // Reuse whatever the move freed: zero-filled, which a scope
            // still reading there would see.
            let reuse = compact.allocate(Layout::from_size_align(16, 8).unwrap());
            assert_eq!(reader.join().unwrap(), Some(1), "a live block was refused");
            assert_eq!(report.abandoned, 0, "scopes never let a copy start");
            assert_eq!(report.blocks_moved + report.skipped_pinned, 1);
            MOVED.fetch_add(report.blocks_moved, Ordering::Relaxed);
            SKIPPED.fetch_add(report.skipped_pinned, Ordering::Relaxed);
            if let Ok(reuse) = reuse {
                compact.free(reuse).unwrap();
            }
            assert_eq!(read_scoped(&compact, handle), Some(1));
            compact.check().unwrap();
        });
    }
    // Both outcomes were explored.
    assert!(MOVED.load(Ordering::Relaxed) > 0 && SKIPPED.load(Ordering::Relaxed) > 0);
}

/// A free races a `PinnedAll` scope: refused while the scope may read the
/// block, or the scope finds the handle stale — never bytes of a freed and
/// reused block.
#[test]
fn scope_races_a_free() {
    loom::model(|| {
        let (compact, handle) = fixture(16, 32);
        let reader = {
            let compact = compact.clone();
            thread::spawn(move || read_scoped(&compact, handle))
        };
        let freed = compact.free(handle);
        // Reuse the bytes if they were freed (zero-filled).
        let reuse = freed.is_ok().then(|| {
            compact
                .allocate(Layout::from_size_align(32, 8).unwrap())
                .unwrap()
        });
        let seen = reader.join().unwrap();
        match freed {
            Ok(()) => assert!(seen.is_none() || seen == Some(1)),
            Err(err) => {
                assert_eq!(err, AllocError::Pinned);
                assert_eq!(seen, Some(1));
                compact.free(handle).unwrap();
            }
        }
        if let Some(reuse) = reuse {
            compact.free(reuse).unwrap();
        }
        assert!(read_scoped(&compact, handle).is_none());
        compact.check().unwrap();
    });
}

/// A writer races a `PinnedAll` scope: the scope reads one whole version
/// (or none while a writer's mark is up); the writer is refused while the
/// scope lives, or holds the block before the scope reads.
#[test]
fn scope_races_a_writer() {
    loom::model(|| {
        let (compact, handle) = fixture(16, 32);
        let reader = {
            let compact = compact.clone();
            thread::spawn(move || read_scoped(&compact, handle))
        };
        let wrote = match compact.get_mut(handle) {
            Some(mut guard) => {
                for (i, b) in guard.iter_mut().enumerate() {
                    *b = byte(2, i);
                    if i % 16 == 15 {
                        thread::yield_now();
                    }
                }
                true
            }
            None => false,
        };
        let seen = reader.join().unwrap();
        // A writer that got the block did so before the scope began (the
        // scope then sees it held, or its whole write); a writer refused
        // was refused because of the scope, which reads the old version
        // or, if it looked while the refused writer's mark was up, nothing.
        if wrote {
            assert!(matches!(seen, None | Some(2)), "{seen:?}");
        } else {
            assert!(matches!(seen, None | Some(1)), "{seen:?}");
        }
        assert_eq!(read(&compact, handle), Some(if wrote { 2 } else { 1 }));
        compact.check().unwrap();
    });
}

/// An evacuation (a move out of the planner's window into a hole below the
/// block before it, which changes the address order) races a reader: the
/// pin is honoured by skipping or abandoning the move, or the reader sees
/// the block whole before or after it.
#[test]
fn reader_races_an_evacuation() {
    static ABANDONED: AtomicUsize = AtomicUsize::new(0);
    static EVACUATED: AtomicUsize = AtomicUsize::new(0);
    loom::model(|| {
        // [free 48][a 48][b 48][free to the end]: evacuating b into the
        // first 48 bytes moves 48 bytes; sliding would move 96. b is longer
        // than loom's `FREEZE_MAX` (32 bytes), so readers may pin it during
        // the copy and the move is then abandoned.
        let (compact, blocks) = fixture_with(256, 48, &[(48, 3), (48, 1)]);
        let (a, b) = (blocks[0], blocks[1]);
        let l = |n| Layout::from_size_align(n, 8).unwrap();
        let before = offset(&compact, b);
        let reader = {
            let compact = compact.clone();
            thread::spawn(move || read(&compact, b))
        };
        let report = compact.defragment(DefragBudget::UNLIMITED);
        // Reuse what the move freed: zero-filled.
        let reuse = compact.allocate(l(48)).unwrap();
        assert_eq!(reader.join().unwrap(), Some(1), "a live block was refused");
        compact.free(reuse).unwrap();
        // Evacuated into the first hole; or, once the reader's pin made
        // the planner route around b, slid down behind a (or left in place
        // if pinned throughout).
        let after = offset(&compact, b);
        assert!(
            [before - 96, before - 48, before].contains(&after),
            "{report}"
        );
        if after == before - 96 {
            EVACUATED.fetch_add(1, Ordering::Relaxed);
        }
        assert_eq!(read(&compact, b), Some(1));
        assert_eq!(read(&compact, a), Some(3));
        compact.check().unwrap();
        ABANDONED.fetch_add(report.abandoned, Ordering::Relaxed);
    });
    // Both a committed and an abandoned evacuation were explored.
    assert!(ABANDONED.load(Ordering::Relaxed) > 0 && EVACUATED.load(Ordering::Relaxed) > 0);
}

/// A run of two touching blocks slides down with one copy (the `slide`
/// module) while a reader pins the second: the reader's pin makes the run
/// end before that block (which then stays, skipped as pinned, or slides
/// alone once the pin is gone), or the reader waits for the run's copy and
/// reads the block at its new place — whole either way.
#[test]
fn reader_races_a_run_of_slides() {
    static BOTH_MOVED: AtomicUsize = AtomicUsize::new(0);
    static SKIPPED: AtomicUsize = AtomicUsize::new(0);
    loom::model(|| {
        // [free 16][a 32][b 32][free to the end]: the free space after b is
        // already most of it, so the defragmenter slides (no window), and
        // a and b touch and move by the same 16 bytes: one run.
        let (compact, blocks) = fixture_with(1024, 16, &[(32, 3), (32, 1)]);
        let (a, b) = (blocks[0], blocks[1]);
        let l = |n| Layout::from_size_align(n, 8).unwrap();
        let (a_before, b_before) = (offset(&compact, a), offset(&compact, b));
        let reader = {
            let compact = compact.clone();
            thread::spawn(move || read_twice(&compact, b))
        };
        let report = compact.defragment(DefragBudget::UNLIMITED);
        // Reuse what the moves freed: zero-filled, which a reader still
        // reading an old place would see.
        let reuse = compact.allocate(l(16)).unwrap();
        assert_eq!(reader.join().unwrap(), Some(1), "a live block was refused");
        compact.free(reuse).unwrap();
        assert_eq!(
            report.abandoned, 0,
            "runs and slides over themselves freeze"
        );
        assert_eq!(offset(&compact, a), a_before - 16);
        let b_after = offset(&compact, b);
        if report.blocks_moved == 2 {
            assert_eq!(b_after, b_before - 16);
            BOTH_MOVED.fetch_add(1, Ordering::Relaxed);
        } else {
            assert_eq!((report.blocks_moved, report.skipped_pinned), (1, 1));
            assert_eq!(b_after, b_before);
            SKIPPED.fetch_add(1, Ordering::Relaxed);
        }
        assert_eq!(read(&compact, a), Some(3));
        assert_eq!(read(&compact, b), Some(1));
        compact.check().unwrap();
    });
    assert!(BOTH_MOVED.load(Ordering::Relaxed) > 0 && SKIPPED.load(Ordering::Relaxed) > 0);
}

/// A short move into a separate range (at most loom's `FREEZE_MAX` of 32
/// bytes) is frozen from its first compare-and-swap: a reader that comes
/// during the copy waits for it and reads the block at its new place (no
/// abandoned move, no second compare-and-swap), and the flags are cleared
/// by a plain store that must not lose a pin — whole either way.
#[test]
fn reader_races_a_short_move() {
    static MOVED: AtomicUsize = AtomicUsize::new(0);
    static SKIPPED: AtomicUsize = AtomicUsize::new(0);
    loom::model(|| {
        let (compact, handle) = fixture(32, 32);
        let before = offset(&compact, handle);
        let reader = {
            let compact = compact.clone();
            thread::spawn(move || read_twice(&compact, handle))
        };
        let report = compact.defragment(DefragBudget::UNLIMITED);
        // Reuse the old place if the move freed it: zero-filled, which a
        // reader still reading there would see.
        let reuse = compact
            .allocate(Layout::from_size_align(32, 8).unwrap())
            .unwrap();
        assert_eq!(reader.join().unwrap(), Some(1), "a live block was refused");
        compact.free(reuse).unwrap();
        assert_eq!(report.abandoned, 0, "a frozen move is never abandoned");
        assert_eq!(report.blocks_moved + report.skipped_pinned, 1);
        let after = offset(&compact, handle);
        if report.blocks_moved == 1 {
            assert_eq!(after, before - 32);
        } else {
            assert_eq!(after, before);
        }
        MOVED.fetch_add(report.blocks_moved, Ordering::Relaxed);
        SKIPPED.fetch_add(report.skipped_pinned, Ordering::Relaxed);
        // The pin count the store left is right: the reader's pin is gone,
        // so the block can be lent mutably and freed.
        assert!(compact.get_mut(handle).is_some());
        assert_eq!(read(&compact, handle), Some(1));
        compact.check().unwrap();
    });
    assert!(MOVED.load(Ordering::Relaxed) > 0 && SKIPPED.load(Ordering::Relaxed) > 0);
}

/// `[free 64][a 96][b 32][c 32][free 32]`: the planner evacuates b and c
/// into the first hole, one batch, both short (loom's `FREEZE_MAX` is 32):
/// one group (the `group` module) that marks both, fences once and copies
/// one after the other. Two 16-byte chunks each, so a reader's check
/// yields in the middle of a block.
fn group_fixture() -> (Arc<Compact>, Handle, Handle) {
    let (compact, blocks) = fixture_with(256, 64, &[(96, 3), (32, 1), (32, 2)]);
    (compact, blocks[1], blocks[2])
}

/// Allocates the largest free range (zero-filled) until nothing is free or
/// no handle is left: the fixtures have 4 handles, so whole ranges rather
/// than small blocks, and every free byte is reused.
fn fill(compact: &Compact) -> Vec<Handle> {
    std::iter::from_fn(|| {
        let largest = compact.stats().largest_free;
        (largest > 0)
            .then(|| {
                compact
                    .allocate(Layout::from_size_align(largest, 8).unwrap())
                    .ok()
            })
            .flatten()
    })
    .collect()
}

/// A reader pins the second block of a group of evacuations: its pin makes
/// the group end before that block (skipped as pinned, moved later or
/// not), or it waits while the group's copies run and reads the block at
/// its new place — whole either way, never an abandoned move.
#[test]
fn reader_races_a_group_of_evacuations() {
    static GROUPED: AtomicUsize = AtomicUsize::new(0);
    static SKIPPED: AtomicUsize = AtomicUsize::new(0);
    loom::model(|| {
        let (compact, b, c) = group_fixture();
        let reader = {
            let compact = compact.clone();
            thread::spawn(move || read_twice(&compact, c))
        };
        let mut steps = Vec::new();
        let report =
            compact.defragment_with(DefragBudget::UNLIMITED, |s| steps.push((s.handle, s.to)));
        // Reuse what the moves freed (b's old place): zero-filled. A pin
        // keeps c where it is, so its old place needs no check here.
        let reuse = compact
            .allocate(Layout::from_size_align(32, 8).unwrap())
            .unwrap();
        assert_eq!(reader.join().unwrap(), Some(2), "a live block was refused");
        compact.free(reuse).unwrap();
        assert_eq!(report.abandoned, 0, "a group is frozen");
        if steps.starts_with(&[(b, 0), (c, 32)]) {
            GROUPED.fetch_add(1, Ordering::Relaxed);
        }
        SKIPPED.fetch_add(report.skipped_pinned, Ordering::Relaxed);
        assert_eq!(read(&compact, b), Some(1));
        assert_eq!(read(&compact, c), Some(2));
        assert!(compact.get_mut(c).is_some(), "a pin count left behind");
        compact.check().unwrap();
    });
    assert!(GROUPED.load(Ordering::Relaxed) > 0 && SKIPPED.load(Ordering::Relaxed) > 0);
}

/// A `PinnedAll` scope races a group of evacuations: the group's one fence
/// after its marks sees the scope and undoes every mark (nothing moves),
/// or the scope's read waits for the copies and reads the block at its
/// new place — and never the old place after it is reused.
#[test]
fn scope_races_a_group_of_evacuations() {
    static MOVED: AtomicUsize = AtomicUsize::new(0);
    static SKIPPED: AtomicUsize = AtomicUsize::new(0);
    loom::model(|| {
        let (compact, b, c) = group_fixture();
        let reader = {
            let compact = compact.clone();
            thread::spawn(move || read_scoped(&compact, c))
        };
        let report = compact.defragment(DefragBudget::UNLIMITED);
        // Reuse every free byte (zero-filled), wherever the moves left
        // them: a scope still reading an old place would see zeros.
        let reuse = fill(&compact);
        assert_eq!(reader.join().unwrap(), Some(2), "a live block was refused");
        assert_eq!(report.abandoned, 0, "scopes never let a copy start");
        MOVED.fetch_add(report.blocks_moved, Ordering::Relaxed);
        SKIPPED.fetch_add(report.skipped_pinned, Ordering::Relaxed);
        for h in reuse {
            compact.free(h).unwrap();
        }
        assert_eq!(read_scoped(&compact, b), Some(1));
        assert_eq!(read_scoped(&compact, c), Some(2));
        compact.check().unwrap();
    });
    assert!(MOVED.load(Ordering::Relaxed) > 0 && SKIPPED.load(Ordering::Relaxed) > 0);
}
