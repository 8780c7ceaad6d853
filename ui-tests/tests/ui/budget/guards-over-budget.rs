use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Gba {
        guard = 12 KiB;
        region heap = 120 KiB;
        region assets = 120 KiB;
    }
}

fn main() {}
