//! Unit tests of the pipeline through its library entry points, and the
//! never-panics test over generated and mutated layouts.

use std::panic::{AssertUnwindSafe, catch_unwind};

use proc_macro2::{Delimiter, Group, Punct, Spacing, TokenStream, TokenTree};

use crate::analyze::literal_footprint;
use crate::expand::{expand, front};

mod fixed_end;
mod pool_bytes;

fn tokens(source: &str) -> TokenStream {
    source.parse().expect("test input lexes")
}

/// The messages of every error of `source`, in order.
fn errors(source: &str) -> Vec<String> {
    match front(tokens(source)) {
        Ok(_) => Vec::new(),
        Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
    }
}

/// Asserts `source` has exactly one error and that it contains `needle`.
#[track_caller]
fn one_error(source: &str, needle: &str) {
    let found = errors(source);
    assert_eq!(
        found.len(),
        1,
        "expected one error containing {needle:?}, got {found:#?}"
    );
    assert!(
        found[0].contains(needle),
        "expected {needle:?} in {:?}",
        found[0]
    );
}

const SPEC_EXAMPLE: &str = r#"
    /// Main memory plan of the Dreamcast build.
    pub layout Game for Dreamcast {
        guard = 4 KiB;
        align = 32;
        pressure { low: 50%, medium: 25%, high: 10%, critical: 5% }

        /// Textures and vertex buffers, in video RAM.
        region video = 6 MiB { memory: Video, allocator: tlsf, align: 256 };
        region audio = 1 MiB { memory: Audio, allocator: buddy };
        region heap = 8 MiB;
        frame scratch = [512 KiB; 2];
        stack temp = 256 KiB;
        pool particles = [Particle; 4096];
        pool packets = [1536 B; 64] { memory: Network, align: 64 };
        reserve emergency = 512 KiB;
    }
"#;

#[test]
fn spec_example_is_valid_and_placed_in_order() {
    let (model, analyses) = front(tokens(SPEC_EXAMPLE)).unwrap_or_else(|e| panic!("{e}"));
    let layout = &model.layouts[0];
    assert_eq!(layout.name, "Game");
    assert_eq!(layout.pressure, [50, 25, 10, 5]);
    let names: Vec<String> = layout.entries.iter().map(|e| e.name.to_string()).collect();
    assert_eq!(
        names,
        [
            "video",
            "audio",
            "heap",
            "scratch",
            "temp",
            "particles",
            "packets",
            "emergency"
        ]
    );
    let bank_of = |name: &str| {
        let entry = layout.entries.iter().find(|e| e.name == name).unwrap();
        layout.banks[entry.bank].name.as_str()
    };
    assert_eq!(bank_of("video"), "vram");
    assert_eq!(bank_of("audio"), "aram");
    assert_eq!(bank_of("heap"), "main");
    assert_eq!(bank_of("packets"), "main");
    assert_eq!(literal_footprint(&layout.entries[3]), Some(1 << 20));
    let main = &analyses[0].banks[0];
    assert_eq!(main.entries, [2, 3, 4, 5, 6, 7]);
    assert_eq!(main.storage_align, 4096);
}

#[test]
fn all_platforms_accept_a_small_plan() {
    for platform in ["Dreamcast", "Psx", "Psp", "Psp2000", "Gba", "N64", "Wasm32"] {
        let source = format!(
            "layout L for {platform} {{ region heap = 4 KiB; stack s = 1 KiB; frame f = [1 KiB; 2]; }}"
        );
        assert_eq!(errors(&source), Vec::<String>::new(), "{platform}");
    }
    assert_eq!(
        errors("layout L for Desktop { budget = 1 MiB; region heap = 4 KiB; }"),
        Vec::<String>::new()
    );
}

