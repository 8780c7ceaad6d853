// A typed pool or shared region of a zero-sized type is blamed on the type, not on the
// whole macro call.
use flight_mem::memory_layout;

memory_layout! {
    pub layout Game {
        budget = 1 MiB;
        pool units = [(); 16];
        pool empties = [[u64; 0]; 4];
        component reader = 1 KiB;
        shared nothing = [(); 8] { access: [reader: read] };
    }
}

fn main() {}
