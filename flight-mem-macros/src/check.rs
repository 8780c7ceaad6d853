//! Semantics: resolves the words of the syntax tree (platforms, units, keys,
//! memory types, banks) into a model, and records every violated rule of
//! SPEC §2 except the budget, which `analyze` proves.
//!
//! Every check records its error and goes on with a neutral value, so one
//! build shows every mistake. Errors are spanned on the token to blame and
//! say what to write instead.

use std::collections::HashMap;

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Attribute, LitInt, LitStr, Type, Visibility};

use crate::errors::{Errors, did_you_mean, list, list_all};
use crate::parse::{
    BankAst, ElementAst, EntryAst, Input, ItemAst, LayoutAst, OptionAst, SettingAst, ShapeAst,
    SizeAst, parse_chunk, parse_size,
};
use crate::platforms::{self, BudgetRule, Platform};
use crate::vocabulary::{Kind, MemoryFlag, MemoryType, RegionAllocator};

/// Every layout of a macro call, resolved.
pub(crate) struct Model {
    pub(crate) layouts: Vec<LayoutModel>,
}

pub(crate) struct LayoutModel {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) name: Ident,
    pub(crate) platform: Option<&'static Platform>,
    /// Free-share thresholds in percent: low, medium, high, critical.
    pub(crate) pressure: [u8; 4],
    pub(crate) banks: Vec<BankModel>,
    /// In declaration order.
    pub(crate) entries: Vec<EntryModel>,
    /// Every entry of a known kind as declared, also those that failed to
    /// resolve: the fallback expansion gives each its accessors.
    pub(crate) declared: Vec<Declared>,
    /// Whether no error was found in this layout (set by `check`, cleared by
    /// `analyze`); an invalid layout gets the fallback expansion.
    pub(crate) valid: bool,
    /// Whether an earlier layout of the macro call has the same name (it
    /// then expands to nothing).
    pub(crate) duplicate: bool,
}

/// What the fallback expansion needs to know of an entry.
pub(crate) struct Declared {
    pub(crate) docs: Vec<Attribute>,
    pub(crate) kind: Kind,
    pub(crate) name: Ident,
    /// The value type of a typed pool.
    pub(crate) ty: Option<Box<Type>>,
    /// Whether it is a pool of untyped blocks.
    pub(crate) blocks: bool,
    pub(crate) allocator: RegionAllocator,
}

pub(crate) struct BankModel {
    pub(crate) name: String,
    /// Where bank-wide problems are reported: the bank's name, the platform's
    /// name, or the `budget` keyword.
    pub(crate) span: Span,
    pub(crate) budget: Size,
    /// The bank's address on its hardware, when known.
    pub(crate) address: Option<u64>,
    /// Whether the bank's storage is at `address` (an `unsafe bank` with a
    /// `base`) rather than a static array.
    pub(crate) fixed: bool,
    pub(crate) memory: u16,
    pub(crate) flags: u8,
    pub(crate) section: Option<LitStr>,
}

pub(crate) struct EntryModel {
    pub(crate) docs: Vec<Attribute>,
    pub(crate) kind: Kind,
    pub(crate) name: Ident,
    pub(crate) shape: Shape,
    pub(crate) memory: MemoryType,
    /// The allocator of a `region` (a `reserve` is always TLSF).
    pub(crate) allocator: RegionAllocator,
    pub(crate) align: u64,
    pub(crate) guard: Size,
    /// The entry's own flags (its bank's are added by codegen).
    pub(crate) flags: u8,
    /// Index into `LayoutModel::banks`.
    pub(crate) bank: usize,
}

#[derive(Clone)]
pub(crate) enum Size {
    Literal {
        bytes: u64,
        span: Span,
    },
    /// A parenthesised const expression of type `usize`.
    Expr {
        tokens: TokenStream,
        span: Span,
    },
}

impl Size {
    pub(crate) fn literal(&self) -> Option<u64> {
        match self {
            Self::Literal { bytes, .. } => Some(*bytes),
            Self::Expr { .. } => None,
        }
    }
}

pub(crate) enum Shape {
    /// `region`, `stack`, `reserve`.
    Bytes(Size),
    /// `frame`: `count` frames of `frame` bytes.
    Frames { frame: Size, count: u64 },
    /// `pool` of untyped blocks.
    Blocks { block: Size, count: u64 },
    /// `pool` of values of `ty`.
    Typed { ty: Box<Type>, count: u64 },
}

/// Layout-wide functions an entry name must not shadow.
pub(crate) const RESERVED_NAMES: &[&str] = &[
    "regions",
    "banks",
    "stats",
    "map",
    "owner_of",
    "deallocate",
    "table",
    "pressure",
    "on_pressure",
    "allocate",
    "validate",
    "remove_pressure_callback",
    "arm_guards",
];

