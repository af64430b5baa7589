//! [`IndexedEvent`]: a `text/event-plain` event indexed in place, each value decoded only when
//! asked for.
//!
//! A call's channel reads three to six of the about 190 headers of a `CHANNEL_EXECUTE_COMPLETE`.
//! [`Event::parse_plain`](super::event::Event::parse_plain) copies and URL-decodes all of them;
//! this type records where each line's name and value are in the frame's body (shared, not
//! copied) and decodes a `%`-escaped value the first time it is read. The lines are checked as
//! strictly as the full parse checks them, so an event one rejects the other rejects too.
//!
//! Only the header block is indexed: the body after it (a `BACKGROUND_JOB`'s output) is not a
//! channel's business, and the full parse remains the way to read it.
//!
//! This module knows nothing of Rhai or of the call model.

use std::cell::Cell;
use std::sync::OnceLock;

use bytes::Bytes;

use super::event::{header_block_end, scan_line, EventError, Scanned};
use super::protocol::{HEADER_APPLICATION_UUID, HEADER_EVENT_NAME, HEADER_UNIQUE_ID, VARIABLE_PREFIX};
use super::url;

/// One plain event's header block, indexed.
#[derive(Debug)]
pub struct IndexedEvent {
    /// The header block, valid UTF-8.
    text: Bytes,
    lines: Vec<Line>,
    /// Decoded values of the lines that hold a `%`, filled on first read.
    decoded: Vec<OnceLock<Box<str>>>,
}

#[derive(Debug, Clone, Copy)]
struct Line {
    name_start: u32,
    name_end: u32,
    value_start: u32,
    value_end: u32,
    /// Index into `decoded`, or `NOT_ESCAPED`.
    slot: u32,
}

const NOT_ESCAPED: u32 = u32::MAX;

thread_local! {
    /// The line list of the last event dropped on this thread, kept for the next one indexed.
    ///
    /// A channel keeps about eight events per call and drops each before the next arrives; each
    /// list is ~150 lines (3 KB). Reusing it spares glibc an allocation and a free per event,
    /// often on different worker threads, where its arena locks showed in the profile under
    /// load (BENCHMARKS.md, issue 11).
    static SPARE_LINES: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
    /// The same for the list of decoded values (emptied: the values are freed with their event).
    static SPARE_DECODED: Cell<Vec<OnceLock<Box<str>>>> = const { Cell::new(Vec::new()) };
}

/// Lists longer than this are not kept: one huge event must not pin its memory to a thread.
const MAX_SPARE_LINES: usize = 1024;

impl IndexedEvent {
    /// Index the header block of a `text/event-plain` body.
    ///
    /// # Errors
    ///
    /// [`EventError::LineWithoutColon`] / [`EventError::EmptyHeaderName`] for a bad line, as
    /// [`Event::parse_plain`](super::event::Event::parse_plain) reports them.
    pub fn parse(body: Bytes) -> Result<Self, EventError> {
        let index = Index::of(&body)?;
        // FreeSWITCH encodes what is not plain ASCII, so the scan almost never meets a byte from
        // 0x80 up, and then the block is UTF-8 without a separate pass over it (`from_utf8` over
        // every kept event was ~1 % of a call's CPU). Invalid UTF-8 is replaced, as the full
        // parse does, in a copy of the header block only.
        if index.non_ascii && std::str::from_utf8(&body[..index.head_end]).is_err() {
            let text = Bytes::from(String::from_utf8_lossy(&body[..header_block_end(&body)]).into_owned());
            let Index { lines, decoded, .. } = Index::of(&text)?;
            return Ok(IndexedEvent { text, lines, decoded });
        }
        Ok(IndexedEvent { text: body, lines: index.lines, decoded: index.decoded })
    }

    /// The decoded value of the first header called `name` (ASCII case ignored).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.as_bytes();
        self.lines.iter().find(|line| self.name(line).eq_ignore_ascii_case(name)).map(|line| self.value(line))
    }

    /// Channel variable `name` (the header `variable_<name>`, ASCII case ignored).
    pub fn variable(&self, name: &str) -> Option<&str> {
        let (prefix, name) = (VARIABLE_PREFIX.as_bytes(), name.as_bytes());
        self.lines
            .iter()
            .find(|line| {
                let header = self.name(line);
                header.len() == prefix.len() + name.len()
                    && header[..prefix.len()].eq_ignore_ascii_case(prefix)
                    && header[prefix.len()..].eq_ignore_ascii_case(name)
            })
            .map(|line| self.value(line))
    }

    /// `Event-Name`.
    pub fn name_header(&self) -> Option<&str> {
        self.header(HEADER_EVENT_NAME)
    }

    /// `Unique-ID`.
    pub fn unique_id(&self) -> Option<&str> {
        self.header(HEADER_UNIQUE_ID)
    }

    /// `Application-UUID`.
    pub fn application_uuid(&self) -> Option<&str> {
        self.header(HEADER_APPLICATION_UUID)
    }

    /// How many header lines the event has.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the event has no header lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn name(&self, line: &Line) -> &[u8] {
        &self.text[line.name_start as usize..line.name_end as usize]
    }

    fn raw_value(&self, line: &Line) -> &str {
        let raw = &self.text[line.value_start as usize..line.value_end as usize];
        // `text` is valid UTF-8 and both ends sit next to ASCII bytes (':', blanks, '\r', '\n').
        std::str::from_utf8(raw).unwrap_or_default()
    }

    fn value(&self, line: &Line) -> &str {
        let raw = self.raw_value(line);
        match self.decoded.get(line.slot as usize) {
            None => raw,
            Some(cell) => cell.get_or_init(|| url::decode_str(raw).into_owned().into_boxed_str()),
        }
    }
}

