//! The numbers come from the layout: `Options::for_component` against the
//! layout's own table, its refusals, and the `flight-rebase` flags it writes
//! giving the same output as the library.

use flight_mem::{Layout as _, memory_layout};
use flight_mem_wasm::{Access, Error, Isolation, Options, Segment, rebase};
use std::process::Command;

memory_layout! {
    layout Engine for Wasm32 {
        guard = 64 B;
        component physics = 64 KiB { allocator: none };
        component renderer = 128 KiB { allocator: none };
        component logic = 64 KiB;
        region heap = 64 KiB;
        shared frame_data = 64 KiB { access: [physics: write, renderer: read] };
        shared commands = 4 KiB { access: [logic: write, renderer: read] };
    }
}

memory_layout! {
    layout Split for Dreamcast {
        component sh4 = 64 KiB { allocator: none };
        component gpu = 64 KiB { allocator: none };
        shared frame = 64 KiB { access: [sh4: write, gpu: read], bank: vram };
    }
}

fn region(name: &str) -> &'static flight_mem::RegionInfo {
    Engine::regions().iter().find(|r| r.name == name).unwrap()
}

#[test]
fn a_component_gets_its_segment_and_its_grants() {
    let physics = Options::for_component(Engine::table(), "physics").unwrap();
    let r = region("physics");
    assert_eq!(
        physics.segment,
        Segment {
            base: r.offset as u64,
            size: 64 << 10
        }
    );
    assert_ne!(r.offset, 0, "the guard before it moves the segment");
    assert_eq!(physics.isolation, Isolation::Checked);
    assert!(physics.allow_unused_windows);
    assert_eq!(physics.shared.len(), 1);
    let w = &physics.shared[0];
    assert_eq!(w.name(), "shared.frame_data");
    assert_eq!(w.access, Access::Write);
    let f = region("frame_data");
    assert_eq!(
        (w.segment.base, w.segment.size),
        (f.offset as u64, 64 << 10)
    );

    let renderer = Options::for_component(Engine::table(), "renderer").unwrap();
    let names: Vec<_> = renderer
        .shared
        .iter()
        .map(|w| (w.name(), w.access))
        .collect();
    assert_eq!(
        names,
        [
            ("shared.frame_data".to_string(), Access::Read),
            ("shared.commands".to_string(), Access::Read)
        ]
    );
    assert_eq!(renderer.segment.base, region("renderer").offset as u64);
}

#[test]
fn what_cannot_be_a_wasm_segment_is_refused_by_name() {
    let err = |name| match Options::for_component(Engine::table(), name) {
        Err(e @ Error::Layout { .. }) => e.to_string(),
        other => panic!("{name}: {other:?}"),
    };
    let e = err("physcis");
    assert!(e.contains("no entry of that name"), "{e}");
    assert!(e.contains("`physics`, `renderer`, `logic`"), "{e}");
    assert!(err("heap").contains("it is a `region`"));
    assert!(err("frame_data").contains("it is a `shared`"));
    let e = err("logic");
    assert!(e.contains("allocator: none"), "{e}");
    let e = Options::for_component(Split::table(), "sh4")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bank `vram`") && e.contains("bank `main`"),
        "{e}"
    );
}

const PHYSICS: &str = r#"(module
  (import "shared" "frame_data" (memory 1))
  (memory 1)
  (func (export "step") (param i32)
    (i32.store (i32.const 8) (local.get 0))
    (i32.store 1 (i32.const 0) (i32.load (i32.const 8)))))"#;

/// A module that imports none of its grants is rebased all the same: a
/// grant is a permission. The explicit `--shared` of a missing import is
/// still refused.
#[test]
fn unused_grants_are_skipped_explicit_windows_are_not() {
    let module = wat::parse_str("(module (memory 1) (func (export \"f\")))").unwrap();
    let mut opts = Options::for_component(Engine::table(), "renderer").unwrap();
    assert!(rebase(&module, &opts).is_ok());
    assert_eq!(opts.to_args(&module).len(), 6, "no --shared flag");
    opts.allow_unused_windows = false;
    assert!(matches!(
        rebase(&module, &opts),
        Err(Error::UnknownShared { .. })
    ));
}

/// The flags the layout writes, given to `flight-rebase`, produce the very
/// bytes the library does: no number is copied by hand on either path.
#[test]
fn the_cli_takes_the_layouts_numbers_through_its_spec_flags() {
    let wasm = wat::parse_str(PHYSICS).unwrap();
    let dir = std::env::temp_dir().join(format!("flight-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("physics.wasm");
    std::fs::write(&input, &wasm).unwrap();
    for isolation in [Isolation::Checked, Isolation::Masked, Isolation::Trusted] {
        let mut opts = Options::for_component(Engine::table(), "physics").unwrap();
        opts.isolation = isolation;
        let out = dir.join(format!("{isolation:?}.wasm"));
        let args = opts.to_args(&wasm);
        let f = region("frame_data");
        assert!(
            args.contains(&format!(
                "shared.frame_data={:#x}:{:#x}:write",
                f.offset, f.size
            )),
            "{args:?}"
        );
        let status = Command::new(env!("CARGO_BIN_EXE_flight-rebase"))
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .args(&args)
            .output()
            .unwrap();
        assert!(status.status.success(), "{args:?}: {status:?}");
        let library = rebase(&wasm, &opts).unwrap().wasm;
        assert_eq!(std::fs::read(&out).unwrap(), library, "{isolation:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
