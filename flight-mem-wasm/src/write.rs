//! Step 4: write the output module. Sections that do not change are copied
//! byte for byte; the import, memory, global, export, code and data
//! sections are rebuilt.

use crate::Error;
use crate::plan::{PAGE, Plan};
use crate::read::{Input, Segment};
use crate::rewrite::{Chunk, OOB_TRAP, put_leb, put_sleb};
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    ConstExpr, Encode, EntityType, ExportSection, GlobalType, ImportSection, MemoryType, ValType,
};
use wasmparser::{DataKind, ExternalKind, Operator};

/// Order of the known sections in a module (the tag section sits between
/// memory and global).
fn rank(id: u8) -> u8 {
    match id {
        1 => 1,
        2 => 2,
        3 => 3,
        4 => 4,
        5 => 5,
        13 => 6,
        6 => 7,
        7 => 8,
        8 => 9,
        9 => 10,
        12 => 11,
        10 => 12,
        11 => 13,
        _ => 0,
    }
}

fn section(out: &mut Vec<u8>, id: u8, content: &[u8]) {
    out.push(id);
    (content.len() as u32).encode(out);
    out.extend_from_slice(content);
}

fn re_err(e: wasm_encoder::reencode::Error<std::convert::Infallible>) -> Error {
    Error::Invalid {
        offset: 0,
        message: e.to_string(),
    }
}

/// The value of a data offset that is one `i32.const`, else `None`.
pub(crate) fn constant_offset(expr: &wasmparser::ConstExpr<'_>) -> Option<u32> {
    let mut bytes = expr.get_binary_reader();
    match bytes.read_bytes(bytes.bytes_remaining()) {
        Ok(raw) => constant_in(expr, raw),
        Err(_) => constant_op(expr),
    }
}

/// [`constant_offset`] of `expr`, whose bytes are `raw` (the caller has
/// them already: a module may hold 100,000 segments).
fn constant_in(expr: &wasmparser::ConstExpr<'_>, raw: &[u8]) -> Option<u32> {
    // The common `i32.const` with a LEB of one to four bytes (always valid:
    // 28 bits, no unused bits), then `end`, read from the bytes; wasmparser
    // for everything else.
    if let [0x41, leb @ .., 0x0B] = raw
        && let Some(last) = leb.iter().position(|&b| b & 0x80 == 0)
        && last + 1 == leb.len()
        && leb.len() <= 4
    {
        let mut value = 0i64;
        for (k, &b) in leb.iter().enumerate() {
            value |= i64::from(b & 0x7F) << (7 * k);
        }
        // Sign-extend from the LEB's bits.
        let bits = 7 * leb.len() as u32;
        let value = (value << (64 - bits)) >> (64 - bits);
        return Some(value as i32 as u32);
    }
    constant_op(expr)
}

/// [`constant_offset`] through wasmparser's operators.
fn constant_op(expr: &wasmparser::ConstExpr<'_>) -> Option<u32> {
    let mut ops = expr.get_operators_reader();
    match (ops.read().ok()?, ops.read().ok()?) {
        (Operator::I32Const { value }, Operator::End) if ops.eof() => Some(value as u32),
        _ => None,
    }
}

/// Checks that `expr` holds only what a constant expression may (numeric
/// constants, `global.get` of the input's globals, extended-const
/// arithmetic) before it is copied into a function body, where any
/// instruction would run: without validation, a store, a `memory.fill`
/// or a write of an appended global in a data offset ran unrewritten at
/// instantiation (the store at its absolute address in the unified
/// memory), and the output validated. Also that it takes no value it did
/// not push and leaves exactly one (its type is the output's validation's
/// business): its two copies, the bounds check and `memory.init`, run one
/// after the other on one stack, and an expression that left values
/// behind or took them let the check read one offset and `memory.init`
/// another (past the segment), in an output that validated.
fn constant_ops(expr: &wasmparser::ConstExpr<'_>, globals: u32) -> Result<(), String> {
    let mut ops = expr.get_operators_reader();
    let mut depth = 0u32;
    while !ops.eof() {
        match ops.read().map_err(|e| e.to_string())? {
            Operator::I32Const { .. } | Operator::I64Const { .. } => depth += 1,
            Operator::GlobalGet { global_index } if global_index < globals => depth += 1,
            Operator::I32Add
            | Operator::I32Sub
            | Operator::I32Mul
            | Operator::I64Add
            | Operator::I64Sub
            | Operator::I64Mul => {
                if depth < 2 {
                    return Err("the offset expression takes a value it did not push".into());
                }
                depth -= 1;
            }
            Operator::End if ops.eof() => {
                if depth != 1 {
                    return Err(format!(
                        "the offset expression leaves {depth} values, not one"
                    ));
                }
            }
            op => {
                return Err(format!(
                    "the offset expression holds `{op:?}`, which no constant expression may"
                ));
            }
        }
    }
    Ok(())
}

