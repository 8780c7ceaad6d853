//! `region NAME = .. { allocator: compact }` (SPEC §8): handles from the
//! accessors, pins, defragmentation through the layout, and the region in
//! every layout-wide report.

use core::alloc::Layout;

use flight_mem::{AllocatorKind, DefragBudget, memory_layout};

memory_layout! {
    pub layout Streaming {
        budget = 4 MiB;
        region heap = 256 KiB;
        /// Streamed textures: blocks move when the cache defragments.
        region assets = 1 MiB { allocator: compact };
    }
}

#[test]
fn compact_regions_hand_out_handles_and_defragment() {
    let assets: &'static flight_mem::Compact = Streaming::assets();
    let layout = Layout::from_size_align(16 << 10, 8).unwrap();
    let mut handles = Vec::new();
    while let Ok(handle) = Streaming::alloc_assets(layout) {
        assets.get_mut(handle).unwrap()[0] = handles.len() as u8;
        handles.push(handle);
    }
    assert!(handles.len() >= 50, "{} blocks", handles.len());
    // Free every other block: the free bytes are there, but in holes.
    let mut kept = Vec::new();
    for (i, handle) in handles.into_iter().enumerate() {
        if i % 2 == 0 {
            Streaming::free_assets(handle).unwrap();
        } else {
            kept.push((i as u8, handle));
        }
    }
    assert!(Streaming::free_assets(kept[0].1).is_ok());
    assert!(
        Streaming::free_assets(kept[0].1).is_err(),
        "a stale handle is an Err"
    );
    kept.remove(0);
    let large = Layout::from_size_align(256 << 10, 8).unwrap();
    assert!(Streaming::alloc_assets(large).is_err(), "fragmented");
    let mut calls = 0;
    loop {
        calls += 1;
        let report = assets.defragment(DefragBudget {
            max_bytes: 64 << 10,
            max_moves: 8,
        });
        assert!(report.bytes_moved <= 64 << 10);
        if report.done() {
            break;
        }
        assert!(calls < 1000);
    }
    for (tag, handle) in &kept {
        assert_eq!(
            assets.get(*handle).unwrap()[0],
            *tag,
            "contents moved with the block"
        );
    }
    assert!(Streaming::alloc_assets(large).is_ok(), "defragmented");
    let info = Streaming::regions()
        .iter()
        .find(|r| r.name == "assets")
        .unwrap();
    assert_eq!(info.allocator, AllocatorKind::Compact);
    assert!(Streaming::stats().entry("assets").unwrap().stats.live > 0);
    assert!(Streaming::validate().is_ok(), "{}", Streaming::validate());
    // A routed request never lands in a compact region.
    let routed = Streaming::allocate(&flight_mem::AllocationRequest::new(64)).unwrap();
    assert_eq!(routed.region.name, "heap");
}