#[test]
fn every_error_is_reported_in_one_pass() {
    let found = errors(
        "layout G for Dreamcast {
            regoin a = 1 MiB;
            region b = 1 MB;
            region c = 1 MiB { allocater: tlsf };
            region d = 1 MiB { memory: Vidoe };
            pool e = [Particle; 0];
        }",
    );
    assert_eq!(found.len(), 5, "{found:#?}");
    assert!(found[0].contains("did you mean `region`"));
    assert!(found[1].contains("write `1 MiB`"));
    assert!(found[2].contains("did you mean `allocator`"));
    assert!(found[3].contains("did you mean `Video`"));
    assert!(found[4].contains("zero values"));
}

#[test]
fn units_and_sizes() {
    one_error(
        "layout G { budget = 1 MiB; region a = 64; }",
        "missing unit: write `64 B`",
    );
    one_error(
        "layout G { budget = 1 MiB; region a = 64 KB; }",
        "write `64 KiB`",
    );
    one_error(
        "layout G { budget = 1 MiB; region a = 64kb; }",
        "write `64 KiB`",
    );
    one_error(
        "layout G { budget = 1 MiB; region a = 64 Kib; }",
        "write `64 KiB`",
    );
    one_error(
        "layout G { budget = 1 MiB; region a = 64 Mebi; }",
        "unknown unit `Mebi`",
    );
    one_error(
        "layout G { budget = 1 MiB; region a = 1.5 MiB; }",
        "whole numbers",
    );
    one_error(
        "layout G { budget = 1 MiB; region a = 0 KiB; }",
        "zero sizes",
    );
    one_error(
        "layout G { budget = 1 MiB; region a = 99999999999 GiB; }",
        "does not fit in 64 bits",
    );
    one_error("layout G { budget = 0 B; }", "zero sizes");
    assert!(errors("layout G { budget = 1 MiB; guard = 0 B; region a = (4 * 1024); }").is_empty());
}

#[test]
fn keywords_keys_and_values_suggest() {
    one_error("layout G for Dremcast { }", "did you mean `Dreamcast`");
    one_error("layout G for Xbox { }", "expected one of `Dreamcast`");
    one_error("layuot G { }", "did you mean `layout`");
    one_error(
        "layout G { budget = 1 MiB; region a = 1 KiB { allocator: tslf }; }",
        "did you mean `tlsf`",
    );
    one_error(
        "layout G { budget = 1 MiB; region a = 1 KiB { flags: [dma, zerod] }; }",
        "did you mean `zeroed`",
    );
    one_error(
        "layout G { budget = 1 MiB; stack a = 1 KiB { allocator: tlsf }; }",
        "applies to `region` entries only",
    );
    one_error(
        "layout G { budget = 1 MiB; region a = 1 KiB { section: \".x\" }; }",
        "applies to banks",
    );
    one_error(
        "layout G { budget = 1 MiB; region a = 1 KiB { base: 0x100 }; }",
        "`unsafe bank`",
    );
    one_error(
        "layout G { budget = 1 MiB; pressure { lo: 50% } }",
        "did you mean `low`",
    );
}

#[test]
fn duplicates() {
    one_error(
        "layout G { budget = 1 MiB; region a = 1 KiB; stack a = 1 KiB; }",
        "duplicate entry `a`",
    );
    one_error(
        "layout G { budget = 1 MiB; region a = 1 KiB; region alloc_a = 1 KiB; }",
        "already generates",
    );
    one_error(
        "layout G { budget = 1 MiB; region stats = 1 KiB; }",
        "layout-wide",
    );
    one_error(
        "layout G { budget = 1 MiB; guard = 0 B; guard = 0 B; }",
        "duplicate `guard`",
    );
    one_error(
        "layout G { budget = 1 MiB; region a = 1 KiB { align: 8, align: 16 }; }",
        "duplicate option",
    );
    one_error(
        "layout G { bank a = 1 KiB; bank a = 2 KiB; }",
        "duplicate bank",
    );
    one_error(
        "layout G { budget = 1 MiB; } layout G { budget = 1 MiB; }",
        "duplicate layout",
    );
}

