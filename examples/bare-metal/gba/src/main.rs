//! flight-mem on a Game Boy Advance (ARM7TDMI, ARMv4T: no atomic
//! instructions at all, so every flight-mem lock and atomic goes through
//! `critical-section`, implemented here with the IME register): a `for Gba`
//! layout whose `ewram` bank lives in EWRAM and whose `iwram` bank lives in
//! IWRAM (gba.ld), exercised entry kind by entry kind. Output goes to
//! mGBA's debug log; the last line is the verdict (`run.sh` turns it into
//! the exit code).
#![no_std]
#![no_main]

use core::alloc::Layout;
use core::cell::Cell;
use core::fmt::{self, Write as _};
use core::ptr::{self, NonNull};

use critical_section::Mutex;
use flight_mem::{
    AllocError, AllocationRequest, CANARY, PressureInfo, PressureLevel, ProblemKind, RawAllocator,
    memory_layout,
};

// The cartridge entry point (ARM state, at 0x0800_0000): jump over the
// header (mGBA's built-in BIOS does not check the logo or checksum), set
// the stack, copy .data, zero the statics, enter `main` in Thumb state.
core::arch::global_asm!(
    ".section .text.start, \"ax\"",
    ".arm",
    ".global __start",
    "__start:",
    "b 1f",
    ".space 188",
    "1:",
    "ldr sp, =__stack_top",
    "ldr r0, =__data_start",
    "ldr r1, =__data_end",
    "ldr r2, =__data_load",
    "2: cmp r0, r1",
    "ldrlo r3, [r2], #4",
    "strlo r3, [r0], #4",
    "blo 2b",
    "mov r3, #0",
    "ldr r0, =__iwram_bank_start",
    "ldr r1, =__iwram_bank_end",
    "3: cmp r0, r1",
    "strlo r3, [r0], #4",
    "blo 3b",
    "ldr r0, =__iwram_bss_start",
    "ldr r1, =__iwram_bss_end",
    "4: cmp r0, r1",
    "strlo r3, [r0], #4",
    "blo 4b",
    "ldr r0, =__ewram_bss_start",
    "ldr r1, =__ewram_bss_end",
    "5: cmp r0, r1",
    "strlo r3, [r0], #4",
    "blo 5b",
    "ldr r0, =main",
    "bx r0",
    ".pool",
);

/// mGBA's debug log: enable register, 256-byte message buffer, send flags.
const DEBUG_ENABLE: usize = 0x04FF_F780;
const DEBUG_STRING: usize = 0x04FF_F600;
const DEBUG_FLAGS: usize = 0x04FF_F700;
/// Level "info" (3) plus the "send" bit.
const DEBUG_SEND_INFO: u16 = 0x100 | 3;
/// The interrupt master enable register.
const IME: usize = 0x0400_0208;

/// Writes to mGBA's debug log, one message per line.
struct Log {
    line: [u8; 255],
    len: usize,
}

impl Log {
    const fn new() -> Self {
        Self {
            line: [0; 255],
            len: 0,
        }
    }

    fn flush(&mut self) {
        // SAFETY: mGBA's debug registers (I/O space, no Rust object there);
        // on hardware without them the writes are ignored.
        unsafe {
            ptr::with_exposed_provenance_mut::<u16>(DEBUG_ENABLE).write_volatile(0xC0DE);
            for (i, &b) in self.line[..self.len].iter().enumerate() {
                ptr::with_exposed_provenance_mut::<u8>(DEBUG_STRING + i).write_volatile(b);
            }
            ptr::with_exposed_provenance_mut::<u8>(DEBUG_STRING + self.len).write_volatile(0);
            ptr::with_exposed_provenance_mut::<u16>(DEBUG_FLAGS).write_volatile(DEBUG_SEND_INFO);
        }
        self.len = 0;
    }
}

