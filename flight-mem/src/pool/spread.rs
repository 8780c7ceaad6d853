//! The order in which a pool hands out never-used slots: spread over the side
//! table, so that slots handed out close together never share a cache line of
//! link words.
//!
//! # Why
//!
//! Every allocation and free writes its slot's 4-byte link word (the live
//! mark, then the free link), and 16 link words share a 64-byte cache line.
//! Handed out in index order, the first slots of a pool — the ones a LIFO
//! workload keeps reusing — sit next to each other in the side table, so two
//! threads whose magazines hold neighbouring slots write one line from two
//! cores on every operation (false sharing: two threads through their own
//! magazines ran at 0.79× one thread's throughput, against 2.04× when the
//! second thread's hot slot was moved lines away by hand).
//!
//! # The order
//!
//! Think of a table of `n` slots as a grid of 16 columns, slot
//! `16 · row + column`, so that a row is 16 consecutive link words (column
//! `c` has `n / 16` rows, one more when `c < n mod 16`). Never-used slots are
//! taken down the columns: slots `0, 16, 32, …`, then `1, 17, …`.
//!
//! The free stack's `fresh` word holds the *code* of the next cell to hand
//! out, `column << 28 | row`, and the code of slot `i` is `i` rotated right
//! by 4 bits. Codes compare in the order cells are handed out, so "slot `i`
//! has been handed out" is `i.rotate_right(4) < fresh`: one rotation more
//! than the index-order check `i < fresh`, on every free. Moving the code on
//! and counting the cells before it (for the statistics) need the table
//! length and sit on cold paths; none divides.
//!
//! # What it guarantees
//!
//! With `q = n / 16` full rows, two slots whose ranks in this order differ by
//! 1 to `q − 2` have link words at least 16 words (64 bytes) apart, so they
//! never share a cache line, whatever the table's alignment: in one column
//! they are `16 · |Δrow| ≥ 16` words apart; in neighbouring columns, ranks
//! closer than `q − 1` need rows at least 2 apart the other way, so the
//! words are `16 · Δrow − 1 ≥ 31` apart; columns further apart are more than
//! `q` ranks apart. So while at most `q − 1` slots (a 16th of the pool) have
//! ever been live at once — the pool's peak; a magazine's cached slots count
//! — no two slots in use share a line, whichever thread, magazine or stack
//! order they go through. Past that working set lines fill up as in index
//! order.
//!
//! The blocks follow the same order (block `i` belongs to slot `i`), so
//! neighbouring fresh blocks are 16 blocks apart too: no false sharing on
//! user data either (blocks of 4 bytes or more), at the price of spatial
//! locality while the pool is sparsely used (the first `q` allocations touch
//! pages across the whole pool).

/// Link words per 64-byte cache line: the columns of the grid.
const COLUMNS: u32 = 16;
const COLUMN_BITS: u32 = COLUMNS.trailing_zeros();
const ROW_BITS: u32 = u32::BITS - COLUMN_BITS;
const ROW_MASK: u32 = (1 << ROW_BITS) - 1;

/// The code of `slot`: `column << 28 | row`. Codes order slots the way they
/// are handed out.
#[inline(always)]
pub(crate) const fn code(slot: u32) -> u32 {
    slot.rotate_right(COLUMN_BITS)
}

/// The slot whose code is `code` (which must be a cell of the table).
#[inline]
pub(crate) const fn slot(code: u32) -> u32 {
    code.rotate_left(COLUMN_BITS)
}

/// Rows of column `column` in a table of `len` slots.
#[inline]
const fn rows(len: u32, column: u32) -> u32 {
    (len >> COLUMN_BITS) + (column < len % COLUMNS) as u32
}

/// How many cells come before `code` in the order: the slots handed out
/// when `fresh` is `code`. `code` is a cell or the end code of the table.
#[inline]
pub(crate) const fn count(len: u32, code: u32) -> u32 {
    let column = code >> ROW_BITS;
    let extra = len % COLUMNS;
    let before = if column < extra { column } else { extra };
    column * (len >> COLUMN_BITS) + before + (code & ROW_MASK)
}

