//! A Dreamcast game's memory plan, and ten simulated seconds of its game
//! loop: per-frame scratch, particle churn, a texture cache in a `compact`
//! VRAM region that loads, evicts and defragments (so a large texture still
//! loads once the small ones have fragmented VRAM), streamed audio buffers in
//! sound RAM, network packets.
//!
//! On a PC the banks are static arrays with the console's budgets, so what
//! runs out here runs out on the console.
//!
//! `cargo run --release --example dreamcast`

use core::alloc::Layout;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use flight_mem::{
    AllocError, Bytes, DefragBudget, Handle, PoolBox, PressureInfo, PressureLevel, Timeline,
    memory_layout,
};
use flight_mem_examples::Rng;

/// A particle: 28 bytes; 4096 of them fit the pool.
#[derive(Clone, Copy, Debug, Default)]
pub struct Particle {
    pub pos: [f32; 3],
    pub vel: [f32; 3],
    pub life: f32,
}

memory_layout! {
    /// The memory plan of the game on a Dreamcast: 16 MiB main RAM, 8 MiB
    /// PowerVR VRAM, 2 MiB AICA sound RAM.
    pub layout Game for Dreamcast {
        guard = 4 KiB;
        align = 32;
        pressure { low: 40%, medium: 20%, high: 10%, critical: 5% }

        /// Level data and entities.
        region heap = 8 MiB;
        /// Per-frame scratch, double-buffered: the render thread reads last
        /// frame's while the game writes this frame's.
        frame scratch = [512 KiB; 2];
        /// LIFO temporaries while loading.
        stack temp = 256 KiB;
        /// Particles, spawned and killed every frame.
        pool particles = [Particle; 4096];
        /// Network packets (a broadband adapter's MTU).
        pool packets = [1536 B; 64] { memory: Network };
        /// Served to critical requests when the heap runs dry.
        reserve emergency = 512 KiB;

        /// Textures: loaded and evicted as the camera moves. Their blocks
        /// are relocatable (handles, not pointers), so the cache can slide
        /// them together when mixed sizes have fragmented the VRAM.
        region textures = 6 MiB { memory: Video, align: 32, allocator: compact };
        /// Vertex and display lists.
        region geometry = 1 MiB { memory: Video, allocator: buddy };

        /// Sound effect samples.
        region samples = 1 MiB { memory: Audio, allocator: buddy };
        /// Streamed music, four 64 KiB buffers in flight.
        pool streams = [64 KiB; 4] { memory: Audio };
    }
}

const FRAMES: usize = 600;

/// Times a region rose into `High` pressure or above.
static HIGH_PRESSURE: AtomicUsize = AtomicUsize::new(0);

/// A game would shrink its caches here; this one counts and reports.
fn on_high_pressure(level: PressureLevel, info: &PressureInfo) {
    if HIGH_PRESSURE.fetch_add(1, Ordering::Relaxed) < 3 {
        println!("pressure: {info} (callback for {level:?})");
    }
}

/// What one defragmentation step may do: a game calls it once a frame.
const DEFRAG_PER_FRAME: DefragBudget = DefragBudget {
    max_bytes: 256 << 10,
    max_moves: 16,
};

/// At `Medium` pressure in VRAM, compact a little more than the per-frame
/// step: holes are what makes the next load fail.
fn on_medium_pressure(_level: PressureLevel, info: &PressureInfo) {
    if info.region == "textures" {
        Game::textures().defragment(DEFRAG_PER_FRAME);
    }
}

/// A texture resident in VRAM, by handle: its bytes may move.
struct Texture {
    id: usize,
    handle: Handle,
}

/// Loads textures into `Game::textures`, evicting the least recently used
/// when VRAM is full.
struct TextureCache {
    resident: VecDeque<Texture>,
    loads: usize,
    evictions: usize,
    hits: usize,
    /// Loads that failed on fragmentation alone and succeeded after a
    /// defragmentation, with no eviction.
    rescued: usize,
}

impl TextureCache {
    fn request(&mut self, id: usize, side: usize) {
        if let Some(at) = self.resident.iter().position(|t| t.id == id) {
            let texture = self.resident.remove(at).expect("position is in range");
            self.resident.push_back(texture);
            self.hits += 1;
            return;
        }
        // 16 bits per texel, mipmapped (4/3 of the base level).
        let layout =
            Layout::from_size_align(side * side * 2 * 4 / 3, 32).expect("valid texture layout");
        self.load(id, layout);
    }

    /// Loads a texture of `layout`: when the free bytes are there but in
    /// holes, defragment first; evict the least recently used only when
    /// VRAM is really full.
    fn load(&mut self, id: usize, layout: Layout) -> Handle {
        let mut defragmented = false;
        loop {
            match Game::alloc_textures(layout) {
                Ok(handle) => {
                    let mut texels = Game::textures().get_mut(handle).expect("a fresh handle");
                    texels.fill(id as u8);
                    self.resident.push_back(Texture { id, handle });
                    self.loads += 1;
                    return handle;
                }
                // Defragment once per load; if that was not enough, evict.
                Err(AllocError::OutOfMemory { .. })
                    if !defragmented && self.fits_after_defragmenting(layout) =>
                {
                    defragmented = true;
                    self.rescued += 1;
                }
                Err(_) => {
                    let oldest = self
                        .resident
                        .pop_front()
                        .expect("VRAM is full, so a texture is resident");
                    Game::free_textures(oldest.handle).expect("a resident texture is live");
                    self.evictions += 1;
                }
            }
        }
    }

