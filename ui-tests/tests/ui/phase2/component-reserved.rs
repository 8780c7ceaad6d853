use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Psp {
        component physics = 4 MiB;
    }
}

fn main() {}
