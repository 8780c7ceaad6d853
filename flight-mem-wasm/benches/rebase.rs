//! Speed of `flight-rebase` on large real modules, side by side with what
//! bounds it: a byte copy, a bare wasmparser operator scan and Binaryen's
//! `wasm-opt` plain round-trip (if installed), all in one run; and with the
//! peer that does the same job, Binaryen's `multi-memory-lowering` (the npm
//! `binaryen` package's `wasm-opt`, when `FLIGHT_BENCH_BINARYEN_JS` names
//! it). Then the run-time cost of isolation on a memory-heavy module in
//! wasmi, flight-rebase's three modes next to Binaryen's lowering.
//!
//! `cargo bench -p flight-mem-wasm --bench rebase -- FILE.wasm...`
//! (`benches/run.sh` fetches `@swc/wasm` and `esbuild-wasm` with npm and
//! runs this). Without files only the run-time part runs.

use flight_mem_wasm::{Isolation, Options, Rebaser, Segment, rebase};
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

const MIB: f64 = 1024.0 * 1024.0;

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn code_stats(wasm: &[u8]) -> (usize, u64) {
    let mut code = 0;
    let mut ops = 0u64;
    for p in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::CodeSectionEntry(body)) = p {
            let r = body.range();
            code += (r.end - r.start) as usize;
            if let Ok(mut reader) = body.get_operators_reader() {
                while !reader.eof() && reader.read().is_ok() {
                    ops += 1;
                }
            }
        }
    }
    (code, ops)
}

fn scan(wasm: &[u8]) -> u64 {
    let mut n = 0u64;
    for p in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::CodeSectionEntry(body)) = p
            && let Ok(mut reader) = body.get_operators_reader()
        {
            while !reader.eof() {
                if reader.read().is_err() {
                    break;
                }
                n += 1;
            }
        }
    }
    n
}

fn wasm_opt(path: &str) -> Option<Duration> {
    let out = std::env::temp_dir().join(format!("flight-bench-{}.wasm", std::process::id()));
    let run = || {
        Command::new("wasm-opt")
            .args([path, "--all-features", "-o"])
            .arg(&out)
            .status()
            .ok()
            .filter(|s| s.success())
    };
    run()?;
    let d = (0..3)
        .filter_map(|_| {
            let t = Instant::now();
            run().map(|_| t.elapsed())
        })
        .min();
    let _ = std::fs::remove_file(&out);
    d
}

/// The npm `binaryen` package's `wasm-opt` (Binaryen compiled to wasm, run
/// by node), which has `--multi-memory-lowering`; Debian's 108 has not.
fn binaryen_js() -> Option<String> {
    std::env::var("FLIGHT_BENCH_BINARYEN_JS").ok()
}

/// Runs `tool args.. IN -o OUT`; the best of `runs` wall times (a process
/// each, start-up included), or `None` if it fails.
fn tool(tool: &str, args: &[&str], input: &[u8], runs: usize) -> Option<(Duration, Vec<u8>)> {
    let dir = std::env::temp_dir();
    let id = std::process::id();
    let (inp, out) = (
        dir.join(format!("flight-bench-in-{id}.wasm")),
        dir.join(format!("flight-bench-out-{id}.wasm")),
    );
    std::fs::write(&inp, input).ok()?;
    let mut best = None;
    for _ in 0..runs {
        let t = Instant::now();
        let status = Command::new(tool)
            .arg(&inp)
            .args(args)
            .arg("-o")
            .arg(&out)
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
        let d = t.elapsed();
        best = Some(best.map_or(d, |b: Duration| b.min(d)));
    }
    let bytes = std::fs::read(&out).ok()?;
    let _ = (std::fs::remove_file(&inp), std::fs::remove_file(&out));
    best.map(|d| (d, bytes))
}

