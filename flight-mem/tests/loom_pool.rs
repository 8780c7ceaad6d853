//! Loom models of the pool's lock-free free stack: every interleaving of a
//! few threads allocating and freeing, including the ABA scenario.
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
//!     cargo test -p flight-mem --test loom_pool --release
//! ```
//!
//! Each slot has a shadow `loom::cell::UnsafeCell` that its owner writes on
//! acquiring the slot and reads before freeing it. Loom reports any two
//! accesses to a shadow cell that are not ordered by happens-before, so a
//! slot handed to two owners at once, or handed on without the previous
//! owner's accesses being visible (too weak a memory ordering), fails the
//! model.
#![cfg(loom)]

mod loom_support;

use std::alloc::Layout;
use std::ptr::NonNull;

use flight_mem::AllocError;
use loom::sync::Arc;
use loom::thread;
use loom_support::{BLOCK, Fixture};

impl Fixture {
    fn alloc(&self, me: u32) -> Option<NonNull<u8>> {
        let block = self.pool.allocate(Layout::new::<u64>()).ok()?.cast::<u8>();
        let slot = (block.as_ptr() as usize - self.base) / BLOCK;
        // Loom panics if a previous owner's access is not ordered before.
        self.shadows[slot].with_mut(|owner| {
            // SAFETY: exclusive access is what the model checks.
            unsafe { *owner = me };
        });
        Some(block)
    }

    fn free(&self, block: NonNull<u8>, me: u32) {
        let slot = (block.as_ptr() as usize - self.base) / BLOCK;
        self.shadows[slot].with_mut(|owner| {
            // SAFETY: as above.
            unsafe {
                assert_eq!(*owner, me, "slot owned by two threads");
                *owner = 0;
            }
        });
        // SAFETY: allocated by `alloc` of this thread, freed once.
        unsafe { self.pool.free(block) }.unwrap();
    }

    /// Asserts every slot came back: all can be taken at once, no more.
    fn assert_all_free(&self) {
        let stats = self.pool.stats();
        assert_eq!((stats.live, stats.used, stats.requested), (0, 0, 0));
        assert_eq!(stats.allocations, stats.deallocations);
        self.pool.check().unwrap();
        let all: Vec<_> = (0..self.shadows.len())
            .map(|_| self.alloc(99).unwrap())
            .collect();
        assert!(self.pool.allocate(Layout::new::<u8>()).is_err());
        for block in all {
            self.free(block, 99);
        }
    }
}

#[test]
fn two_threads_alloc_and_free() {
    loom::model(|| {
        let fixture = Fixture::new(2);
        let other = Arc::clone(&fixture);
        let worker = thread::spawn(move || {
            for _ in 0..2 {
                let block = other.alloc(1).unwrap();
                other.free(block, 1);
            }
        });
        for _ in 0..2 {
            let block = fixture.alloc(2).unwrap();
            fixture.free(block, 2);
        }
        worker.join().unwrap();
        fixture.assert_all_free();
    });
}

#[test]
fn aba_pop_races_pop_pop_push() {
    loom::model(|| {
        let fixture = Fixture::new(3);
        // Use every slot once so all further traffic goes through the stack:
        // it holds 2 -> 1 -> 0 (top first).
        let warm: Vec<_> = (0..3).map(|_| fixture.alloc(7).unwrap()).collect();
        for block in warm {
            fixture.free(block, 7);
        }
        let a = Arc::clone(&fixture);
        // A reads the head (2, next 1) and may be preempted before its CAS.
        let thread_a = thread::spawn(move || {
            let block = a.alloc(1).unwrap();
            a.free(block, 1);
        });
        // B pops two and pushes the first back: 2 is on top again, now
        // above 0. A stale CAS installing 1 would hand 1 out twice.
        let first = fixture.alloc(2).unwrap();
        let second = fixture.alloc(2);
        fixture.free(first, 2);
        if let Some(second) = second {
            fixture.free(second, 2);
        }
        thread_a.join().unwrap();
        fixture.assert_all_free();
    });
}

#[test]
fn exhaustion_with_more_threads_than_slots() {
    loom::model(|| {
        let fixture = Fixture::new(1);
        let workers: Vec<_> = (1..=2)
            .map(|me| {
                let f = Arc::clone(&fixture);
                thread::spawn(move || match f.alloc(me) {
                    Some(block) => {
                        f.free(block, me);
                        1
                    }
                    None => 0,
                })
            })
            .collect();
        let granted: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
        let stats = fixture.pool.stats();
        assert!(granted >= 1, "one thread must get the only slot");
        assert_eq!(stats.allocations, granted);
        assert_eq!(stats.failures, 2 - granted);
        fixture.assert_all_free();
    });
}

#[test]
fn racing_double_free_is_detected_once() {
    loom::model(|| {
        let fixture = Fixture::new(2);
        let block = fixture
            .pool
            .allocate(Layout::new::<u64>())
            .unwrap()
            .cast::<u8>();
        let address = block.as_ptr() as usize;
        let other = Arc::clone(&fixture);
        let racer = thread::spawn(move || {
            let block = NonNull::new(address as *mut u8).unwrap();
            // SAFETY: a deliberate racing double free the pool must refuse.
            unsafe { other.pool.free(block) }
        });
        // SAFETY: as above.
        let mine = unsafe { fixture.pool.free(block) };
        let theirs = racer.join().unwrap();
        let mut outcomes = [mine, theirs];
        outcomes.sort_by_key(|r| r.is_err());
        assert_eq!(outcomes, [Ok(()), Err(AllocError::DoubleFree)]);
        fixture.assert_all_free();
    });
}

#[test]
fn pop_races_pushes_only() {
    // The pop tag does not count pushes: a popper that read the head must
    // still fail its CAS when only pushes happened meanwhile (they change
    // the top and the depth), and the stats must come out exact.
    loom::model(|| {
        let fixture = Fixture::new(3);
        // Slot 0 free on the stack; slots 1 and 2 held by the main thread.
        let held: Vec<_> = (0..3).map(|_| fixture.alloc(7).unwrap()).collect();
        let mut held = held.into_iter();
        fixture.free(held.next().unwrap(), 7);
        let (one, two) = (held.next().unwrap(), held.next().unwrap());
        // Hand the two held slots to the main thread's identity 2.
        for block in [one, two] {
            let slot = (block.as_ptr() as usize - fixture.base) / BLOCK;
            // SAFETY: no other thread exists yet.
            fixture.shadows[slot].with_mut(|owner| unsafe { *owner = 2 });
        }
        let a = Arc::clone(&fixture);
        let popper = thread::spawn(move || {
            let block = a.alloc(1).unwrap();
            a.free(block, 1);
        });
        fixture.free(one, 2);
        fixture.free(two, 2);
        popper.join().unwrap();
        let stats = fixture.pool.stats();
        assert_eq!((stats.allocations, stats.deallocations), (4, 4));
        assert_eq!(stats.peak, 3 * BLOCK);
        fixture.assert_all_free();
    });
}
