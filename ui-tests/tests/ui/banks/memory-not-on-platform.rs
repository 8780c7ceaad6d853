use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Gba {
        pool packets = [64 B; 16] { memory: Network };
    }
}

fn main() {}
