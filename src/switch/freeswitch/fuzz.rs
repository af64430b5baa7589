//! The codec's fuzzing entry point, shared by `fuzz/fuzz_targets/esl_decode.rs` and the property
//! tests, so the stable CI runs the same checks as a libFuzzer session.
//!
//! It feeds arbitrary bytes through everything that reads network input (the frame decoder,
//! the plain and JSON event parsers, the percent decoder) and checks properties that must hold
//! for any input: nothing panics, every split of a stream gives the same frames and the same
//! error, and whatever decodes encodes back to something that decodes to the same value.
//!
//! This module knows nothing of Rhai or of the call model.

use bytes::BytesMut;

use super::event::Event;
use super::frame::{Frame, FrameDecoder, FrameError, FrameLimits};
use super::protocol::HEADER_CONTENT_LENGTH;
use super::url;

/// Runs every decoder over `data` and checks the codec's invariants.
///
/// # Panics
///
/// When an invariant breaks: that is what a fuzzer looks for. It never panics otherwise, on
/// any input.
pub fn fuzz_decode(data: &[u8]) {
    for limits in [FrameLimits::default(), SMALL_LIMITS] {
        let whole = decode_in_chunks(data, &[data.len()], limits);
        let one_by_one = decode_in_chunks(data, &[1], limits);
        assert_eq!(whole, one_by_one, "byte-by-byte decoding differs");
        let chunks = pseudo_random_chunks(data);
        let split = decode_in_chunks(data, &chunks, limits);
        assert_eq!(whole, split, "decoding in chunks {chunks:?} differs");
        for frame in &whole.frames {
            check_frame(frame, limits);
        }
    }
    if let Ok(event) = Event::parse_plain(data) {
        check_event_round_trip(&event);
    }
    if let Ok(event) = Event::parse_json(data) {
        check_event_round_trip(&event);
    }
    let encoded = url::encode(data);
    assert_eq!(url::decode(encoded.as_bytes()).as_ref(), data);
    let _ = url::decode(data);
}

/// What decoding a whole stream gave: the frames, then how it ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Every frame, in order.
    pub frames: Vec<Frame>,
    /// The error that stopped decoding, or the end-of-stream verdict (`None`: ended cleanly
    /// between frames).
    pub error: Option<FrameError>,
}

/// Decodes `data` fed in chunks of the given sizes (cycled; a size of 0 counts as 1), then
/// as at end of stream.
pub fn decode_in_chunks(data: &[u8], chunk_sizes: &[usize], limits: FrameLimits) -> Decoded {
    let mut decoder = FrameDecoder::with_limits(limits);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = data;
    let mut sizes = chunk_sizes.iter().copied().cycle();
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(error) => return Decoded { frames, error: Some(error) },
            }
        }
    }
    loop {
        match decoder.decode_eof(&mut buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return Decoded { frames, error: None },
            Err(error) => return Decoded { frames, error: Some(error) },
        }
    }
}

fn check_frame(frame: &Frame, limits: FrameLimits) {
    let _ = frame.content_type();
    let _ = frame.content_disposition();
    let _ = frame.linger_time();
    let _ = frame.body_text();
    let _ = Event::from_headers(&frame.headers);
    if let Ok(event) = Event::from_frame(frame) {
        check_event_round_trip(&event);
    }
    let mut encoded = Vec::new();
    if frame.encode(&mut encoded).is_ok() {
        // Encoding normalises `Name:value` to `Name: value`, which can push a frame that was
        // just under a header limit over it; only the body limit matters for the round trip.
        let relaxed = FrameLimits {
            max_header_count: usize::MAX,
            max_header_line: usize::MAX,
            max_header_block: usize::MAX,
            max_body: limits.max_body,
        };
        let again = decode_in_chunks(&encoded, &[encoded.len()], relaxed);
        let expected = Decoded { frames: vec![frame.clone()], error: None };
        assert_eq!(again, expected, "frame does not survive encode");
    }
}

fn check_event_round_trip(event: &Event) {
    let mut encoded = Vec::new();
    if event.encode_plain(&mut encoded).is_err() {
        return;
    }
    let again = match Event::parse_plain(&encoded) {
        Ok(again) => again,
        Err(error) => panic!("encoded event does not parse: {error}"),
    };
    // `Content-Length` is rewritten to the body's length in bytes, which differs from the
    // original value when invalid UTF-8 in the body was replaced; every other header and the
    // body must survive unchanged.
    fn without_length(event: &Event) -> impl Iterator<Item = (&str, &str)> {
        event.iter().filter(|(name, _)| !name.eq_ignore_ascii_case(HEADER_CONTENT_LENGTH))
    }
    assert!(without_length(event).eq(without_length(&again)), "headers differ: {event:?} vs {again:?}");
    assert_eq!(event.body(), again.body(), "bodies differ");
}

/// Chunk sizes from 1 to 64 derived from the input, so each input is split its own way and a
/// failing split can be reproduced from the input alone.
fn pseudo_random_chunks(data: &[u8]) -> Vec<usize> {
    // FNV-1a over the input seeds a 64-bit LCG (Knuth's MMIX constants).
    let mut state = data
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (0..16)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(state >> 58).unwrap_or(0) + 1
        })
        .collect()
}

/// Limits small enough that short fuzz inputs reach every limit check.
const SMALL_LIMITS: FrameLimits =
    FrameLimits { max_header_count: 8, max_header_line: 48, max_header_block: 160, max_body: 256 };