/// The new data section: its segments, encoded, and how many.
#[derive(Debug, Default)]
pub(crate) struct Data {
    count: u32,
    bytes: Vec<u8>,
}

impl Data {
    /// Appends one data segment: its flags and offset expression (`head`),
    /// then its contents as a vector. What `DataSection::passive` and
    /// `active` write, without their byte-by-byte copy of the contents (with
    /// `ConstExpr`'s allocation, some 900 instructions a segment, and a
    /// module may hold 100,000 of them), and straight into the section
    /// (`DataSection::raw` took a copy of a copy: 58 instructions a segment
    /// and the contents copied twice).
    fn put(&mut self, head: impl FnOnce(&mut Vec<u8>), contents: &[u8]) {
        head(&mut self.bytes);
        put_leb(&mut self.bytes, contents.len() as u64);
        self.bytes.extend_from_slice(contents);
        self.count += 1;
    }

    /// The whole section, as `DataSection::encode` writes it after its id.
    fn encode(&self, out: &mut Vec<u8>) {
        let mut count = Vec::new();
        self.count.encode(&mut count);
        (count.len() + self.bytes.len()).encode(out);
        out.extend_from_slice(&count);
        out.extend_from_slice(&self.bytes);
    }

    /// The section's size, id and size field included (at most).
    fn len(&self) -> usize {
        self.bytes.len() + 16
    }
}

