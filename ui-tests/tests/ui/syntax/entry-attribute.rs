use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        #[inline]
        region heap = 8 MiB;
    }
}

fn main() {}
