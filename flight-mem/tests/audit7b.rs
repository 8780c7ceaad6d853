//! Session-7 audit (second auditor): the shared-region channel, the
//! layout reports on degenerate tables, and the allocator-api2 adapters
//! with odd layouts, through safe code only.

use flight_mem::{CanRead, CanWrite, RawMemory, Shared};

mod common;

enum Region {}
struct Writer;
struct Reader;
// SAFETY: this test's region grants its own tokens.
unsafe impl CanRead<Region> for Writer {}
// SAFETY: this test's region grants its own tokens.
unsafe impl CanWrite<Region> for Writer {}
// SAFETY: this test's region grants its own tokens.
unsafe impl CanRead<Region> for Reader {}

fn region(len: usize) -> &'static Shared<Region> {
    let memory = common::leak_memory(len, 64);
    // SAFETY: fresh leaked memory, reached only through this region.
    Box::leak(Box::new(unsafe {
        Shared::new(RawMemory::from_raw_parts(memory.as_ptr(), memory.len()))
    }))
}

/// A channel of three slots (not a power of two) with one message held
/// while the sender fills the rest, many times round the slots: the held
/// message never changes, and messages arrive once, in order.
#[test]
fn a_held_message_survives_the_sender_filling_the_other_slots() {
    let region = region(3);
    let mut tx = region.sender::<u8, _>(&Writer).unwrap();
    let mut rx = region.receiver::<u8, _>(&Reader).unwrap();
    let rounds: u8 = if cfg!(miri) { 20 } else { 250 };
    tx.send(0).unwrap();
    for round in 0..rounds {
        let held = rx.recv().unwrap();
        assert_eq!(*held, round);
        tx.send(round.wrapping_add(1)).unwrap();
        tx.send(round.wrapping_add(2)).unwrap();
        assert!(tx.send(0xFF).is_err(), "three messages in flight fill it");
        assert_eq!(*held, round, "the held slot was written");
        drop(held);
        // Leave one message in flight for the next round.
        assert_eq!(*rx.recv().unwrap(), round.wrapping_add(1));
        let next = rx.recv().unwrap();
        assert_eq!(*next, round.wrapping_add(2));
        drop(next);
        tx.send(round.wrapping_add(1)).unwrap();
    }
}

/// The channel's counters wrap; slot `i % capacity` must stay the slot of
/// message `i` across the wrap, or the sender writes into the slot a live
/// `Received` still borrows (a data race with the reader). With three
/// slots, `usize::MAX % 3 == 0 == 0 % 3`: message `usize::MAX` and the one
/// after it shared slot 0. Only a 32-bit target reaches the wrap in a test
/// (2^32 messages, seconds in an optimised build); the project's targets
/// (PSP, GBA, thumbv6m, wasm32) are all 32-bit, where a long-running
/// program reaches it too.
#[cfg(target_pointer_width = "32")]
#[test]
#[cfg_attr(
    any(miri, debug_assertions),
    ignore = "2^32 messages: 46 s in a debug build; run with --release (14 s)"
)]
fn channel_counters_wrap_without_reusing_a_held_slot() {
    let region = region(3);
    let mut tx = region.sender::<u8, _>(&Writer).unwrap();
    let mut rx = region.receiver::<u8, _>(&Reader).unwrap();
    assert_eq!(tx.capacity(), 3);
    // Walk both counters to `usize::MAX`, one message at a time.
    for _ in 0..usize::MAX {
        tx.send(1).unwrap();
        drop(rx.recv().unwrap());
    }
    tx.send(7).unwrap();
    let held = rx.recv().unwrap();
    // Two slots are free: filling them must leave the held one alone.
    tx.send(8).unwrap();
    tx.send(9).unwrap();
    assert!(
        tx.send(10).is_err(),
        "three slots, three messages in flight"
    );
    // A volatile read: the compiler may assume a `&u8` never changes.
    // SAFETY: `held` derefs to a valid `u8` for as long as it lives.
    let now = unsafe { core::ptr::read_volatile(&*held) };
    assert_eq!(now, 7, "the sender overwrote a slot the receiver holds");
    drop(held);
    assert_eq!(*rx.recv().unwrap(), 8);
    assert_eq!(*rx.recv().unwrap(), 9);
    assert!(rx.recv().is_none());
}

