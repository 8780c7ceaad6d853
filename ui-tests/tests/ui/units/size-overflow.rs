use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        region heap = 99999999999 GiB;
    }
}

fn main() {}
