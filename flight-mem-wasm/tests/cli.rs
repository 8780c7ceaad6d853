//! `flight-rebase` as a user runs it: outputs, errors, and no output file on
//! bad input.

use flight_mem_wasm::{Access, parse_segment, parse_shared, parse_size};
use std::path::PathBuf;
use std::process::Command;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flight-rebase-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flight-rebase"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

const GOOD: &str = r#"(module (import "env" "frame" (memory 1)) (memory 1)
  (func (export "f") (param i32) (result i32) (i32.load 1 (local.get 0)))
  (func (export "g") (param i32) (i32.store 1 (local.get 0) (i32.load 0 (i32.const 8)))))"#;

#[test]
fn rebases_and_writes_the_relocation_table() {
    let d = dir("good");
    let input = d.join("in.wasm");
    std::fs::write(&input, wat::parse_str(GOOD).unwrap()).unwrap();
    let out = d.join("out.wasm");
    let relocs = d.join("relocs.json");
    let (code, text) = run(&[
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--segment",
        "0x100000:64KiB",
        "--shared",
        "env.frame=2MiB:0x10000:read",
        "--memory-import",
        "host.ram",
        "--relocations",
        relocs.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("3 memory instructions"), "{text}");
    let wasm = std::fs::read(&out).unwrap();
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&wasm)
        .unwrap();
    assert!(wasm.windows(3).any(|w| w == b"ram"));
    let json = std::fs::read_to_string(&relocs).unwrap();
    assert_eq!(json.matches("\"function\"").count(), 3, "{json}");
    assert!(json.contains("\"check\": \"bounds\""), "{json}");
    assert!(json.contains("\"new_offset\": 1048576"), "{json}");
    let leftovers = std::fs::read_dir(&d).unwrap().count();
    assert_eq!(leftovers, 3, "no temporary file is left behind");
}

