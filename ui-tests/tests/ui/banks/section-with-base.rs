// A bank at a fixed `base` is not a `static`, so there is no storage for a
// `section` to place: the macro ignored the section (audit11). Both on one
// bank is now an error on the section.
use flight_mem::memory_layout;

memory_layout! {
    pub layout Board {
        unsafe bank sram = 64 KiB { base: 0x2000_0000, section: ".sram" };
        region heap = 16 KiB { bank: sram };
    }
}

fn main() {}
