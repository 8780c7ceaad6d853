use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Gba {
        region heap = 300 KiB;
    }
}

fn main() {}
