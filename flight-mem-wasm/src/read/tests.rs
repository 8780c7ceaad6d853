//! `data_segments` against wasmparser's own reader of the data section,
//! and `constant_offset` against wasmparser's operators, on every module of
//! the spec suite and on wasm-smith modules with many data segments: the
//! same segments (kind, memory, offset expression, contents, range) and
//! the same constant offsets (and a common segment's decoded offset).

use super::*;
use crate::write::constant_offset;

/// `constant_offset` as wasmparser's operators give it.
fn reference_offset(expr: &ConstExpr<'_>) -> Option<u32> {
    let mut ops = expr.get_operators_reader();
    match (ops.read().ok()?, ops.read().ok()?) {
        (wasmparser::Operator::I32Const { value }, wasmparser::Operator::End) if ops.eof() => {
            Some(value as u32)
        }
        _ => None,
    }
}

fn expr_bytes(e: &ConstExpr<'_>) -> (u64, Vec<u8>) {
    let mut r = e.get_binary_reader();
    let at = r.original_position();
    (at, r.read_bytes(r.bytes_remaining()).unwrap().to_vec())
}

/// Compares the two readers on `wasm`'s data section; how many segments.
fn compare(wasm: &[u8]) -> Result<usize, String> {
    let mut n = 0;
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(Payload::DataSection(section)) = payload else {
            continue;
        };
        let theirs: Result<Vec<Data<'_>>, _> = section.clone().into_iter().collect();
        let mut ours = Vec::new();
        let ours = data_segments(wasm, section, &mut ours).map(|()| ours);
        let (theirs, ours) = match (theirs, ours) {
            (Ok(t), Ok(o)) => (t, o),
            (Err(_), Err(_)) => return Ok(n),
            (t, o) => return Err(format!("{:?} against {:?}", t.err(), o.err())),
        };
        if theirs.len() != ours.len() {
            return Err(format!("{} segments against {}", theirs.len(), ours.len()));
        }
        for (t, seg) in theirs.iter().zip(&ours) {
            let o = &seg.to_data(wasm);
            if let (Segment::Common { offset, .. }, DataKind::Active { offset_expr, .. }) =
                (seg, &t.kind)
                && reference_offset(offset_expr) != Some(*offset)
            {
                return Err(format!("segment {n}: the common segment's offset differs"));
            }
            let same_kind = match (&t.kind, &o.kind) {
                (DataKind::Passive, DataKind::Passive) => true,
                (
                    DataKind::Active {
                        memory_index: a,
                        offset_expr: x,
                    },
                    DataKind::Active {
                        memory_index: b,
                        offset_expr: y,
                    },
                ) => {
                    if constant_offset(y) != reference_offset(x) {
                        return Err(format!("segment {n}: constant offsets differ"));
                    }
                    a == b && expr_bytes(x) == expr_bytes(y)
                }
                _ => false,
            };
            if !same_kind || t.data != o.data || t.range != o.range {
                return Err(format!("segment {n}: {t:?} against {o:?}"));
            }
            n += 1;
        }
    }
    Ok(n)
}

