//! audit10: the common data segment (wasmspeed4's `Segment::Common`, its
//! offset decoded by hand in `read` and written without wasmparser).
//!
//! Oracle: the same segment written with flags 2 and memory index 0 is
//! read by wasmparser and written by the general path. Both spellings must
//! give the same decision (the same error, or byte-identical output), with
//! and without validation, in every mode, with and without the appended
//! start function (a second segment with an extended-const offset), into
//! the own memory, a `write` window or a `read` window as memory 0. Each
//! output is then instantiated in wasmi: the whole unified memory must be
//! what the original's instantiation implies (canaries everywhere outside
//! the segment, the contents at base + offset).
//!
//! Also: unvalidated offset expressions that leave or take stack values
//! (fixed), flight-rebase outputs through hard links, /proc fd paths and
//! directories (a directory fixed), and mutated data sections (held:
//! `AUDIT10_ROUNDS=60000`, checked and masked; `trusted` isolates nothing).

mod common;

use common::{PAGE, Rng, Unified, canary, cli, engine, opts};
use flight_mem_wasm::{Access, Isolation, Segment, SharedWindow, rebase};
use wasm_encoder::{EntityType, ImportSection, MemorySection, Module, RawSection};
use wasmi::{Linker, Store};

/// The window that memory 0 may be, below the segment.
const WIN: Segment = Segment {
    base: 0x100,
    size: PAGE,
};

/// Where memory 0 is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mem0 {
    Own,
    Window(Access),
}

/// The byte `i` of a segment's contents.
fn content(i: usize) -> u8 {
    (i as u8).wrapping_mul(7) ^ 0x5C
}

