use flight_mem::memory_layout;

memory_layout! {
    pub layout Engine {
        budget = 16 MiB;
        region heap = 4 MiB { allocator: none };
    }
}

fn main() {}
