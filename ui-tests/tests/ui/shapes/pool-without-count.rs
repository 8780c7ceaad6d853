use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        pool packets = 1536 B;
    }
}

fn main() {}
