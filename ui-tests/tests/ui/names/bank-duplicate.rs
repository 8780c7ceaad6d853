use flight_mem::memory_layout;

memory_layout! {
    pub layout Board {
        bank sram = 256 KiB;
        bank sram = 64 KiB;
        region heap = 64 KiB;
    }
}

fn main() {}
