// Two components whose names map to one token type are one error, on the
// second name: the fallback does not also define that type's methods twice.
use flight_mem::memory_layout;

memory_layout! {
    pub layout Game {
        budget = 1 MiB;
        component frame_data = 64 KiB;
        component frameData = 1 KiB;
    }
}

fn main() {
    let _ = Game::take_frame_data();
    let _ = Game::take_frameData();
}
