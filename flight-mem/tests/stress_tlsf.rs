//! Eight threads hammering one `static` TLSF over a static arena.

mod common;

use core::alloc::Layout;

use common::{assert_hammer_counted, hammer_from_threads};
use flight_mem::{Arena, RawMemory, Tlsf};

// Small enough that the threads run into out-of-memory now and then.
const ARENA_SIZE: usize = if cfg!(miri) { 64 * 1024 } else { 256 * 1024 };
const THREADS: usize = 8;
const ROUNDS: usize = if cfg!(miri) { 16 } else { 100_000 };
/// Most sizes are up to `SMALL`, one in eight up to `LARGE` (smaller under
/// Miri, where writing and checking the patterns dominates).
const SMALL: usize = if cfg!(miri) { 64 } else { 256 };
const LARGE: usize = if cfg!(miri) { 512 } else { 4096 };
/// Blocks a thread holds at most; when more, it frees a random one.
const HELD: usize = if cfg!(miri) { 4 } else { 128 };

static ARENA: Arena<ARENA_SIZE> = Arena::new();
// SAFETY: ARENA is handed to this one allocator and nothing else.
static HEAP: Tlsf = Tlsf::new(unsafe { RawMemory::from_arena(&ARENA) });

/// A random request for `round` of `thread` (splitmix64 of both): sizes as
/// documented at `SMALL`, alignments up to 256.
fn random_layout(thread: usize, round: usize) -> Layout {
    let mut r = ((thread as u64) << 40 ^ round as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    r = (r ^ (r >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    r = (r ^ (r >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    r ^= r >> 31;
    let size = 1 + (r >> 16) as usize % if r.is_multiple_of(8) { LARGE } else { SMALL };
    let align = 1 << ((r >> 40) % 9);
    Layout::from_size_align(size, align).unwrap()
}

#[test]
fn eight_threads_share_one_static_heap() {
    let counts = hammer_from_threads(&HEAP, THREADS, ROUNDS, HELD, random_layout);
    assert_hammer_counted(&HEAP, &counts, ROUNDS);
    let stats = HEAP.stats();
    println!(
        "{} allocations, {} out-of-memory refusals; {stats}",
        stats.allocations, stats.failures
    );
    assert!(stats.peak > 0 && stats.peak <= stats.capacity);
    // Everything coalesced back into one block.
    assert_eq!(stats.largest_free, stats.capacity - Tlsf::HEADER_SIZE);
    let whole = HEAP
        .allocate(Layout::from_size_align(stats.largest_free, 8).unwrap())
        .expect("one big block again");
    // SAFETY: allocated just above.
    unsafe { HEAP.free(whole.cast()) }.unwrap();
}
