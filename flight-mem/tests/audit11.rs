//! audit11: the allocator table's `EntryAllocators` (compile10).
//!
//! A component's segment is reached through its token only (SPEC §6): its
//! allocator lives in a static of the layout's anonymous const, and
//! `LayoutTable::allocator` answers `None` for it. compile10 built the
//! allocator table from a public trait impl on the layout type
//! (`<Engine as __private::EntryAllocators>::entry_allocator(i)`, and the
//! safe `__private::entry_allocator::<Engine, I>`), which handed that
//! static to any code: allocation in another component's segment without
//! its token.

use core::alloc::Layout;
use flight_mem::__private::{EntryAllocators, entry_allocator};
use flight_mem::memory_layout;

memory_layout! {
    layout Engine {
        budget = 1 MiB;
        guard = 64 B;
        region heap = 16 KiB;
        component physics = 64 KiB;
        component audio = 16 KiB { allocator: none };
        shared frame = 4 KiB { access: [physics: write, audio: read] };
    }
}

/// What any code obtains for entry `index` through the trait and the free
/// function: the pointer of a block it could allocate there, if it can.
fn allocate_through_the_trait(index: usize) -> Vec<Option<usize>> {
    let layout = Layout::from_size_align(64, 8).unwrap();
    let by_trait = std::panic::catch_unwind(|| {
        <Engine as EntryAllocators>::entry_allocator(index)
            .allocate(layout)
            .ok()
            .map(|p| p.cast::<u8>().as_ptr() as usize)
    });
    let by_fn = std::panic::catch_unwind(|| {
        let allocator = match index {
            1 => entry_allocator::<Engine, 1>(),
            2 => entry_allocator::<Engine, 2>(),
            _ => entry_allocator::<Engine, 3>(),
        };
        allocator
            .allocate(layout)
            .ok()
            .map(|p| p.cast::<u8>().as_ptr() as usize)
    });
    [by_trait, by_fn]
        .into_iter()
        .map(|r| r.ok().flatten())
        .collect()
}

#[test]
fn no_component_segment_is_reached_without_its_token() {
    let table = <Engine as flight_mem::Layout>::table();
    for name in ["physics", "audio", "frame"] {
        let index = table.find(name).unwrap();
        let segment = &table.regions()[index];
        let start = table.banks()[0].start() as usize + segment.offset;
        let inside = |addr: usize| (start..start + segment.size).contains(&addr);
        // A shared region's table allocator is its segment view, which
        // allocates nothing; a component's is not handed out.
        let by_table = table.allocator(index).and_then(|a| {
            a.allocate(Layout::from_size_align(64, 8).unwrap())
                .ok()
                .map(|p| p.cast::<u8>().as_ptr() as usize)
        });
        assert!(by_table.is_none(), "{name}: the table's allocator");
        // The trait's refusal is a panic: quiet while it is caught.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let got = allocate_through_the_trait(index);
        std::panic::set_hook(hook);
        for (how, got) in ["trait", "fn"].iter().zip(got) {
            assert!(
                !got.is_some_and(inside),
                "{name}: a block of its segment through the {how}, without its token"
            );
        }
    }
    // The token still reaches it, and the layout's report still sees it.
    let physics = Engine::take_physics().unwrap();
    let block = physics
        .alloc(Layout::from_size_align(64, 8).unwrap())
        .unwrap();
    let index = table.find("physics").unwrap();
    assert_eq!(table.owner_index(block.cast()), Some(index));
    let row = Engine::stats().entries().nth(index).unwrap();
    assert_eq!(row.stats.live, 1);
    // SAFETY: allocated just above through the same token, not used.
    let freed = unsafe { physics.free(block.cast(), Layout::from_size_align(64, 8).unwrap()) };
    assert!(freed.is_ok());
}

/// A bank in a static is `needed` bytes rounded up to the static's
/// alignment (an `Arena`, page-aligned, or a wrapper of the bank's
/// alignment past a page). A plan that fits must leave that rounded size
/// within `isize::MAX`, the largest object: on 32-bit targets 2047 MiB
/// placed with a 512 MiB-aligned entry "fit" and made a 2 GiB static that
/// rustc refused with errors blamed on the whole macro call, not the entry
/// that crosses.
#[test]
fn a_static_bank_plan_leaves_its_rounded_storage_under_the_object_limit() {
    use flight_mem::__private::{BankPlan, Slot};
    let largest = isize::MAX as usize;
    for align in [4096, 1 << 20, 1 << 29] {
        for size in [
            largest - 100,
            largest - align,
            largest / 2,
            largest - 2 * align,
        ] {
            let plan = BankPlan::<2>::place(
                usize::MAX,
                align,
                [Slot::new("small", 64, 64, 0), Slot::new("big", size, 1, 0)],
            );
            if plan.fits() {
                let storage = plan.needed.checked_next_multiple_of(align);
                assert!(
                    storage.is_some_and(|s| s <= largest),
                    "align {align}, size {size}: needs {} in a static of {storage:?}",
                    plan.needed
                );
            } else {
                assert_eq!(plan.crossing, 1, "align {align}, size {size}");
                assert!(plan.capped);
            }
        }
        // The largest bank that fits is as large as a static can be.
        let plan = BankPlan::<1>::place(
            usize::MAX,
            align,
            [Slot::new("all", largest / align * align, 1, 0)],
        );
        assert!(plan.fits(), "align {align}");
    }
    // A fixed bank is no static: only `isize::MAX` limits it.
    let plan =
        BankPlan::<1>::place_fixed(usize::MAX, 1 << 29, [Slot::new("all", largest - 100, 1, 0)]);
    assert!(plan.fits());
}
