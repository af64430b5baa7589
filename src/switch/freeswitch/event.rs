//! FreeSWITCH events: the bodies of `text/event-plain` and `text/event-json` frames, decoded.
//!
//! A plain event is itself a header block, written by `switch_event_serialize`: one
//! `Name: value\n` line per header with the value URL-encoded, then either a blank line or, when
//! the event has a body (a `BACKGROUND_JOB`'s output), `Content-Length: N`, a blank line and
//! exactly N raw bytes. The `api uuid_dump` reply and the headers of the outbound `connect`
//! reply are serialized the same way. A JSON event is one object of string members (an array
//! for a multi-valued header) with the body under `_body`. Either way an [`Event`] holds decoded
//! text; both formats give the same headers, `Content-Length` included where there is a body.
//!
//! This module knows nothing of Rhai or of the call model.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::frame::{check_header_name, write_head, ContentType, EncodeError, Frame};
use super::headers::{Headers, Iter};
use super::protocol::{
    ARRAY_PREFIX, ARRAY_SEPARATOR, HEADER_APPLICATION_UUID, HEADER_CONTENT_LENGTH, HEADER_EVENT_NAME,
    HEADER_JOB_UUID, HEADER_UNIQUE_ID, JSON_BODY_KEY, VARIABLE_PREFIX,
};
use super::scan;
use super::url;

/// One FreeSWITCH event with decoded header values and an optional body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// Decoded headers in the order FreeSWITCH serialized them.
    headers: Headers,
    /// The event's own body (a `BACKGROUND_JOB`'s output), never URL-encoded on the wire.
    body: Option<String>,
}

impl Event {
    /// An event from decoded headers and a body.
    pub fn new(headers: Headers, body: Option<String>) -> Self {
        Self { headers, body }
    }

    /// Decodes the body of a `text/event-plain` or `text/event-json` frame.
    ///
    /// # Errors
    ///
    /// [`EventError::NotAnEvent`] for other frames (including `text/event-xml`, which this
    /// codec does not parse), or what [`Event::parse_plain`] / [`Event::parse_json`] report.
    pub fn from_frame(frame: &Frame) -> Result<Self, EventError> {
        let body = frame.body.as_deref().unwrap_or_default();
        match frame.content_type() {
            ContentType::EventPlain => Self::parse_plain(body),
            ContentType::EventJson => Self::parse_json(body),
            content_type => Err(EventError::NotAnEvent { content_type }),
        }
    }

    /// Decodes a header list whose values are URL-encoded: the outbound `connect` reply, whose
    /// headers are the channel's `CHANNEL_DATA` event followed by `Content-Type`, `Reply-Text:
    /// %2BOK%0A`, `Socket-Mode` and `Control`.
    pub fn from_headers(raw: &Headers) -> Self {
        let mut headers = Headers::with_capacity(raw.len(), 0);
        let mut scratch = Vec::new();
        for (name, value) in raw {
            headers.push_with(name, |text| push_decoded(text, value, &mut scratch));
        }
        Self::new(headers, None)
    }

