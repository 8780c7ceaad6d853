// The plan of SPEC §2, verbatim, and the items of SPEC §3 it must expand to.
use core::alloc::Layout;
use core::ptr::NonNull;

use flight_mem::memory_layout;

pub struct Particle {
    pub pos: [f32; 3],
    pub vel: [f32; 3],
    pub life: f32,
}

memory_layout! {
    /// Main memory plan of the Dreamcast build.
    pub layout Game for Dreamcast {
        guard = 4 KiB;                  // default gap after every entry
        align = 32;                     // default alignment of every entry
        pressure { low: 50%, medium: 25%, high: 10%, critical: 5% }

        /// Textures and vertex buffers, in video RAM.
        region video = 6 MiB { memory: Video, allocator: tlsf, align: 256 };
        region audio = 1 MiB { memory: Audio, allocator: buddy };
        region heap = 8 MiB;            // allocator defaults to tlsf, memory to System
        frame scratch = [512 KiB; 2];   // two linear frames (double-buffered)
        stack temp = 256 KiB;
        pool particles = [Particle; 4096];
        pool packets = [1536 B; 64] { memory: Network, align: 64 };
        reserve emergency = 512 KiB;
    }
}

fn generic<L: flight_mem::Layout>() -> usize {
    L::regions().len()
}

fn main() {
    let _: &'static flight_mem::Tlsf = Game::video();
    let _: &'static flight_mem::Buddy = Game::audio();
    let _: &'static flight_mem::Frames = Game::scratch();
    let _: &'static flight_mem::Stack = Game::temp();
    let _: &'static flight_mem::Pool<Particle> = Game::particles();
    let _: &'static flight_mem::BlockPool = Game::packets();
    let _: &'static flight_mem::Tlsf = Game::emergency();
    let alloc: fn(Layout) -> Result<NonNull<[u8]>, flight_mem::AllocError> = Game::alloc_heap;
    let free: unsafe fn(NonNull<u8>, Layout) = Game::free_heap;
    let _ = (alloc, free, Game::alloc_scratch, Game::alloc_temp, Game::free_temp);
    let _ = (Game::alloc_packets, Game::free_packets, Game::alloc_video, Game::free_audio);
    let typed: fn(Particle) -> Result<flight_mem::PoolBox<'static, Particle>, Particle> =
        Game::alloc_particles;
    let _ = typed;
    let _: &'static [flight_mem::RegionInfo] = Game::regions();
    let _: flight_mem::LayoutStats = Game::stats();
    let _: Option<&'static flight_mem::RegionInfo> = Game::owner_of(NonNull::dangling());
    let _ = generic::<Game>();
}
