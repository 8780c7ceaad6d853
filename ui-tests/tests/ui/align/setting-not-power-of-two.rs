use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        align = 100;
        region heap = 1 MiB;
    }
}

fn main() {}
