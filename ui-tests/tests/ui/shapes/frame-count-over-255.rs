use flight_mem::memory_layout;

memory_layout! {
pub layout Tiny {
    budget = 1 MiB;
    frame scratch = [1 KiB; 256];
}
}

fn main() {}
