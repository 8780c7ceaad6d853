use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        region heap = 1 MiB;
        region alloc_heap = 64 KiB;
    }
}

fn main() {}