/// The new data section and, when the plan applies active segments from a
/// start function ([`Plan::init_func`]), that function's body. Built while
/// the bodies are rewritten; its error is reported before any body's.
pub(crate) fn data_section(
    input: &Input<'_>,
    data: &[Segment<'_>],
    plan: &Plan,
) -> Result<(Option<Data>, Option<Vec<u8>>), Error> {
    if data.is_empty() {
        return Ok((None, None));
    }
    let mut section = Data::default();
    let mut init = plan.init_func.map(|_| vec![0u8]); // no locals
    for (i, seg) in data.iter().enumerate() {
        let segment = i as u32;
        let data = match *seg {
            // The common segment, unless the start function applies it:
            // what the general path below does with a constant offset in
            // memory 0, straight from the fields `read` decoded.
            Segment::Common {
                at,
                offset,
                contents,
                ..
            } if init.is_none() => {
                let Some(mem) = plan.mems.first() else {
                    return Err(Error::Invalid {
                        offset: at as u64,
                        message: format!("data segment {segment} names a missing memory"),
                    });
                };
                if mem.read_only() {
                    return Err(Error::DataIntoReadOnly {
                        segment,
                        window: plan.names[0].clone(),
                    });
                }
                let len = contents.len() as u64;
                if u64::from(offset) + len > mem.min_bytes {
                    return Err(Error::DataOutOfBounds {
                        segment,
                        offset: offset.into(),
                        len,
                        memory_bytes: mem.min_bytes,
                    });
                }
                let new = offset.wrapping_add(mem.base) as i32;
                let head = |s: &mut Vec<u8>| {
                    s.extend_from_slice(&[0x00, 0x41]);
                    put_sleb(s, new.into());
                    s.push(0x0B);
                };
                section.put(head, contents);
                continue;
            }
            Segment::Common { .. } => &seg.to_data(input.bytes),
            Segment::Other(ref d) => &**d,
        };
        match &data.kind {
            DataKind::Passive => section.put(|s| s.push(0x01), data.data),
            DataKind::Active {
                memory_index,
                offset_expr,
            } => {
                let Some(mem) = plan.mems.get(*memory_index as usize) else {
                    return Err(Error::Invalid {
                        offset: data.range.start,
                        message: format!("data segment {segment} names a missing memory"),
                    });
                };
                if mem.read_only() {
                    return Err(Error::DataIntoReadOnly {
                        segment,
                        window: plan.names[*memory_index as usize].clone(),
                    });
                }
                // The expression's bytes, read once (the original without
                // its `end` is copied below).
                let mut reader = offset_expr.get_binary_reader();
                let raw = reader.read_bytes(reader.bytes_remaining())?;
                let constant = constant_in(offset_expr, raw);
                let len = data.data.len() as u64;
                if let Some(c) = constant
                    && u64::from(c) + len > mem.min_bytes
                {
                    return Err(Error::DataOutOfBounds {
                        segment,
                        offset: c.into(),
                        len,
                        memory_bytes: mem.min_bytes,
                    });
                }
                // The original expression without its `end` (a constant,
                // `global.get` of an imported global, extended-const
                // arithmetic: all valid in a function body too).
                let expr = &raw[..raw.len() - 1];
                if let Some(body) = init.as_mut() {
                    // Applied by the start function, in segment order, each
                    // checked as instantiation checks it (a constant one
                    // was checked above).
                    section.put(|s| s.push(0x01), data.data);
                    if constant.is_none() {
                        constant_ops(offset_expr, plan.pages_global).map_err(|message| {
                            Error::Invalid {
                                offset: data.range.start,
                                message: format!("data segment {segment}: {message}"),
                            }
                        })?;
                        body.extend_from_slice(expr);
                        let mut sink = wasm_encoder::InstructionSink::new(body);
                        sink.i64_extend_i32_u().i64_const(len as i64).i64_add();
                        match mem.kind {
                            crate::plan::Kind::Own => sink.global_get(plan.bytes_global),
                            crate::plan::Kind::Window { .. } => sink.i64_const(mem.span as i64),
                        };
                        sink.i64_gt_u().if_(wasm_encoder::BlockType::Empty);
                        match plan.trap_func {
                            Some(trap) => {
                                sink.call(trap);
                            }
                            None => body.extend_from_slice(&OOB_TRAP),
                        }
                        wasm_encoder::InstructionSink::new(body).end();
                    }
                    body.extend_from_slice(expr);
                    wasm_encoder::InstructionSink::new(body)
                        .i32_const(mem.base as i32)
                        .i32_add()
                        .i32_const(0)
                        .i32_const(len as i32)
                        .memory_init(0, segment)
                        .data_drop(segment);
                    // The engines' limit on a body, as for the rewritten
                    // ones: huge extended-const offsets (copied twice) can
                    // pass it. Room kept for the closing `call` and `end`.
                    if body.len() + 7 > crate::rewrite::MAX_BODY {
                        return Err(Error::Unsupported {
                            function: plan.init_func.unwrap_or(0),
                            offset: data.range.start,
                            what: format!(
                                "data segment {segment}: the appended start function that applies the data segments would pass the engines' limit of {} bytes per body (its offset expressions are copied into it)",
                                crate::rewrite::MAX_BODY
                            ),
                        });
                    }
                    continue;
                }
                let expr = match constant {
                    Some(c) => {
                        // `active(0, &ConstExpr::i32_const(..), ..)`.
                        let offset = c.wrapping_add(mem.base) as i32;
                        let head = |s: &mut Vec<u8>| {
                            s.extend_from_slice(&[0x00, 0x41]);
                            put_sleb(s, offset.into());
                            s.push(0x0B);
                        };
                        section.put(head, data.data);
                        continue;
                    }
                    None if plan.isolation == crate::Isolation::Trusted => {
                        // Relocate the original expression (extended-const).
                        let mut bytes = expr.to_vec();
                        wasm_encoder::Instruction::I32Const(mem.base as i32).encode(&mut bytes);
                        wasm_encoder::Instruction::I32Add.encode(&mut bytes);
                        ConstExpr::raw(bytes)
                    }
                    None => return Err(Error::NonConstantDataOffset { segment }),
                };
                // `active(0, &expr, ..)`.
                let head = |s: &mut Vec<u8>| {
                    s.push(0x00);
                    expr.encode(s);
                };
                section.put(head, data.data);
            }
        }
    }
    if let Some(body) = init.as_mut() {
        let mut sink = wasm_encoder::InstructionSink::new(body);
        if let Some(start) = input.start {
            sink.call(start);
        }
        sink.end();
    }
    Ok((Some(section), init))
}

/// Limit globals (`Plan::limit_global`): one per access width 1..=16.
pub(crate) const LIMITS: u32 = 5;

/// Options of the output that are not in the plan.
pub(crate) struct Output<'o> {
    pub memory_import: (&'o str, &'o str),
}

