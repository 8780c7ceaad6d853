use flight_mem::memory_layout;

memory_layout! {
    pub layout Board {
        bank sram = 256 KiB { base: 0x2000_0000 };
        region heap = 64 KiB;
    }
}

fn main() {}
