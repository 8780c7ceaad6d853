//! Guard zones: canaries catch an overrun at `check`, protected pages trap it.

use flight_mem::{Arena, CANARY, GuardBreach, GuardMode, GuardZone};

#[test]
fn canary_zones_report_the_first_overwritten_byte() {
    let mut memory = vec![0u8; 64];
    let zone = GuardZone::new();
    let ptr = memory.as_mut_ptr();
    // SAFETY: the vector's bytes belong to this zone alone during the test.
    unsafe {
        assert_eq!(
            zone.check(ptr, 64),
            Ok(()),
            "an unarmed zone has nothing to check"
        );
        assert_eq!(zone.arm(ptr, 64, false), GuardMode::Canary);
        assert_eq!(
            zone.arm(ptr, 64, false),
            GuardMode::Canary,
            "arming twice is a no-op"
        );
        assert_eq!(zone.check(ptr, 64), Ok(()));
    }
    assert!(memory.iter().all(|&b| b == CANARY));
    memory[10] = 0x42;
    memory[20] = 0x43;
    // SAFETY: as above.
    let breach = unsafe { zone.check(memory.as_ptr(), 64) };
    assert_eq!(
        breach,
        Err(GuardBreach {
            offset: 10,
            found: 0x42
        })
    );
}

#[test]
fn zones_that_are_not_whole_pages_fall_back_to_canaries() {
    static PAGE: Arena<4096> = Arena::new();
    let zone = GuardZone::new();
    // SAFETY: the arena is used by this zone alone; 100 bytes are not a page.
    let mode = unsafe { zone.arm(PAGE.as_mut_ptr(), 100, true) };
    assert_eq!(mode, GuardMode::Canary);
}

#[test]
fn concurrent_arming_fills_once() {
    let mut memory = vec![0u8; 4096];
    let ptr = memory.as_mut_ptr() as usize;
    let zone = GuardZone::new();
    std::thread::scope(|s| {
        for _ in 0..4 {
            // SAFETY: every thread arms the same zone; only the first writes.
            s.spawn(|| unsafe { zone.arm(ptr as *mut u8, 4096, false) });
        }
    });
    assert_eq!(zone.mode(), GuardMode::Canary);
    assert!(memory.iter().all(|&b| b == CANARY));
}

/// The child half of the trap test: arm a protected page and write into it.
#[cfg(all(unix, not(miri)))]
fn overrun_a_protected_guard() -> ! {
    static BANK: Arena<{ 3 * 4096 }> = Arena::new();
    let zone = GuardZone::new();
    let page = flight_mem::guard_page_size().expect("unix has pages");
    assert!(page <= 4096, "test assumes pages of at most 4 KiB");
    // SAFETY: the second page of the arena is this zone's alone.
    let guard = unsafe { BANK.as_mut_ptr().add(4096) };
    // SAFETY: as above.
    let mode = unsafe { zone.arm(guard, 4096, true) };
    assert_eq!(mode, GuardMode::Protected);
    // An "entry" in the first page overruns into the guard.
    let entry = BANK.as_mut_ptr();
    for i in 0..8192 {
        // SAFETY: deliberately none — this write must trap at i == 4096,
        // before it reaches memory the test does not own.
        unsafe { entry.add(i).write_volatile(0xAB) };
    }
    eprintln!("the write past the entry did not trap");
    std::process::exit(0);
}

#[test]
#[cfg(all(unix, not(miri)))]
fn a_write_past_an_entry_into_a_protected_guard_traps() {
    use std::os::unix::process::ExitStatusExt;
    const CHILD: &str = "FLIGHT_MEM_GUARD_CHILD";
    if std::env::var_os(CHILD).is_some() {
        overrun_a_protected_guard();
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_write_past_an_entry_into_a_protected_guard_traps",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .status()
        .unwrap();
    assert_eq!(
        status.signal(),
        Some(libc_sigsegv()),
        "child must die of SIGSEGV, got {status:?}"
    );
}

#[cfg(all(unix, not(miri)))]
fn libc_sigsegv() -> i32 {
    11 // SIGSEGV on Linux, the BSDs and macOS alike
}
