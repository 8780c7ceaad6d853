// A size expression must be a `usize`; rustc points into the expression.
use flight_mem::memory_layout;

const LEVEL_BYTES: u32 = 1024 * 1024;

memory_layout! {
    pub layout Game for Dreamcast {
        region level = (LEVEL_BYTES);
    }
}

fn main() {}
