use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        region stats = 1 MiB;
    }
}

fn main() {}
