use flight_mem::memory_layout;

const LEVEL_BYTES: usize = 3 * 1024 * 1024;

memory_layout! {
pub layout Game for Psx {
    region level = (LEVEL_BYTES);
}
}

fn main() {}
