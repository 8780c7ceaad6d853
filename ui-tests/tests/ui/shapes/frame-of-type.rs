use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        frame scratch = [u64; 2];
    }
}

fn main() {}
