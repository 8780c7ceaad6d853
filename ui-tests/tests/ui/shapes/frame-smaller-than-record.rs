use flight_mem::memory_layout;

memory_layout! {
pub layout Tiny {
    budget = 64 KiB;
    frame scratch = [8 B; 4];
    region heap = 16 KiB;
}
}

fn main() {}
