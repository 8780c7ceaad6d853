use flight_mem::memory_layout;

memory_layout! {
    pub layout Tool {
        budget = 0 MiB;
        region heap = 1 MiB;
    }
}

fn main() {}
