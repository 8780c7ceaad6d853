//! audit11: flight-rebase's temporary files, and the trusted walk's record
//! buffers kept between batches (wasmspeed5).
//!
//! The temporary file an output is staged in has a name anyone can predict
//! (`.NAME.PID.tmp` beside the output). Opened with `File::create`, it
//! followed a symbolic link planted under that name (in a shared
//! directory, by another user) and overwrote the file the link named with
//! the module — the classic temporary-file race, at the one moment the
//! CLI writes.

mod common;

use common::{Rng, with_body};
use flight_mem_wasm::{Isolation, Options, Segment, rebase};

/// `flight-rebase IN -o OUT [--relocations TABLE]`, started with its input
/// a FIFO so that its process id is known before it writes anything: the
/// links named after it are planted first, then the module is fed in.
#[cfg(unix)]
fn cli_after_planting(
    input: &std::path::Path,
    wasm: &[u8],
    out: &std::path::Path,
    table: Option<&std::path::Path>,
    plant: impl FnOnce(u32),
) -> (i32, String) {
    use std::process::{Command, Stdio};
    assert!(
        Command::new("mkfifo")
            .arg(input)
            .status()
            .unwrap()
            .success()
    );
    let mut args = vec![
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--segment",
        "0x100000:64KiB",
    ];
    if let Some(table) = table {
        args.extend(["--relocations", table.to_str().unwrap()]);
    }
    let child = Command::new(env!("CARGO_BIN_EXE_flight-rebase"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run flight-rebase");
    plant(child.id());
    // Blocks until the child opens its input: nothing is staged before.
    std::fs::write(input, wasm).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

/// A link planted where the module's (and the table's) temporary file will
/// be must not be written through: the files it names keep their bytes,
/// and the outputs are right or absent.
#[cfg(unix)]
#[test]
fn cli_writes_no_file_through_a_planted_temporary_link() {
    let d = common::fresh_dir("audit11-tmp");
    let wasm = with_body(&[], false);
    let expected = {
        let mut o = Options::new(Segment {
            base: 0x100000,
            size: 65536,
        });
        o.isolation = Isolation::Checked;
        rebase(&wasm, &o).unwrap().wasm
    };
    for with_table in [false, true] {
        let victim = d.join("victim");
        let victim_table = d.join("victim-table");
        std::fs::write(&victim, b"precious").unwrap();
        std::fs::write(&victim_table, b"precious too").unwrap();
        let input = d.join("in.wasm");
        let out = d.join("out.wasm");
        let table = d.join("table.json");
        let _ = std::fs::remove_file(&input);
        let _ = std::fs::remove_file(&out);
        let _ = std::fs::remove_file(&table);
        let (code, text) = cli_after_planting(
            &input,
            &wasm,
            &out,
            with_table.then_some(table.as_path()),
            |pid| {
                std::os::unix::fs::symlink(&victim, d.join(format!(".out.wasm.{pid}.tmp")))
                    .unwrap();
                std::os::unix::fs::symlink(&victim_table, d.join(format!(".table.json.{pid}.tmp")))
                    .unwrap();
            },
        );
        assert_eq!(
            std::fs::read(&victim).unwrap(),
            b"precious",
            "the module was written through the planted link: {text}"
        );
        assert_eq!(
            std::fs::read(&victim_table).unwrap(),
            b"precious too",
            "the table was written through the planted link: {text}"
        );
        if code == 0 {
            assert_eq!(std::fs::read(&out).unwrap(), expected, "{text}");
            if with_table {
                assert!(std::fs::read(&table).unwrap().starts_with(b"["), "{text}");
            }
        } else {
            assert!(!out.exists(), "an error and an output: {text}");
        }
        // The planted links are left as they were (not renamed into place).
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".tmp") {
                assert!(
                    entry.file_type().unwrap().is_symlink(),
                    "a temporary file left behind: {name}"
                );
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// A module of `(memory 1 2)` and one function `[i32] -> []` per raw body
/// (each with its locals' count and, unless mutated away, its `end`).
fn with_bodies(bodies: &[Vec<u8>]) -> Vec<u8> {
    use wasm_encoder::{CodeSection, FunctionSection, MemorySection, Module, TypeSection};
    let mut types = TypeSection::new();
    types.ty().function([wasm_encoder::ValType::I32], []);
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    for body in bodies {
        funcs.function(0);
        code.raw(body);
    }
    let mut mems = MemorySection::new();
    mems.memory(common::mem(1, Some(2)));
    let mut m = Module::new();
    m.section(&types)
        .section(&funcs)
        .section(&mems)
        .section(&code);
    m.finish()
}

/// `v` as an unsigned LEB of exactly `n` bytes (padded).
fn leb_n(out: &mut Vec<u8>, mut v: u32, n: usize) {
    for k in 0..n {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        out.push(if k + 1 < n { byte | 0x80 } else { byte });
    }
}

/// A random valid body of about `len` bytes: plain loads and stores with
/// memargs of every LEB length, other memory instructions (whose records
/// carry `Prev`s), constants of every width and instructions the walk's
/// table does not take (`0xFC`, `0xFD` prefixes), so that bodies end their
/// look-ahead at every kind of record.
fn random_body(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut b = vec![0x00];
    while b.len() < len {
        let n = 1 + rng.below(5) as usize;
        let offset = rng.below(1 << (7 * n.min(4))) as u32;
        match rng.below(11) {
            0 => {
                // local.get 0; a plain load; drop
                let (op, align) =
                    rng.pick(&[(0x28, 2), (0x29, 3), (0x2C, 0), (0x33, 1), (0x35, 2)]);
                b.extend([0x20, 0x00, op, rng.below(align + 1) as u8]);
                leb_n(&mut b, offset, n);
                b.push(0x1A);
            }
            1 => {
                // local.get 0; i32.const; a plain store
                b.extend([0x20, 0x00, 0x41, rng.below(64) as u8]);
                let (op, align) = rng.pick(&[(0x36, 2), (0x3A, 0), (0x3B, 1)]);
                b.extend([op, align]);
                leb_n(&mut b, offset, n);
            }
            2 => b.extend([0x3F, 0x00, 0x1A]),
            3 => b.extend([0x41, 0x00, 0x40, 0x00, 0x1A]),
            4 => b.extend([0x20, 0x00, 0x41, 0x00, 0x41, 0x08, 0xFC, 0x0B, 0x00]),
            5 => {
                // A load naming memory 0 explicitly (flags bit 6).
                b.extend([0x20, 0x00, 0x28, 0x42, 0x00]);
                leb_n(&mut b, offset, n);
                b.push(0x1A);
            }
            6 => {
                b.push(0x41);
                leb_n(&mut b, offset, n);
                b.push(0x1A);
            }
            7 => b.extend([0x43, 0, 0, 0x80, 0x3F, 0xFC, 0x00, 0x1A]),
            8 => b.extend([0x44, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0x1A]),
            9 => {
                // v128.load; drop
                b.extend([0x20, 0x00, 0xFD, 0x00, 0x04]);
                leb_n(&mut b, offset, n);
                b.push(0x1A);
            }
            _ => b.extend([0x02, 0x40, 0x20, 0x00, 0x1A, 0x0B]),
        }
    }
    b.push(0x0B);
    b
}

/// The code entries of `wasm` (each with its locals), by wasmparser.
fn code_entries(wasm: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::CodeSectionEntry(body)) = payload {
            let r = body.range();
            out.push(wasm[r.start as usize..r.end as usize].to_vec());
        }
    }
    out
}

fn trusted(validate: bool, threads: usize) -> Options {
    let mut o = common::opts(Isolation::Trusted, 2, validate);
    o.threads = threads;
    o
}

/// The trusted walk keeps its record buffers from batch to batch
/// (wasmspeed5): a body's output must not depend on the bodies walked
/// before it. Each body is rebased alone and among ~100 KiB of others (so
/// in a later chunk, over buffers an earlier chunk filled), in order and
/// reversed, with one and two threads; valid bodies must give the same
/// bytes everywhere and the validating path's, and a body refused alone
/// (one ending in a load whose offset byte is `0x0B` and no `end`, or cut
/// short) must be refused in any company: a stale record read as its
/// `end` would let it through.
#[test]
fn trusted_walk_records_are_the_same_in_any_company() {
    let rounds = std::env::var("AUDIT11_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6u64);
    let mut rng = Rng(0xA0D1_7110_5EED_0003);
    let (mut checked_bodies, mut refused_checked) = (0, 0);
    for _ in 0..rounds {
        let bodies: Vec<Vec<u8>> = (0..120)
            .map(|_| {
                let len = 8 + rng.below(1600) as usize;
                random_body(&mut rng, len)
            })
            .collect();
        let alone: Vec<Vec<u8>> = bodies
            .iter()
            .map(|b| {
                let wasm = with_bodies(std::slice::from_ref(b));
                let out = rebase(&wasm, &trusted(false, 1)).expect("a valid body alone");
                code_entries(&out.wasm).remove(0)
            })
            .collect();
        let wasm = with_bodies(&bodies);
        let validated = rebase(&wasm, &trusted(true, 1)).expect("valid").wasm;
        let mut reversed_bodies = bodies.clone();
        reversed_bodies.reverse();
        let reversed = with_bodies(&reversed_bodies);
        for threads in [1, 2] {
            let out = rebase(&wasm, &trusted(false, threads)).unwrap().wasm;
            assert_eq!(out, validated, "the walk differs from wasmparser");
            assert_eq!(code_entries(&out), alone, "a body differs in company");
            let out = rebase(&reversed, &trusted(false, threads)).unwrap().wasm;
            let mut entries = code_entries(&out);
            entries.reverse();
            assert_eq!(entries, alone, "a body differs in reversed company");
        }
        checked_bodies += bodies.len();
        // Invalid bodies: each refused alone must be refused among the
        // others, wherever it stands.
        for _ in 0..8 {
            let len = 8 + rng.below(200) as usize;
            let mut bad = random_body(&mut rng, len);
            bad.pop();
            match rng.below(3) {
                // Ends in a load whose one-byte offset is 0x0B.
                0 => bad.extend([0x20, 0x00, 0x28, 0x02, 0x0B]),
                // Ends in a load whose offset LEB runs off the body.
                1 => bad.extend([0x20, 0x00, 0x28, 0x02, 0x8B]),
                // Ends in a memory.size (a record with `Prev`s), no `end`.
                _ => bad.extend([0x3F, 0x00]),
            }
            let alone = rebase(&with_bodies(std::slice::from_ref(&bad)), &trusted(false, 1));
            let at = rng.below(bodies.len() as u64 + 1) as usize;
            let mut company = bodies.clone();
            company.insert(at, bad.clone());
            let among = rebase(&with_bodies(&company), &trusted(false, 1));
            match (alone, among) {
                (Err(_), Err(_)) => refused_checked += 1,
                (Ok(a), Ok(b)) => {
                    assert_eq!(code_entries(&a.wasm)[0], code_entries(&b.wasm)[at])
                }
                (a, b) => panic!(
                    "alone {:?}, among others at {at} {:?}",
                    a.map(|_| ()),
                    b.map(|_| ())
                ),
            }
        }
    }
    assert!(checked_bodies > 0 && refused_checked > 0);
}
