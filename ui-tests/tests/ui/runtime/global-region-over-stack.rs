use flight_mem::{Arena, GlobalRegion, RawMemory, Stack};

static ARENA: Arena<4096> = Arena::new();
// SAFETY: the arena belongs to this stack alone.
static TEMP: Stack = Stack::new(unsafe { RawMemory::from_arena(&ARENA) });

// std frees in any order; a stack frees only its top block.
#[global_allocator]
static GLOBAL: GlobalRegion<Stack> = GlobalRegion::new(&TEMP);

fn main() {}
