use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast
}

fn main() {}
