//! The built-in platforms: their banks with the bytes a program may use (not
//! the raw chip sizes), the memory types each bank holds, base addresses, and
//! the figures that set a layout's defaults (MMU, page size, cache line).
//!
//! Figures and sources are collected in `shared/PLATFORMS.md`; each profile's
//! doc comment names its sources and the choice made where they disagree.

use crate::vocabulary::{MemoryFlag, MemoryType};

/// A platform `memory_layout!` knows by name (`for Dreamcast`).
pub(crate) struct Platform {
    pub(crate) name: &'static str,
    pub(crate) banks: &'static [PlatformBank],
    /// Whether programs normally run with an MMU that can protect pages.
    pub(crate) mmu: bool,
    /// The MMU page size (0 without pages).
    pub(crate) page_size: u64,
    /// The data cache line (0 without a data cache).
    pub(crate) cache_line: u64,
    /// Whether the layout's `budget` sets the size of the (single) bank.
    pub(crate) budget: BudgetRule,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BudgetRule {
    /// The banks are fixed; `budget` is an error.
    Fixed,
    /// `budget` may shrink the single bank (never grow it).
    Optional,
    /// The single bank takes its size from `budget`, which is required.
    Required,
}

/// One memory bank of a platform.
pub(crate) struct PlatformBank {
    pub(crate) name: &'static str,
    /// Bytes a program may use.
    pub(crate) size: u64,
    /// The CPU address of the first usable byte, where the CPU can address it.
    pub(crate) base: Option<u64>,
    pub(crate) memory: u16,
    pub(crate) flags: u8,
}

impl Platform {
    /// Default gap after every entry: a page where an MMU can protect it,
    /// else a cache line (room for a canary), else nothing.
    pub(crate) fn default_guard(&self) -> u64 {
        if self.mmu {
            self.page_size
        } else {
            self.cache_line
        }
    }

