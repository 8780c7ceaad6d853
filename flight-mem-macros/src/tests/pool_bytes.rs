//! The macro's block pool sizes against the runtime's.

use super::Rng;

/// The macro sizes literal block pools itself (`analyze::block_pool_bytes`)
/// where the runtime would, to the byte, and leaves to the const plan every
/// pool the runtime refuses (`block_pool_bytes` = `usize::MAX`) or sizes
/// past what the macro places on every target.
#[test]
fn macro_pool_bytes_match_the_runtime() {
    use crate::analyze::{MAX_PORTABLE, block_pool_bytes};
    let max_slots = u64::from(u32::MAX - 2);
    let mut cases: Vec<(u64, u64, u64)> = vec![
        (0, 8, 1),
        (1, 1, 1),
        (1, 1, max_slots),
        (1, 1, max_slots + 1),
        (3, 2, 5),
        (3, 3, 5),
        (max_slots, 1, 1),
        (max_slots + 1, 1, 1),
        (max_slots - 1, 1, 2),
        (max_slots - 1, 1, 3),
        (1 << 20, 4096, 2047),
        (1 << 20, 4096, 2048),
    ];
    let mut rng = Rng(0x9001_B10C_5EED_0002);
    for _ in 0..20_000 {
        // Magnitudes spread over 2..2^34, so every limit is crossed.
        let bits = 1 + rng.below(33);
        let block = 1 + rng.below(1 << bits) as u64;
        let align = 1u64 << rng.below(14);
        let bits = 1 + rng.below(33);
        let count = 1 + rng.below(1 << bits) as u64;
        cases.push((block, align, count));
    }
    let mut sized = 0;
    for (block, align, count) in cases {
        let runtime =
            flight_mem::__private::block_pool_bytes(block as usize, align as usize, count as usize);
        match block_pool_bytes(block, align, count) {
            Some(bytes) => {
                assert_eq!(bytes, runtime as u128, "[{block} B; {count}] align {align}");
                sized += 1;
            }
            None => assert!(
                runtime == usize::MAX || runtime as u128 > MAX_PORTABLE,
                "[{block} B; {count}] align {align}: the runtime sizes it {runtime}"
            ),
        }
    }
    assert!(sized > 5_000, "only {sized} pools sized");
}
