//! Unit tests of the free stack (a file of their own to keep `free_slots.rs` short).

use super::*;

extern crate std;
use std::vec;
use std::vec::Vec;

fn table() -> [AtomicU32; 4] {
    [const { AtomicU32::new(0) }; 4]
}

#[test]
fn pop_tag_wraps_without_losing_a_pop() {
    let words = table();
    // SAFETY: the table is local, aligned and only accessed atomically.
    let links = unsafe { Links::new(NonNull::from(&words[0]), 3) };
    let stack = FreeStack::new(3);
    let first = stack.pop(links, ALLOCATED).unwrap();
    // SAFETY: popped above.
    unsafe { stack.push(links, first) }.unwrap();
    // Jump the tag to its last value, as if 2^62 - 1 pops had happened.
    let layout = stack.layout;
    let last_tag = u64::MAX >> layout.tag_shift;
    let head = stack.head.load(Ordering::Relaxed);
    let jumped = (head & (layout.tag_unit - 1)) | last_tag << layout.tag_shift;
    stack.head.store(jumped, Ordering::Relaxed);
    let before = stack.counts(3);
    assert_eq!(before.allocations, 1 + last_tag);
    assert_eq!(before.live, 0);
    let again = stack.pop(links, ALLOCATED).unwrap();
    assert_eq!(again, first);
    let after = stack.counts(3);
    assert_eq!(stack.tag_wraps.load(Ordering::Relaxed), 1);
    assert_eq!(after.allocations, before.allocations.wrapping_add(1));
    assert_eq!(after.live, 1);
    // SAFETY: popped above.
    unsafe { stack.push(links, again) }.unwrap();
    assert_eq!(stack.counts(3).deallocations, after.allocations);
    assert_eq!(stack.check(links).ok().flatten(), Some(1));
}

#[test]
fn layouts_keep_at_least_32_tag_bits() {
    for slots in [0, 1, 2, 3, 255, 256, 65_535, 65_536, u32::MAX - 2] {
        let layout = HeadLayout::for_slots(slots);
        assert!(layout.tag_bits() >= 32, "{slots}");
        assert!(u64::from(slots) < 1 << layout.index_bits, "{slots}");
        assert_eq!(layout.depth_bits != 0, slots < 65_536, "{slots}");
    }
}

#[test]
fn double_free_of_the_top_slot_is_refused() {
    let words = table();
    // SAFETY: as above.
    let links = unsafe { Links::new(NonNull::from(&words[0]), 2) };
    let stack = FreeStack::new(2);
    let slot = stack.pop(links, ALLOCATED).unwrap();
    // SAFETY: popped above; the second push is the double free.
    unsafe { stack.push(links, slot) }.unwrap();
    // Pretend a racing free already read the word as live.
    words[slot as usize].store(ALLOCATED, Ordering::Relaxed);
    // SAFETY: as above.
    let refused = unsafe { stack.push(links, slot) };
    assert_eq!(refused, Err(AllocError::DoubleFree));
}

/// Table lengths around the `spread` grid's boundaries (fewer under Miri).
const GRID_LENGTHS: &[u32] = if cfg!(miri) {
    &[1, 5, 17, 21, 33]
} else {
    &[
        1, 2, 5, 15, 16, 17, 21, 31, 32, 33, 47, 48, 49, 100, 255, 256, 257,
    ]
};

/// A link table of `len` words that were never written: uninitialised
/// under Miri (which reports any read of them), elsewhere holding the mark
/// of a live slot (so a word read as if its slot had been handed out
/// passes for live, and the free it admits succeeds).
fn garbage_table(len: u32) -> Vec<core::mem::MaybeUninit<AtomicU32>> {
    let mut words = Vec::with_capacity(len as usize);
    for _ in 0..len {
        words.push(if cfg!(miri) {
            core::mem::MaybeUninit::uninit()
        } else {
            core::mem::MaybeUninit::new(AtomicU32::new(ALLOCATED))
        });
    }
    words
}

/// The "ever handed out" check of `push` and `take_back` under the spread
/// order (`spread::code(i) < fresh`): at every point of a pool's first
/// pass over its slots, a slot not handed out yet is refused as free
/// without its (never written) link word being read, for tables whose
/// length is not a multiple of 16 too.
#[test]
fn slots_never_handed_out_are_refused_without_reading_their_words() {
    for &len in GRID_LENGTHS {
        let mut words = garbage_table(len);
        let first = NonNull::new(words.as_mut_ptr().cast::<AtomicU32>()).unwrap();
        // SAFETY: `len` words, aligned, local, only accessed atomically;
        // their garbage is what `Links::new` allows for slots never used.
        let links = unsafe { Links::new(first, len) };
        let stack = FreeStack::new(len);
        let mut handed = vec![false; len as usize];
        for _ in 0..len {
            for index in 0..len {
                if handed[index as usize] {
                    continue;
                }
                // SAFETY: `index < len`; the slot was never handed out.
                let taken = unsafe { stack.take_back(links, index) };
                assert_eq!(taken, Err(AllocError::DoubleFree), "{len}: {index}");
                // SAFETY: as above.
                let pushed = unsafe { stack.push(links, index) };
                assert_eq!(pushed, Err(AllocError::DoubleFree), "{len}: {index}");
            }
            let slot = stack.pop(links, ALLOCATED).unwrap();
            assert!(slot < len && !handed[slot as usize], "{len}: {slot}");
            handed[slot as usize] = true;
        }
        assert_eq!(stack.pop(links, ALLOCATED), None, "{len}: exhausted");
        assert_eq!(stack.fresh(len), len);
        assert_eq!(stack.check(links).ok().flatten(), Some(0), "{len}");
    }
}
