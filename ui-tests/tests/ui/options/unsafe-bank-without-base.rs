use flight_mem::memory_layout;

memory_layout! {
    pub layout Board {
        unsafe bank sram = 256 KiB;
        region heap = 64 KiB;
    }
}

fn main() {}