/// The lines of a header block, and what the scan noticed on the way.
struct Index {
    lines: Vec<Line>,
    decoded: Vec<OnceLock<Box<str>>>,
    /// Just past the blank line ending the block, or the end of the input.
    head_end: usize,
    /// A byte from 0x80 up may be in the block (never missed, sometimes a false alarm).
    non_ascii: bool,
}

impl Index {
    fn of(bytes: &[u8]) -> Result<Self, EventError> {
        if bytes.len() > u32::MAX as usize {
            return Err(EventError::LineWithoutColon { line: "(an event over 4 GiB)".into() });
        }
        let mut lines = SPARE_LINES.take();
        lines.clear();
        // Lines of a FreeSWITCH event are about 40 bytes.
        lines.reserve(bytes.len() / 32);
        let mut escaped_lines = 0u32;
        let mut non_ascii = false;
        let mut pos = 0;
        let head_end = loop {
            let line = match scan_line(bytes, pos)? {
                Scanned::Line(line) => line,
                Scanned::End { after } => break after,
            };
            non_ascii |= line.non_ascii;
            let slot = if line.escaped {
                escaped_lines += 1;
                escaped_lines - 1
            } else {
                NOT_ESCAPED
            };
            // The length check above keeps every offset within u32.
            lines.push(Line {
                name_start: line.name.start as u32,
                name_end: line.name.end as u32,
                value_start: line.value.start as u32,
                value_end: line.value.end as u32,
                slot,
            });
            pos = line.next;
        };
        let mut decoded = SPARE_DECODED.take();
        decoded.clear();
        decoded.resize_with(escaped_lines as usize, OnceLock::new);
        Ok(Index { lines, decoded, head_end, non_ascii })
    }
}

