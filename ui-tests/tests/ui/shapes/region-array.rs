use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        region heap = [1 MiB; 2];
    }
}

fn main() {}
