//! Three engine components compiled to WebAssembly share one linear memory
//! — the layout's bank itself — each confined to its own segment, talking
//! only through the shared region the layout grants them.
//!
//! At start-up each module (`examples/wasm/*.wat`) is rebased by
//! flight-mem-wasm with the numbers of the layout (`Options::for_component`:
//! no offset is copied by hand) and instantiated in wasmi on a memory whose
//! bytes are the layout's bank. Physics writes `frame_data`, the renderer
//! reads it, audio mixes in its own segment. Then physics overruns its
//! segment on purpose: the store past its end traps, and every byte of its
//! neighbours is unchanged.
//!
//! `cargo run --release --example wasm_components`
//! `cargo run --example wasm_components -- --rebase-args physics` prints the
//! `flight-rebase` flags of a component, for a build step that rebases
//! ahead of time.

use flight_mem::{Bytes, Layout as _, memory_layout};
use flight_mem_wasm::{Isolation, Options, Rebased, rebase};
use wasmi::{Instance, Linker, Memory, MemoryType, Module, Store, TypedFunc};

memory_layout! {
    /// Three WebAssembly components and the frame they share, in one
    /// wasm32 linear memory of five 64 KiB pages.
    ///
    /// No guard bytes: the rebased code itself stops every access at its
    /// segment's last byte (`checked` isolation is exact), so a guard would
    /// only cost memory. Every size is whole wasm pages, so the bank is a
    /// valid linear memory as it is.
    pub layout Game for Wasm32 {
        guard = 0 B;

        /// Rigid bodies; publishes their positions every frame.
        component physics = 64 KiB { allocator: none };
        /// Draw lists built from the published positions.
        component renderer = 128 KiB { allocator: none };
        /// The mixer's sample ring.
        component audio = 64 KiB { allocator: none };
        /// Body positions of the frame: physics writes, the renderer reads.
        shared frame_data = 64 KiB { access: [physics: write, renderer: read] };
    }
}

/// The components, in the order the layout declares them, with their
/// modules in text format.
pub const MODULES: [(&str, &str); 3] = [
    ("physics", include_str!("wasm/physics.wat")),
    ("renderer", include_str!("wasm/renderer.wat")),
    ("audio", include_str!("wasm/audio.wat")),
];

/// Bodies physics moves (the modules' constant).
pub const BODIES: u32 = 64;
const PAGE: usize = 65536;

/// Hands the layout's bank out as the bytes of a linear memory, once: the
/// three component tokens are the only way into the segments and the
/// shared region, and they are consumed here.
pub fn bank_memory(tokens: (game::Physics, game::Renderer, game::Audio)) -> &'static mut [u8] {
    let _ = tokens;
    let bank = &Game::banks()[0];
    assert_eq!(bank.used % PAGE, 0, "the bank is whole wasm pages");
    // SAFETY: the bank's storage is `used` bytes valid for the whole
    // program. Nothing else reaches them from now on: the components are
    // `allocator: none` (no allocator keeps state in them), the guards are
    // empty, the shared region is read and written only through guards that
    // need a component token, and the three tokens, handed out once per
    // program, were consumed by this call (which, needing them, runs once).
    unsafe { core::slice::from_raw_parts_mut(bank.start(), bank.used) }
}