const LEVELS: [&str; 4] = ["low", "medium", "high", "critical"];
const DEFAULT_PRESSURE: [u8; 4] = [50, 25, 10, 5];
const UNITS: [(&str, u64); 4] = [
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
];
const ENTRY_KEYS: &[&str] = &["memory", "allocator", "align", "guard", "bank", "flags"];
const BANK_KEYS: &[&str] = &["memory", "flags", "base", "section"];
const ALL_KEYS: &[&str] = &[
    "memory",
    "allocator",
    "align",
    "guard",
    "bank",
    "flags",
    "base",
    "section",
];

/// Resolves and checks every layout, recording errors in `errors`.
pub(crate) fn check(input: Input, errors: &mut Errors) -> Model {
    let mut seen: HashMap<String, Span> = HashMap::new();
    let mut layouts = Vec::new();
    for layout in input.layouts {
        let before = errors.count();
        let name = layout.name.to_string();
        let duplicate = seen.insert(name.clone(), layout.name.span()).is_some();
        if duplicate {
            errors.error(
                layout.name.span(),
                format!("duplicate layout `{name}`; give each layout its own name"),
            );
        }
        let mut model = check_layout(layout, errors);
        model.valid = errors.count() == before;
        model.duplicate = duplicate;
        layouts.push(model);
    }
    Model { layouts }
}

#[derive(Default)]
struct Settings {
    budget: Option<(Ident, Size)>,
    /// A `budget` was written, valid or not.
    budget_written: bool,
    guard: Option<Size>,
    align: Option<u64>,
    pressure: Option<[u8; 4]>,
}

fn check_layout(layout: LayoutAst, errors: &mut Errors) -> LayoutModel {
    let LayoutAst {
        attrs,
        vis,
        name,
        platform: platform_ident,
        items,
    } = layout;
    let platform = platform_ident.as_ref().and_then(|ident| {
        let word = ident.to_string();
        let found = platforms::find(&word);
        if found.is_none() {
            errors.error(
                ident.span(),
                format!(
                    "unknown platform `{word}`{}",
                    did_you_mean(&word, &platforms::names())
                ),
            );
        }
        found
    });

    let mut settings = Settings::default();
    let mut bank_asts = Vec::new();
    let mut entry_asts = Vec::new();
    for item in items {
        match item {
            ItemAst::Setting(setting) => check_setting(setting, &mut settings, errors),
            ItemAst::Bank(bank) => bank_asts.push(bank),
            ItemAst::Entry(entry) => entry_asts.push(entry),
        }
    }

    let banks = resolve_banks(
        &name,
        platform_ident.as_ref(),
        platform,
        &settings,
        bank_asts,
        errors,
    );
    let default_guard = settings.guard.clone().unwrap_or(Size::Literal {
        bytes: platform.map_or(0, Platform::default_guard),
        span: name.span(),
    });
    let default_align = settings
        .align
        .unwrap_or_else(|| platform.map_or(64, Platform::default_align));

    let mut entries: Vec<EntryModel> = Vec::new();
    let mut generated: HashMap<String, String> = HashMap::new();
    let declared: Vec<Declared> = entry_asts.iter().filter_map(declare).collect();
    for entry in entry_asts {
        if let Some(model) = check_entry(entry, &banks, &default_guard, default_align, errors) {
            claim_names(&name, &model, &mut generated, errors);
            entries.push(model);
        }
    }

    LayoutModel {
        attrs,
        vis,
        name,
        platform,
        pressure: settings.pressure.unwrap_or(DEFAULT_PRESSURE),
        banks,
        entries,
        declared,
        valid: true,
        duplicate: false,
    }
}

/// The fallback view of an entry: its kind, name and value type, with a
/// region's allocator when it can be read.
fn declare(entry: &EntryAst) -> Option<Declared> {
    let kind = Kind::from_keyword(&entry.kind.to_string())?;
    let (ty, blocks) = match (&entry.shape, kind) {
        (
            ShapeAst::Array {
                element: ElementAst::Type(ty),
                ..
            },
            Kind::Pool,
        ) => (Some(ty.clone()), false),
        (_, Kind::Pool) => (None, true),
        _ => (None, false),
    };
    let allocator = entry
        .options
        .iter()
        .find(|o| o.key == "allocator")
        .and_then(|o| RegionAllocator::from_name(&o.value.to_string()))
        .unwrap_or(RegionAllocator::Tlsf);
    let docs = entry
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect();
    Some(Declared {
        docs,
        kind,
        name: entry.name.clone(),
        ty,
        blocks,
        allocator,
    })
}

