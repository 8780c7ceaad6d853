//! The `memory_layout!` front end (parse → check → analyze → codegen) on
//! arbitrary input: it must never panic, whatever the tokens; errors are
//! `compile_error!`s in the output, which must still parse as Rust items.
//!
//! Two modes, chosen by the first byte:
//! - text: the rest of the input, lossily decoded, lexed by `proc_macro2`
//!   (inputs that do not lex are skipped: rustc would never call the macro);
//! - grammar: the rest drives a generator over the layout language's
//!   vocabulary (that of `flight-mem-macros/src/tests.rs`'s never-panics
//!   test, plus every keyword the checker knows), so that most inputs get
//!   past the parser into checking, placement and code generation, with
//!   fuzz-chosen numbers and junk tokens spliced in.
//!
//! The macro crate is a proc-macro crate and cannot be linked as a library,
//! so its modules are compiled into this target from their sources.
#![no_main]
// The front end's modules are compiled as they are; what only the proc-macro
// entry point or the unit tests use is dead code here.
#![allow(dead_code)]

use std::fmt::Write;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use proc_macro2::TokenStream;
use quote::ToTokens;

// MUST MIRROR flight-mem-macros/src/lib.rs: one line per module that lib.rs
// declares (all but `tests`), so that `crate::parse` etc. resolve as there.
// Renaming, adding or removing a module of the macro means editing this list.
#[path = "../../flight-mem-macros/src/analyze.rs"]
mod analyze;
#[path = "../../flight-mem-macros/src/check/mod.rs"]
mod check;
#[path = "../../flight-mem-macros/src/codegen/mod.rs"]
mod codegen;
#[path = "../../flight-mem-macros/src/errors.rs"]
mod errors;
#[path = "../../flight-mem-macros/src/expand.rs"]
mod expand;
#[path = "../../flight-mem-macros/src/model.rs"]
mod model;
#[path = "../../flight-mem-macros/src/parse.rs"]
mod parse;
#[path = "../../flight-mem-macros/src/platforms.rs"]
mod platforms;
#[path = "../../flight-mem-macros/src/vocabulary.rs"]
mod vocabulary;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let source = if mode & 1 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        match Plan::arbitrary_take_rest(Unstructured::new(rest)) {
            Ok(plan) => plan.render(),
            Err(_) => return,
        }
    };
    let Ok(tokens) = source.parse::<TokenStream>() else {
        return;
    };
    let output = expand::expand(tokens.clone());
    // Parsing the expansion costs four times the expansion: every other
    // input (bit 1 of the mode byte) pays it.
    if mode & 2 == 0 {
        return;
    }
    // The macro passes `( const-expr )` sizes and `[T; N]` types through to
    // rustc, which reports a bad one at the user's own tokens: an input
    // whose parenthesised groups are not Rust cannot expand to Rust.
    if !user_groups_are_rust(tokens) {
        return;
    }
    if let Err(error) = syn::parse2::<syn::File>(output.clone()) {
        panic!("the expansion is not Rust items ({error}):\n{output}\ninput:\n{source}");
    }
});

/// Whether every parenthesised group of the input is an expression or a
/// type, at any depth.
fn user_groups_are_rust(tokens: TokenStream) -> bool {
    tokens.into_iter().all(|tree| match tree {
        proc_macro2::TokenTree::Group(group) => {
            let rust = group.delimiter() != proc_macro2::Delimiter::Parenthesis
                || syn::parse2::<syn::Expr>(group.stream()).is_ok()
                || syn::parse2::<syn::Type>(group.clone().into_token_stream()).is_ok();
            rust && user_groups_are_rust(group.stream())
        }
        _ => true,
    })
}

