use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        /// Guards after every entry.
        guard = 4 KiB;
    }
}

fn main() {}