#[test]
fn alignment_and_counts() {
    one_error(
        "layout G { budget = 1 MiB; align = 48; }",
        "use `32` or `64`",
    );
    one_error(
        "layout G { budget = 1 MiB; region a = 1 KiB { align: 0 }; }",
        "not a power of two",
    );
    one_error(
        "layout G { budget = 1 MiB; frame f = [1 KiB; 0]; }",
        "zero frames",
    );
    one_error(
        "layout G { budget = 1 MiB; pool p = 1 KiB; }",
        "needs a count",
    );
    one_error(
        "layout G { budget = 1 MiB; region r = [1 KiB; 2]; }",
        "only `frame` and `pool`",
    );
    one_error(
        "layout G { budget = 1 MiB; frame f = [u32; 2]; }",
        "holds bytes",
    );
}

#[test]
fn banks_and_memory_types() {
    one_error(
        "layout G for Gba { region n = 1 KiB { memory: Network }; }",
        "no bank of this layout holds `Network`",
    );
    one_error(
        "layout G for Dreamcast { region n = 1 KiB { bank: vrma }; }",
        "did you mean `vram`",
    );
    one_error(
        "layout G for Dreamcast { region n = 1 KiB { bank: vram, memory: Audio }; }",
        "does not hold `Audio`",
    );
    one_error(
        "layout G for Dreamcast { bank extra = 1 MiB; }",
        "declare banks only in a layout without `for`",
    );
    one_error("layout G for Dreamcast { budget = 1 MiB; }", "fixed banks");
    one_error("layout G for Desktop { region a = 1 KiB; }", "add `budget");
    one_error("layout G { region a = 1 KiB; }", "has no memory");
    one_error(
        "layout G { budget = 1 MiB; bank b = 1 MiB; }",
        "either `budget`",
    );
    one_error(
        "layout G { bank b = 1 MiB { base: 0x1000 }; }",
        "declare it `unsafe bank b`",
    );
    one_error(
        "layout G { unsafe bank b = 1 MiB; }",
        "`unsafe` is needed only with a fixed `base`",
    );
    one_error(
        "layout G { budget = 1 MiB; unsafe region b = 1 MiB; }",
        "only a `bank` can be `unsafe`",
    );
    one_error(
        "layout G { unsafe bank b = 1 MiB { base: 0x1010 }; region r = 1 KiB { align: 32 }; }",
        "aligned to 16 bytes",
    );
    one_error(
        "layout G { bank b = 1 MiB { memory: [Video, Sound] }; }",
        "unknown memory type `Sound`",
    );
    one_error(
        "layout G { bank b = 1 MiB { flags: [critical] }; }",
        "not a bank",
    );
    assert!(errors("layout G { unsafe bank v = 1 MiB { base: 0x0600_0000, memory: Video }; region t = 64 KiB { memory: Video }; }").is_empty());
    assert!(errors("layout G { unsafe bank v = 1 MiB { section: \".vram\", memory: Video }; region t = 64 KiB { memory: Video }; }").is_empty());
    one_error(
        "layout G { unsafe bank v = 1 MiB { base: 0x0600_0000, memory: Video, section: \".vram\" }; region t = 64 KiB { memory: Video }; }",
        "has both a `base` and a `section`",
    );
}

#[test]
fn pressure_thresholds() {
    one_error(
        "layout G { budget = 1 MiB; pressure { low: 50%, medium: 60% } }",
        "must decrease strictly",
    );
    one_error(
        "layout G { budget = 1 MiB; pressure { low: 20% } }",
        "`medium` is 25% by default",
    );
    one_error(
        "layout G { budget = 1 MiB; pressure { low: 100% } }",
        "from 1% to 99%",
    );
    one_error(
        "layout G { budget = 1 MiB; pressure { low: 50 } }",
        "write the threshold as a percentage: `50%`",
    );
    one_error(
        "layout G { budget = 1 MiB; pressure { low: 50%, low: 40% } }",
        "duplicate pressure level",
    );
}