/// Sections the output may have to add or change, in module order.
const BUILT: [u8; 7] = [1, 2, 3, 6, 8, 12, 10];

/// The output module, written in three steps so that the code of the
/// bodies can be copied in while the workers still rewrite later ones
/// (this copy, ~2 ms of `write`'s serial time on `esbuild-wasm`, waited
/// for the last worker): [`Writer::head`] writes every section before the
/// code section's entries, [`Writer::append`] each chunk's entries in
/// order, [`Writer::finish`] the appended bodies and the sections after.
pub(crate) struct Writer {
    out: Vec<u8>,
    /// Sections the output adds or rebuilds already written (by id).
    done: [bool; 16],
    /// Index in `Input::sections` where `head` stopped: the code section's,
    /// or their count.
    next: usize,
    /// Where the code section's size goes and the bytes kept for it, once
    /// its header is written.
    code_size: Option<(usize, usize)>,
    /// The data section, until it is written.
    data: Option<Data>,
    /// The appended functions' bodies: the trap function (`masked`), then
    /// the data start function.
    extra: Vec<Vec<u8>>,
}

impl Writer {
    /// Writes the output up to the code section's first entry: the
    /// sections before it, its id, room for its size (the length of the
    /// estimate's LEB: `finish` moves the entries if the real size's
    /// differs), and its count, `bodies` plus the appended functions.
    pub(crate) fn head(
        input: &Input<'_>,
        plan: &Plan,
        data: (Option<Data>, Option<Vec<u8>>),
        output: &Output<'_>,
        bodies: usize,
    ) -> Result<Writer, Error> {
        let bytes = input.bytes;
        let code_in: usize = input
            .sections
            .iter()
            .filter(|(id, _)| *id == 10)
            .map(|(_, r)| r.len())
            .sum();
        // The code grows by a fifth in `trusted` on `@swc/wasm` (1-byte
        // offsets become 4-byte ones) and about doubles in `checked` and
        // `masked`. The buffer is the output's size, not more: past glibc's
        // largest mmap threshold (32 MiB) it is mapped fresh, and faulted in
        // page by page, on every call. An estimate short of it only makes
        // the vector grow once.
        let code_est = match plan.isolation {
            crate::Isolation::Trusted => code_in + code_in / 4,
            _ => code_in * 9 / 4,
        };
        // So is the data section's (its offsets' LEBs grow: by ~150 KB on
        // `esbuild-wasm`'s 98,450 segments, past the 4 KiB of slack).
        let old: usize = input
            .sections
            .iter()
            .filter(|(id, _)| *id == 10 || (*id == 11 && data.0.is_some()))
            .map(|(_, r)| r.len())
            .sum();
        let new_data = data.0.as_ref().map_or(0, Data::len);
        let mut out = Vec::with_capacity(bytes.len() - old + code_est + new_data + 4096);
        out.extend_from_slice(&bytes[..8]);
        let (data, init) = data;
        let mut w = Writer {
            out,
            done: [false; 16],
            next: input.sections.len(),
            code_size: None,
            data,
            extra: plan
                .trap_func
                .map(|_| trap_body())
                .into_iter()
                .chain(init)
                .collect(),
        };
        for (k, (id, range)) in input.sections.iter().enumerate() {
            w.section(input, plan, output, *id, &bytes[range.clone()], bodies)?;
            if *id == 10 {
                w.next = k + 1;
                break;
            }
        }
        Ok(w)
    }

    /// Appends the entries of the next chunk (in order, after `head`).
    pub(crate) fn append(&mut self, chunk: &Chunk) {
        debug_assert!(self.code_size.is_some(), "a chunk without a code section");
        for piece in chunk.pieces() {
            self.out.extend_from_slice(piece);
        }
    }

