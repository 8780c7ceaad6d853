//! Step 1: read the module — section boundaries, memories, function bodies
//! and data segments — validating the module-level parts on the way. Function
//! bodies are validated later, in the rewrite workers, in the same pass that
//! rewrites them.

use crate::Error;
use std::ops::Range;
use wasmparser::{
    BinaryReader, Chunk, CompositeInnerType, ConstExpr, Data, DataKind, DataSectionReader, Export,
    FuncToValidate, FunctionBody, Import, MemoryType, Parser, Payload, TypeRef, ValidPayload,
    Validator, ValidatorResources, WasmFeatures,
};

/// One memory of the module's memory index space.
#[derive(Debug, Clone)]
pub(crate) struct MemDecl<'a> {
    /// `(module, field)` when imported.
    pub import: Option<(&'a str, &'a str)>,
    pub ty: MemoryType,
}

/// A function body and, when validating, the validator for it.
pub(crate) struct Body<'a> {
    pub body: FunctionBody<'a>,
    pub validator: Option<FuncToValidate<ValidatorResources>>,
}

/// What the later steps need from the input.
pub(crate) struct Input<'a> {
    pub bytes: &'a [u8],
    /// Every section in file order: id and content range.
    pub sections: Vec<(u8, Range<usize>)>,
    pub memories: Vec<MemDecl<'a>>,
    pub imports: Vec<Import<'a>>,
    pub exports: Vec<Export<'a>>,
    pub imported_funcs: u32,
    pub globals: u32,
    /// Parameter count of each type index (0 for non-function types).
    pub type_params: Vec<u32>,
    /// Type index of each defined function.
    pub func_types: Vec<u32>,
    pub bodies: Vec<Body<'a>>,
    pub data: Vec<Segment<'a>>,
    /// The data section, when `read` left its segments to
    /// [`Input::deferred_data`].
    pub deferred: Option<DataSectionReader<'a>>,
    /// The start function, if any.
    pub start: Option<u32>,
}

impl<'a> Input<'a> {
    /// The segments of a data section `read` deferred (none if it did not):
    /// read off the calling thread's serial path (see `read`).
    pub(crate) fn deferred_data(&self) -> Result<Vec<Segment<'a>>, Error> {
        let mut data = Vec::new();
        if let Some(section) = self.deferred.clone() {
            data_segments(self.bytes, section, &mut data)?;
        }
        Ok(data)
    }
}

fn range(r: Range<u64>) -> Range<usize> {
    // Offsets come from a slice in memory, so they fit in usize.
    r.start as usize..r.end as usize
}

/// Reads `bytes`; with `validate`, the module-level validation runs here.
/// With `defer` (and without `validate`), the data section's segments are
/// left to [`Input::deferred_data`], which the caller runs beside the
/// bodies' rewrite (on `esbuild-wasm`, 98,450 segments, most of this
/// step); an error is still the one reading them here would give: if
/// anything after the data section fails, its segments are read first.
pub(crate) fn read(bytes: &[u8], validate: bool, defer: bool) -> Result<Input<'_>, Error> {
    let mut deferred = None;
    read_in(bytes, validate, defer && !validate, &mut deferred).map_err(|e| {
        // The error the data section would have given, if any, came first.
        match deferred.map(|section| data_segments(bytes, section, &mut Vec::new())) {
            Some(Err(data)) => data,
            _ => e,
        }
    })
}

