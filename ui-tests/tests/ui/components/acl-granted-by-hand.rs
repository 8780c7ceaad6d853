use flight_mem::memory_layout;

memory_layout! {
    pub layout Engine {
        budget = 16 MiB;
        guard = 4 KiB;
        component physics = 4 MiB;
        component audio = 2 MiB { allocator: none };
        shared frame_data = 512 KiB { access: [physics: write] };
    }
}

// The access list names `physics` only, yet safe code outside it grants
// itself write access: a type of its own that "implements" the access
// traits, or a grant to a component the layout left out.
struct Intruder;
impl flight_mem::CanRead<engine::FrameData> for Intruder {}
impl flight_mem::CanWrite<engine::FrameData> for Intruder {}
impl flight_mem::CanRead<engine::FrameData> for engine::Audio {}

fn main() {
    let mut frame = Engine::frame_data().write(&Intruder);
    frame[0] = 1;
}
