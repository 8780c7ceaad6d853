//! Syntax: token streams to a loose tree that keeps declaration order.
//!
//! The parser knows the shape of the language (SPEC §2) but not its words:
//! option keys, option values, units and memory types are kept as tokens and
//! judged by `check`, so one misspelt key does not hide the rest of the plan.
//! Each item is parsed on its own (the body is split at top-level `;`), so a
//! syntax error costs one item, not the layout.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, LitInt, Token, Type, Visibility};

use crate::errors::{Errors, did_you_mean};

/// Every layout of one macro call, in order.
pub(crate) struct Input {
    pub(crate) layouts: Vec<LayoutAst>,
}

/// `outer-attr* vis 'layout' IDENT ('for' PLATFORM)? '{' item* '}'`
pub(crate) struct LayoutAst {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) name: Ident,
    pub(crate) platform: Option<Ident>,
    pub(crate) items: Vec<ItemAst>,
}

pub(crate) enum ItemAst {
    Setting(SettingAst),
    Bank(BankAst),
    Entry(EntryAst),
}

/// `budget = size;`, `guard = size;`, `align = INT;`, `pressure { .. }`.
pub(crate) enum SettingAst {
    Budget {
        keyword: Ident,
        size: SizeAst,
    },
    Guard {
        keyword: Ident,
        size: SizeAst,
    },
    Align {
        keyword: Ident,
        value: LitInt,
    },
    Pressure {
        keyword: Ident,
        levels: Vec<PressureLevelAst>,
    },
}

impl SettingAst {
    pub(crate) fn keyword(&self) -> &Ident {
        match self {
            Self::Budget { keyword, .. }
            | Self::Guard { keyword, .. }
            | Self::Align { keyword, .. }
            | Self::Pressure { keyword, .. } => keyword,
        }
    }
}

/// `low: 50%`
pub(crate) struct PressureLevelAst {
    pub(crate) level: Ident,
    pub(crate) percent: LitInt,
}

/// `'unsafe'? 'bank' IDENT '=' size ('{' options '}')? ';'`
pub(crate) struct BankAst {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) unsafe_token: Option<Token![unsafe]>,
    pub(crate) name: Ident,
    pub(crate) size: SizeAst,
    pub(crate) options: Vec<OptionAst>,
}

/// `outer-attr* KIND IDENT '=' shape ('{' options '}')? ';'`
pub(crate) struct EntryAst {
    pub(crate) attrs: Vec<Attribute>,
    /// The kind keyword as written (`region`, `pool`, … or a phase-2 word).
    pub(crate) kind: Ident,
    pub(crate) name: Ident,
    pub(crate) shape: ShapeAst,
    pub(crate) options: Vec<OptionAst>,
}

pub(crate) enum ShapeAst {
    /// `8 MiB`
    Size(SizeAst),
    /// `[512 KiB; 2]` or `[Particle; 4096]`
    Array {
        bracket: Span,
        element: ElementAst,
        count: LitInt,
    },
}

pub(crate) enum ElementAst {
    Size(SizeAst),
    Type(Box<Type>),
}

pub(crate) enum SizeAst {
    /// `64 KiB`, `64KiB`, `64` (unit missing: `check` says so).
    Literal {
        value: LitInt,
        unit: Option<(String, Span)>,
    },
    /// `(SIZE * 2)`: a const expression of type `usize`.
    Expr { tokens: TokenStream, span: Span },
}

impl SizeAst {
    pub(crate) fn span(&self) -> Span {
        match self {
            Self::Literal { value, .. } => value.span(),
            Self::Expr { span, .. } => *span,
        }
    }
}

/// `key: value` with the value kept as tokens.
pub(crate) struct OptionAst {
    pub(crate) key: Ident,
    pub(crate) value: TokenStream,
    pub(crate) value_span: Span,
}

/// The words that may start an item, for suggestions.
pub(crate) const ITEM_KEYWORDS: &[&str] = &[
    "region",
    "frame",
    "stack",
    "pool",
    "reserve",
    "bank",
    "budget",
    "guard",
    "align",
    "pressure",
    "component",
    "shared",
];

