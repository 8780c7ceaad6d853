use flight_mem::memory_layout;

memory_layout! {
    pub layout Tool {
        region heap = 1 MiB;
    }
}

fn main() {}
