use flight_mem::memory_layout;

pub struct Particle {
    pub pos: [f32; 3],
    pub vel: [f32; 3],
    pub life: f32,
}

memory_layout! {
pub layout Game for Psx {
    region heap = 1 MiB;
    pool particles = [Particle; 40000];
}
}

fn main() {}
