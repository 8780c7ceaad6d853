//! `flight_mem_wasm::rebase` on arbitrary bytes with arbitrary options:
//! the first [`CONFIG_BYTES`] bytes of the input choose the options (mode,
//! segment, windows, validation, relocation table, threads), the rest is
//! the module. It must never panic; an `Err` is fine. An `Ok` of a module
//! that validates must pass `check_output` (the output validates, imports
//! the unified memory, the relocation table is consistent) and
//! `check_same_other_ways`; without validation, a valid module gives what
//! the validating path gives, and an invalid one only must not panic.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use flight_mem_fuzz::wasm::{PAGE, check_output, check_same_other_ways, valid};
use flight_mem_wasm::{Access, Isolation, Options, Segment, SharedWindow, rebase};
use libfuzzer_sys::fuzz_target;
use wasmparser::{Parser, Payload, TypeRef, WasmFeatures};

/// Bytes in front of the module that choose the options.
const CONFIG_BYTES: usize = 36;

#[derive(Arbitrary, Debug)]
struct Config {
    mode: u8,
    flags: u8,
    base: Number,
    size: Number,
    imported_pages: u8,
    import_name: u8,
    windows: [Window; 2],
}

#[derive(Arbitrary, Debug)]
struct Window {
    /// Bit 7: present; bit 6: writable; the rest picks the import.
    pick: u8,
    base: Number,
    size: Number,
}

/// A number shaped to reach the edges: raw, pages, a power of two, small.
#[derive(Arbitrary, Debug)]
struct Number {
    shape: u8,
    raw: u32,
}

impl Number {
    fn value(&self) -> u64 {
        let raw = u64::from(self.raw);
        match self.shape % 5 {
            0 => raw,
            1 => (raw % 0x1_0000) * PAGE,
            2 => 1 << (raw % 33),
            3 => raw % 0x40 * PAGE + (raw >> 8) % 4 * 16,
            _ => raw % 0x1_0000,
        }
    }
}

/// The names of the module's memory imports (for windows to map), read
/// leniently from whatever the input holds.
fn memory_imports(wasm: &[u8]) -> Vec<(String, String)> {
    let mut names = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::ImportSection(r)) => {
                for import in r.into_imports().flatten() {
                    if let TypeRef::Memory(_) = import.ty {
                        names.push((import.module.to_string(), import.name.to_string()));
                    }
                }
            }
            Ok(Payload::CodeSectionStart { .. }) | Err(_) => break,
            _ => {}
        }
    }
    names
}

fn options(c: &Config, wasm: &[u8]) -> Options {
    let segment = Segment {
        base: c.base.value(),
        size: c.size.value(),
    };
    let mut o = Options::new(segment);
    o.isolation = [Isolation::Checked, Isolation::Masked, Isolation::Trusted][c.mode as usize % 3];
    o.validate = c.flags & 1 == 0;
    o.relocations = c.flags & 2 != 0;
    o.allow_unused_windows = c.flags & 4 != 0;
    o.threads = 1 + usize::from(c.flags & 8 != 0);
    if c.flags & 16 != 0 {
        o.imported_pages = Some(u64::from(c.imported_pages));
    }
    o.memory_import = match c.import_name % 4 {
        0 | 1 => ("env".into(), "memory".into()),
        2 => (String::new(), String::new()),
        _ => ("env".into(), "frame".into()),
    };
    let imports = memory_imports(wasm);
    for w in &c.windows {
        if w.pick & 0x80 == 0 {
            continue;
        }
        let (module, field) = match imports.get(usize::from(w.pick & 0x3f) % (imports.len() + 1)) {
            Some(name) => name.clone(),
            None => ("env".into(), "frame".into()),
        };
        o.shared.push(SharedWindow {
            module,
            field,
            segment: Segment {
                base: w.base.value(),
                size: w.size.value(),
            },
            access: if w.pick & 0x40 != 0 {
                Access::Write
            } else {
                Access::Read
            },
        });
    }
    o
}

fuzz_target!(|data: &[u8]| {
    if data.len() < CONFIG_BYTES {
        return;
    }
    let (config, wasm) = data.split_at(CONFIG_BYTES);
    let Ok(config) = Config::arbitrary(&mut Unstructured::new(config)) else {
        return;
    };
    let opts = options(&config, wasm);
    let result = rebase(wasm, &opts);
    let is_valid = valid(wasm, WasmFeatures::all());
    if !opts.validate {
        if is_valid {
            // The fast path on a valid module: what the validating path
            // gives, refusals included.
            let mut slow = opts.clone();
            slow.validate = true;
            match (&result, rebase(wasm, &slow)) {
                (Ok(a), Ok(b)) => assert!(a.wasm == b.wasm, "the fast path wrote other bytes"),
                (Err(_), Err(_)) => {}
                (a, b) => panic!(
                    "fast and validating paths disagree: {:?} vs {:?}",
                    a.as_ref().err(),
                    b.err()
                ),
            }
        }
        return;
    }
    let Ok(out) = result else { return };
    assert!(is_valid, "the validating path took an invalid module");
    check_output(wasm, &opts, &out);
    check_same_other_ways(wasm, &opts, &out);
});
