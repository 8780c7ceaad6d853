// Block pools with literal sizes are checked by the macro with a lower
// bound (their blocks at the aligned stride); the exact size, with the
// pool's links and padding, is proven by the const assertion.
use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Gba {
        region heap = 200 KiB;
        pool rx = [1536 B; 50];
    }
}

fn main() {}
