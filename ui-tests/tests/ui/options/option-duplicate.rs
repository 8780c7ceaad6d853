use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        region heap = 1 MiB { align: 64, align: 128 };
    }
}

fn main() {}
