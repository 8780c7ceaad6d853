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
//! Think of the first `16 · S` slots as a grid of `S` rows (`S` a power of
//! two, `16 · S < slots`) by 16 columns, slot `16 · row + column`, so that a
//! row is 16 consecutive link words. The `rank`-th never-used slot (`rank`
//! counts the pool's fresh slots, the `fresh` counter of the free stack) is
//! taken down the columns: ranks `0, 1, 2, …` are slots `0, 16, 32, …`, rank
//! `S` is slot 1, and so on; slots from `16 · S` on are taken in index order.
//! Both directions are a mask, two shifts and an or — no division:
//!
//! * slot of a rank below `16 · S`: `(rank mod S) · 16 + rank / S`;
//! * rank of a slot below `16 · S`: `(slot mod 16) · S + slot / 16`.
//!
//! # What it guarantees
//!
//! Two slots whose ranks differ by 1 to `S − 2` have link words at least 16
//! words (64 bytes) apart, so they never share a cache line, whatever the
//! table's alignment. Same column: different rows, `16 · |Δrow| ≥ 16` words
//! apart. Neighbouring columns: ranks `c · S + r` and `(c + 1) · S + r'`
//! differ by at most `S − 2` only if `r' ≤ r − 2`, so the words are
//! `16 · (r − r') − 1 ≥ 31` apart. Columns further apart differ by more than
//! `S` ranks. So while at most `S − 1` slots have ever been live at once (the
//! pool's peak; a magazine's cached slots count), no two slots in use share a
//! line, whichever thread, magazine or stack order they go through. `S` is at
//! least a 32nd of the slots: 128 rows for 4,096 slots. Past that working
//! set lines fill up as in index order.
//!
//! The blocks follow the same order (block `i` belongs to slot `i`), so
//! neighbouring fresh blocks are 16 blocks apart too: no false sharing on
//! user data either, at the price of spatial locality while the pool is
//! sparsely used (the first `S` allocations touch the whole first `16 · S`
//! blocks' pages).

/// Link words per 64-byte cache line.
const PER_LINE: u32 = 16;
const COLUMN_BITS: u32 = PER_LINE.trailing_zeros();

/// The fresh-slot order of one pool (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Spread {
    /// `log2(S)`, the rows of the grid.
    row_bits: u32,
    /// `S` (1 without a grid).
    rows: u32,
    /// `16 · S`: ranks and slots from here on are in index order (0 for
    /// pools too small for two rows, which keep index order throughout).
    end: u32,
}

impl Spread {
    /// The order for a pool of at most `max_slots` slots, valid for any
    /// table of `max_slots - 1` slots or more (memory that turns out
    /// misaligned at run time loses at most one slot: see `BlockPool`).
    pub(crate) const fn for_slots(max_slots: u32) -> Self {
        let rows = max_slots.saturating_sub(1) >> COLUMN_BITS;
        if rows < 2 {
            return Self {
                row_bits: 0,
                rows: 1,
                end: 0,
            };
        }
        // The largest power of two at most `rows`: `16 · S <= max_slots - 1`.
        let row_bits = u32::BITS - 1 - rows.leading_zeros();
        Self {
            row_bits,
            rows: 1 << row_bits,
            end: PER_LINE << row_bits,
        }
    }

    /// `S`: ranks closer than `S - 1` never share a line of link words.
    #[cfg(test)]
    pub(crate) const fn rows(self) -> u32 {
        if self.end == 0 { 0 } else { self.rows }
    }

    /// The slot handed out as the `rank`-th never-used one.
    #[inline]
    pub(crate) const fn slot(self, rank: u32) -> u32 {
        if rank < self.end {
            ((rank & ((1 << self.row_bits) - 1)) << COLUMN_BITS) | (rank >> self.row_bits)
        } else {
            rank
        }
    }

    /// The rank of `slot` in the fresh order: it has been handed out once
    /// exactly when its rank is below the fresh count.
    #[inline(always)]
    pub(crate) const fn rank(self, slot: u32) -> u32 {
        if slot < self.end {
            // A multiplication by `S` rather than a shift by `row_bits`: one
            // instruction fewer on x86-64 without BMI2 (no shift count to
            // move into `cl`), on every free.
            (slot & (PER_LINE - 1)) * self.rows + (slot >> COLUMN_BITS)
        } else {
            slot
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// Pool sizes around every boundary of the grid (fewer under Miri).
    fn sizes() -> impl Iterator<Item = u32> {
        let large: &[u32] = if cfg!(miri) {
            &[]
        } else {
            &[4_095, 4_096, 4_097, 5_000, 65_535, 65_536, 100_000]
        };
        (0..=80)
            .chain([95, 96, 97, 255, 256, 257, 511])
            .chain(large.iter().copied())
    }

    #[test]
    fn order_is_a_bijection_on_every_table_it_may_serve() {
        for max in sizes() {
            let spread = Spread::for_slots(max);
            // The table may be one slot short (misaligned memory).
            for len in [max.saturating_sub(1), max] {
                let mut seen = vec![false; len as usize];
                for rank in 0..len {
                    let slot = spread.slot(rank);
                    assert!(slot < len, "{max}/{len}: rank {rank} -> slot {slot}");
                    assert!(!seen[slot as usize], "{max}/{len}: slot {slot} twice");
                    seen[slot as usize] = true;
                    assert_eq!(spread.rank(slot), rank, "{max}/{len}: slot {slot}");
                }
            }
        }
    }

    /// The property the magazines rely on: link words (4 bytes, slot `i` at
    /// byte `4 i` of the table) of slots whose ranks are closer than `S - 1`
    /// are at least 64 bytes apart, so they share no cache line at any table
    /// alignment.
    #[test]
    fn close_ranks_never_share_a_line_of_link_words() {
        for max in sizes() {
            let spread = Spread::for_slots(max);
            let rows = spread.rows();
            let len = max.saturating_sub(1);
            assert!(
                max < 33 || u64::from(rows) * 32 >= u64::from(len),
                "{max}: only {rows} rows"
            );
            // Every pair for small grids; for large ones the first ranks and
            // the ranks around the first column boundary.
            let firsts = (0..len.min(2 * rows))
                .filter(|&rank| rows <= 256 || rank < 64 || rank.abs_diff(rows) < 64);
            for first in firsts {
                for second in first + 1..len.min(first + rows.saturating_sub(1)) {
                    let words = spread.slot(first).abs_diff(spread.slot(second));
                    assert!(
                        words >= PER_LINE,
                        "{max}: ranks {first} and {second} are {words} words apart"
                    );
                }
            }
        }
    }

    #[test]
    fn first_ranks_of_a_4096_slot_pool() {
        let spread = Spread::for_slots(4_096);
        assert_eq!(spread.rows(), 128);
        let first: Vec<u32> = (0..4).map(|rank| spread.slot(rank)).collect();
        assert_eq!(first, [0, 16, 32, 48]);
        assert_eq!(spread.slot(127), 127 * 16);
        assert_eq!(spread.slot(128), 1);
        assert_eq!(spread.slot(2_048), 2_048);
        // Tiny pools keep index order.
        assert_eq!(Spread::for_slots(32).slot(5), 5);
    }
}