    /// Parses a `text/event-plain` body (also the `api uuid_dump` reply).
    ///
    /// Lines are `Name: value` up to a blank line or the end of the input; values are
    /// URL-decoded (invalid UTF-8 after decoding is replaced by U+FFFD). A `Content-Length`
    /// header announces a body of exactly that many bytes after the blank line.
    ///
    /// # Errors
    ///
    /// [`EventError`] for a line without `:`, a bad `Content-Length`, a body shorter than
    /// announced, or bytes after the event.
    pub fn parse_plain(input: &[u8]) -> Result<Self, EventError> {
        // Validating the text once up front lets every name and value below be borrowed as
        // `str` with no check of its own (per-header checks cost a quarter of the parse). Only
        // input with invalid UTF-8 pays for a lossy copy, and only of the header block, since
        // the body's length counts raw bytes.
        let (head, lossy_head_len) = match std::str::from_utf8(input) {
            Ok(text) => (Cow::Borrowed(text), None),
            Err(_) => {
                let end = header_block_end(input);
                (String::from_utf8_lossy(&input[..end]), Some(end))
            }
        };
        // Most events are 2 to 5 KB of about 30-byte lines; sizing both buffers up front
        // avoids regrowing them. Decoding never makes text longer.
        let mut headers = Headers::with_capacity(input.len() / 24, input.len());
        let mut scratch = Vec::new();
        let mut content_length = None;
        let bytes = head.as_bytes();
        let mut pos = 0;
        let blank_line_end = loop {
            let line = match scan_line(bytes, pos)? {
                Scanned::Line(line) => line,
                Scanned::End { after } => break after,
            };
            // Every offset sits next to an ASCII byte, so these are `str` boundaries.
            let name = &head[line.name.clone()];
            let value = &head[line.value.clone()];
            pos = line.next;
            if name.eq_ignore_ascii_case(HEADER_CONTENT_LENGTH) {
                if content_length.is_some() {
                    return Err(EventError::DuplicateContentLength);
                }
                content_length = Some(parse_length(value)?);
            }
            headers.push_with(name, |text| push_value(text, value, line.escaped, &mut scratch));
        };
        let body_start = lossy_head_len.unwrap_or(blank_line_end);
        let rest = &input[body_start..];
        let body = match content_length {
            None if rest.is_empty() => None,
            None => {
                return Err(EventError::TrailingBytes { count: rest.len() });
            }
            Some(length) if rest.len() < length => {
                return Err(EventError::BodyTruncated { declared: length, available: rest.len() });
            }
            Some(length) if rest.len() > length => {
                return Err(EventError::TrailingBytes { count: rest.len() - length });
            }
            Some(_) => Some(String::from_utf8_lossy(rest).into_owned()),
        };
        Ok(Self::new(headers, body))
    }

    /// The decoded value of the first header called `name` (ASCII case ignored) in a
    /// `text/event-plain` body, without parsing the rest: a cheap look at `Event-Name` decides
    /// whether an event is worth indexing. `None` as well at a line that does not parse; the
    /// index or the full parse reports it.
    pub fn peek_plain<'a>(input: &'a [u8], name: &str) -> Option<Cow<'a, str>> {
        let mut pos = 0;
        while let Ok(Scanned::Line(line)) = scan_line(input, pos) {
            if input[line.name.clone()].eq_ignore_ascii_case(name.as_bytes()) {
                return Some(match url::decode(&input[line.value]) {
                    Cow::Borrowed(raw) => String::from_utf8_lossy(raw),
                    Cow::Owned(decoded) => Cow::Owned(String::from_utf8_lossy(&decoded).into_owned()),
                });
            }
            pos = line.next;
        }
        None
    }

    /// Parses a `text/event-json` body: one object whose members are headers, `_body` the
    /// body. Member order and duplicates are kept. Strings are taken as they are (JSON values
    /// are not URL-encoded); an array becomes `ARRAY::a|:b`, the plain format's spelling, and
    /// numbers, booleans and `null` their JSON text (`null` as empty).
    ///
    /// # Errors
    ///
    /// [`EventError::Json`] if the input is not one JSON object of such values.
    pub fn parse_json(input: &[u8]) -> Result<Self, EventError> {
        let mut deserializer = serde_json::Deserializer::from_slice(input);
        let event = deserializer.deserialize_map(EventVisitor)?;
        deserializer.end()?;
        Ok(event)
    }

    /// `Event-Name`, e.g. `CHANNEL_EXECUTE_COMPLETE`.
    pub fn name(&self) -> Option<&str> {
        self.header(HEADER_EVENT_NAME)
    }

    /// The decoded value of the first header called `name` (ASCII case ignored).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// `Unique-ID`: the channel the event is about.
    pub fn unique_id(&self) -> Option<&str> {
        self.header(HEADER_UNIQUE_ID)
    }

    /// `Application-UUID`: on `CHANNEL_EXECUTE`/`CHANNEL_EXECUTE_COMPLETE`, the `Event-UUID`
    /// the `sendmsg` carried.
    pub fn application_uuid(&self) -> Option<&str> {
        self.header(HEADER_APPLICATION_UUID)
    }

    /// `Job-UUID`: on `BACKGROUND_JOB`, the id from the `bgapi` reply.
    pub fn job_uuid(&self) -> Option<&str> {
        self.header(HEADER_JOB_UUID)
    }

    /// The channel variable `name`, i.e. the header `variable_<name>`.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.headers.get_prefixed(VARIABLE_PREFIX, name)
    }

    /// The event's body, e.g. a `BACKGROUND_JOB`'s output.
    pub fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }

    /// All headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The headers in order, as decoded `(name, value)` pairs.
    pub fn iter(&self) -> Iter<'_> {
        self.headers.iter()
    }

    /// The headers and body, for a caller that wants to keep them.
    pub fn into_parts(self) -> (Headers, Option<String>) {
        (self.headers, self.body)
    }

    /// Appends the `text/event-plain` form of the event to `out`, as `switch_event_serialize`
    /// writes it: values URL-encoded, the body after `Content-Length` and a blank line.
    /// `Content-Length` is made to match the body as in [`Frame::encode`], so
    /// [`Event::parse_plain`] gives back an equal event.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] if a header name is empty or holds `:` or a line break.
    pub fn encode_plain(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for (name, _) in &self.headers {
            check_header_name(name)?;
        }
        let body = self.body.as_deref();
        write_head(out, &self.headers, body.map(str::len), |value| url::encode(value.as_bytes()));
        out.extend_from_slice(body.unwrap_or_default().as_bytes());
        Ok(())
    }
}

