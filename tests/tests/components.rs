//! Components and shared regions (SPEC §6): tokens handed out once, every
//! allocation inside its segment, guards on both sides, shared regions with
//! readers that share and a writer that excludes.

use core::alloc::Layout;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use flight_mem::{AllocatorKind, EntryKind, Grant, PressureLevel, memory_layout};

memory_layout! {
    /// The SPEC's engine: four components and one shared region.
    pub layout Engine {
        budget = 16 MiB;
        guard = 4 KiB;
        align = 64;

        component physics = 4 MiB;
        component renderer = 8 MiB { allocator: buddy };
        component audio = 2 MiB { allocator: none };
        component logic = 1 MiB { allocator: freelist };
        shared frame_data = 512 KiB { access: [physics: write, renderer: read] };
        /// Commands from game logic to the audio mixer.
        shared audio_commands = 4 KiB { access: [logic: write, audio: read] };
        /// Body transforms as values, not bytes.
        shared bodies = [Body; 256] { access: [physics: write, renderer: read] };
    }
}

/// A rigid body's transform, shared as typed values.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(16))]
struct Body {
    position: [f32; 3],
    mass: f32,
}

/// A command the logic sends the mixer: plain data, read in place.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Command {
    sequence: u64,
    voice: u32,
    volume: f32,
}

fn info(name: &str) -> &'static flight_mem::RegionInfo {
    Engine::regions().iter().find(|r| r.name == name).unwrap()
}

/// The tokens can be taken once per program, so one test takes them all
/// and hands them to the checks.
#[test]
fn components_and_shared_regions() {
    let physics = Engine::take_physics().expect("first take");
    assert!(
        Engine::take_physics().is_none(),
        "a token is handed out once"
    );
    let renderer = Engine::take_renderer().unwrap();
    let mut audio = Engine::take_audio().unwrap();
    let logic = Engine::take_logic().unwrap();

    allocations_stay_inside_their_segments(&physics, &renderer, &logic);
    segments_are_guarded_on_both_sides();
    raw_segments_are_used_whole(&mut audio);
    shared_regions_share_readers_and_exclude_writers(&physics, &renderer);
    the_layout_reports_components_and_shared_regions();
    a_channel_carries_messages_in_order_without_loss(&logic, &audio, &renderer);
    typed_shared_regions_give_typed_views(&physics, &renderer);
    assert!(Engine::validate().is_ok(), "{}", Engine::validate());
}

fn a_channel_carries_messages_in_order_without_loss(
    logic: &engine::Logic,
    audio: &engine::Audio,
    renderer: &engine::Renderer,
) {
    let region = Engine::audio_commands();
    let mut tx = region.sender::<Command, _>(logic).unwrap();
    assert!(region.sender::<Command, _>(logic).is_none(), "one sender");
    assert!(
        region.receiver::<[u8; 16], _>(audio).is_none(),
        "the receiver must use the sender's message layout"
    );
    let mut rx = region.receiver::<Command, _>(audio).unwrap();
    assert_eq!(tx.capacity(), 4096 / 16);
    // The region now serves the channel: no guard is handed out, while the
    // other shared region is unaffected.
    assert!(region.try_read(audio).is_none());
    assert!(Engine::frame_data().try_read(renderer).is_some());
    const COUNT: u64 = 20_000;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut next = 0;
            while next < COUNT {
                let command = Command {
                    sequence: next,
                    voice: (next % 32) as u32,
                    volume: 0.5,
                };
                if tx.send(command).is_ok() {
                    next += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        });
        scope.spawn(move || {
            let mut expected = 0;
            while expected < COUNT {
                match rx.recv() {
                    Some(command) => {
                        assert_eq!(command.sequence, expected, "out of order or lost");
                        assert_eq!(command.voice, (expected % 32) as u32);
                        expected += 1;
                    }
                    None => std::thread::yield_now(),
                }
            }
            assert!(rx.recv().is_none());
        });
    });
}

fn allocations_stay_inside_their_segments(
    physics: &engine::Physics,
    renderer: &engine::Renderer,
    logic: &engine::Logic,
) {
    let mut blocks = Vec::new();
    for round in 0..200usize {
        let layout = Layout::from_size_align(16 + round * 37 % 4000, 16).unwrap();
        for (name, block) in [
            ("physics", physics.alloc(layout).unwrap()),
            ("renderer", renderer.alloc(layout).unwrap()),
            ("logic", logic.alloc(layout).unwrap()),
        ] {
            let owner = Engine::owner_of(block.cast()).unwrap();
            assert_eq!(owner.name, name);
            // SAFETY: the block is `layout.size()` bytes, just allocated.
            unsafe { block.cast::<u8>().as_ptr().write_bytes(0xAB, layout.size()) };
            blocks.push((name, block, layout));
        }
    }
    assert_eq!(physics.segment().name, "physics");
    assert_eq!(physics.allocator().stats().live, 200);
    assert_eq!(renderer.allocator().kind(), AllocatorKind::Buddy);
    for (name, block, layout) in blocks {
        // SAFETY: each block came from the token it goes back to, unused after.
        unsafe {
            match name {
                "physics" => physics.free(block.cast(), layout),
                "renderer" => renderer.free(block.cast(), layout),
                _ => logic.free(block.cast(), layout),
            }
        }
        .unwrap();
    }
    assert_eq!(physics.allocator().stats().live, 0);
    assert_eq!(logic.allocator().stats().live, 0);
    // Too large for the segment: an error, never a neighbour's bytes.
    assert!(
        physics
            .alloc(Layout::from_size_align(5 << 20, 8).unwrap())
            .is_err()
    );
}