impl fmt::Write for Log {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if b == b'\n' {
                self.flush();
            } else {
                if self.len == self.line.len() {
                    self.flush();
                }
                self.line[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

macro_rules! log {
    ($($arg:tt)*) => {{
        let mut log = Log::new();
        let _ = writeln!(log, $($arg)*);
    }};
}

/// The GBA's critical section: interrupts off through IME, restored after.
struct Ime;
critical_section::set_impl!(Ime);

// SAFETY: with IME cleared no interrupt handler runs, and the GBA has one
// core, so nothing else runs until `release` restores the saved value.
unsafe impl critical_section::Impl for Ime {
    unsafe fn acquire() -> u16 {
        let ime = ptr::with_exposed_provenance_mut::<u16>(IME);
        // SAFETY: the IME register, always readable and writable.
        unsafe {
            let saved = ime.read_volatile();
            ime.write_volatile(0);
            saved
        }
    }

    unsafe fn release(saved: u16) {
        // SAFETY: as above.
        unsafe { ptr::with_exposed_provenance_mut::<u16>(IME).write_volatile(saved) };
    }
}

fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    log!("PANIC: {}", info);
    log!("gba: panicked: FAIL");
    halt()
}

/// Counts checks; the last line of the log is the verdict.
#[derive(Default)]
struct Checks {
    passed: u32,
    failed: u32,
}

impl Checks {
    fn record(&mut self, ok: bool, line: u32, what: fmt::Arguments<'_>) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
            log!("FAIL main.rs:{}: {}", line, what);
        }
    }
}

macro_rules! check {
    ($c:expr, $cond:expr, $($fmt:tt)+) => {
        $c.record($cond, line!(), format_args!($($fmt)+))
    };
}

macro_rules! check_eq {
    ($c:expr, $left:expr, $right:expr) => {{
        let (left, right) = (&$left, &$right);
        $c.record(
            *left == *right,
            line!(),
            format_args!(
                "{} == {}: {:?} != {:?}",
                stringify!($left),
                stringify!($right),
                left,
                right
            ),
        )
    }};
}

/// A typed pool's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sprite {
    x: i16,
    y: i16,
    tile: u16,
    flags: u16,
}

memory_layout! {
    /// A GBA game's plan: the heap, sound, pools and frames in EWRAM, the
    /// fast stack in IWRAM (the only bank that holds `Stack` memory).
    pub layout Game for Gba {
        guard = 16 B;
        align = 8;

        region heap = 16 KiB;
        region sound = 8 KiB { memory: Audio, allocator: buddy };
        region assets = 8 KiB { allocator: freelist };
        frame scratch = [2 KiB; 2];
        stack fast = 4 KiB;
        pool sprites = [Sprite; 128];
        pool packets = [64 B; 16];
        reserve emergency = 1 KiB;
    }
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

fn owner(ptr: NonNull<u8>) -> &'static str {
    Game::owner_of(ptr).map_or("<none>", |info| info.name)
}

unsafe extern "C" {
    static __stack_bottom: u8;
    static __stack_top: u8;
}

const PAINT: u32 = 0x5AC3_5AC3;

fn stack_range() -> (usize, usize) {
    // SAFETY: linker symbols; only their addresses are taken.
    unsafe {
        (
            ptr::from_ref(&__stack_bottom).addr(),
            ptr::from_ref(&__stack_top).addr(),
        )
    }
}

/// Paints the free stack below this frame, for the high-water mark.
#[inline(never)]
fn paint_stack() {
    let (bottom, _) = stack_range();
    let here = 0u32;
    let limit = ptr::from_ref(&here).addr() - 128;
    for addr in (bottom..limit).step_by(4) {
        // SAFETY: IWRAM between the statics and the live stack, which no
        // Rust object occupies; no interrupt is enabled.
        unsafe { ptr::with_exposed_provenance_mut::<u32>(addr).write_volatile(PAINT) };
    }
}

fn stack_peak() -> (usize, usize) {
    let (bottom, top) = stack_range();
    let mut addr = bottom;
    while addr < top {
        // SAFETY: a word of the stack's IWRAM; any value is fine to read.
        if unsafe { ptr::with_exposed_provenance::<u32>(addr).read_volatile() } != PAINT {
            break;
        }
        addr += 4;
    }
    (top - addr, top - bottom)
}

#[unsafe(no_mangle)]
extern "C" fn main() -> ! {
    paint_stack();
    let mut c = Checks::default();
    log!("{}", Game::map());
    placement(&mut c);
    entries(&mut c);
    pools(&mut c);
    pressure(&mut c);
    guards(&mut c);
    let report = Game::validate();
    check!(c, report.is_ok(), "validate at the end: {}", report);
    for row in Game::stats().entries() {
        check_eq!(c, row.stats.live, 0);
    }
    log!("{}", Game::stats());
    let (used, room) = stack_peak();
    log!(
        "stack: {} of {} bytes of IWRAM used at the deepest",
        used,
        room
    );
    check!(c, used + 256 <= room, "stack keeps 256 bytes of headroom");
    let ok = c.failed == 0 && c.passed > 0;
    log!(
        "gba: {} of {} checks passed on mGBA (ARM7TDMI, thumbv4t-none-eabi): {}",
        c.passed,
        c.passed + c.failed,
        if ok { "PASS" } else { "FAIL" }
    );
    halt()
}

