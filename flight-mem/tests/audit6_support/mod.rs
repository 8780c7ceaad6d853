//! Helpers of the session-6 audit tests (`audit6.rs`, `audit6_heaps.rs`):
//! fenced memories with canaries around them, a deterministic generator,
//! layouts.

use core::alloc::Layout;

use flight_mem::RawMemory;

/// `len` bytes at `misalign` past an 8-aligned address, with `pad` canary
/// bytes on either side that nothing built over the memory may touch.
pub struct Fenced {
    base: *mut u8,
    pad: usize,
    len: usize,
}

pub const CANARY: u8 = 0xA5;

impl Fenced {
    pub fn new(len: usize, misalign: usize, pad: usize) -> (Fenced, RawMemory) {
        // 16-aligned storage (and `pad` a multiple of 16 in every caller),
        // so `misalign` is exact modulo 16.
        let words = (pad * 2 + misalign + len).div_ceil(16) + 1;
        let storage: &'static mut [u128] =
            Vec::leak(vec![u128::from_ne_bytes([CANARY; 16]); words]);
        let base = storage.as_mut_ptr().cast::<u8>();
        let fenced = Fenced {
            base: base.wrapping_add(misalign),
            pad,
            len,
        };
        // SAFETY: the leaked buffer lives forever; `pad..pad + len` is
        // handed to one allocator and the canaries around it are only read
        // through `base`, derived from the same allocation.
        let memory = unsafe { RawMemory::from_raw_parts(fenced.base.add(pad), len) };
        (fenced, memory)
    }

    /// Whether every canary is intact.
    pub fn intact(&self) -> bool {
        // SAFETY: both canary ranges lie inside the leaked buffer, and no
        // allocator owns them, so nothing writes them concurrently.
        unsafe {
            let before = core::slice::from_raw_parts(self.base, self.pad);
            let after = core::slice::from_raw_parts(self.base.add(self.pad + self.len), self.pad);
            before.iter().chain(after).all(|&b| b == CANARY)
        }
    }
}

pub fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// A deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
