use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        region heap = 1 MiB;
    }
    pub layout Game for Psx {
        region heap = 64 KiB;
    }
}

fn main() {}
