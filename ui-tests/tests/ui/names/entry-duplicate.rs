use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        region heap = 1 MiB;
        stack heap = 64 KiB;
    }
}

fn main() {}
