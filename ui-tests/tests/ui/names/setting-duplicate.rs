use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        guard = 4 KiB;
        guard = 0 B;
        region heap = 1 MiB;
    }
}

fn main() {}
