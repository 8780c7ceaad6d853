//! Validation and guard zones: canaries that find an overrun, allocator
//! invariants reported by entry name, and protected guard pages that trap.

use core::alloc::Layout;

use flight_mem::{CANARY, GuardMode, ProblemKind, memory_layout};

memory_layout! {
    /// Guards smaller than a page: canaries.
    layout Canaries for Desktop {
        budget = 1 MiB;
        guard = 64 B;
        region heap = 16 KiB;
        region assets = 16 KiB { allocator: freelist, guard: 32 B };
        stack temp = 8 KiB { guard: 0 B };
    }
    /// The same, for the test that overwrites a canary.
    layout Overrun for Desktop {
        budget = 1 MiB;
        guard = 64 B;
        region heap = 16 KiB;
        region assets = 16 KiB { allocator: freelist, guard: 32 B };
    }
    /// A TLSF whose header a test corrupts.
    layout Broken for Desktop {
        budget = 1 MiB;
        guard = 64 B;
        region heap = 16 KiB;
        region other = 16 KiB;
    }
    /// Whole-page guards after page-sized entries: protected on Unix.
    layout Paged for Desktop {
        budget = 1 MiB;
        guard = 4 KiB;
        align = 4096;
        region heap = 16 KiB;
        region tail = 16 KiB;
    }
}

/// The first byte of the guard after the entry called `name`.
fn guard_of(
    regions: &'static [flight_mem::RegionInfo],
    banks: &'static [flight_mem::BankInfo],
    name: &str,
) -> *mut u8 {
    let info = regions.iter().find(|r| r.name == name).unwrap();
    let bank = banks.iter().find(|b| b.name == info.bank).unwrap();
    bank.start().wrapping_add(info.end())
}

#[test]
fn a_clean_layout_validates() {
    let report = Canaries::validate();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.problems().count(), 0);
    assert_eq!(
        report.to_string(),
        "layout `Canaries`: guards intact, invariants hold"
    );
    // Guards smaller than a page are canaries; no guard, no zone.
    let table = <Canaries as flight_mem::Layout>::table();
    assert_eq!(table.guard_mode(0), Some(GuardMode::Canary));
    assert_eq!(table.guard_mode(1), Some(GuardMode::Canary));
    assert_eq!(table.guard_mode(2), None);
}

#[test]
fn guard_bytes_lie_outside_every_entry() {
    for layout in [
        (Canaries::regions(), Canaries::banks()),
        (Paged::regions(), Paged::banks()),
    ] {
        let (regions, banks) = layout;
        for info in regions.iter().filter(|r| r.guard > 0) {
            let first = guard_of(regions, banks, info.name);
            let last = first.wrapping_add(info.guard - 1);
            for byte in [first, last] {
                let byte = core::ptr::NonNull::new(byte).unwrap();
                let owner = <Canaries as flight_mem::Layout>::table()
                    .owner_of(byte)
                    .or_else(|| <Paged as flight_mem::Layout>::table().owner_of(byte));
                assert_eq!(owner, None, "guard of `{}`", info.name);
            }
        }
    }
}

#[test]
fn an_overwritten_canary_is_reported_with_its_region() {
    Overrun::arm_guards();
    let guard = guard_of(Overrun::regions(), Overrun::banks(), "assets");
    // An overrun of 3 bytes past `assets`' last byte.
    // SAFETY: the guard lies in the bank's static storage; it is a canary
    // zone (not protected), so writable.
    unsafe { guard.add(2).write_volatile(0x00) };
    let report = Overrun::validate();
    assert!(!report.is_ok());
    let problems: Vec<_> = report.problems().copied().collect();
    assert_eq!(problems.len(), 1, "{report}");
    assert_eq!(problems[0].region, "assets");
    match problems[0].kind {
        ProblemKind::GuardBreach(breach) => {
            assert_eq!((breach.offset, breach.found), (2, 0x00));
        }
        other => panic!("expected a guard breach, got {other:?}"),
    }
    assert!(
        report
            .to_string()
            .contains("`assets`: overrun into its guard")
    );
    // Repaired, the layout validates again.
    // SAFETY: as above.
    unsafe { guard.add(2).write_volatile(CANARY) };
    assert!(Overrun::validate().is_ok());
}

#[test]
fn a_corrupted_allocator_header_is_reported_with_its_region() {
    let layout = Layout::from_size_align(64, 8).unwrap();
    let block = Broken::alloc_heap(layout).unwrap().cast::<usize>();
    // TLSF keeps one header word in front of each payload.
    // SAFETY: the header word is inside the region, before the block.
    let header = unsafe { block.as_ptr().sub(1) };
    // SAFETY: as above; aligned to a word.
    let saved = unsafe { header.read() };
    // SAFETY: as above.
    unsafe { header.write(usize::MAX) };
    let report = Broken::validate();
    let problems: Vec<_> = report.problems().copied().collect();
    assert_eq!(problems.len(), 1, "{report}");
    assert_eq!(problems[0].region, "heap");
    assert!(matches!(problems[0].kind, ProblemKind::Invariant(_)));
    assert!(
        report
            .to_string()
            .contains("`heap`: allocator invariant broken")
    );
    // SAFETY: as above.
    unsafe { header.write(saved) };
    assert!(Broken::validate().is_ok());
    // SAFETY: the block is live and not used again.
    unsafe { Broken::free_heap(block.cast(), layout) };
}

#[test]
#[cfg(all(unix, not(miri)))]
fn page_sized_guards_are_protected_before_main() {
    let table = <Paged as flight_mem::Layout>::table();
    // Armed by the start-up constructor on Linux, by this call elsewhere.
    if cfg!(target_os = "linux") {
        assert_eq!(table.guard_mode(0), Some(GuardMode::Protected));
    }
    Paged::arm_guards();
    assert_eq!(table.guard_mode(0), Some(GuardMode::Protected));
    assert_eq!(table.guard_mode(1), Some(GuardMode::Protected));
    assert!(Paged::validate().is_ok());
}

/// The child half of the trap test: write past `heap` into its guard.
#[cfg(all(unix, not(miri)))]
fn overrun_the_heap() -> ! {
    Paged::arm_guards();
    let table = <Paged as flight_mem::Layout>::table();
    if table.guard_mode(0) != Some(GuardMode::Protected) {
        eprintln!("the guard is not protected: {:?}", table.guard_mode(0));
        std::process::exit(2);
    }
    let heap = Paged::regions().iter().find(|r| r.name == "heap").unwrap();
    let block = Paged::alloc_heap(Layout::from_size_align(1024, 8).unwrap()).unwrap();
    let start = block.cast::<u8>().as_ptr();
    for i in 0..heap.size + 16 {
        // SAFETY: deliberately none past the region: this loop must trap
        // on the first guard byte, before it leaves the bank.
        unsafe { start.add(i).write_volatile(0xAB) };
    }
    eprintln!("the write past the region did not trap");
    std::process::exit(0);
}

#[test]
#[cfg(all(unix, not(miri)))]
fn a_write_past_a_region_into_a_guard_page_traps() {
    use std::os::unix::process::ExitStatusExt;
    const CHILD: &str = "FLIGHT_MEM_LAYOUT_GUARD_CHILD";
    if std::env::var_os(CHILD).is_some() {
        overrun_the_heap();
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_write_past_a_region_into_a_guard_page_traps",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    const SIGSEGV: i32 = 11; // on Linux, the BSDs and macOS alike
    assert_eq!(
        output.status.signal(),
        Some(SIGSEGV),
        "the child must die of SIGSEGV, got {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}
