use flight_mem::memory_layout;

memory_layout! {
    pub layuot Game for Dreamcast {
        region heap = 8 MiB;
    }
}

fn main() {}