fn refused(name: &str, module: &[u8], extra: &[&str], message: &str) {
    let d = dir(name);
    let input = d.join("in.wasm");
    std::fs::write(&input, module).unwrap();
    let out = d.join("out.wasm");
    let mut args = vec![input.to_str().unwrap(), "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, text) = run(&args);
    assert_ne!(code, 0, "{name}: {text}");
    assert!(
        text.contains(message),
        "{name}: expected `{message}` in: {text}"
    );
    assert!(!out.exists(), "{name}: an output file was written");
    assert_eq!(
        std::fs::read_dir(&d).unwrap().count(),
        1,
        "{name}: files left behind"
    );
}

#[test]
fn bad_input_is_an_error_and_no_output_file() {
    let seg = ["--segment", "0x10000:64KiB"];
    refused("notwasm", b"not a module", &seg, "not a WebAssembly module");
    let invalid = wat::parse_str("(module (func (result i32) (i64.const 1)))").unwrap();
    refused("invalid", &invalid, &seg, "invalid module");
    let two_pages = wat::parse_str("(module (memory 2))").unwrap();
    refused(
        "small",
        &two_pages,
        &seg,
        "minimum memory needs 131072 bytes",
    );
    let m64 = wat::parse_str("(module (memory i64 1))").unwrap();
    refused("memory64", &m64, &seg, "64-bit memory");
    let good = wat::parse_str(GOOD).unwrap();
    refused(
        "overlap",
        &good,
        &[
            "--segment",
            "0x10000:64KiB",
            "--shared",
            "env.frame=0x18000:64KiB:write",
        ],
        "overlap",
    );
    refused(
        "readonly",
        &wat::parse_str(r#"(module (import "env" "frame" (memory 1)) (func (i32.store 0 (i32.const 0) (i32.const 1))))"#).unwrap(),
        &["--segment", "0x10000:64KiB", "--shared", "env.frame=0x40000:64KiB:read"],
        "granted `read` only",
    );
    refused("nosegment", &good, &[], "--segment");
    refused(
        "badsize",
        &good,
        &["--segment", "0x10000:64KB"],
        "decimal units",
    );
    refused(
        "unknownshared",
        &good,
        &[
            "--segment",
            "0:64KiB",
            "--shared",
            "env.nope=1MiB:64KiB:read",
        ],
        "imports no memory",
    );
    refused(
        "masked",
        &good,
        &[
            "--segment",
            "0:0x30000",
            "--isolation",
            "masked",
            "--shared",
            "env.frame=1MiB:64KiB:read",
        ],
        "power-of-two",
    );
}

#[test]
fn numbers_parse_as_the_spec_says() {
    assert_eq!(parse_size("4096").unwrap(), 4096);
    assert_eq!(parse_size("0x1000").unwrap(), 4096);
    assert_eq!(parse_size("64KiB").unwrap(), 65536);
    assert_eq!(parse_size("0x10MiB").unwrap(), 16 << 20);
    assert_eq!(parse_size("1 GiB").unwrap(), 1 << 30);
    assert!(parse_size("12MB").is_err());
    assert!(parse_size("abc").is_err());
    assert!(parse_size("0x").is_err());
    assert!(parse_size("99999999999999GiB").is_err());
    let s = parse_segment("0x500000:1MiB").unwrap();
    assert_eq!((s.base, s.size), (0x500000, 1 << 20));
    let w = parse_shared("env.frame=0x500000:1MiB:read").unwrap();
    assert_eq!(
        (w.module.as_str(), w.field.as_str(), w.access),
        ("env", "frame", Access::Read)
    );
    assert_eq!(w.segment.base, 0x500000);
    assert!(parse_shared("env.frame=0x500000:1MiB:rw").is_err());
    assert!(parse_shared("frame=0:1:read").is_err());
}

#[test]
fn no_validate_skips_types_but_not_encoding_or_refusals() {
    let seg = ["--segment", "0x10000:64KiB", "--no-validate"];
    // Still errors, and no output file: what the reader, the scanner's
    // fallback decoder and the plan see without validation.
    refused(
        "nv-notwasm",
        b"not a module",
        &seg,
        "not a WebAssembly module",
    );
    let two_pages = wat::parse_str("(module (memory 2))").unwrap();
    refused(
        "nv-small",
        &two_pages,
        &seg,
        "minimum memory needs 131072 bytes",
    );
    let m64 = wat::parse_str("(module (memory i64 1))").unwrap();
    refused("nv-memory64", &m64, &seg, "64-bit memory");
    refused(
        "nv-readonly",
        &wat::parse_str(r#"(module (import "env" "frame" (memory 1)) (func (i32.store 0 (i32.const 0) (i32.const 1))))"#).unwrap(),
        &["--segment", "0x10000:64KiB", "--shared", "env.frame=0x40000:64KiB:read", "--no-validate"],
        "granted `read` only",
    );
    // An opcode nobody defines (0xFF) in a body: the scanner falls back to
    // wasmparser's decoder, which reports it.
    let mut bad_opcode =
        wat::parse_str("(module (memory 1) (func (drop (i32.load (i32.const 0)))))").unwrap();
    let at = bad_opcode.len() - 2; // the body's `drop`, before its `end`
    assert_eq!(bad_opcode[at], 0x1A);
    bad_opcode[at] = 0xFF;
    refused("nv-opcode", &bad_opcode, &seg, "invalid module");
    // Truncated in the middle of the code section.
    let good = wat::parse_str(GOOD).unwrap();
    refused(
        "nv-truncated",
        &good[..good.len() - 3],
        &[
            "--segment",
            "0x10000:64KiB",
            "--shared",
            "env.frame=1MiB:64KiB:write",
            "--no-validate",
        ],
        "invalid module",
    );
    // Two functions declared, one body: the parser sees it.
    let section = |id: u8, content: &[u8]| [&[id, content.len() as u8][..], content].concat();
    let counts = [
        &b"\0asm\x01\0\0\0"[..],
        &section(1, &[1, 0x60, 0, 0]),
        &section(3, &[2, 0, 0]),
        &section(10, &[1, 2, 0, 0x0B]),
    ]
    .concat();
    refused("nv-counts", &counts, &seg, "inconsistent lengths");
    // A type error is what it does not see: the module is rebased, and the
    // output is as invalid as the input (an engine rejects it).
    let d = dir("nv-types");
    let input = d.join("in.wasm");
    let ill_typed = "(module (memory 1) (func (result i32) (i64.load (i32.const 0))))";
    std::fs::write(&input, wat::parse_str(ill_typed).unwrap()).unwrap();
    let out = d.join("out.wasm");
    let (code, text) = run(&[
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--segment",
        "0x10000:64KiB",
        "--no-validate",
    ]);
    assert_eq!(code, 0, "{text}");
    let wasm = std::fs::read(&out).unwrap();
    assert!(
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&wasm)
            .is_err()
    );
    // The same module validated: refused.
    let (code, text) = run(&[
        input.to_str().unwrap(),
        "-o",
        d.join("out2.wasm").to_str().unwrap(),
        "--segment",
        "0x10000:64KiB",
    ]);
    assert_ne!(code, 0, "{text}");
    assert!(!d.join("out2.wasm").exists());
}

/// A directory with `GOOD` as `in.wasm` and its rebasing into a plain
/// `out.wasm`: the directory, the input and the expected output bytes.
fn good_rebased(name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
    let d = dir(name);
    let input = d.join("in.wasm");
    std::fs::write(&input, wat::parse_str(GOOD).unwrap()).unwrap();
    let file = d.join("out.wasm");
    rebase_good_to(&input, &file);
    let expected = std::fs::read(&file).unwrap();
    (d, input, expected)
}

/// Rebases `GOOD` into `out` with the arguments every output test uses.
fn rebase_good_to(input: &std::path::Path, out: &std::path::Path) {
    let (code, text) = run(&[
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--segment",
        "0x100000:64KiB",
        "--shared",
        "env.frame=2MiB:0x10000:read",
    ]);
    assert_eq!(code, 0, "{text}");
}

/// An output that is not a regular file is written in place, never replaced
/// by the rename that makes file outputs atomic: a pipe stays a pipe and the
/// module arrives through it (as `/dev/null` stays a device — a rename over
/// it once turned this machine's `/dev/null` into a regular file).
#[cfg(unix)]
#[test]
fn a_pipe_as_output_stays_a_pipe() {
    use std::os::unix::fs::FileTypeExt;
    let (d, input, expected) = good_rebased("fifo");
    let fifo = d.join("pipe.wasm");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    rebase_good_to(&input, &fifo);
    // Checked before joining: had the pipe been renamed over, the reader
    // would wait for a writer forever (the test process ends regardless).
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the pipe was replaced: {kind:?}");
    assert_eq!(reader.join().unwrap(), expected);
    let names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        3,
        "no temporary file is left behind: {names:?}"
    );
}

/// A symbolic link as output is followed: the link stays a link and the
/// file it points to (existing or not yet) receives the module.
#[cfg(unix)]
#[test]
fn a_symbolic_link_as_output_is_followed() {
    let (d, input, expected) = good_rebased("link");
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/real.wasm"), b"old").unwrap();
    // A relative link to an existing file, and a chain ending nowhere yet.
    for (link, points_to, target) in [
        ("link.wasm", "sub/real.wasm", "sub/real.wasm"),
        ("chain.wasm", "link2.wasm", "sub/new.wasm"),
    ] {
        std::os::unix::fs::symlink(points_to, d.join(link)).unwrap();
        if link == "chain.wasm" {
            std::os::unix::fs::symlink("sub/new.wasm", d.join("link2.wasm")).unwrap();
        }
        rebase_good_to(&input, &d.join(link));
        let kind = std::fs::symlink_metadata(d.join(link)).unwrap().file_type();
        assert!(kind.is_symlink(), "{link} was replaced: {kind:?}");
        assert_eq!(std::fs::read(d.join(target)).unwrap(), expected, "{link}");
    }
    let leftovers = std::fs::read_dir(d.join("sub"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0);
}

/// An output written over an existing file keeps that file's permissions
/// (the atomic rename replaces the file, and the new one had the default
/// mode: a read-only-for-others or executable output changed mode on every
/// rebase); a new output gets the default.
#[cfg(unix)]
#[test]
fn an_existing_output_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let (d, input, expected) = good_rebased("mode");
    let out = d.join("kept.wasm");
    for mode in [0o600, 0o750, 0o644] {
        std::fs::write(&out, b"old").unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(mode)).unwrap();
        rebase_good_to(&input, &out);
        assert_eq!(std::fs::read(&out).unwrap(), expected);
        let now = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(now, mode, "mode {mode:o} became {now:o}");
    }
}