/// Records the functions an entry generates on the layout, and reports a
/// name another entry (or the layout itself) already generates.
fn claim_names(
    layout: &Ident,
    entry: &EntryModel,
    generated: &mut HashMap<String, String>,
    errors: &mut Errors,
) {
    let name = entry.name.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
    if RESERVED_NAMES.contains(&name.as_str()) {
        errors.error(
            entry.name.span(),
            format!("`{name}` is taken by the layout-wide `{layout}::{name}()`; rename this entry"),
        );
        return;
    }
    let mut names = vec![name.clone()];
    if entry.kind != Kind::Reserve {
        names.push(format!("alloc_{name}"));
    }
    if matches!(entry.kind, Kind::Region | Kind::Stack)
        || matches!(entry.shape, Shape::Blocks { .. })
    {
        names.push(format!("free_{name}"));
    }
    for function in names {
        if let Some(owner) = generated.get(&function) {
            if *owner == name {
                errors.error(
                    entry.name.span(),
                    format!("duplicate entry `{name}`; every entry needs its own name"),
                );
            } else {
                errors.error(
                    entry.name.span(),
                    format!("entry `{name}` would generate `{layout}::{function}()`, which entry `{owner}` already generates; rename one of them"),
                );
            }
            return;
        }
    }
    for function in [
        name.clone(),
        format!("alloc_{name}"),
        format!("free_{name}"),
    ] {
        generated.insert(function, name.clone());
    }
}

fn check_setting(setting: SettingAst, settings: &mut Settings, errors: &mut Errors) {
    let keyword = setting.keyword().clone();
    let duplicate = match &setting {
        SettingAst::Budget { .. } => std::mem::replace(&mut settings.budget_written, true),
        SettingAst::Guard { .. } => settings.guard.is_some(),
        SettingAst::Align { .. } => settings.align.is_some(),
        SettingAst::Pressure { .. } => settings.pressure.is_some(),
    };
    if duplicate {
        errors.error(
            keyword.span(),
            format!("duplicate `{keyword}` setting; keep one"),
        );
        return;
    }
    match setting {
        SettingAst::Budget { keyword, size } => {
            if let Some(size) = check_size(&size, false, "a budget", errors) {
                settings.budget = Some((keyword, size));
            }
        }
        SettingAst::Guard { size, .. } => {
            settings.guard = Some(check_size(&size, true, "a guard", errors).unwrap_or(
                Size::Literal {
                    bytes: 0,
                    span: size.span(),
                },
            ));
        }
        SettingAst::Align { value, .. } => {
            settings.align = Some(check_align(&value, errors).unwrap_or(1));
        }
        SettingAst::Pressure { levels, .. } => {
            let mut thresholds = DEFAULT_PRESSURE;
            let mut given: [Option<Span>; 4] = [None; 4];
            for level in levels {
                let word = level.level.to_string();
                let Some(index) = LEVELS.iter().position(|l| *l == word) else {
                    errors.error(
                        level.level.span(),
                        format!(
                            "unknown pressure level `{word}`{}",
                            did_you_mean(&word, &LEVELS)
                        ),
                    );
                    continue;
                };
                if given[index].is_some() {
                    errors.error(
                        level.level.span(),
                        format!("duplicate pressure level `{word}`"),
                    );
                    continue;
                }
                match level.percent.base10_parse::<u8>() {
                    Ok(percent @ 1..=99) => {
                        thresholds[index] = percent;
                        given[index] = Some(level.percent.span());
                    }
                    _ => errors.error(
                        level.percent.span(),
                        format!(
                            "pressure thresholds are free-memory percentages from 1% to 99%, not `{}%`",
                            level.percent.base10_digits()
                        ),
                    ),
                }
            }
            for i in 0..3 {
                if thresholds[i + 1] >= thresholds[i] {
                    let describe = |j: usize| {
                        let default = if given[j].is_none() {
                            " by default"
                        } else {
                            ""
                        };
                        format!("`{}` is {}%{default}", LEVELS[j], thresholds[j])
                    };
                    let span = given[i + 1].or(given[i]).unwrap_or_else(|| keyword.span());
                    errors.error(
                        span,
                        format!(
                            "pressure thresholds must decrease strictly from `low` to `critical`: {} but {}",
                            describe(i),
                            describe(i + 1)
                        ),
                    );
                    break;
                }
            }
            settings.pressure = Some(thresholds);
        }
    }
}

