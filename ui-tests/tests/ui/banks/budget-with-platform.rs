use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        budget = 8 MiB;
        region heap = 1 MiB;
    }
}

fn main() {}
