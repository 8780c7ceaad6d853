//! Four engine components in a 16 MiB slice of a PSP's user memory, each
//! in its own region with guard pages between them, so one component's
//! overrun cannot silently corrupt its neighbour.
//!
//! `component physics = 4 MiB;` (a segment owned by one component, with
//! access enforced by types) is phase 2 of flight-mem: the grammar is
//! reserved and the macro answers it with a spanned "reserved for phase 2"
//! error. Until then each component is a `region`.
//!
//! `cargo run --release --example psp_components`

use core::alloc::Layout;

use flight_mem::{Bytes, memory_layout};
use flight_mem_examples::Rng;

memory_layout! {
    /// Engine components on a PSP-1000: 15 MiB of components plus guard
    /// pages in a 16 MiB space of the 24 MiB user partition.
    pub layout Components for Psp {
        guard = 4 KiB;
        align = 64;

        /// Rigid bodies, broadphase, contacts.
        region physics = 4 MiB;
        /// Command lists, render targets' metadata, mesh caches.
        region renderer = 8 MiB;
        /// Decoded audio and mixer state (the PSP has no sound RAM).
        region audio = 2 MiB { memory: Audio, allocator: buddy };
        /// Game logic and scripts.
        region logic = 1 MiB { allocator: freelist };
    }
}

/// A component's allocation function.
type Alloc = fn(Layout) -> Result<core::ptr::NonNull<[u8]>, flight_mem::AllocError>;

/// The space the four components must share.
const SPACE: usize = 16 << 20;

fn main() {
    println!("{}", Components::map());
    let main = &Components::banks()[0];
    println!(
        "components use {} of their {} space ({} left for the rest of the game)",
        Bytes(main.used),
        Bytes(SPACE),
        Bytes(SPACE - main.used)
    );
    assert!(main.used <= SPACE);

    // Each component allocates in its own region; a burst in one cannot take
    // memory from another.
    let mut rng = Rng::new(7);
    let mut live = Vec::new();
    let components: [(&str, Alloc, usize); 4] = [
        ("physics", Components::alloc_physics, 4096),
        ("renderer", Components::alloc_renderer, 64 * 1024),
        ("audio", Components::alloc_audio, 16 * 1024),
        ("logic", Components::alloc_logic, 512),
    ];
    for step in 0..20_000 {
        let (name, alloc, typical) = components[rng.below(4)];
        let layout = Layout::from_size_align(1 + rng.below(typical), 16).expect("valid");
        match alloc(layout) {
            Ok(block) => live.push(block),
            Err(error) => {
                if step % 97 == 0 {
                    println!(
                        "step {step:>5}: `{name}` is full ({error}); the others are untouched"
                    );
                }
                // Free a random half of what is live, through the layout,
                // which finds each block's component by its address.
                for _ in 0..live.len() / 2 {
                    let block = live.swap_remove(rng.below(live.len()));
                    // SAFETY: the block is live and not used again.
                    unsafe { Components::deallocate(block.cast()) }
                        .expect("every block has an owner");
                }
            }
        }
    }
    println!();
    println!("{}", Components::stats());
    for region in Components::regions() {
        let guard_start = Components::banks()[0].start().wrapping_add(region.end());
        let guard = core::ptr::NonNull::new(guard_start).expect("inside the bank");
        assert_eq!(
            Components::owner_of(guard),
            None,
            "guard pages belong to no component"
        );
    }
}
