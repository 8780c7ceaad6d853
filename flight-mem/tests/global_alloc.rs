//! A flight-mem TLSF region as the `#[global_allocator]` of this whole test
//! binary: the test harness, its threads and every `Vec` below live in it.
//!
//! Not run under Miri: Miri sees the global allocator's arena as one static
//! allocation, so when std frees a `Box` argument that is still protected
//! (`Thread::init(self: Box<Self>)`) and the allocator writes its free-list
//! links into the freed block, Stacked Borrows reports the write. For the
//! abstract machine that deallocation ends the block; Miri cannot see it for
//! an allocator written in Rust over a static (rust-lang/unsafe-code-guidelines
//! discusses protectors and custom allocators). Every allocator's own Miri
//! suite covers its code paths.
#![cfg(not(miri))]

use flight_mem::{Arena, GlobalRegion, RawMemory, Tlsf};

static ARENA: Arena<{ 32 << 20 }> = Arena::new();
// SAFETY: ARENA is handed to this one allocator and nothing else.
static HEAP: Tlsf = Tlsf::new(unsafe { RawMemory::from_arena(&ARENA) });

#[global_allocator]
static GLOBAL: GlobalRegion<Tlsf> = GlobalRegion::new(&HEAP);

#[test]
fn the_program_runs_on_a_flight_mem_region() {
    let before = HEAP.stats().allocations;
    let words: Vec<String> = (0..1000).map(|i| format!("word {i}")).collect();
    assert!(HEAP.owns(core::ptr::NonNull::from(&words[0]).cast()));
    assert!(HEAP.stats().allocations >= before + 1001);
    let joined = words.concat();
    assert!(joined.starts_with("word 0word 1"));
    HEAP.check().expect("heap invariants hold");
}

#[test]
fn threads_allocate_and_free_through_the_global_allocator() {
    let handles: Vec<_> = (0..4u8)
        .map(|t| {
            std::thread::spawn(move || {
                let rounds = if cfg!(miri) { 20 } else { 2000 };
                for round in 0..rounds {
                    let v = vec![t; 16 + (round % 256)];
                    assert!(v.iter().all(|&b| b == t));
                    let boxed = Box::new([u64::from(t); 8]);
                    assert_eq!(boxed[7], u64::from(t));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    HEAP.check().expect("heap invariants hold");
}
