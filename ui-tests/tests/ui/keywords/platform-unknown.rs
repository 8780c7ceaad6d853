use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dremcast {
        region heap = 8 MiB;
    }
}

fn main() {}
