//! Loom models of the pool magazines (`BlockPool::local`; under loom a
//! magazine holds 4 slots and moves batches of 2): two threads refilling
//! and flushing their magazines concurrently never own one slot at once
//! (each slot has a loom cell that panics on unordered accesses), and every
//! slot and count comes back once the magazines drop.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p flight-mem --test loom_magazine --release`.
#![cfg(loom)]

mod loom_support;

use std::alloc::Layout;
use std::ptr::NonNull;

use flight_mem::BlockMagazine;
use loom::thread;
use loom_support::Fixture;

impl Fixture {
    fn alloc(&self, magazine: &BlockMagazine<'_>, me: u32) -> Option<NonNull<u8>> {
        let block = magazine.allocate(Layout::new::<u64>()).ok()?.cast::<u8>();
        // Loom panics if the previous owner's access is not ordered before.
        self.shadows[self.slot(block)].with_mut(|owner| {
            // SAFETY: exclusive access is what the model checks.
            unsafe {
                assert_eq!(*owner, 0, "slot handed out twice");
                *owner = me;
            }
        });
        Some(block)
    }

    fn free(&self, magazine: &BlockMagazine<'_>, block: NonNull<u8>, me: u32) {
        self.shadows[self.slot(block)].with_mut(|owner| {
            // SAFETY: as above.
            unsafe {
                assert_eq!(*owner, me, "slot owned by two threads");
                *owner = 0;
            }
        });
        // SAFETY: allocated by this thread, freed once.
        unsafe { magazine.free(block) }.unwrap();
    }
}

fn builder() -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder
}

/// Three slots, two magazines: each thread allocates two blocks (a batch
/// refill, then the cache or a second refill that may find the other's
/// flushed slots), frees them and drops its magazine (a flush).
#[test]
fn two_magazines_refill_and_flush() {
    builder().check(|| {
        let fixture = Fixture::new(3);
        let spawn = |me: u32| {
            let fixture = fixture.clone();
            thread::spawn(move || {
                let magazine = fixture.pool.local();
                let mut held = Vec::new();
                for _ in 0..2 {
                    if let Some(block) = fixture.alloc(&magazine, me) {
                        held.push(block);
                    }
                }
                for block in held.drain(..) {
                    fixture.free(&magazine, block, me);
                }
                // Once more from the cache after the frees.
                let again = fixture.alloc(&magazine, me).expect("a cached slot");
                fixture.free(&magazine, again, me);
            })
        };
        let first = spawn(1);
        let second = spawn(2);
        first.join().unwrap();
        second.join().unwrap();

        let stats = fixture.pool.stats();
        assert_eq!((stats.live, stats.used), (0, 0));
        assert_eq!(stats.allocations, stats.deallocations);
        fixture.pool.check().unwrap();
        // Every slot is back: the main thread takes all three.
        let main = fixture.pool.local();
        let all: Vec<_> = (0..3).map(|_| fixture.alloc(&main, 9).unwrap()).collect();
        assert!(main.allocate(Layout::new::<u8>()).is_err());
        for block in all {
            fixture.free(&main, block, 9);
        }
    });
}

/// A magazine's flush races the pool's own allocation and free (a batch push
/// against a single pop and push).
#[test]
fn flush_races_shared_calls() {
    builder().check(|| {
        let fixture = Fixture::new(4);
        let cached = {
            let fixture = fixture.clone();
            thread::spawn(move || {
                let magazine = fixture.pool.local();
                let a = fixture.alloc(&magazine, 1);
                let b = fixture.alloc(&magazine, 1);
                for block in [a, b].into_iter().flatten() {
                    fixture.free(&magazine, block, 1);
                }
            })
        };
        let block = fixture
            .pool
            .allocate(Layout::new::<u64>())
            .unwrap()
            .cast::<u8>();
        fixture.shadows[fixture.slot(block)].with_mut(|owner| {
            // SAFETY: exclusive access is what the model checks.
            unsafe {
                assert_eq!(*owner, 0, "slot handed out twice");
                *owner = 2;
            }
        });
        fixture.shadows[fixture.slot(block)].with_mut(|owner| {
            // SAFETY: as above.
            unsafe { *owner = 0 };
        });
        // SAFETY: allocated just above, freed once.
        unsafe { fixture.pool.free(block) }.unwrap();
        cached.join().unwrap();

        let stats = fixture.pool.stats();
        assert_eq!(
            (stats.live, stats.allocations, stats.deallocations),
            (0, 3, 3)
        );
        fixture.pool.check().unwrap();
    });
}

/// A pool of 33 slots, so that the spread fresh order leaves index order
/// (slots 0, 16, 32, 1, 17, …): two magazines take fresh batches
/// concurrently, one thread frees through its magazine and the other through
/// the pool (whose "never handed out" check compares the slot's code with
/// the fresh code), so both directions of the order race the fresh counter.
#[test]
fn spread_fresh_batches_race() {
    builder().check(|| {
        let fixture = Fixture::new(33);
        let spawn = |me: u32| {
            let fixture = fixture.clone();
            thread::spawn(move || {
                let magazine = fixture.pool.local();
                let block = fixture.alloc(&magazine, me).expect("a fresh slot");
                if me == 1 {
                    fixture.free(&magazine, block, me);
                } else {
                    fixture.shadows[fixture.slot(block)].with_mut(|owner| {
                        // SAFETY: exclusive access is what the model checks.
                        unsafe {
                            assert_eq!(*owner, me, "slot owned by two threads");
                            *owner = 0;
                        }
                    });
                    // SAFETY: allocated by this thread, freed once.
                    unsafe { fixture.pool.free(block) }.unwrap();
                }
            })
        };
        let first = spawn(1);
        let second = spawn(2);
        first.join().unwrap();
        second.join().unwrap();
        let stats = fixture.pool.stats();
        assert_eq!((stats.live, stats.used), (0, 0));
        assert_eq!(stats.allocations, stats.deallocations);
        fixture.pool.check().unwrap();
    });
}
