// The layout whose rustdoc `rustdoc_map.rs` renders: included by the test
// (to read the runtime's placement) and copied into the documented crate.

/// A value only rustc can size.
pub struct Particle {
    /// Position.
    pub pos: [f32; 3],
    /// Velocity.
    pub vel: [f32; 3],
    /// Remaining life.
    pub life: f32,
}

flight_mem::memory_layout! {
    /// The plan whose docs are checked.
    pub layout DocPlan for Dreamcast {
        guard = 4 KiB;
        align = 32;

        region video = 6 MiB { memory: Video, allocator: tlsf, align: 256 };
        region audio = 1 MiB { memory: Audio, allocator: buddy };
        region heap = 8 MiB;
        frame scratch = [512 KiB; 2];
        stack temp = 256 KiB { guard: 1536 B };
        component physics = 512 KiB { guard: 8 KiB };
        shared frame_data = 64 KiB { access: [physics: write] };
        pool particles = [Particle; 4096];
        reserve emergency = 512 KiB;
    }
}
