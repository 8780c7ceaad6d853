//! A fixed bank's entries end before the last address (audit14).

use super::{expand, tokens};

/// The macro places a fixed bank's literal entries by itself (no const
/// plan for rustc to check on the target) only where they end before the
/// last 32-bit address: Rust's allocations satisfy `base + size <=
/// usize::MAX`, so an entry ending at 4 GiB on a 32-bit target has an end
/// pointer that wraps to null. 64 KiB at `0xFFFF_0000` ends there and goes
/// to `BankPlan::place_fixed` (which refuses it on 32-bit targets, and
/// places it on 64-bit ones); a byte less the macro places itself.
#[test]
fn a_fixed_bank_ending_at_4_gib_is_left_to_the_target() {
    let layout = |size: &str| {
        expand(tokens(&format!(
            "pub layout Board {{
                unsafe bank hw = 64 KiB {{ base: 0xFFFF_0000 }};
                region low = 32 KiB {{ bank: hw }};
                region high = {size} {{ bank: hw }};
            }}"
        )))
        .to_string()
    };
    let at_the_end = layout("32 KiB");
    assert!(!at_the_end.contains("compile_error"), "{at_the_end}");
    assert!(at_the_end.contains("place_fixed"), "{at_the_end}");
    let before_it = layout("32767 B");
    assert!(!before_it.contains("compile_error"), "{before_it}");
    assert!(!before_it.contains("place_fixed"), "{before_it}");
}