/// Parses every layout of the input, recording syntax errors and carrying on
/// with the next item or layout.
pub(crate) fn parse(input: TokenStream, errors: &mut Errors) -> Input {
    let mut layouts = Vec::new();
    let mut chunk: Vec<TokenTree> = Vec::new();
    let errors_before = errors.count();
    // A layout ends with its brace-delimited body; split there so an error in
    // one layout's header leaves the next layout intact.
    for tree in input {
        let ends_layout = matches!(&tree, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace);
        chunk.push(tree);
        if ends_layout && let Some(layout) = parse_layout(std::mem::take(&mut chunk), errors) {
            layouts.push(layout);
        }
    }
    if let Some(last) = chunk.last() {
        errors.error(
            last.span(),
            "expected the layout's body: `{ region heap = 8 MiB; .. }` after the layout's name",
        );
    }
    if layouts.is_empty() && errors.count() == errors_before {
        errors.error(
            Span::call_site(),
            "expected a layout: `pub layout Game for Dreamcast { region heap = 8 MiB; }`",
        );
    }
    Input { layouts }
}

fn parse_layout(chunk: Vec<TokenTree>, errors: &mut Errors) -> Option<LayoutAst> {
    let last_span = chunk.last().map_or_else(Span::call_site, TokenTree::span);
    let header = |input: ParseStream| -> syn::Result<(LayoutAst, Group)> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let keyword = input.call(Ident::parse_any)?;
        if keyword != "layout" {
            return Err(syn::Error::new(
                keyword.span(),
                format!(
                    "expected `layout`, found `{keyword}`{}",
                    if keyword.to_string().eq_ignore_ascii_case("layout")
                        || crate::errors::nearest(&keyword.to_string(), &["layout"]).is_some()
                    {
                        "; did you mean `layout`?"
                    } else {
                        ": a plan reads `pub layout Game for Dreamcast { .. }`"
                    }
                ),
            ));
        }
        let name: Ident = input.parse()?;
        let platform = if input.peek(Token![for]) {
            input.parse::<Token![for]>()?;
            Some(input.call(Ident::parse_any)?)
        } else {
            None
        };
        let body = match input.parse::<TokenTree>()? {
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => group,
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "expected `for PLATFORM` or the layout's body `{ .. }`",
                ));
            }
        };
        let layout = LayoutAst {
            attrs,
            vis,
            name,
            platform,
            items: Vec::new(),
        };
        Ok((layout, body))
    };
    match parse_chunk(header, chunk, last_span) {
        Ok((mut layout, body)) => {
            layout.items = parse_items(body, errors);
            Some(layout)
        }
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

/// Parses `tokens` with `parser`; "unexpected end of input" errors point at
/// `end` (the last token) instead of at the whole macro call.
pub(crate) fn parse_chunk<T>(
    parser: impl FnOnce(ParseStream) -> syn::Result<T>,
    tokens: Vec<TokenTree>,
    end: Span,
) -> syn::Result<T> {
    let mut group = Group::new(Delimiter::Parenthesis, tokens.into_iter().collect());
    group.set_span(end);
    let wrapped = move |input: ParseStream| -> syn::Result<T> {
        let content;
        syn::parenthesized!(content in input);
        let value = parser(&content)?;
        if !content.is_empty() {
            return Err(content.error("unexpected tokens"));
        }
        Ok(value)
    };
    wrapped.parse2(TokenStream::from(TokenTree::Group(group)))
}

/// Splits a body at top-level `;` (and after `pressure { .. }`, which has
/// none) and parses each item on its own.
fn parse_items(body: Group, errors: &mut Errors) -> Vec<ItemAst> {
    let mut items = Vec::new();
    let mut chunk: Vec<TokenTree> = Vec::new();
    let mut trees = body.stream().into_iter().peekable();
    while let Some(tree) = trees.next() {
        let is_semicolon = matches!(&tree, TokenTree::Punct(p) if p.as_char() == ';');
        let closes_pressure = matches!(&tree, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace)
            && pressure_keyword_at(&chunk).map(|i| i + 1) == Some(chunk.len());
        chunk.push(tree);
        if closes_pressure {
            // `pressure { .. };` is accepted too.
            if matches!(trees.peek(), Some(TokenTree::Punct(p)) if p.as_char() == ';') {
                chunk.extend(trees.next());
            }
        }
        if is_semicolon || closes_pressure {
            parse_item_chunk(std::mem::take(&mut chunk), errors, &mut items);
        }
    }
    if !chunk.is_empty() {
        parse_item_chunk(chunk, errors, &mut items);
    }
    items
}

/// The index of the word `pressure` when `chunk` (after attributes) starts
/// with it.
fn pressure_keyword_at(chunk: &[TokenTree]) -> Option<usize> {
    let mut i = 0;
    while matches!(chunk.get(i), Some(TokenTree::Punct(p)) if p.as_char() == '#') {
        i += 2;
    }
    matches!(chunk.get(i), Some(TokenTree::Ident(id)) if id == "pressure").then_some(i)
}

fn parse_item_chunk(chunk: Vec<TokenTree>, errors: &mut Errors, items: &mut Vec<ItemAst>) {
    let Some(last) = chunk.last() else { return };
    // A stray `;` is harmless.
    if chunk.len() == 1 && matches!(last, TokenTree::Punct(p) if p.as_char() == ';') {
        return;
    }
    let last_span = last.span();
    let terminated = matches!(last, TokenTree::Punct(p) if p.as_char() == ';');
    let pressure = pressure_keyword_at(&chunk).is_some();
    if !terminated && !pressure {
        errors.error(last_span, "expected `;` after this item");
    }
    let mut tokens = chunk;
    if terminated {
        tokens.pop();
    }
    match parse_chunk(parse_item, tokens, last_span) {
        Ok(Some(item)) => items.push(item),
        Ok(None) => {}
        Err(error) => errors.push(error),
    }
}

/// One item without its `;`. `Ok(None)` never happens today; it keeps room
/// for items that parse but produce nothing.
fn parse_item(input: ParseStream) -> syn::Result<Option<ItemAst>> {
    let attrs = input.call(Attribute::parse_outer)?;
    let unsafe_token: Option<Token![unsafe]> = input.parse()?;
    if input.is_empty() {
        return Err(input.error("expected an item such as `region heap = 8 MiB`"));
    }
    let keyword = input.call(Ident::parse_any)?;
    let word = keyword.to_string();
    if unsafe_token.is_some() && word != "bank" {
        return Err(syn::Error::new(
            keyword.span(),
            format!(
                "only a `bank` can be `unsafe` (to give it a fixed `base` address), not `{word}`"
            ),
        ));
    }
    match word.as_str() {
        "budget" | "guard" | "align" | "pressure" => {
            if let Some(attr) = attrs.first() {
                return Err(syn::Error::new(
                    attr.pound_token.span,
                    format!("attributes and doc comments are not allowed on the `{word}` setting"),
                ));
            }
            parse_setting(keyword, input).map(|s| Some(ItemAst::Setting(s)))
        }
        "bank" => {
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let size = parse_size(input)?;
            let options = parse_options(input)?;
            Ok(Some(ItemAst::Bank(BankAst {
                attrs,
                unsafe_token,
                name,
                size,
                options,
            })))
        }
        "region" | "frame" | "stack" | "pool" | "reserve" | "component" | "shared" => {
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let shape = parse_shape(input)?;
            let options = parse_options(input)?;
            Ok(Some(ItemAst::Entry(EntryAst {
                attrs,
                kind: keyword,
                name,
                shape,
                options,
            })))
        }
        _ => Err(syn::Error::new(
            keyword.span(),
            format!(
                "unknown item `{word}`{}",
                did_you_mean(&word, ITEM_KEYWORDS)
            ),
        )),
    }
}

fn parse_setting(keyword: Ident, input: ParseStream) -> syn::Result<SettingAst> {
    match keyword.to_string().as_str() {
        "pressure" => {
            let content;
            syn::braced!(content in input);
            let mut levels = Vec::new();
            while !content.is_empty() {
                let level = content.call(Ident::parse_any)?;
                content.parse::<Token![:]>()?;
                let percent: LitInt = content.parse()?;
                if !content.peek(Token![%]) {
                    return Err(syn::Error::new(
                        percent.span(),
                        format!(
                            "write the threshold as a percentage: `{}%`",
                            percent.base10_digits()
                        ),
                    ));
                }
                content.parse::<Token![%]>()?;
                levels.push(PressureLevelAst { level, percent });
                if content.is_empty() {
                    break;
                }
                content.parse::<Token![,]>()?;
            }
            Ok(SettingAst::Pressure { keyword, levels })
        }
        "align" => {
            input.parse::<Token![=]>()?;
            let value: LitInt = input.parse()?;
            Ok(SettingAst::Align { keyword, value })
        }
        "budget" => {
            input.parse::<Token![=]>()?;
            Ok(SettingAst::Budget {
                keyword,
                size: parse_size(input)?,
            })
        }
        _ => {
            input.parse::<Token![=]>()?;
            Ok(SettingAst::Guard {
                keyword,
                size: parse_size(input)?,
            })
        }
    }
}

/// `INT UNIT`, `INTUNIT` or `( const-expr )`.
pub(crate) fn parse_size(input: ParseStream) -> syn::Result<SizeAst> {
    if input.peek(syn::token::Paren) {
        let group = match input.parse::<TokenTree>()? {
            TokenTree::Group(group) => group,
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "expected `( size expression )`",
                ));
            }
        };
        if group.stream().is_empty() {
            return Err(syn::Error::new(
                group.span(),
                "expected a size expression of type `usize` inside the parentheses",
            ));
        }
        return Ok(SizeAst::Expr {
            tokens: group.stream(),
            span: group.span(),
        });
    }
    if input.peek(syn::LitFloat) {
        let lit: syn::LitFloat = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            "sizes are whole numbers: use a smaller unit (`1536 KiB`, not `1.5 MiB`)",
        ));
    }
    if !input.peek(LitInt) {
        return Err(input.error("expected a size such as `64 KiB`, `1536 B` or `(SIZE_EXPR)`"));
    }
    let value: LitInt = input.parse()?;
    let unit = if !value.suffix().is_empty() {
        Some((value.suffix().to_owned(), value.span()))
    } else if input.peek(Ident::peek_any) {
        let unit = input.call(Ident::parse_any)?;
        Some((unit.to_string(), unit.span()))
    } else {
        None
    };
    Ok(SizeAst::Literal { value, unit })
}