    /// Default alignment of every entry: the cache line, at least a word.
    pub(crate) fn default_align(&self) -> u64 {
        self.cache_line.max(4)
    }
}

const fn types(list: &[MemoryType]) -> u16 {
    let mut bits = 0;
    let mut i = 0;
    while i < list.len() {
        bits |= list[i].bit();
        i += 1;
    }
    bits
}

const fn flags(list: &[MemoryFlag]) -> u8 {
    let mut bits = 0;
    let mut i = 0;
    while i < list.len() {
        bits |= list[i].bit();
        i += 1;
    }
    bits
}

use MemoryFlag::{Cacheable, Dma, Gpu, Uncached};
use MemoryType::{Audio, Network, Pool, Shared, Stack, System, Temporary, Video};

const GENERAL: u16 = types(&[System, Temporary, Stack, Pool, Network, Shared]);
const EVERY: u16 = (1 << MemoryType::ALL.len()) - 1;

/// Sony PlayStation. psx-spx (memory map) and psx-sdk-rs `psexe.ld`: 2 MiB
/// of main RAM at `0x8000_0000` of which the first 64 KiB belong to the
/// kernel; VRAM and SPU RAM reachable only by DMA; the SPU's first 4 KiB are
/// its capture buffers; 1 KiB scratchpad without DMA. No MMU; the R3000 has
/// an instruction cache only (16-byte lines).
pub(crate) const PSX: Platform = Platform {
    name: "Psx",
    banks: &[
        PlatformBank {
            name: "main",
            size: 2_031_616,
            base: Some(0x8001_0000),
            memory: GENERAL,
            flags: flags(&[Dma]),
        },
        PlatformBank {
            name: "vram",
            size: 1_048_576,
            base: None,
            memory: Video.bit(),
            flags: flags(&[Gpu, Dma]),
        },
        PlatformBank {
            name: "spu",
            size: 520_192,
            base: None,
            memory: Audio.bit(),
            flags: flags(&[Dma]),
        },
        PlatformBank {
            name: "scratch",
            size: 1_024,
            base: Some(0x1F80_0000),
            memory: Temporary.bit(),
            flags: 0,
        },
    ],
    mmu: false,
    page_size: 0,
    cache_line: 16,
    budget: BudgetRule::Fixed,
};

/// Sega Dreamcast. KallistiOS arch headers and `snd_iface`: 16 MiB of main
/// RAM at `0x8C00_0000` whose first 64 KiB hold the BIOS and IP.BIN; 8 MiB
/// PowerVR VRAM (32-bit path at `0xA500_0000`); 2 MiB AICA sound RAM on the
/// G2 bus of which the sound driver keeps the first 192 KiB. The SH-4 runs
/// with its MMU off (so guards default to one 32-byte cache line, not a page).
pub(crate) const DREAMCAST: Platform = Platform {
    name: "Dreamcast",
    banks: &[
        PlatformBank {
            name: "main",
            size: 16_711_680,
            base: Some(0x8C01_0000),
            memory: GENERAL,
            flags: flags(&[Dma, Cacheable]),
        },
        PlatformBank {
            name: "vram",
            size: 8_388_608,
            base: Some(0xA500_0000),
            memory: Video.bit(),
            flags: flags(&[Gpu, Dma, Uncached]),
        },
        PlatformBank {
            name: "aram",
            size: 1_900_544,
            base: Some(0xA083_0000),
            memory: Audio.bit(),
            flags: flags(&[Dma, Uncached]),
        },
    ],
    mmu: false,
    page_size: 4096,
    cache_line: 32,
    budget: BudgetRule::Fixed,
};

/// The PSP's 2 MiB of VRAM, the same on every model.
const PSP_VRAM: PlatformBank = PlatformBank {
    name: "vram",
    size: 2_097_152,
    base: Some(0x0400_0000),
    memory: Video.bit(),
    flags: flags(&[Gpu, Dma]),
};

/// The PSP's 16 KiB scratchpad, the same on every model.
const PSP_SCRATCH: PlatformBank = PlatformBank {
    name: "scratch",
    size: 16_384,
    base: Some(0x0001_0000),
    memory: Temporary.bit(),
    flags: 0,
};

/// Sony PSP (PSP-1000, 32 MiB). PPSSPP `MemMap.h`: the user partition is
/// 24 MiB at `0x0880_0000`, of which the kernel libraries take the first
/// 16 KiB; 2 MiB VRAM at `0x0400_0000`; 16 KiB scratchpad at `0x0001_0000`.
/// No MMU; 64-byte cache lines. The PSP has no sound RAM, so main memory
/// also holds `Audio` (the PLATFORMS.md table lists only the general types).
pub(crate) const PSP: Platform = Platform {
    name: "Psp",
    banks: &[
        PlatformBank {
            name: "main",
            size: 25_149_440,
            base: Some(0x0880_4000),
            memory: GENERAL | Audio.bit(),
            flags: flags(&[Dma, Cacheable]),
        },
        PSP_VRAM,
        PSP_SCRATCH,
    ],
    mmu: false,
    page_size: 0,
    cache_line: 64,
    budget: BudgetRule::Fixed,
};

/// Sony PSP-2000 and later (64 MiB). PPSSPP: with `MEMSIZE=1` in
/// PARAM.SFO the user partition spans `0x0880_0000..0x0C00_0000` (56 MiB),
/// less the same 16 KiB of kernel libraries. Sources disagree on how much of
/// it a program really gets; without `MEMSIZE=1` it is the 24 MiB of `Psp`,
/// so a build that cannot set the flag should target `Psp`.
pub(crate) const PSP2000: Platform = Platform {
    name: "Psp2000",
    banks: &[
        PlatformBank {
            name: "main",
            size: 58_703_872,
            base: Some(0x0880_4000),
            memory: GENERAL | Audio.bit(),
            flags: flags(&[Dma, Cacheable]),
        },
        PSP_VRAM,
        PSP_SCRATCH,
    ],
    mmu: false,
    page_size: 0,
    cache_line: 64,
    budget: BudgetRule::Fixed,
};

/// Nintendo Game Boy Advance (GBATEK): 256 KiB EWRAM at `0x0200_0000`;
/// 32 KiB IWRAM at `0x0300_0000` whose top 256 bytes hold the IRQ stacks;
/// 96 KiB VRAM at `0x0600_0000`. No MMU, no cache. Sound is mixed in
/// EWRAM and fed to the FIFOs by DMA, so EWRAM also holds `Audio`.
pub(crate) const GBA: Platform = Platform {
    name: "Gba",
    banks: &[
        PlatformBank {
            name: "ewram",
            size: 262_144,
            base: Some(0x0200_0000),
            memory: types(&[System, Pool, Temporary, Audio]),
            flags: flags(&[Dma]),
        },
        PlatformBank {
            name: "iwram",
            size: 32_512,
            base: Some(0x0300_0000),
            memory: types(&[Stack, Temporary]),
            flags: flags(&[Dma]),
        },
        PlatformBank {
            name: "vram",
            size: 98_304,
            base: Some(0x0600_0000),
            memory: Video.bit(),
            flags: flags(&[Gpu, Dma]),
        },
    ],
    mmu: false,
    page_size: 0,
    cache_line: 0,
    budget: BudgetRule::Fixed,
};

/// Nintendo 64 (libdragon `n64.ld`): unified 4 MiB RDRAM from
/// `0x8000_0400`, with libdragon's 64 KiB stack at the top. The 8 MiB of the
/// Expansion Pak are not assumed (the conservative figure). The TLB is
/// unused by most games; 16-byte data cache lines.
pub(crate) const N64: Platform = Platform {
    name: "N64",
    banks: &[PlatformBank {
        name: "rdram",
        size: 4_127_744,
        base: Some(0x8000_0400),
        memory: EVERY,
        flags: flags(&[Dma, Gpu, Cacheable]),
    }],
    mmu: false,
    page_size: 0,
    cache_line: 16,
    budget: BudgetRule::Fixed,
};

/// WebAssembly (32-bit linear memory; WebAssembly spec, V8
/// `wasm-limits.h`). The format allows 4 GiB, but iOS Safari reports a
/// ceiling near 600 MB, so the default is the conservative 9,155 pages of
/// 64 KiB (599,982,080 bytes) that every browser grants; `budget` may set
/// another size. No MMU, no DMA; runs on host CPUs with 64-byte lines.
pub(crate) const WASM32: Platform = Platform {
    name: "Wasm32",
    banks: &[PlatformBank {
        name: "linear",
        size: 599_982_080,
        base: Some(0),
        memory: EVERY,
        flags: 0,
    }],
    mmu: false,
    page_size: 65_536,
    cache_line: 64,
    budget: BudgetRule::Optional,
};

/// A desktop or server process: one bank whose size is the layout's
/// `budget`, held in static arrays; 4 KiB pages behind an MMU (so guards
/// default to a page), 64-byte cache lines.
pub(crate) const DESKTOP: Platform = Platform {
    name: "Desktop",
    banks: &[PlatformBank {
        name: "main",
        size: 0,
        base: None,
        memory: EVERY,
        flags: flags(&[Cacheable]),
    }],
    mmu: true,
    page_size: 4096,
    cache_line: 64,
    budget: BudgetRule::Required,
};

/// Every built-in platform.
pub(crate) const ALL: &[&Platform] = &[
    &DREAMCAST, &PSX, &PSP, &PSP2000, &GBA, &N64, &WASM32, &DESKTOP,
];

/// The names of the built-in platforms, for suggestions.
pub(crate) fn names() -> Vec<&'static str> {
    ALL.iter().map(|p| p.name).collect()
}

