use flight_mem::memory_layout;

pub struct Enemy {
    pub position: [f32; 3],
    pub health: [u8; 500],
}

memory_layout! {
pub layout Level {
    budget = 64 KiB;
    region heap = 8 KiB;
    pool enemies = [Enemy; 200];
    stack temp = 4 KiB;
}
}

fn main() {}
