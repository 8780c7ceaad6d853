use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        pressure { low: 20% }
        region heap = 1 MiB;
    }
}

fn main() {}
