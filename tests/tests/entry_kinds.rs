//! Every entry kind of a generated layout: its accessor, allocation and
//! free, its row in `regions()` and `stats()`, and ownership lookup.

use core::alloc::Layout;
use core::ptr::NonNull;

use flight_mem::{AllocError, AllocatorKind, EntryKind, MemoryType, RawAllocator, memory_layout};
use flight_mem_layout_tests::Particle;

memory_layout! {
    /// A desktop plan with one entry of every kind.
    pub layout Kinds for Desktop {
        budget = 16 MiB;
        guard = 4 KiB;
        align = 64;

        /// The general heap.
        region heap = 1 MiB;
        region textures = 1 MiB { memory: Video, allocator: buddy, align: 256 };
        region assets = 512 KiB { allocator: freelist };
        frame scratch = [64 KiB; 2];
        stack temp = 64 KiB;
        pool particles = [Particle; 100];
        pool packets = [1536 B; 8] { memory: Network, align: 64 };
        reserve emergency = 128 KiB { flags: [critical] };
    }
}

fn layout_of(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

fn owner(ptr: NonNull<u8>) -> &'static str {
    Kinds::owner_of(ptr).map_or("<none>", |info| info.name)
}

#[test]
fn regions_describe_every_entry_in_declaration_order() {
    let regions = Kinds::regions();
    let names: Vec<&str> = regions.iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        [
            "heap",
            "textures",
            "assets",
            "scratch",
            "temp",
            "particles",
            "packets",
            "emergency"
        ]
    );
    let kinds: Vec<EntryKind> = regions.iter().map(|r| r.kind).collect();
    use EntryKind::*;
    assert_eq!(
        kinds,
        [Region, Region, Region, Frame, Stack, Pool, Pool, Reserve]
    );
    let allocators: Vec<AllocatorKind> = regions.iter().map(|r| r.allocator).collect();
    use AllocatorKind as A;
    assert_eq!(
        allocators,
        [
            A::Tlsf,
            A::Buddy,
            A::FreeList,
            A::Frames,
            A::Stack,
            A::Pool,
            A::BlockPool,
            A::Tlsf
        ]
    );
    assert_eq!(regions[1].memory, MemoryType::Video);
    assert_eq!(regions[3].memory, MemoryType::Temporary);
    assert_eq!(regions[4].memory, MemoryType::Stack);
    assert_eq!(regions[5].memory, MemoryType::Pool);
    assert_eq!(regions[6].memory, MemoryType::Network);
    assert!(regions[7].flags.contains(flight_mem::MemoryFlags::CRITICAL));
    // Placement: declaration order, aligned, a guard after every entry.
    let mut end = 0;
    for region in regions {
        assert_eq!(region.bank, "main");
        assert_eq!(region.guard, 4096);
        assert_eq!(region.offset % region.align, 0, "{}", region.name);
        assert!(
            region.offset >= end,
            "{} overlaps the previous entry's guard",
            region.name
        );
        end = region.end() + region.guard;
    }
    assert_eq!(regions[0].offset, 0);
    assert_eq!(regions[1].offset, (1 << 20) + 4096);
    assert_eq!(regions[1].align, 256);
    assert_eq!(regions[3].size, 128 * 1024);
    assert_eq!(
        regions[5].align, 64,
        "a typed pool keeps the layout's alignment when the type needs less"
    );
    let bank = &Kinds::banks()[0];
    assert_eq!(bank.used, end);
    assert_eq!(bank.budget, 16 << 20);
}

/// Tests that count live blocks of one entry take this, so a test that
/// allocates in the same static entry on another thread cannot skew them.
static COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn regions_allocate_free_and_own_their_blocks() {
    let _serial = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    for (alloc, free, name) in [
        (
            Kinds::alloc_heap as fn(Layout) -> _,
            Kinds::free_heap as unsafe fn(_, _),
            "heap",
        ),
        (Kinds::alloc_textures, Kinds::free_textures, "textures"),
        (Kinds::alloc_assets, Kinds::free_assets, "assets"),
        (Kinds::alloc_temp, Kinds::free_temp, "temp"),
        (Kinds::alloc_packets, Kinds::free_packets, "packets"),
    ] {
        let block = alloc(layout_of(100)).unwrap();
        assert!(block.len() >= 100);
        assert_eq!(owner(block.cast()), name);
        let row = Kinds::stats().entry(name).unwrap();
        assert_eq!(row.stats.live, 1, "{name}");
        // SAFETY: the block came from this entry and is not used again.
        unsafe { free(block.cast(), layout_of(100)) };
        assert_eq!(Kinds::stats().entry(name).unwrap().stats.live, 0, "{name}");
    }
}

