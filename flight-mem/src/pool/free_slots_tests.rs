//! Unit tests of the free stack (a file of their own to keep `free_slots.rs` short).

use super::*;

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