fn read_in<'a>(
    bytes: &'a [u8],
    validate: bool,
    defer: bool,
    deferred: &mut Option<DataSectionReader<'a>>,
) -> Result<Input<'a>, Error> {
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err(Error::NotWasm);
    }
    if bytes[4..8] != [1, 0, 0, 0] {
        return Err(Error::Invalid {
            offset: 4,
            message: "not a core module of version 1 (a component or an unknown version)".into(),
        });
    }
    let mut validator = validate.then(|| Validator::new_with_features(WasmFeatures::all()));
    let mut input = Input {
        bytes,
        sections: Vec::new(),
        memories: Vec::new(),
        imports: Vec::new(),
        exports: Vec::new(),
        imported_funcs: 0,
        globals: 0,
        type_params: Vec::new(),
        func_types: Vec::new(),
        bodies: Vec::new(),
        data: Vec::new(),
        deferred: None,
        start: None,
    };
    let mut parser = Parser::new(0);
    let mut rest = bytes;
    loop {
        // What `Parser::parse_all` does (a module has no nested parsers),
        // by hand so that the code section can be skipped (below).
        let payload = match parser.parse(rest, true)? {
            Chunk::Parsed { consumed, payload } => {
                rest = &rest[consumed..];
                payload
            }
            // Not with `eof`: the parser has the whole module.
            Chunk::NeedMoreData(_) => return Err(Error::NotWasm),
        };
        let mut func_validator = None;
        if let Some(v) = validator.as_mut()
            && let ValidPayload::Func(f, _) = v.payload(&payload)?
        {
            func_validator = Some(f);
        }
        if let Some((id, r)) = payload.as_section() {
            input.sections.push((id, range(r)));
        }
        match payload {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group?.into_types() {
                        input.type_params.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => f.params().len() as u32,
                            _ => 0,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    input.imports.push(import);
                    match import.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => input.imported_funcs += 1,
                        TypeRef::Global(_) => input.globals += 1,
                        TypeRef::Memory(ty) => input.memories.push(MemDecl {
                            import: Some((import.module, import.name)),
                            ty,
                        }),
                        _ => {}
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    input.func_types.push(ty?);
                }
            }
            Payload::MemorySection(reader) => {
                for ty in reader {
                    input.memories.push(MemDecl {
                        import: None,
                        ty: ty?,
                    });
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    input.exports.push(export?);
                }
            }
            // Read whole, not counted from its header: without validation a
            // count larger than the items would go unnoticed (and overflow
            // the indices of the globals appended after them).
            Payload::GlobalSection(reader) => {
                for global in reader {
                    global?;
                    input.globals += 1;
                }
            }
            Payload::StartSection { func, .. } => input.start = Some(func),
            Payload::CodeSectionEntry(body) => input.bodies.push(Body {
                body,
                validator: func_validator,
            }),
            Payload::CodeSectionStart {
                count,
                unchecked_range,
                size,
            } if validator.is_none() => {
                if let Some(entries) = bytes
                    .get(range(
                        unchecked_range.end - u64::from(size)..unchecked_range.end,
                    ))
                    .filter(|entries| entries.len() <= rest.len())
                {
                    let at = unchecked_range.end - u64::from(size);
                    let before = input.bodies.len();
                    if code_entries(entries, at, count, &mut input.bodies) {
                        parser.skip_section();
                        rest = &rest[entries.len()..];
                    } else {
                        // The parser's entries, and its error where they go
                        // wrong.
                        input.bodies.truncate(before);
                    }
                }
            }
            Payload::DataSection(reader) if defer => *deferred = Some(reader),
            Payload::DataSection(reader) => data_segments(bytes, reader, &mut input.data)?,
            Payload::End(_) => break,
            _ => {}
        }
    }
    input.deferred = deferred.take();
    Ok(input)
}

/// The `count` entries of a code section, `entries` (its content after the
/// count, at `at` in the module), as the parser reads them (a size, then a
/// body of that size, each read by `BinaryReader::read_reader`), appended
/// to `bodies`; `false` if they are not exactly that (an entry past the
/// section's end, bytes after the last, a malformed size), for the parser
/// to find and report. Without validation the parser's payload for each
/// entry was ~275 machine instructions of the serial `read` (4.5M of its
/// 7M on `@swc/wasm`'s 16,348 bodies); this loop is a few dozen an entry.
fn code_entries<'a>(entries: &'a [u8], at: u64, count: u32, bodies: &mut Vec<Body<'a>>) -> bool {
    let mut reader = BinaryReader::new(entries, at);
    // Each entry takes a byte at least: `count` itself is the input's.
    bodies.reserve((count as usize).min(entries.len()));
    for _ in 0..count {
        let Ok(body) = reader.read_reader() else {
            return false;
        };
        bodies.push(Body {
            body: FunctionBody::new(body),
            validator: None,
        });
    }
    reader.eof()
}

/// One data segment.
#[derive(Debug, Clone)]
pub(crate) enum Segment<'a> {
    /// The common one: flags 0 (active, memory 0), an `i32.const` whose LEB
    /// has one to four bytes, `end`; cut out of the bytes by position, its
    /// offset decoded on the way (a module may hold 100,000 of them: a
    /// wasmparser `Data` with its `ConstExpr` reader, built here and read
    /// again by `write`, cost some 450 instructions a segment).
    Common {
        /// Where the segment starts in the module (its flags byte).
        at: usize,
        /// The LEB's length in bytes (1..=4).
        leb: u8,
        /// The `i32.const`'s value, as `u32`.
        offset: u32,
        contents: &'a [u8],
    },
    /// Any other, as wasmparser reads it.
    Other(Box<Data<'a>>),
}

impl<'a> Segment<'a> {
    /// Whether the segment is active.
    pub(crate) fn active(&self) -> bool {
        match self {
            Segment::Common { .. } => true,
            Segment::Other(d) => matches!(d.kind, DataKind::Active { .. }),
        }
    }

