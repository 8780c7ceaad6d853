// A typed shared region whose bytes overflow `usize` is blamed on the
// entry, not on the whole macro call (through the plan's overflow).
use flight_mem::memory_layout;

memory_layout! {
    pub layout Game {
        budget = 16 MiB;
        component reader = 1 KiB;
        shared samples = [u64; 3000000000000000000] { access: [reader: read] };
    }
}

fn main() {}