#[test]
fn budget_with_literals_blames_the_crossing_entry() {
    let found = errors(
        "layout Game for Dreamcast { guard = 4 KiB; region heap = 12 MiB; region more = 3 MiB; stack s = 1 MiB; }",
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    let message = &found[0];
    for part in [
        "layout `Game` does not fit bank `main` of `Dreamcast`",
        "needs 16.01 MiB",
        "has 15.93 MiB",
        "over by 76 KiB",
        "`s` crosses the budget",
        "largest entries: `heap` 12 MiB, `more` 3 MiB, `s` 1 MiB",
    ] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
    one_error(
        "layout G for Gba { region big = 300 KiB; }",
        "larger than bank `ewram`",
    );
    // Symbolic sizes count as zero: the literal part alone is over.
    one_error(
        "layout G { budget = 1 MiB; pool p = [u64; 10]; region r = 600 KiB; region q = 600 KiB; }",
        "needs at least",
    );
    assert!(errors("layout G { budget = 1 MiB; pool p = [u64; 100000000]; }").is_empty());
    // Literal block pools count exactly what `BlockPool::bytes_for` does:
    // 200 blocks of 1536 B and a 4-byte link each.
    one_error(
        "layout G for Gba { pool packets = [1536 B; 200]; }",
        "`packets` (300.78 KiB) is larger",
    );
    // A pool no `BlockPool` holds (more slots than its 32-bit index) is
    // refused as such, on its count (audit11), not as over budget.
    one_error(
        "layout G for Gba { pool packets = [1 B; 5000000000]; }",
        "more slots than its 32-bit slot index allows",
    );
    // One `BlockPool` holds but the macro does not size (past 2 GiB)
    // counts at least its blocks at the aligned stride.
    one_error(
        "layout G for Gba { pool packets = [1 B; 4000000000]; }",
        "`packets` (at least ",
    );
    let found = errors(
        "layout G for Gba { align = 4; guard = 0 B; region heap = 200 KiB; pool rx = [1535 B; 50]; }",
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].contains("needs 275.19 KiB"), "{}", found[0]);
    assert!(found[0].contains("`rx` 75.19 KiB"), "{}", found[0]);
}

#[test]
fn components_shared_regions_and_attributes() {
    let valid = errors("layout G { budget = 16 MiB; component physics = 4 MiB; }");
    assert!(valid.is_empty(), "a lone component is valid: {valid:#?}");
    one_error(
        "layout G { budget = 1 MiB; component p = 64 KiB; shared data = 1 KiB { access: [q: read] }; }",
        "`q` in the access list of `data` is not a component of this layout; expected one of `p`",
    );
    one_error(
        "layout G { budget = 1 MiB; shared data = 1 KiB { access: [a: read] }; }",
        "this layout declares no `component`",
    );
    one_error(
        "layout G { budget = 1 MiB; component p = 64 KiB; shared data = 1 KiB; }",
        "shared region `data` needs an access list",
    );
    one_error(
        "layout G { budget = 1 MiB; component p = 64 KiB; shared data = 1 KiB { access: [p: read, p: write] }; }",
        "listed twice",
    );
    one_error(
        "layout G { budget = 1 MiB; component p = 64 KiB; shared data = 1 KiB { access: [p: rw] }; }",
        "unknown access `rw`",
    );
    one_error(
        "layout G { budget = 1 MiB; region heap = 64 KiB { allocator: none }; }",
        "`allocator: none` is for `component` segments",
    );
    one_error(
        "layout G { budget = 1 MiB; component c = 64 KiB { allocator: compact }; }",
        "`allocator: compact` is for regions",
    );
    one_error(
        "layout G { budget = 1 MiB; stack s = 64 KiB { access: [p: read] }; }",
        "`access` is not an option of a `stack`",
    );
    one_error(
        "layout G { budget = 1 MiB; component frame_data = 64 KiB; shared frameData = 1 KiB { access: [frame_data: read] }; }",
        "would both be the type `g::FrameData`",
    );
    one_error(
        "layout G { budget = 1 MiB; #[inline] region a = 1 KiB; }",
        "only doc comments",
    );
    one_error(
        "layout G { budget = 1 MiB; /// doc\n guard = 0 B; }",
        "not allowed on the `guard` setting",
    );
}

