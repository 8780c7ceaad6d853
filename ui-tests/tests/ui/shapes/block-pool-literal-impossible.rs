// Pools of literal blocks no pool can hold, in a bank large enough for
// their bytes: blamed on the block size and on the count (audit11). They
// got a budget error of "16777215.99 TiB" (the plan sizes an impossible
// pool `usize::MAX`) and, for the block, `BlockPool::new`'s panic blamed
// on the whole macro call.
use flight_mem::memory_layout;

memory_layout! {
    pub layout Huge {
        budget = 64 GiB;
        pool blobs = [4 GiB; 1];
    }
}

memory_layout! {
    pub layout Many {
        budget = 64 GiB;
        pool bytes = [1 B; 4294967294] { align: 1 };
    }
}

fn main() {}
