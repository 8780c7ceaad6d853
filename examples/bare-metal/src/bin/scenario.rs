//! The bare-metal scenario: a `memory_layout!` whose banks are the first
//! 8 KiB of the board's SRAM, exercised entry kind by entry kind. Exit code
//! 0 only when every check held.
//!
//! `examples/bare-metal/run.sh thumbv6m-none-eabi scenario` (Cortex-M0) or
//! `… thumbv7m-none-eabi scenario` (Cortex-M3).
#![no_std]
#![no_main]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr::NonNull;

use cortex_m_rt::entry;
use critical_section::Mutex;
use flight_mem::{
    AllocError, AllocationRequest, CANARY, EntryKind, MemoryType, PressureInfo, PressureLevel,
    ProblemKind, RawAllocator, memory_layout,
};
use flight_mem_bare_metal::{
    Checks, XorShift, check, check_eq, check_memory_map, fill_with_noise, hprintln, paint_stack,
    stack_peak,
};

/// A typed pool's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Particle {
    pos: [f32; 3],
    vel: [f32; 3],
    life: f32,
}

impl Particle {
    const fn new(life: f32) -> Self {
        Self {
            pos: [0.0; 3],
            vel: [0.0, 1.0, 0.0],
            life,
        }
    }
}

memory_layout! {
    /// The firmware's memory plan at the real SRAM of the board: 8 KiB from
    /// `0x2000_0000`, below everything the linker places (build.rs starts
    /// the linker's RAM at `0x2000_2000`).
    pub layout Firmware {
        guard = 16 B;
        align = 8;
        pressure { low: 50%, medium: 25%, high: 10%, critical: 5% }

        /// General-purpose memory: the first 6 KiB of SRAM.
        unsafe bank main = 6 KiB { base: 0x2000_0000, memory: [System, Temporary, Stack, Audio] };
        /// Fixed-size objects and I/O buffers: the next 2 KiB.
        unsafe bank io = 2 KiB { base: 0x2000_1800, memory: [Pool, Network] };

        /// The general heap (TLSF).
        region heap = 2 KiB;
        /// Sound buffers, power-of-two sized (buddy).
        region sound = 1 KiB { memory: Audio, allocator: buddy };
        /// Long-lived assets (first-fit free list).
        region assets = 1 KiB { allocator: freelist };
        /// Per-frame scratch, double-buffered.
        frame scratch = [512 B; 2];
        /// LIFO temporaries.
        stack temp = 512 B;
        /// For critical requests, and everyone at `Critical` pressure.
        reserve emergency = 256 B;
        /// Typed objects.
        pool particles = [Particle; 16];
        /// Untyped I/O blocks.
        pool packets = [64 B; 8] { memory: Network };
    }
}

/// The firmware's global allocator is the layout's heap, so `alloc`'s
/// collections live in the bank too (`GlobalRegion` needs the allocator's
/// `static` by name, which the macro keeps hidden; this forwards to the
/// accessors instead).
struct HeapRegion;

