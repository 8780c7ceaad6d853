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

use common::with_body;
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
                std::os::unix::fs::symlink(
                    &victim_table,
                    d.join(format!(".table.json.{pid}.tmp")),
                )
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
