//! Byte counts in human units (`16 MiB`, `512.25 KiB`, `96 B`), formatted in
//! const context: exact multiples print whole (`16 MiB`); others with two
//! decimals, truncated rather than rounded, so a value just under a budget
//! never prints as the budget.

/// A byte count in human units: room for every `u128`.
pub type Human = ConstStr<40>;

impl ConstStr<40> {
    /// Formats `bytes`: exact multiples as `16 MiB`, others with two
    /// decimals truncated (`15.93 MiB`).
    pub const fn new(bytes: u128) -> Self {
        const UNITS: [(&str, u128); 4] = [
            (" TiB", 1 << 40),
            (" GiB", 1 << 30),
            (" MiB", 1 << 20),
            (" KiB", 1 << 10),
        ];
        let mut i = 0;
        while i < UNITS.len() {
            let (unit, scale) = UNITS[i];
            if bytes >= scale {
                let out = Self::empty().push_u128(bytes / scale);
                if bytes.is_multiple_of(scale) {
                    return out.push(unit);
                }
                // Hundredths from the remainder: `bytes * 100` overflows
                // near `u128::MAX`.
                let hundredths = bytes % scale * 100 / scale;
                let out = out.push(if hundredths < 10 { ".0" } else { "." });
                return out.push_u128(hundredths).push(unit);
            }
            i += 1;
        }
        Self::empty().push_u128(bytes).push(" B")
    }
}

/// A string built in const context, at most `N` bytes (longer input is
/// truncated on a char boundary).
#[derive(Clone, Copy, Debug)]
pub struct ConstStr<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> ConstStr<N> {
    /// The empty string.
    pub const fn empty() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    /// Appends `s`, as much of it as fits.
    pub const fn push(mut self, s: &str) -> Self {
        let s = s.as_bytes();
        let mut i = 0;
        while i < s.len() && self.len < N {
            // Stop before a char that does not fit whole.
            let width = match s[i] {
                0..=0x7F => 1,
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            if self.len + width > N {
                break;
            }
            let mut k = 0;
            while k < width && i < s.len() {
                self.bytes[self.len] = s[i];
                self.len += 1;
                i += 1;
                k += 1;
            }
        }
        self
    }

    /// Appends `n` in decimal (as many digits as fit).
    pub const fn push_u128(self, mut n: u128) -> Self {
        let mut digits = [0u8; 40];
        let mut count = 0;
        loop {
            digits[count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut out = self;
        while count > 0 && out.len < N {
            count -= 1;
            out.bytes[out.len] = digits[count];
            out.len += 1;
        }
        out
    }

    /// The text.
    pub const fn as_str(&self) -> &str {
        let (text, _) = self.bytes.split_at(self.len);
        match core::str::from_utf8(text) {
            Ok(text) => text,
            // Unreachable: only whole chars are ever appended.
            Err(_) => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ConstStr, Human};

    #[test]
    fn units_truncate_and_exact_multiples_print_whole() {
        for (bytes, text) in [
            (0, "0 B"),
            (96, "96 B"),
            (1023, "1023 B"),
            (1024, "1 KiB"),
            (512 * 1024 + 256, "512.25 KiB"),
            (1536 * 1024, "1.50 MiB"),
            ((16 << 20) - 1, "15.99 MiB"),
            (16 << 20, "16 MiB"),
            (16_711_680, "15.93 MiB"),
            (1 << 30, "1 GiB"),
            ((1 << 40) * 3 + (1 << 39), "3.50 TiB"),
            (1 << 60, "1048576 TiB"),
            (u128::from(u64::MAX), "16777215.99 TiB"),
            (u128::MAX, "309485009821345068724781055.99 TiB"),
        ] {
            assert_eq!(Human::new(bytes).as_str(), text, "{bytes}");
        }
    }

    #[test]
    fn hundredths_are_truncated_not_rounded() {
        // 1.999 KiB is 1.99 KiB: just under a unit never reads as the unit.
        assert_eq!(Human::new(2047).as_str(), "1.99 KiB");
        assert_eq!(Human::new(1024 + 10).as_str(), "1.00 KiB");
    }

    #[test]
    fn push_stops_at_capacity_on_a_char_boundary() {
        let s = ConstStr::<5>::empty().push("ab").push("\u{e9}\u{e9}");
        // "ab" + one two-byte 'é' fill 4 bytes; the second does not fit.
        assert_eq!(s.as_str(), "ab\u{e9}");
        let digits = ConstStr::<3>::empty().push_u128(123_456);
        assert_eq!(digits.as_str(), "123");
    }
}
