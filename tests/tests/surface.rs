//! Every allocator a layout hands out has the same inherent surface, so
//! `Game::temp().stats()` compiles with no trait in scope (this file imports
//! no flight-mem trait on purpose).

use core::alloc::Layout;
use core::ptr::NonNull;

use flight_mem::{AllocatorKind, memory_layout};

pub struct Enemy {
    pub hp: u32,
}

memory_layout! {
    pub layout Surface {
        budget = 4 MiB;
        region heap = 256 KiB;
        region audio = 256 KiB { allocator: buddy };
        region misc = 256 KiB { allocator: freelist };
        frame scratch = [64 KiB; 2];
        stack temp = 64 KiB;
        pool enemies = [Enemy; 64];
        pool packets = [256 B; 16];
        reserve emergency = 64 KiB;
    }
}

/// Calls the whole read-only surface on one accessor and returns its kind.
macro_rules! surface {
    ($accessor:expr, $capacity_at_least:expr) => {{
        let allocator = $accessor;
        let stats = allocator.stats();
        assert_eq!(stats.capacity, allocator.capacity());
        assert!(allocator.capacity() >= $capacity_at_least);
        allocator.check().unwrap();
        assert!(!allocator.owns(NonNull::from(&0u64).cast()));
        allocator.kind()
    }};
}

#[test]
fn every_accessor_has_stats_capacity_check_owns_and_kind() {
    assert_eq!(surface!(Surface::heap(), 200 << 10), AllocatorKind::Tlsf);
    assert_eq!(surface!(Surface::audio(), 128 << 10), AllocatorKind::Buddy);
    assert_eq!(
        surface!(Surface::misc(), 200 << 10),
        AllocatorKind::FreeList
    );
    assert_eq!(
        surface!(Surface::scratch(), 64 << 10),
        AllocatorKind::Frames
    );
    assert_eq!(surface!(Surface::temp(), 64 << 10), AllocatorKind::Stack);
    assert_eq!(surface!(Surface::enemies(), 64 * 4), AllocatorKind::Pool);
    assert_eq!(
        surface!(Surface::packets(), 16 * 256),
        AllocatorKind::BlockPool
    );
    assert_eq!(
        surface!(Surface::emergency(), 32 << 10),
        AllocatorKind::Tlsf
    );
}

#[test]
fn byte_allocators_allocate_and_free_without_the_trait() {
    let layout = Layout::from_size_align(100, 8).unwrap();
    let heap = Surface::heap().allocate_zeroed(layout).unwrap();
    // SAFETY: the block is 100 zeroed bytes.
    assert!(unsafe { heap.as_ref() }.iter().all(|&b| b == 0));
    let temp = Surface::temp().allocate(layout).unwrap();
    let audio = Surface::audio().allocate(layout).unwrap();
    let misc = Surface::misc().allocate(layout).unwrap();
    let packet = Surface::packets().allocate(layout).unwrap();
    assert!(Surface::scratch().allocate(layout).is_ok());
    // SAFETY: each block came from the allocator it goes back to and is not
    // used afterwards.
    unsafe {
        Surface::heap().free(heap.cast()).unwrap();
        Surface::temp().free(temp.cast()).unwrap();
        Surface::audio().free(audio.cast()).unwrap();
        Surface::misc().free(misc.cast()).unwrap();
        Surface::packets().free(packet.cast()).unwrap();
    }
    for live in [
        Surface::heap().stats().live,
        Surface::temp().stats().live,
        Surface::audio().stats().live,
        Surface::misc().stats().live,
        Surface::packets().stats().live,
    ] {
        assert_eq!(live, 0);
    }
}