/// A module whose memory 0 is `mem0` (one page, at most two) and whose data
/// section holds, when `lazy`, first `i32.const 0 i32.const 1 i32.add` ->
/// one byte 0xEE, then the segment under test: offset expression
/// `i32.const <leb>` (the LEB's bytes as given), `len` bytes. `general`:
/// flags 2 with memory index 0, else flags 0.
fn module(mem0: Mem0, lazy: bool, leb: &[u8], len: usize, general: bool) -> Vec<u8> {
    let mut m = Module::new();
    let ty = common::mem(1, Some(2));
    match mem0 {
        Mem0::Own => {
            let mut mems = MemorySection::new();
            mems.memory(ty);
            m.section(&mems);
        }
        Mem0::Window(_) => {
            let mut imports = ImportSection::new();
            imports.import("env", "win", EntityType::Memory(ty));
            m.section(&imports);
        }
    }
    let mut data = vec![1 + u8::from(lazy)];
    if lazy {
        data.extend_from_slice(&[0x00, 0x41, 0x00, 0x41, 0x01, 0x6A, 0x0B, 0x01, 0xEE]);
    }
    if general {
        data.extend_from_slice(&[0x02, 0x00]);
    } else {
        data.push(0x00);
    }
    data.push(0x41);
    data.extend_from_slice(leb);
    data.push(0x0B);
    leb128(&mut data, len as u64);
    data.extend((0..len).map(content));
    m.section(&RawSection {
        id: 11,
        data: &data,
    });
    m.finish()
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// The value wasmparser gives the LEB as an `i32.const`, if it reads.
fn sleb_value(leb: &[u8]) -> Option<i32> {
    let mut r = wasmparser::BinaryReader::new(leb, 0);
    let value = r.read_var_i32().ok()?;
    r.eof().then_some(value)
}

fn options(iso: Isolation, mem0: Mem0, validate: bool) -> flight_mem_wasm::Options {
    let mut o = opts(iso, 2, validate);
    if let Mem0::Window(access) = mem0 {
        o.shared.push(SharedWindow {
            module: "env".into(),
            field: "win".into(),
            segment: WIN,
            access,
        });
    }
    o
}

/// Instantiates `out` and compares the whole unified memory with what the
/// original's instantiation implies.
fn run(out: &[u8], iso: Isolation, mem0: Mem0, lazy: bool, offset: u32, len: usize) {
    let engine = engine();
    let mut store = Store::new(&engine, ());
    let o = options(iso, mem0, false);
    let unified = Unified::covering(&mut store, o.segment, WIN.base + WIN.size);
    let module = wasmi::Module::new(&engine, out).expect("wasmi accepts the output");
    let mut linker = Linker::<()>::new(&engine);
    linker.define("env", "memory", unified.memory).unwrap();
    linker
        .instantiate_and_start(&mut store, &module)
        .expect("instantiation of an accepted output");
    let data = unified.memory.data(&store);
    let seg = o.segment;
    let mut want: Vec<u8> = (0..data.len() as u64)
        .map(|i| {
            if (seg.base..seg.base + seg.size).contains(&i) {
                0
            } else {
                canary(i)
            }
        })
        .collect();
    let base = match mem0 {
        Mem0::Own => seg.base,
        Mem0::Window(_) => WIN.base,
    } as usize;
    if lazy {
        want[base + 1] = 0xEE;
    }
    for i in 0..len {
        want[base + offset as usize + i] = content(i);
    }
    if let Some(i) = (0..data.len()).find(|&i| data[i] != want[i]) {
        panic!(
            "{iso:?} {mem0:?} lazy {lazy}: offset {offset:#x}, {len} bytes: byte {i:#x} is \
             {:#x}, expected {:#x}",
            data[i], want[i]
        );
    }
}

/// One case: both spellings, validated or not, every mode and memory 0;
/// returns how many outputs ran.
fn case(leb: &[u8], len: usize) -> usize {
    let mut ran = 0;
    for mem0 in [
        Mem0::Own,
        Mem0::Window(Access::Write),
        Mem0::Window(Access::Read),
    ] {
        for lazy in [false, true] {
            let common = module(mem0, lazy, leb, len, false);
            let general = module(mem0, lazy, leb, len, true);
            for iso in [Isolation::Checked, Isolation::Masked, Isolation::Trusted] {
                let mut unvalidated = None;
                for validate in [false, true] {
                    let o = options(iso, mem0, validate);
                    let a = rebase(&common, &o)
                        .map(|r| r.wasm)
                        .map_err(|e| e.to_string());
                    let b = rebase(&general, &o)
                        .map(|r| r.wasm)
                        .map_err(|e| e.to_string());
                    let what = || {
                        format!(
                            "{iso:?} {mem0:?} lazy {lazy} validate {validate}: LEB {leb:02x?}, \
                             {len} bytes"
                        )
                    };
                    match (&a, &b) {
                        (Ok(x), Ok(y)) => assert!(x == y, "{}: different bytes", what()),
                        (Err(x), Err(y)) => {
                            // The general spelling's bytes after its
                            // flags sit one further: the same error but
                            // for the byte offsets it names.
                            assert_eq!(unplaced(x), unplaced(y), "{}", what());
                        }
                        _ => panic!(
                            "{}: common {:?} but general {:?}",
                            what(),
                            a.as_ref().map(Vec::len),
                            b.as_ref().map(Vec::len)
                        ),
                    }
                    if validate {
                        if let (Some(Ok(u)), Ok(v)) = (&unvalidated, &a) {
                            assert!(u == v, "{}: validation changed the bytes", what());
                        }
                    } else {
                        unvalidated = Some(a.clone());
                    }
                    if let Ok(out) = &a {
                        // Random bytes may end the LEB early and hold
                        // more instructions (both spellings agreed above).
                        let Some(offset) = sleb_value(leb) else {
                            continue;
                        };
                        let offset = offset as u32;
                        // The original instantiates: the segment fits.
                        assert!(
                            u64::from(offset) + len as u64 <= PAGE,
                            "{}: accepted out of bounds",
                            what()
                        );
                        assert_ne!(mem0, Mem0::Window(Access::Read), "{}", what());
                        if !validate {
                            run(out, iso, mem0, lazy, offset, len);
                            ran += 1;
                        }
                    }
                }
            }
        }
    }
    ran
}

/// `e` without the hexadecimal numbers that follow `byte` or `offset`.
fn unplaced(e: &str) -> String {
    let mut out = Vec::new();
    let mut words = e.split(' ').peekable();
    while let Some(w) = words.next() {
        out.push(w);
        if (w == "byte" || w == "offset") && words.peek().is_some_and(|n| n.starts_with("0x")) {
            words.next();
        }
    }
    out.join(" ")
}

/// A signed LEB of `v` in exactly `n` bytes (padded; `n` may be too few,
/// then the value is cut to `7n` bits).
fn sleb(v: i64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|k| ((v >> (7 * k)) & 0x7F) as u8 | if k + 1 < n { 0x80 } else { 0 })
        .collect()
}

