//! Percent encoding exactly as FreeSWITCH does it (`switch_url_encode`, `switch_url_decode`).
//!
//! `switch_event_serialize` percent-encodes every header value of a `text/event-plain` event
//! (and of the outbound `connect` reply), so values reach us as `Mon,%2023%20Nov` or
//! `%2BOK%0A`. FreeSWITCH's rules are its own, not RFC 3986's:
//!
//! - Escaped are the bytes of [`SWITCH_URL_UNSAFE`] (CR, LF, space and ``#%&+:;<=>?@[\]^`{|}"``),
//!   every other control byte, DEL and every non-ASCII byte, as `%` and two **uppercase** hex
//!   digits. `.`, `/`, `,`, `'`, `!`, `*`, `~`, `(`, `)`, `$` and `-` are never escaped.
//! - Decoding turns `%XX` into a byte and leaves everything else alone. In particular `+` stays
//!   `+` (it is not a space: a literal `+` is always sent as `%2B`).
//!
//! This module knows nothing of Rhai or of the call model.

use std::borrow::Cow;

/// Whether FreeSWITCH's encoder escapes this byte.
///
/// Mirrors `*p < ' ' || *p > '~' || strchr(SWITCH_URL_UNSAFE, *p)` on a signed `char`: bytes
/// from 0x80 up are negative there, so they count as "below space" and are escaped too.
pub const fn is_unsafe(byte: u8) -> bool {
    byte < b' ' || byte > b'~' || UNSAFE_TABLE[byte as usize]
}

/// Percent-encodes `input` the way `switch_url_encode` does, but losslessly.
///
/// FreeSWITCH's own serializer (`double_encode = false`) leaves a `%` alone when two uppercase
/// hex digits follow it, so a value that already reads like `%41` arrives as `%41` and decodes
/// to `A`: that ambiguity is FreeSWITCH's. This encoder always escapes `%`, so
/// `decode(encode(x)) == x` for every input, and for every value without such a sequence the
/// output is byte-identical to FreeSWITCH's.
pub fn encode(input: &[u8]) -> Cow<'_, str> {
    if !input.iter().any(|&b| is_unsafe(b)) {
        // A slice without unsafe bytes is printable ASCII, so this always succeeds; falling
        // through to the escaping path otherwise keeps the function total without `unwrap`.
        if let Ok(text) = std::str::from_utf8(input) {
            return Cow::Borrowed(text);
        }
    }
    let mut out = String::with_capacity(input.len() + input.len() / 2);
    encode_into(input, &mut out);
    Cow::Owned(out)
}

/// Appends the percent-encoded form of `input` to `out` (see [`encode`]).
pub fn encode_into(input: &[u8], out: &mut String) {
    for &byte in input {
        if is_unsafe(byte) {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(byte & 0x0f)]));
        } else {
            out.push(char::from(byte));
        }
    }
}

/// Decodes `%XX` sequences; returns the input itself when it holds no `%`.
///
/// The result is bytes, not text: FreeSWITCH values are UTF-8 in practice but nothing on the
/// wire promises it.
pub fn decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'%') {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    decode_into(input, &mut out);
    Cow::Owned(out)
}

/// Decodes `input` and converts the result to text, replacing invalid UTF-8 with U+FFFD.
///
/// The convenient form for one header, e.g. the outbound `connect` reply's
/// `Reply-Text: %2BOK%0A`, which decodes to `"+OK\n"`.
pub fn decode_str(input: &str) -> Cow<'_, str> {
    match decode(input.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(input),
        Cow::Owned(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Cow::Owned(text),
            Err(err) => Cow::Owned(String::from_utf8_lossy(err.as_bytes()).into_owned()),
        },
    }
}