/// Where the unified memory's bytes come from.
pub enum Unified {
    /// The layout's bank (see [`bank_memory`]).
    Bank(&'static mut [u8]),
    /// A fresh memory of the bank's size, for runs that break isolation on
    /// purpose without touching the bank.
    Fresh,
}

/// The three components, rebased and instantiated on one memory.
pub struct World {
    store: Store<()>,
    memory: Memory,
    step: TypedFunc<i32, ()>,
    clear: TypedFunc<(i32, i32), ()>,
    draw: TypedFunc<(), i32>,
    frame: TypedFunc<(), i32>,
    mix: TypedFunc<i32, i32>,
    /// What rebasing did to each module, in [`MODULES`] order.
    pub rebased: Vec<(&'static str, Rebased)>,
}

/// What the deliberate overrun did.
#[derive(Debug)]
pub struct Overrun {
    /// The trap, if the overrun trapped.
    pub trap: Option<String>,
    /// Bytes of physics' own segment it changed.
    pub own_bytes_changed: usize,
    /// The first byte outside physics' segment that changed, as an offset
    /// in the bank, with the entry it belongs to.
    pub neighbour_changed: Option<(usize, &'static str)>,
}

fn segment(name: &str) -> &'static flight_mem::RegionInfo {
    Game::regions()
        .iter()
        .find(|r| r.name == name)
        .expect("declared in the layout")
}

/// The options a component's module is rebased with: the layout's numbers,
/// and `isolation`.
pub fn options(component: &str, isolation: Isolation) -> Options {
    let mut opts = Options::for_component(Game::table(), component).expect("a wasm component");
    opts.isolation = isolation;
    opts
}

impl World {
    /// Rebases the three modules and instantiates them on `unified`.
    pub fn start(unified: Unified, isolation: Isolation) -> Result<World, String> {
        let mut rebased = Vec::new();
        for (name, text) in MODULES {
            let wasm = wat::parse_str(text).map_err(|e| format!("{name}.wat: {e}"))?;
            let out =
                rebase(&wasm, &options(name, isolation)).map_err(|e| format!("{name}: {e}"))?;
            rebased.push((name, out));
        }
        // Rebased modules import one memory: no multi-memory in the engine.
        let engine = wasmi::Engine::default();
        let mut store = Store::new(&engine, ());
        let pages = (Game::banks()[0].used / PAGE) as u32;
        let ty = MemoryType::new(pages, Some(pages));
        let memory = match unified {
            Unified::Bank(bytes) => Memory::new_static(&mut store, ty, bytes),
            Unified::Fresh => Memory::new(&mut store, ty),
        }
        .map_err(|e| format!("unified memory: {e}"))?;
        let mut linker = Linker::<()>::new(&engine);
        linker
            .define("env", "memory", memory)
            .map_err(|e| e.to_string())?;
        let mut instances = Vec::new();
        for (name, out) in &rebased {
            let module = Module::new(&engine, &out.wasm[..]).map_err(|e| format!("{name}: {e}"))?;
            let instance = linker
                .instantiate_and_start(&mut store, &module)
                .map_err(|e| format!("{name}: {e}"))?;
            instances.push(instance);
        }
        let get = |store: &Store<()>, i: &Instance, f: &str| {
            i.get_func(store, f)
                .ok_or_else(|| format!("no export `{f}`"))
        };
        let [physics, renderer, audio] = instances.try_into().map_err(|_| "three modules")?;
        let typed = |e: wasmi::Error| e.to_string();
        Ok(World {
            step: get(&store, &physics, "step")?
                .typed(&store)
                .map_err(typed)?,
            clear: get(&store, &physics, "clear")?
                .typed(&store)
                .map_err(typed)?,
            draw: get(&store, &renderer, "draw")?
                .typed(&store)
                .map_err(typed)?,
            frame: get(&store, &renderer, "frame")?
                .typed(&store)
                .map_err(typed)?,
            mix: get(&store, &audio, "mix")?.typed(&store).map_err(typed)?,
            store,
            memory,
            rebased,
        })
    }

    /// One frame: physics steps and publishes, the renderer draws what was
    /// published, audio mixes. Returns the renderer's sum of positions.
    pub fn frame(&mut self, n: u32) -> Result<i32, String> {
        let n = n as i32;
        self.step
            .call(&mut self.store, n)
            .map_err(|e| e.to_string())?;
        let published = self
            .frame
            .call(&mut self.store, ())
            .map_err(|e| e.to_string())?;
        assert_eq!(published, n, "the renderer sees the frame physics wrote");
        let sum = self
            .draw
            .call(&mut self.store, ())
            .map_err(|e| e.to_string())?;
        let last = self
            .mix
            .call(&mut self.store, n)
            .map_err(|e| e.to_string())?;
        assert_eq!(last, (n + 2047) & 0xffff, "audio mixed in its own ring");
        Ok(sum)
    }