    /// Writes the rest of the output once every chunk is appended.
    pub(crate) fn finish(
        mut self,
        input: &Input<'_>,
        plan: &Plan,
        output: &Output<'_>,
    ) -> Result<Vec<u8>, Error> {
        if self.code_size.is_some() {
            self.end_code();
        }
        let bytes = input.bytes;
        for (id, range) in &input.sections[self.next..] {
            self.section(input, plan, output, *id, &bytes[range.clone()], 0)?;
        }
        for &m in &BUILT {
            if !self.done[m as usize] && self.needed(plan, m) {
                self.emit(input, plan, output, m, None, 0)?;
            }
        }
        Ok(self.out)
    }

    fn needed(&self, plan: &Plan, id: u8) -> bool {
        match id {
            1 | 3 | 10 => !self.extra.is_empty(),
            2 => true,
            6 => plan.own_pages.is_some(),
            8 | 12 => plan.init_func.is_some(),
            _ => false,
        }
    }

    /// One section of the input, and before it the sections the output
    /// adds that come first.
    fn section(
        &mut self,
        input: &Input<'_>,
        plan: &Plan,
        output: &Output<'_>,
        id: u8,
        content: &[u8],
        bodies: usize,
    ) -> Result<(), Error> {
        let r = rank(id);
        if r != 0 {
            for &m in &BUILT {
                if !self.done[m as usize] && self.needed(plan, m) && rank(m) < r {
                    self.emit(input, plan, output, m, None, 0)?;
                }
            }
        }
        match id {
            2 | 10 => self.emit(input, plan, output, id, Some(content), bodies)?,
            1 | 3 | 6 | 8 | 12 if self.needed(plan, id) => {
                self.emit(input, plan, output, id, Some(content), bodies)?
            }
            5 => {}
            7 => write_exports(&mut self.out, input)?,
            11 => {
                if let Some(d) = self.data.take() {
                    self.out.push(11);
                    d.encode(&mut self.out);
                }
            }
            _ => section(&mut self.out, id, content),
        }
        Ok(())
    }

    /// A section the output adds or rebuilds; the code section's header
    /// only (with `bodies` entries to come), or the whole section when the
    /// input had none.
    fn emit(
        &mut self,
        input: &Input<'_>,
        plan: &Plan,
        output: &Output<'_>,
        id: u8,
        content: Option<&[u8]>,
        bodies: usize,
    ) -> Result<(), Error> {
        self.done[id as usize] = true;
        let (out, extra) = (&mut self.out, &self.extra);
        match id {
            1 => section(out, 1, &append(content, &VOID_TYPE, 1)),
            2 => write_imports(out, input, plan, output)?,
            3 => {
                let mut ty = Vec::new();
                plan.void_type.encode(&mut ty);
                let types = ty.repeat(extra.len());
                section(out, 3, &append(content, &types, extra.len() as u32));
            }
            6 => write_globals(out, content, plan),
            8 => {
                let mut start = Vec::new();
                plan.init_func.unwrap_or(0).encode(&mut start);
                section(out, 8, &start);
            }
            12 => match content {
                Some(c) => section(out, 12, c),
                None => {
                    let mut count = Vec::new();
                    (input.data.len() as u32).encode(&mut count);
                    section(out, 12, &count);
                }
            },
            _ => {
                // The size's room: the LEB length of the input's code
                // section's size (a fifth more makes it longer only near a
                // power of 128).
                let estimate = content.map_or(0, <[u8]>::len);
                let room = leb_len(estimate + estimate / 5);
                out.push(10);
                self.code_size = Some((out.len(), room));
                out.resize(out.len() + room, 0);
                ((bodies + extra.len()) as u32).encode(out);
                if content.is_none() {
                    self.end_code();
                }
            }
        }
        Ok(())
    }

    /// The appended bodies, then the code section's size in its room
    /// (minimal, as `u32::encode` writes it: moving the entries if its
    /// length is not the room's).
    fn end_code(&mut self) {
        let out = &mut self.out;
        for b in &self.extra {
            (b.len() as u32).encode(out);
            out.extend_from_slice(b);
        }
        let Some((at, room)) = self.code_size.take() else {
            return;
        };
        let mut size = Vec::with_capacity(5);
        ((out.len() - at - room) as u32).encode(&mut size);
        if size.len() == room {
            out[at..at + room].copy_from_slice(&size);
        } else {
            out.splice(at..at + room, size);
        }
    }
}

