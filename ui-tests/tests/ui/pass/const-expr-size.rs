// Sizes that are const expressions, and a typed pool whose size is
// `size_of`-dependent: rustc proves they fit through the const assertions.
// The expansion raises no warning in the user's crate: not for a
// parenthesised literal (`unused_parens`), not for the composed
// `alloc__spare` of a name with a leading underscore (`non_snake_case`).
#![deny(warnings)]
use flight_mem::memory_layout;

const LEVEL_BYTES: usize = 3 * 1024 * 1024;
const MAX_PLAYERS: usize = 4;

#[repr(align(16))]
pub struct Player {
    pub state: [u8; 400],
}

memory_layout! {
    pub layout Game for Psp {
        region level = (LEVEL_BYTES);
        region per_player = (MAX_PLAYERS * 256 * 1024) { guard: (4 * 1024) };
        pool players = [Player; 4];
        pool blocks = [(core::mem::size_of::<Player>()); 8];
        pool packets = [(64); 8];
        region _spare = (16 * 1024);
    }
}

fn main() {
    assert_eq!(Game::regions()[0].size, LEVEL_BYTES);
}