// The vocabulary: the never-panics generator's, plus the keywords, units and
// names `check.rs`, `vocabulary.rs` and `platforms.rs` match on.
const PLATFORMS: &[&str] = &[
    "Dreamcast",
    "Psx",
    "Psp",
    "Psp2000",
    "Gba",
    "N64",
    "Wasm32",
    "Desktop",
    "Ps9",
];
const MEMORY: &[&str] = &[
    "System",
    "Video",
    "Audio",
    "Network",
    "Shared",
    "Temporary",
    "Stack",
    "Pool",
    "Vram",
];
const UNITS: &[&str] = &[
    "B", "KiB", "MiB", "GiB", "KB", "MB", "GB", "kb", "k", "M", "bytes", "byte", "", "TiB",
];
const KINDS: &[&str] = &[
    "region",
    "frame",
    "stack",
    "pool",
    "reserve",
    "component",
    "shared",
    "slab",
];
const ALLOCATORS: &[&str] = &["tlsf", "buddy", "freelist", "linear", "frames", "slab"];
const OPTION_KEYS: &[&str] = &[
    "memory",
    "allocator",
    "align",
    "guard",
    "bank",
    "flags",
    "section",
    "base",
    "size",
];
const FLAGS: &[&str] = &[
    "dma",
    "gpu",
    "cacheable",
    "uncached",
    "zeroed",
    "critical",
    "fast",
];
const LEVELS: &[&str] = &["low", "medium", "high", "critical", "extreme"];
const SETTINGS: &[&str] = &["budget", "guard", "align"];
const BANKS: &[&str] = &[
    "main", "vram", "aram", "spu", "rdram", "iwram", "ewram", "scratch", "b0", "b1", "nope",
];
/// Entry names: a few collide with each other and with generated methods.
const NAMES: &[&str] = &[
    "heap",
    "video",
    "temp",
    "e0",
    "e1",
    "stats",
    "map",
    "regions",
    "banks",
    "owner_of",
    "validate",
    "deallocate",
    "table",
    "r#type",
];
const TYPES: &[&str] = &[
    "u64",
    "[f32; 3]",
    "(u8, u16)",
    "u8",
    "Particle",
    "()",
    "[u8; 0]",
    "&'static str",
];
const EXPRS: &[&str] = &[
    "(core::mem::size_of::<u64>() * 16)",
    "(64)",
    "(1 << 40)",
    "(usize::MAX)",
    "(0)",
    "(N)",
    "()",
];
/// Junk a splice inserts: the never-panics test's, and a few more.
const JUNK: &[&str] = &[
    ";",
    "=",
    ":",
    ",",
    "%",
    "#",
    "{}",
    "[u8; 4]",
    "()",
    "18446744073709551616",
    "unsafe",
    "1.5e3",
    "-1",
    "'a'",
    "\"s\"",
    "layout",
    "for",
    "pub",
    "///",
    "0x",
    "..",
    "@",
];