/// Each bank's static array lies in its memory: `ewram` in EWRAM, `iwram`
/// in IWRAM.
#[inline(never)]
fn placement(c: &mut Checks) {
    for bank in Game::banks() {
        let start = bank.start().addr();
        let (lo, hi) = match bank.name {
            "ewram" => (0x0200_0000, 0x0204_0000),
            "iwram" => (0x0300_0000, 0x0300_7F00),
            _ => (0, 0),
        };
        if bank.used == 0 {
            continue;
        }
        log!(
            "bank {:<6} storage {:#010x}..{:#010x}: {} of {} bytes placed",
            bank.name,
            start,
            start + bank.used,
            bank.used,
            bank.budget
        );
        check!(
            c,
            lo <= start && start + bank.used <= hi,
            "bank `{}` storage in its memory",
            bank.name
        );
    }
    check_eq!(
        c,
        Game::regions()
            .iter()
            .find(|r| r.name == "fast")
            .map(|r| r.bank),
        Some("iwram")
    );
}

type Alloc = fn(Layout) -> Result<NonNull<[u8]>, AllocError>;
type Free = unsafe fn(NonNull<u8>, Layout);

/// Every allocating entry: allocate, own, write, free; the stack's LIFO
/// rule; frames switched.
#[inline(never)]
fn entries(c: &mut Checks) {
    let all: [(&str, Alloc, Free); 5] = [
        ("heap", Game::alloc_heap, Game::free_heap),
        ("sound", Game::alloc_sound, Game::free_sound),
        ("assets", Game::alloc_assets, Game::free_assets),
        ("fast", Game::alloc_fast, Game::free_fast),
        ("packets", Game::alloc_packets, Game::free_packets),
    ];
    for (name, alloc, free) in all {
        match alloc(layout(60)) {
            Ok(block) => {
                check_eq!(c, owner(block.cast()), name);
                // SAFETY: a live block of at least 60 bytes.
                unsafe { block.cast::<u8>().as_ptr().write_bytes(0x3C, 60) };
                // SAFETY: the block came from this entry and is dead.
                unsafe { free(block.cast(), layout(60)) };
                check_eq!(c, Game::stats().entry(name).map(|e| e.stats.live), Some(0));
            }
            Err(error) => check!(c, false, "`{}` serves 60 bytes: {:?}", name, error),
        }
    }
    if let (Ok(a), Ok(b)) = (Game::alloc_fast(layout(64)), Game::alloc_fast(layout(32))) {
        // SAFETY: `a` is not on top: refused before anything is touched.
        let refused = unsafe { RawAllocator::free(Game::fast(), a.cast()) };
        check_eq!(c, refused, Err(AllocError::OutOfOrder));
        // SAFETY: LIFO, not used again.
        unsafe {
            Game::free_fast(b.cast(), layout(32));
            Game::free_fast(a.cast(), layout(64));
        }
    }
    let frames = Game::scratch();
    let first = frames.current_frame();
    let a = Game::alloc_scratch(layout(500)).map(|b| b.cast::<u8>().as_ptr().addr());
    // SAFETY: the other frame holds no block.
    unsafe { frames.next_frame() };
    check!(
        c,
        frames.current_frame() != first,
        "next_frame switches frames"
    );
    check!(
        c,
        Game::alloc_scratch(layout(3000)).is_err(),
        "a frame holds 2 KiB"
    );
    // SAFETY: the block in the first frame is not used again.
    unsafe { frames.next_frame() };
    let again = Game::alloc_scratch(layout(500)).map(|b| b.cast::<u8>().as_ptr().addr());
    check!(
        c,
        a.is_ok() && a == again,
        "the first frame starts empty again"
    );
    // SAFETY: no block of either frame is used again.
    unsafe {
        frames.next_frame();
        frames.next_frame();
    }
}

