//! The wasm_components example's logic, per isolation mode: on the layout's
//! bank with `checked`, the overrun traps and no neighbour byte changes;
//! `masked` keeps it inside the segment; `trusted` (no isolation) lets it
//! into the renderer's segment, which shows the check below can fail.

#[allow(dead_code)]
#[path = "../wasm_components.rs"]
mod example;

use example::{Game, Unified, World, expected_sum};
use flight_mem_wasm::{Error, Isolation, rebase};

fn run_frames(world: &mut World) {
    for n in 1..=20 {
        assert_eq!(world.frame(n).unwrap(), expected_sum(n), "frame {n}");
    }
}

#[test]
fn checked_on_the_bank_traps_and_leaves_every_neighbour_byte() {
    let tokens = (
        Game::take_physics().unwrap(),
        Game::take_renderer().unwrap(),
        Game::take_audio().unwrap(),
    );
    let mut world = World::start(
        Unified::Bank(example::bank_memory(tokens)),
        Isolation::Checked,
    )
    .unwrap();
    assert_eq!(
        world.bytes().as_ptr(),
        Game::banks()[0].start().cast_const(),
        "the unified memory is the bank itself"
    );
    run_frames(&mut world);
    let overrun = world.overrun();
    assert_eq!(overrun.trap.as_deref(), Some("out of bounds memory access"));
    assert_eq!(overrun.own_bytes_changed, 32);
    assert_eq!(overrun.neighbour_changed, None);
    // The components keep working after the trap.
    assert_eq!(world.frame(21).unwrap(), expected_sum(21));
}

#[test]
fn masked_keeps_the_overrun_inside_the_segment() {
    let mut world = World::start(Unified::Fresh, Isolation::Masked).unwrap();
    run_frames(&mut world);
    let overrun = world.overrun();
    assert_eq!(overrun.trap, None, "masked wraps instead of trapping");
    assert_eq!(overrun.own_bytes_changed, 64);
    assert_eq!(overrun.neighbour_changed, None);
}

#[test]
fn trusted_lets_the_overrun_into_the_renderer() {
    let mut world = World::start(Unified::Fresh, Isolation::Trusted).unwrap();
    run_frames(&mut world);
    let overrun = world.overrun();
    assert_eq!(overrun.trap, None);
    assert_eq!(overrun.neighbour_changed, Some((0x10000, "renderer")));
}

#[test]
fn a_renderer_that_could_write_frame_data_is_refused() {
    let text = example::MODULES[1].1.replace(
        "(local.get $sum))",
        "(i32.store $frame (i32.const 0) (i32.const 0)) (local.get $sum))",
    );
    let wasm = wat::parse_str(&text).unwrap();
    match rebase(&wasm, &example::options("renderer", Isolation::Checked)) {
        Err(Error::WriteToReadOnly { window, .. }) => assert_eq!(window, "shared.frame_data"),
        other => panic!("{:?}", other.map(|r| r.stats)),
    }
}
