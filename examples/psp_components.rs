//! The layout brief's own example: four engine components in a 16 MiB
//! space of a PSP's user memory, each in its own segment with guard pages on
//! both sides, talking only through shared regions whose access lists the
//! compiler enforces: `frame_data`, which physics writes and the renderer
//! reads each frame, and `audio_commands`, a channel from the game logic to
//! the audio mixer whose messages are read in place.
//!
//! At the end one component overruns its segment on purpose: on Linux the
//! guard page traps the write (in a child process, so this one can report
//! it); elsewhere the guard's canaries catch it in `validate()`.
//!
//! `cargo run --release --example psp_components`

use core::alloc::Layout;

use flight_mem::{Bytes, memory_layout};
use flight_mem_examples::Rng;

memory_layout! {
    /// Engine components on a PSP-1000: 15.5 MiB of components and shared
    /// regions plus their guard pages, in a 16 MiB space of the 24 MiB user
    /// partition.
    pub layout Components for Psp {
        guard = 4 KiB;
        align = 64;

        /// Rigid bodies, broadphase, contacts.
        component physics = 4 MiB;
        /// Command lists, mesh caches, render-target metadata.
        component renderer = 8 MiB { allocator: buddy };
        /// The mixer's own memory: voices and ring buffers it manages itself.
        component audio = 2 MiB { allocator: none };
        /// Game logic and scripts.
        component logic = 1 MiB { allocator: freelist };
        /// Body transforms of the frame: physics writes, the renderer reads.
        shared frame_data = 448 KiB { access: [physics: write, renderer: read] };
        /// Commands from the game logic to the mixer.
        shared audio_commands = 64 KiB { access: [logic: write, audio: read] };
    }
}

/// A body's transform as physics publishes it.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Transform {
    position: [f32; 3],
    rotation: [f32; 4],
}

/// A mixer command, sent by the logic and read in place by the mixer.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct AudioCommand {
    frame: u32,
    voice: u16,
    volume: u16,
}

/// The space the components must share.
const SPACE: usize = 16 << 20;
const BODIES: usize = 4096;
const FRAMES: u32 = 240;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--overrun") {
        overrun_physics();
    }
    println!("{}", Components::map());
    let main = &Components::banks()[0];
    println!(
        "components use {} of their {} space ({} left for the rest of the game)\n",
        Bytes(main.used),
        Bytes(SPACE),
        Bytes(SPACE - main.used)
    );
    assert!(main.used <= SPACE);

    let physics = Components::take_physics().expect("the physics token");
    let renderer = Components::take_renderer().expect("the renderer token");
    let audio = Components::take_audio().expect("the audio token");
    let logic = Components::take_logic().expect("the logic token");
    assert!(
        Components::take_physics().is_none(),
        "a token is handed out once"
    );

    let mut commands = Components::audio_commands()
        .sender::<AudioCommand, _>(&logic)
        .expect("the logic sends");
    let mut mixer = Components::audio_commands()
        .receiver::<AudioCommand, _>(&audio)
        .expect("the mixer receives");

    let mut rng = Rng::new(7);
    let mut meshes = Vec::new();
    let mut scripts = Vec::new();
    let (mut drawn, mut mixed) = (0usize, 0usize);
    for frame in 0..FRAMES {
        // Physics: scratch for contacts, then publish the transforms.
        let contacts = Layout::from_size_align(64 * (1 + rng.below(512)), 16).unwrap();
        let scratch = physics.alloc(contacts).expect("physics scratch");
        {
            let mut out = Components::frame_data().write(&physics);
            let bodies: &mut [Transform] =
                bytemuck::cast_slice_mut(&mut out[..BODIES * size_of::<Transform>()]);
            for (i, body) in bodies.iter_mut().enumerate() {
                body.position = [i as f32, frame as f32, 0.0];
                body.rotation = [0.0, 0.0, 0.0, 1.0];
            }
        }
        // SAFETY: `scratch` came from the physics token and is dead now.
        unsafe { physics.free(scratch.cast(), contacts) }.expect("a live block");

        // Renderer: reads the frame's transforms, streams meshes in and out.
        {
            let view = Components::frame_data().read(&renderer);
            let bodies: &[Transform] =
                bytemuck::cast_slice(&view[..BODIES * size_of::<Transform>()]);
            assert!(bodies.iter().all(|b| b.position[1] == frame as f32));
            drawn += bodies.len();
        }
        let mesh = Layout::from_size_align(4096 << rng.below(6), 64).unwrap();
        match renderer.alloc(mesh) {
            Ok(block) => meshes.push((block, mesh)),
            Err(_) => {
                for (block, layout) in meshes.drain(..meshes.len() / 2) {
                    // SAFETY: the mesh came from the renderer's token.
                    unsafe { renderer.free(block.cast(), layout) }.expect("a live mesh");
                }
            }
        }

        // Logic: scripts allocate, and a few sounds are triggered.
        let script = Layout::from_size_align(32 + rng.below(2048), 8).unwrap();
        if let Ok(block) = logic.alloc(script) {
            scripts.push((block, script));
        }
        if scripts.len() > 200 {
            for (block, layout) in scripts.drain(..100) {
                // SAFETY: the block came from the logic token.
                unsafe { logic.free(block.cast(), layout) }.expect("a live script");
            }
        }
        for voice in 0..rng.below(4) as u16 {
            let _ = commands.send(AudioCommand {
                frame,
                voice,
                volume: 200,
            });
        }

        // Audio: the mixer reads each command where the logic wrote it.
        while let Some(command) = mixer.recv() {
            assert_eq!(command.frame, frame);
            mixed += 1;
        }
    }
    println!(
        "{FRAMES} frames: {drawn} transforms read by the renderer, {mixed} commands mixed, \
         audio's raw segment {} at bank offset {:#x}\n",
        Bytes(audio.segment().size),
        audio.segment().offset
    );
    println!("{}", Components::stats());
    let report = Components::validate();
    println!("{report}");
    assert!(report.is_ok());

    demonstrate_a_guarded_overrun();
}

/// Runs the overrun in a child process where a guard page would kill the
/// process, or in this process where guards are canaries.
fn demonstrate_a_guarded_overrun() {
    let physics = Components::regions()
        .iter()
        .find(|r| r.name == "physics")
        .expect("physics is declared");
    let mode = <Components as flight_mem::Layout>::table().guard_mode(0);
    println!(
        "the guard after `physics` ({} at bank offset {:#x}) is {mode:?}",
        Bytes(physics.guard),
        physics.end()
    );
    if mode == Some(flight_mem::GuardMode::Protected) {
        let child = std::process::Command::new(std::env::current_exe().expect("this program"))
            .arg("--overrun")
            .status()
            .expect("the child runs");
        assert!(!child.success(), "the overrun must not complete");
        println!(
            "a write one byte past `physics` trapped in the guard page: the child died ({child})"
        );
    } else {
        overrun_into_canaries();
        let report = Components::validate();
        println!("{report}");
        assert!(!report.is_ok(), "validate() finds the overrun");
    }
}

/// Writes one byte past the physics segment: into the guard page.
fn overrun_physics() -> ! {
    overrun_into_canaries();
    // Reached only where the guard is canaries.
    std::process::exit(0)
}

fn overrun_into_canaries() {
    Components::arm_guards();
    let physics = &Components::regions()[0];
    let bank = Components::banks()[0].start();
    // SAFETY: deliberately unsound demonstration of what a buggy component
    // does: the byte after the segment is the guard, which either traps
    // (protected page) or holds a canary that `validate()` checks; nothing
    // else lives there.
    unsafe { bank.add(physics.end()).write_volatile(0x42) };
}
