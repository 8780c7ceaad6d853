// Block pools with literal sizes are sized by the macro exactly as
// `BlockPool::bytes_for` sizes them (blocks at the aligned stride, a 4-byte
// link per block), so the macro blames the crossing entry with exact figures.
use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Gba {
        region heap = 200 KiB;
        pool rx = [1536 B; 50];
    }
}

fn main() {}
