//! Semantics: resolves the words of the syntax tree (platforms, units, keys,
//! memory types, banks) into a model, and records every violated rule of
//! SPEC §2 except the budget, which `analyze` proves.
//!
//! The checks are split by what they read: `settings`, `banks`,
//! `entries`, and the single `values` (sizes, counts, alignments, lists).
//!
//! Every check records its error and goes on with a neutral value, so one
//! build shows every mistake. Errors are spanned on the token to blame and
//! say what to write instead.

use std::collections::HashMap;

use proc_macro2::{Ident, Span, TokenTree};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Attribute, LitInt, LitStr};

use crate::errors::{Errors, did_you_mean, list, list_all};
use crate::parse::{
    BankAst, ElementAst, EntryAst, Input, ItemAst, LayoutAst, OptionAst, SettingAst, ShapeAst,
    SizeAst, parse_chunk, parse_size,
};
use crate::platforms::{self, BudgetRule, Platform};
use crate::vocabulary::{
    AllocatorKind, EntryKind, MemoryFlag, MemoryType, allocator_names, flag_names,
    memory_type_names, memory_type_names_in,
};

pub(crate) use crate::model::*;

mod banks;
mod entries;
mod settings;
mod values;

use banks::*;
use entries::*;
use settings::*;
use values::*;

pub(crate) use entries::{MAX_FRAME, MIN_FRAME};

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

pub(super) const LEVELS: [&str; 4] = ["low", "medium", "high", "critical"];
pub(super) const DEFAULT_PRESSURE: [u8; 4] = [50, 25, 10, 5];
pub(super) const UNITS: [(&str, u64); 4] = [
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
];
pub(super) const ENTRY_KEYS: &[&str] = &[
    "memory",
    "allocator",
    "align",
    "guard",
    "bank",
    "flags",
    "access",
];
pub(super) const BANK_KEYS: &[&str] = &["memory", "flags", "base", "section"];
pub(super) const ALL_KEYS: &[&str] = &[
    "memory",
    "allocator",
    "align",
    "guard",
    "bank",
    "flags",
    "base",
    "section",
    "access",
];

/// Resolves and checks every layout, recording errors in `errors`.
pub(crate) fn check(input: Input, errors: &mut Errors) -> Model {
    let mut seen: HashMap<String, Span> = HashMap::new();
    // The token module of each layout (`engine` for `Engine`): two layouts
    // of one call whose names differ only in case or underscores would
    // both define it, an error rustc blames on the whole macro call.
    let mut modules: HashMap<String, String> = HashMap::new();
    let mut layouts = Vec::new();
    for layout in input.layouts {
        let before = errors.count();
        let name = layout.name.to_string();
        let mut duplicate = seen.insert(name.clone(), layout.name.span()).is_some();
        let module = snake_case(&layout.name.unraw().to_string());
        if duplicate {
            errors.error(
                layout.name.span(),
                format!("duplicate layout `{name}`; give each layout its own name"),
            );
        } else if let Some(other) = modules.get(&module) {
            duplicate = true;
            errors.error(
                layout.name.span(),
                format!(
                    "layouts `{other}` and `{name}` would both generate the module `{module}`; rename one of them"
                ),
            );
        } else {
            modules.insert(module, name.clone());
        }
        let mut model = check_layout(layout, errors);
        model.valid = errors.count() == before;
        model.duplicate = duplicate;
        layouts.push(model);
    }
    Model { layouts }
}

#[derive(Default)]
pub(super) struct Settings {
    budget: Option<(Ident, Size)>,
    /// A `budget` was written, valid or not.
    budget_written: bool,
    guard: Option<Size>,
    align: Option<u64>,
    pressure: Option<[u8; 4]>,
}

pub(super) fn check_layout(layout: LayoutAst, errors: &mut Errors) -> LayoutModel {
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
    let signatures: Vec<EntrySignature> = entry_asts.iter().filter_map(signature).collect();
    for entry in entry_asts {
        if let Some(model) = check_entry(entry, &banks, &default_guard, default_align, errors) {
            claim_names(&name, &model, &mut generated, errors);
            entries.push(model);
        }
    }
    check_access_lists(&entries, &signatures, errors);
    check_token_names(&name, &entries, errors);

    LayoutModel {
        attrs,
        vis,
        name,
        platform,
        pressure: settings.pressure.unwrap_or(DEFAULT_PRESSURE),
        banks,
        entries,
        signatures,
        valid: true,
        duplicate: false,
    }
}

