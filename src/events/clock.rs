//! Events' `time`: now, in RFC 3339 UTC to the nanosecond (`2026-12-04T13:16:20.307021717Z`).
//!
//! A node stamps tens of thousands of events a second, nearly all within a second of the one
//! before on the same thread: each thread keeps the date and time of the current second written
//! out and adds the nanoseconds, so working out the calendar date happens once a second.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};

/// `YYYY-MM-DDTHH:MM:SS.`
const SECOND_LEN: usize = 20;

thread_local! {
    /// The second last written on this thread, and its text.
    static SECOND: Cell<(u64, [u8; SECOND_LEN])> = const { Cell::new((u64::MAX, [0; SECOND_LEN])) };
}

/// Write the time now into `out`.
pub fn write_now(out: &mut BytesMut) {
    // A clock before 1970 is a broken host: its events say 1970 rather than fail.
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    write(out, since_epoch.as_secs(), since_epoch.subsec_nanos());
}

fn write(out: &mut BytesMut, seconds: u64, nanos: u32) {
    let (cached, mut text) = SECOND.get();
    if cached != seconds {
        text = second_text(seconds);
        SECOND.set((seconds, text));
    }
    out.reserve(SECOND_LEN + 10);
    out.extend_from_slice(&text);
    let mut digits = [b'0'; 9];
    let mut rest = nanos;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&digits);
    out.put_u8(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS.` of the second `seconds` after the epoch.
fn second_text(seconds: u64) -> [u8; SECOND_LEN] {
    let mut text = [0; SECOND_LEN];
    let timestamp = i64::try_from(seconds)
        .ok()
        .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
        .unwrap_or(jiff::Timestamp::MAX);
    let written = timestamp.strftime("%Y-%m-%dT%H:%M:%S.").to_string();
    let len = written.len().min(SECOND_LEN);
    text[..len].copy_from_slice(&written.as_bytes()[..len]);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(seconds: u64, nanos: u32) -> String {
        let mut out = BytesMut::new();
        write(&mut out, seconds, nanos);
        String::from_utf8(out.to_vec()).expect("text")
    }

    #[test]
    fn the_time_is_rfc_3339_utc_to_the_nanosecond_and_parses_back_to_the_same_instant() {
        assert_eq!(written(1_796_390_180, 307_021_717), "2026-12-04T13:16:20.307021717Z");
        assert_eq!(written(1_796_390_180, 5), "2026-12-04T13:16:20.000000005Z", "the same second again");
        assert_eq!(written(1_796_390_181, 0), "2026-12-04T13:16:21.000000000Z", "the next second");
        let parsed: jiff::Timestamp = written(951_782_400, 999_999_999).parse().expect("RFC 3339");
        assert_eq!((parsed.as_second(), parsed.subsec_nanosecond()), (951_782_400, 999_999_999));
        assert_eq!(written(951_782_400, 1), "2000-02-29T00:00:00.000000001Z");
    }

    #[test]
    fn now_is_within_a_second_of_the_system_clock() {
        let mut out = BytesMut::new();
        write_now(&mut out);
        let stamped: jiff::Timestamp = std::str::from_utf8(&out).expect("text").parse().expect("RFC 3339");
        let gap = jiff::Timestamp::now().duration_since(stamped);
        assert!(gap.as_secs() < 2, "{gap:?}");
    }
}
