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

use super::frame::{
    check_header_name, length_value, write_header, ContentType, EncodeError, Frame,
};
use super::headers::{Headers, Iter};
use super::protocol::{
    ARRAY_PREFIX, ARRAY_SEPARATOR, HEADER_APPLICATION_UUID, HEADER_CONTENT_LENGTH,
    HEADER_EVENT_NAME, HEADER_JOB_UUID, HEADER_UNIQUE_ID, JSON_BODY_KEY, VARIABLE_PREFIX,
};
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
            // An infallible writer: the error type only satisfies `push_with`.
            let _ = headers.push_with(name, |text| {
                push_decoded(text, value.as_bytes(), &mut scratch);
                Ok::<(), std::convert::Infallible>(())
            });
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
        // Most events are 2 to 5 KB of about 30-byte lines; sizing both buffers up front
        // avoids regrowing them. Decoding never makes text longer.
        let mut headers = Headers::with_capacity(input.len() / 24, input.len());
        let mut scratch = Vec::new();
        let mut content_length = None;
        let mut pos = 0;
        let mut body_start = None;
        while pos < input.len() {
            let line_end = find_byte(b'\n', &input[pos..]).map_or(input.len(), |i| pos + i);
            let raw_line = &input[pos..line_end];
            let line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
            pos = line_end + 1;
            if line.is_empty() {
                body_start = Some(pos.min(input.len()));
                break;
            }
            let Some(colon) = find_byte(b':', line) else {
                return Err(EventError::LineWithoutColon {
                    line: snippet(line),
                });
            };
            if colon == 0 {
                return Err(EventError::EmptyHeaderName {
                    line: snippet(line),
                });
            }
            let name = String::from_utf8_lossy(&line[..colon]);
            let mut value = &line[colon + 1..];
            while let [b' ' | b'\t', rest @ ..] = value {
                value = rest;
            }
            if name.eq_ignore_ascii_case(HEADER_CONTENT_LENGTH) {
                if content_length.is_some() {
                    return Err(EventError::DuplicateContentLength);
                }
                content_length = Some(parse_length(value)?);
            }
            // Infallible, see `from_headers`.
            let _ = headers.push_with(&name, |text| {
                push_decoded(text, value, &mut scratch);
                Ok::<(), std::convert::Infallible>(())
            });
        }
        let rest = &input[body_start.unwrap_or(input.len())..];
        let body = match content_length {
            None if rest.is_empty() => None,
            None => {
                return Err(EventError::TrailingBytes { count: rest.len() });
            }
            Some(length) if rest.len() < length => {
                return Err(EventError::BodyTruncated {
                    declared: length,
                    available: rest.len(),
                });
            }
            Some(length) if rest.len() > length => {
                return Err(EventError::TrailingBytes {
                    count: rest.len() - length,
                });
            }
            Some(_) => Some(String::from_utf8_lossy(rest).into_owned()),
        };
        Ok(Self::new(headers, body))
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
    /// A `Content-Length` header is rewritten to the body's length where it stands (dropped
    /// without a body) or added last, so [`Event::parse_plain`] gives back an equal event.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] if a header name is empty or holds `:` or a line break.
    pub fn encode_plain(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut encoded = String::new();
        let mut wrote_length = false;
        for (name, value) in &self.headers {
            check_header_name(name)?;
            if name.eq_ignore_ascii_case(HEADER_CONTENT_LENGTH) {
                if let (Some(body), false) = (&self.body, wrote_length) {
                    write_header(out, name, &length_value(value, body.len()));
                    wrote_length = true;
                }
                continue;
            }
            encoded.clear();
            url::encode_into(value.as_bytes(), &mut encoded);
            write_header(out, name, &encoded);
        }
        if let (Some(body), false) = (&self.body, wrote_length) {
            write_header(out, HEADER_CONTENT_LENGTH, &body.len().to_string());
        }
        out.push(b'\n');
        if let Some(body) = &self.body {
            out.extend_from_slice(body.as_bytes());
        }
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
fn push_decoded(text: &mut String, value: &[u8], scratch: &mut Vec<u8>) {
    let decoded: &[u8] = if value.contains(&b'%') {
        scratch.clear();
        url::decode_into(value, scratch);
        scratch
    } else {
        value
    };
    match std::str::from_utf8(decoded) {
        Ok(decoded) => text.push_str(decoded),
        Err(_) => text.push_str(&String::from_utf8_lossy(decoded)),
    }
}

fn parse_length(value: &[u8]) -> Result<usize, EventError> {
    let bad = || EventError::BadContentLength {
        value: snippet(value),
    };
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    // Digits only: the parse can fail only on overflow, which no real body reaches.
    std::str::from_utf8(value)
        .ok()
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(bad)
}

fn snippet(line: &[u8]) -> String {
    String::from_utf8_lossy(line)
        .chars()
        .take(SNIPPET_CHARS)
        .collect()
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
                headers.push_with(&key, |text| map.next_value_seed(ValueText(text)))?;
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