#[test]
fn common_segment_decides_and_writes_as_the_general_path() {
    let mut lebs: Vec<Vec<u8>> = vec![
        // Negative in one to four bytes (sign bit of the last byte's 7).
        vec![0x7F],
        vec![0x40],
        vec![0x80, 0x7F],
        vec![0xFF, 0x7F],
        vec![0x80, 0x80, 0x40],
        vec![0x80, 0x80, 0x80, 0x40],
        vec![0xFF, 0xFF, 0xFF, 0x7F],
        // Positive at the sign boundary: 0x3F, 2^13 - 1, 2^27 - 1.
        vec![0x3F],
        vec![0xFF, 0x3F],
        vec![0xFF, 0xFF, 0xFF, 0x3F],
        // Padded zeros and ones.
        vec![0x80, 0x00],
        vec![0x80, 0x80, 0x00],
        vec![0x80, 0x80, 0x80, 0x00],
        vec![0x81, 0x80, 0x80, 0x00],
        // Five bytes (not common: wasmparser in both spellings), 2^31,
        // 2^32 - 1, -2^31, unused bits set (invalid).
        vec![0x80, 0x80, 0x80, 0x80, 0x08],
        vec![0xFF, 0xFF, 0xFF, 0xFF, 0x0F],
        vec![0x80, 0x80, 0x80, 0x80, 0x78],
        vec![0x80, 0x80, 0x80, 0x80, 0x7F],
        vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
        // Unterminated in four bytes.
        vec![0x80, 0x80, 0x80, 0x80],
    ];
    // Offsets around the memory's end (one page), minimal and padded.
    for v in [
        0i64,
        1,
        0xFF00,
        PAGE as i64 - 1,
        PAGE as i64,
        PAGE as i64 + 1,
    ] {
        let min = (65 - v.leading_zeros()).div_ceil(7).max(1) as usize;
        for n in min..=5 {
            lebs.push(sleb(v, n));
        }
    }
    let mut ran = 0;
    for leb in &lebs {
        let lens: Vec<usize> = match sleb_value(leb) {
            Some(v) if (v as u32 as u64) <= PAGE => {
                let room = PAGE as usize - v as u32 as usize;
                let mut l = vec![0, room, room + 1];
                if room > 0 {
                    l.push(1);
                    l.push(room - 1);
                }
                l
            }
            _ => vec![0, 1],
        };
        for len in lens {
            ran += case(leb, len);
        }
    }
    assert!(ran > 100, "only {ran} outputs ran");
}

#[test]
fn random_offset_bytes_decide_as_the_general_path() {
    let mut rng = Rng(0xA0D1_7010);
    for _ in 0..150 {
        let n = 1 + rng.below(5) as usize;
        let leb: Vec<u8> = (0..n)
            .map(|k| {
                let b = rng.next() as u8 & 0x7F;
                // Mostly continued but the last; sometimes not.
                if (k + 1 < n) != (rng.below(8) == 0) {
                    b | 0x80
                } else {
                    b
                }
            })
            .collect();
        let len = rng.pick(&[0usize, 1, 3, 0x100]);
        case(&leb, len);
    }
}

/// A module with `(memory 1 2)` and one active data segment of one byte
/// (0x77) per raw offset expression (`end` included), in memory 0.
fn with_data_offsets(exprs: &[&[u8]]) -> Vec<u8> {
    let mut m = Module::new();
    let mut mems = MemorySection::new();
    mems.memory(common::mem(1, Some(2)));
    m.section(&mems);
    let mut data = vec![exprs.len() as u8];
    for expr in exprs {
        data.push(0x00);
        data.extend_from_slice(expr);
        data.extend_from_slice(&[1, 0x77]);
    }
    m.section(&RawSection {
        id: 11,
        data: &data,
    });
    m.finish()
}