#[test]
fn a_full_typed_pool_gives_the_value_back() {
    let mut live = Vec::new();
    let particle = Particle {
        life: 1.0,
        ..Particle::default()
    };
    while let Ok(slot) = Kinds::alloc_particles(particle) {
        assert_eq!(owner(NonNull::from(&*slot).cast()), "particles");
        live.push(slot);
    }
    assert_eq!(live.len(), 100);
    let refused = Kinds::alloc_particles(Particle {
        life: 7.0,
        ..particle
    })
    .unwrap_err();
    assert_eq!(refused.life, 7.0);
    live.pop();
    assert!(Kinds::alloc_particles(particle).is_ok());
}

#[test]
fn frames_allocate_from_the_current_frame() {
    let first = Kinds::alloc_scratch(layout_of(1000)).unwrap();
    assert_eq!(owner(first.cast()), "scratch");
    let frames = Kinds::scratch();
    assert_eq!(frames.frame_count(), 2);
    assert!(
        Kinds::alloc_scratch(layout_of(128 * 1024)).is_err(),
        "one frame holds 64 KiB"
    );
}

#[test]
fn reserves_are_tlsf_instances() {
    let reserve: &'static flight_mem::Tlsf = Kinds::emergency();
    let block = RawAllocator::allocate(reserve, layout_of(64)).unwrap();
    assert_eq!(owner(block.cast()), "emergency");
    // SAFETY: the block came from the reserve and is not used again.
    unsafe { RawAllocator::free(reserve, block.cast()) }.unwrap();
}

#[test]
fn ownership_excludes_guards_padding_and_foreign_memory() {
    let regions = Kinds::regions();
    let start = Kinds::banks()[0].start();
    for region in regions {
        let inside = NonNull::new(start.wrapping_add(region.offset + region.size / 2)).unwrap();
        assert_eq!(owner(inside), region.name);
        let guard = NonNull::new(start.wrapping_add(region.end())).unwrap();
        assert_eq!(
            Kinds::owner_of(guard),
            None,
            "the guard after {}",
            region.name
        );
    }
    let local = 0u64;
    assert_eq!(Kinds::owner_of(NonNull::from(&local).cast()), None);
    // SAFETY: no entry owns the pointer, which is the case under test.
    let result = unsafe { Kinds::deallocate(NonNull::from(&local).cast()) };
    assert_eq!(result, Err(AllocError::ForeignPointer));
}

#[test]
fn deallocate_finds_the_owner_by_address() {
    let _serial = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    let block = Kinds::alloc_assets(layout_of(4000)).unwrap();
    let before = Kinds::stats().entry("assets").unwrap().stats.deallocations;
    // SAFETY: the block is live and not used again.
    unsafe { Kinds::deallocate(block.cast()) }.unwrap();
    assert_eq!(
        Kinds::stats().entry("assets").unwrap().stats.deallocations,
        before + 1
    );
}

#[test]
fn stats_total_every_entry_and_print() {
    let stats = Kinds::stats();
    let rows: Vec<_> = stats.entries().collect();
    assert_eq!(rows.len(), 8);
    let capacity: usize = rows.iter().map(|r| r.stats.capacity).sum();
    assert_eq!(stats.total.capacity, capacity);
    let table = stats.to_string();
    assert!(table.lines().count() >= 10, "{table}");
    assert!(
        table.contains("particles") && table.contains("total"),
        "{table}"
    );
    let map = Kinds::map().to_string();
    assert!(map.starts_with("layout Kinds for Desktop"), "{map}");
    for region in Kinds::regions() {
        assert!(map.contains(region.name), "{map}");
    }
}

#[test]
fn generic_code_takes_any_layout() {
    fn entries<L: flight_mem::Layout>() -> usize {
        L::regions().len() + L::banks().len()
    }
    assert_eq!(entries::<Kinds>(), 9);
    assert_eq!(<Kinds as flight_mem::Layout>::name(), "Kinds");
}

/// A free the allocator refuses (here a pointer from outside its region)
/// changes nothing and, in a build with debug assertions, panics naming
/// the entry.
#[test]
#[cfg(debug_assertions)]
fn a_refused_free_panics_in_debug_builds_naming_the_entry() {
    let _serial = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    let before = Kinds::assets().stats();
    let mut outside = [0u64; 8];
    let foreign = NonNull::from(&mut outside).cast::<u8>();
    let panic = std::panic::catch_unwind(|| {
        // SAFETY: not a block of `assets`: FreeList checks the address
        // range first and refuses it without reading through it.
        unsafe { Kinds::free_assets(foreign, layout_of(64)) };
    })
    .expect_err("a refused free panics under debug assertions");
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    assert_eq!(
        message,
        "flight-mem: bad free in `Kinds::assets`: Err(ForeignPointer)"
    );
    assert_eq!(
        Kinds::assets().stats(),
        before,
        "the refused free changed the stats"
    );
    assert_eq!(outside, [0; 8]);
}
