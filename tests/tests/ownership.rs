//! `deallocate` finds a block's entry by address, for every allocator kind,
//! and refuses pointers no entry owns.

use core::alloc::Layout;
use core::ptr::NonNull;

use flight_mem::{AllocError, RawAllocator, memory_layout};
use flight_mem_layout_tests::Particle;

memory_layout! {
    layout Owners for Desktop {
        budget = 4 MiB;
        guard = 64 B;
        align = 64;
        region heap = 256 KiB;
        region textures = 256 KiB { memory: Video, allocator: buddy };
        region assets = 128 KiB { allocator: freelist };
        frame scratch = [32 KiB; 2];
        stack temp = 32 KiB;
        pool particles = [Particle; 64];
        pool packets = [1536 B; 8] { memory: Network };
        reserve emergency = 64 KiB;
    }
}

fn live(name: &str) -> usize {
    Owners::stats().entry(name).unwrap().stats.live
}

#[test]
fn deallocate_frees_blocks_of_every_allocator_kind() {
    let layout = Layout::from_size_align(200, 8).unwrap();
    let blocks: [(&str, NonNull<[u8]>); 6] = [
        ("heap", Owners::alloc_heap(layout).unwrap()),
        ("textures", Owners::alloc_textures(layout).unwrap()),
        ("assets", Owners::alloc_assets(layout).unwrap()),
        ("temp", Owners::alloc_temp(layout).unwrap()),
        ("packets", Owners::alloc_packets(layout).unwrap()),
        ("emergency", Owners::emergency().allocate(layout).unwrap()),
    ];
    for (name, block) in blocks {
        assert_eq!(Owners::owner_of(block.cast()).map(|r| r.name), Some(name));
        assert_eq!(live(name), 1, "{name}");
        // SAFETY: the block is live and not used again.
        unsafe { Owners::deallocate(block.cast()) }.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(live(name), 0, "{name}");
    }

    // A typed pool's slot, taken through its raw interface.
    let slot = Owners::particles()
        .allocate(Layout::new::<Particle>())
        .unwrap();
    assert_eq!(live("particles"), 1);
    // SAFETY: as above.
    unsafe { Owners::deallocate(slot.cast()) }.unwrap();
    assert_eq!(live("particles"), 0);

    // Frames are reset, not freed: deallocating a frame block is a no-op.
    let frame = Owners::alloc_scratch(layout).unwrap();
    assert_eq!(
        Owners::owner_of(frame.cast()).map(|r| r.name),
        Some("scratch")
    );
    // SAFETY: as above.
    assert_eq!(unsafe { Owners::deallocate(frame.cast()) }, Ok(()));
}

#[test]
fn pointers_no_entry_owns_are_errors() {
    let local = 0u64;
    // SAFETY: an error is the expected outcome; nothing is freed.
    let result = unsafe { Owners::deallocate(NonNull::from(&local).cast()) };
    assert_eq!(result, Err(AllocError::ForeignPointer));

    // Guard bytes belong to no entry.
    for info in Owners::regions() {
        let bank = Owners::banks()
            .iter()
            .find(|b| b.name == info.bank)
            .unwrap();
        let guard = bank.start().wrapping_add(info.end());
        let guard = NonNull::new(guard).unwrap();
        assert_eq!(Owners::owner_of(guard), None, "guard of `{}`", info.name);
        // SAFETY: no entry owns the pointer, so nothing is freed.
        let result = unsafe { Owners::deallocate(guard) };
        assert_eq!(result, Err(AllocError::ForeignPointer));
    }
}
