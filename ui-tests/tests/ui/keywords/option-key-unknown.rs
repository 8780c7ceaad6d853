use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        region heap = 8 MiB { allocater: tlsf };
    }
}

fn main() {}
