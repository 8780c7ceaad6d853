//! Step 4: write the output module. Sections that do not change are copied
//! byte for byte; the import, memory, global, export, code and data
//! sections are rebuilt.

use crate::Error;
use crate::plan::{PAGE, Plan};
use crate::read::Input;
use crate::rewrite::FuncOut;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    ConstExpr, DataSection, Encode, EntityType, ExportSection, GlobalType, ImportSection,
    MemoryType, ValType,
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

/// The new data section's content, checked before any body is rewritten.
pub(crate) fn data_section(input: &Input<'_>, plan: &Plan) -> Result<Option<DataSection>, Error> {
    if input.data.is_empty() {
        return Ok(None);
    }
    let mut section = DataSection::new();
    for (i, data) in input.data.iter().enumerate() {
        let segment = i as u32;
        match &data.kind {
            DataKind::Passive => {
                section.passive(data.data.iter().copied());
            }
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
                let mut ops = offset_expr.get_operators_reader();
                let first = ops.read()?;
                let constant = match (first, ops.read()?) {
                    (Operator::I32Const { value }, Operator::End) if ops.eof() => {
                        Some(value as u32)
                    }
                    _ => None,
                };
                let len = data.data.len() as u64;
                let expr = match constant {
                    Some(c) => {
                        if u64::from(c) + len > mem.min_bytes {
                            return Err(Error::DataOutOfBounds {
                                segment,
                                offset: c.into(),
                                len,
                                memory_bytes: mem.min_bytes,
                            });
                        }
                        ConstExpr::i32_const(c.wrapping_add(mem.base) as i32)
                    }
                    None if plan.isolation == crate::Isolation::Trusted => {
                        // Relocate the original expression (extended-const).
                        let mut reader = offset_expr.get_binary_reader();
                        let raw = reader.read_bytes(reader.bytes_remaining())?;
                        let mut bytes = raw[..raw.len() - 1].to_vec();
                        wasm_encoder::Instruction::I32Const(mem.base as i32).encode(&mut bytes);
                        wasm_encoder::Instruction::I32Add.encode(&mut bytes);
                        ConstExpr::raw(bytes)
                    }
                    None => return Err(Error::NonConstantDataOffset { segment }),
                };
                section.active(0, &expr, data.data.iter().copied());
            }
        }
    }
    Ok(Some(section))
}

/// Options of the output that are not in the plan.
pub(crate) struct Output<'o> {
    pub memory_import: (&'o str, &'o str),
}

/// Writes the output module.
pub(crate) fn write(
    input: &Input<'_>,
    plan: &Plan,
    funcs: &[FuncOut],
    bodies: &[std::ops::Range<usize>],
    data: Option<DataSection>,
    output: &Output<'_>,
) -> Result<Vec<u8>, Error> {
    let bytes = input.bytes;
    let code_bytes: usize = bodies.iter().map(|r| r.len() + 5).sum();
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8 + code_bytes / 8);
    out.extend_from_slice(&bytes[..8]);
    let mut types_done = plan.trap_func.is_none();
    let mut imports_done = false;
    let mut globals_done = plan.own_pages.is_none();
    let mut data = data;
    for (id, range) in &input.sections {
        let (id, content) = (*id, &bytes[range.clone()]);
        let r = rank(id);
        if r != 0 && r > rank(1) && !types_done {
            types_done = true;
            section(&mut out, 1, &append(None, &TRAP_TYPE));
        }
        if r != 0 && r > rank(2) && !imports_done {
            imports_done = true;
            write_imports(&mut out, input, plan, output)?;
        }
        if r != 0 && r > rank(6) && !globals_done {
            globals_done = true;
            write_globals(&mut out, None, plan);
        }
        match id {
            1 if !types_done => {
                types_done = true;
                section(&mut out, 1, &append(Some(content), &TRAP_TYPE));
            }
            3 if plan.trap_func.is_some() => {
                let mut ty = Vec::new();
                plan.trap_type.encode(&mut ty);
                section(&mut out, 3, &append(Some(content), &ty));
            }
            2 => {
                imports_done = true;
                write_imports(&mut out, input, plan, output)?;
            }
            5 => {}
            6 => {
                globals_done = true;
                write_globals(&mut out, Some(content), plan);
            }
            7 => write_exports(&mut out, input)?,
            10 => write_code(&mut out, bytes, funcs, bodies, plan.trap_func.is_some()),
            11 => {
                if let Some(d) = data.take() {
                    out.push(11);
                    d.encode(&mut out);
                }
            }
            _ => section(&mut out, id, content),
        }
    }
    if !types_done {
        section(&mut out, 1, &append(None, &TRAP_TYPE));
    }
    if !imports_done {
        write_imports(&mut out, input, plan, output)?;
    }
    if !globals_done {
        write_globals(&mut out, None, plan);
    }
    Ok(out)
}

/// `func [] -> []`, the type of the trap function.
const TRAP_TYPE: [u8; 3] = [0x60, 0, 0];

/// A vector section's content with one more item, `item`, at its end.
fn append(content: Option<&[u8]>, item: &[u8]) -> Vec<u8> {
    let (count, items) = match content {
        Some(c) => {
            let mut reader = wasmparser::BinaryReader::new(c, 0);
            // The parser already read this count to get here.
            let count = reader.read_var_u32().unwrap_or(0);
            (count, &c[reader.original_position() as usize..])
        }
        None => (0, &[][..]),
    };
    let mut new = Vec::with_capacity(items.len() + item.len() + 5);
    (count + 1).encode(&mut new);
    new.extend_from_slice(items);
    new.extend_from_slice(item);
    new
}

/// The body of the trap function: an access at 8 GiB - 2, out of bounds of
/// every 32-bit memory, so the trap is the one the original module raised.
fn trap_body() -> Vec<u8> {
    let mut body = vec![0]; // no locals
    wasm_encoder::InstructionSink::new(&mut body)
        .i32_const(-1)
        .i32_load8_u(wasm_encoder::MemArg {
            offset: u64::from(u32::MAX),
            align: 0,
            target: wasm_encoder::MemArgTarget::Memory(0),
            ordering: None,
        })
        .drop()
        .end();
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

/// The global section with the own memory's two size globals appended.
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
    (count + 2).encode(&mut new);
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

/// The code section: unchanged bodies are copied, rewritten ones inserted.
/// Its size is computed first so the bodies are written only once.
fn write_code(
    out: &mut Vec<u8>,
    bytes: &[u8],
    funcs: &[FuncOut],
    bodies: &[std::ops::Range<usize>],
    trap: bool,
) {
    let trap = trap.then(trap_body);
    let leb_len = |n: usize| (usize::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize;
    let body = |i: usize| -> &[u8] {
        match &funcs[i].body {
            Some((b, start)) => &b[*start..],
            None => &bytes[bodies[i].clone()],
        }
    };
    let count = funcs.len() + usize::from(trap.is_some());
    let size = leb_len(count)
        + (0..funcs.len())
            .map(|i| {
                let n = body(i).len();
                leb_len(n) + n
            })
            .sum::<usize>()
        + trap.as_ref().map_or(0, |t| leb_len(t.len()) + t.len());
    out.push(10);
    (size as u32).encode(out);
    (count as u32).encode(out);
    for b in (0..funcs.len()).map(body).chain(trap.as_deref()) {
        (b.len() as u32).encode(out);
        out.extend_from_slice(b);
    }
}
