use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        regoin heap = 8 MiB;
    }
}

fn main() {}