#[test]
fn syntax_errors_recover_at_the_next_item() {
    let found =
        errors("layout G { budget = 1 MiB; region a 1 KiB; region b = ; region c = 1 KiB }");
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[2].contains("expected `;`"));
    one_error(
        "layout G { budget = 1 MiB; region a = 1 KiB region b = 1 KiB; }",
        "expected `;`",
    );
    one_error("layout G", "expected the layout's body");
    one_error("", "expected a layout");
}

#[test]
fn invalid_plans_still_expand_their_struct() {
    let output = expand(tokens(
        "pub layout Game for Dremcast { region heap = 1 MiB; }",
    ))
    .to_string();
    assert!(output.contains("compile_error"), "{output}");
    assert!(output.contains("struct Game"), "{output}");
    assert!(output.contains("fn heap"), "{output}");
}

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A random plan, valid more often than not.
fn generate(rng: &mut Rng) -> String {
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
    // Mostly valid pieces, with a rare bad one, so the mix of valid and
    // invalid plans stays useful before mutation.
    let size = |rng: &mut Rng| match rng.below(40) {
        0 => format!("({} * 1024)", rng.below(64) + 1),
        1 => "(core::mem::size_of::<u64>() * 16)".to_owned(),
        2 => format!("{} {}", rng.below(600), rng.pick(&["MB", "", "GiB", "KB"])),
        3 => "0 B".to_owned(),
        _ => format!("{} {}", 1 + rng.below(64), rng.pick(&["B", "KiB", "KiB"])),
    };
    let memory = |rng: &mut Rng| {
        if rng.below(4) == 0 {
            format!("memory: {}, ", rng.pick(MEMORY))
        } else {
            String::new()
        }
    };
    let mut out = String::new();
    for layout in 0..1 + rng.below(2) {
        out.push_str(&format!("/// Layout {layout}.\npub layout L{layout}"));
        let platform = if rng.below(4) == 0 {
            None
        } else {
            Some(*rng.pick(PLATFORMS))
        };
        if let Some(p) = platform {
            out.push_str(&format!(" for {p}"));
        }
        out.push_str(" {\n");
        if platform.is_none() || platform == Some("Desktop") || rng.below(8) == 0 {
            if rng.below(3) == 0 && platform.is_none() {
                for b in 0..1 + rng.below(3) {
                    let unsafe_kw = if rng.below(4) == 0 { "unsafe " } else { "" };
                    out.push_str(&format!(
                        "{unsafe_kw}bank b{b} = {} {{ memory: [{}, {}]",
                        size(rng),
                        rng.pick(MEMORY),
                        rng.pick(&["System", "Video"])
                    ));
                    if rng.below(3) == 0 {
                        out.push_str(&format!(", base: {:#x}", rng.next() >> 40));
                    }
                    out.push_str(" };\n");
                }
            } else {
                out.push_str(&format!("budget = {} MiB;\n", 1 + rng.below(64)));
            }
        }
        if rng.below(2) == 0 {
            out.push_str(&format!(
                "guard = {} B;\nalign = {};\n",
                rng.below(5000),
                1u64 << rng.below(12)
            ));
        }
        if rng.below(3) == 0 {
            out.push_str(&format!(
                "pressure {{ low: {}%, medium: {}%, high: {}%, critical: {}% }}\n",
                60 + rng.below(40),
                30 + rng.below(30),
                10 + rng.below(20),
                rng.below(11)
            ));
        }
        for e in 0..rng.below(12) {
            out.push_str("/// An entry.\n");
            let entry = match rng.below(6) {
                0 => format!(
                    "region e{e} = {} {{ {}allocator: {} }}",
                    size(rng),
                    memory(rng),
                    rng.pick(&["tlsf", "buddy", "freelist", "tlsf", "buddy", "slab"])
                ),
                1 => format!(
                    "frame e{e} = [{}; {}]",
                    // A frame needs 32 B at least (its record and a granule).
                    size(rng).replace(" B", " KiB"),
                    rng.below(4) + usize::from(rng.below(8) != 0)
                ),
                2 => format!("stack e{e} = {} {{ {} }}", size(rng), memory(rng)),
                3 => format!(
                    "pool e{e} = [{}; {}] {{ align: {} }}",
                    rng.pick(&["u64", "[f32; 3]", "(u8, u16)", "u8", "1536 B", "(64)"]),
                    1 + rng.below(500),
                    1u64 << rng.below(10)
                ),
                4 => format!(
                    "reserve e{e} = {} {{ guard: {}, flags: [critical, dma] }}",
                    size(rng),
                    size(rng)
                ),
                _ => format!(
                    "region e{e} = {} {{ bank: {} }}",
                    size(rng),
                    rng.pick(&["main", "main", "vram", "b0", "nope"])
                ),
            };
            out.push_str(&entry);
            out.push_str(";\n");
        }
        out.push_str("}\n");
    }
    out
}

