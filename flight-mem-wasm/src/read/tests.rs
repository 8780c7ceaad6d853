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
