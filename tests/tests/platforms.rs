//! A layout for every built-in platform: banks and budgets are the usable
//! figures of PLATFORMS.md, entries land in the bank that holds their memory
//! type, and the defaults follow the platform (guard, alignment).

use flight_mem::{MemoryType, memory_layout};

memory_layout! {
    pub layout OnDreamcast for Dreamcast {
        region heap = 8 MiB;
        region textures = 4 MiB { memory: Video, align: 256 };
        region sounds = 1 MiB { memory: Audio, allocator: buddy };
        frame scratch = [256 KiB; 2];
    }
    pub layout OnPsx for Psx {
        region heap = 1 MiB;
        region vram_cache = 512 KiB { memory: Video };
        region spu = 256 KiB { memory: Audio };
        frame fast = 512 B { bank: scratch };
    }
    pub layout OnPsp for Psp {
        region heap = 16 MiB;
        region textures = 1 MiB { memory: Video };
        region music = 2 MiB { memory: Audio };
    }
    pub layout OnPsp2000 for Psp2000 {
        region heap = 48 MiB;
    }
    pub layout OnGba for Gba {
        region heap = 128 KiB;
        stack fast = 8 KiB;
        region tiles = 32 KiB { memory: Video };
    }
    pub layout OnN64 for N64 {
        region heap = 2 MiB;
        region framebuffers = 600 KiB { memory: Video };
    }
    pub layout OnWasm for Wasm32 {
        budget = 64 MiB;
        region heap = 32 MiB;
    }
    pub layout OnDesktop for Desktop {
        budget = 64 MiB;
        region heap = 32 MiB;
    }
}

fn banks<L: flight_mem::Layout>() -> Vec<(&'static str, usize)> {
    L::banks().iter().map(|b| (b.name, b.budget)).collect()
}

fn bank_of<L: flight_mem::Layout>(entry: &str) -> &'static str {
    L::regions().iter().find(|r| r.name == entry).unwrap().bank
}

#[test]
fn budgets_are_the_usable_figures() {
    assert_eq!(
        banks::<OnDreamcast>(),
        [("main", 16_711_680), ("vram", 8 << 20), ("aram", 1_900_544)]
    );
    assert_eq!(
        banks::<OnPsx>(),
        [
            ("main", 2_031_616),
            ("vram", 1 << 20),
            ("spu", 520_192),
            ("scratch", 1024)
        ]
    );
    assert_eq!(
        banks::<OnPsp>(),
        [("main", 25_149_440), ("vram", 2 << 20), ("scratch", 16_384)]
    );
    assert_eq!(banks::<OnPsp2000>()[0], ("main", 58_703_872));
    assert_eq!(
        banks::<OnGba>(),
        [("ewram", 262_144), ("iwram", 32_512), ("vram", 98_304)]
    );
    assert_eq!(banks::<OnN64>(), [("rdram", 4_127_744)]);
    assert_eq!(banks::<OnWasm>(), [("linear", 64 << 20)]);
    assert_eq!(banks::<OnDesktop>(), [("main", 64 << 20)]);
}

#[test]
fn hardware_addresses_are_recorded() {
    let address = |banks: &[flight_mem::BankInfo], i: usize| banks[i].address;
    assert_eq!(address(OnDreamcast::banks(), 0), Some(0x8C01_0000));
    assert_eq!(address(OnDreamcast::banks(), 1), Some(0xA500_0000));
    assert_eq!(address(OnPsx::banks(), 3), Some(0x1F80_0000));
    assert_eq!(address(OnGba::banks(), 1), Some(0x0300_0000));
    assert_eq!(
        address(OnPsx::banks(), 1),
        None,
        "PSX VRAM is not CPU-addressable"
    );
    assert!(
        OnDreamcast::banks().iter().all(|b| !b.fixed),
        "built-in banks are simulated on the host"
    );
}

#[test]
fn entries_land_in_the_bank_of_their_memory_type() {
    assert_eq!(bank_of::<OnDreamcast>("textures"), "vram");
    assert_eq!(bank_of::<OnDreamcast>("sounds"), "aram");
    assert_eq!(bank_of::<OnDreamcast>("scratch"), "main");
    assert_eq!(bank_of::<OnPsx>("spu"), "spu");
    assert_eq!(bank_of::<OnPsx>("fast"), "scratch");
    assert_eq!(
        bank_of::<OnPsp>("music"),
        "main",
        "the PSP keeps audio in main memory"
    );
    assert_eq!(
        bank_of::<OnGba>("fast"),
        "iwram",
        "a stack goes to the first bank holding Stack memory"
    );
    assert_eq!(bank_of::<OnGba>("tiles"), "vram");
    assert_eq!(
        bank_of::<OnN64>("framebuffers"),
        "rdram",
        "the N64 memory is unified"
    );
    let psx_fast = OnPsx::regions().iter().find(|r| r.name == "fast").unwrap();
    assert_eq!(psx_fast.memory, MemoryType::Temporary);
}

#[test]
fn defaults_follow_the_platform() {
    let first = |regions: &[flight_mem::RegionInfo]| (regions[0].align, regions[0].guard);
    assert_eq!(
        first(OnDreamcast::regions()),
        (32, 32),
        "SH-4: 32-byte lines, MMU off"
    );
    assert_eq!(first(OnPsx::regions()), (16, 16));
    assert_eq!(first(OnPsp::regions()), (64, 64));
    assert_eq!(
        first(OnGba::regions()),
        (4, 0),
        "no cache: word alignment, no guard"
    );
    assert_eq!(
        first(OnDesktop::regions()),
        (64, 4096),
        "an MMU: page guards"
    );
}

#[test]
fn every_platform_allocates() {
    let layout = core::alloc::Layout::from_size_align(256, 16).unwrap();
    for block in [
        OnDreamcast::alloc_heap(layout),
        OnPsx::alloc_heap(layout),
        OnPsp::alloc_heap(layout),
        OnPsp2000::alloc_heap(layout),
        OnGba::alloc_heap(layout),
        OnN64::alloc_heap(layout),
        OnWasm::alloc_heap(layout),
        OnDesktop::alloc_heap(layout),
    ] {
        let block = block.unwrap();
        assert!(block.len() >= 256);
    }
    assert_eq!(
        OnGba::owner_of(OnGba::alloc_fast(layout).unwrap().cast())
            .unwrap()
            .name,
        "fast"
    );
}
