use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        pressure { low: 50%, medium: 60%, high: 10%, critical: 5% }
        region heap = 1 MiB;
    }
}

fn main() {}
