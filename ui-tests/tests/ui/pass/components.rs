//! The SPEC §6 example compiles, and tokens reach what their access allows.
use flight_mem::memory_layout;

memory_layout! {
    pub layout Engine {
        budget = 16 MiB;
        guard = 4 KiB;
        align = 64;

        component physics = 4 MiB;
        component renderer = 8 MiB { allocator: buddy };
        component audio = 2 MiB { allocator: none };
        component logic = 1 MiB { allocator: freelist };
        shared frame_data = 512 KiB { access: [physics: write, renderer: read] };
    }
}

fn main() {
    let physics: engine::Physics = Engine::take_physics().unwrap();
    let renderer = Engine::take_renderer().unwrap();
    Engine::frame_data().write(&physics)[0] = 7;
    assert_eq!(Engine::frame_data().read(&renderer)[0], 7);
    assert_eq!(Engine::frame_data().read(&physics)[0], 7);
    let _marker: Option<engine::FrameData> = None;
}
