use flight_mem::memory_layout;

memory_layout! {
    pub layout Tool for Desktop {
        region heap = 1 MiB;
    }
}

fn main() {}
