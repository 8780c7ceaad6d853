// A literal entry after a rustc-sized one (its size a literal since
// compile12, its offset the plan's) that ends one byte past the budget is
// blamed: 3 B, a pool of five `u32` at 8 (40 B + 16 B guard), 100 B with a
// 40-byte const guard, then `tail` at 208..209 in 208 B (audit14).
use flight_mem::memory_layout;

const GUARD: usize = 40;

memory_layout! {
    pub layout Mixed {
        guard = 16 B;
        align = 8;
        bank main = 208 B;
        region a = 3 B { align: 1, guard: 0 B };
        pool objs = [u32; 5];
        region b = 100 B { guard: (GUARD) };
        region tail = 1 B { guard: 0 B };
    }
}

fn main() {}
