//! Request routing: first choice by memory type and placement flags, the
//! documented fallback order, zeroed blocks, and `NoRoute`.
//!
//! The tests fill regions of one shared layout, so they take turns.

use std::sync::{Mutex, MutexGuard};

use flight_mem::{
    AllocError, Allocation, AllocationRequest, MemoryFlags, MemoryType, memory_layout,
};

memory_layout! {
    layout Routes {
        guard = 0 B;
        align = 16;
        bank main = 1 MiB { memory: [System, Temporary, Network] };
        bank fast = 256 KiB { memory: [System, Network], flags: [dma] };
        bank vram = 512 KiB { memory: Video, flags: [gpu, dma] };

        region heap = 64 KiB;
        region scratch = 32 KiB { memory: Temporary };
        region net = 16 KiB { memory: Network, bank: fast };
        region dma = 32 KiB { bank: fast };
        region textures = 128 KiB { memory: Video, allocator: buddy };
    }
}

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn landed(request: AllocationRequest) -> Result<(&'static str, bool), AllocError> {
    let allocation = Routes::allocate(&request)?;
    let where_ = (allocation.region.name, allocation.fell_back);
    release(allocation);
    Ok(where_)
}

fn release(allocation: Allocation) {
    // SAFETY: the block came from `allocate` and is not used again.
    unsafe { Routes::deallocate(allocation.as_non_null()) }.unwrap();
}

/// Routes `request` until it stops landing where it landed first, and
/// keeps what it got.
fn exhaust(request: AllocationRequest) -> Vec<Allocation> {
    let first = Routes::allocate(&request).unwrap();
    let region = first.region;
    let mut taken = vec![first];
    // Route the same request until it stops landing in `region`.
    loop {
        match Routes::allocate(&request) {
            Ok(a) if a.region == region => taken.push(a),
            Ok(a) => {
                release(a);
                break;
            }
            Err(_) => break,
        }
    }
    taken
}

#[test]
fn requests_go_to_the_first_region_of_their_memory_type() {
    let _turn = turn();
    let kib = AllocationRequest::new(1024);
    assert_eq!(landed(kib), Ok(("heap", false)));
    assert_eq!(
        landed(kib.memory(MemoryType::Temporary)),
        Ok(("scratch", false))
    );
    assert_eq!(landed(kib.memory(MemoryType::Network)), Ok(("net", false)));
    assert_eq!(
        landed(kib.memory(MemoryType::Video)),
        Ok(("textures", false))
    );
    let owner = Routes::allocate(&kib).unwrap();
    assert_eq!(
        Routes::owner_of(owner.as_non_null()).map(|r| r.name),
        Some("heap")
    );
    release(owner);
}

#[test]
fn placement_flags_pick_regions_whose_bank_has_them() {
    let _turn = turn();
    let dma = AllocationRequest::new(1024).flags(MemoryFlags::DMA);
    // `heap` is System memory in a bank without DMA; `dma` is System memory
    // in the DMA bank: still a first choice.
    assert_eq!(landed(dma), Ok(("dma", false)));
    let gpu = AllocationRequest::new(1024).flags(MemoryFlags::GPU);
    assert_eq!(
        landed(gpu),
        Err(AllocError::NoRoute),
        "no System region has GPU access"
    );
    assert_eq!(
        landed(gpu.with_fallback()),
        Ok(("textures", true)),
        "another memory type with the flag"
    );
    assert_eq!(
        landed(
            AllocationRequest::new(1024)
                .flags(MemoryFlags::UNCACHED)
                .with_fallback()
        ),
        Err(AllocError::NoRoute),
        "no bank is uncached"
    );
}

#[test]
fn fallback_takes_system_regions_first_then_declaration_order() {
    let _turn = turn();
    let net = AllocationRequest::new(4096).memory(MemoryType::Network);
    let mut held = exhaust(net);
    assert!(held.iter().all(|a| a.region.name == "net" && !a.fell_back));
    assert!(
        matches!(landed(net), Err(AllocError::OutOfMemory { .. })),
        "no fallback without permission"
    );
    let net = net.with_fallback();
    // System memory first, in declaration order: heap, then dma.
    assert_eq!(landed(net), Ok(("heap", true)));
    held.extend(exhaust(net));
    assert_eq!(landed(net), Ok(("dma", true)));
    held.extend(exhaust(net));
    // Then the other memory types in declaration order: scratch, textures.
    assert_eq!(landed(net), Ok(("scratch", true)));
    held.extend(exhaust(net));
    assert_eq!(landed(net), Ok(("textures", true)));
    held.extend(exhaust(net));
    assert!(matches!(landed(net), Err(AllocError::OutOfMemory { .. })));
    for allocation in held {
        release(allocation);
    }
    assert_eq!(Routes::stats().total.live, 0);
}

#[test]
fn zeroed_requests_get_zeroed_blocks() {
    let _turn = turn();
    let request = AllocationRequest::new(256);
    let dirty = Routes::allocate(&request).unwrap();
    // SAFETY: the block is 256 writable bytes.
    unsafe { dirty.as_non_null().as_ptr().write_bytes(0xAB, 256) };
    release(dirty);
    let clean = Routes::allocate(&request.flags(MemoryFlags::ZEROED)).unwrap();
    // SAFETY: the block is at least 256 readable bytes.
    let bytes = unsafe { core::slice::from_raw_parts(clean.as_non_null().as_ptr(), clean.len()) };
    assert!(bytes.iter().all(|&b| b == 0));
    release(clean);
}

#[test]
fn bad_requests_and_unknown_memory_types_are_errors() {
    let _turn = turn();
    assert_eq!(landed(AllocationRequest::new(0)), Err(AllocError::ZeroSize));
    assert_eq!(
        landed(AllocationRequest::new(64).align(3)),
        Err(AllocError::BadAlignment { align: 3 })
    );
    let audio = AllocationRequest::new(64).memory(MemoryType::Audio);
    assert_eq!(landed(audio), Err(AllocError::NoRoute));
    assert_eq!(landed(audio.with_fallback()), Ok(("heap", true)));
    // Larger than every region: each refuses, the first refusal comes back.
    assert!(matches!(
        landed(AllocationRequest::new(1 << 20)),
        Err(AllocError::TooLarge { .. } | AllocError::OutOfMemory { .. })
    ));
}
