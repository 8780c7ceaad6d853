use flight_mem::memory_layout;

memory_layout! {
    pub layout Engine {
        budget = 16 MiB;
        guard = 4 KiB;
        component physics = 4 MiB;
        component renderer = 8 MiB { allocator: buddy };
        component audio = 2 MiB { allocator: none };
        shared frame_data = 512 KiB { access: [physics: write, renderer: read] };
    }
}

fn main() {
    // A component is reached through its token only.
    let _ = Engine::physics();
}