/// The platform called `name`.
pub(crate) fn find(name: &str) -> Option<&'static Platform> {
    ALL.iter().copied().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_the_usable_figures() {
        let main = &DREAMCAST.banks[0];
        assert_eq!(main.base.unwrap() + main.size, 0x8D00_0000);
        let aram = &DREAMCAST.banks[2];
        assert_eq!(aram.size, 2 * 1024 * 1024 - 192 * 1024);
        assert_eq!(PSX.banks[0].base.unwrap() + PSX.banks[0].size, 0x8020_0000);
        assert_eq!(PSP.banks[0].size, 24 * 1024 * 1024 - 16 * 1024);
        assert_eq!(
            PSP2000.banks[0].base.unwrap() + PSP2000.banks[0].size,
            0x0C00_0000
        );
        assert_eq!(GBA.banks[1].size, 32 * 1024 - 256);
        assert_eq!(N64.banks[0].size, 4 * 1024 * 1024 - 1024 - 64 * 1024);
        assert_eq!(WASM32.banks[0].size % 65_536, 0);
        assert!(WASM32.banks[0].size <= 600_000_000);
    }

    #[test]
    fn every_platform_holds_every_general_type_somewhere() {
        for platform in ALL {
            let held = platform.banks.iter().fold(0, |acc, b| acc | b.memory);
            for ty in [System, Temporary, Stack, Pool] {
                assert!(
                    held & ty.bit() != 0,
                    "{} lacks {}",
                    platform.name,
                    ty.name()
                );
            }
            assert!(platform.default_align().is_power_of_two());
            let guard = platform.default_guard();
            assert!(guard == 0 || guard.is_power_of_two());
        }
    }
}
