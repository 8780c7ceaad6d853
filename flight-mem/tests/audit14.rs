//! The fourteenth adversarial audit (audit14) of `memory_layout!`'s
//! placement after compile12 (literal figures after a rustc-sized entry,
//! one budget assertion per bank, a `PLACED` const per bank) and of
//! `BankPlan::place_fixed` (a fixed bank ends before the last address),
//! and of Tlsf's one-store link write (tlsf6). Miri runs the file (1.6 s;
//! also on s390x, big-endian: `--target s390x-unknown-linux-gnu`).

use core::alloc::Layout;

use flight_mem::__private::{BankPlan, EntryAllocators, Slot};
use flight_mem::{BlockPool, EntryKind, Pool, RawMemory, Tlsf, memory_layout};

const GUARD: usize = 40;
const FRAME: usize = 1000;
const BLOCK: usize = 24;

/// 12 bytes, 4-aligned on every target.
#[allow(dead_code)]
pub struct Obj([u32; 3]);

/// 64 bytes, 64-aligned on every target: more than the entry's `align`.
#[allow(dead_code)]
#[repr(C, align(64))]
pub struct Wide(u8);

// Rustc-sized entries (typed pools, a typed shared region, const-expression
// frame, block and guard sizes) mixed with literal ones in every order, in
// two banks; `main`'s budget is exactly what it needs (`MAIN_NEEDED`, the
// test below checks it against `BankPlan::place`).
memory_layout! {
    pub layout Mixed {
        guard = 16 B;
        align = 8;
        bank main = 3233 B;
        bank side = 256 B;
        region a = 3 B { align: 1, guard: 0 B };
        pool objs = [Obj; 5];
        region b = 100 B { guard: (GUARD) };
        frame f = [(FRAME); 2];
        pool blocks = [(BLOCK); 3];
        component c = 512 B;
        shared s = [u32; 12] { access: [c: write] };
        pool wide = [Wide; 2] { align: 16 };
        stack st = 64 B { guard: (GUARD / 8) };
        region tail = 1 B { guard: 0 B };
        region s1 = 5 B { bank: side, guard: 3 B, align: 1 };
        pool s2 = [u16; 3] { bank: side };
        reserve s3 = 7 B { bank: side };
    }
}

/// The bytes `main` needs: its budget above, one byte more would not fit.
const MAIN_NEEDED: usize = 3233;

/// Each bank's entries as `BankPlan::place` sees them, written out by hand
/// from the declaration above.
fn hand_plans() -> (BankPlan<10>, BankPlan<3>) {
    let main = BankPlan::place(
        MAIN_NEEDED,
        4096,
        [
            Slot::new("a", 3, 1, 0),
            Slot::new("objs", Pool::<Obj>::bytes_for(5), 8, 16),
            Slot::new("b", 100, 8, GUARD),
            Slot::new("f", FRAME * 2, 8, 16),
            Slot::new("blocks", BlockPool::bytes_for(BLOCK, 8, 3), 8, 16),
            Slot {
                lead: 16,
                ..Slot::new("c", 512, 8, 16)
            },
            Slot::new("s", 12 * 4, 8, 16),
            Slot::new("wide", Pool::<Wide>::bytes_for(2), 64, 16),
            Slot::new("st", 64, 8, GUARD / 8),
            Slot::new("tail", 1, 8, 0),
        ],
    );
    let side = BankPlan::place(
        256,
        4096,
        [
            Slot::new("s1", 5, 1, 3),
            Slot::new("s2", Pool::<u16>::bytes_for(3), 8, 16),
            Slot::new("s3", 7, 8, 16),
        ],
    );
    (main, side)
}

/// A bank's hand plan: name, offsets, slots, leads, bytes needed.
type Hand<'a> = (&'a str, &'a [usize], &'a [Slot], &'a [usize], usize);

/// Every entry's table figures are the hand plan's, every entry lies inside
/// its bank's used bytes, disjoint from the others with their guards, and
/// an allocation from each entry's allocator (`hits[bank]` serve one) lands
/// inside the entry.
fn check_placed<L: flight_mem::Layout + EntryAllocators>(banks: &[Hand], hits: &[usize]) {
    let regions = L::regions();
    for (&(bank, plan_offsets, plan_slots, plan_leads, needed), &want_hits) in
        banks.iter().zip(hits)
    {
        let info = L::banks().iter().find(|b| b.name == bank).unwrap();
        assert_eq!(info.used, needed, "{bank}");
        assert!(info.used <= info.budget, "{bank}");
        let entries = info.entries();
        assert_eq!(entries.len(), plan_slots.len(), "{bank}");
        let mut previous_end = 0;
        for (slot, &index) in entries.iter().enumerate() {
            let r = &regions[index];
            let want = &plan_slots[slot];
            assert_eq!(r.name, want.name);
            assert_eq!(
                (r.offset, r.size, r.align, r.guard, r.guard_before),
                (
                    plan_offsets[slot],
                    want.size,
                    want.align,
                    want.guard,
                    plan_leads[slot]
                ),
                "{}",
                r.name
            );
            // Disjoint, guards included, and inside the bank.
            assert!(r.offset - r.guard_before >= previous_end, "{}", r.name);
            previous_end = r.offset + r.size + r.guard;
            assert!(previous_end <= info.used, "{}", r.name);
        }
        let start = info.start().addr();
        let mut hits = 0;
        for &index in entries {
            let r = &regions[index];
            // No allocator of their own (`entry_allocator` panics).
            if matches!(r.kind, EntryKind::Component | EntryKind::Shared) {
                continue;
            }
            let (lo, hi) = (start + r.offset, start + r.offset + r.size);
            let got = L::entry_allocator(index)
                .allocate(Layout::from_size_align(1, 1).unwrap())
                .ok()
                .map(|p| p.cast::<u8>().as_ptr().addr());
            if let Some(p) = got {
                assert!(
                    lo <= p && p < hi,
                    "{}: {p:#x} outside {lo:#x}..{hi:#x}",
                    r.name
                );
                hits += 1;
            }
        }
        assert_eq!(hits, want_hits, "{bank}");
    }
}

