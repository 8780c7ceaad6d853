use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        region video = 1 MiB { memory: Video, align: 48 };
    }
}

fn main() {}
