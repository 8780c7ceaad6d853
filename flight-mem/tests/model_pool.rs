//! Model tests of `Pool<T>`: raw sequences against the shared model, typed
//! `PoolBox` sequences with drop-counting values (every value dropped exactly
//! once, a full pool gives the value back), and misuse of `free`.
// Statics need const constructors, which loom builds do not have.
#![cfg(not(loom))]

mod common;

use std::alloc::Layout;
use std::cell::RefCell;
use std::ptr::NonNull;
use std::rc::Rc;

use common::{leak_memory, ops, run_model};
use flight_mem::{AllocError, AllocatorKind, Arena, Pool, PoolBox, RawAllocator, RawMemory};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(if cfg!(miri) { 5 } else { 256 })
}

const MAX_OPS: usize = if cfg!(miri) { 24 } else { 300 };

fn pool<T>(count: usize) -> Pool<T> {
    Pool::new(leak_memory(
        Pool::<T>::bytes_for(count),
        align_of::<T>().max(1),
    ))
}

/// 32 bytes aligned to 8 on every target (`u64` is 4-aligned on i686).
#[repr(C, align(8))]
struct Block([u8; 32]);

/// A value that records its drops; `id` tells values apart.
struct Tracked {
    id: usize,
    payload: [u64; 3],
    drops: Rc<RefCell<Vec<u32>>>,
}