#[test]
fn mixed_typed_and_literal_entries_are_placed_as_the_plan() {
    let (main, side) = hand_plans();
    assert!(main.fits() && side.fits());
    assert_eq!(main.needed, MAIN_NEEDED, "main's budget is exact");
    // Every allocator but a 3-, 1- and 5-byte Tlsf region's and the
    // reserve's serves one.
    check_placed::<Mixed>(
        &[
            ("main", &main.offsets, &main.slots, &main.leads, main.needed),
            ("side", &side.offsets, &side.slots, &side.leads, side.needed),
        ],
        &[6, 1],
    );
}

// A rustc-sized entry first, with a const-expression guard, then a
// component whose leading guard that guard covers, literal entries after
// it, a const-expression frame and block pool.
memory_layout! {
    pub layout TypedFirst {
        budget = 2 KiB;
        guard = 8 B;
        align = 4;
        pool w = [Wide; 1] { guard: (GUARD) };
        component k = 100 B;
        region r = 12 B { align: 32 };
        frame fr = [(FRAME / 10); 3];
        pool bl = [(BLOCK); 2] { align: 16 };
        stack st = 33 B { guard: 0 B };
    }
}

#[test]
fn a_typed_first_bank_is_placed_as_the_plan() {
    let plan = BankPlan::place(
        2048,
        4096,
        [
            Slot::new("w", Pool::<Wide>::bytes_for(1), 64, GUARD),
            Slot {
                lead: 8,
                ..Slot::new("k", 100, 4, 8)
            },
            Slot::new("r", 12, 32, 8),
            Slot::new("fr", FRAME / 10 * 3, 4, 8),
            Slot::new("bl", BlockPool::bytes_for(BLOCK, 16, 2), 16, 8),
            Slot::new("st", 33, 4, 0),
        ],
    );
    assert!(plan.fits());
    check_placed::<TypedFirst>(
        &[("main", &plan.offsets, &plan.slots, &plan.leads, plan.needed)],
        &[4],
    );
}

/// An allocation ends before the last address (`core::ptr`: `base + size
/// <= usize::MAX`): a fixed bank whose entries reached the last byte had
/// an end pointer that wraps to null.
#[test]
fn a_fixed_bank_ends_before_the_last_address() {
    let base = usize::MAX - 0xFFFF;
    let plan = |high| {
        BankPlan::<2>::place_fixed(
            1 << 20,
            base,
            1 << 16,
            [
                Slot::new("low", 0x8000, 1, 0),
                Slot::new("high", high, 1, 0),
            ],
        )
    };
    // Up to the last address: refused, on the entry that reaches it.
    let last = plan(0x8000);
    assert!(!last.fits());
    assert_eq!(last.crossing, 1);
    assert!(last.capped);
    assert_eq!(last.budget, 0xFFFF);
    // A byte before it fits.
    assert!(plan(0x7FFF).fits());
    // The whole address space from 1: all but the last byte.
    let whole = BankPlan::<1>::place_fixed(usize::MAX, 1, 1, [Slot::new("all", 1, 1, 0)]);
    assert_eq!(whole.budget, isize::MAX as usize);
}

/// Tlsf's insert writes a free block's two `u32` links with one 8-byte
/// store (tlsf6), its halves swapped on big-endian targets. Six free blocks
/// in one list, then each freed neighbour merging with them: every merge
/// unlinks a listed block from the middle of its list through its `prev`
/// link, so links written in the wrong halves lose blocks or corrupt the
/// list (held; also under Miri on s390x, big-endian).
#[test]
fn tlsf_lists_keep_both_links_of_each_free_block() {
    let mut words = vec![0u64; 512];
    // SAFETY: the vector's 4 KiB, touched only through this heap until it
    // is dropped below.
    let memory = unsafe { RawMemory::from_raw_parts(words.as_mut_ptr().cast(), 4096) };
    let tlsf = Tlsf::new(memory);
    let layout = Layout::from_size_align(40, 8).unwrap();
    let blocks: Vec<_> = (0..12)
        .map(|_| tlsf.allocate(layout).unwrap().cast::<u8>())
        .collect();
    for &block in blocks.iter().step_by(2) {
        // SAFETY: allocated above, freed once.
        unsafe { tlsf.free(block) }.unwrap();
    }
    tlsf.check().unwrap();
    for i in [5, 1, 9, 3, 11, 7] {
        // SAFETY: allocated above, freed once.
        unsafe { tlsf.free(blocks[i]) }.unwrap();
        tlsf.check().unwrap();
    }
    let stats = tlsf.stats();
    assert_eq!((stats.used, stats.live), (0, 0));
    assert_eq!(stats.largest_free, stats.capacity - Tlsf::HEADER_SIZE);
    // The heap (no destructor) is done with the vector's bytes here.
    drop(words);
}