fn resolve_banks(
    layout: &Ident,
    platform_ident: Option<&Ident>,
    platform: Option<&'static Platform>,
    settings: &Settings,
    bank_asts: Vec<BankAst>,
    errors: &mut Errors,
) -> Vec<BankModel> {
    if platform_ident.is_some() && platform.is_none() {
        // The unknown platform is reported; placing entries in no banks
        // would only add noise.
        return Vec::new();
    }
    if let Some(platform) = platform {
        let span = platform_ident.map_or_else(|| layout.span(), Ident::span);
        for bank in &bank_asts {
            errors.error(
                bank.name.span(),
                format!(
                    "layout `{layout}` is `for {}`, whose banks are {}; declare banks only in a layout without `for`",
                    platform.name,
                    list_all(&platform.banks.iter().map(|b| b.name).collect::<Vec<_>>())
                ),
            );
        }
        let mut budget_override = None;
        match (platform.budget, &settings.budget) {
            (BudgetRule::Fixed, Some((keyword, _))) => errors.error(
                keyword.span(),
                format!(
                    "`{}` has fixed banks ({}); `budget` applies to layouts without `for`, `for Desktop` and `for Wasm32`",
                    platform.name,
                    list_all(&platform.banks.iter().map(|b| b.name).collect::<Vec<_>>())
                ),
            ),
            (BudgetRule::Required, None) => {
                errors.error(
                    span,
                    format!("`{}` takes its size from the layout: add `budget = 256 MiB;` (or the size you need)", platform.name),
                );
                return Vec::new();
            }
            (_, Some((keyword, size))) => budget_override = Some((keyword.span(), size.clone())),
            _ => {}
        }
        return platform
            .banks
            .iter()
            .map(|bank| {
                let (span, budget) = budget_override.clone().unwrap_or((
                    span,
                    Size::Literal {
                        bytes: bank.size,
                        span,
                    },
                ));
                BankModel {
                    name: bank.name.to_owned(),
                    span,
                    budget,
                    address: bank.base,
                    fixed: false,
                    memory: bank.memory,
                    flags: bank.flags,
                    section: None,
                }
            })
            .collect();
    }

    if let Some((keyword, budget)) = &settings.budget {
        for bank in &bank_asts {
            errors.error(
                bank.name.span(),
                "a layout has either `budget` (one bank, `main`) or its own `bank`s; remove `budget` or this bank",
            );
        }
        return vec![BankModel {
            name: "main".to_owned(),
            span: keyword.span(),
            budget: budget.clone(),
            address: None,
            fixed: false,
            memory: (1 << MemoryType::ALL.len()) - 1,
            flags: 0,
            section: None,
        }];
    }

    if bank_asts.is_empty() {
        if settings.budget_written {
            // The invalid budget is reported already.
            return Vec::new();
        }
        errors.error(
            layout.span(),
            format!(
                "layout `{layout}` has no memory: name a platform (`layout {layout} for Dreamcast`), set `budget = 64 MiB;` or declare `bank`s"
            ),
        );
        return Vec::new();
    }

    let mut banks: Vec<BankModel> = Vec::new();
    for bank in bank_asts {
        let name = bank.name.to_string();
        if banks.iter().any(|b| b.name == name) {
            errors.error(bank.name.span(), format!("duplicate bank `{name}`"));
            continue;
        }
        if let Some(attr) = bank.attrs.iter().find(|a| !a.path().is_ident("doc")) {
            errors.error(
                syn::spanned::Spanned::span(attr.path()),
                "only doc comments are allowed on banks; remove this attribute",
            );
        }
        let budget = check_size(&bank.size, false, "a bank", errors).unwrap_or(Size::Literal {
            bytes: 1,
            span: bank.size.span(),
        });
        let mut model = BankModel {
            name,
            span: bank.name.span(),
            budget,
            address: None,
            fixed: false,
            memory: (1 << MemoryType::ALL.len()) - 1,
            flags: 0,
            section: None,
        };
        let mut seen: Vec<String> = Vec::new();
        let mut base_span = None;
        for option in &bank.options {
            let key = option.key.to_string();
            if seen.contains(&key) {
                errors.error(option.key.span(), format!("duplicate option `{key}`"));
                continue;
            }
            seen.push(key.clone());
            match key.as_str() {
                "memory" => {
                    if let Some(types) = parse_memory_list(option, errors) {
                        model.memory = types;
                    }
                }
                "flags" => {
                    if let Some(flags) = parse_flags(option, true, errors) {
                        model.flags = flags;
                    }
                }
                "base" => {
                    base_span = Some(option.key.span());
                    if bank.unsafe_token.is_none() {
                        errors.error(
                            option.key.span(),
                            format!(
                                "`base` puts bank `{}` at a fixed address the compiler cannot check; declare it `unsafe bank {}`",
                                model.name, model.name
                            ),
                        );
                    }
                    if let Some(value) =
                        parse_value(option, errors, |input| input.parse::<LitInt>())
                    {
                        match value.base10_parse::<u64>() {
                            Ok(address) if address != 0 => {
                                model.address = Some(address);
                                model.fixed = bank.unsafe_token.is_some();
                            }
                            Ok(_) => errors.error(
                                value.span(),
                                "a bank cannot start at address 0 (the null pointer)",
                            ),
                            Err(error) => errors.push(error),
                        }
                    }
                }
                "section" => {
                    model.section = parse_value(option, errors, |input| input.parse::<LitStr>());
                }
                _ => unknown_key(&key, option, "a bank", BANK_KEYS, errors),
            }
        }
        if let (Some(unsafe_token), None) = (&bank.unsafe_token, base_span) {
            errors.error(
                unsafe_token.span,
                format!("`unsafe` is needed only with a fixed `base` address; add `{{ base: 0x.. }}` or remove `unsafe` from bank `{}`", model.name),
            );
        }
        banks.push(model);
    }
    banks
}