/// `wasm` with one more (defined, one-page) memory after its own, so that
/// `multi-memory-lowering` has memories to lay end to end: the module's
/// memory stays first (offset 0, as Binaryen requires an imported memory
/// to be), the added one goes after it.
fn with_extra_memory(wasm: &[u8]) -> Vec<u8> {
    use wasm_encoder::Encode;
    let extra = wasm_encoder::MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    };
    let rank = |id: u8| match id {
        13 => 5, // tag: between memory and global
        0 => 0,
        id if id >= 6 => id + 1,
        id => id,
    };
    let mut out = wasm[..8].to_vec();
    let mut done = false;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Some((id, range)) = payload.expect("valid module").as_section() else {
            continue;
        };
        let content = &wasm[range.start as usize..range.end as usize];
        if id == 5 {
            let mut reader = wasmparser::BinaryReader::new(content, 0);
            let count = reader.read_var_u32().expect("memory count");
            let mut new = Vec::new();
            (count + 1).encode(&mut new);
            new.extend_from_slice(&content[reader.original_position() as usize..]);
            extra.encode(&mut new);
            out.push(5);
            new.encode(&mut out);
            done = true;
            continue;
        }
        if !done && id != 0 && rank(id) > 5 {
            let mut new = Vec::new();
            1u32.encode(&mut new);
            extra.encode(&mut new);
            out.push(5);
            new.encode(&mut out);
            done = true;
        }
        out.push(id);
        content.encode(&mut out);
    }
    out
}

fn speed(path: &str) {
    let wasm = std::fs::read(path).expect("read");
    if let Ok(spec) = std::env::var("FLIGHT_BENCH_PROFILE") {
        // For `perf record` or callgrind: only the unvalidated rebase in
        // one mode (`trusted`, `masked`, else `checked`), repeated
        // (`MODE:RUNS`, 20 by default).
        let (mode, runs) = spec.split_once(':').unwrap_or((&spec, "20"));
        let runs: usize = runs.parse().expect("FLIGHT_BENCH_PROFILE=MODE:RUNS");
        let mut o = Options::new(Segment {
            base: 0x100_0000,
            size: 1 << 31,
        });
        o.validate = false;
        o.isolation = match mode {
            "trusted" => Isolation::Trusted,
            "masked" => Isolation::Masked,
            _ => Isolation::Checked,
        };
        // `FLIGHT_BENCH_REUSE=1`: through one `Rebaser`.
        let mut rebaser = Rebaser::new();
        let reuse = std::env::var_os("FLIGHT_BENCH_REUSE").is_some();
        for _ in 0..runs {
            match reuse {
                true => black_box(rebaser.rebase(&wasm, &o).expect("rebase")),
                false => black_box(rebase(&wasm, &o).expect("rebase")),
            };
        }
        return;
    }
    let mib = wasm.len() as f64 / MIB;
    let (code, ops) = code_stats(&wasm);
    let opts = |iso, validate| {
        let mut o = Options::new(Segment {
            base: 0x100_0000,
            size: 1 << 31,
        });
        o.isolation = iso;
        o.validate = validate;
        o
    };
    let out = rebase(&wasm, &opts(Isolation::Checked, true)).expect("rebase");
    let per = |d: Duration| d.as_secs_f64() * 1e3 / mib;
    println!(
        "\n{path}: {:.1} MiB, {:.1} MiB of code, {:.2}M instructions, {:.2}M rewritten; output \
         {:.1} MiB (checked)",
        mib,
        code as f64 / MIB,
        ops as f64 / 1e6,
        out.stats.instructions as f64 / 1e6,
        out.wasm.len() as f64 / MIB
    );
    let copy = best(10, || wasm.to_vec());
    let scan_t = best(9, || scan(&wasm));
    let mut rows = vec![
        ("byte copy".to_string(), copy),
        ("wasmparser operator scan (1 core)".into(), scan_t),
    ];
    for (name, iso, validate) in [
        (
            "flight-rebase checked, validating",
            Isolation::Checked,
            true,
        ),
        (
            "flight-rebase checked, no validation",
            Isolation::Checked,
            false,
        ),
        (
            "flight-rebase masked, no validation",
            Isolation::Masked,
            false,
        ),
        (
            "flight-rebase trusted, no validation",
            Isolation::Trusted,
            false,
        ),
    ] {
        let o = opts(iso, validate);
        rows.push((name.into(), best(9, || rebase(&wasm, &o).expect("rebase"))));
    }
    for (name, iso) in [
        (
            "flight-rebase trusted, no validation, one Rebaser",
            Isolation::Trusted,
        ),
        (
            "flight-rebase checked, no validation, one Rebaser",
            Isolation::Checked,
        ),
    ] {
        let o = opts(iso, false);
        let mut rebaser = Rebaser::new();
        rows.push((
            name.into(),
            best(9, || rebaser.rebase(&wasm, &o).expect("rebase")),
        ));
    }
    let mut one = opts(Isolation::Checked, false);
    one.threads = 1;
    rows.push((
        "flight-rebase checked, no validation, 1 thread".into(),
        best(5, || rebase(&wasm, &one).expect("rebase")),
    ));
    match wasm_opt(path) {
        Some(d) => rows.push(("binaryen wasm-opt read+write (process)".into(), d)),
        None => println!("  (wasm-opt not found: skipped)"),
    }
    if let Some(js) = binaryen_js() {
        let two = with_extra_memory(&wasm);
        for (name, args, input) in [
            ("binaryen.js wasm-opt read+write", &["-all"][..], &wasm[..]),
            (
                "binaryen.js --multi-memory-lowering",
                &["-all", "--multi-memory-lowering"][..],
                &two[..],
            ),
            (
                "binaryen.js ..-lowering-with-bounds-checks",
                &["-all", "--multi-memory-lowering-with-bounds-checks"][..],
                &two[..],
            ),
        ] {
            match tool(&js, args, input, 2) {
                Some((d, _)) => rows.push((format!("{name} (process)"), d)),
                None => println!("  ({name} failed: skipped)"),
            }
        }
    } else {
        println!("  (FLIGHT_BENCH_BINARYEN_JS not set: multi-memory-lowering skipped)");
    }
    for (name, d) in rows {
        println!(
            "  {name:<48} {:>9.2} ms  {:>8.2} ms/MiB",
            d.as_secs_f64() * 1e3,
            per(d)
        );
    }
}

