//! The scanner against wasmparser's operator reader: on every function body
//! of every module of the spec suite (all scripts, SIMD, threads and the
//! other proposals wasmparser decodes) and of wasm-smith modules with SIMD,
//! atomics, bulk memory and multi-memory, every instruction boundary and
//! every memory instruction agree, and `run` stops exactly at the memory
//! instructions `step` finds.

use super::*;
use crate::ops;
use wasmparser::{Operator, Parser, Payload};

#[derive(Default, Debug)]
struct Counts {
    bodies: u64,
    instructions: u64,
    loads: u64,
    plain_memargs: u64,
    other_memory: u64,
    /// Bodies the scanner hands to wasmparser (an opcode it does not know).
    fallbacks: u64,
    /// Bodies whose stops came from the look-ahead's records.
    replayed: u64,
}

fn pure(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::I64Const { .. }
            | Operator::F32Const { .. }
            | Operator::F64Const { .. }
            | Operator::V128Const { .. }
            | Operator::LocalGet { .. }
            | Operator::GlobalGet { .. }
    )
}

/// Steps through one body (`wasm[start..end]`) beside wasmparser; `run`
/// sees the whole module, as in the rewriter, so its branch-free loop may
/// look past the body. `Err` names the first
/// disagreement.
fn body(wasm: &[u8], end: usize, start: usize, c: &mut Counts) -> Result<(), String> {
    let b = &wasm[..end];
    let mut reader =
        wasmparser::OperatorsReader::new(wasmparser::BinaryReader::new(&b[start..], start as u64));
    let mut i = start;
    let mut memory_at = Vec::new();
    // What `run` must report before each memory instruction, kept the slow
    // way, one `step` at a time.
    let mut expect = [Prev::Other; 2];
    while !reader.eof() {
        let at = reader.original_position() as usize;
        if at != i {
            return Err(format!("boundary: scanner at {i}, wasmparser at {at}"));
        }
        let Ok(op) = reader.read() else {
            return Ok(()); // not decodable: nothing to compare
        };
        let end = reader.original_position() as usize;
        c.instructions += 1;
        let Some((next, step)) = step(b, i) else {
            // Only what the table does not claim to know may fall back:
            // unknown opcodes, typed `select`, exact heap types.
            let exact = format!("{op:?}").to_lowercase().contains("exact");
            let known = SHAPE[b[i] as usize] != UNKNOWN && b[i] != 0x1C && !exact;
            if known {
                return Err(format!("{op:?} at {i}: the scanner gave up on it"));
            }
            c.fallbacks += 1;
            return Ok(());
        };
        let memory = ops::classify(&op).is_some();
        match step {
            Step::Load => {
                c.loads += 1;
                if !memory {
                    return Err(format!("{op:?} at {i}: a load for the scanner only"));
                }
                if let Some((memarg, n)) = plain_memarg(b, i) {
                    c.plain_memargs += 1;
                    let built = ops::plain(b[i], memarg);
                    if n != end || built.as_ref() != Some(&op) {
                        return Err(format!("{op:?} at {i}: memarg read as {built:?} to {n}"));
                    }
                }
                memory_at.push((i, expect));
                expect = [Prev::Other, expect[0]];
            }
            Step::Memory => {
                c.other_memory += 1;
                // Memory instructions on GC arrays are none for the rewriter.
                let array = format!("{op:?}").contains("Array(");
                if !memory && !array {
                    return Err(format!("{op:?} at {i}: memory for the scanner only"));
                }
                memory_at.push((i, expect));
                expect = [Prev::Other, expect[0]];
            }
            _ => {
                if memory {
                    return Err(format!(
                        "{op:?} at {i}: the scanner missed a memory instruction"
                    ));
                }
                if next != end {
                    return Err(format!("{op:?} at {i}: ends at {end}, scanner says {next}"));
                }
                let kind_ok = match step {
                    Step::Const => match op {
                        Operator::I32Const { value } => const_at(b, i) == Some(value as u32),
                        _ => false,
                    },
                    Step::Pure => pure(&op),
                    Step::Unary => ops::pure_unary(&op),
                    Step::End => matches!(op, Operator::End),
                    _ => {
                        !pure(&op)
                            && !ops::pure_unary(&op)
                            && !matches!(op, Operator::I32Const { .. } | Operator::End)
                    }
                };
                if !kind_ok {
                    return Err(format!("{op:?} at {i}: classified as {step:?}"));
                }
                expect = match step {
                    Step::Unary => [unary(expect[0]), expect[1]],
                    Step::Pure => [Prev::Pure(i), expect[0]],
                    Step::Const => [Prev::Const(i), expect[0]],
                    _ => [Prev::Other, expect[0]],
                };
            }
        }
        i = end;
    }
    // `run` stops at the same memory instructions, with the same two
    // instructions before each, and ends with the body.
    let mut i = start;
    let mut prev = [Prev::Other; 2];
    for &(m, before) in &memory_at {
        match run(wasm, end, i, &mut prev) {
            Stop::Load(at) | Stop::Memory(at) if at == m => {}
            s => return Err(format!("run from {i} stopped at {s:?}, expected {m}")),
        }
        if prev != before {
            return Err(format!(
                "run stopped at {m} after {prev:?}, expected {before:?}"
            ));
        }
        let mut r =
            wasmparser::OperatorsReader::new(wasmparser::BinaryReader::new(&b[m..], m as u64));
        r.read().map_err(|e| e.to_string())?;
        i = r.original_position() as usize;
        prev = [Prev::Other, prev[0]];
    }
    match run(wasm, end, i, &mut prev) {
        Stop::End => Ok(()),
        s => Err(format!("run from {i} ended with {s:?}")),
    }
}