/// Junk a mutation may insert.
fn junk(rng: &mut Rng) -> TokenTree {
    let choices: [fn() -> TokenTree; 12] = [
        || Punct::new(';', Spacing::Alone).into(),
        || Punct::new('=', Spacing::Alone).into(),
        || Punct::new(':', Spacing::Alone).into(),
        || Punct::new(',', Spacing::Alone).into(),
        || Punct::new('%', Spacing::Alone).into(),
        || Punct::new('#', Spacing::Alone).into(),
        || Group::new(Delimiter::Brace, TokenStream::new()).into(),
        || Group::new(Delimiter::Bracket, "u8; 4".parse().unwrap()).into(),
        || Group::new(Delimiter::Parenthesis, TokenStream::new()).into(),
        || {
            "18446744073709551616"
                .parse::<TokenStream>()
                .unwrap()
                .into_iter()
                .next()
                .unwrap()
        },
        || {
            "unsafe"
                .parse::<TokenStream>()
                .unwrap()
                .into_iter()
                .next()
                .unwrap()
        },
        || {
            "1.5e3"
                .parse::<TokenStream>()
                .unwrap()
                .into_iter()
                .next()
                .unwrap()
        },
    ];
    choices[rng.below(choices.len())]()
}

/// Deletes, swaps, duplicates or inserts one token, at any depth.
fn mutate(stream: TokenStream, rng: &mut Rng) -> TokenStream {
    let mut trees: Vec<TokenTree> = stream.into_iter().collect();
    let groups: Vec<usize> = trees
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t, TokenTree::Group(_)))
        .map(|(i, _)| i)
        .collect();
    if !groups.is_empty() && rng.below(3) != 0 {
        let i = *rng.pick(&groups);
        if let TokenTree::Group(group) = &trees[i] {
            let mut inner = Group::new(group.delimiter(), mutate(group.stream(), rng));
            inner.set_span(group.span());
            trees[i] = inner.into();
        }
        return trees.into_iter().collect();
    }
    let len = trees.len();
    match rng.below(4) {
        0 if len > 0 => {
            trees.remove(rng.below(len));
        }
        1 if len > 1 => {
            let (a, b) = (rng.below(len), rng.below(len));
            trees.swap(a, b);
        }
        2 if len > 0 => {
            let i = rng.below(len);
            let copy = trees[i].clone();
            trees.insert(i, copy);
        }
        _ => {
            let at = rng.below(len + 1);
            trees.insert(at, junk(rng));
        }
    }
    trees.into_iter().collect()
}

