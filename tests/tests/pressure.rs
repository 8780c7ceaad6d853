//! Memory pressure: levels from the regions' free share, edge-triggered
//! callbacks that run outside every allocator lock, and the failure callback
//! before the one retry.
//!
//! Callbacks are per layout and tests run in parallel, so every test has a
//! layout of its own.

use core::alloc::Layout;
use core::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use flight_mem::{PressureError, PressureInfo, PressureLevel, memory_layout};

memory_layout! {
    layout Edges { budget = 128 KiB; guard = 0 B; region heap = 64 KiB; }
    layout Reentrant { budget = 128 KiB; guard = 0 B; region heap = 64 KiB; }
    layout Failing { budget = 128 KiB; guard = 0 B; region heap = 64 KiB; }
    layout Quiet { budget = 128 KiB; guard = 0 B; region heap = 64 KiB; }
    layout Two {
        budget = 256 KiB;
        guard = 0 B;
        pressure { low: 60%, medium: 40%, high: 20%, critical: 10% }
        region heap = 64 KiB;
        region assets = 64 KiB { allocator: buddy };
        stack temp = 64 KiB;
    }
    layout Table { budget = 64 KiB; guard = 0 B; region heap = 16 KiB; }
    layout Recursive { budget = 64 KiB; guard = 0 B; region heap = 16 KiB; }
}

const KIB: Layout = match Layout::from_size_align(1024, 8) {
    Ok(layout) => layout,
    Err(_) => panic!(),
};

/// Allocates 1 KiB blocks from `alloc` until `level()` reaches `target`.
fn fill_until(
    alloc: fn(Layout) -> Result<NonNull<[u8]>, flight_mem::AllocError>,
    level: fn() -> PressureLevel,
    target: PressureLevel,
    blocks: &mut Vec<NonNull<u8>>,
) {
    while level() < target {
        blocks.push(alloc(KIB).expect("the region has room").cast());
    }
}

/// Frees blocks (newest first) until `level()` is below `target`.
fn drain_below(
    free: unsafe fn(NonNull<u8>, Layout),
    level: fn() -> PressureLevel,
    target: PressureLevel,
    blocks: &mut Vec<NonNull<u8>>,
) {
    while level() >= target {
        let block = blocks.pop().expect("emptying the region lowers pressure");
        // SAFETY: the block came from the matching `alloc` and is dead.
        unsafe { free(block, KIB) };
    }
}

fn free_all(free: unsafe fn(NonNull<u8>, Layout), blocks: &mut Vec<NonNull<u8>>) {
    for block in blocks.drain(..) {
        // SAFETY: as above.
        unsafe { free(block, KIB) };
    }
}

