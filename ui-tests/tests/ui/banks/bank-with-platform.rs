use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        bank extra = 1 MiB;
        region heap = 1 MiB;
    }
}

fn main() {}
