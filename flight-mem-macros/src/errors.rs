//! Error collection: every check records its error here and carries on, so a
//! user sees every mistake of a plan in one build (serde's `Ctxt` pattern).

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};

/// The errors found so far, in the order they were found.
#[derive(Default)]
pub(crate) struct Errors {
    list: Vec<syn::Error>,
}

impl Errors {
    /// Records an error spanned on `span`.
    pub(crate) fn error(&mut self, span: Span, message: impl Display) {
        self.list.push(syn::Error::new(span, message));
    }

    /// Records an error from a parser.
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.list.push(error);
    }

    /// How many errors were recorded; compare two counts to learn whether a
    /// step added any.
    pub(crate) fn count(&self) -> usize {
        self.list.len()
    }

    /// All errors as one `syn::Error` (combined), or `Ok` when there are none.
    pub(crate) fn into_result(self) -> syn::Result<()> {
        let mut iter = self.list.into_iter();
        match iter.next() {
            None => Ok(()),
            Some(mut first) => {
                for error in iter {
                    first.combine(error);
                }
                Err(first)
            }
        }
    }

    /// One `compile_error!` per recorded error.
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.list.iter().map(syn::Error::to_compile_error).collect()
    }
}

/// `"; did you mean `x`?"` when a near candidate exists, else a list of the
/// valid words.
pub(crate) fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    match nearest(word, candidates) {
        Some(best) => format!("; did you mean `{best}`?"),
        None => format!("; expected one of {}", list(candidates)),
    }
}

/// `` `a`, `b` or `c` ``: a choice.
pub(crate) fn list(words: &[&str]) -> String {
    join(words, "or")
}

/// `` `a`, `b` and `c` ``: a whole.
pub(crate) fn list_all(words: &[&str]) -> String {
    join(words, "and")
}

fn join(words: &[&str], conjunction: &str) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {conjunction} {last}", rest.join(", ")),
    }
}

/// The candidate closest to `word`: a case-insensitive match first, else the
/// one at the smallest edit distance (transpositions count one), if it is
/// close enough to be a plausible typo.
pub(crate) fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if let Some(exact) = candidates.iter().find(|c| c.eq_ignore_ascii_case(word)) {
        return Some(exact);
    }
    let lower = word.to_ascii_lowercase();
    let limit = match word.chars().count() {
        0..=1 => 0,
        2..=5 => 1,
        _ => 2,
    };
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance: Levenshtein plus adjacent swaps.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

/// Bytes in human units, by the formatter `flight_mem::Bytes` and the
/// const assertions use: exact multiples as `16 MiB`, others with two
/// decimals truncated (`15.93 MiB`), so a value just under a budget never
/// prints as the budget.
pub(crate) fn format_bytes(bytes: u128) -> String {
    flight_mem_vocabulary::Human::new(bytes).as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `cargo fuzz` (fuzz/, target macro_front_end): the budget
    /// message of a huge frame entry multiplied past `u128::MAX`.
    #[test]
    fn format_bytes_prints_the_largest_sizes() {
        assert_eq!(
            format_bytes(u128::MAX),
            "309485009821345068724781055.99 TiB"
        );
        assert_eq!(format_bytes((1 << 40) * 3 + (1 << 39)), "3.50 TiB");
        assert_eq!(format_bytes((16 << 20) - 1), "15.99 MiB");
        assert_eq!(format_bytes(1 << 30), "1 GiB");
    }

    #[test]
    fn nearest_prefers_case_then_distance() {
        let words = ["region", "frame", "stack", "pool", "reserve"];
        assert_eq!(nearest("Region", &words), Some("region"));
        assert_eq!(nearest("regoin", &words), Some("region"));
        assert_eq!(nearest("stak", &words), Some("stack"));
        assert_eq!(nearest("heap", &words), None);
        assert_eq!(nearest("lo", &["low", "high"]), Some("low"));
    }

    #[test]
    fn format_bytes_units_truncate() {
        assert_eq!(format_bytes(16 << 20), "16 MiB");
        assert_eq!(format_bytes(512 * 1024 + 256), "512.25 KiB");
        assert_eq!(format_bytes(16_711_680), "15.93 MiB");
        assert_eq!(format_bytes(96), "96 B");
    }

    #[test]
    fn lists_read_naturally() {
        assert_eq!(list(&["a"]), "`a`");
        assert_eq!(list(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