/// A component's segment is reached through its token only (SPEC §6): the
/// layout's public table must not hand its allocator to code without the
/// token. `LayoutTable::allocator(index)` did, for any entry.
mod component_isolation {
    use core::alloc::Layout as AllocLayout;
    use flight_mem::Layout;

    flight_mem::memory_layout! {
        pub layout Isolated {
            budget = 1 MiB;
            region heap = 64 KiB;
            component physics = 64 KiB;
            component raw = 16 KiB { allocator: none };
        }
    }

    /// Both tests count `physics`'s live blocks of the one static layout:
    /// run one at a time, or one's block shows in the other's count.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn the_table_gives_no_component_allocator_away() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let table = <Isolated as Layout>::table();
        let heap = table.find("heap").unwrap();
        assert!(
            table.allocator(heap).is_some(),
            "a region's allocator is public"
        );
        for name in ["physics", "raw"] {
            let index = table.find(name).unwrap();
            let bypass = table
                .allocator(index)
                .map(|a| a.allocate(AllocLayout::new::<u64>()));
            assert!(
                bypass.is_none(),
                "`{name}`'s allocator reached without its token: {bypass:?}"
            );
        }
        // The token still reaches it, and the reports still see its use.
        let live = || table.stats().entry("physics").unwrap().stats.live;
        let before = live();
        let physics = Isolated::take_physics().unwrap();
        let block = physics.alloc(AllocLayout::new::<u64>()).unwrap();
        assert_eq!(live(), before + 1);
        assert!(table.svg().contains("physics"));
        // SAFETY: the block came from `physics` and is not used again.
        unsafe { physics.free(block.cast(), AllocLayout::new::<u64>()) }.unwrap();
        assert_eq!(live(), before);
    }

    fn on_failure(_: flight_mem::PressureLevel, _: &flight_mem::PressureInfo) {}

    /// The generated accessors' retry hook is a safe `pub fn` (in the
    /// hidden `__private` module): given a component's index and a forged
    /// out-of-memory result, it retried in the component's segment and
    /// handed the block to code without the token.
    #[test]
    fn the_retry_hook_allocates_only_in_the_allocator_it_is_given() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let table = <Isolated as Layout>::table();
        let index = table.find("physics").unwrap();
        let id = Isolated::on_pressure(flight_mem::PressureLevel::Low, on_failure).unwrap();
        let layout = AllocLayout::new::<u64>();
        let live = || table.stats().entry("physics").unwrap().stats.live;
        let before = live();
        let mut result = Err(flight_mem::AllocError::OutOfMemory {
            size: 8,
            largest_free: 0,
        });
        forge(table, index, layout, &mut result);
        assert_eq!(
            live(),
            before,
            "a block of `physics` without its token: {result:?}"
        );
        assert!(Isolated::remove_pressure_callback(id));
    }

    /// What safe code can call: the hook, with the index of an entry it
    /// has no access to (and the one allocator it does reach, `heap`'s).
    fn forge(
        table: &'static flight_mem::LayoutTable,
        index: usize,
        layout: AllocLayout,
        result: &mut Result<core::ptr::NonNull<[u8]>, flight_mem::AllocError>,
    ) {
        let heap = table.allocator(table.find("heap").unwrap()).unwrap();
        flight_mem::__private::after_allocate(table, index, heap, layout, result);
    }
}

