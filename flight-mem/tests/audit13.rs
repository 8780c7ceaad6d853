//! The thirteenth adversarial audit (audit13) of the core: handles of one
//! `Compact` used on another and forged from bits, against every reader
//! and writer (`get`, `get_mut`, `PinnedAll::get`, `free`, `len_of`), and
//! the exclusion of `get_mut` and `PinnedAll` on one thread. Each case
//! asserts the safe outcome (held); Miri runs the file (2.8 s).

#[allow(dead_code)]
mod audit6_support;

use audit6_support::{Fenced, layout};
use flight_mem::{AllocError, Compact, DefragBudget, Handle};

fn compact(len: usize, handles: usize) -> (Fenced, Compact) {
    let (fence, memory) = Fenced::new(len, 0, 32);
    (fence, Compact::new(memory, handles))
}

#[test]
fn handles_of_another_compact_or_forged_reach_only_this_ones_blocks() {
    let (fa, a) = compact(Compact::bytes_for(512, 4), 4);
    let (fb, b) = compact(Compact::bytes_for(2048, 8), 8);
    // `a`'s handles: index 0..3, generation as each slot's.
    let ha: Vec<Handle> = (0..3)
        .map(|i| a.allocate(layout(16 + 8 * i, 8)).unwrap())
        .collect();
    for h in &ha {
        a.get_mut(*h).unwrap().fill(0xAA);
    }
    // `b` has more slots, one freed and reused (a later generation).
    let hb: Vec<Handle> = (0..6)
        .map(|i| b.allocate(layout(100 + 4 * i, 16)).unwrap())
        .collect();
    b.free(hb[1]).unwrap();
    let reused = b.allocate(layout(40, 8)).unwrap();
    for h in hb.iter().chain([&reused]).filter(|h| b.contains(**h)) {
        b.get_mut(*h).unwrap().fill(0xBB);
    }
    let mut forged: Vec<Handle> = ha.iter().chain(&hb).copied().collect();
    for index in [0u32, 1, 2, 5, 7, 8, 9, 1 << 20, u32::MAX - 1, u32::MAX] {
        for generation in [0u32, 1, 2, u32::MAX - 1, u32::MAX] {
            forged.push(Handle::from_bits(
                u64::from(index) << 32 | u64::from(generation),
            ));
        }
    }
    for c in [&a, &b] {
        let scope = c.pin_all();
        for &h in &forged {
            // Whatever answers, it is one of this allocator's live blocks
            // with the bytes this test wrote into it.
            let own = if core::ptr::eq(c, &a) { 0xAA } else { 0xBB };
            if let Some(bytes) = scope.get(h) {
                assert!(bytes.iter().all(|&x| x == own), "{h:?}");
                assert_eq!(Some(bytes.len()), c.len_of(h));
            } else {
                assert!(c.get(h).is_none() || c.get_mut(h).is_none(), "{h:?}");
            }
        }
        drop(scope);
        for &h in &forged {
            if let Some(g) = c.get(h) {
                let own = if core::ptr::eq(c, &a) { 0xAA } else { 0xBB };
                assert!(g.iter().all(|&x| x == own), "{h:?}");
                let range = g.as_ptr_range();
                drop(g);
                let mut m = c.get_mut(h).expect("live, unpinned");
                assert_eq!(m.as_ptr_range(), range);
                m.fill(own);
            } else {
                assert!(c.get_mut(h).is_none());
                assert_eq!(c.len_of(h), None);
            }
        }
        c.check().unwrap();
    }
    // Stale and forged frees are errors and change nothing.
    assert!(b.free(hb[1]).is_err());
    assert!(a.free(Handle::from_bits(u64::MAX)).is_err());
    assert!(a.free(Handle::from_bits(9 << 32)).is_err());
    a.check().unwrap();
    b.check().unwrap();
    assert!(fa.intact() && fb.intact());
}

#[test]
fn get_mut_and_pin_all_exclude_each_other_on_one_thread() {
    let (fence, c) = compact(Compact::bytes_for(1024, 8), 8);
    let hole = c.allocate(layout(64, 8)).unwrap();
    let h = c.allocate(layout(32, 8)).unwrap();
    c.free(hole).unwrap();
    // A writer first: the scope cannot reach the block, nor move it.
    let mut w = c.get_mut(h).unwrap();
    w.fill(1);
    let scope = c.pin_all();
    assert!(scope.get(h).is_none());
    assert!(c.get(h).is_none());
    assert_eq!(c.free(h), Err(AllocError::Pinned));
    assert_eq!(c.defragment(DefragBudget::UNLIMITED).blocks_moved, 0);
    w.fill(2);
    drop(w);
    // The writer gone, the scope reads; no writer or free meanwhile.
    let bytes = scope.get(h).unwrap();
    assert!(bytes.iter().all(|&x| x == 2));
    assert!(c.get_mut(h).is_none());
    assert_eq!(c.free(h), Err(AllocError::Pinned));
    assert_eq!(c.defragment(DefragBudget::UNLIMITED).blocks_moved, 0);
    assert!(bytes.iter().all(|&x| x == 2));
    drop(scope);
    // Both gone: the block moves into the hole and keeps its bytes.
    assert_eq!(c.defragment(DefragBudget::UNLIMITED).blocks_moved, 1);
    assert!(c.get(h).unwrap().iter().all(|&x| x == 2));
    c.free(h).unwrap();
    c.check().unwrap();
    assert!(fence.intact());
}

/// A fixed bank's plan ends before the last address (audit14): an entry that would run
/// past it crosses the budget (before, `place_fixed` only capped at
/// `isize::MAX`, and on a 32-bit target `base: 0xF000_0000` with 300 MiB of
/// entries placed the later ones at wrapped, low addresses).
#[test]
fn a_fixed_bank_ends_inside_the_address_space() {
    use flight_mem::__private::{BankPlan, Slot};
    let base = usize::MAX - 0xFFFF;
    let plan = BankPlan::<2>::place_fixed(
        1 << 20,
        base,
        1 << 16,
        [
            Slot::new("low", 0x8000, 1, 0),
            Slot::new("high", 0x1_0000, 1, 0),
        ],
    );
    assert!(!plan.fits());
    assert_eq!(plan.crossing, 1);
    assert!(plan.capped);
    // The room up to, not including, the last address is usable
    // (`base + size <= usize::MAX`: audit14).
    let plan = BankPlan::<2>::place_fixed(
        1 << 20,
        base,
        1 << 16,
        [
            Slot::new("low", 0x8000, 1, 0),
            Slot::new("high", 0x7FFF, 1, 0),
        ],
    );
    assert!(plan.fits());
}