/// A hash-count kernel: an LCG picks a slot of a 1 MiB table, the slot is
/// loaded, incremented and stored; then a checksum pass over the table.
const KERNEL: &str = r#"(module
  (memory 48 48)
  (func (export "run") (param $n i32) (result i32)
    (local $x i32) (local $i i32) (local $a i32) (local $sum i32)
    (local.set $x (i32.const 12345))
    (loop $l
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
      (local.set $a (i32.shl (i32.and (i32.shr_u (local.get $x) (i32.const 8)) (i32.const 0x3ffff)) (i32.const 2)))
      (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
      (i64.store offset=1048576 (local.get $a) (i64.extend_i32_u (local.get $x)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.set $i (i32.const 0))
    (loop $s
      (local.set $sum (i32.add (local.get $sum) (i32.load8_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $s (i32.lt_u (local.get $i) (i32.const 1048576))))
    (local.get $sum)))"#;

/// The kernel with its memory placed after a one-page neighbour, as
/// `multi-memory-lowering` lays memories end to end: the same placement as
/// flight-rebase's segment at 64 KiB.
fn two_memory_kernel() -> String {
    KERNEL
        .replace(
            "(memory 48 48)",
            "(memory $neighbour 1 1) (memory $own 48 48)",
        )
        .replace("(i32.load (", "(i32.load $own (")
        .replace("(i32.store (", "(i32.store $own (")
        .replace("(i64.store offset", "(i64.store $own offset")
        .replace("(i32.load8_u (", "(i32.load8_u $own (")
}

/// The trap of one short run of the kernel, if it traps.
fn trap_of(engine: &wasmi::Engine, wasm: &[u8]) -> Option<String> {
    use wasmi::{Linker, Module, Store, Val};
    let mut store = Store::new(engine, ());
    let module = Module::new(engine, wasm).expect("module");
    let i = Linker::<()>::new(engine)
        .instantiate_and_start(&mut store, &module)
        .expect("instance");
    let f = i.get_func(&store, "run").expect("run");
    let mut out = [Val::I32(0)];
    f.call(&mut store, &[Val::I32(1000)], &mut out)
        .err()
        .map(|e| e.to_string())
}

/// The kernel's `run` export, instantiated in a store of its own; a
/// rebased module (`unified`) gets a 256 MiB `env.memory` to live in.
fn instantiate(
    engine: &wasmi::Engine,
    wasm: &[u8],
    unified: bool,
) -> (wasmi::Store<()>, wasmi::Func) {
    use wasmi::{Linker, Memory, MemoryType, Module, Store};
    let mut store = Store::new(engine, ());
    let module = Module::new(engine, wasm).expect("module");
    let mut linker = Linker::<()>::new(engine);
    if unified {
        let m = Memory::new(&mut store, MemoryType::new(4096, None)).expect("memory");
        linker.define("env", "memory", m).expect("define");
    }
    let i = linker
        .instantiate_and_start(&mut store, &module)
        .expect("instance");
    let f = i.get_func(&store, "run").expect("run");
    (store, f)
}

fn runtime() {
    use wasmi::{Engine, Val};
    let original = wat::parse_str(KERNEL).expect("wat");
    let engine = Engine::default();
    let n = 4_000_000;
    let time = |wasm: &[u8], unified: bool| -> (Duration, i32) {
        let (mut store, f) = instantiate(&engine, wasm, unified);
        let mut out = [Val::I32(0)];
        let mut result = 0;
        let d = best(9, || {
            f.call(&mut store, &[Val::I32(n)], &mut out).expect("call");
            result = out[0].i32().unwrap_or(0);
        });
        (d, result)
    };
    println!("\nrun time in wasmi, hash-count kernel ({n} load+store pairs, 1 MiB checksum):");
    let (base, r0) = time(&original, false);
    println!(
        "  original                 {:>8.1} ms  1.00x",
        base.as_secs_f64() * 1e3
    );
    if let Some(js) = binaryen_js() {
        let two = wat::parse_str(two_memory_kernel()).expect("two-memory kernel");
        for (name, flag) in [
            ("binaryen lowering", "--multi-memory-lowering"),
            (
                "binaryen lowering+checks",
                "--multi-memory-lowering-with-bounds-checks",
            ),
        ] {
            let Some((_, lowered)) = tool(&js, &["-all", flag], &two, 1) else {
                println!("  ({name} failed: skipped)");
                continue;
            };
            // Binaryen 132's bounds check compares the byte address with
            // the memory's size in *pages*: every access above byte 48 of
            // this kernel traps, in bounds or not. Say so instead of timing.
            if let Some(trap) = trap_of(&engine, &lowered) {
                println!("  {name:<24} traps on an in-bounds access: {trap}");
                continue;
            }
            let (d, r) = time(&lowered, false);
            assert_eq!(r, r0, "{name} computes a different checksum");
            println!(
                "  {name:<24} {:>8.1} ms  {:.2}x",
                d.as_secs_f64() * 1e3,
                d.as_secs_f64() / base.as_secs_f64()
            );
        }
    }
    // The kernel's memory is 3 MiB (48 pages, its maximum); a 4 MiB
    // segment leaves `masked` less than 16 bytes past its mask, so wide
    // accesses are clamped; in an 8 MiB segment they need not be.
    for (name, iso, size) in [
        ("Trusted", Isolation::Trusted, 4 << 20),
        ("Masked (4 MiB, clamped)", Isolation::Masked, 4 << 20),
        ("Masked (8 MiB segment)", Isolation::Masked, 8 << 20),
        ("Checked", Isolation::Checked, 4 << 20),
    ] {
        let mut o = Options::new(Segment {
            base: 0x1_0000,
            size,
        });
        o.isolation = iso;
        let out = rebase(&original, &o).expect("rebase");
        let (d, r) = time(&out.wasm, true);
        assert_eq!(r, r0, "{name} computes a different checksum");
        println!(
            "  {name:<24} {:>8.1} ms  {:.2}x",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() / base.as_secs_f64()
        );
    }
}

/// The kernel module of run-time variant `name`, ready for the unified
/// memory (`true`) or with its own memory (`false`).
fn variant(name: &str) -> (Vec<u8>, bool) {
    let original = wat::parse_str(KERNEL).expect("wat");
    let rebased = |iso, size| {
        let mut o = Options::new(Segment {
            base: 0x1_0000,
            size,
        });
        o.isolation = iso;
        (rebase(&original, &o).expect("rebase").wasm, true)
    };
    match name {
        "original" => (original, false),
        "trusted" => rebased(Isolation::Trusted, 4 << 20),
        "masked" => rebased(Isolation::Masked, 4 << 20),
        "masked8" => rebased(Isolation::Masked, 8 << 20),
        "checked" => rebased(Isolation::Checked, 4 << 20),
        "checkedgrow" => {
            // The same kernel with a memory that may grow (no maximum): the
            // checks read their limit from a global instead of a constant.
            let growable =
                wat::parse_str(KERNEL.replace("(memory 48 48)", "(memory 48)")).expect("wat");
            let mut o = Options::new(Segment {
                base: 0x1_0000,
                size: 4 << 20,
            });
            o.isolation = Isolation::Checked;
            (rebase(&growable, &o).expect("rebase").wasm, true)
        }
        "binaryen" => {
            let js = binaryen_js().expect("FLIGHT_BENCH_BINARYEN_JS");
            let two = wat::parse_str(two_memory_kernel()).expect("wat");
            let (_, lowered) =
                tool(&js, &["-all", "--multi-memory-lowering"], &two, 1).expect("lowering");
            (lowered, false)
        }
        // A module written elsewhere (e.g. a hand-edited form of a rebased
        // kernel, binary or text): it imports the unified memory if it imports anything.
        path if path.ends_with(".wasm") || path.ends_with(".wat") => {
            let wasm = wat::parse_file(path).expect("read the module");
            let imports = wasmparser::Parser::new(0)
                .parse_all(&wasm)
                .any(|p| matches!(p, Ok(wasmparser::Payload::ImportSection(_))));
            (wasm, imports)
        }
        other => panic!("unknown variant `{other}`"),
    }
}

/// `FLIGHT_BENCH_ICOUNT=VARIANT:N`: one call of the kernel with `N`
/// iterations, nothing else, for callgrind (`benches/icount.sh` takes the
/// difference of two `N`s, so start-up and the checksum pass cancel out).
fn icount(spec: &str) {
    use wasmi::{Engine, Val};
    let (name, n) = spec.split_once(':').expect("VARIANT:N");
    let n: i32 = n.parse().expect("N");
    let (wasm, unified) = variant(name);
    let engine = Engine::default();
    let (mut store, f) = instantiate(&engine, &wasm, unified);
    let mut out = [Val::I32(0)];
    f.call(&mut store, &[Val::I32(n)], &mut out).expect("call");
    println!("{name}: {:?}", out[0].i32());
}

/// `FLIGHT_BENCH_EMIT=DIR`: write every run-time variant's module to
/// `DIR/VARIANT.wasm` (the bytes `icount` runs), for `benches/v8.sh`.
fn emit(dir: &str) {
    for name in VARIANTS {
        if name == "binaryen" && binaryen_js().is_none() {
            continue;
        }
        let (wasm, _) = variant(name);
        std::fs::write(format!("{dir}/{name}.wasm"), wasm).expect("write");
    }
}

/// The run-time variants, in the order the bench scripts print them.
const VARIANTS: [&str; 7] = [
    "original",
    "binaryen",
    "trusted",
    "masked",
    "masked8",
    "checked",
    "checkedgrow",
];

fn main() {
    if let Ok(dir) = std::env::var("FLIGHT_BENCH_EMIT") {
        emit(&dir);
        return;
    }
    if let Ok(spec) = std::env::var("FLIGHT_BENCH_ICOUNT") {
        icount(&spec);
        return;
    }
    let files: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a.ends_with(".wasm"))
        .collect();
    for f in &files {
        speed(f);
    }
    if std::env::var_os("FLIGHT_BENCH_PROFILE").is_none() {
        runtime();
    }
}
