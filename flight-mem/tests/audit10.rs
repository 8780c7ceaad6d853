//! audit10: the pools without slots that `__private::block_pool` and
//! `__private::typed_pool` build for entries the macro refuses (macro9).
//! Every method of such a pool must behave as a full pool's does: nothing
//! handed out, nothing touched, and a foreign pointer given back refused
//! with `ForeignPointer` (the second line of defence `RawAllocator::free`
//! promises), also for a zero-sized or oversized `T`.

use core::alloc::Layout;
use core::ptr::NonNull;
use flight_mem::__private::{block_pool, clamp, typed_pool};
use flight_mem::{AllocError, Arena, BlockPool, Pool, RawAllocator, RawMemory};

static BLOCK_MEM: Arena<64> = Arena::new();
static U64_MEM: Arena<64> = Arena::new();
static UNIT_MEM: Arena<64> = Arena::new();
static HUGE_MEM: Arena<64> = Arena::new();

/// Refused block size: no pool holds a block of half the address space.
// SAFETY: each arena is given to one pool only.
static BLOCKS: BlockPool = block_pool(
    unsafe { RawMemory::from_arena(&BLOCK_MEM) },
    usize::MAX / 2,
    8,
    4,
);
/// Refused count: more slots than the 32-bit index.
// SAFETY: as above.
static U64S: Pool<u64> = typed_pool::<u64>(unsafe { RawMemory::from_arena(&U64_MEM) }, usize::MAX);
/// Refused `T`: zero-sized.
// SAFETY: as above.
static UNITS: Pool<()> = typed_pool::<()>(unsafe { RawMemory::from_arena(&UNIT_MEM) }, 16);
/// Refused `T`: a slot past 4 GiB (on 32-bit, where no type is that
/// large, eight slots of 1 GiB: bytes past `usize`).
#[cfg(target_pointer_width = "64")]
type Huge = [u8; 1 << 33];
#[cfg(target_pointer_width = "64")]
const HUGE_COUNT: usize = 1;
#[cfg(not(target_pointer_width = "64"))]
type Huge = [u8; 1 << 30];
#[cfg(not(target_pointer_width = "64"))]
const HUGE_COUNT: usize = 8;
// SAFETY: as above.
static HUGES: Pool<Huge> =
    typed_pool::<Huge>(unsafe { RawMemory::from_arena(&HUGE_MEM) }, HUGE_COUNT);

/// Pointers a caller could hand back by mistake: the memory's start (where
/// the pool's first block would be), inside it, its end, and elsewhere.
fn foreign(arena: &'static Arena<64>) -> [NonNull<u8>; 5] {
    let start = arena.as_mut_ptr();
    [0, 1, 8, 63, 64].map(|k| NonNull::new(start.wrapping_add(k)).unwrap())
}

/// What every pool without slots must say through `RawAllocator`.
fn raw_allocator_refuses_everything(pool: &dyn RawAllocator, arena: &'static Arena<64>) {
    for layout in [
        Layout::new::<u8>(),
        Layout::new::<u64>(),
        Layout::from_size_align(0, 1).unwrap(),
        Layout::from_size_align(1, 4096).unwrap(),
    ] {
        if let Ok(block) = pool.allocate(layout) {
            // A zero-sized request may be answered without a slot, but never
            // with memory the pool does not have.
            assert_eq!(block.len(), 0, "{layout:?}: a block from no slots");
        }
        if let Ok(block) = pool.allocate_zeroed(layout) {
            assert_eq!(block.len(), 0, "{layout:?}: a zeroed block from no slots");
        }
    }
    for ptr in foreign(arena) {
        assert!(!pool.owns(ptr), "{ptr:?}: owned by a pool over no memory");
        // SAFETY: deliberately out of contract (a pointer the pool never
        // handed out): the detectable misuse `free` promises to refuse.
        let freed = unsafe { pool.free(ptr) };
        assert_eq!(freed, Err(AllocError::ForeignPointer), "{ptr:?}");
    }
    assert_eq!(pool.capacity(), 0);
    let stats = pool.stats();
    assert_eq!((stats.used, stats.live, stats.peak), (0, 0, 0));
    assert!(pool.check().is_ok());
}

#[test]
fn refused_block_pool_has_no_slots_and_refuses_foreign_pointers() {
    assert_eq!(
        (BLOCKS.slots(), BLOCKS.len(), BLOCKS.available()),
        (0, 0, 0)
    );
    assert!(BLOCKS.is_empty());
    raw_allocator_refuses_everything(&BLOCKS, &BLOCK_MEM);
    let magazine = BLOCKS.local();
    assert!(magazine.allocate(Layout::new::<u8>()).is_err());
    for ptr in foreign(&BLOCK_MEM) {
        // SAFETY: out of contract on purpose, as above.
        let freed = unsafe { magazine.free(ptr) };
        assert_eq!(freed, Err(AllocError::ForeignPointer));
    }
    assert_eq!(magazine.cached(), 0);
    drop(magazine);
    assert!(format!("{BLOCKS:?}").contains("BlockPool"));
}

#[test]
fn refused_typed_pool_has_no_slots_and_refuses_foreign_pointers() {
    assert_eq!((U64S.slots(), U64S.len(), U64S.available()), (0, 0, 0));
    assert_eq!(U64S.alloc(7).map(|b| *b), Err(7));
    assert_eq!(U64S.local().alloc(8).map(|b| *b), Err(8));
    raw_allocator_refuses_everything(&U64S, &U64_MEM);
    assert_eq!(U64S.stats().used, 0);
    assert!(U64S.check().is_ok());
}

#[test]
fn refused_zero_sized_pool_has_no_slots_and_refuses_foreign_pointers() {
    assert_eq!((UNITS.slots(), UNITS.capacity()), (0, 0));
    assert!(UNITS.alloc(()).is_err());
    assert!(UNITS.local().alloc(()).is_err());
    raw_allocator_refuses_everything(&UNITS, &UNIT_MEM);
}

#[test]
fn refused_oversized_pool_has_no_slots_and_refuses_foreign_pointers() {
    assert_eq!((HUGES.slots(), HUGES.capacity()), (0, 0));
    raw_allocator_refuses_everything(&HUGES, &HUGE_MEM);
    assert!(format!("{HUGES:?}").contains("slots: 0"));
}

#[test]
fn clamp_keeps_sizes_inside_and_clamps_outside() {
    assert_eq!(clamp(5, 1, 9), 5);
    assert_eq!(clamp(0, 1, 9), 1);
    assert_eq!(clamp(10, 1, 9), 9);
    assert_eq!(clamp(usize::MAX, 0, usize::MAX), usize::MAX);
}