/// The stops a `trusted` rewriter sees in the body `wasm[start..end]`,
/// calling `stop` as it does (resuming after a stop where the memarg or
/// wasmparser puts the instruction's end): each with the `Prev`s, except
/// at a plain load or store of memory 0, whose `Prev`s `trusted` never
/// reads; ends at the first undecodable stop.
fn stops(
    wasm: &[u8],
    start: usize,
    end: usize,
    mut stop: impl FnMut(usize, &mut [Prev; 2]) -> Stop,
) -> Vec<(Stop, Option<[Prev; 2]>)> {
    let b = &wasm[..end];
    let mut out = Vec::new();
    let mut i = start;
    let mut prev = [Prev::Other; 2];
    loop {
        let s = stop(i, &mut prev);
        let (Stop::Load(at) | Stop::Memory(at)) = s else {
            out.push((s, None));
            return out;
        };
        let plain = match s {
            Stop::Load(_) => {
                plain_memarg(b, at).filter(|(m, _)| m.target == MemArgTarget::Memory(0))
            }
            _ => None,
        };
        out.push((s, plain.is_none().then_some(prev)));
        let mut r =
            wasmparser::OperatorsReader::new(wasmparser::BinaryReader::new(&b[at..], at as u64));
        i = match plain {
            Some((_, next)) => next,
            None if r.read().is_ok() => r.original_position() as usize,
            None => return out,
        };
        prev = [Prev::Other, prev[0]];
    }
}

/// The look-ahead of all the module's bodies at once (interleaved) gives
/// the `trusted` rewriter the stops `run` gives.
fn look_ahead(wasm: &[u8], c: &mut Counts) -> Result<(), String> {
    let bodies: Vec<_> = Parser::new(0)
        .parse_all(wasm)
        .map_while(Result::ok)
        .filter_map(|p| match p {
            Payload::CodeSectionEntry(body) => Some(crate::read::Body {
                body,
                validator: None,
            }),
            _ => None,
        })
        .collect();
    let mut ahead = Ahead::default();
    ahead.scan(wasm, true, &bodies);
    for (n, f) in bodies.iter().map(|b| &b.body).enumerate() {
        let Ok(mut locals) = f.get_locals_reader() else {
            continue;
        };
        if (0..locals.get_count()).any(|_| locals.read().is_err()) {
            continue;
        }
        let (start, end) = (locals.original_position() as usize, f.range().end as usize);
        let live = stops(wasm, start, end, |i, p| run(wasm, end, i, p));
        let mut replay = ahead.replay(n);
        let replayed = stops(wasm, start, end, |i, p| replay.run(wasm, end, i, p));
        if live != replayed {
            return Err(format!("body {n}: run {live:?}, replayed {replayed:?}"));
        }
        c.replayed += u64::from(replay.replayed());
    }
    Ok(())
}

fn module(wasm: &[u8], c: &mut Counts) -> Result<(), String> {
    look_ahead(wasm, c)?;
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { return Ok(()) };
        if let Payload::CodeSectionEntry(f) = payload {
            let Ok(locals) = f.get_locals_reader() else {
                continue;
            };
            let mut locals = locals;
            for _ in 0..locals.get_count() {
                if locals.read().is_err() {
                    return Ok(());
                }
            }
            let start = locals.original_position() as usize;
            let end = f.range().end as usize;
            c.bodies += 1;
            body(wasm, end, start, c)?;
        }
    }
    Ok(())
}

#[test]
fn agrees_with_wasmparser_on_the_spec_suite() {
    let mut c = Counts::default();
    let mut failures = Vec::new();
    for (script, wasm) in crate::test_modules::spec_suite_modules(true) {
        if let Err(e) = module(&wasm, &mut c) {
            failures.push(format!("{script}: {e}"));
        }
    }
    println!("{c:?}");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(c.instructions > 50_000, "too few instructions: {c:?}");
    assert!(c.plain_memargs > 3_000 && c.other_memory > 1_000, "{c:?}");
    assert!(c.replayed > 1_000, "{c:?}");
}

#[test]
fn agrees_with_wasmparser_on_wasm_smith_modules() {
    let config = wasm_smith::Config {
        max_memories: 3,
        memory64_enabled: false,
        simd_enabled: true,
        threads_enabled: true,
        bulk_memory_enabled: true,
        reference_types_enabled: true,
        gc_enabled: false,
        exceptions_enabled: false,
        min_funcs: 1,
        max_instructions: 400,
        max_funcs: 20,
        ..wasm_smith::Config::default()
    };
    let mut c = Counts::default();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut data = vec![0u8; 64 * 1024];
    for n in 0..300 {
        for byte in data.iter_mut() {
            // splitmix64's output function: fixed seeds, the same modules
            // on every run.
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            *byte = (z ^ (z >> 31)) as u8;
        }
        let mut u = arbitrary::Unstructured::new(&data);
        let Ok(m) = wasm_smith::Module::new(config.clone(), &mut u) else {
            continue;
        };
        let wasm = m.to_bytes();
        if let Err(e) = module(&wasm, &mut c) {
            panic!("module {n}: {e}");
        }
    }
    println!("{c:?}");
    assert!(c.loads > 1_000 && c.other_memory > 100, "{c:?}");
    assert!(c.replayed > 100, "{c:?}");
}
