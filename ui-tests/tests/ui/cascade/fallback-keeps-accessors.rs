// One mistake in the plan gives one error: the layout struct and every
// accessor still exist, so the uses below add nothing.
use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        region heap = 8 MB;
        stack temp = 256 KiB;
        pool particles = [u64; 1024];
    }
}

fn main() {
    let _ = Game::alloc_heap(core::alloc::Layout::new::<u64>());
    let _ = Game::temp();
    let _ = Game::alloc_particles(7);
    let _ = Game::regions();
    let _ = Game::stats();
}
