// A fixed bank's entries must end inside the address space: placed past its
// last byte, the second region's allocator got a wrapped, low address
// (`base: 0xF000_0000` with 300 MiB of entries on a 32-bit target: audit13).
// The region that crosses the end is blamed, as a budget error.
use flight_mem::memory_layout;

memory_layout! {
    pub layout Board {
        unsafe bank hw = 1 MiB { base: 0xFFFF_FFFF_FFFF_0000 };
        region low = 32 KiB { bank: hw };
        region high = 64 KiB { bank: hw };
    }
}

fn main() {}