impl Tracked {
    fn new(id: usize, drops: &Rc<RefCell<Vec<u32>>>) -> Self {
        drops.borrow_mut().push(0);
        assert_eq!(drops.borrow().len(), id + 1);
        Self {
            id,
            payload: [id as u64; 3],
            drops: Rc::clone(drops),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert_eq!(
            self.payload, [self.id as u64; 3],
            "value corrupted in its slot"
        );
        self.drops.borrow_mut()[self.id] += 1;
    }
}

#[derive(Clone, Debug)]
enum BoxOp {
    Alloc,
    Drop(usize),
    Mutate(usize),
    RoundTripRaw(usize),
    IntoInner(usize),
    Leak(usize),
}

fn box_ops() -> impl Strategy<Value = Vec<BoxOp>> {
    let op = prop_oneof![
        6 => Just(BoxOp::Alloc),
        3 => any::<usize>().prop_map(BoxOp::Drop),
        2 => any::<usize>().prop_map(BoxOp::Mutate),
        1 => any::<usize>().prop_map(BoxOp::RoundTripRaw),
        1 => any::<usize>().prop_map(BoxOp::IntoInner),
        1 => any::<usize>().prop_map(BoxOp::Leak),
    ];
    proptest::collection::vec(op, 0..MAX_OPS)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn raw_sequences_match_the_model(
        count in 1usize..32,
        ops in ops(40, 3, 3, 0..MAX_OPS),
    ) {
        let pool = pool::<Block>(count);
        prop_assert_eq!(pool.slots(), count);
        let model = run_model(&pool, &ops);
        // A request fits a slot unless it is larger than `Block`.
        let fitting = ops.iter().filter(|op| matches!(op, common::Op::Alloc { size, .. } if *size <= 32)).count();
        prop_assert!(model.allocations as usize <= fitting);
        prop_assert_eq!(pool.stats().used, 0);
        prop_assert_eq!(pool.available(), count);
    }

    #[test]
    fn every_value_is_dropped_exactly_once(count in 1usize..16, ops in box_ops()) {
        let pool = pool::<Tracked>(count);
        let drops = Rc::new(RefCell::new(Vec::new()));
        let mut boxes: Vec<PoolBox<'_, Tracked>> = Vec::new();
        let mut leaked = Vec::new();
        let mut pending_drop = Vec::new();
        for op in ops {
            match op {
                BoxOp::Alloc => {
                    let id = drops.borrow().len();
                    match pool.alloc(Tracked::new(id, &drops)) {
                        Ok(value) => {
                            prop_assert!(boxes.len() + leaked.len() < count);
                            prop_assert_eq!(value.id, id);
                            boxes.push(value);
                        }
                        Err(value) => {
                            // Full: the very value comes back, undropped.
                            prop_assert_eq!(boxes.len() + leaked.len(), count);
                            prop_assert_eq!(value.id, id);
                            prop_assert_eq!(drops.borrow()[id], 0);
                            pending_drop.push(value);
                        }
                    }
                }
                BoxOp::Drop(pick) if !boxes.is_empty() => {
                    let value = boxes.swap_remove(pick % boxes.len());
                    let id = value.id;
                    drop(value);
                    prop_assert_eq!(drops.borrow()[id], 1);
                }
                BoxOp::Mutate(pick) if !boxes.is_empty() => {
                    let len = boxes.len();
                    let value = &mut boxes[pick % len];
                    value.payload[1] = 7;
                    prop_assert_eq!(value.payload[1], 7);
                    value.payload[1] = value.id as u64;
                }
                BoxOp::RoundTripRaw(pick) if !boxes.is_empty() => {
                    let index = pick % boxes.len();
                    let value = boxes.swap_remove(index);
                    let raw = PoolBox::into_raw(value);
                    prop_assert_eq!(pool.len(), boxes.len() + leaked.len() + 1);
                    // SAFETY: `raw` came from `into_raw` on this pool, once.
                    boxes.push(unsafe { PoolBox::from_raw(&pool, raw) });
                }
                BoxOp::IntoInner(pick) if !boxes.is_empty() => {
                    let value = PoolBox::into_inner(boxes.swap_remove(pick % boxes.len()));
                    prop_assert_eq!(pool.len(), boxes.len() + leaked.len());
                    prop_assert_eq!(drops.borrow()[value.id], 0);
                    pending_drop.push(value);
                }
                BoxOp::Leak(pick) if !boxes.is_empty() => {
                    let value = PoolBox::leak(boxes.swap_remove(pick % boxes.len()));
                    leaked.push(value.id);
                }
                _ => {}
            }
            let stats = pool.stats();
            prop_assert_eq!(stats.live, boxes.len() + leaked.len());
            prop_assert_eq!(stats.used, stats.live * size_of::<Tracked>());
            prop_assert_eq!(stats.requested, stats.used);
            prop_assert_eq!(pool.available(), count - stats.live);
            pool.check().unwrap();
        }
        drop(boxes);
        drop(pending_drop);
        let drops = drops.borrow();
        for (id, &n) in drops.iter().enumerate() {
            let expected = if leaked.contains(&id) { 0 } else { 1 };
            prop_assert_eq!(n, expected, "value {} dropped {} times", id, n);
        }
        prop_assert_eq!(pool.len(), leaked.len());
    }
}

#[test]
fn full_pool_returns_the_value() {
    let pool = pool::<String>(2);
    let a = pool.alloc("a".to_owned()).unwrap();
    let b = pool.alloc("b".to_owned()).unwrap();
    assert_eq!(pool.alloc("c".to_owned()).unwrap_err(), "c");
    assert_eq!(pool.stats().failures, 1);
    assert_eq!((a.as_str(), b.as_str()), ("a", "b"));
    assert_eq!(format!("{a} {b:?}"), "a \"b\"");
    drop(a);
    assert_eq!(*pool.alloc("c".to_owned()).unwrap(), "c");
}

#[test]
fn double_free_through_raw_allocator_is_refused() {
    let pool = pool::<u64>(4);
    let layout = Layout::new::<u64>();
    let a = pool.allocate(layout).unwrap().cast::<u8>();
    let b = pool.allocate(Layout::new::<u32>()).unwrap().cast::<u8>();
    assert_eq!(pool.stats().requested, 12);
    // SAFETY: `a` is live.
    unsafe { pool.free(a) }.unwrap();
    let before = pool.stats();
    // SAFETY: the pool must detect this double free of an unreused slot.
    assert_eq!(unsafe { pool.free(a) }, Err(AllocError::DoubleFree));
    assert_eq!(pool.stats(), before);
    pool.check().unwrap();
    // SAFETY: `b` is live.
    unsafe { pool.free(b) }.unwrap();
    assert_eq!(pool.stats().requested, 0);
    // A box's slot freed behind its back is refused when the box drops too:
    // the box's own release is the one that must not double-push.
    let boxed = pool.alloc(5).unwrap();
    let raw = PoolBox::into_raw(boxed);
    // SAFETY: the value is a `u64`; freeing its slot raw drops nothing.
    unsafe { pool.free(raw.cast()) }.unwrap();
    // SAFETY: the slot is free now: a double free the pool detects.
    let result = unsafe { pool.free(raw.cast()) };
    assert_eq!(result, Err(AllocError::DoubleFree));
    assert!(pool.is_empty());
}

#[test]
fn foreign_pointers_are_refused() {
    let pool = pool::<[u32; 3]>(3);
    let value = pool.alloc([1, 2, 3]).unwrap();
    let slot = NonNull::from(&*value).cast::<u8>();
    let before = pool.stats();
    let mut outside = [0u32; 3];
    let inside = |bytes| NonNull::new(slot.as_ptr().wrapping_add(bytes)).unwrap();
    for ptr in [
        NonNull::from(&mut outside).cast::<u8>(),
        inside(4),
        inside(3 * 12),
    ] {
        // SAFETY: the pool must refuse pointers that are no slot start.
        let result = unsafe { pool.free(ptr) };
        assert_eq!(result, Err(AllocError::ForeignPointer));
        assert_eq!(pool.stats(), before);
    }
    pool.check().unwrap();
    assert_eq!(*value, [1, 2, 3]);
}

#[test]
fn raw_requests_must_fit_the_type() {
    let pool = pool::<[u16; 8]>(2);
    assert_eq!(pool.kind(), AllocatorKind::Pool);
    assert_eq!(pool.capacity(), 2 * 16);
    assert_eq!(
        pool.allocate(Layout::from_size_align(17, 1).unwrap()),
        Err(AllocError::TooLarge { size: 17, max: 16 })
    );
    assert_eq!(
        pool.allocate(Layout::from_size_align(4, 4).unwrap()),
        Err(AllocError::AlignmentTooLarge { align: 4, max: 2 })
    );
    let block = pool
        .allocate(Layout::from_size_align(16, 2).unwrap())
        .unwrap();
    assert_eq!(block.len(), 16);
    // SAFETY: live block.
    unsafe { pool.free(block.cast()) }.unwrap();
}

#[test]
fn bytes_for_gives_exactly_the_slots_asked_for() {
    fn check<T>() {
        for count in [1, 2, 5, if cfg!(miri) { 9 } else { 100 }] {
            let bytes = Pool::<T>::bytes_for(count);
            let align = align_of::<T>();
            assert_eq!(Pool::<T>::new(leak_memory(bytes, align)).slots(), count);
            if count > 1 {
                assert_eq!(
                    Pool::<T>::new(leak_memory(bytes - 1, align)).slots(),
                    count - 1
                );
            }
        }
    }
    check::<u8>();
    check::<[u8; 3]>();
    check::<u16>();
    check::<u64>();
    check::<[u64; 5]>();
    check::<Tracked>();
    // No per-object header: 4 bytes of side table per slot.
    assert_eq!(Pool::<[u8; 64]>::bytes_for(100), 100 * (64 + 4) + 3);
    assert_eq!(Pool::<[u32; 16]>::bytes_for(100), 100 * (64 + 4));
}

#[test]
#[should_panic(expected = "cannot hold one value")]
fn too_little_memory_panics() {
    Pool::<u64>::new(leak_memory(11, 8));
}

#[derive(Debug)]
struct Particle {
    pos: [f32; 3],
    life: f32,
}

static PARTICLE_MEMORY: Arena<{ Pool::<Particle>::bytes_for(64) }> = Arena::new();
// SAFETY: PARTICLE_MEMORY belongs to this pool alone.
static PARTICLES: Pool<Particle> = Pool::new(unsafe { RawMemory::from_arena(&PARTICLE_MEMORY) });

#[test]
fn static_pool_works_without_init_and_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pool<Particle>>();
    assert_send_sync::<PoolBox<'static, Particle>>();

    let spark = PARTICLES
        .alloc(Particle {
            pos: [1.0, 2.0, 3.0],
            life: 1.0,
        })
        .unwrap();
    let back = std::thread::spawn(move || {
        assert_eq!(spark.pos, [1.0, 2.0, 3.0]);
        let other = PARTICLES
            .alloc(Particle {
                pos: [0.0; 3],
                life: 0.5,
            })
            .unwrap();
        drop(spark);
        other
    })
    .join()
    .unwrap();
    assert_eq!(back.life, 0.5);
    assert_eq!(PARTICLES.len(), 1);
    let leaked: &'static mut Particle = PoolBox::leak(back);
    leaked.life = 2.0;
    assert_eq!(PARTICLES.len(), 1);
    assert_eq!(PARTICLES.available(), 63);
    PARTICLES.check().unwrap();
}
