//! Byte searches for the ESL codec's line scanners, eight bytes at a time in safe Rust.
//!
//! Every header block FreeSWITCH sends is scanned line by line: the ~190 lines of the outbound
//! `connect` reply by the frame decoder, the ~145 of each event a call's channel keeps by the
//! event index. A line is about 40 bytes. A byte-at-a-time loop over it was the largest single
//! item of rivr's profile under FreeSWITCH's event volume (BENCHMARKS.md, issue 11), and a
//! `memchr` call per delimiter costs more in call overhead than it saves on lines this short.
//! These functions test a whole `u64` word per step instead (the "has a zero byte" trick on the
//! word XORed with the byte sought), with no calls and one branch per word.
//!
//! This module knows nothing of ESL beyond which bytes it looks for.

/// `0x01` in every byte.
const ONES: u64 = u64::from_le_bytes([0x01; 8]);
/// `0x80` in every byte.
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// A word with the high bit set in the lowest byte of `word` that equals `byte`, and possibly in
/// bytes above it (the subtraction's borrow), never below: so `trailing_zeros` of a non-zero
/// result is exact for the first match, and zero means no byte matched.
#[inline]
fn matches(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Position in the word of the lowest match in a [`matches`] mask (non-zero).
#[inline]
fn first(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// The first position at or after `from` holding `a` or `b`; `bytes.len()` when neither occurs.
pub(super) fn find_either(bytes: &[u8], from: usize, a: u8, b: u8) -> usize {
    find_either_noting_high(bytes, from, a, b).0
}

/// [`find_either`], and whether a byte from 0x80 up (not ASCII) was among the bytes looked at:
/// all of them up to the match, and possibly some after it.
pub(super) fn find_either_noting_high(bytes: &[u8], from: usize, a: u8, b: u8) -> (usize, bool) {
    let rest = bytes.get(from..).unwrap_or_default();
    let mut words = rest.chunks_exact(8);
    let mut at = from;
    let mut seen = 0;
    for chunk in &mut words {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        seen |= word;
        let mask = matches(word, a) | matches(word, b);
        if mask != 0 {
            return (at + first(mask), seen & HIGHS != 0);
        }
        at += 8;
    }
    for &c in words.remainder() {
        if c == a || c == b {
            return (at, seen & HIGHS != 0);
        }
        seen |= u64::from(c);
        at += 1;
    }
    (bytes.len(), seen & HIGHS != 0)
}

/// The first `\n` at or after `from` (`bytes.len()` when there is none), whether a `%` comes
/// before it, and whether a byte from 0x80 up was among the bytes looked at (as in
/// [`find_either_noting_high`]): the end of a header value, whether it needs URL-decoding and
/// whether it can hold invalid UTF-8, in one pass.
pub(super) fn line_end_noting(bytes: &[u8], from: usize) -> (usize, bool, bool) {
    let rest = bytes.get(from..).unwrap_or_default();
    let mut words = rest.chunks_exact(8);
    let mut at = from;
    let mut percent = false;
    let mut seen = 0;
    for chunk in &mut words {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        seen |= word;
        let newline = matches(word, b'\n');
        let escape = matches(word, b'%');
        if newline != 0 {
            // Both masks are exact at their lowest match, which is all this compares.
            percent |= escape != 0 && escape.trailing_zeros() < newline.trailing_zeros();
            return (at + first(newline), percent, seen & HIGHS != 0);
        }
        percent |= escape != 0;
        at += 8;
    }
    for &c in words.remainder() {
        if c == b'\n' {
            return (at, percent, seen & HIGHS != 0);
        }
        percent |= c == b'%';
        seen |= u64::from(c);
        at += 1;
    }
    (bytes.len(), percent, seen & HIGHS != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The byte-at-a-time answers the word searches must give.
    fn find_either_bytewise(bytes: &[u8], from: usize, a: u8, b: u8) -> usize {
        bytes[from.min(bytes.len())..]
            .iter()
            .position(|&c| c == a || c == b)
            .map_or(bytes.len(), |i| from + i)
    }

    fn line_end_and_percent_bytewise(bytes: &[u8], from: usize) -> (usize, bool) {
        let rest = &bytes[from.min(bytes.len())..];
        let end = rest.iter().position(|&c| c == b'\n').map_or(bytes.len(), |i| from + i);
        (end, rest[..end - from.min(end)].contains(&b'%'))
    }

    /// Bytes drawn mostly from the ones the searches care about, and from their neighbours
    /// in value (`\t`, `\x0b`, `$`, `&`, `;`, `\x80`, `\xff`), where a borrow could go wrong.
    fn tricky_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            Just(b'\n'),
            Just(b':'),
            Just(b'%'),
            Just(b'\t'),
            Just(0x0b),
            Just(b'$'),
            Just(b'&'),
            Just(b';'),
            Just(0x80),
            Just(0xff),
            Just(0),
            any::<u8>(),
        ];
        proptest::collection::vec(byte, 0..80)
    }

    proptest! {
        #[test]
        fn find_either_agrees_with_a_byte_by_byte_search(bytes in tricky_bytes(), from in 0usize..90) {
            let from = from.min(bytes.len());
            prop_assert_eq!(find_either(&bytes, from, b':', b'\n'), find_either_bytewise(&bytes, from, b':', b'\n'));
        }

        #[test]
        fn a_byte_above_ascii_before_the_match_is_always_noted(bytes in tricky_bytes(), from in 0usize..90) {
            let from = from.min(bytes.len());
            let (at, high) = find_either_noting_high(&bytes, from, b':', b'\n');
            prop_assert!(high || bytes[from..at].is_ascii());
            let (end, _, high) = line_end_noting(&bytes, from);
            prop_assert!(high || bytes[from..end].is_ascii());
        }

        #[test]
        fn line_end_and_percent_agree_with_a_byte_by_byte_search(bytes in tricky_bytes(), from in 0usize..90) {
            let from = from.min(bytes.len());
            prop_assert_eq!(line_end_and_percent(&bytes, from), line_end_and_percent_bytewise(&bytes, from));
        }
    }

    fn line_end_and_percent(bytes: &[u8], from: usize) -> (usize, bool) {
        let (end, percent, _) = line_end_noting(bytes, from);
        (end, percent)
    }

    #[test]
    fn a_percent_after_the_newline_in_the_same_word_does_not_count() {
        assert_eq!(line_end_and_percent(b"ab\ncd%ef", 0), (2, false));
        assert_eq!(line_end_and_percent(b"a%\ncdxef", 0), (2, true));
        assert_eq!(line_end_and_percent(b"abcdefgh%\n", 0), (9, true));
    }

    #[test]
    fn a_search_from_the_end_finds_nothing() {
        assert_eq!(find_either(b"abc", 3, b':', b'\n'), 3);
        assert_eq!(line_end_and_percent(b"abc", 3), (3, false));
    }
}