/// The parser, checker and analysis never panic: 100,000 generated plans,
/// most of them mutated, each ends in `Ok` or a `syn::Error`; every 8th also
/// goes through code generation.
#[test]
fn never_panics_on_generated_and_mutated_layouts() {
    let cases: usize = std::env::var("FLIGHT_MEM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut failed) = (0usize, 0usize);
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for case in 0..cases {
        let source = generate(&mut rng);
        let mut stream = tokens(&source);
        let mutations = if case % 4 == 0 { 0 } else { 1 + rng.below(4) };
        for _ in 0..mutations {
            stream = mutate(stream, &mut rng);
        }
        let input = stream.clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let result = front(input.clone()).is_ok();
            if case % 8 == 0 {
                let _ = expand(input);
            }
            result
        }));
        match outcome {
            Ok(true) => ok += 1,
            Ok(false) => failed += 1,
            Err(_) => {
                std::panic::set_hook(previous_hook);
                panic!("case {case} panicked on input:\n{stream}");
            }
        }
    }
    std::panic::set_hook(previous_hook);
    // Both outcomes must be well represented, or the generator is broken.
    assert!(ok > cases / 20, "only {ok} of {cases} plans were valid");
    eprintln!("{ok} valid, {failed} invalid");
    assert!(
        failed > cases / 4,
        "only {failed} of {cases} plans were invalid"
    );
}

#[test]
fn valid_plans_expand_to_storage_tables_and_named_assertions() {
    let output = expand(tokens(
        "pub layout GameLayout {
            unsafe bank fast = 64 KiB { base: 0x2000_0000, memory: [System, Pool] };
            unsafe bank slow = 1 MiB { memory: Video, section: \".slow\" };
            region heap = 16 KiB;
            pool things = [u64; 8];
            region tex = 64 KiB { memory: Video };
        }",
    ))
    .to_string();
    assert!(!output.contains("compile_error"), "{output}");
    for needle in [
        "struct GameLayout",
        "_GAME_LAYOUT_FITS_FAST",
        // `things` (slot 1 of `fast`) is sized by rustc: an arm of its own.
        "crossing { 1usize => if",
        "_GAME_LAYOUT_FAST_ALIGNED",
        "with_exposed_provenance_mut :: < u8 > (536870912)",
        "link_section = \".slow\"",
        "fn alloc_things (value : u64)",
        "impl :: flight_mem :: Layout for GameLayout",
    ] {
        assert!(output.contains(needle), "{needle:?} missing from {output}");
    }
    // `heap` and `tex` are placed and proven by the macro (literal sizes
    // up to them): no arm for `heap` (slot 0 of `fast`), no assertion for
    // `slow`; `things` is sized by rustc.
    for absent in ["crossing { 0usize", "_GAME_LAYOUT_FITS_SLOW"] {
        assert!(!output.contains(absent), "{absent:?} in {output}");
    }
    // The fixed bank gets no static storage; the other one does.
    assert!(
        !output.contains("__FLIGHT_MEM_GameLayout_STORAGE_0"),
        "{output}"
    );
    assert!(
        output.contains("__FLIGHT_MEM_GameLayout_STORAGE_1"),
        "{output}"
    );
}

#[test]
fn assertion_names_are_upper_snake_case() {
    use crate::codegen::upper_snake;
    assert_eq!(upper_snake("Game"), "GAME");
    assert_eq!(upper_snake("GameLayout"), "GAME_LAYOUT");
    assert_eq!(upper_snake("Psp2000Plan"), "PSP2000_PLAN");
    assert_eq!(upper_snake("vram"), "VRAM");
}

/// Found by `cargo fuzz` (fuzz/, target macro_front_end): a frame entry of
/// 2^63 - 1 bytes times 2^64 - 1 frames panicked with an arithmetic overflow
/// while the over-budget message printed its size (`errors::format_bytes`).
#[test]
fn a_frame_entry_near_u128_max_is_an_error_not_a_panic() {
    let found = errors(
        "pub layout G { budget = 1 KiB; frame f = [9223372036854775807 B; 18446744073709551615]; }",
    );
    // The frame-count rule now refuses it first; the formatter that
    // overflowed is checked at the sizes that reached it.
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].contains("at most 255"), "{found:#?}");
    for bytes in [
        u128::MAX,
        u128::MAX - 1,
        u128::from(u64::MAX) * u128::from(u64::MAX),
    ] {
        assert!(crate::errors::format_bytes(bytes).ends_with("TiB"));
    }
}