fn pick<'a>(u: &mut Unstructured<'_>, items: &[&'a str]) -> arbitrary::Result<&'a str> {
    Ok(items[u.choose_index(items.len())?])
}

/// A number: mostly small or a power of two, sometimes any `u64` or beyond.
fn int(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(match u.int_in_range(0u8..=9)? {
        0..=3 => u.int_in_range(0u32..=600)?.to_string(),
        4..=6 => (1u64 << u.int_in_range(0u32..=63)?).to_string(),
        7 => u.arbitrary::<u64>()?.to_string(),
        8 => format!("{:#x}", u.arbitrary::<u64>()?),
        _ => pick(
            u,
            &[
                "18446744073709551616",
                "1_000",
                "0b1",
                "1.5",
                "1e3",
                "4_294_967_296",
            ],
        )?
        .to_owned(),
    })
}

fn size(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(if u.ratio(1u8, 8)? {
        pick(u, EXPRS)?.to_owned()
    } else {
        format!("{} {}", int(u)?, pick(u, UNITS)?)
    })
}

/// Rarely, a junk token.
fn junk(u: &mut Unstructured<'_>, out: &mut String) -> arbitrary::Result<()> {
    if u.ratio(1u8, 16)? {
        write!(out, " {} ", pick(u, JUNK)?).unwrap();
    }
    Ok(())
}

fn options(u: &mut Unstructured<'_>, out: &mut String) -> arbitrary::Result<()> {
    if !u.ratio(1u8, 2)? {
        return Ok(());
    }
    out.push_str(" {");
    for _ in 0..u.int_in_range(0u8..=4)? {
        let key = pick(u, OPTION_KEYS)?;
        write!(out, " {key}: ").unwrap();
        let value = match (key, u.ratio(1u8, 10)?) {
            (_, true) => int(u)?,
            ("memory", _) if u.ratio(1u8, 3)? => {
                format!("[{}, {}]", pick(u, MEMORY)?, pick(u, MEMORY)?)
            }
            ("memory", _) => pick(u, MEMORY)?.to_owned(),
            ("allocator", _) => pick(u, ALLOCATORS)?.to_owned(),
            ("align", _) | ("base", _) => int(u)?,
            ("guard", _) | ("size", _) => size(u)?,
            ("bank", _) => pick(u, BANKS)?.to_owned(),
            ("flags", _) => format!("[{}, {}]", pick(u, FLAGS)?, pick(u, FLAGS)?),
            _ => "\".fast\"".to_owned(),
        };
        out.push_str(&value);
        junk(u, out)?;
        out.push(',');
    }
    out.push_str(" }");
    Ok(())
}

/// One layout item: a setting, a bank, an entry or junk.
fn item(u: &mut Unstructured<'_>, out: &mut String) -> arbitrary::Result<()> {
    match u.int_in_range(0u8..=9)? {
        0 => {
            let setting = pick(u, SETTINGS)?;
            let value = if setting == "align" {
                int(u)?
            } else {
                size(u)?
            };
            write!(out, "{setting} = {value};").unwrap();
        }
        1 => {
            out.push_str("pressure {");
            for _ in 0..u.int_in_range(0u8..=5)? {
                write!(out, " {}: {}%,", pick(u, LEVELS)?, int(u)?).unwrap();
            }
            out.push('}');
        }
        2 => {
            let unsafe_kw = if u.ratio(1u8, 3)? { "unsafe " } else { "" };
            write!(out, "{unsafe_kw}bank {} = {}", pick(u, BANKS)?, size(u)?).unwrap();
            options(u, out)?;
            out.push(';');
        }
        3 => write!(out, " {} ", pick(u, JUNK)?).unwrap(),
        _ => {
            if u.ratio(1u8, 4)? {
                out.push_str("/// An entry.\n");
            }
            let kind = pick(u, KINDS)?;
            write!(out, "{kind} {} = ", pick(u, NAMES)?).unwrap();
            match u.int_in_range(0u8..=3)? {
                0 | 1 => out.push_str(&size(u)?),
                2 => write!(out, "[{}; {}]", size(u)?, int(u)?).unwrap(),
                _ => write!(out, "[{}; {}]", pick(u, TYPES)?, int(u)?).unwrap(),
            }
            junk(u, out)?;
            options(u, out)?;
            out.push(';');
        }
    }
    junk(u, out)
}

/// A whole input: one to three layouts.
struct Plan(String);

impl<'a> Arbitrary<'a> for Plan {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut out = String::new();
        for layout in 0..u.int_in_range(1u8..=3)? {
            if u.ratio(1u8, 2)? {
                out.push_str("/// A layout.\n");
            }
            let vis = if u.ratio(3u8, 4)? { "pub " } else { "" };
            let name = pick(u, &["Game", "L", "GameLayout", "Psp2000Plan", "self"])?;
            // Without the index, two layouts may share a name.
            let suffix = if u.ratio(3u8, 4)? {
                layout.to_string()
            } else {
                String::new()
            };
            write!(out, "{vis}layout {name}{suffix}").unwrap();
            if u.ratio(3u8, 4)? {
                write!(out, " for {}", pick(u, PLATFORMS)?).unwrap();
            }
            out.push_str(" {\n");
            for _ in 0..u.int_in_range(0u8..=16)? {
                item(u, &mut out)?;
                out.push('\n');
            }
            out.push_str("}\n");
        }
        Ok(Plan(out))
    }
}

impl Plan {
    fn render(self) -> String {
        self.0
    }
}