#[test]
fn unvalidated_offset_expressions_share_no_stack_between_check_and_copy() {
    // `checked` and `masked` copy a non-constant offset expression into the
    // appended start function twice: once for the bounds check, once for
    // `memory.init`. audit9's `constant_ops` let only constant-expression
    // instructions in, but not their stack shape: an expression that
    // leaves values behind, or takes values it did not push, makes the
    // copies read each other's values, so the checked offset is not the
    // one written to, and the function still validates (stack balanced
    // over the segments). Here segment 0 leaves `X 0 0 0` behind per copy
    // (`X` = the segment's size), segment 1's check sums `0 0 0`, its copy
    // sums `X 0 0` and writes at base + X, past the segment; segment 2
    // balances the stack (its copy writes at base + X too).
    let x = [0x41, 0x80, 0x80, 0x08]; // i32.const 0x20000
    let mut leaves = x.to_vec();
    leaves.extend_from_slice(&[0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0x0B]);
    let takes_two: &[u8] = &[0x6A, 0x6A, 0x0B]; // i32.add; i32.add
    let takes_one: &[u8] = &[0x41, 0x00, 0x6A, 0x0B]; // i32.const 0; i32.add
    let wasm = with_data_offsets(&[&leaves, takes_two, takes_one]);
    for iso in [Isolation::Checked, Isolation::Masked] {
        let o = opts(iso, 2, false);
        let Ok(out) = rebase(&wasm, &o) else {
            continue;
        };
        if wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&out.wasm)
            .is_err()
        {
            continue;
        }
        let engine = engine();
        let mut store = Store::new(&engine, ());
        let unified = Unified::new(&mut store, o.segment);
        let module = wasmi::Module::new(&engine, &out.wasm[..]).expect("valid output");
        let mut linker = Linker::<()>::new(&engine);
        linker.define("env", "memory", unified.memory).unwrap();
        if linker.instantiate_and_start(&mut store, &module).is_ok() {
            assert_eq!(
                unified.broken_canary(&store, 0),
                None,
                "{iso:?}: data offsets that share the stack wrote outside the segment"
            );
        }
    }
    // Refused at rebase time (an invalid input: no offset expression may
    // leave more or less than one value).
    for expr in [&leaves[..], takes_two, takes_one] {
        let wasm = with_data_offsets(&[expr]);
        for iso in [Isolation::Checked, Isolation::Masked] {
            assert!(
                rebase(&wasm, &opts(iso, 2, false)).is_err(),
                "{iso:?}: offset expression {expr:02x?} accepted"
            );
        }
    }
}

