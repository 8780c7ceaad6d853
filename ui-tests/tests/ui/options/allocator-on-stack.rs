use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        stack temp = 256 KiB { allocator: tlsf };
    }
}

fn main() {}
