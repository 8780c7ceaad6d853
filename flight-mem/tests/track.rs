//! Debug tracking (feature `track`): leak reports and exact double-free
//! detection. Run with `cargo test -p flight-mem --features track --test track`.
#![cfg(feature = "track")]

mod common;

use core::alloc::Layout;

use flight_mem::{AllocError, BlockPool, Pool, Tlsf, track};

#[test]
fn a_tlsf_double_free_after_coalescing_is_refused() {
    let heap = Tlsf::new(common::leak_memory(64 << 10, 4096));
    let layout = Layout::from_size_align(256, 8).unwrap();
    let a = heap.allocate(layout).unwrap().cast::<u8>();
    let b = heap.allocate(layout).unwrap().cast::<u8>();
    // SAFETY: both blocks came from `heap`; the second frees are the misuse
    // under test, refused before the allocator reads anything.
    unsafe {
        heap.free(a).unwrap();
        heap.free(b).unwrap(); // merges with `a` and the rest
        assert_eq!(heap.free(a), Err(AllocError::DoubleFree));
        assert_eq!(heap.free(b), Err(AllocError::DoubleFree));
    }
    heap.check().unwrap();
    assert_eq!(heap.stats().live, 0);
    assert!(track::stats().double_frees >= 2);
}

#[test]
fn foreign_pointers_are_still_reported_as_foreign() {
    let heap = Tlsf::new(common::leak_memory(4096, 4096));
    let mut local = 0u64;
    let foreign = core::ptr::NonNull::from(&mut local).cast::<u8>();
    // SAFETY: refused without being read.
    let refused = unsafe { heap.free(foreign) };
    assert_eq!(refused, Err(AllocError::ForeignPointer));
}

#[test]
fn live_blocks_since_a_checkpoint_are_a_leak_report() {
    let pool = BlockPool::new(
        common::leak_memory(BlockPool::bytes_for(64, 8, 8), 64),
        64,
        8,
    );
    let typed: Pool<[u64; 4]> = Pool::new(common::leak_memory(Pool::<[u64; 4]>::bytes_for(4), 64));
    let before = pool
        .allocate(Layout::from_size_align(64, 8).unwrap())
        .unwrap();
    let checkpoint = track::checkpoint();
    let leaked = pool
        .allocate(Layout::from_size_align(40, 8).unwrap())
        .unwrap()
        .cast::<u8>();
    let freed = pool
        .allocate(Layout::from_size_align(64, 8).unwrap())
        .unwrap()
        .cast::<u8>();
    let boxed = typed.alloc([7; 4]).unwrap();
    // SAFETY: `freed` came from `pool`.
    unsafe { pool.free(freed).unwrap() };

    let report = track::leaks_since(checkpoint);
    let mine: Vec<_> = report
        .iter()
        .filter(|l| pool.owns(ptr(l.address)) || typed.owns(ptr(l.address)))
        .collect();
    assert_eq!(mine.len(), 2, "the leaked block and the live box: {mine:?}");
    assert_eq!(mine[0].address, leaked.addr().get());
    assert_eq!(mine[0].size, 40);
    assert_eq!(mine[1].address, (&*boxed as *const [u64; 4]).addr());
    assert_eq!(mine[1].size, 32);
    assert!(mine[0].sequence < mine[1].sequence);
    assert!(
        !report
            .iter()
            .any(|l| l.address == before.cast::<u8>().addr().get())
    );
    drop(boxed);
    let after = track::leaks_since(checkpoint);
    assert!(!after.iter().any(|l| typed.owns(ptr(l.address))));
}

fn ptr(address: usize) -> core::ptr::NonNull<u8> {
    core::ptr::NonNull::new(core::ptr::without_provenance_mut(address)).unwrap()
}

flight_mem::memory_layout! {
    layout Level {
        budget = 256 KiB;
        region heap = 64 KiB;
        pool bullets = [64 B; 32];
    }
}