#[test]
fn cli_outputs_through_hard_links_proc_fd_and_directories() {
    // audit9 refused `-o X --relocations X` (or a link, or another
    // spelling). Beyond: a hard link is another directory entry (each
    // output renamed over its own: both right); `/proc/PID/fd/N` is a link
    // to X (refused); a directory as the table's path must fail before the
    // module is put in place (each output or none).
    let d = common::fresh_dir("audit10");
    let input = d.join("in.wasm");
    let wasm = with_data_offsets(&[]);
    std::fs::write(&input, &wasm).unwrap();
    let out = d.join("out.wasm");
    let run = |table: &std::path::Path| {
        cli(&[
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--relocations",
            table.to_str().unwrap(),
            "--segment",
            "0x100000:64KiB",
        ])
    };
    // A hard link: both written, each whole.
    std::fs::write(&out, b"old").unwrap();
    let hard = d.join("hard.json");
    std::fs::hard_link(&out, &hard).unwrap();
    let (code, text) = run(&hard);
    if code == 0 {
        assert!(std::fs::read(&out).unwrap().starts_with(b"\0asm"), "{text}");
        assert!(std::fs::read(&hard).unwrap().starts_with(b"["), "{text}");
    } else {
        assert_eq!(std::fs::read(&out).unwrap(), b"old", "{text}");
    }
    let _ = std::fs::remove_file(&hard);
    // `/proc/PID/fd/N` of this process, open on the module's path.
    std::fs::write(&out, b"old").unwrap();
    let file = std::fs::File::open(&out).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let proc_path = std::path::PathBuf::from(format!("/proc/{}/fd/{fd}", std::process::id()));
    if proc_path.exists() {
        let (code, text) = run(&proc_path);
        assert_ne!(code, 0, "/proc fd path accepted: {text}");
        assert_eq!(std::fs::read(&out).unwrap(), b"old", "{text}");
    }
    drop(file);
    // A directory as the table's path.
    let dir = d.join("table.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&out, b"old").unwrap();
    let (code, text) = run(&dir);
    assert_ne!(code, 0, "a directory took the table: {text}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        b"old",
        "the module was put in place, then the table failed: {text}"
    );
    let names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "files left behind: {names:?}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn mutated_data_sections_stay_in_the_segment() {
    // A module with an own memory and segments of every shape the reader tells apart (common with LEBs of
    // one to four bytes, flags 2, extended-const, passive); one to three
    // bytes of its data section mutated, rebased without validation in
    // every mode: an output of `checked` or `masked` an engine accepts
    // changes no byte outside the
    // segment at instantiation. Also: a
    // module the validator accepts gives the same bytes unvalidated.
    let rounds: u64 = std::env::var("AUDIT10_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(400);
    let mut data = vec![5u8];
    data.extend_from_slice(&[0x00, 0x41, 0x10, 0x0B, 2, 0xA1, 0xA2]);
    data.extend_from_slice(&[0x00, 0x41, 0xF0, 0xFF, 0x03, 0x0B, 1, 0xB1]);
    data.extend_from_slice(&[0x02, 0x00, 0x41, 0x80, 0x80, 0x80, 0x00, 0x0B, 1, 0xC1]);
    data.extend_from_slice(&[0x00, 0x41, 0x08, 0x41, 0x08, 0x6A, 0x0B, 1, 0xD1]);
    data.extend_from_slice(&[0x01, 3, 0xE1, 0xE2, 0xE3]);
    let build = |data: &[u8]| {
        let mut m = Module::new();
        let mut mems = MemorySection::new();
        mems.memory(common::mem(1, Some(2)));
        m.section(&mems);
        m.section(&RawSection { id: 11, data });
        m.finish()
    };
    let seed = build(&data);
    let mut rng = Rng(0x00A0_D170_0000_0001);
    let (mut accepted, mut ran) = (0, 0);
    for round in 0..rounds {
        let mut d = data.clone();
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(d.len() as u64) as usize;
            d[i] = match rng.below(4) {
                0 => rng.next() as u8,
                1 => d[i] ^ (1 << rng.below(8)),
                2 => rng.pick(&[0x00, 0x01, 0x02, 0x0B, 0x40, 0x41, 0x7F, 0x80, 0xFF]),
                _ => d[i].wrapping_add(1),
            };
        }
        let wasm = if round == 0 { seed.clone() } else { build(&d) };
        let valid = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&wasm)
            .is_ok();
        for iso in [Isolation::Checked, Isolation::Masked, Isolation::Trusted] {
            let o = opts(iso, 2, false);
            let out = match std::panic::catch_unwind(|| rebase(&wasm, &o)) {
                Err(_) => panic!("round {round} {iso:?}: the rebaser panicked on {d:02x?}"),
                Ok(Err(_)) => continue,
                Ok(Ok(out)) => out.wasm,
            };
            accepted += 1;
            if valid {
                let mut v = o.clone();
                v.validate = true;
                let validated = rebase(&wasm, &v).expect("a valid module rebases validated");
                assert!(validated.wasm == out, "round {round} {iso:?}: bytes differ");
            }
            if iso == Isolation::Trusted {
                // No isolation (SPEC): an extended-const offset out of
                // bounds is relocated as it is.
                continue;
            }
            let engine = engine();
            let mut store = Store::new(&engine, ());
            let unified = Unified::new(&mut store, o.segment);
            let Ok(module) = wasmi::Module::new(&engine, &out[..]) else {
                continue;
            };
            let mut linker = Linker::<()>::new(&engine);
            linker.define("env", "memory", unified.memory).unwrap();
            let _ = linker.instantiate_and_start(&mut store, &module);
            ran += 1;
            assert_eq!(
                unified.broken_canary(&store, 0),
                None,
                "round {round} {iso:?}: data section {d:02x?} wrote outside the segment"
            );
        }
    }
    assert!(
        ran > rounds as usize / 4,
        "only {ran} of {accepted} outputs ran"
    );
}

