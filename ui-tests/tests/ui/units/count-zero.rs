use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        frame scratch = [512 KiB; 0];
    }
}

fn main() {}
