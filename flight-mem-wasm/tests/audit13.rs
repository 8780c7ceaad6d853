//! audit13: flight-rebase's outputs never replace its input.
//!
//! `-o X --relocations X` was refused (audit9), but nothing compared the
//! relocation table's path with the input's: `--relocations IN.wasm` (a
//! slip of the shell's completion, or a link to it) replaced the module
//! being rebased with a JSON table, and the run succeeded.

mod common;

use common::{cli, fresh_dir, with_body};

#[test]
#[cfg(unix)]
fn the_relocation_table_never_replaces_the_input() {
    let d = fresh_dir("audit13-input");
    let input = d.join("in.wasm");
    let wasm = with_body(&[], false);
    let out = d.join("out.wasm");
    let link = d.join("link.wasm");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    let dotted = d.join(".").join("in.wasm");
    // (A hard link is another directory entry: the table renamed over it
    // leaves the input's, as audit10 found for `-o`.)
    for table in [&input, &link, &dotted] {
        std::fs::write(&input, &wasm).unwrap();
        let _ = std::fs::remove_file(&out);
        let (code, text) = cli(&[
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--relocations",
            table.to_str().unwrap(),
            "--segment",
            "0x100000:64KiB",
        ]);
        assert_ne!(code, 0, "{}: accepted: {text}", table.display());
        assert!(text.contains("input"), "{text}");
        assert_eq!(
            std::fs::read(&input).unwrap(),
            wasm,
            "{}: the input was replaced",
            table.display()
        );
        assert!(!out.exists(), "{}: an output was written", table.display());
    }
    let _ = std::fs::remove_dir_all(&d);
}