fn segments_are_guarded_on_both_sides() {
    let mut spans: Vec<(usize, usize, &str)> = Vec::new();
    for region in Engine::regions() {
        if region.kind == EntryKind::Component {
            assert!(
                region.guard >= 4096,
                "{} needs a guard after it",
                region.name
            );
            // The previous entry's trailing guard counts: what matters is
            // that every byte before the segment, back to its neighbour,
            // is guard (or padding behind a guard).
            let before = spans
                .last()
                .map_or(region.offset, |&(_, end, _)| region.offset - end);
            assert!(
                before >= 4096,
                "{} has {before} guard bytes before it",
                region.name
            );
        }
        spans.push((region.offset, region.end(), region.name));
    }
    // The first component has its own leading guard.
    assert!(info("physics").guard_before >= 4096);
    assert!(info("physics").offset >= 4096);
    for (pair, region) in spans.windows(2).zip(Engine::regions()) {
        assert!(
            pair[0].1 + region.guard <= pair[1].0,
            "{:?} and its guard overlap {:?}",
            pair[0],
            pair[1]
        );
    }
}

fn raw_segments_are_used_whole(audio: &mut engine::Audio) {
    let segment = audio.segment();
    assert_eq!(segment.allocator, AllocatorKind::Segment);
    assert_eq!(audio.as_ptr().len(), 2 << 20);
    // SAFETY: this test is the segment's only user.
    let memory = unsafe { audio.raw() };
    assert_eq!(memory.len(), 2 << 20);
    let bytes = memory.as_ptr();
    // SAFETY: the segment is ours alone and valid for writes of its length.
    unsafe {
        bytes.write_bytes(0x5A, memory.len());
        assert_eq!(*bytes.add(memory.len() - 1), 0x5A);
    }
    let owner = Engine::owner_of(core::ptr::NonNull::new(bytes).unwrap()).unwrap();
    assert_eq!(owner.name, "audio");
}

fn shared_regions_share_readers_and_exclude_writers(
    physics: &engine::Physics,
    renderer: &engine::Renderer,
) {
    let region = Engine::frame_data();
    assert_eq!(region.len(), 512 << 10);
    {
        let mut frame = region.write(physics);
        frame[..4].copy_from_slice(&[1, 2, 3, 4]);
        assert!(
            region.try_read(renderer).is_none(),
            "a writer excludes readers"
        );
        assert!(region.try_write(physics).is_none(), "and other writers");
    }
    let a = region.read(renderer);
    let b = region.read(physics);
    assert_eq!(&a[..4], &[1, 2, 3, 4]);
    assert_eq!(&b[..4], &[1, 2, 3, 4]);
    assert_eq!(region.readers(), 2);
    assert!(
        region.try_write(physics).is_none(),
        "readers exclude a writer"
    );
    drop((a, b));

    // Threads: the writer fills the region with one byte value per round,
    // readers must never see a mix.
    region.write(physics).fill(0);
    let torn = AtomicBool::new(false);
    let reads = AtomicUsize::new(0);
    let start = Barrier::new(3);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            start.wait();
            for round in 0..200u8 {
                region.write(physics).fill(round);
            }
        });
        for _ in 0..2 {
            scope.spawn(|| {
                start.wait();
                for _ in 0..200 {
                    let view = region.read(renderer);
                    if view.iter().any(|&b| b != view[0]) {
                        torn.store(true, Ordering::Relaxed);
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert!(
        !torn.load(Ordering::Relaxed),
        "a reader saw a half-written region"
    );
    assert_eq!(reads.load(Ordering::Relaxed), 400);
}

fn the_layout_reports_components_and_shared_regions() {
    let shared = info("frame_data");
    assert_eq!(shared.kind, EntryKind::Shared);
    assert_eq!(
        shared.access,
        &[
            Grant {
                component: "physics",
                write: true
            },
            Grant {
                component: "renderer",
                write: false
            },
        ]
    );
    let stats = Engine::stats();
    assert!(stats.entry("physics").is_some());
    assert!(stats.entry("frame_data").is_some());
    let map = Engine::map().to_string();
    for name in ["physics", "renderer", "audio", "logic", "frame_data"] {
        assert!(map.contains(name), "{map}");
    }
    // The SVG map shows the access lists and the guards before components.
    let svg = <Engine as flight_mem::Layout>::table().svg();
    assert!(
        svg.contains("physics:w · renderer:r"),
        "access list in the map"
    );
    assert!(svg.contains(r#"class="guard-before" data-entry="physics""#));
    // A raw segment is wholly in use but has no pressure level.
    assert!(Engine::pressure() < PressureLevel::Critical);
}

fn typed_shared_regions_give_typed_views(physics: &engine::Physics, renderer: &engine::Renderer) {
    let region: &flight_mem::Shared<engine::Bodies, Body> = Engine::bodies();
    {
        let mut bodies = region.write(physics);
        assert_eq!(bodies.len(), 256);
        bodies[7] = Body {
            position: [1.0, 2.0, 3.0],
            mass: 4.0,
        };
    }
    let bodies = region.read(renderer);
    assert_eq!(bodies[7].mass, 4.0);
    assert_eq!(
        bodies[8],
        Body {
            position: [0.0; 3],
            mass: 0.0
        }
    );
    assert_eq!(bodies.as_ptr() as usize % 16, 0, "aligned for the element");
    assert_eq!(info("bodies").size, 256 * size_of::<Body>());
}