/// `Allocator::deallocate` may be given any size from the requested one to
/// the returned block's length (allocator-api2's "fits"); `SmallFront`
/// routes a free by its layout, so every such size must reach the class
/// (or the backing heap) the block came from.
#[test]
fn small_front_takes_back_a_block_freed_with_any_fitting_size() {
    use allocator_api2::alloc::Allocator;
    use core::alloc::Layout;
    use flight_mem::{SmallFront, Tlsf};
    let front = SmallFront::new(Tlsf::new(common::leak_memory(4 << 20, 64)));
    let all: Vec<usize> = if cfg!(miri) {
        vec![1, 7, 8, 9, 24, 100, 250, 256, 257, 300, 1000]
    } else {
        (1..=1200).collect()
    };
    for &size in &all {
        for align in [1, 2, 4, 8, 16, 32, 64] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let block = Allocator::allocate(&&front, layout).unwrap();
            // The largest fitting size is the most likely to cross a class.
            let fit = Layout::from_size_align(block.len(), align).unwrap();
            // SAFETY: `block` is live and `fit` fits it (same alignment, a
            // size between the requested one and the returned length).
            unsafe { Allocator::deallocate(&&front, block.cast(), fit) };
            let stats = front.stats();
            assert_eq!(
                stats.live,
                0,
                "size {size} align {align} len {}: the free missed",
                block.len()
            );
            front.check().unwrap();
        }
    }
}

/// A bank's storage is one object, so it cannot span more than
/// `isize::MAX` bytes. A plan over a larger budget "fitted" entries rustc
/// then refused as an array too big for the target, blamed on the whole
/// macro call (on 32-bit targets, from about 2 GiB: `budget = 4095 MiB;
/// region a = 2 GiB; region b = 2047 MiB;` for i686). The plan caps the
/// budget, so the entry that crosses the limit is the one blamed.
#[test]
fn a_bank_plan_never_fits_past_the_largest_object() {
    use flight_mem::__private::{BankPlan, Slot};
    let half = isize::MAX as usize / 2 + 1;
    let plan = BankPlan::place(
        usize::MAX,
        64,
        [Slot::new("a", half, 1, 0), Slot::new("b", half, 1, 0)],
    );
    assert!(!plan.fits(), "{} bytes in one object", plan.needed);
    assert_eq!(plan.crossing, 1, "`b` crosses the limit");
    assert_eq!(plan.storage_len(), 0);
    let message = plan.budget_message("layout `L` does not fit bank `main`: needs ");
    assert!(
        message
            .as_str()
            .contains("the most this target allows for the bank"),
        "{}",
        message.as_str()
    );
}

/// Reports on degenerate tables: a layout with no entries, one with the
/// largest budget, timelines with no frames or no entries. Nothing may
/// panic, and the SVG stays one document.
mod degenerate_reports {
    use flight_mem::{Layout, Timeline};

    flight_mem::memory_layout! {
        pub layout Empty {
            budget = 1 MiB;
        }
    }

    // The largest budget the target's `usize` can spell (a larger literal
    // is rustc's `overflowing_literals` error at the budget).
    #[cfg(target_pointer_width = "64")]
    flight_mem::memory_layout! {
        pub layout Vast {
            budget = 18446744073709551615 B;
            guard = 64 B;
            region heap = 1 KiB;
        }
    }
    #[cfg(not(target_pointer_width = "64"))]
    flight_mem::memory_layout! {
        pub layout Vast {
            budget = 4294967295 B;
            guard = 64 B;
            region heap = 1 KiB;
        }
    }

    fn one_document(svg: &str) {
        assert!(svg.starts_with("<svg"), "{svg}");
        assert_eq!(svg.matches("</svg>").count(), 1, "{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    #[test]
    fn empty_and_vast_layouts_report() {
        assert!(format!("{}", Empty::map()).contains("Empty"));
        assert!(format!("{}", Vast::map()).contains("heap"));
        for table in [<Empty as Layout>::table(), <Vast as Layout>::table()] {
            one_document(&table.svg());
            let _ = table.stats();
            let _ = table.pressure();
            let mut none: Timeline<0, 0> = Timeline::new();
            none.record_table(table);
            assert!(none.is_empty());
            one_document(&none.svg());
            let mut narrow: Timeline<3, 0> = Timeline::new();
            for _ in 0..5 {
                narrow.record_table(table);
            }
            assert_eq!(narrow.len(), 3);
            one_document(&narrow.svg());
            let mut wide: Timeline<2, 8> = Timeline::new();
            wide.record_table(table);
            one_document(&wide.svg());
        }
    }
}