#[test]
fn a_layout_reports_its_leaks_by_entry() {
    use flight_mem::Layout as _;
    let checkpoint = track::checkpoint();
    let small = Layout::from_size_align(100, 8).unwrap();
    let kept = Level::alloc_heap(small).unwrap();
    let returned = Level::alloc_heap(small).unwrap();
    let bullet = Level::alloc_bullets(Layout::from_size_align(48, 8).unwrap()).unwrap();
    // SAFETY: `returned` came from the heap and is not used again.
    unsafe { Level::free_heap(returned.cast(), small) };
    let leaks = Level::table().leaks_since(checkpoint);
    let names: Vec<_> = leaks
        .iter()
        .map(|(info, live)| (info.name, live.size))
        .collect();
    assert_eq!(names, [("heap", 100), ("bullets", 48)]);
    assert_eq!(leaks[0].1.address, kept.cast::<u8>().addr().get());
    assert_eq!(leaks[1].1.address, bullet.cast::<u8>().addr().get());
}

flight_mem::memory_layout! {
    layout Scene {
        budget = 256 KiB;
        region heap = 64 KiB;
        pool sprites = [[u64; 4]; 16];
        pool bullets = [64 B; 32];
    }
}

/// The leak report names the line of every leaking allocation, through the
/// generated accessors, the request router and a core allocator called
/// directly; groups by entry and by line, largest first.
#[test]
fn a_leak_report_names_the_file_and_line_of_each_leak() {
    let checkpoint = track::checkpoint();
    let small = Layout::from_size_align(100, 8).unwrap();
    let mut heap_lines = Vec::new();
    for _ in 0..3 {
        heap_lines.push(line!() + 1);
        let _leak = Scene::alloc_heap(small).unwrap();
    }
    let routed_line = line!() + 1;
    let routed = Scene::allocate(&flight_mem::AllocationRequest::new(300));
    let routed = routed.unwrap();
    let sprite_line = line!() + 1;
    let sprite = Scene::alloc_sprites([1; 4]).unwrap();
    let bullet_line = line!() + 1;
    let bullet = Scene::alloc_bullets(Layout::from_size_align(48, 8).unwrap()).unwrap();
    // SAFETY: the bullet is live and not used again.
    unsafe { Scene::free_bullets(bullet.cast(), Layout::new::<u8>()) };
    let direct_line = line!() + 1;
    let direct = Scene::heap().allocate(Layout::new::<[u8; 40]>()).unwrap();

    let report = Scene::leak_report(checkpoint);
    let text = report.to_string();
    println!("{text}");
    let file = file!();
    // Heap: three blocks of 100 from one line, 300 routed, 40 direct; the
    // sprite pool: one 32-byte value; nothing from the freed bullet.
    assert_eq!(report.count(), 6, "{text}");
    assert_eq!(report.bytes(), 3 * 100 + 300 + 40 + 32, "{text}");
    assert_eq!(report.entries.len(), 2, "{text}");
    let heap = &report.entries[0];
    assert_eq!((heap.entry.name, heap.count, heap.bytes), ("heap", 5, 640));
    let sites: Vec<_> = heap
        .sites
        .iter()
        .map(|s| {
            let l = s.location.expect("every block has a site");
            (l.file(), l.line(), s.count, s.bytes)
        })
        .collect();
    assert_eq!(
        sites,
        [
            (file, heap_lines[0], 3, 300),
            (file, routed_line, 1, 300),
            (file, direct_line, 1, 40),
        ],
        "{text}"
    );
    assert!(heap_lines.iter().all(|&l| l == heap_lines[0]));
    let sprites = &report.entries[1];
    assert_eq!(sprites.entry.name, "sprites");
    let site = sprites.sites[0].location.unwrap();
    assert_eq!((site.file(), site.line()), (file, sprite_line));
    assert!(!text.contains(&format!("{file}:{bullet_line}")), "{text}");
    // The printed report: entry lines, then `file:line  count, bytes`.
    assert!(
        text.starts_with("leaks in layout `Scene`: 6 blocks, 672 B\n"),
        "{text}"
    );
    assert!(text.contains("  heap: 5 blocks, 640 B\n"), "{text}");
    assert!(
        text.contains(&format!("    {file}:{}  3 blocks, 300 B\n", heap_lines[0])),
        "{text}"
    );
    assert!(
        text.contains(&format!("{file}:{sprite_line}  1 block, 32 B\n")),
        "{text}"
    );

    let live = Scene::live_allocations();
    let mine = live
        .iter()
        .find(|(_, block)| block.address == routed.ptr.cast::<u8>().addr().get())
        .expect("the routed block is live");
    assert_eq!(mine.0.name, "heap");
    assert_eq!(mine.1.location.map(|l| l.line()), Some(routed_line));
    drop(sprite);
    let _ = direct;
}