fn parse_shape(input: ParseStream) -> syn::Result<ShapeAst> {
    if !input.peek(syn::token::Bracket) {
        return parse_size(input).map(ShapeAst::Size);
    }
    let content;
    let bracket = syn::bracketed!(content in input);
    let sized = content.peek(LitInt)
        || content.peek(syn::LitFloat)
        || (content.peek(syn::token::Paren) && !is_tuple_type(&content));
    let element = if sized {
        ElementAst::Size(parse_size(&content)?)
    } else {
        ElementAst::Type(Box::new(content.parse()?))
    };
    content.parse::<Token![;]>()?;
    let count: LitInt = content.parse()?;
    if !content.is_empty() {
        return Err(content.error("expected `]` after the count"));
    }
    Ok(ShapeAst::Array {
        bracket: bracket.span.join(),
        element,
        count,
    })
}

/// `( .. )` in a pool's element position is a size expression unless it is
/// a tuple type (`()` or it has a top-level comma).
fn is_tuple_type(input: ParseStream) -> bool {
    let fork = input.fork();
    match fork.parse::<TokenTree>() {
        Ok(TokenTree::Group(group)) => {
            let stream = group.stream();
            stream.is_empty()
                || stream
                    .into_iter()
                    .any(|tree| matches!(tree, TokenTree::Punct(p) if p.as_char() == ','))
        }
        _ => false,
    }
}