#[test]
fn unvalidated_huge_offsets_of_every_access_kind_panic_nowhere() {
    // audit9 fixed `offset + base` wrapping for a plain load and store;
    // the other memarg-bearing kinds (narrow, SIMD, lane, atomic, notify)
    // reach other paths. Offsets near 2^64 and past 2^32, minimal and in
    // 10 bytes: no panic, and an output an engine runs changes nothing
    // outside the segment (checked, masked).
    let offsets = [
        u64::MAX,
        u64::MAX - 3,
        0u64.wrapping_sub(common::BASE),
        1 << 32,
        1 << 63,
    ];
    // (prefix before the memarg, align, suffix after it), each after
    // `local.get 0`.
    let kinds: [(&[u8], u8, &[u8]); 7] = [
        (&[0x2D], 0, &[0x1A]),                   // i32.load8_u
        (&[0x41, 0x07, 0x3A], 0, &[]),           // i32.store8
        (&[0xFD, 0x00], 4, &[0x1A]),             // v128.load
        (&[0xFD, 0x5D], 2, &[0x1A]),             // v128.load32_zero
        (&[0xFE, 0x10], 2, &[0x1A]),             // i32.atomic.load
        (&[0x41, 0x01, 0xFE, 0x1E], 2, &[0x1A]), // i32.atomic.rmw.add
        (&[0x41, 0x01, 0xFE, 0x00], 2, &[0x1A]), // memory.atomic.notify
    ];
    let mut panics = Vec::new();
    for offset in offsets {
        for len in [0usize, 10] {
            let len = if len == 0 {
                (64 - (offset | 1).leading_zeros()).div_ceil(7) as usize
            } else {
                len
            };
            for (prefix, align, suffix) in kinds {
                let mut body = vec![0x20, 0x00];
                body.extend_from_slice(prefix);
                body.push(align);
                let mut v = offset;
                for k in 0..len {
                    body.push((v & 0x7F) as u8 | if k + 1 < len { 0x80 } else { 0 });
                    v >>= 7;
                }
                body.extend_from_slice(suffix);
                for shared in [false, true] {
                    let wasm = common::with_body(&body, shared);
                    for iso in [Isolation::Checked, Isolation::Masked, Isolation::Trusted] {
                        let o = opts(iso, 2, false);
                        let out = match std::panic::catch_unwind(|| rebase(&wasm, &o)) {
                            Err(_) => {
                                panics.push(format!("{iso:?} {body:02x?}"));
                                continue;
                            }
                            Ok(Err(_)) => continue,
                            Ok(Ok(out)) => out.wasm,
                        };
                        if wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                            .validate_all(&out)
                            .is_err()
                        {
                            continue;
                        }
                        let engine = engine();
                        let mut store = Store::new(&engine, ());
                        let unified = Unified::new(&mut store, o.segment);
                        let Ok(module) = wasmi::Module::new(&engine, &out[..]) else {
                            continue;
                        };
                        let mut linker = Linker::<()>::new(&engine);
                        linker.define("env", "memory", unified.memory).unwrap();
                        let Ok(instance) = linker.instantiate_and_start(&mut store, &module) else {
                            continue;
                        };
                        let f = instance.get_func(&store, "f").unwrap();
                        for a in [0, 1, 0x10] {
                            let _ = f.call(&mut store, &[wasmi::Val::I32(a)], &mut []);
                        }
                        assert_eq!(
                            unified.broken_canary(&store, 0),
                            None,
                            "{iso:?}: {body:02x?} changed memory outside the segment"
                        );
                    }
                }
            }
        }
    }
    assert!(panics.is_empty(), "the rebaser panicked: {panics:#?}");
}