impl<'a> IntoIterator for &'a Event {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Why a frame's body is not a valid event. The peer sent garbage; the frame (not necessarily
/// the connection) is lost.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The nested `Content-Length` is not a plain decimal number.
    #[error("bad event Content-Length {value:?}: expected a decimal byte count")]
    BadContentLength {
        /// The value as sent.
        value: String,
    },
    /// The nested `Content-Length` announces more bytes than the event has left.
    #[error("event body announces {declared} bytes but only {available} follow")]
    BodyTruncated {
        /// The announced length.
        declared: usize,
        /// The bytes that are there.
        available: usize,
    },
    /// Two `Content-Length` headers in one event.
    #[error("duplicate Content-Length header in event")]
    DuplicateContentLength,
    /// A header line starts with `:`.
    #[error("event header line {line:?} has an empty name")]
    EmptyHeaderName {
        /// The start of the line.
        line: String,
    },
    /// The JSON body is not one object of string (or array of string) members.
    #[error("invalid event json: {0}")]
    Json(#[from] serde_json::Error),
    /// A header line without `:`.
    #[error("event header line {line:?} has no ':'")]
    LineWithoutColon {
        /// The start of the line.
        line: String,
    },
    /// The frame is not an event this codec decodes (only plain and JSON are).
    #[error("frame of type {content_type} is not a plain or json event")]
    NotAnEvent {
        /// The frame's content type.
        content_type: ContentType,
    },
    /// Bytes after the end of the event (after its body, or after the blank line when it has
    /// no `Content-Length`).
    #[error("{count} bytes after the end of the event")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

/// Appends the URL-decoded `value` to `text`, replacing invalid UTF-8. `scratch` is reused
/// between calls so decoding allocates nothing once it has grown.
pub(super) fn push_decoded(text: &mut String, value: &str, scratch: &mut Vec<u8>) {
    push_value(text, value, value.as_bytes().contains(&b'%'), scratch);
}

/// [`push_decoded`] for a caller that already knows whether `value` holds a `%`: most values
/// hold none and are copied as they are.
fn push_value(text: &mut String, value: &str, escaped: bool, scratch: &mut Vec<u8>) {
    if !escaped {
        text.push_str(value);
        return;
    }
    scratch.clear();
    url::decode_into(value.as_bytes(), scratch);
    match std::str::from_utf8(scratch) {
        Ok(decoded) => text.push_str(decoded),
        Err(_) => text.push_str(&String::from_utf8_lossy(scratch)),
    }
}

/// One `Name: value` line of a plain event's header block, as offsets into the block.
pub(super) struct PlainLine {
    /// The header's name.
    pub name: std::ops::Range<usize>,
    /// The value, leading blanks and a trailing `\r` left out, still URL-encoded.
    pub value: std::ops::Range<usize>,
    /// Whether the value holds a `%` (most hold none and need no decoding).
    pub escaped: bool,
    /// Whether the line may hold a byte from 0x80 up: never `false` when it does, sometimes
    /// `true` when it does not. Only a line with one can hold invalid UTF-8.
    pub non_ascii: bool,
    /// Where the next line starts.
    pub next: usize,
}

/// What [`scan_line`] found.
pub(super) enum Scanned {
    /// A header line.
    Line(PlainLine),
    /// The blank line ending the block, or the end of the input: the body starts at `after`.
    End {
        /// Just past the blank line, or the input's length.
        after: usize,
    },
}

/// Scan the header line of a plain event starting at `pos`: the one line scanner of the full
/// parse ([`Event::parse_plain`]) and of the index ([`super::indexed::IndexedEvent`]), so both
/// accept and reject the same events.
///
/// # Errors
/// [`EventError::LineWithoutColon`] / [`EventError::EmptyHeaderName`].
pub(super) fn scan_line(bytes: &[u8], pos: usize) -> Result<Scanned, EventError> {
    if pos >= bytes.len() {
        return Ok(Scanned::End { after: bytes.len() });
    }
    // Two word-at-a-time searches per line (`scan`): the colon (or the newline of a line
    // without one), then the newline, noting any `%` on the way.
    let (colon, name_high) = scan::find_either_noting_high(bytes, pos, b':', b'\n');
    if bytes.get(colon) != Some(&b':') {
        let line = &bytes[pos..colon];
        if line.strip_suffix(b"\r").unwrap_or(line).is_empty() {
            return Ok(Scanned::End { after: (colon + 1).min(bytes.len()) });
        }
        return Err(EventError::LineWithoutColon {
            line: snippet_bytes(line.strip_suffix(b"\r").unwrap_or(line)),
        });
    }
    if colon == pos {
        let line_end = find_byte(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
        return Err(EventError::EmptyHeaderName { line: snippet_bytes(&bytes[pos..line_end]) });
    }
    let value_start = bytes[colon + 1..]
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .map_or(bytes.len(), |i| colon + 1 + i);
    // The bytes skipped between the colon and `value_start` are blanks, so every byte of the line
    // that could be above ASCII is in one of the two searches.
    let (line_end, escaped, value_high) = scan::line_end_noting(bytes, value_start);
    let mut value_end = line_end;
    if value_end > value_start && bytes[value_end - 1] == b'\r' {
        value_end -= 1;
    }
    Ok(Scanned::Line(PlainLine {
        name: pos..colon,
        value: value_start..value_end,
        escaped,
        non_ascii: name_high || value_high,
        next: line_end + 1,
    }))
}

/// Where the header block of a plain event ends: just after its blank line, or at the end.
pub(super) fn header_block_end(input: &[u8]) -> usize {
    let mut pos = 0;
    while pos < input.len() {
        let line_len = find_byte(b'\n', &input[pos..]).unwrap_or(input.len() - pos);
        let line = &input[pos..pos + line_len];
        pos += line_len + 1;
        if line.is_empty() || line == b"\r" {
            return pos.min(input.len());
        }
    }
    input.len()
}

fn parse_length(value: &str) -> Result<usize, EventError> {
    let bad = || EventError::BadContentLength { value: snippet(value) };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // Digits only: the parse can fail only on overflow, which no real body reaches.
    value.parse().map_err(|_| bad())
}

/// The start of a bad line, for an error.
pub(super) fn snippet_bytes(line: &[u8]) -> String {
    snippet(&String::from_utf8_lossy(line))
}

fn snippet(line: &str) -> String {
    line.chars().take(SNIPPET_CHARS).collect()
}

fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// Builds an [`Event`] straight from the JSON object, member by member, so order and
/// duplicates survive and no intermediate map is allocated.
struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of event headers")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut headers = Headers::with_capacity(map.size_hint().unwrap_or(64), 4096);
        let mut body = None;
        while let Some(Key(key)) = map.next_key()? {
            if key == JSON_BODY_KEY {
                let mut text = String::new();
                map.next_value_seed(ValueText(&mut text))?;
                body = Some(text);
            } else {
                headers.try_push_with(&key, |text| map.next_value_seed(ValueText(text)))?;
            }
        }
        Ok(Event::new(headers, body))
    }
}

/// A member name, borrowed from the input unless it had escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a header name")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(value)))
    }
}