/// Bytes of the unsigned LEB of `n`.
fn leb_len(n: usize) -> usize {
    (usize::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize
}

/// `func [] -> []`, the type of the appended functions.
const VOID_TYPE: [u8; 3] = [0x60, 0, 0];

/// A vector section's content with `n` more items, `items`, at its end.
fn append(content: Option<&[u8]>, items: &[u8], n: u32) -> Vec<u8> {
    let (count, old) = match content {
        Some(c) => {
            let mut reader = wasmparser::BinaryReader::new(c, 0);
            // The parser already read this count to get here.
            let count = reader.read_var_u32().unwrap_or(0);
            (count, &c[reader.original_position() as usize..])
        }
        None => (0, &[][..]),
    };
    let mut new = Vec::with_capacity(old.len() + items.len() + 5);
    (count + n).encode(&mut new);
    new.extend_from_slice(old);
    new.extend_from_slice(items);
    new
}

/// The body of the trap function (`masked`): the trapping access.
fn trap_body() -> Vec<u8> {
    let mut body = vec![0]; // no locals
    body.extend_from_slice(&OOB_TRAP);
    body.push(0x0B); // end
    body
}

fn write_imports(
    out: &mut Vec<u8>,
    input: &Input<'_>,
    plan: &Plan,
    output: &Output<'_>,
) -> Result<(), Error> {
    let mut section = ImportSection::new();
    let mut re = RoundtripReencoder;
    for import in &input.imports {
        if matches!(import.ty, wasmparser::TypeRef::Memory(_)) {
            continue;
        }
        let ty: EntityType = re.entity_type(import.ty).map_err(re_err)?;
        section.import(import.module, import.name, ty);
    }
    let ty = MemoryType {
        minimum: plan.unified_min_pages,
        maximum: plan.shared.then_some(1 << 16),
        memory64: false,
        shared: plan.shared,
        page_size_log2: None,
    };
    section.import(output.memory_import.0, output.memory_import.1, ty);
    out.push(2);
    section.encode(out);
    Ok(())
}

/// The global section with the own memory's size globals appended: pages,
/// bytes, and bytes minus each access width.
fn write_globals(out: &mut Vec<u8>, content: Option<&[u8]>, plan: &Plan) {
    let Some(pages) = plan.own_pages else {
        if let Some(c) = content {
            section(out, 6, c);
        }
        return;
    };
    let mut new = Vec::new();
    let (count, items) = match content {
        Some(c) => {
            let mut reader = wasmparser::BinaryReader::new(c, 0);
            // The module-level validation or the parser read this count.
            let count = reader.read_var_u32().unwrap_or(0);
            (count, &c[reader.original_position() as usize..])
        }
        None => (0, &[][..]),
    };
    (count + 2 + LIMITS).encode(&mut new);
    new.extend_from_slice(items);
    let global = |ty| GlobalType {
        val_type: ty,
        mutable: true,
        shared: false,
    };
    global(ValType::I32).encode(&mut new);
    ConstExpr::i32_const(pages as i32).encode(&mut new);
    global(ValType::I64).encode(&mut new);
    ConstExpr::i64_const(i64::from(pages) * PAGE as i64).encode(&mut new);
    for k in 0..LIMITS {
        global(ValType::I32).encode(&mut new);
        let limit = (u64::from(pages) * PAGE).wrapping_sub(1 << k);
        ConstExpr::i32_const(limit as i32).encode(&mut new);
    }
    section(out, 6, &new);
}

/// Exports of a memory now export the unified memory.
fn write_exports(out: &mut Vec<u8>, input: &Input<'_>) -> Result<(), Error> {
    let mut section = ExportSection::new();
    let mut re = RoundtripReencoder;
    for export in &input.exports {
        let index = if export.kind == ExternalKind::Memory {
            0
        } else {
            export.index
        };
        section.export(
            export.name,
            re.export_kind(export.kind).map_err(re_err)?,
            index,
        );
    }
    out.push(7);
    section.encode(out);
    Ok(())
}
