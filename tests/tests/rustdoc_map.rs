//! The memory map in rustdoc: `cargo doc` on a one-file crate that declares
//! `plan.rs`, then the struct's HTML page must hold the map tables with the
//! numbers the macro placed — the same numbers the runtime's `regions()`
//! reports for the same plan, included here.

use std::path::{Path, PathBuf};
use std::process::Command;

include!("rustdoc_map/plan.rs");

/// Renders the docs of a crate holding `plan.rs` and returns the HTML page
/// of `DocPlan`.
fn rendered_page() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rustdoc-map");
    let src = work.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let manifest = format!(
        "[package]\nname = \"doc_plan\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nflight-mem = {{ path = {:?} }}\n\n[workspace]\n",
        root.join("flight-mem")
    );
    std::fs::write(work.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        format!("//! Docs fixture.\n{}", include_str!("rustdoc_map/plan.rs")),
    )
    .unwrap();
    // The workspace's lock file pins the versions already downloaded, so
    // the build needs no network.
    std::fs::copy(root.join("Cargo.lock"), work.join("Cargo.lock")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["doc", "--offline", "--no-deps", "--quiet", "--target-dir"])
        .arg(work.join("target"))
        .current_dir(&work)
        .env_remove("RUSTDOCFLAGS")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo doc failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(work.join("target/doc/doc_plan/struct.DocPlan.html"))
        .expect("rustdoc wrote the struct's page")
}

/// The cells of every row of every `<table>` in `html`, tags stripped.
fn table_rows(html: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for row in html.split("<tr>").skip(1) {
        let row = row.split("</tr>").next().unwrap();
        let mut cells: Vec<String> = Vec::new();
        for part in row.split('<').skip(1) {
            let Some((tag, text)) = part.split_once('>') else {
                continue;
            };
            let name = tag.split_whitespace().next().unwrap_or("");
            if name == "td" || name == "th" {
                cells.push(text.to_owned());
            } else if let Some(last) = cells.last_mut() {
                last.push_str(text);
            }
        }
        rows.push(
            cells
                .into_iter()
                .map(|c| {
                    c.replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&amp;", "&")
                        .trim()
                        .to_owned()
                })
                .collect(),
        );
    }
    rows
}

/// A byte count as the map prints it: `8 MiB`, or `1.50 KiB (1536 B)`
/// when it is not a whole number of its unit.
fn human(bytes: usize) -> String {
    for (unit, scale) in [("MiB", 1usize << 20), ("KiB", 1 << 10)] {
        if bytes >= scale {
            if bytes.is_multiple_of(scale) {
                return format!("{} {unit}", bytes / scale);
            }
            let hundredths = bytes * 100 / scale;
            return format!(
                "{}.{:02} {unit} ({bytes} B)",
                hundredths / 100,
                hundredths % 100
            );
        }
    }
    format!("{bytes} B")
}

#[test]
fn cargo_doc_shows_the_memory_map_with_the_placed_numbers() {
    let page = rendered_page();
    assert!(
        page.contains("id=\"memory-map\""),
        "no map heading in the page"
    );
    let rows = table_rows(&page);
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.first().map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no row for `{name}` in {rows:#?}"))
    };
    // Every entry with a literal size, and every entry after which nothing
    // but literals came, shows the runtime's offset, size, alignment and
    // guard.
    let regions = DocPlan::regions();
    for info in regions {
        let r = row(info.name);
        assert_eq!(r[1], info.kind.keyword(), "kind of {}: {r:?}", info.name);
        assert_eq!(r[3], info.memory.name(), "memory of {}: {r:?}", info.name);
        assert_eq!(
            r[6],
            info.align.to_string(),
            "align of {}: {r:?}",
            info.name
        );
        let guard = match info.name {
            "physics" => format!("{} both sides", human(info.guard)),
            _ => human(info.guard),
        };
        assert_eq!(r[7], guard, "guard of {}: {r:?}", info.name);
        match info.name {
            // Sized by rustc: the expression, and the offsets after it
            // are left to the compiler.
            "particles" => {
                assert_eq!(r[4], format!("{:#x}", info.offset));
                assert_eq!(r[5], "[Particle; 4096]");
            }
            "emergency" => {
                assert_eq!(r[4], "after the previous entry");
                assert_eq!(r[5], human(info.size));
            }
            "scratch" => {
                assert_eq!(r[4], format!("{:#x}", info.offset));
                assert_eq!(r[5], "1 MiB (2 × 512 KiB)");
            }
            _ => {
                assert_eq!(
                    r[4],
                    format!("{:#x}", info.offset),
                    "offset of {}",
                    info.name
                );
                assert_eq!(r[5], human(info.size), "size of {}", info.name);
            }
        }
    }
    assert_eq!(row("video")[2], "tlsf");
    assert_eq!(row("audio")[2], "buddy");
    assert_eq!(row("scratch")[2], "frames");
    assert_eq!(row("temp")[2], "stack");
    assert_eq!(row("particles")[2], "pool");
    assert_eq!(row("emergency")[2], "tlsf");
    assert_eq!(row("physics")[2], "tlsf");
    assert_eq!(row("frame_data")[2], "none (shared)");
    assert_eq!(row("temp")[7], "1.50 KiB (1536 B)");

    // The bank table: `video` alone in VRAM is exact, main RAM holds the
    // typed pool and so gives bounds.
    let banks = DocPlan::banks();
    let vram = banks.iter().find(|b| b.entries().contains(&0)).unwrap();
    let vram_row = row(vram.name);
    assert_eq!(vram_row[2], human(vram.budget));
    assert_eq!(vram_row[3], human(vram.used));
    assert_eq!(vram_row[4], human(vram.budget - vram.used));
    let main = banks
        .iter()
        .find(|b| b.entries().iter().any(|&i| regions[i].name == "heap"))
        .unwrap();
    let main_row = row(main.name);
    assert!(main_row[3].starts_with("at least "), "{main_row:?}");
    assert!(main_row[4].starts_with("at most "), "{main_row:?}");
    assert!(page.contains("checked at compile time") || page.contains("const assertion"));
}