    /// Whether the free VRAM would hold `layout` in one piece; if so,
    /// defragments until it does (a loading screen may afford that).
    fn fits_after_defragmenting(&mut self, layout: Layout) -> bool {
        let textures = Game::textures();
        let stats = textures.stats();
        if stats.capacity - stats.used < layout.size() + 64 {
            return false;
        }
        loop {
            let report = textures.defragment(DefragBudget {
                max_bytes: 1 << 20,
                max_moves: 64,
            });
            if report.largest_free_after >= layout.size() {
                return true;
            }
            // Done, or stuck behind a block larger than one step's budget.
            if report.done() || report.bytes_moved == 0 {
                return false;
            }
        }
    }
}

fn main() {
    println!("{}", Game::map());
    Game::on_pressure(PressureLevel::High, on_high_pressure).expect("the callback table has room");

    let mut rng = Rng::new(0xD12E_A3C5);
    let mut particles: Vec<PoolBox<'static, Particle>> = Vec::new();
    Game::on_pressure(PressureLevel::Medium, on_medium_pressure)
        .expect("the callback table has room");
    let mut cache = TextureCache {
        resident: VecDeque::new(),
        loads: 0,
        evictions: 0,
        hits: 0,
        rescued: 0,
    };
    let mut streams = VecDeque::new();
    let mut samples = Vec::new();
    let mut packets = VecDeque::new();
    // Every frame's figures, for the timeline chart: no allocation while
    // recording (boxed here only to keep 170 KiB off the stack).
    let mut timeline = Box::new(Timeline::<FRAMES, 12>::new());
    let (mut spawned, mut refused, mut scratch_bytes) = (0usize, 0usize, 0usize);

    // Loading: level data on the heap, parsed through LIFO temporaries.
    let level = Game::alloc_heap(Layout::from_size_align(3 << 20, 32).expect("valid"))
        .expect("the level fits");
    let chunk = Layout::from_size_align(8 << 10, 8).expect("valid");
    for _ in 0..16 {
        let outer = Game::alloc_temp(chunk).expect("temp fits");
        let inner = Game::alloc_temp(chunk).expect("temp fits");
        // SAFETY: freed in LIFO order and not used again.
        unsafe {
            Game::free_temp(inner.cast(), chunk);
            Game::free_temp(outer.cast(), chunk);
        }
    }
    let mesh = Layout::from_size_align(128 << 10, 32).expect("valid");
    let meshes: Vec<_> = (0..6)
        .map(|_| Game::alloc_geometry(mesh).expect("geometry fits"))
        .collect();

    for frame in 0..FRAMES {
        // SAFETY: nothing keeps a pointer into the frame two frames back.
        unsafe { Game::scratch().next_frame() };
        // Visible-object lists and command buffers for this frame.
        for _ in 0..8 {
            let size = 1024 + rng.below(24 * 1024);
            if Game::alloc_scratch(Layout::from_size_align(size, 16).expect("valid")).is_ok() {
                scratch_bytes += size;
            }
        }

        // Particles: an explosion every half second, decay every frame.
        let burst = if frame % 30 == 0 { 900 } else { 40 };
        for _ in 0..burst {
            let life = 0.2 + rng.below(100) as f32 / 50.0;
            match Game::alloc_particles(Particle {
                life,
                ..Particle::default()
            }) {
                Ok(particle) => {
                    particles.push(particle);
                    spawned += 1;
                }
                Err(_) => refused += 1,
            }
        }
        for particle in particles.iter_mut() {
            particle.life -= 1.0 / 60.0;
        }
        particles.retain(|p| p.life > 0.0);

        // Textures: the camera moves through areas of 40 textures each.
        let area = frame / 120;
        for _ in 0..4 {
            let id = area * 40 + rng.below(40);
            let side = 64 << rng.below(4);
            cache.request(id, side);
        }
        // Once a frame, a bounded step of defragmentation.
        Game::textures().defragment(DEFRAG_PER_FRAME);
        // A cut-scene: one 1024x1024 texture (2.67 MiB with mipmaps).
        if frame == FRAMES / 2 {
            let before = Game::textures().compact_stats();
            let large = Layout::from_size_align(1024 * 1024 * 2 * 4 / 3, 32).expect("valid");
            let (rescued, evicted) = (cache.rescued, cache.evictions);
            let handle = cache.load(9999, large);
            println!(
                "frame {frame}: a {} texture loaded as {handle:?}: largest free was {} of {} free; {} evictions and {} defragmentation made room",
                Bytes(large.size()),
                Bytes(before.allocator.largest_free),
                Bytes(before.allocator.capacity - before.allocator.used),
                cache.evictions - evicted,
                if cache.rescued > rescued { "a" } else { "no" },
            );
        }

        // Music: a 64 KiB buffer decoded every 20 frames, played for 60.
        if frame % 20 == 0
            && let Ok(buffer) =
                Game::alloc_streams(Layout::from_size_align(64 << 10, 32).expect("valid"))
        {
            streams.push_back((frame, buffer));
        }
        while streams
            .front()
            .is_some_and(|(start, _)| frame - start >= 60)
        {
            let (_, buffer) = streams.pop_front().expect("checked");
            // SAFETY: the buffer has finished playing.
            unsafe {
                Game::free_streams(
                    buffer.cast(),
                    Layout::from_size_align(64 << 10, 32).expect("valid"),
                )
            };
        }
        // Sound effects: a bank of samples swapped per area.
        if frame % 120 == 0 {
            for sample in samples.drain(..) {
                // SAFETY: the previous area's samples are no longer played.
                unsafe { Game::free_samples(sample, Layout::new::<u8>()) };
            }
            for _ in 0..12 {
                let size = 4096 + rng.below(40 * 1024);
                let sample = Game::alloc_samples(Layout::from_size_align(size, 32).expect("valid"))
                    .expect("samples fit the sound RAM");
                samples.push(sample.cast::<u8>());
            }
        }

        // Network: a few packets a frame, each acknowledged 10 frames later.
        for _ in 0..rng.below(4) {
            if let Ok(packet) =
                Game::alloc_packets(Layout::from_size_align(1500, 8).expect("valid"))
            {
                packets.push_back((frame, packet));
            }
        }
        while packets.front().is_some_and(|(sent, _)| frame - sent >= 10) {
            let (_, packet) = packets.pop_front().expect("checked");
            // SAFETY: the packet was acknowledged; nothing refers to it.
            unsafe {
                Game::free_packets(
                    packet.cast(),
                    Layout::from_size_align(1500, 8).expect("valid"),
                )
            };
        }

        timeline.record::<Game>();

        if frame % 120 == 119 {
            println!(
                "frame {:>3}: {:>4} particles, {:>2} textures in VRAM ({} used), {} streams, {} packets in flight",
                frame + 1,
                particles.len(),
                cache.resident.len(),
                Bytes(Game::stats().entry("textures").map_or(0, |e| e.stats.used)),
                streams.len(),
                packets.len()
            );
        }
    }

    println!();
    println!(
        "{FRAMES} frames: {spawned} particles spawned ({refused} refused by the full pool), {} of frame scratch",
        Bytes(scratch_bytes)
    );
    let vram = Game::textures().compact_stats();
    println!(
        "textures: {} loads, {} evictions, {} cache hits, {} loads rescued by defragmentation; {} moved in {} moves, {} holes now",
        cache.loads,
        cache.evictions,
        cache.hits,
        cache.rescued,
        Bytes(vram.bytes_moved as usize),
        vram.blocks_moved,
        vram.holes
    );
    println!();
    println!("{}", Game::stats());

    // The same map as a picture, at the busiest moment of the run.
    // Default: beside the build, in the target directory cargo used (an exported
    // CARGO_TARGET_DIR is inherited by `cargo run`), created if missing.
    let svg_path = std::env::args().nth(1).unwrap_or_else(|| {
        let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
        let _ = std::fs::create_dir_all(&dir);
        format!("{dir}/dreamcast-memory-map.svg")
    });
    match std::fs::write(&svg_path, <Game as flight_mem::Layout>::table().svg()) {
        Ok(()) => println!("memory map written to {svg_path}"),
        Err(err) => eprintln!("could not write {svg_path}: {err}"),
    }
    // Memory over the run, next to the map.
    let timeline_path =
        std::path::Path::new(&svg_path).with_file_name("dreamcast-memory-timeline.svg");
    match std::fs::write(&timeline_path, timeline.svg()) {
        Ok(()) => println!("memory timeline written to {}", timeline_path.display()),
        Err(err) => eprintln!("could not write {}: {err}", timeline_path.display()),
    }

    println!(
        "regions rose into High pressure {} times; layout pressure now {:?}",
        HIGH_PRESSURE.load(Ordering::Relaxed),
        Game::pressure()
    );
    let report = Game::validate();
    println!("validate: {report}");
    assert!(report.is_ok(), "guards and allocator invariants hold");

    // Teardown: everything goes back, and the layout agrees.
    drop(particles);
    for texture in cache.resident.drain(..) {
        Game::free_textures(texture.handle).expect("a resident texture is live");
    }
    for mesh_block in meshes {
        // SAFETY: the mesh is no longer used.
        unsafe { Game::deallocate(mesh_block.cast()) }.expect("owned");
    }
    // SAFETY: the level is unloaded.
    unsafe { Game::deallocate(level.cast()) }.expect("owned");
    assert_eq!(
        Game::stats().entry("particles").map(|e| e.stats.live),
        Some(0)
    );
    assert_eq!(
        Game::stats().entry("textures").map(|e| e.stats.live),
        Some(0)
    );
}