/// Appends the decoded bytes of `input` to `out` (see [`decode`]).
///
/// A `%` that is not followed by two hex digits (either case) is kept as it is. FreeSWITCH's
/// `switch_url_decode` uses `sscanf("%2x")` there, which also accepts one digit, a sign or
/// leading blanks and then swallows the next byte whatever it is (`%4g` becomes byte 0x04, the
/// `g` is lost). FreeSWITCH's encoder never produces such sequences, so only a broken or hostile
/// peer could send them, and keeping them verbatim loses nothing.
pub fn decode_into(input: &[u8], out: &mut Vec<u8>) {
    let mut rest = input;
    while let Some(pos) = rest.iter().position(|&b| b == b'%') {
        out.extend_from_slice(&rest[..pos]);
        let escape = &rest[pos..];
        match (escape.get(1).copied().and_then(hex_value), escape.get(2).copied().and_then(hex_value)) {
            (Some(high), Some(low)) => {
                out.push((high << 4) | low);
                rest = &escape[3..];
            }
            _ => {
                out.push(b'%');
                rest = &escape[1..];
            }
        }
    }
    out.extend_from_slice(rest);
}

const fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// `SWITCH_URL_UNSAFE` from `switch_utils.h`, byte for byte.
pub const SWITCH_URL_UNSAFE: &[u8] = b"\r\n #%&+:;<=>?@[\\]^`{|}\"";

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

const UNSAFE_TABLE: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < SWITCH_URL_UNSAFE.len() {
        table[SWITCH_URL_UNSAFE[i] as usize] = true;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_seen_in_the_captures_decode() {
        assert_eq!(decode_str("%2BOK%0A"), "+OK\n");
        assert_eq!(decode_str("fd00%3A%3A2"), "fd00::2");
        assert_eq!(
            decode_str("Mon,%2023%20Nov%202026%2022%3A18%3A16%20GMT"),
            "Mon, 23 Nov 2026 22:18:16 GMT"
        );
        assert_eq!(decode_str("ARRAY%3A%3A9000%7C%3A9000"), "ARRAY::9000|:9000");
        assert_eq!(decode_str("FILE%20NOT%20FOUND"), "FILE NOT FOUND");
        assert_eq!(
            decode_str("1%201%202%208000%20%23%20vm-enter-num-to-call.wav%20silence_stream%3A//250"),
            "1 1 2 8000 # vm-enter-num-to-call.wav silence_stream://250"
        );
    }

    #[test]
    fn values_seen_in_the_captures_encode_to_the_same_bytes() {
        for wire in [
            "%2BOK%0A",
            "fd00%3A%3A2",
            "Mon,%2023%20Nov%202026%2022%3A18%3A16%20GMT",
            "127.0.0.1%3A8084%20async%20full",
            "silence_stream%3A//250%20fslab_digit%20%5Cd%203000",
            "loopback/9000-b",
        ] {
            let decoded = decode(wire.as_bytes());
            assert_eq!(encode(&decoded), wire);
        }
    }

    #[test]
    fn plus_is_not_a_space() {
        assert_eq!(decode_str("a+b"), "a+b");
        assert_eq!(encode(b"a+b"), "a%2Bb");
    }

    #[test]
    fn every_unsafe_byte_is_escaped_with_uppercase_hex() {
        for &byte in SWITCH_URL_UNSAFE {
            assert_eq!(encode(&[byte]), format!("%{byte:02X}"));
        }
        assert_eq!(encode("é".as_bytes()), "%C3%A9");
        assert_eq!(encode(b"\x7f\x01\t"), "%7F%01%09");
    }

    #[test]
    fn safe_text_is_borrowed_unchanged() {
        let text = b"loopback/9000-b.wav,(x)!*'$~";
        assert!(matches!(encode(text), Cow::Borrowed(_)));
        assert!(matches!(decode(text), Cow::Borrowed(_)));
        assert_eq!(encode(text).as_bytes(), text);
    }

    #[test]
    fn lowercase_escapes_decode() {
        assert_eq!(decode(b"%c3%a9").as_ref(), "é".as_bytes());
    }

    #[test]
    fn malformed_escapes_are_kept_verbatim() {
        assert_eq!(decode(b"100%").as_ref(), b"100%");
        assert_eq!(decode(b"%4").as_ref(), b"%4");
        assert_eq!(decode(b"%4g").as_ref(), b"%4g");
        assert_eq!(decode(b"% 41").as_ref(), b"% 41");
        assert_eq!(decode(b"%%41").as_ref(), b"%A");
        assert_eq!(decode(b"%").as_ref(), b"%");
    }

    #[test]
    fn invalid_utf8_after_decoding_is_replaced_in_text() {
        assert_eq!(decode_str("a%FFb"), "a\u{fffd}b");
    }
}