// SAFETY: blocks come from the heap's TLSF, which returns blocks of at least
// the layout's size and alignment that stay valid until freed; a failure
// is a null pointer.
unsafe impl GlobalAlloc for HeapRegion {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Firmware::alloc_heap(layout).map_or(core::ptr::null_mut(), |b| b.cast::<u8>().as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(ptr) = NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` above, i.e. from the heap, and
            // the caller does not use it again.
            unsafe { Firmware::free_heap(ptr, layout) };
        }
    }
}

#[global_allocator]
static GLOBAL: HeapRegion = HeapRegion;

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

fn owner(ptr: NonNull<u8>) -> &'static str {
    Firmware::owner_of(ptr).map_or("<none>", |info| info.name)
}

/// Live blocks, without a heap.
struct Held<const N: usize> {
    blocks: [Option<NonNull<u8>>; N],
    len: usize,
}

impl<const N: usize> Held<N> {
    const fn new() -> Self {
        Self {
            blocks: [None; N],
            len: 0,
        }
    }

    fn push(&mut self, block: NonNull<u8>) -> bool {
        if self.len == N {
            return false;
        }
        self.blocks[self.len] = Some(block);
        self.len += 1;
        true
    }

    fn pop(&mut self) -> Option<NonNull<u8>> {
        self.len = self.len.checked_sub(1)?;
        self.blocks[self.len].take()
    }
}

#[entry]
fn main() -> ! {
    paint_stack();
    let mut c = Checks::default();
    // Before the first accessor call: give the banks the garbage a real
    // chip's SRAM holds at reset (QEMU zeroes it).
    for bank in Firmware::banks() {
        // SAFETY: the banks' bytes, which no accessor has touched yet and no
        // Rust object occupies (check_memory_map below proves the linker put
        // nothing there).
        unsafe {
            fill_with_noise(
                bank.start().addr(),
                bank.budget,
                &mut XorShift::new(0xB0A2D),
            )
        };
    }
    hprintln!("{}", Firmware::map());
    check_memory_map(&mut c, Firmware::banks());
    placement(&mut c);
    regions(&mut c);
    stack(&mut c);
    frames(&mut c);
    typed_pool(&mut c);
    block_pool(&mut c);
    budget_and_pressure(&mut c);
    routing(&mut c);
    collections(&mut c);
    guards(&mut c);

    let report = Firmware::validate();
    check!(c, report.is_ok(), "validate at the end: {}", report);
    let stats = Firmware::stats();
    for row in stats.entries() {
        check_eq!(c, row.stats.live, 0);
        check!(
            c,
            row.stats.peak <= row.stats.capacity,
            "`{}` peak within capacity",
            row.info.name
        );
    }
    hprintln!("{}", stats);
    let (used, room) = stack_peak();
    hprintln!("stack: {} of {} bytes used at the deepest", used, room);
    check!(c, used + 256 <= room, "stack keeps 256 bytes of headroom");
    c.finish("scenario")
}

/// Every entry sits inside its bank, at the bank's real address, and
/// nothing outside the entries (a local, a static) belongs to the layout.
#[inline(never)]
fn placement(c: &mut Checks) {
    let banks = Firmware::banks();
    for region in Firmware::regions() {
        let bank = banks.iter().find(|b| b.name == region.bank).unwrap();
        let start = bank.start().addr() + region.offset;
        check!(
            c,
            region.end() + region.guard <= bank.used && bank.used <= bank.budget,
            "`{}` and its guard inside bank `{}`",
            region.name,
            bank.name
        );
        check_eq!(c, start % region.align, 0);
        let first = NonNull::new(core::ptr::with_exposed_provenance_mut::<u8>(start)).unwrap();
        check_eq!(c, owner(first), region.name);
    }
    let local = 0u32;
    check_eq!(c, owner(NonNull::from(&local).cast()), "<none>");
    static OUTSIDE: u32 = 0;
    check_eq!(c, owner(NonNull::from(&OUTSIDE).cast()), "<none>");
}

type Alloc = fn(Layout) -> Result<NonNull<[u8]>, AllocError>;
type Free = unsafe fn(NonNull<u8>, Layout);

/// The general allocators and the block pool: allocate, own, write, free.
#[inline(never)]
fn regions(c: &mut Checks) {
    let entries: [(&str, Alloc, Free); 4] = [
        ("heap", Firmware::alloc_heap, Firmware::free_heap),
        ("sound", Firmware::alloc_sound, Firmware::free_sound),
        ("assets", Firmware::alloc_assets, Firmware::free_assets),
        ("packets", Firmware::alloc_packets, Firmware::free_packets),
    ];
    for (name, alloc, free) in entries {
        let Ok(block) = alloc(layout(60)) else {
            check!(c, false, "`{}` serves 60 bytes", name);
            continue;
        };
        check!(c, block.len() >= 60, "`{}` block length", name);
        check_eq!(c, owner(block.cast()), name);
        // SAFETY: a live block of at least 60 bytes.
        let bytes = unsafe { core::slice::from_raw_parts_mut(block.cast::<u8>().as_ptr(), 60) };
        bytes.fill(0x3C);
        check!(
            c,
            bytes.iter().all(|&b| b == 0x3C),
            "`{}` block keeps its bytes",
            name
        );
        check_eq!(c, Firmware::stats().entry(name).unwrap().stats.live, 1);
        // SAFETY: the block came from this entry and is dead.
        unsafe { free(block.cast(), layout(60)) };
        check_eq!(c, Firmware::stats().entry(name).unwrap().stats.live, 0);
    }
    let sound = Firmware::sound();
    check_eq!(c, sound.kind(), flight_mem::AllocatorKind::Buddy);
    check_eq!(
        c,
        Firmware::assets().kind(),
        flight_mem::AllocatorKind::FreeList
    );
}

/// The stack frees in LIFO order and refuses anything else.
#[inline(never)]
fn stack(c: &mut Checks) {
    let temp = Firmware::temp();
    let (Ok(a), Ok(b)) = (
        Firmware::alloc_temp(layout(64)),
        Firmware::alloc_temp(layout(32)),
    ) else {
        check!(c, false, "the stack serves 64 + 32 bytes");
        return;
    };
    check_eq!(c, owner(a.cast()), "temp");
    check!(
        c,
        b.cast::<u8>() > a.cast::<u8>(),
        "the stack grows upwards"
    );
    let before = temp.stats();
    // SAFETY: `a` is live but not on top: the stack detects this and
    // refuses without touching anything (the failure path under test).
    let refused = unsafe { RawAllocator::free(temp, a.cast()) };
    check_eq!(c, refused, Err(AllocError::OutOfOrder));
    check_eq!(c, temp.stats(), before);
    // SAFETY: freed in LIFO order, not used again.
    unsafe {
        Firmware::free_temp(b.cast(), layout(32));
        Firmware::free_temp(a.cast(), layout(64));
    }
    let marker = temp.marker();
    for size in [16, 48, 100] {
        check!(
            c,
            Firmware::alloc_temp(layout(size)).is_ok(),
            "push {} bytes",
            size
        );
    }
    check_eq!(c, temp.stats().live, 3);
    // SAFETY: the three blocks pushed after `marker` are not used again.
    check_eq!(c, unsafe { temp.release_to(marker) }, Ok(()));
    check_eq!(c, temp.stats().live, 0);
    check!(
        c,
        Firmware::alloc_temp(layout(600)).is_err(),
        "600 bytes exceed a 512-byte stack"
    );
}

/// Two frames: switching keeps the frame just left for one more frame,
/// then resets it; a scope gives back its blocks.
#[inline(never)]
fn frames(c: &mut Checks) {
    let frames = Firmware::scratch();
    check_eq!(c, frames.frame_count(), 2);
    let first = frames.current_frame();
    let Ok(a) = Firmware::alloc_scratch(layout(200)) else {
        check!(c, false, "frame serves 200 bytes");
        return;
    };
    // SAFETY: a live block of 200 bytes.
    unsafe { a.cast::<u8>().as_ptr().write_bytes(0xA1, 200) };
    // SAFETY: no block of the other (never used) frame exists.
    unsafe { frames.next_frame() };
    check!(
        c,
        frames.current_frame() != first,
        "next_frame switches frames"
    );
    let Ok(b) = Firmware::alloc_scratch(layout(200)) else {
        check!(c, false, "second frame serves 200 bytes");
        return;
    };
    // SAFETY: a live block of 200 bytes.
    unsafe { b.cast::<u8>().as_ptr().write_bytes(0xB2, 200) };
    let (a0, b0) = (
        a.cast::<u8>().as_ptr().addr(),
        b.cast::<u8>().as_ptr().addr(),
    );
    check!(
        c,
        a0 + 200 <= b0 || b0 + 200 <= a0,
        "the frames are disjoint"
    );
    check_eq!(c, owner(b.cast()), "scratch");
    // SAFETY: `a` lives until the frame it is in is reset, one switch away.
    let kept = unsafe { core::slice::from_raw_parts(a.cast::<u8>().as_ptr(), 200) };
    check!(
        c,
        kept.iter().all(|&x| x == 0xA1),
        "the frame just left keeps its blocks"
    );
    check!(
        c,
        Firmware::alloc_scratch(layout(600)).is_err(),
        "a frame holds 512 bytes"
    );

    let used = frames.stats().used;
    let in_scope = frames.scope(|scope| {
        scope.alloc_layout(layout(100)).is_ok() && frames.stats().used >= used + 100
    });
    check!(c, in_scope, "a scope allocates in the current frame");
    check_eq!(c, frames.stats().used, used);

    // SAFETY: `a` is not used after this (the frame it is in is reset).
    unsafe { frames.next_frame() };
    check_eq!(c, frames.current_frame(), first);
    let Ok(again) = Firmware::alloc_scratch(layout(200)) else {
        check!(c, false, "the reset frame serves 200 bytes");
        return;
    };
    check_eq!(c, again.cast::<u8>().as_ptr().addr(), a0);
    // SAFETY: both frames' blocks are dead.
    unsafe {
        frames.next_frame();
        frames.next_frame();
    }
}

/// A typed pool filled to exhaustion gives the value back.
#[inline(never)]
fn typed_pool(c: &mut Checks) {
    let pool = Firmware::particles();
    let mut boxes = [const { None }; 32];
    let mut count = 0;
    while let Ok(particle) = Firmware::alloc_particles(Particle::new(count as f32)) {
        check_eq!(c, owner(NonNull::from(&*particle).cast()), "particles");
        if count == boxes.len() {
            check!(c, false, "the pool holds more than {} values", boxes.len());
            break;
        }
        boxes[count] = Some(particle);
        count += 1;
    }
    check_eq!(c, count, pool.slots());
    check_eq!(c, count, 16);
    let refused = Firmware::alloc_particles(Particle::new(7.5));
    check!(
        c,
        matches!(refused, Err(p) if p == Particle::new(7.5)),
        "a full pool gives the value back"
    );
    // One failure ended the filling loop, one is the refusal above.
    check_eq!(c, pool.stats().failures, 2);
    for (i, slot) in boxes[..count].iter().enumerate() {
        let life = slot.as_ref().map(|p| p.life);
        check_eq!(c, life, Some(i as f32));
    }
    boxes[3] = None;
    check!(
        c,
        Firmware::alloc_particles(Particle::new(3.0)).is_ok(),
        "a freed slot is reused"
    );
    drop(boxes);
    check_eq!(c, pool.len(), 0);
    check!(c, pool.check().is_ok(), "pool invariants");
}

/// An untyped block pool filled to exhaustion refuses with `OutOfMemory`.
#[inline(never)]
fn block_pool(c: &mut Checks) {
    let mut held = Held::<16>::new();
    let error = loop {
        match Firmware::alloc_packets(layout(64)) {
            Ok(block) => {
                if !held.push(block.cast()) {
                    check!(c, false, "the pool holds more than 16 blocks");
                    break AllocError::ZeroSize;
                }
            }
            Err(error) => break error,
        }
    };
    check_eq!(c, held.len, 8);
    check!(
        c,
        matches!(error, AllocError::OutOfMemory { .. }),
        "a full pool: {:?}",
        error
    );
    check!(
        c,
        Firmware::alloc_packets(layout(65)).is_err(),
        "a block is 64 bytes"
    );
    while let Some(block) = held.pop() {
        // SAFETY: a live block of this pool, not used again.
        unsafe { Firmware::free_packets(block, layout(64)) };
    }
    check_eq!(c, Firmware::packets().stats().live, 0);
}

static HIGH_CALLS: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));
static LAST_HIGH: Mutex<Cell<Option<PressureInfo>>> = Mutex::new(Cell::new(None));
static FAILURE_CALLS: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));
/// Addresses of "cache" blocks the failure callback may free.
static CACHE: Mutex<Cell<[usize; 4]>> = Mutex::new(Cell::new([0; 4]));

fn on_high(_: PressureLevel, info: &PressureInfo) {
    critical_section::with(|cs| {
        let calls = HIGH_CALLS.borrow(cs);
        calls.set(calls.get() + 1);
        LAST_HIGH.borrow(cs).set(Some(*info));
    });
}

/// Frees the cache: what a game does when memory runs out.
fn drop_cache(_: PressureLevel, _: &PressureInfo) {
    let cache = critical_section::with(|cs| {
        let calls = FAILURE_CALLS.borrow(cs);
        calls.set(calls.get() + 1);
        CACHE.borrow(cs).replace([0; 4])
    });
    for addr in cache.into_iter().filter(|&a| a != 0) {
        let block = NonNull::new(core::ptr::with_exposed_provenance_mut(addr)).unwrap();
        // SAFETY: a heap block the cache owned; taken out of it above, so
        // freed once.
        unsafe { Firmware::free_heap(block, layout(64)) };
    }
}

fn count(calls: &Mutex<Cell<u32>>) -> u32 {
    critical_section::with(|cs| calls.borrow(cs).get())
}

/// The heap fills to the budget and no further; pressure callbacks fire on
/// the rising edge and on failure, and a freed cache lets the retry pass.
#[inline(never)]
fn budget_and_pressure(c: &mut Checks) {
    let heap = Firmware::heap();
    let mut cache = [0; 4];
    for slot in &mut cache {
        *slot = Firmware::alloc_heap(layout(64))
            .map_or(0, |b| b.cast::<u8>().as_ptr().expose_provenance());
    }
    check!(c, cache.iter().all(|&a| a != 0), "the cache fits");
    critical_section::with(|cs| CACHE.borrow(cs).set(cache));

    check!(
        c,
        Firmware::on_pressure(PressureLevel::High, on_high).is_ok(),
        "register High"
    );
    check_eq!(c, Firmware::pressure(), PressureLevel::None);
    let mut held = Held::<64>::new();
    while Firmware::pressure() < PressureLevel::High {
        match Firmware::alloc_heap(layout(64)) {
            Ok(block) => {
                if !held.push(block.cast()) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    check_eq!(c, Firmware::pressure(), PressureLevel::High);
    check_eq!(c, count(&HIGH_CALLS), 1);
    let info = critical_section::with(|cs| LAST_HIGH.borrow(cs).get());
    check!(
        c,
        matches!(info, Some(i) if i.region == "heap" && i.free * 10 <= i.total),
        "the callback names the heap at ≤ 10 % free: {:?}",
        info
    );
    // Up to the budget: Critical does not fire the High callback again.
    let error = loop {
        match Firmware::alloc_heap(layout(64)) {
            Ok(block) => {
                if !held.push(block.cast()) {
                    break AllocError::ZeroSize;
                }
            }
            Err(error) => break error,
        }
    };
    check!(
        c,
        matches!(error, AllocError::OutOfMemory { .. }),
        "the heap refuses past its budget: {:?}",
        error
    );
    check_eq!(c, count(&HIGH_CALLS), 2);
    check_eq!(c, Firmware::pressure(), PressureLevel::Critical);
    let stats = heap.stats();
    check!(
        c,
        stats.used <= stats.capacity && stats.capacity <= 2048,
        "budget holds: {}",
        stats
    );
    check!(
        c,
        stats.capacity - stats.used < 72,
        "the heap is full to one block: {}",
        stats
    );

    // Now a failure runs the cache dropper, and the retry passes.
    check!(
        c,
        Firmware::on_pressure(PressureLevel::Critical, drop_cache).is_ok(),
        "register Critical"
    );
    check_eq!(c, count(&FAILURE_CALLS), 0);
    let failures = heap.stats().failures;
    let retried = Firmware::alloc_heap(layout(200));
    check!(
        c,
        retried.is_ok(),
        "the retry after the callback succeeds: {:?}",
        retried
    );
    check_eq!(c, count(&FAILURE_CALLS), 1);
    // The High callback ran for the failure too (every callback does), and
    // once more after the retry: the dropped cache took the heap down to
    // Medium, and the 200-byte retry raised it into High again.
    check_eq!(c, count(&HIGH_CALLS), 4);
    check_eq!(c, heap.stats().failures, failures + 1);
    // Nothing left to drop: the error comes back after the callbacks.
    let refused = Firmware::alloc_heap(layout(1024));
    check!(
        c,
        matches!(refused, Err(AllocError::OutOfMemory { .. })),
        "{:?}",
        refused
    );
    check_eq!(c, count(&FAILURE_CALLS), 2);

    // With the heap and `assets` (the other System region) full, a
    // critical request lands in the reserve.
    let hog = Firmware::alloc_assets(layout(1000));
    check!(c, hog.is_ok(), "`assets` serves 1000 bytes");
    let plain = Firmware::allocate(&AllocationRequest::new(160));
    check!(
        c,
        matches!(plain, Ok(a) if a.region.name == "emergency"),
        "at Critical pressure everyone may use the reserve: {:?}",
        plain.map(|a| a.region.name)
    );
    if let Ok(allocation) = plain {
        // SAFETY: the block is live and not used again.
        let result = unsafe { Firmware::deallocate(allocation.as_non_null()) };
        check_eq!(c, result, Ok(()));
    }
    match Firmware::allocate(&AllocationRequest::new(160).critical()) {
        Ok(allocation) => {
            check_eq!(c, allocation.region.name, "emergency");
            check_eq!(c, allocation.region.kind, EntryKind::Reserve);
            // SAFETY: the block is live and not used again.
            let result = unsafe { Firmware::deallocate(allocation.as_non_null()) };
            check_eq!(c, result, Ok(()));
        }
        Err(error) => check!(c, false, "critical request: {:?}", error),
    }
    if let Ok(block) = hog {
        // SAFETY: allocated above, not used again.
        unsafe { Firmware::free_assets(block.cast(), layout(1000)) };
    }

    if let Ok(block) = retried {
        // SAFETY: allocated above, not used again.
        unsafe { Firmware::free_heap(block.cast(), layout(200)) };
    }
    while let Some(block) = held.pop() {
        // SAFETY: heap blocks allocated above, not used again.
        unsafe { Firmware::free_heap(block, layout(64)) };
    }
    check_eq!(c, heap.stats().live, 0);
    check_eq!(c, Firmware::pressure(), PressureLevel::None);
}

/// Requests routed by memory type; impossible ones fail with the reason.
#[inline(never)]
fn routing(c: &mut Checks) {
    match Firmware::allocate(&AllocationRequest::new(100).memory(MemoryType::Audio)) {
        Ok(allocation) => {
            check_eq!(c, allocation.region.name, "sound");
            // SAFETY: live, not used again.
            let result = unsafe { Firmware::deallocate(allocation.as_non_null()) };
            check_eq!(c, result, Ok(()));
        }
        Err(error) => check!(c, false, "audio request: {:?}", error),
    }
    let video = Firmware::allocate(&AllocationRequest::new(64).memory(MemoryType::Video));
    check!(
        c,
        matches!(video, Err(AllocError::NoRoute)),
        "no bank holds video memory: {:?}",
        video
    );
    let huge = Firmware::allocate(&AllocationRequest::new(4096));
    check!(
        c,
        huge.is_err(),
        "4 KiB fits no entry: {:?}",
        huge.map(|a| a.region.name)
    );
    let local = 0u64;
    // SAFETY: no entry owns the pointer; refusing it is what is tested.
    let foreign = unsafe { Firmware::deallocate(NonNull::from(&local).cast()) };
    check_eq!(c, foreign, Err(AllocError::ForeignPointer));
}

/// `alloc`'s collections live in the heap (the global allocator).
#[inline(never)]
fn collections(c: &mut Checks) {
    let numbers: alloc::vec::Vec<u32> = (0..200u32).map(|i| i * 3).collect();
    check!(
        c,
        numbers.iter().enumerate().all(|(i, &n)| n == i as u32 * 3),
        "values kept"
    );
    check_eq!(c, owner(NonNull::from(&numbers[0]).cast()), "heap");
    let text = alloc::format!("{} numbers, last {}", numbers.len(), numbers[199]);
    check_eq!(c, text.as_str(), "200 numbers, last 597");
    check_eq!(c, Firmware::heap().stats().live, 2);
    drop((numbers, text));
    check_eq!(c, Firmware::heap().stats().live, 0);
}

/// Validation is clean, catches an overrun into a guard (naming the entry
/// before it), and is clean again once the canary is restored.
#[inline(never)]
fn guards(c: &mut Checks) {
    let report = Firmware::validate();
    check!(c, report.is_ok(), "validate: {}", report);
    let heap = &Firmware::regions()[0];
    let bank = &Firmware::banks()[0];
    check_eq!(c, (heap.name, bank.name), ("heap", "main"));
    let guard = bank.start().addr() + heap.end() + 3;
    let byte = core::ptr::with_exposed_provenance_mut::<u8>(guard);
    // SAFETY: a byte of the guard after `heap`, inside the bank's RAM; no
    // allocator hands it out, and the canary is restored below.
    unsafe { byte.write_volatile(0x00) };
    let report = Firmware::validate();
    let problem = report.problems().next().copied();
    check_eq!(c, report.count(), 1);
    check!(
        c,
        matches!(problem, Some(p) if p.region == "heap"
            && matches!(p.kind, ProblemKind::GuardBreach(b) if b.offset == 3 && b.found == 0)),
        "the overrun is reported on `heap`: {}",
        report
    );
    hprintln!("expected failure, reported: {}", report);
    // SAFETY: as above.
    unsafe { byte.write_volatile(CANARY) };
    check!(c, Firmware::validate().is_ok(), "clean again");
}
