//! Loom models of the lock-free bump (`Linear`, and `Frames` through the same
//! core): threads allocating raw blocks and rolling scopes back concurrently
//! never get overlapping live blocks, and a rollback never releases another
//! thread's block.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p flight-mem --test loom_bump --release`.
#![cfg(loom)]

mod loom_support;

mod common;

use std::alloc::Layout;

use flight_mem::{Frames, Linear};
use loom::sync::Arc;
use loom::thread;
use loom_support::{Registry, builder};

const BLOCK: Layout = match Layout::from_size_align(8, 8) {
    Ok(layout) => layout,
    Err(_) => panic!(),
};

/// One thread allocates two blocks in a scope and then a raw block, the other
/// allocates a raw block: the raw block survives the scope's rollback.
#[test]
fn scope_rollback_spares_a_concurrent_raw_block() {
    // Every execution builds a fresh allocator over the same leaked bytes;
    // loom runs executions one at a time.
    let leaked = common::Leaked::new(64, 64);
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
                    let a = registry.add(scope.alloc_layout(BLOCK).unwrap(), "scope");
                    let b = registry.add(scope.alloc_layout(BLOCK).unwrap(), "scope");
                    registry.remove(&a);
                    registry.remove(&b);
                });
                registry.add(linear.allocate(BLOCK).unwrap(), "scope thread, after")
            })
        };
        let raw = {
            let (linear, registry) = (linear.clone(), registry.clone());
            thread::spawn(move || registry.add(linear.allocate(BLOCK).unwrap(), "raw"))
        };
        scoped.join().unwrap();
        raw.join().unwrap();

        // After both: one more block must fit beside the two live ones.
        registry.add(linear.allocate(BLOCK).unwrap(), "main");
        let stats = linear.stats();
        linear.check().unwrap();
        assert_eq!(stats.allocations, 5);
        assert_eq!(stats.live as u64, stats.allocations - stats.deallocations);
        // Either the scope rolled back both blocks or neither.
        assert!(stats.deallocations == 0 || stats.deallocations == 2);
        assert!(stats.used >= 3 * 8);
    });
}

/// Two threads each roll back a scope (one of them nested) while the main
/// thread allocates a raw block.
#[test]
fn concurrent_scopes_roll_back_only_their_own_blocks() {
    let leaked = common::Leaked::new(64, 64);
    builder().check(move || {
        let linear = Arc::new(Linear::new(
            // SAFETY: the previous execution's allocator is gone.
            unsafe { leaked.memory() },
        ));
        let registry = Arc::new(Registry::default());

        let spawn_scope = |name: &'static str, nested: bool| {
            let (linear, registry) = (linear.clone(), registry.clone());
            thread::spawn(move || {
                linear.scope(|scope| {
                    let a = registry.add(scope.alloc_layout(BLOCK).unwrap(), name);
                    if nested {
                        scope.scope(|inner| {
                            let b = registry.add(inner.alloc_layout(BLOCK).unwrap(), name);
                            registry.remove(&b);
                        });
                    }
                    registry.remove(&a);
                });
            })
        };
        let first = spawn_scope("first", true);
        let second = spawn_scope("second", false);
        registry.add(linear.allocate(BLOCK).unwrap(), "main");
        first.join().unwrap();
        second.join().unwrap();

        registry.add(linear.allocate(BLOCK).unwrap(), "main, after");
        linear.check().unwrap();
        let stats = linear.stats();
        assert_eq!(stats.live as u64, stats.allocations - stats.deallocations);
        assert!(stats.live >= 2);
    });
}

/// A scope in the current frame races `next_frame`: its rollback must not
/// touch the new frame, where another thread's raw block lives.
#[test]
fn scope_never_rolls_back_another_frame() {
    let leaked = common::Leaked::new(128, 64);
    builder().check(move || {
        let frames = Arc::new(Frames::new(
            // SAFETY: the previous execution's allocator is gone.
            unsafe { leaked.memory() },
            2,
        ));
        let registry = Arc::new(Registry::default());

        let scoped = {
            let (frames, registry) = (frames.clone(), registry.clone());
            thread::spawn(move || {
                frames.scope(|scope| {
                    let a = registry.add(scope.alloc_layout(BLOCK).unwrap(), "scope");
                    registry.remove(&a);
                });
            })
        };
        let advancing = {
            let (frames, registry) = (frames.clone(), registry.clone());
            thread::spawn(move || {
                // SAFETY: frame 1, the one reset, holds no block yet.
                unsafe { frames.next_frame() };
                registry.add(frames.allocate(BLOCK).unwrap(), "raw, after next_frame")
            })
        };
        scoped.join().unwrap();
        advancing.join().unwrap();

        registry.add(frames.allocate(BLOCK).unwrap(), "main");
        frames.check().unwrap();
        assert_eq!(frames.current_frame(), 1);
        let stats = frames.stats();
        assert_eq!(stats.live as u64, stats.allocations - stats.deallocations);
    });
}

/// A scope with alignment padding races `next_frame` and a raw allocation:
/// once every thread is done, the derived statistics (`allocations`,
/// `requested` from the padding, `peak` from the recorded offsets) are exact
/// in every interleaving.
#[test]
fn stats_are_exact_after_a_scope_races_next_frame() {
    const BYTE: Layout = Layout::new::<u8>();
    let leaked = common::Leaked::new(256, 64);
    builder().check(move || {
        let frames = Arc::new(Frames::new(
            // SAFETY: the previous execution's allocator is gone.
            unsafe { leaked.memory() },
            2,
        ));
        let registry = Arc::new(Registry::default());

        let scoped = {
            let (frames, registry) = (frames.clone(), registry.clone());
            thread::spawn(move || {
                frames.scope(|scope| {
                    // One byte, then an 8-aligned block: 7 bytes of padding
                    // whenever both land in the same frame.
                    let a = registry.add(scope.alloc_layout(BYTE).unwrap(), "scope");
                    let b = registry.add(scope.alloc_layout(BLOCK).unwrap(), "scope");
                    registry.remove(&a);
                    registry.remove(&b);
                });
            })
        };
        let advancing = {
            let (frames, registry) = (frames.clone(), registry.clone());
            thread::spawn(move || {
                // SAFETY: frame 1, the one reset, holds no block yet.
                unsafe { frames.next_frame() };
                registry.add(frames.allocate(BLOCK).unwrap(), "raw, after next_frame")
            })
        };
        scoped.join().unwrap();
        advancing.join().unwrap();

        frames.check().unwrap();
        let stats = frames.stats();
        assert_eq!(stats.allocations, 3);
        assert_eq!(stats.failures, 0);
        // The scope's two blocks were reclaimed together or not at all.
        let scope_live = match stats.deallocations {
            0 => true,
            2 => false,
            other => panic!("{other} blocks reclaimed"),
        };
        assert_eq!(stats.live, if scope_live { 3 } else { 1 });
        assert_eq!(stats.requested, if scope_live { 1 + 8 + 8 } else { 8 });
        // Frame 1 starts aligned and the raw block is 8 bytes, so the bytes
        // beyond the requested ones are the scope's padding, if it is live.
        assert!(stats.used - stats.requested <= 7);
        // Without a rollback `used` never went down (frame 1 was empty when
        // reset); a rolled-back scope held its 16 bytes in one frame, beside
        // at most the raw block.
        if scope_live {
            assert_eq!(stats.peak, stats.used);
        } else {
            assert!((16..=16 + 8).contains(&stats.peak), "peak {}", stats.peak);
        }
    });
}