/// Writes one member's value as header text into the event's shared buffer.
struct ValueText<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for ValueText<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueText<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number, boolean, null or array of those")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        self.0.push_str(value);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        self.0.push_str(if value { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        self.0.push_str(&value.to_string());
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        self.0.push_str(&value.to_string());
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        self.0.push_str(&value.to_string());
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // `switch_event_serialize_json` writes a multi-valued header as an array; the plain
        // format writes the same header as `ARRAY::a|:b`. Use the plain spelling so both
        // formats decode to the same event.
        let out = self.0;
        out.push_str(ARRAY_PREFIX);
        let mut items = 0;
        loop {
            let before = out.len();
            if items > 0 {
                out.push_str(ARRAY_SEPARATOR);
            }
            if seq.next_element_seed(ValueText(&mut *out))?.is_none() {
                // There was no element after all: take back its separator.
                out.truncate(before);
                return Ok(());
            }
            items += 1;
        }
    }
}

/// How much of a bad line an error message quotes.
const SNIPPET_CHARS: usize = 64;

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    const BACKGROUND_JOB: &[u8] = b"Event-Name: BACKGROUND_JOB\n\
        Core-UUID: 4d203c65-0d30-47a5-846a-8a7400ac8b07\n\
        FreeSWITCH-IPv6: fd00%3A%3A2\n\
        Event-Date-GMT: Mon,%2023%20Nov%202026%2022%3A18%3A48%20GMT\n\
        Job-UUID: 43435b6d-7539-40ea-a0aa-1870023469dd\n\
        Job-Command: originate\n\
        Job-Command-Arg: loopback/9001/default%20%26park\n\
        Content-Length: 41\n\
        \n\
        +OK cd9a3874-563b-4842-bf01-450cbca4deec\n";

    #[test]
    fn plain_event_values_are_url_decoded() {
        let event = Event::parse_plain(BACKGROUND_JOB).unwrap();
        assert_eq!(event.name(), Some("BACKGROUND_JOB"));
        assert_eq!(event.header("freeswitch-ipv6"), Some("fd00::2"));
        assert_eq!(event.header("Event-Date-GMT"), Some("Mon, 23 Nov 2026 22:18:48 GMT"));
        assert_eq!(event.header("Job-Command-Arg"), Some("loopback/9001/default &park"));
    }

    #[test]
    fn nested_body_follows_its_content_length() {
        let event = Event::parse_plain(BACKGROUND_JOB).unwrap();
        assert_eq!(event.job_uuid(), Some("43435b6d-7539-40ea-a0aa-1870023469dd"));
        assert_eq!(event.body(), Some("+OK cd9a3874-563b-4842-bf01-450cbca4deec\n"));
        assert_eq!(event.header("Content-Length"), Some("41"));
    }

    #[test]
    fn event_without_body_ends_at_its_blank_line() {
        let event = Event::parse_plain(b"Event-Name: DTMF\nDTMF-Digit: 1\n\n").unwrap();
        assert_eq!(event.header("DTMF-Digit"), Some("1"));
        assert_eq!(event.body(), None);
        let unterminated = Event::parse_plain(b"Event-Name: DTMF\nDTMF-Digit: 1\n").unwrap();
        assert_eq!(unterminated, event);
    }

    #[test]
    fn nested_body_shorter_than_announced_is_rejected() {
        let cut = &BACKGROUND_JOB[..BACKGROUND_JOB.len() - 1];
        assert!(matches!(
            Event::parse_plain(cut),
            Err(EventError::BodyTruncated { declared: 41, available: 40 })
        ));
    }

    #[test]
    fn bytes_after_the_event_are_rejected() {
        let mut long = BACKGROUND_JOB.to_vec();
        long.extend_from_slice(b"xy");
        assert!(matches!(Event::parse_plain(&long), Err(EventError::TrailingBytes { count: 2 })));
        assert!(matches!(
            Event::parse_plain(b"Event-Name: DTMF\n\nstray"),
            Err(EventError::TrailingBytes { count: 5 })
        ));
    }

    #[test]
    fn malformed_plain_lines_are_rejected() {
        assert!(matches!(
            Event::parse_plain(b"Event-Name DTMF\n\n"),
            Err(EventError::LineWithoutColon { .. })
        ));
        assert!(matches!(Event::parse_plain(b": DTMF\n\n"), Err(EventError::EmptyHeaderName { .. })));
        assert!(matches!(
            Event::parse_plain(b"Content-Length: -1\n\n"),
            Err(EventError::BadContentLength { .. })
        ));
        assert!(matches!(
            Event::parse_plain(b"Content-Length: 1\nContent-Length: 1\n\nx"),
            Err(EventError::DuplicateContentLength)
        ));
    }

    #[test]
    fn a_peek_reads_one_header_of_the_block_and_never_the_body() {
        let input = b"Event-Name: BACKGROUND_JOB\nJob-Command: originate%20user\nContent-Length: 14\n\nFake-Header: x";
        assert_eq!(Event::peek_plain(input, "event-name").as_deref(), Some("BACKGROUND_JOB"));
        assert_eq!(Event::peek_plain(input, "Job-Command").as_deref(), Some("originate user"));
        assert_eq!(Event::peek_plain(input, "Fake-Header"), None, "the body is not headers");
        assert_eq!(Event::peek_plain(b"no colon\nEvent-Name: X\n\n", "Event-Name"), None);
    }

    #[test]
    fn variables_are_looked_up_without_their_prefix() {
        let event = Event::parse_plain(
            b"Event-Name: CHANNEL_EXECUTE_COMPLETE\nvariable_fslab_digit: 1\n\
              variable_current_application_data: hello%20world\n\n",
        )
        .unwrap();
        assert_eq!(event.variable("fslab_digit"), Some("1"));
        assert_eq!(event.variable("current_application_data"), Some("hello world"));
        assert_eq!(event.variable("fslab"), None);
    }

    #[test]
    fn json_event_keeps_member_order_and_maps_the_body() {
        let json = br#"{"Event-Name":"BACKGROUND_JOB","FreeSWITCH-IPv6":"fd00::2","Job-UUID":"3ec6","Content-Length":"41","_body":"+OK cd9a3874-563b-4842-bf01-450cbca4deec\n"}"#;
        let event = Event::parse_json(json).unwrap();
        let names: Vec<&str> = event.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["Event-Name", "FreeSWITCH-IPv6", "Job-UUID", "Content-Length"]);
        assert_eq!(event.header("FreeSWITCH-IPv6"), Some("fd00::2"));
        assert_eq!(event.body(), Some("+OK cd9a3874-563b-4842-bf01-450cbca4deec\n"));
    }

    #[test]
    fn json_arrays_use_the_plain_array_spelling() {
        let event =
            Event::parse_json(br#"{"A":["x","y z"],"B":[],"C":1,"D":true,"E":null,"F":"\u00e9"}"#).unwrap();
        assert_eq!(event.header("A"), Some("ARRAY::x|:y z"));
        assert_eq!(event.header("B"), Some("ARRAY::"));
        assert_eq!(event.header("C"), Some("1"));
        assert_eq!(event.header("D"), Some("true"));
        assert_eq!(event.header("E"), Some(""));
        assert_eq!(event.header("F"), Some("é"));
    }

    #[test]
    fn json_and_plain_forms_of_one_event_are_equal() {
        let plain = Event::parse_plain(
            b"Event-Name: BACKGROUND_JOB\nFreeSWITCH-IPv6: fd00%3A%3A2\n\
              DP: ARRAY%3A%3A9000%7C%3A9000\nContent-Length: 4\n\n+OK\n",
        )
        .unwrap();
        let json = Event::parse_json(
            br#"{"Event-Name":"BACKGROUND_JOB","FreeSWITCH-IPv6":"fd00::2","DP":["9000","9000"],"Content-Length":"4","_body":"+OK\n"}"#,
        )
        .unwrap();
        assert_eq!(plain, json);
    }

    #[test]
    fn invalid_json_is_rejected() {
        for input in [&b"[1,2]"[..], b"{\"A\":{\"nested\":1}}", b"{\"A\":\"x\"} trailing", b"{"] {
            assert!(
                matches!(Event::parse_json(input), Err(EventError::Json(_))),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn from_headers_decodes_every_value() {
        let raw: Headers = [
            ("Event-Name", "CHANNEL_DATA"),
            ("Unique-ID", "a0dea27a"),
            ("Content-Type", "command/reply"),
            ("Reply-Text", "%2BOK%0A"),
        ]
        .into_iter()
        .collect();
        let event = Event::from_headers(&raw);
        assert_eq!(event.header("Reply-Text"), Some("+OK\n"));
        assert_eq!(event.unique_id(), Some("a0dea27a"));
        assert_eq!(event.headers().len(), 4);
    }

    #[test]
    fn from_frame_decodes_event_frames_only() {
        let frame = |content_type: &str, body: &'static [u8]| {
            let headers: Headers = [("Content-Type", content_type)].into_iter().collect();
            Frame::new(headers, Some(Bytes::from_static(body)))
        };
        let plain = Event::from_frame(&frame("text/event-plain", b"Event-Name: DTMF\n\n"));
        assert_eq!(plain.unwrap().name(), Some("DTMF"));
        let json = Event::from_frame(&frame("text/event-json", br#"{"Event-Name":"DTMF"}"#));
        assert_eq!(json.unwrap().name(), Some("DTMF"));
        for content_type in ["text/event-xml", "api/response"] {
            assert!(matches!(
                Event::from_frame(&frame(content_type, b"")),
                Err(EventError::NotAnEvent { .. })
            ));
        }
    }

    #[test]
    fn encode_plain_writes_what_parse_plain_reads() {
        let event = Event::parse_plain(BACKGROUND_JOB).unwrap();
        let mut out = Vec::new();
        event.encode_plain(&mut out).unwrap();
        assert_eq!(out, BACKGROUND_JOB);

        let built = Event::new(
            [("Event-Name", "CUSTOM"), ("Odd", " a+b%41\n:é")].into_iter().collect(),
            Some("body\n".into()),
        );
        let mut out = Vec::new();
        built.encode_plain(&mut out).unwrap();
        assert_eq!(out, b"Event-Name: CUSTOM\nOdd: %20a%2Bb%2541%0A%3A%C3%A9\nContent-Length: 5\n\nbody\n");
        let parsed = Event::parse_plain(&out).unwrap();
        assert_eq!(parsed.header("Odd"), built.header("Odd"));
        assert_eq!(parsed.body(), built.body());
    }

    #[test]
    fn invalid_utf8_in_values_is_replaced() {
        let event = Event::parse_plain(b"A: %FF%C3\nB: \xff\n\n").unwrap();
        assert_eq!(event.header("A"), Some("\u{fffd}\u{fffd}"));
        assert_eq!(event.header("B"), Some("\u{fffd}"));
        // The body's length counts raw bytes even when the header block needed replacing.
        let event = Event::parse_plain(b"A: \xff\nContent-Length: 2\n\n\xffx").unwrap();
        assert_eq!(event.header("A"), Some("\u{fffd}"));
        assert_eq!(event.body(), Some("\u{fffd}x"));
        assert!(matches!(
            Event::parse_plain(b"A: \xff\nContent-Length: 1\n\n\xffx"),
            Err(EventError::TrailingBytes { count: 1 })
        ));
    }
}
