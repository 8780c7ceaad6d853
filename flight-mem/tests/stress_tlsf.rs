//! Eight threads hammering one `static` TLSF over a static arena.

use core::alloc::Layout;
use core::ptr::NonNull;

use flight_mem::{AllocError, Arena, RawMemory, Tlsf};

// Small enough that the threads run into out-of-memory now and then.
const ARENA_SIZE: usize = if cfg!(miri) { 64 * 1024 } else { 256 * 1024 };
const THREADS: usize = 8;
const ROUNDS: usize = if cfg!(miri) { 16 } else { 100_000 };
/// Most sizes are up to `SMALL`, one in eight up to `LARGE` (smaller under
/// Miri, where writing and checking the patterns dominates).
const SMALL: usize = if cfg!(miri) { 64 } else { 256 };
const LARGE: usize = if cfg!(miri) { 512 } else { 4096 };
/// Blocks a thread holds at most; when full it frees a random one.
const HELD: usize = if cfg!(miri) { 4 } else { 128 };

static ARENA: Arena<ARENA_SIZE> = Arena::new();
// SAFETY: ARENA is handed to this one allocator and nothing else.
static HEAP: Tlsf = Tlsf::new(unsafe { RawMemory::from_arena(&ARENA) });

struct Held {
    ptr: NonNull<u8>,
    size: usize,
    pattern: u8,
}

// SAFETY: the block is owned by the thread holding the `Held`.
unsafe impl Send for Held {}

fn verify_and_free(block: Held) {
    // SAFETY: the block is live and `size` bytes long.
    let bytes = unsafe { core::slice::from_raw_parts(block.ptr.as_ptr(), block.size) };
    assert!(
        bytes.iter().all(|&b| b == block.pattern),
        "block overwritten"
    );
    // SAFETY: allocated from HEAP by this thread and freed once.
    unsafe { HEAP.free(block.ptr) }.expect("free of a live block");
}

/// Returns (allocations, frees, failures) of this thread.
fn hammer(thread: usize) -> (u64, u64, u64) {
    let mut seed =
        0x9E37_79B9_7F4A_7C15u64 ^ (thread as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut held: Vec<Held> = Vec::with_capacity(HELD);
    let (mut allocations, mut frees, mut failures) = (0, 0, 0);
    for round in 0..ROUNDS {
        let r = next();
        if held.len() == HELD || (!held.is_empty() && r % 3 == 0) {
            let index = (r >> 8) as usize % held.len();
            verify_and_free(held.swap_remove(index));
            frees += 1;
            continue;
        }
        // Alignments up to 256.
        let size = 1 + (r >> 16) as usize % if r % 8 == 0 { LARGE } else { SMALL };
        let align = 1 << ((r >> 40) % 9);
        match HEAP.allocate(Layout::from_size_align(size, align).unwrap()) {
            Ok(block) => {
                let ptr = block.cast::<u8>();
                assert_eq!(ptr.as_ptr() as usize % align, 0);
                let pattern = (thread * 31 + round) as u8 | 1;
                // SAFETY: the block is valid for `size` bytes of writes.
                unsafe { ptr.as_ptr().write_bytes(pattern, size) };
                held.push(Held { ptr, size, pattern });
                allocations += 1;
            }
            Err(AllocError::OutOfMemory { .. }) => failures += 1,
            Err(err) => panic!("unexpected {err:?}"),
        }
    }
    for block in held.drain(..) {
        verify_and_free(block);
        frees += 1;
    }
    (allocations, frees, failures)
}

#[test]
fn eight_threads_share_one_static_heap() {
    let threads: Vec<_> = (0..THREADS)
        .map(|t| std::thread::spawn(move || hammer(t)))
        .collect();
    let (mut allocations, mut frees, mut failures) = (0, 0, 0);
    for thread in threads {
        let (a, f, x) = thread.join().expect("thread panicked");
        allocations += a;
        frees += f;
        failures += x;
    }
    let stats = HEAP.stats();
    assert_eq!(stats.allocations, allocations);
    assert_eq!(stats.deallocations, frees);
    assert_eq!(allocations, frees);
    assert_eq!(stats.failures, failures);
    println!("{allocations} allocations, {failures} out-of-memory refusals; {stats}");
    assert_eq!((stats.live, stats.used, stats.requested), (0, 0, 0));
    assert!(stats.peak > 0 && stats.peak <= stats.capacity);
    HEAP.check().expect("invariants after the stress run");
    // Everything coalesced back into one block.
    assert_eq!(stats.largest_free, stats.capacity - Tlsf::HEADER_SIZE);
    let whole = HEAP
        .allocate(Layout::from_size_align(stats.largest_free, 8).unwrap())
        .expect("one big block again");
    // SAFETY: allocated just above.
    unsafe { HEAP.free(whole.cast()) }.unwrap();
}