#[test]
fn edges_fire_once_per_transition_and_again_after_recovering() {
    static CALLS: Mutex<Vec<(PressureLevel, &'static str)>> = Mutex::new(Vec::new());
    fn on_high(level: PressureLevel, info: &PressureInfo) {
        assert!(info.free <= info.total / 10, "{info}");
        CALLS.lock().unwrap().push((level, info.region));
    }
    let calls = || CALLS.lock().unwrap().len();
    Edges::on_pressure(PressureLevel::High, on_high).unwrap();
    let mut blocks = Vec::new();

    fill_until(
        Edges::alloc_heap,
        Edges::pressure,
        PressureLevel::Medium,
        &mut blocks,
    );
    assert_eq!(calls(), 0, "Medium is below the registered level");
    fill_until(
        Edges::alloc_heap,
        Edges::pressure,
        PressureLevel::High,
        &mut blocks,
    );
    assert_eq!(calls(), 1, "rising into High fires once");
    assert_eq!(CALLS.lock().unwrap()[0], (PressureLevel::High, "heap"));
    // More allocations at High, and the rise into Critical (a higher level,
    // but the callback's level was crossed already): no more calls.
    fill_until(
        Edges::alloc_heap,
        Edges::pressure,
        PressureLevel::Critical,
        &mut blocks,
    );
    assert_eq!(calls(), 1);

    drain_below(
        Edges::free_heap,
        Edges::pressure,
        PressureLevel::High,
        &mut blocks,
    );
    drain_below(
        Edges::free_heap,
        Edges::pressure,
        PressureLevel::Medium,
        &mut blocks,
    );
    assert_eq!(calls(), 1, "falling calls nothing");
    fill_until(
        Edges::alloc_heap,
        Edges::pressure,
        PressureLevel::High,
        &mut blocks,
    );
    assert_eq!(calls(), 2, "re-entering High fires again");
    free_all(Edges::free_heap, &mut blocks);
    assert_eq!(Edges::pressure(), PressureLevel::None);
}

/// A callback that allocates from and frees into the region that
/// triggered it, from inside the callback: would deadlock if callbacks ran
/// under the region's lock.
#[test]
fn a_callback_may_allocate_and_free_in_its_own_region() {
    static RAN: AtomicUsize = AtomicUsize::new(0);
    fn churn(_: PressureLevel, info: &PressureInfo) {
        assert_eq!(info.region, "heap");
        let block = Reentrant::alloc_heap(Layout::new::<[u64; 4]>()).expect("room left");
        // SAFETY: just allocated, not used again.
        unsafe { Reentrant::free_heap(block.cast(), Layout::new::<[u64; 4]>()) };
        let routed = Reentrant::allocate(&flight_mem::AllocationRequest::new(64)).unwrap();
        // SAFETY: as above.
        unsafe { Reentrant::deallocate(routed.as_non_null()) }.unwrap();
        RAN.fetch_add(1, Ordering::Relaxed);
    }
    Reentrant::on_pressure(PressureLevel::Low, churn).unwrap();
    let mut blocks = Vec::new();
    fill_until(
        Reentrant::alloc_heap,
        Reentrant::pressure,
        PressureLevel::Medium,
        &mut blocks,
    );
    assert_eq!(
        RAN.load(Ordering::Relaxed),
        1,
        "the Low callback fires once, on the rise into Low"
    );
    free_all(Reentrant::free_heap, &mut blocks);
    let stats = Reentrant::stats().entry("heap").unwrap().stats;
    assert_eq!(stats.live, 0);
    assert!(Reentrant::validate().is_ok());
}

#[test]
fn the_failure_callback_frees_a_cache_and_the_retry_succeeds() {
    struct Cache(Vec<NonNull<u8>>);
    // SAFETY: the pointers are plain addresses of blocks this test owns.
    unsafe impl Send for Cache {}
    static CACHE: Mutex<Cache> = Mutex::new(Cache(Vec::new()));
    static FAILURES: AtomicUsize = AtomicUsize::new(0);
    fn drop_cache(_: PressureLevel, info: &PressureInfo) {
        assert_eq!(info.region, "heap");
        FAILURES.fetch_add(1, Ordering::Relaxed);
        free_all(Failing::free_heap, &mut CACHE.lock().unwrap().0);
    }
    // Fill the heap with "cache" blocks, then listen.
    {
        let mut cache = CACHE.lock().unwrap();
        while let Ok(block) = Failing::alloc_heap(KIB) {
            cache.0.push(block.cast());
        }
    }
    let failures_before = Failing::stats().entry("heap").unwrap().stats.failures;
    Failing::on_pressure(PressureLevel::Critical, drop_cache).unwrap();
    assert_eq!(
        FAILURES.load(Ordering::Relaxed),
        0,
        "registration fires nothing"
    );

    let big = Layout::from_size_align(32 * 1024, 8).unwrap();
    let block = Failing::alloc_heap(big).expect("the retry after the callback succeeds");
    assert_eq!(FAILURES.load(Ordering::Relaxed), 1);
    let stats = Failing::stats().entry("heap").unwrap().stats;
    assert_eq!(
        stats.failures,
        failures_before + 1,
        "one failure, one retry"
    );
    // SAFETY: allocated above, not used again.
    unsafe { Failing::free_heap(block.cast(), big) };

    // Nothing left to drop: the callback runs, the retry fails, the error
    // comes back.
    let huge = Layout::from_size_align(60 * 1024, 8).unwrap();
    let mut hold = Vec::new();
    fill_until(
        Failing::alloc_heap,
        Failing::pressure,
        PressureLevel::Critical,
        &mut hold,
    );
    assert_eq!(
        FAILURES.load(Ordering::Relaxed),
        2,
        "the rise into Critical fired it (and freed an empty cache)"
    );
    let error = Failing::alloc_heap(huge).unwrap_err();
    assert!(
        matches!(error, flight_mem::AllocError::OutOfMemory { .. }),
        "{error:?}"
    );
    assert_eq!(
        FAILURES.load(Ordering::Relaxed),
        3,
        "once more for the failure"
    );
    free_all(Failing::free_heap, &mut hold);
}

#[test]
fn callbacks_for_high_do_not_fire_at_low_or_medium() {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    fn on_high(_: PressureLevel, _: &PressureInfo) {
        CALLS.fetch_add(1, Ordering::Relaxed);
    }
    let id = Quiet::on_pressure(PressureLevel::High, on_high).unwrap();
    let mut blocks = Vec::new();
    fill_until(
        Quiet::alloc_heap,
        Quiet::pressure,
        PressureLevel::Medium,
        &mut blocks,
    );
    assert_eq!(Quiet::pressure(), PressureLevel::Medium);
    assert_eq!(CALLS.load(Ordering::Relaxed), 0);

    // Removed: reaching High calls nothing.
    assert!(Quiet::remove_pressure_callback(id));
    assert!(!Quiet::remove_pressure_callback(id), "already removed");
    fill_until(
        Quiet::alloc_heap,
        Quiet::pressure,
        PressureLevel::High,
        &mut blocks,
    );
    assert_eq!(CALLS.load(Ordering::Relaxed), 0);
    free_all(Quiet::free_heap, &mut blocks);
}

#[test]
fn layout_pressure_is_the_highest_region_level_with_the_layouts_thresholds() {
    assert_eq!(Two::pressure(), PressureLevel::None);
    // The stack is not a region: filling it raises nothing.
    let temp = Two::alloc_temp(Layout::from_size_align(60 * 1024, 8).unwrap()).unwrap();
    assert_eq!(Two::pressure(), PressureLevel::None);

    let mut blocks = Vec::new();
    // 60 % free is `low` in this layout (50 % by default).
    fill_until(
        Two::alloc_assets,
        Two::pressure,
        PressureLevel::Low,
        &mut blocks,
    );
    let assets = Two::stats().entry("assets").unwrap().stats;
    assert!(assets.free() * 100 <= 60 * assets.capacity);
    assert!(
        assets.free() * 100 > 40 * assets.capacity,
        "one 1 KiB step cannot skip a level"
    );
    let heap = Two::stats().entry("heap").unwrap().stats;
    assert_eq!(heap.used, 0, "only `assets` is under pressure");
    free_all(Two::free_assets, &mut blocks);
    assert_eq!(Two::pressure(), PressureLevel::None);
    // SAFETY: allocated above, not used again.
    unsafe { Two::free_temp(temp.cast(), Layout::from_size_align(60 * 1024, 8).unwrap()) };
}

#[test]
fn the_callback_table_is_fixed_and_refuses_no_level() {
    fn nop(_: PressureLevel, _: &PressureInfo) {}
    assert_eq!(
        Table::on_pressure(PressureLevel::None, nop),
        Err(PressureError::NoLevel)
    );
    let ids: Vec<_> = (0..flight_mem::PressureCallbacks::CAPACITY)
        .map(|_| Table::on_pressure(PressureLevel::Low, nop).unwrap())
        .collect();
    assert_eq!(
        Table::on_pressure(PressureLevel::Low, nop),
        Err(PressureError::TableFull)
    );
    assert!(Table::remove_pressure_callback(ids[3]));
    Table::on_pressure(PressureLevel::Low, nop).expect("a slot is free again");
}

/// A failure callback that allocates from the exhausted region gets its
/// error instead of recursing into itself.
#[test]
fn a_failure_inside_a_failure_callback_does_not_recurse() {
    static DEPTH: AtomicUsize = AtomicUsize::new(0);
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    fn greedy(_: PressureLevel, _: &PressureInfo) {
        CALLS.fetch_add(1, Ordering::Relaxed);
        assert_eq!(DEPTH.fetch_add(1, Ordering::Relaxed), 0, "recursed");
        let big = Layout::from_size_align(15 * 1024, 8).unwrap();
        assert!(Recursive::alloc_heap(big).is_err());
        DEPTH.fetch_sub(1, Ordering::Relaxed);
    }
    let hold = Recursive::alloc_heap(Layout::from_size_align(8 * 1024, 8).unwrap()).unwrap();
    Recursive::on_pressure(PressureLevel::Critical, greedy).unwrap();
    let big = Layout::from_size_align(15 * 1024, 8).unwrap();
    assert!(Recursive::alloc_heap(big).is_err());
    assert_eq!(CALLS.load(Ordering::Relaxed), 1);
    // SAFETY: allocated above, not used again.
    unsafe { Recursive::free_heap(hold.cast(), Layout::from_size_align(8 * 1024, 8).unwrap()) };
}