/// `{ key: value, .. }`, values kept as tokens up to the next top-level `,`.
fn parse_options(input: ParseStream) -> syn::Result<Vec<OptionAst>> {
    let mut options = Vec::new();
    if !input.peek(syn::token::Brace) {
        if input.is_empty() {
            return Ok(options);
        }
        let next_item = input
            .fork()
            .call(Ident::parse_any)
            .ok()
            .filter(|w| ITEM_KEYWORDS.contains(&w.to_string().as_str()));
        return Err(match next_item {
            Some(word) => syn::Error::new(
                word.span(),
                format!("expected `;` before `{word}`: end every item with `;`"),
            ),
            None => input.error("expected `;` or options `{ key: value, .. }`"),
        });
    }
    let content;
    syn::braced!(content in input);
    while !content.is_empty() {
        let key = content.call(Ident::parse_any)?;
        if !content.peek(Token![:]) {
            return Err(content.error(format!("expected `:` after `{key}`: write `{key}: VALUE`")));
        }
        content.parse::<Token![:]>()?;
        let mut value = TokenStream::new();
        let mut value_span = None;
        while !content.is_empty() && !content.peek(Token![,]) {
            let tree: TokenTree = content.parse()?;
            value_span.get_or_insert(tree.span());
            value.extend(std::iter::once(tree));
        }
        let Some(value_span) = value_span else {
            return Err(syn::Error::new(
                key.span(),
                format!("expected a value after `{key}:`"),
            ));
        };
        options.push(OptionAst {
            key,
            value,
            value_span,
        });
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    if !input.is_empty() {
        return Err(input.error("expected `;` after the options"));
    }
    Ok(options)
}
