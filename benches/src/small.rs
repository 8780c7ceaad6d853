//! flight-mem's small-object front end (issue 12) behind [`Subject`]: a
//! `SmallFront<Tlsf>` used through its shared path and through one
//! `SmallFront::local` handle, each over a `static` as a game declares it.
//!
//! The handle subject owns the one handle of its static front end; creating
//! a second while one lives panics (the workloads create one at a time).

use core::alloc::Layout;
use core::sync::atomic::{AtomicBool, Ordering};

use flight_mem::{Arena, RawMemory, SmallFront, SmallLocal, Tlsf};

use crate::plan::GENERAL_ARENA;
use crate::{RawBlock, Subject};

static SHARED_MEMORY: Arena<GENERAL_ARENA> = Arena::new();
// SAFETY: `SHARED_MEMORY` is used by this heap only.
static SHARED: SmallFront<Tlsf> =
    SmallFront::new(Tlsf::new(unsafe { RawMemory::from_arena(&SHARED_MEMORY) }));

/// `SmallFront<Tlsf>` through its shared (`Sync`) path: a class lock per call.
pub struct FmSmallShared;

impl Subject for FmSmallShared {
    const NAME: &'static str = "flight-mem SmallFront<Tlsf>";
    type Block = RawBlock;

    fn create(_arena: usize) -> Self {
        Self
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<RawBlock> {
        let ptr = SHARED.allocate(layout).ok()?.cast();
        Some(RawBlock { ptr, layout })
    }

    #[inline]
    unsafe fn free(&mut self, block: RawBlock) {
        // SAFETY: the block came from `SHARED` with this layout.
        let freed = unsafe { SHARED.free(block.ptr, block.layout) };
        debug_assert!(freed.is_ok());
    }
}

static LOCAL_MEMORY: Arena<GENERAL_ARENA> = Arena::new();
// SAFETY: `LOCAL_MEMORY` is used by this heap only.
static LOCAL: SmallFront<Tlsf> =
    SmallFront::new(Tlsf::new(unsafe { RawMemory::from_arena(&LOCAL_MEMORY) }));
static LOCAL_TAKEN: AtomicBool = AtomicBool::new(false);

/// `SmallFront<Tlsf>` through one `local()` handle: per-class magazines.
pub struct FmSmallLocal(SmallLocal<'static, Tlsf>);

impl Subject for FmSmallLocal {
    const NAME: &'static str = "flight-mem SmallFront<Tlsf>::local";
    type Block = RawBlock;

    fn create(_arena: usize) -> Self {
        assert!(
            !LOCAL_TAKEN.swap(true, Ordering::Acquire),
            "one FmSmallLocal at a time"
        );
        Self(LOCAL.local())
    }

    #[inline]
    fn alloc(&mut self, layout: Layout) -> Option<RawBlock> {
        let ptr = self.0.allocate(layout).ok()?.cast();
        Some(RawBlock { ptr, layout })
    }

    #[inline]
    unsafe fn free(&mut self, block: RawBlock) {
        // SAFETY: the block came from `LOCAL` with this layout.
        let freed = unsafe { self.0.free(block.ptr, block.layout) };
        debug_assert!(freed.is_ok());
    }
}

impl Drop for FmSmallLocal {
    fn drop(&mut self) {
        LOCAL_TAKEN.store(false, Ordering::Release);
    }
}
