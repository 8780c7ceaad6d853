// A pool of untyped blocks whose const-expression block size no pool can
// hold is blamed on the entry (the plan used to panic in
// `BlockPool::bytes_for`, blamed on the whole macro call).
use flight_mem::memory_layout;

memory_layout! {
    pub layout Game {
        budget = 16 MiB;
        pool blobs = [(usize::MAX / 2); 4];
    }
}

fn main() {}