/// The macro places literal entries itself (and emits their figures as
/// literals); the runtime's `BankPlan::place` places the rest in const
/// context. Both must agree to the byte, on random banks of every entry
/// kind with literal sizes, alignments, guards and component leads.
#[test]
fn macro_placement_matches_the_runtime_plan() {
    use flight_mem::__private::{BankPlan, Slot};
    const K: usize = 8;
    let mut rng = Rng(0x51A7_E0F5_EED5_0001);
    let kinds = ["region", "stack", "reserve", "frame", "component", "pool"];
    let mut compared = 0;
    for case in 0..400 {
        let count = 1 + rng.below(K);
        let mut body = String::new();
        for i in 0..count {
            let kind = *rng.pick(&kinds);
            let size = 1 + rng.below(5000);
            let align = 1usize << rng.below(13);
            let guard = [0, 1, 16, 100, 4096][rng.below(5)];
            let shape = if kind == "frame" {
                format!("[{} B; {}]", 32 + size, 1 + rng.below(3))
            } else if kind == "pool" {
                format!("[{} B; {}]", 1 + rng.below(300), 1 + rng.below(20))
            } else {
                format!("{size} B")
            };
            let options = if kind == "component" {
                format!("{{ align: {align}, guard: {guard} B, allocator: none }}")
            } else {
                format!("{{ align: {align}, guard: {guard} B }}")
            };
            body.push_str(&format!("{kind} e{i} = {shape} {options};\n"));
        }
        let source = format!("layout L {{ budget = 1 MiB; {body} }}");
        let (model, analyses) = front(tokens(&source)).unwrap_or_else(|e| panic!("{source}: {e}"));
        let layout = &model.layouts[0];
        let bank = &analyses[0].banks[0];
        let mut slots = [Slot::new("", 0, 1, 0); K];
        for (slot, &index) in slots.iter_mut().zip(&bank.entries) {
            let entry = &layout.entries[index];
            let guard = match &entry.guard {
                crate::model::Size::Literal { bytes, .. } => *bytes as usize,
                crate::model::Size::Expr { .. } => unreachable!("literal guards only"),
            };
            // A pool's bytes as the runtime computes them, not the macro.
            let size = match &entry.shape {
                crate::model::Shape::Blocks { block, count } => flight_mem::BlockPool::bytes_for(
                    block.literal().expect("literal sizes only") as usize,
                    entry.align as usize,
                    *count as usize,
                ),
                _ => literal_footprint(entry).expect("literal sizes only") as usize,
            };
            *slot = Slot {
                name: "",
                size,
                align: entry.align as usize,
                guard,
                lead: if entry.kind == crate::vocabulary::EntryKind::Component {
                    guard
                } else {
                    0
                },
            };
        }
        // Zero-sized trailing slots with alignment 1 move nothing.
        let plan = BankPlan::<K>::place(1 << 20, 4096, slots);
        for (slot, placed) in bank.placed.iter().enumerate() {
            assert!(placed.exact, "case {case}: {source}");
            assert_eq!(
                placed.offset, plan.offsets[slot] as u128,
                "case {case} slot {slot}: {source}"
            );
            assert_eq!(
                placed.lead, plan.leads[slot] as u128,
                "case {case} slot {slot}: {source}"
            );
            assert_eq!(placed.size, plan.slots[slot].size as u128);
            compared += 1;
        }
        match bank.exact_needed {
            Some(needed) => assert_eq!(needed as usize, plan.needed, "case {case}: {source}"),
            None => assert!(
                !plan.fits(),
                "case {case}: the macro gave up on a plan that fits: {source}"
            ),
        }
    }
    assert!(compared > 1000, "only {compared} entries compared");
}