    /// The unified memory's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.memory.data(&self.store)
    }

    /// Physics clears 64 bytes from 32 before the end of its memory: half
    /// of them lie past its segment.
    pub fn overrun(&mut self) -> Overrun {
        let own = segment("physics");
        let before = self.bytes().to_vec();
        let at = (own.size - 32) as i32;
        let trap = self
            .clear
            .call(&mut self.store, (at, 64))
            .err()
            .map(|e| e.to_string());
        let after = self.bytes();
        let changed = |i: &usize| before[*i] != after[*i];
        let own_bytes_changed = (own.offset..own.end()).filter(changed).count();
        let neighbour_changed = (0..before.len())
            .filter(|i| !(own.offset..own.end()).contains(i))
            .find(changed)
            .map(|i| {
                let owner = Game::regions()
                    .iter()
                    .find(|r| (r.offset..r.end()).contains(&i))
                    .map_or("(no entry)", |r| r.name);
                (i, owner)
            });
        Overrun {
            trap,
            own_bytes_changed,
            neighbour_changed,
        }
    }
}

/// Sum of the positions after `frames` steps: body i is at i * frames.
pub fn expected_sum(frames: u32) -> i32 {
    (0..BODIES).map(|i| (i * frames) as i32).sum()
}

fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--rebase-args") {
        let name = args.next().unwrap_or_else(|| "physics".into());
        let Some((_, text)) = MODULES.iter().find(|(n, _)| *n == name) else {
            eprintln!(
                "error: no wasm component `{name}`; the components: physics, renderer, audio"
            );
            std::process::exit(2);
        };
        let wasm = wat::parse_str(text).expect("the module's text");
        println!(
            "{}",
            options(&name, Isolation::Checked).to_args(&wasm).join(" ")
        );
        return;
    }
    println!("{}", Game::map());
    let tokens = (
        Game::take_physics().expect("the physics token"),
        Game::take_renderer().expect("the renderer token"),
        Game::take_audio().expect("the audio token"),
    );
    let mut world = World::start(Unified::Bank(bank_memory(tokens)), Isolation::Checked)
        .unwrap_or_else(|e| panic!("start-up: {e}"));
    for (name, out) in &world.rebased {
        let seg = segment(name);
        let s = out.stats;
        println!(
            "{name:<9} segment {:#07x}..{:#07x} ({}): {} memory instructions rewritten, \
             {} bounds checks, {} elided",
            seg.offset,
            seg.end(),
            Bytes(seg.size),
            s.instructions,
            s.checks,
            s.elided
        );
    }
    const FRAMES: u32 = 120;
    for n in 1..=FRAMES {
        let sum = world.frame(n).unwrap_or_else(|e| panic!("frame {n}: {e}"));
        assert_eq!(
            sum,
            expected_sum(n),
            "frame {n}: the renderer drew what physics wrote"
        );
    }
    let frame = segment("frame_data");
    let bank = world.bytes();
    let published = u32::from_le_bytes(bank[frame.offset..frame.offset + 4].try_into().unwrap());
    println!(
        "\n{FRAMES} frames: physics published {BODIES} positions a frame into `frame_data` \
         (bank offset {:#x}), the renderer drew them; last frame read from the bank: {published}",
        frame.offset
    );
    assert_eq!(published, FRAMES);

    let overrun = world.overrun();
    let trap = overrun.trap.as_deref().expect("the overrun traps");
    println!(
        "physics cleared 64 bytes from 32 before its end: {} of its own bytes changed, then: {trap}",
        overrun.own_bytes_changed
    );
    assert_eq!(overrun.own_bytes_changed, 32);
    assert_eq!(
        overrun.neighbour_changed, None,
        "no byte of another segment changed"
    );
    println!("every byte of `renderer`, `audio` and `frame_data` is unchanged");
}
