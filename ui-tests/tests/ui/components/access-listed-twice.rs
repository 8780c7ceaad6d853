use flight_mem::memory_layout;

memory_layout! {
    pub layout Engine {
        budget = 16 MiB;
        component physics = 4 MiB;
        shared frame_data = 512 KiB { access: [physics: read, physics: write] };
    }
}

fn main() {}