#[test]
fn data_segments_agree_with_wasmparser_on_the_spec_suite() {
    let (mut segments, mut failures) = (0, Vec::new());
    for (script, wasm) in crate::test_modules::spec_suite_modules(true) {
        match compare(&wasm) {
            Ok(n) => segments += n,
            Err(e) => failures.push(format!("{script}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(segments > 500, "only {segments} data segments");
}

#[test]
fn data_segments_agree_with_wasmparser_on_wasm_smith_modules() {
    let config = wasm_smith::Config {
        max_memories: 2,
        min_memories: 1,
        min_data_segments: 5,
        max_data_segments: 60,
        memory64_enabled: false,
        bulk_memory_enabled: true,
        max_funcs: 2,
        ..wasm_smith::Config::default()
    };
    let mut segments = 0;
    for (n, wasm) in
        crate::test_modules::smith_modules(config, 0x1234_5678_9ABC_DEF1, 16 * 1024, 400)
    {
        segments += compare(&wasm)
            .map_err(|e| format!("module {n}: {e}"))
            .unwrap();
    }
    assert!(segments > 1_500, "only {segments} data segments");
}

/// The bodies (their ranges) of `wasm` read without validation, or the
/// error: what `read` gives.
fn read_bodies(wasm: &[u8]) -> Result<Vec<Range<usize>>, String> {
    read(wasm, false, false)
        .map(|input| input.bodies.iter().map(|b| range(b.body.range())).collect())
        .map_err(|e| format!("{e:?}"))
}

/// The same through wasmparser's `parse_all`, an entry per payload (the
/// path `read` takes only where `code_entries` refuses).
fn parser_bodies(wasm: &[u8]) -> Result<Vec<Range<usize>>, String> {
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| format!("{:?}", Error::from(e)))? {
            Payload::CodeSectionEntry(body) => bodies.push(range(body.range())),
            Payload::DataSection(reader) => {
                data_segments(wasm, reader, &mut Vec::new()).map_err(|e| format!("{e:?}"))?
            }
            _ => {}
        }
    }
    Ok(bodies)
}

/// `wasm` with its code section's content (after the count) changed by
/// `edit`, the section's size fixed.
fn with_code(wasm: &[u8], edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = wasm[..8].to_vec();
    let mut reader = BinaryReader::new(&wasm[8..], 8);
    while !reader.eof() {
        let id = reader.read_u8().unwrap();
        let len = reader.read_var_u32().unwrap() as usize;
        let mut content = reader.read_bytes(len).unwrap().to_vec();
        if id == 10 {
            // The count is one byte in these modules.
            let mut entries = content.split_off(1);
            edit(&mut entries);
            content.extend_from_slice(&entries);
        }
        out.push(id);
        let mut size = Vec::new();
        crate::rewrite::put_leb(&mut size, content.len() as u64);
        out.extend_from_slice(&size);
        out.extend_from_slice(&content);
    }
    out
}

/// A change to a code section's entries.
type Edit = dyn Fn(&mut Vec<u8>);

#[test]
fn code_entries_are_the_parsers_or_its_error() {
    let wasm = wat::parse_str(
        r#"(module (memory 1)
            (func (param i32) (result i32) (i32.load (local.get 0)))
            (func (nop))
            (func (param i32) (i32.store (local.get 0) (i32.const 7)))
            (data (i32.const 16) "abc"))"#,
    )
    .unwrap();
    let edits: [(&str, &Edit); 6] = [
        ("as it is", &|_| {}),
        ("a trailing byte", &|e| e.push(0)),
        ("the last entry cut short", &|e| {
            e.pop();
        }),
        ("the first entry's size one more", &|e| e[0] += 1),
        ("the first entry's size one less", &|e| e[0] -= 1),
        // A size LEB of six bytes: malformed.
        ("an over-long size", &|e| {
            let size = e[0];
            e.splice(0..1, [size | 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
        }),
    ];
    let mut taken = Vec::new();
    for (what, edit) in edits {
        let module = with_code(&wasm, edit);
        let ours = read_bodies(&module);
        assert_eq!(ours, parser_bodies(&module), "{what}");
        if ours.is_ok() {
            taken.push(what);
        }
    }
    // One byte less for the first body: the next size is read from its
    // last byte, and the entries happen to end where the section ends
    // (other bodies than the module's, the same for both readers).
    assert_eq!(taken, ["as it is", "the first entry's size one less"]);
    // Every module of the spec suite that `read` takes: the same bodies.
    let mut bodies = 0;
    for (script, wasm) in crate::test_modules::spec_suite_modules(true) {
        let ours = read_bodies(&wasm);
        assert_eq!(ours, parser_bodies(&wasm), "{script}");
        bodies += ours.map_or(0, |b| b.len());
    }
    assert!(bodies > 5_000, "only {bodies} bodies");
}
