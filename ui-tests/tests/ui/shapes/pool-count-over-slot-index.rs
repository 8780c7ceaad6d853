// A typed pool with more values than a pool's 32-bit slot index is blamed
// on the entry, not on the whole macro call (through the plan's panic).
use flight_mem::memory_layout;

memory_layout! {
    pub layout Game {
        budget = 16 MiB;
        pool records = [u64; 5000000000];
    }
}

fn main() {}