fn unknown_key(key: &str, option: &OptionAst, what: &str, valid: &[&str], errors: &mut Errors) {
    let message = if ALL_KEYS.contains(&key) {
        match key {
            "base" => "`base` applies to an `unsafe bank`, not to entries".to_owned(),
            "section" => {
                "`section` applies to banks (it places the bank's storage); move it to a `bank`"
                    .to_owned()
            }
            "allocator" if what == "a bank" => {
                "`allocator` applies to `region` entries, not banks".to_owned()
            }
            "allocator" => format!(
                "`allocator` applies to `region` entries only; {what} always uses its own allocator"
            ),
            _ => format!(
                "`{key}` is not an option of {what}; its options are {}",
                list(valid)
            ),
        }
    } else {
        format!("unknown option `{key}`{}", did_you_mean(key, valid))
    };
    errors.error(option.key.span(), message);
}

fn check_entry(
    entry: EntryAst,
    banks: &[BankModel],
    default_guard: &Size,
    default_align: u64,
    errors: &mut Errors,
) -> Option<EntryModel> {
    let word = entry.kind.to_string();
    let Some(kind) = Kind::from_keyword(&word) else {
        errors.error(
            entry.kind.span(),
            format!(
                "`{word}` entries are reserved for phase 2 of flight-mem (components and shared segments); declare `region {} = ..;` for now",
                entry.name
            ),
        );
        return None;
    };
    let docs: Vec<Attribute> = entry
        .attrs
        .into_iter()
        .filter(|attr| {
            let doc = attr.path().is_ident("doc");
            if !doc {
                errors.error(
                    syn::spanned::Spanned::span(attr.path()),
                    "only doc comments are allowed on entries; remove this attribute",
                );
            }
            doc
        })
        .collect();
    let name = entry.name;
    let shape = check_shape(kind, &name, entry.shape, errors);

    let mut memory: Option<(MemoryType, Span)> = None;
    let mut allocator = RegionAllocator::Tlsf;
    let mut align = default_align;
    let mut guard = default_guard.clone();
    let mut flags = 0u8;
    let mut bank_choice: Option<(usize, Span)> = None;
    let mut seen: Vec<String> = Vec::new();
    let what = format!("a `{}`", kind.keyword());
    for option in &entry.options {
        let key = option.key.to_string();
        if seen.contains(&key) {
            errors.error(option.key.span(), format!("duplicate option `{key}`"));
            continue;
        }
        seen.push(key.clone());
        match key.as_str() {
            "memory" => {
                if let Some(ident) =
                    parse_value(option, errors, |input| input.call(Ident::parse_any))
                {
                    let word = ident.to_string();
                    match MemoryType::from_name(&word) {
                        Some(ty) => memory = Some((ty, ident.span())),
                        None => errors.error(
                            ident.span(),
                            format!(
                                "unknown memory type `{word}`{}",
                                did_you_mean(&word, &MemoryType::NAMES)
                            ),
                        ),
                    }
                }
            }
            "allocator" if kind == Kind::Region => {
                if let Some(ident) =
                    parse_value(option, errors, |input| input.call(Ident::parse_any))
                {
                    let word = ident.to_string();
                    match RegionAllocator::from_name(&word) {
                        Some(found) => allocator = found,
                        None => errors.error(
                            ident.span(),
                            format!(
                                "unknown allocator `{word}`{}",
                                did_you_mean(&word, &RegionAllocator::NAMES)
                            ),
                        ),
                    }
                }
            }
            "align" => {
                if let Some(value) = parse_value(option, errors, |input| input.parse::<LitInt>()) {
                    align = check_align(&value, errors).unwrap_or(align);
                }
            }
            "guard" => {
                if let Some(size) = parse_value(option, errors, parse_size)
                    && let Some(size) = check_size(&size, true, "a guard", errors)
                {
                    guard = size;
                }
            }
            "bank" => {
                if let Some(ident) =
                    parse_value(option, errors, |input| input.call(Ident::parse_any))
                {
                    let word = ident.to_string();
                    match banks.iter().position(|b| b.name == word) {
                        Some(index) => bank_choice = Some((index, ident.span())),
                        None if banks.is_empty() => {}
                        None => {
                            let names: Vec<&str> = banks.iter().map(|b| b.name.as_str()).collect();
                            errors.error(
                                ident.span(),
                                format!("unknown bank `{word}`{}", did_you_mean(&word, &names)),
                            );
                        }
                    }
                }
            }
            "flags" => {
                if let Some(found) = parse_flags(option, false, errors) {
                    flags = found;
                }
            }
            _ => {
                let valid: Vec<&str> = ENTRY_KEYS
                    .iter()
                    .copied()
                    .filter(|k| kind == Kind::Region || *k != "allocator")
                    .collect();
                unknown_key(&key, option, &what, &valid, errors);
            }
        }
    }

    let shape = shape?;
    if banks.is_empty() {
        return None;
    }
    let (memory, bank) = place_in_bank(kind, &name, memory, bank_choice, banks, errors)?;
    Some(EntryModel {
        docs,
        kind,
        name,
        shape,
        memory,
        allocator,
        align,
        guard,
        flags,
        bank,
    })
}