/// Pools filled to exhaustion: the typed pool gives the value back.
#[inline(never)]
fn pools(c: &mut Checks) {
    let mut sprites = [const { None }; 130];
    let mut count = 0;
    while let Ok(sprite) = Game::alloc_sprites(Sprite {
        x: count as i16,
        y: 0,
        tile: 1,
        flags: 0,
    }) {
        if count == sprites.len() {
            break;
        }
        sprites[count] = Some(sprite);
        count += 1;
    }
    check_eq!(c, count, 128);
    let back = Game::alloc_sprites(Sprite {
        x: -1,
        y: -2,
        tile: 3,
        flags: 4,
    });
    check!(
        c,
        matches!(back, Err(s) if s == Sprite { x: -1, y: -2, tile: 3, flags: 4 }),
        "the value comes back"
    );
    check!(
        c,
        sprites[..count]
            .iter()
            .enumerate()
            .all(|(i, s)| s.as_ref().map(|s| s.x) == Some(i as i16)),
        "values kept"
    );
    drop(sprites);
    check_eq!(c, Game::sprites().len(), 0);

    let mut blocks = [None; 20];
    let mut n = 0;
    while let Ok(block) = Game::alloc_packets(layout(64)) {
        if n == blocks.len() {
            break;
        }
        blocks[n] = Some(block.cast::<u8>());
        n += 1;
    }
    check_eq!(c, n, 16);
    for block in blocks.into_iter().flatten() {
        // SAFETY: a live block of this pool, not used again.
        unsafe { Game::free_packets(block, layout(64)) };
    }
}

static HIGH: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));

fn on_high(_: PressureLevel, info: &PressureInfo) {
    critical_section::with(|cs| {
        let calls = HIGH.borrow(cs);
        calls.set(calls.get() + 1);
    });
    log!("pressure callback: {}", info);
}

/// The budget holds, pressure callbacks fire, a critical request lands in
/// the reserve.
#[inline(never)]
fn pressure(c: &mut Checks) {
    check!(
        c,
        Game::on_pressure(PressureLevel::High, on_high).is_ok(),
        "register"
    );
    let mut held = [None; 300];
    let mut n = 0;
    let error = loop {
        match Game::alloc_heap(layout(64)) {
            Ok(block) if n < held.len() => {
                held[n] = Some(block.cast::<u8>());
                n += 1;
            }
            Ok(_) => break AllocError::ZeroSize,
            Err(error) => break error,
        }
    };
    check!(
        c,
        matches!(error, AllocError::OutOfMemory { .. }),
        "the heap refuses past its budget: {:?}",
        error
    );
    let stats = Game::heap().stats();
    check!(
        c,
        stats.used <= stats.capacity && stats.capacity <= 16 * 1024,
        "budget holds: {}",
        stats
    );
    let calls = critical_section::with(|cs| HIGH.borrow(cs).get());
    check_eq!(c, calls, 2);
    check_eq!(c, Game::pressure(), PressureLevel::Critical);
    let hog = Game::alloc_assets(layout(8000));
    match Game::allocate(&AllocationRequest::new(200).critical()) {
        Ok(a) => {
            check_eq!(c, a.region.name, "emergency");
            // SAFETY: live, not used again.
            let freed = unsafe { Game::deallocate(a.as_non_null()) };
            check_eq!(c, freed, Ok(()));
        }
        Err(error) => check!(c, false, "critical request: {:?}", error),
    }
    if let Ok(block) = hog {
        // SAFETY: allocated above, not used again.
        unsafe { Game::free_assets(block.cast(), layout(8000)) };
    }
    for block in held.into_iter().flatten() {
        // SAFETY: heap blocks allocated above, not used again.
        unsafe { Game::free_heap(block, layout(64)) };
    }
    check_eq!(c, Game::pressure(), PressureLevel::None);
}

/// An overrun into the guard after `heap` is what `validate()` reports.
#[inline(never)]
fn guards(c: &mut Checks) {
    check!(c, Game::validate().is_ok(), "clean before");
    let heap = Game::regions().iter().find(|r| r.name == "heap").unwrap();
    let bank = Game::banks().iter().find(|b| b.name == heap.bank).unwrap();
    let byte = bank.start().wrapping_add(heap.end() + 5);
    // SAFETY: a byte of the guard after `heap`, inside the bank's storage;
    // no allocator hands it out; the canary is restored below.
    unsafe { byte.write_volatile(0) };
    let report = Game::validate();
    let breach = report.problems().next().map(|p| (p.region, p.kind));
    check!(
        c,
        matches!(breach, Some(("heap", ProblemKind::GuardBreach(b))) if b.offset == 5),
        "the overrun is reported on `heap`: {}",
        report
    );
    log!("expected failure, reported: {}", report);
    // SAFETY: as above.
    unsafe { byte.write_volatile(CANARY) };
    check!(c, Game::validate().is_ok(), "clean again");
}
