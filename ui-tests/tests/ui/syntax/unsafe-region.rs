use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        unsafe region heap = 8 MiB;
    }
}

fn main() {}