/// The fallback view of an entry: its kind, name and value type, with a
/// region's allocator when it can be read.
pub(super) fn signature(entry: &EntryAst) -> Option<EntrySignature> {
    let kind = EntryKind::from_keyword(&entry.kind.to_string())?;
    let (ty, blocks) = match (&entry.shape, kind) {
        (
            ShapeAst::Array {
                element: ElementAst::Type(ty),
                ..
            },
            EntryKind::Pool,
        ) => (Some(ty.clone()), false),
        (_, EntryKind::Pool) => (None, true),
        _ => (None, false),
    };
    let allocator = entry
        .options
        .iter()
        .find(|o| o.key == "allocator")
        .and_then(|o| AllocatorKind::from_region_name(&o.value.to_string()))
        .unwrap_or(AllocatorKind::Tlsf);
    let docs = entry
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect();
    Some(EntrySignature {
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
pub(super) fn claim_names(
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
    match entry.kind {
        // A component is reached through its token only.
        EntryKind::Component => names = vec![format!("take_{name}")],
        EntryKind::Reserve | EntryKind::Shared => {}
        _ => names.push(format!("alloc_{name}")),
    }
    if matches!(entry.kind, EntryKind::Region | EntryKind::Stack)
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
        format!("take_{name}"),
    ] {
        generated.insert(function, name.clone());
    }
}

/// Every name in a `shared` entry's `access` list is a component of the
/// layout, listed once.
pub(super) fn check_access_lists(
    entries: &[EntryModel],
    signatures: &[EntrySignature],
    errors: &mut Errors,
) {
    let components: Vec<String> = signatures
        .iter()
        .filter(|d| d.kind == EntryKind::Component)
        .map(|d| d.name.unraw().to_string())
        .collect();
    let component_refs: Vec<&str> = components.iter().map(String::as_str).collect();
    for entry in entries.iter().filter(|e| e.kind == EntryKind::Shared) {
        let mut seen: Vec<String> = Vec::new();
        for grant in &entry.access {
            let word = grant.component.unraw().to_string();
            if seen.contains(&word) {
                errors.error(
                    grant.component.span(),
                    format!(
                        "component `{word}` is listed twice in the access list of `{}`; keep one entry (`write` includes `read`)",
                        entry.name
                    ),
                );
                continue;
            }
            seen.push(word.clone());
            if !components.contains(&word) {
                let known = if components.is_empty() {
                    "; this layout declares no `component`".to_owned()
                } else {
                    did_you_mean(&word, &component_refs)
                };
                errors.error(
                    grant.component.span(),
                    format!(
                        "`{word}` in the access list of `{}` is not a component of this layout{known}",
                        entry.name
                    ),
                );
            }
        }
    }
}

/// Token and marker types are the entries' names in UpperCamel case inside
/// the layout's module; two entries must not map to one type name.
pub(super) fn check_token_names(layout: &Ident, entries: &[EntryModel], errors: &mut Errors) {
    let mut types: HashMap<String, String> = HashMap::new();
    for entry in entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::Component | EntryKind::Shared))
    {
        let name = entry.name.unraw().to_string();
        let ty = upper_camel(&name);
        if let Some(other) = types.get(&ty) {
            if *other != name {
                errors.error(
                    entry.name.span(),
                    format!(
                        "`{name}` and `{other}` would both be the type `{}::{ty}`; rename one of them",
                        snake_case(&layout.unraw().to_string())
                    ),
                );
            }
        } else {
            types.insert(ty, name);
        }
    }
}

/// `frame_data` → `FrameData`, `physics` → `Physics`.
pub(crate) fn upper_camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `Engine` → `engine`, `GameLayout` → `game_layout`.
pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_uppercase() && previous_lower {
            out.push('_');
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        out.extend(c.to_lowercase());
    }
    out
}
