//! Loom models of the per-thread bump handles (`Linear::local`): two handles
//! claiming, extending and retiring chunks concurrently, and a handle racing
//! a shared scope's rollback, never hand out overlapping live blocks, and
//! the statistics are exact once every handle is gone.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p flight-mem --test loom_local --release`.
#![cfg(loom)]

mod loom_support;

mod common;

use std::alloc::Layout;

use flight_mem::Linear;
use loom::sync::Arc;
use loom::thread;
use loom_support::{Registry, builder};

const BLOCK: Layout = match Layout::from_size_align(8, 8) {
    Ok(layout) => layout,
    Err(_) => panic!(),
};

/// 256 bytes: handles claim 32-byte chunks (an eighth of the memory), so
/// five blocks make a thread claim or extend a second chunk.
const MEMORY: usize = 256;

/// Two handles allocate five and three blocks (each claims at least one
/// chunk, the first one extends or claims a second) and drop: disjoint
/// blocks, and exact counts afterwards in every interleaving.
#[test]
fn two_handles_claim_and_retire_chunks() {
    let leaked = common::Leaked::new(MEMORY, 64);
    builder().check(move || {
        let linear = Arc::new(Linear::new(
            // SAFETY: the previous execution's allocator is gone.
            unsafe { leaked.memory() },
        ));
        let registry = Arc::new(Registry::default());
        let spawn = |name: &'static str, blocks: usize| {
            let (linear, registry) = (linear.clone(), registry.clone());
            thread::spawn(move || {
                let local = linear.local();
                for _ in 0..blocks {
                    registry.add(local.allocate(BLOCK).unwrap(), name);
                }
            })
        };
        let first = spawn("first", 5);
        let second = spawn("second", 3);
        first.join().unwrap();
        second.join().unwrap();

        linear.check().unwrap();
        let stats = linear.stats();
        assert_eq!((stats.live, stats.allocations), (8, 8));
        assert_eq!(stats.requested, 64);
        // What stayed beyond the blocks is tails that could not go back.
        assert!(stats.used >= 64 && stats.used <= MEMORY);
    });
}

/// A handle claims chunks while another thread rolls a shared scope back:
/// the rollback never releases the handle's chunk, and the handle's scope
/// gives back only its own bytes.
#[test]
fn handle_and_shared_scope_race() {
    let leaked = common::Leaked::new(MEMORY, 64);
    builder().check(move || {
        let linear = Arc::new(Linear::new(
            // SAFETY: the previous execution's allocator is gone.
            unsafe { leaked.memory() },
        ));
        let registry = Arc::new(Registry::default());

        let scoped = {
            let (linear, registry) = (linear.clone(), registry.clone());
            thread::spawn(move || {
                linear.scope(|scope| {
                    let a = registry.add(scope.alloc_layout(BLOCK).unwrap(), "shared scope");
                    registry.remove(&a);
                });
                registry.add(linear.allocate(BLOCK).unwrap(), "shared, after")
            })
        };
        let local = {
            let (linear, registry) = (linear.clone(), registry.clone());
            thread::spawn(move || {
                let mut local = linear.local();
                let kept = registry.add(local.allocate(BLOCK).unwrap(), "handle");
                local.scope(|scope| {
                    let b = registry.add(scope.alloc_layout(BLOCK).unwrap(), "handle scope");
                    registry.remove(&b);
                });
                registry.add(local.allocate(BLOCK).unwrap(), "handle, after scope");
                kept
            })
        };
        scoped.join().unwrap();
        local.join().unwrap();

        registry.add(linear.allocate(BLOCK).unwrap(), "main");
        linear.check().unwrap();
        let stats = linear.stats();
        // Blocks: the shared scope's (rolled back or not), the shared one
        // after it, the handle's two kept and its scope's (always given back
        // to the handle), and main's.
        assert_eq!(stats.allocations, 6);
        assert!(stats.deallocations == 1 || stats.deallocations == 2);
        assert_eq!(stats.live as u64, stats.allocations - stats.deallocations);
        assert_eq!(stats.requested, 8 * stats.live);
    });
}
