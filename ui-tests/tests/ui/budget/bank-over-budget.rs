use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        guard = 4 KiB;
        region heap = 12 MiB;
        region assets = 3 MiB;
        stack temp = 1 MiB;
        frame scratch = [64 KiB; 2];
    }
}

fn main() {}