    /// The segment as wasmparser reads it from `bytes` (the module).
    pub(crate) fn to_data(&self, bytes: &'a [u8]) -> Data<'a> {
        match *self {
            Segment::Common {
                at, leb, contents, ..
            } => {
                // `i32.const`, the LEB, `end`.
                let expr = at + 1..at + 1 + 1 + leb as usize + 1;
                let offset_expr =
                    ConstExpr::new(BinaryReader::new(&bytes[expr.clone()], expr.start as u64));
                let end = expr.end + contents.len() + leb_len(contents.len());
                Data {
                    kind: DataKind::Active {
                        memory_index: 0,
                        offset_expr,
                    },
                    data: contents,
                    range: at as u64..end as u64,
                }
            }
            Segment::Other(ref d) => (**d).clone(),
        }
    }
}

/// Length of the minimal LEB of `v` (what the common segment's contents
/// length is, when its LEB is minimal; see [`common`]).
fn leb_len(v: usize) -> usize {
    let bits = usize::BITS - (v | 1).leading_zeros();
    bits.div_ceil(7) as usize
}

/// The common segment at `at` in `sec` (which ends with the section): its
/// LEB's length, offset, contents' start and length; `None` for any other.
/// `00 41`, the LEB of one to four bytes, `0B`, then the contents' length
/// (a minimal LEB of one to four bytes, so that [`Segment::to_data`] finds
/// the range again) and the contents, all inside the section.
#[inline]
fn common(sec: &[u8], at: usize) -> Option<(u8, u32, usize, usize)> {
    let [0x00, 0x41, rest @ ..] = sec.get(at..)? else {
        return None;
    };
    let mut value = 0u32;
    let mut k = 0;
    loop {
        let b = *rest.get(k)?;
        value |= u32::from(b & 0x7F) << (7 * k);
        k += 1;
        if b & 0x80 == 0 {
            break;
        }
        if k == 4 {
            return None;
        }
    }
    // Sign-extend from the LEB's bits.
    let bits = 7 * k as u32;
    let offset = ((value << (32 - bits)) as i32 >> (32 - bits)) as u32;
    if rest.get(k) != Some(&0x0B) {
        return None;
    }
    let len_at = at + 2 + k + 1;
    let lens = sec.get(len_at..)?;
    let mut len = 0usize;
    let mut m = 0;
    loop {
        let b = *lens.get(m)?;
        len |= usize::from(b & 0x7F) << (7 * m);
        m += 1;
        if b & 0x80 == 0 {
            break;
        }
        if m == 4 {
            return None;
        }
    }
    if m != leb_len(len) {
        return None;
    }
    let contents = len_at + m;
    (contents + len <= sec.len()).then_some((k as u8, offset, contents, len))
}

/// The data section's segments: the common one (see [`Segment::Common`])
/// cut out of the bytes here; every other goes to wasmparser.
fn data_segments<'a>(
    bytes: &'a [u8],
    section: DataSectionReader<'a>,
    out: &mut Vec<Segment<'a>>,
) -> Result<(), Error> {
    let whole = range(section.range());
    let sec = &bytes[..whole.end];
    let mut reader = BinaryReader::new(&bytes[whole.clone()], whole.start as u64);
    let count = reader.read_var_u32()?;
    let mut at = reader.original_position() as usize;
    // A segment takes two bytes at least: no reservation past the section.
    out.reserve((count as usize).min(whole.len() / 2));
    for _ in 0..count {
        let seg = match common(sec, at) {
            Some((leb, offset, contents, len)) => {
                let seg = Segment::Common {
                    at,
                    leb,
                    offset,
                    contents: &bytes[contents..contents + len],
                };
                at = contents + len;
                seg
            }
            None => {
                let mut reader = BinaryReader::new(&bytes[at..whole.end], at as u64);
                let data = reader.read::<Data<'a>>()?;
                at = reader.original_position() as usize;
                Segment::Other(Box::new(data))
            }
        };
        out.push(seg);
    }
    if at != whole.end {
        // wasmparser's own error for it.
        for data in section {
            data?;
        }
        return Err(Error::Invalid {
            offset: at as u64,
            message: "unexpected data at the end of the data section".into(),
        });
    }
    Ok(())
}

/// `(module, field)` of every memory `bytes` imports; empty when the import
/// section does not decode (the rebase reports why).
pub(crate) fn imported_memories(bytes: &[u8]) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(Payload::ImportSection(reader)) => {
                for import in reader.into_imports().flatten() {
                    if matches!(import.ty, TypeRef::Memory(_)) {
                        found.push((import.module, import.name));
                    }
                }
                break;
            }
            Ok(Payload::CodeSectionStart { .. }) | Err(_) => break,
            Ok(_) => {}
        }
    }
    found
}

#[cfg(test)]
mod tests;
