//! Loom models of the locked heaps' lock (acquired with one swap, released
//! with a store): two threads' critical sections never overlap, and each
//! sees the other's writes (acquire/release), whatever the interleaving;
//! and two threads allocating and freeing through one `Tlsf` never get
//! overlapping live blocks and leave its counters exact.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p flight-mem --test loom_lock --release`.
#![cfg(loom)]

mod loom_support;

mod common;

use std::alloc::Layout;

use flight_mem::__private::LoomLock;
use flight_mem::Tlsf;
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use loom_support::{Registry, builder};

/// Each thread increments a counter inside the lock as a read, an atomic
/// step (a point where loom may run the other thread: not a yield, which
/// loom would take for waiting on the spinner) and a write. Loom's cell
/// panics on any two accesses not ordered by happens-before (a section
/// overlapping another, or a release the next acquire does not see), and
/// a lost update would leave the count short.
#[test]
fn critical_sections_exclude_each_other() {
    builder().check(|| {
        let lock = Arc::new(LoomLock::new(UnsafeCell::new(0u32)));
        let step = Arc::new(AtomicUsize::new(0));
        let bump = |lock: &LoomLock<UnsafeCell<u32>>, step: &AtomicUsize| {
            eprintln!("{:?} acquire", thread::current().id());
            lock.with(|count| {
                eprintln!("{:?} in", thread::current().id());
                // SAFETY: (of the test) loom checks this access itself.
                let seen = count.with(|count| unsafe { *count });
                step.fetch_add(1, Ordering::Relaxed);
                // SAFETY: (of the test) loom checks this access itself.
                count.with_mut(|count| unsafe { *count = seen + 1 });
            })
        };
        let other = {
            let (lock, step) = (lock.clone(), step.clone());
            thread::spawn(move || {
                bump(&lock, &step);
                bump(&lock, &step);
            })
        };
        bump(&lock, &step);
        eprintln!("main joins");
        other.join().unwrap();
        eprintln!("main joined");
        // SAFETY: (of the test) loom checks this access itself.
        let total = lock.with(|count| count.with(|count| unsafe { *count }));
        assert_eq!(total, 3);
    });
}

/// Two threads allocate and free through one `Tlsf` (the lazy build
/// included: the first call of either thread builds the heap).
#[test]
fn two_threads_share_a_tlsf() {
    let leaked = common::Leaked::new(512, 16);
    let mut b = builder();
    b.max_branches = 100_000;
    b.check(move || {
        let tlsf = Arc::new(Tlsf::new(
            // SAFETY: the previous execution's heap is gone.
            unsafe { leaked.memory() },
        ));
        let registry = Arc::new(Registry::default());
        let work = |tlsf: &Tlsf, registry: &Registry, owner: &'static str, align: usize| {
            let layout = Layout::from_size_align(24, align).unwrap();
            let a = tlsf.allocate(layout).unwrap();
            let a_range = registry.add(a, owner);
            let b = tlsf.allocate(layout).unwrap();
            registry.add(b, owner);
            registry.remove(&a_range);
            // SAFETY: `a` came from this heap and is not used again.
            unsafe { tlsf.free(a.cast()).unwrap() };
        };
        let other = {
            let (tlsf, registry) = (tlsf.clone(), registry.clone());
            thread::spawn(move || work(&tlsf, &registry, "spawned", 32))
        };
        work(&tlsf, &registry, "main", 8);
        other.join().unwrap();
        tlsf.check().unwrap();
        let stats = tlsf.stats();
        assert_eq!((stats.allocations, stats.deallocations), (4, 2));
        assert_eq!(stats.requested, 2 * 24);
    });
}