/// Both outputs or neither: when the module cannot be written (here its
/// directory does not exist), the relocation table is not left behind
/// either, in whichever order the paths are given.
#[test]
fn an_output_that_cannot_be_written_leaves_no_relocation_table() {
    let d = dir("pair");
    let input = d.join("in.wasm");
    std::fs::write(&input, wat::parse_str(GOOD).unwrap()).unwrap();
    let relocs = d.join("relocs.json");
    let out = d.join("missing/out.wasm");
    for (a, b) in [(&out, &relocs), (&relocs, &out)] {
        let (flag_a, flag_b) = if a == &out {
            ("-o", "--relocations")
        } else {
            ("--relocations", "-o")
        };
        let (code, text) = run(&[
            input.to_str().unwrap(),
            flag_a,
            a.to_str().unwrap(),
            flag_b,
            b.to_str().unwrap(),
            "--segment",
            "0x100000:64KiB",
            "--shared",
            "env.frame=2MiB:0x10000:read",
        ]);
        assert_ne!(code, 0, "{text}");
        assert!(text.contains("cannot write"), "{text}");
        assert!(!relocs.exists(), "the relocation table was left behind");
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "files left behind"
        );
    }
    // A table that cannot be written leaves no module either.
    let out = d.join("out.wasm");
    let (code, text) = run(&[
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--relocations",
        d.join("missing/relocs.json").to_str().unwrap(),
        "--segment",
        "0x100000:64KiB",
        "--shared",
        "env.frame=2MiB:0x10000:read",
    ]);
    assert_ne!(code, 0, "{text}");
    assert!(!out.exists(), "the module was written without its table");
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
}

#[test]
fn help_says_what_no_validate_leaves_unchecked() {
    let (code, text) = run(&["--help"]);
    assert_eq!(code, 0, "{text}");
    for needle in [
        "--no-validate",
        "Still refused",
        "Not checked",
        "a data offset holding\nmore than constant-expression instructions, or not leaving exactly one value",
        "sections the rebaser does not parse (table, element, tag, custom)",
        "isolation is promised for valid input",
    ] {
        assert!(
            text.contains(needle),
            "`{needle}` missing from --help:\n{text}"
        );
    }
}
