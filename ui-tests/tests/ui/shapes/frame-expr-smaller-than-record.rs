use flight_mem::memory_layout;

memory_layout! {
pub layout Tiny {
    budget = 64 KiB;
    frame scratch = [(core::mem::size_of::<u64>()); 4];
}
}

fn main() {}
