use flight_mem::memory_layout;

memory_layout! {
    pub layout Board {
        budget = 1 MiB;
        bank sram = 256 KiB;
        region heap = 64 KiB;
    }
}

fn main() {}
