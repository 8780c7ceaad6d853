use flight_mem::memory_layout;

memory_layout! {
    pub layout Engine {
        budget = 16 MiB;
        guard = 4 KiB;
        component physics = 4 MiB;
        component renderer = 8 MiB;
        component audio = 4 MiB;
    }
}

fn main() {}