impl Drop for IndexedEvent {
    fn drop(&mut self) {
        let lines = std::mem::take(&mut self.lines);
        if lines.capacity() <= MAX_SPARE_LINES {
            SPARE_LINES.set(lines);
        }
        let mut decoded = std::mem::take(&mut self.decoded);
        if decoded.capacity() <= MAX_SPARE_LINES {
            decoded.clear();
            SPARE_DECODED.set(decoded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switch::freeswitch::event::Event;
    use crate::switch::freeswitch::frame::{ContentType, FrameDecoder};
    use proptest::prelude::{prop_oneof, Just, Strategy};

    /// Every plain event of every capture.
    fn captured_events() -> Vec<Bytes> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/esl");
        let mut events = Vec::new();
        for entry in std::fs::read_dir(dir).expect("fixtures") {
            let path = entry.expect("entry").path();
            if !path.to_string_lossy().ends_with(".fs2app.raw") {
                continue;
            }
            let mut buffer = bytes::BytesMut::from(&std::fs::read(&path).expect("capture")[..]);
            let mut decoder = FrameDecoder::new();
            while let Ok(Some(frame)) = decoder.decode(&mut buffer) {
                if frame.content_type() == ContentType::EventPlain {
                    events.push(frame.body.clone().unwrap_or_default());
                }
            }
        }
        events
    }

    #[test]
    fn every_captured_header_reads_as_the_full_parse_decodes_it() {
        let events = captured_events();
        assert!(events.len() > 100, "only {} plain events in the captures", events.len());
        for body in events {
            let full = Event::parse_plain(&body).expect("captured events parse");
            let indexed = IndexedEvent::parse(body.clone()).expect("captured events index");
            assert_eq!(indexed.len(), full.headers().len(), "{}", String::from_utf8_lossy(&body));
            for (name, _) in full.headers() {
                assert_eq!(indexed.header(name), full.header(name), "header {name}");
                if let Some(variable) = name.strip_prefix(VARIABLE_PREFIX) {
                    assert_eq!(indexed.variable(variable), full.variable(variable), "variable {variable}");
                }
            }
        }
    }

    #[test]
    fn values_are_decoded_once_and_names_match_in_any_case() {
        let body = Bytes::from_static(
            b"Event-Name: CHANNEL_EXECUTE_COMPLETE\r\nvariable_greeting: hello%20world\nUnique-ID: abc\n\n",
        );
        let event = IndexedEvent::parse(body).expect("parse");
        assert_eq!(event.name_header(), Some("CHANNEL_EXECUTE_COMPLETE"));
        assert_eq!(event.header("unique-id"), Some("abc"));
        assert_eq!(event.variable("GREETING"), Some("hello world"));
        let first = event.variable("greeting").expect("value").as_ptr();
        assert_eq!(event.variable("greeting").expect("value").as_ptr(), first, "decoded once, then kept");
        assert_eq!(event.header("Missing"), None);
    }

    /// One header line of a generated event: a name from a small set (so names repeat and
    /// differ in case), a value of bytes that matter to the scan (`%`, escapes, `:`, blanks,
    /// `\r`, bytes above ASCII, invalid UTF-8), sometimes a line that does not parse.
    fn generated_line() -> impl Strategy<Value = Vec<u8>> {
        let name = prop_oneof![
            Just(&b"Event-Name"[..]),
            Just(&b"Unique-ID"[..]),
            Just(&b"unique-id"[..]),
            Just(&b"Application-UUID"[..]),
            Just(&b"variable_choice"[..]),
            Just(&b"variable_caf\xc3\xa9"[..]),
            Just(&b"variable_bad\xe9"[..]),
            Just(&b""[..]),
        ];
        let piece = prop_oneof![
            Just(&b"%20"[..]),
            Just(&b"%2B"[..]),
            Just(&b"%C3%A9"[..]),
            Just(&b"%E9"[..]),
            Just(&b"%"[..]),
            Just(&b":"[..]),
            Just(&b" "[..]),
            Just(&b"\t"[..]),
            Just(&b"\r"[..]),
            Just(&b"\xc3\xa9"[..]),
            Just(&b"\xff"[..]),
            Just(&b"abcdefgh"[..]),
            Just(&b"x"[..]),
        ];
        let value = proptest::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat());
        prop_oneof![
            10 => (name, value).prop_map(|(name, value)| [name, b": ", &value[..], b"\n"].concat()),
            1 => Just(b"no colon here\n".to_vec()),
        ]
    }

    proptest::proptest! {
        #[test]
        fn the_index_agrees_with_the_full_parse_on_every_header_of_generated_events(
            lines in proptest::collection::vec(generated_line(), 0..24)
        ) {
            let body = [lines.concat(), b"\n".to_vec()].concat();
            let full = Event::parse_plain(&body);
            let indexed = IndexedEvent::parse(Bytes::from(body));
            match (full, indexed) {
                (Ok(full), Ok(indexed)) => {
                    proptest::prop_assert_eq!(indexed.len(), full.headers().len());
                    for (name, _) in full.headers() {
                        proptest::prop_assert_eq!(indexed.header(name), full.header(name), "header {}", name);
                    }
                    for name in ["Event-Name", "UNIQUE-ID", "application-uuid", "Missing"] {
                        proptest::prop_assert_eq!(indexed.header(name), full.header(name));
                    }
                    proptest::prop_assert_eq!(indexed.variable("choice"), full.variable("choice"));
                }
                (Err(full), Err(indexed)) => proptest::prop_assert_eq!(indexed.to_string(), full.to_string()),
                (full, indexed) => proptest::prop_assert!(false, "full parse {:?}, index {:?}", full.is_ok(), indexed.is_ok()),
            }
        }
    }

    #[test]
    fn an_event_indexed_after_another_was_dropped_reads_only_its_own_headers() {
        let first = IndexedEvent::parse(Bytes::from_static(
            b"Event-Name: DTMF\nDTMF-Digit: 5\nvariable_a: x%20y\nvariable_b: %41\n\n",
        ))
        .expect("parse");
        assert_eq!(first.variable("a"), Some("x y"));
        drop(first);
        let second =
            IndexedEvent::parse(Bytes::from_static(b"Event-Name: CHANNEL_HANGUP\nvariable_b: z%21\n\n"))
                .expect("parse");
        assert_eq!(second.len(), 2);
        assert_eq!(second.header("DTMF-Digit"), None);
        assert_eq!(second.variable("a"), None);
        assert_eq!(second.variable("b"), Some("z!"));
    }

    #[test]
    fn bad_lines_are_rejected_like_the_full_parse_rejects_them() {
        for input in [&b"Event-Name: X\nno colon here\n\n"[..], b"Event-Name: X\n: empty name\n\n"] {
            let full = Event::parse_plain(input).expect_err("full parse rejects");
            let indexed = IndexedEvent::parse(Bytes::copy_from_slice(input)).expect_err("index rejects");
            assert_eq!(indexed.to_string(), full.to_string());
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_as_in_the_full_parse() {
        let input = b"Event-Name: X\nCaller-Name: caf\xe9\n\n";
        let full = Event::parse_plain(input).expect("parse");
        let indexed = IndexedEvent::parse(Bytes::copy_from_slice(input)).expect("index");
        assert_eq!(indexed.header("Caller-Name"), full.header("Caller-Name"));
    }
}