/// Picks the memory type and bank: the named bank, else the first bank that
/// holds the type. Without `memory:` the kind's default type is used, then
/// `System`, then (with `bank:`) the bank's first type.
fn place_in_bank(
    kind: Kind,
    name: &Ident,
    memory: Option<(MemoryType, Span)>,
    bank_choice: Option<(usize, Span)>,
    banks: &[BankModel],
    errors: &mut Errors,
) -> Option<(MemoryType, usize)> {
    let holds = |bank: &BankModel, ty: MemoryType| bank.memory & ty.bit() != 0;
    let describe = |banks: &[BankModel]| {
        banks
            .iter()
            .map(|b| {
                format!(
                    "`{}` ({})",
                    b.name,
                    MemoryType::names_in(b.memory).join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (memory, bank_choice) {
        (Some((ty, span)), Some((index, _))) => {
            if !holds(&banks[index], ty) {
                errors.error(
                    span,
                    format!(
                        "bank `{}` does not hold `{}` memory; it holds {}",
                        banks[index].name,
                        ty.name(),
                        MemoryType::names_in(banks[index].memory).join(", ")
                    ),
                );
                return None;
            }
            Some((ty, index))
        }
        (Some((ty, span)), None) => match banks.iter().position(|b| holds(b, ty)) {
            Some(index) => Some((ty, index)),
            None => {
                errors.error(
                    span,
                    format!(
                        "no bank of this layout holds `{}` memory; its banks are {}",
                        ty.name(),
                        describe(banks)
                    ),
                );
                None
            }
        },
        (None, Some((index, _))) => {
            let bank = &banks[index];
            let ty = [kind.default_memory(), MemoryType::System]
                .into_iter()
                .find(|ty| holds(bank, *ty))
                .or_else(|| MemoryType::ALL.into_iter().find(|ty| holds(bank, *ty)))?;
            Some((ty, index))
        }
        (None, None) => {
            for ty in [kind.default_memory(), MemoryType::System] {
                if let Some(index) = banks.iter().position(|b| holds(b, ty)) {
                    return Some((ty, index));
                }
            }
            errors.error(
                name.span(),
                format!(
                    "no bank of this layout holds `{}` or `System` memory for `{name}`; add `memory: ..` or `bank: ..` (banks: {})",
                    kind.default_memory().name(),
                    describe(banks)
                ),
            );
            None
        }
    }
}

fn check_shape(kind: Kind, name: &Ident, shape: ShapeAst, errors: &mut Errors) -> Option<Shape> {
    match (kind, shape) {
        (Kind::Region | Kind::Stack | Kind::Reserve, ShapeAst::Size(size)) => {
            check_size(&size, false, &format!("a `{}`", kind.keyword()), errors).map(Shape::Bytes)
        }
        (Kind::Region | Kind::Stack | Kind::Reserve, ShapeAst::Array { bracket, .. }) => {
            errors.error(
                bracket,
                format!(
                    "a `{}` takes a size (`{} {name} = 8 MiB;`); only `frame` and `pool` take `[..; N]`",
                    kind.keyword(),
                    kind.keyword()
                ),
            );
            None
        }
        (Kind::Frame, ShapeAst::Size(size)) => check_size(&size, false, "a frame", errors)
            .and_then(|frame| check_frames(name, frame, 1, None, errors)),
        (
            Kind::Frame,
            ShapeAst::Array {
                element: ElementAst::Type(ty),
                ..
            },
        ) => {
            errors.error(
                syn::spanned::Spanned::span(&ty),
                "a `frame` holds bytes, not values of a type: write `[512 KiB; 2]` for two frames of 512 KiB",
            );
            None
        }
        (
            Kind::Frame,
            ShapeAst::Array {
                element: ElementAst::Size(size),
                count,
                ..
            },
        ) => {
            let frame = check_size(&size, false, "a frame", errors);
            let count_span = count.span();
            let count = check_count(&count, "frames", errors);
            check_frames(name, frame?, count?, Some(count_span), errors)
        }
        (Kind::Pool, ShapeAst::Size(size)) => {
            errors.error(
                size.span(),
                format!("a `pool` needs a count: `pool {name} = [1536 B; 64];` (64 blocks) or `[Particle; 4096]` (4096 values)"),
            );
            None
        }
        (
            Kind::Pool,
            ShapeAst::Array {
                element: ElementAst::Size(size),
                count,
                ..
            },
        ) => {
            let block = check_size(&size, false, "a block", errors);
            let count = check_count(&count, "blocks", errors);
            Some(Shape::Blocks {
                block: block?,
                count: count?,
            })
        }
        (
            Kind::Pool,
            ShapeAst::Array {
                element: ElementAst::Type(ty),
                count,
                ..
            },
        ) => {
            let count = check_count(&count, "values", errors);
            Some(Shape::Typed { ty, count: count? })
        }
    }
}

/// The limits of `Frames`: 1..=255 frames, each able to hold its
/// bookkeeping record and at least one 16-byte granule, and at most 256 MiB
/// (frame offsets are 28 bits). Sizes only rustc knows are checked by a
/// const assertion on the entry instead (see `codegen`).
fn check_frames(
    name: &Ident,
    frame: Size,
    count: u64,
    count_span: Option<proc_macro2::Span>,
    errors: &mut Errors,
) -> Option<Shape> {
    if count > u64::from(MAX_FRAMES) {
        errors.error(
            count_span.unwrap_or_else(|| name.span()),
            format!("`{name}` declares {count} frames; a `frame` entry has at most {MAX_FRAMES}"),
        );
        return None;
    }
    if let Size::Literal { bytes, span } = frame {
        if bytes < MIN_FRAME {
            errors.error(
                span,
                format!(
                    "each frame of `{name}` needs at least {MIN_FRAME} B: {FRAME_RECORD} B of bookkeeping at the end of the entry plus one 16-byte granule; {} leaves no room",
                    crate::errors::human(u128::from(bytes))
                ),
            );
            return None;
        }
        if bytes > MAX_FRAME {
            errors.error(
                span,
                format!(
                    "a frame of `{name}` holds at most 256 MiB (frame offsets are 28 bits); use more, smaller frames"
                ),
            );
            return None;
        }
    }
    Some(Shape::Frames { frame, count })
}

/// Most frames in one `frame` entry.
pub(crate) const MAX_FRAMES: u8 = 255;
/// Bytes of `Frames`' record per frame on 64-bit targets (12 on 32-bit ones;
/// the larger figure is the one that holds everywhere).
pub(crate) const FRAME_RECORD: u64 = 16;
/// The smallest frame: its record plus one granule.
pub(crate) const MIN_FRAME: u64 = FRAME_RECORD + 16;
/// The largest frame: a frame's usable length (its size less its record)
/// must stay below 2^28 bytes.
pub(crate) const MAX_FRAME: u64 = 256 << 20;

fn check_count(count: &LitInt, what: &str, errors: &mut Errors) -> Option<u64> {
    if !count.suffix().is_empty() {
        errors.error(
            count.span(),
            format!(
                "a count of {what} is a plain number: remove `{}`",
                count.suffix()
            ),
        );
        return None;
    }
    match count.base10_parse::<u64>() {
        Ok(0) => {
            errors.error(
                count.span(),
                format!("zero {what}: the count must be at least 1"),
            );
            None
        }
        Ok(n) => Some(n),
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

fn check_align(value: &LitInt, errors: &mut Errors) -> Option<u64> {
    if !value.suffix().is_empty() {
        errors.error(
            value.span(),
            format!(
                "an alignment is a plain number of bytes: remove `{}`",
                value.suffix()
            ),
        );
        return None;
    }
    match value.base10_parse::<u64>() {
        Ok(align) if align.is_power_of_two() && align <= 1 << 29 => Some(align),
        Ok(align) if align.is_power_of_two() => {
            errors.error(
                value.span(),
                "alignments above 512 MiB (2^29) are not supported",
            );
            None
        }
        Ok(align) => {
            let below = if align == 0 {
                1
            } else {
                1u64 << (63 - align.leading_zeros())
            };
            let above = below.saturating_mul(2);
            errors.error(
                value.span(),
                format!("alignment `{align}` is not a power of two; use `{below}` or `{above}`"),
            );
            None
        }
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

/// Resolves a size; `zero_ok` for guards.
fn check_size(size: &SizeAst, zero_ok: bool, what: &str, errors: &mut Errors) -> Option<Size> {
    let (value, unit) = match size {
        SizeAst::Expr { tokens, span } => {
            return Some(Size::Expr {
                tokens: tokens.clone(),
                span: *span,
            });
        }
        SizeAst::Literal { value, unit } => (value, unit),
    };
    let number = match value.base10_parse::<u64>() {
        Ok(number) => number,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    let digits = value.base10_digits();
    let Some((unit, unit_span)) = unit else {
        errors.error(
            value.span(),
            format!("missing unit: write `{digits} B`, `{digits} KiB` or `{digits} MiB`"),
        );
        return None;
    };
    let Some(scale) = UNITS
        .iter()
        .find(|(u, _)| u == unit)
        .map(|(_, scale)| *scale)
    else {
        let binary = match unit.as_str() {
            "KB" | "kB" | "Kb" | "kb" | "K" | "k" | "KIB" | "kib" | "Kib" => Some("KiB"),
            "MB" | "mB" | "Mb" | "mb" | "M" | "m" | "MIB" | "mib" | "Mib" => Some("MiB"),
            "GB" | "gB" | "Gb" | "gb" | "G" | "g" | "GIB" | "gib" | "Gib" => Some("GiB"),
            "b" | "byte" | "bytes" => Some("B"),
            _ => None,
        };
        let message = match binary {
            Some(fix) if unit.len() == 2 && unit.ends_with(['B', 'b']) => format!(
                "`{unit}` is ambiguous (decimal or binary); sizes are binary: write `{digits} {fix}`"
            ),
            Some(fix) => format!("unknown unit `{unit}`; write `{digits} {fix}`"),
            None => format!(
                "unknown unit `{unit}`{}",
                did_you_mean(unit, &UNITS.iter().map(|(u, _)| *u).collect::<Vec<_>>())
            ),
        };
        errors.error(*unit_span, message);
        return None;
    };
    let Some(bytes) = number.checked_mul(scale) else {
        errors.error(
            value.span(),
            format!("{what} of {digits} {unit} does not fit in 64 bits"),
        );
        return None;
    };
    if bytes == 0 && !zero_ok {
        errors.error(
            value.span(),
            format!("{what} cannot be empty: zero sizes are not allowed"),
        );
        return None;
    }
    Some(Size::Literal {
        bytes,
        span: value.span(),
    })
}

/// Parses an option's value tokens with `parser`; errors point into them.
fn parse_value<T>(
    option: &OptionAst,
    errors: &mut Errors,
    parser: impl FnOnce(ParseStream) -> syn::Result<T>,
) -> Option<T> {
    let tokens: Vec<TokenTree> = option.value.clone().into_iter().collect();
    let end = tokens.last().map_or(option.value_span, TokenTree::span);
    match parse_chunk(parser, tokens, end) {
        Ok(value) => Some(value),
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

/// `Video` or `[Video, Audio]`: the bits of the listed types.
fn parse_memory_list(option: &OptionAst, errors: &mut Errors) -> Option<u16> {
    let idents = parse_value(option, errors, parse_ident_list)?;
    let mut bits = 0;
    for ident in idents {
        let word = ident.to_string();
        match MemoryType::from_name(&word) {
            Some(ty) => bits |= ty.bit(),
            None => errors.error(
                ident.span(),
                format!(
                    "unknown memory type `{word}`{}",
                    did_you_mean(&word, &MemoryType::NAMES)
                ),
            ),
        }
    }
    if bits == 0 {
        errors.error(
            option.value_span,
            "a bank must hold at least one memory type",
        );
        return None;
    }
    Some(bits)
}

/// `[dma, gpu]` (or one flag): the bits of the listed flags.
fn parse_flags(option: &OptionAst, bank: bool, errors: &mut Errors) -> Option<u8> {
    let idents = parse_value(option, errors, parse_ident_list)?;
    let mut bits = 0;
    for ident in idents {
        let word = ident.to_string();
        match MemoryFlag::from_name(&word) {
            Some(MemoryFlag::Zeroed | MemoryFlag::Critical) if bank => {
                errors.error(
                    ident.span(),
                    format!("`{word}` describes how an entry is used, not a bank; move it to the entries that need it"),
                );
            }
            Some(flag) => bits |= flag.bit(),
            None => errors.error(
                ident.span(),
                format!(
                    "unknown flag `{word}`{}",
                    did_you_mean(&word, &MemoryFlag::NAMES)
                ),
            ),
        }
    }
    Some(bits)
}

fn parse_ident_list(input: ParseStream) -> syn::Result<Vec<Ident>> {
    if input.peek(syn::token::Bracket) {
        let content;
        syn::bracketed!(content in input);
        let list = content.parse_terminated(Ident::parse_any, syn::Token![,])?;
        Ok(list.into_iter().collect())
    } else {
        Ok(vec![input.call(Ident::parse_any)?])
    }
}
