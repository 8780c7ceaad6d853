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
    // A fixed bank is no static: only `isize::MAX` and the end of the
    // address space limit it.
    let plan = BankPlan::<1>::place_fixed(
        usize::MAX,
        1 << 29,
        1 << 29,
        [Slot::new("all", largest - 100, 1, 0)],
    );
    assert!(plan.fits());
}

memory_layout! {
    layout Odd {
        budget = 64 KiB;
        guard = 3 B;
        align = 1;
        region odd = 3 B;
        frame f = [1 KiB; 2];
        stack s = 45 B;
        pool p = [3 B; 7];
        region c = 1 KiB { allocator: compact };
        region b = 1 KiB { allocator: buddy };
        region fl = 1 KiB { allocator: freelist };
        reserve r = 17 B;
        component comp = 1 KiB;
        component raw = 1 B { allocator: none };
        pool t = [u64; 3];
        shared sh = 3 B { access: [comp: write] };
    }
}

/// Every entry kind placed by the macro itself at odd offsets (alignment
/// 1, 3-byte guards: the literal figures of a bank with no const plan),
/// used through its accessors: under Miri, a misaligned atomic or an
/// access past an entry's bytes is an error; the guards must stay intact.
#[test]
fn entries_at_odd_offsets_serve_and_keep_their_guards() {
    let table = <Odd as flight_mem::Layout>::table();
    let start = table.banks()[0].start() as usize;
    let mut odd_offsets = 0;
    for r in table.regions() {
        odd_offsets += usize::from(r.offset % 2 == 1);
    }
    assert!(odd_offsets >= 3, "the layout places entries at odd offsets");
    let mut served = 0;
    let inside = |name: &str, addr: usize, len: usize| {
        let r = &table.regions()[table.find(name).unwrap()];
        assert!(
            addr >= start + r.offset && addr + len <= start + r.offset + r.size,
            "{name}: a block outside its entry"
        );
    };
    for size in [1usize, 2, 3, 8, 24] {
        for align in [1usize, 2, 4, 8, 16] {
            let layout = Layout::from_size_align(size, align).unwrap();
            type Alloc = fn(Layout) -> Result<core::ptr::NonNull<[u8]>, flight_mem::AllocError>;
            type Free = unsafe fn(core::ptr::NonNull<u8>, Layout);
            // Frames free nothing one by one; a reserve has no accessor.
            let entries: [(&str, Alloc, Free); 6] = [
                ("odd", Odd::alloc_odd, Odd::free_odd),
                ("f", Odd::alloc_f, |_, _| {}),
                ("s", Odd::alloc_s, Odd::free_s),
                ("p", Odd::alloc_p, Odd::free_p),
                ("b", Odd::alloc_b, Odd::free_b),
                ("fl", Odd::alloc_fl, Odd::free_fl),
            ];
            for (name, alloc, free) in entries {
                if let Ok(block) = alloc(layout) {
                    served += 1;
                    let ptr = block.cast::<u8>();
                    assert_eq!(ptr.as_ptr() as usize % align, 0, "{name}: misaligned");
                    inside(name, ptr.as_ptr() as usize, size);
                    // SAFETY: a fresh block of `size` bytes, ours alone.
                    unsafe { ptr.as_ptr().write_bytes(0xEE, size) };
                    // SAFETY: allocated just above with `layout`, unused after.
                    unsafe { free(ptr, layout) };
                }
            }
            if let Ok(handle) = Odd::alloc_c(layout) {
                served += 1;
                let mut pinned = Odd::c().get_mut(handle).unwrap();
                pinned.fill(0xEE);
                inside("c", pinned.as_ptr() as usize, size);
                drop(pinned);
                Odd::free_c(handle).unwrap();
            }
        }
    }
    // 25 layouts: all but `odd` (3 bytes) serve most of them.
    assert!(served > 100, "only {served} blocks served");
    let values: Vec<_> = (0..3u64).map(|v| Odd::alloc_t(v).ok().unwrap()).collect();
    assert_eq!(values.iter().map(|b| **b).sum::<u64>(), 3);
    drop(values);
    let comp = Odd::take_comp().unwrap();
    Odd::sh().write(&comp).fill(0xEE);
    let block = comp.alloc(Layout::from_size_align(5, 4).unwrap()).unwrap();
    inside("comp", block.cast::<u8>().as_ptr() as usize, 5);
    // SAFETY: allocated just above through the token, unused after.
    let freed = unsafe { comp.free(block.cast(), Layout::from_size_align(5, 4).unwrap()) };
    assert!(freed.is_ok());
    let report = Odd::validate();
    assert!(report.is_ok(), "{report:?}");
}