/// The code after `code` (a cell of the table), or the end code after the
/// last cell (`count` of it is `len`).
#[inline]
pub(crate) const fn next(len: u32, code: u32) -> u32 {
    let column = code >> ROW_BITS;
    if (code & ROW_MASK) + 1 < rows(len, column) || column == COLUMNS - 1 {
        code + 1
    } else {
        (column + 1) << ROW_BITS
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// Table lengths around every boundary of the grid (fewer under Miri).
    fn lengths() -> impl Iterator<Item = u32> {
        let large: &[u32] = if cfg!(miri) {
            &[]
        } else {
            &[4_095, 4_096, 4_097, 5_000, 65_535, 65_536, 100_000]
        };
        (0..=80)
            .chain([95, 96, 97, 255, 256, 257, 511])
            .chain(large.iter().copied())
    }

    /// The slots of a table in the order they are handed out, checking the
    /// code arithmetic on the way.
    fn order(len: u32) -> Vec<u32> {
        let mut seen = vec![false; len as usize];
        let mut code = 0;
        let mut slots = Vec::new();
        for rank in 0..len {
            assert_eq!(count(len, code), rank, "{len}: code {code:#x}");
            let slot = slot(code);
            assert!(slot < len, "{len}: rank {rank} -> slot {slot}");
            assert!(!seen[slot as usize], "{len}: slot {slot} twice");
            seen[slot as usize] = true;
            assert_eq!(super::code(slot), code);
            slots.push(slot);
            let after = next(len, code);
            assert!(after > code, "{len}: codes must grow");
            code = after;
        }
        assert_eq!(count(len, code), len, "{len}: the end code counts all");
        slots
    }

    #[test]
    fn order_is_a_bijection_with_growing_codes() {
        for len in lengths() {
            let slots = order(len);
            // "Handed out" is `code(slot) < fresh`: exactly the slots before.
            for (rank, &slot) in slots.iter().enumerate().step_by(7) {
                let fresh = slots.get(rank + 1).map_or(u32::MAX, |&s| code(s));
                assert!(code(slot) < fresh);
                for &later in &slots[rank + 1..] {
                    assert!(code(later) >= fresh, "{len}: slot {later}");
                }
            }
        }
    }

    /// The property the magazines rely on: link words (4 bytes, slot `i` at
    /// byte `4 i` of the table) of slots whose ranks are closer than
    /// `len / 16 - 1` are at least 64 bytes apart, so they share no cache
    /// line at any table alignment.
    #[test]
    fn close_ranks_never_share_a_line_of_link_words() {
        for len in lengths() {
            let slots = order(len);
            let rows = len / COLUMNS;
            // Every pair for small tables; for large ones the first ranks and
            // the ranks around the first column boundary.
            let firsts = (0..slots.len().min(2 * rows as usize))
                .filter(|&rank| rows <= 256 || rank < 64 || rank.abs_diff(rows as usize) < 64);
            for first in firsts {
                let close = (first + rows.saturating_sub(1) as usize).min(slots.len());
                for second in first + 1..close {
                    let words = slots[first].abs_diff(slots[second]);
                    assert!(
                        words >= COLUMNS,
                        "{len}: ranks {first} and {second} are {words} words apart"
                    );
                }
            }
        }
    }

    /// The code arithmetic at the far end of the largest tables (a `u32`
    /// of slots, rows filling all 28 row bits): walking each column's last
    /// cells with `next` and `count` neither overflows (a panic in this
    /// test's debug build) nor leaves the table, and the end code counts
    /// every slot.
    #[test]
    fn largest_tables_count_without_overflow() {
        for len in [
            u32::MAX,
            u32::MAX - 1,
            u32::MAX - 15,
            u32::MAX - 16,
            1 << 31,
            (1 << 31) + 5,
            (1 << 28) + 3,
        ] {
            let mut before = 0u32;
            for column in 0..COLUMNS {
                let rows = rows(len, column);
                assert!(rows <= 1 << ROW_BITS, "{len}: column {column}");
                if rows == 0 {
                    continue;
                }
                let last = column << ROW_BITS | (rows - 1);
                let slot = slot(last);
                assert!(slot < len, "{len}: column {column} ends at {slot}");
                assert_eq!(code(slot), last);
                assert_eq!(count(len, column << ROW_BITS), before, "{len}: {column}");
                assert_eq!(count(len, last), before + rows - 1, "{len}: {column}");
                before += rows;
                let after = next(len, last);
                assert!(after > last, "{len}: column {column}");
                assert_eq!(count(len, after), before, "{len}: column {column}");
            }
            assert_eq!(before, len);
        }
    }

    #[test]
    fn first_ranks_of_a_4096_slot_pool() {
        let slots = order(4_096);
        assert_eq!(slots[..4], [0, 16, 32, 48]);
        assert_eq!(slots[255], 255 * 16);
        assert_eq!(slots[256], 1);
        assert_eq!(slots[4_095], 4_095);
        // 21 slots: column 0..4 have 2 rows, the rest 1.
        assert_eq!(order(21)[..8], [0, 16, 1, 17, 2, 18, 3, 19]);
        assert_eq!(order(21)[8..12], [4, 20, 5, 6]);
    }
}
