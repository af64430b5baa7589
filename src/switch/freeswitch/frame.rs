//! ESL framing: bytes from FreeSWITCH in, [`Frame`]s out, and back. No I/O.
//!
//! Every message on an Event Socket is a block of `Name: value\n` header lines ended by a blank
//! line, followed by a body of exactly `Content-Length` bytes when that header is present
//! (`mod_event_socket.c`). [`FrameDecoder`] cuts a byte stream into frames; it is fed whatever
//! the socket returned, in order, and answers `Ok(None)` until a whole frame is buffered, so any
//! split of the stream gives the same frames. Limits on header count, line length, header block
//! size and body size bound the memory a peer can make us hold; breaking one is a
//! [`FrameError`] and means the peer sent garbage: close that one connection.
//!
//! Header values stay exactly as sent. Most frames' headers are plain text (`Reply-Text: +OK
//! accepted`), but the outbound `connect` reply is a whole URL-encoded `CHANNEL_DATA` event
//! (`Reply-Text: %2BOK%0A`); decode that one with `Event::from_headers`.
//!
//! This module knows nothing of Rhai or of the call model.

use std::borrow::Cow;
use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

use super::headers::{Headers, Span};
use super::protocol::{
    CONTENT_TYPE_API_RESPONSE, CONTENT_TYPE_AUTH_REQUEST, CONTENT_TYPE_COMMAND_REPLY,
    CONTENT_TYPE_DISCONNECT_NOTICE, CONTENT_TYPE_EVENT_JSON, CONTENT_TYPE_EVENT_PLAIN,
    CONTENT_TYPE_EVENT_XML, CONTENT_TYPE_LOG_DATA, CONTENT_TYPE_RUDE_REJECTION, DISPOSITION_DISCONNECT,
    DISPOSITION_LINGER, HEADER_CONTENT_DISPOSITION, HEADER_CONTENT_LENGTH, HEADER_CONTENT_TYPE,
    HEADER_JOB_UUID, HEADER_LINGER_TIME, HEADER_REPLY_TEXT, LINGER_TIME_UNTIL_EXIT,
};
use super::scan;

/// One ESL message: its header lines in order, and its body if it declared `Content-Length`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The header lines as sent, duplicates kept, `Content-Length` included.
    pub headers: Headers,
    /// Exactly `Content-Length` bytes; `None` when the frame had no `Content-Length` header.
    /// (`Content-Length: 0`, which disconnect notices use, gives an empty body, not `None`.)
    pub body: Option<Bytes>,
}

impl Frame {
    /// A frame from its parts. [`Frame::encode`] writes the `Content-Length` the body needs.
    pub fn new(headers: Headers, body: Option<Bytes>) -> Self {
        Self { headers, body }
    }

    /// The raw value of the first header called `name` (ASCII case ignored).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// What kind of message this is, from its `Content-Type` header.
    pub fn content_type(&self) -> ContentType {
        ContentType::from_header(self.header(HEADER_CONTENT_TYPE))
    }

    /// `Reply-Text` of a `command/reply`, raw (`+OK accepted`, `-ERR invalid`). The outbound
    /// `connect` reply's is URL-encoded (`%2BOK%0A`); use `Event::from_headers` for that one.
    pub fn reply_text(&self) -> Option<&str> {
        self.header(HEADER_REPLY_TEXT)
    }

    /// `Job-UUID`, sent on the `command/reply` to `bgapi`.
    pub fn job_uuid(&self) -> Option<&str> {
        self.header(HEADER_JOB_UUID)
    }

    /// The body as text, with invalid UTF-8 replaced by U+FFFD.
    pub fn body_text(&self) -> Option<Cow<'_, str>> {
        self.body.as_deref().map(String::from_utf8_lossy)
    }

    /// `Content-Disposition` of a `text/disconnect-notice`.
    ///
    /// `None` when absent: FreeSWITCH's notice at the end of an inbound session (and after a
    /// failed `auth`) has none, and means the socket is closing.
    pub fn content_disposition(&self) -> Option<ContentDisposition> {
        self.header(HEADER_CONTENT_DISPOSITION).map(ContentDisposition::from_header)
    }

    /// `Linger-Time` of a `linger` disconnect notice; `None` when absent or not a number.
    pub fn linger_time(&self) -> Option<LingerTime> {
        self.header(HEADER_LINGER_TIME).and_then(LingerTime::parse)
    }

    /// Appends the frame's wire form to `out`.
    ///
    /// Headers are written in order as `name: value\n`. `Content-Length` is made to match the
    /// body: rewritten where it stands if it says otherwise, dropped without a body, appended
    /// last if missing. So a decoded frame encodes back to the bytes it came from, and a built
    /// one is always well framed.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] if a name is empty or holds `:` or a line break, or a value holds a line
    /// break or starts with a blank (the decoder would strip it): such a frame cannot be
    /// written so that it decodes to itself. Nothing is appended then.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for (name, value) in &self.headers {
            check_header_name(name)?;
            check_header_value(value)?;
        }
        let body = self.body.as_deref();
        write_head(out, &self.headers, body.map(<[u8]>::len), Cow::Borrowed);
        out.extend_from_slice(body.unwrap_or_default());
        Ok(())
    }
}

/// The kind of an ESL message, from its `Content-Type` header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `api/response`: the result of `api` is the body.
    ApiResponse,
    /// `auth/request`: an inbound connection waits for `auth <password>`.
    AuthRequest,
    /// `command/reply`: the result is in `Reply-Text`.
    CommandReply,
    /// `text/disconnect-notice`: see [`Frame::content_disposition`].
    DisconnectNotice,
    /// `text/event-json`: the body is one JSON object.
    EventJson,
    /// `text/event-plain`: the body is a URL-encoded header block.
    EventPlain,
    /// `text/event-xml`: the body is XML.
    EventXml,
    /// `log/data`: a log line is the body.
    LogData,
    /// No `Content-Type` header at all.
    None,
    /// `text/rude-rejection`: the ACL refused the connection.
    RudeRejection,
    /// Any other value, kept as sent: an unknown type is not an error.
    Unknown(String),
}

impl ContentType {
    /// Classifies a `Content-Type` value (`None` when the header is absent). Matching ignores
    /// ASCII case.
    pub fn from_header(value: Option<&str>) -> Self {
        let Some(value) = value else {
            return Self::None;
        };
        KNOWN_CONTENT_TYPES
            .iter()
            .find(|(text, _)| text.eq_ignore_ascii_case(value))
            .map(|(_, kind)| kind.clone())
            .unwrap_or_else(|| Self::Unknown(value.to_owned()))
    }

    /// The header value this kind stands for; `None` for [`ContentType::None`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::ApiResponse => Some(CONTENT_TYPE_API_RESPONSE),
            Self::AuthRequest => Some(CONTENT_TYPE_AUTH_REQUEST),
            Self::CommandReply => Some(CONTENT_TYPE_COMMAND_REPLY),
            Self::DisconnectNotice => Some(CONTENT_TYPE_DISCONNECT_NOTICE),
            Self::EventJson => Some(CONTENT_TYPE_EVENT_JSON),
            Self::EventPlain => Some(CONTENT_TYPE_EVENT_PLAIN),
            Self::EventXml => Some(CONTENT_TYPE_EVENT_XML),
            Self::LogData => Some(CONTENT_TYPE_LOG_DATA),
            Self::None => Option::None,
            Self::RudeRejection => Some(CONTENT_TYPE_RUDE_REJECTION),
            Self::Unknown(value) => Some(value),
        }
    }

    /// Whether the body is a serialized event (plain, JSON or XML).
    pub fn is_event(&self) -> bool {
        matches!(self, Self::EventJson | Self::EventPlain | Self::EventXml)
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str().unwrap_or("(none)"))
    }
}

/// `Content-Disposition` of a `text/disconnect-notice`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentDisposition {
    /// The socket is about to close.
    Disconnect,
    /// The controlled channel hung up; the socket stays open for `Linger-Time` (outbound,
    /// after `linger`). Events still queued for the channel follow.
    Linger,
    /// Any other value, kept as sent.
    Unknown(String),
}

impl ContentDisposition {
    /// Classifies a `Content-Disposition` value (ASCII case ignored).
    pub fn from_header(value: &str) -> Self {
        if value.eq_ignore_ascii_case(DISPOSITION_LINGER) {
            Self::Linger
        } else if value.eq_ignore_ascii_case(DISPOSITION_DISCONNECT) {
            Self::Disconnect
        } else {
            Self::Unknown(value.to_owned())
        }
    }
}

/// `Linger-Time` of a `linger` disconnect notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LingerTime {
    /// `-1`: plain `linger`; the socket stays open until the app sends `exit` or closes it.
    UntilExit,
    /// `linger N`: FreeSWITCH closes the socket this many seconds after the notice.
    Seconds(u32),
}

impl LingerTime {
    /// Parses a `Linger-Time` value: `-1` or a number of seconds.
    pub fn parse(value: &str) -> Option<Self> {
        if value == LINGER_TIME_UNTIL_EXIT {
            return Some(Self::UntilExit);
        }
        value.parse().ok().map(Self::Seconds)
    }
}

/// How much a peer may make the decoder buffer. The defaults are far above anything FreeSWITCH
/// sends (its largest header block, the outbound `connect` reply, is a few KiB) and low enough
/// that a hostile or broken peer cannot exhaust memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// Header lines per frame. The `connect` reply carries one per channel variable, about
    /// 100 to 200 in practice.
    pub max_header_count: usize,
    /// Bytes in one header line, newline excluded. A channel variable may hold a long value
    /// (and URL encoding triples it), so this is generous.
    pub max_header_line: usize,
    /// Bytes in the whole header block, blank line included.
    pub max_header_block: usize,
    /// Bytes of body. `api` replies such as `show channels` are the largest bodies.
    pub max_body: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self {
            max_header_count: 4096,
            max_header_line: 256 * 1024,
            max_header_block: 1024 * 1024,
            max_body: 8 * 1024 * 1024,
        }
    }
}

/// Cuts a byte stream from FreeSWITCH into [`Frame`]s.
///
/// Feed it one connection's bytes in order: it remembers how far it has scanned the buffer, so
/// the caller appends to the buffer and never consumes from it between calls. After an error
/// the stream is out of sync; drop the decoder with the connection.
#[derive(Clone, Debug, Default)]
pub struct FrameDecoder {
    limits: FrameLimits,
    state: State,
}

impl FrameDecoder {
    /// A decoder with the default [`FrameLimits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder with the given limits.
    pub fn with_limits(limits: FrameLimits) -> Self {
        Self { limits, state: State::default() }
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &FrameLimits {
        &self.limits
    }

    /// Takes the next whole frame off the front of `buf`.
    ///
    /// `Ok(None)` means more bytes are needed; call again once more have been appended. The
    /// bytes of a returned frame are removed from `buf`; a body shares `buf`'s allocation
    /// instead of being copied. Blank lines before a frame are skipped, as FreeSWITCH does with
    /// its own input.
    ///
    /// # Errors
    ///
    /// A [`FrameError`] when the bytes cannot be an ESL frame or break a limit. Limits are
    /// checked as bytes arrive, so a peer cannot make us buffer more than they allow, and a
    /// body's size is checked against its `Content-Length` before any of it is awaited.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if let State::Head(scan) = &mut self.state {
            if scan.is_at_start() {
                let blank = buf.iter().take_while(|&&b| b == b'\n' || b == b'\r').count();
                buf.advance(blank);
            }
            let Some((block_len, lines)) = scan.find_end(buf, &self.limits)? else {
                return Ok(None);
            };
            let block = buf.split_to(block_len);
            let (headers, content_length) = parse_head(&block, lines, &self.limits)?;
            match content_length {
                None => {
                    self.state = State::default();
                    return Ok(Some(Frame::new(headers, None)));
                }
                Some(length) => self.state = State::Body { headers, length },
            }
        }
        let State::Body { length, .. } = self.state else {
            return Ok(None);
        };
        if buf.len() < length {
            // The length is within `max_body`, so reserving it is within what we allow anyway,
            // and spares the reader a chain of reallocations for a large body.
            buf.reserve(length - buf.len());
            return Ok(None);
        }
        let body = buf.split_to(length).freeze();
        match std::mem::take(&mut self.state) {
            State::Body { headers, .. } => Ok(Some(Frame::new(headers, Some(body)))),
            // Unreachable: the state was `Body` just above.
            State::Head(_) => Err(FrameError::Internal("body state lost")),
        }
    }

    /// Like [`FrameDecoder::decode`], for when the peer has closed the connection: after the
    /// last whole frame, leftover bytes are an error instead of a wait.
    ///
    /// # Errors
    ///
    /// What [`FrameDecoder::decode`] returns, and [`FrameError::Truncated`] when the stream
    /// ended inside a frame.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        let in_body = matches!(self.state, State::Body { .. });
        let only_blank = buf.iter().all(|&b| b == b'\n' || b == b'\r');
        if in_body || !only_blank {
            return Err(FrameError::Truncated { buffered: buf.len() });
        }
        Ok(None)
    }
}

/// Why a byte stream is not a valid sequence of ESL frames. Every variant means the peer sent
/// garbage (or more than the limits allow); close that connection.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// `Content-Length` is not a plain decimal number (negative, blank, signed, overflowing).
    #[error("bad Content-Length {value:?}: expected a decimal byte count")]
    BadContentLength {
        /// The value as sent.
        value: String,
    },
    /// `Content-Length` claims more than [`FrameLimits::max_body`].
    #[error("body of {length} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The claimed length.
        length: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// Two `Content-Length` headers: which one frames the body is ambiguous.
    #[error("duplicate Content-Length header")]
    DuplicateContentLength,
    /// A header line starts with `:`.
    #[error("header line {line:?} has an empty name")]
    EmptyHeaderName {
        /// The start of the line.
        line: String,
    },
    /// No blank line within [`FrameLimits::max_header_block`] bytes.
    #[error("header block exceeds the limit of {limit} bytes without a blank line")]
    HeaderBlockTooLarge {
        /// The limit it broke.
        limit: usize,
    },
    /// A header line longer than [`FrameLimits::max_header_line`].
    #[error("header line exceeds the limit of {limit} bytes")]
    HeaderLineTooLong {
        /// The limit it broke.
        limit: usize,
    },
    /// A bug in this decoder, not the peer's fault; please report it.
    #[error("internal error in the ESL frame decoder: {0}")]
    Internal(&'static str),
    /// A header line without the `:` that separates name and value.
    #[error("header line {line:?} has no ':'")]
    LineWithoutColon {
        /// The start of the line.
        line: String,
    },
    /// More header lines than [`FrameLimits::max_header_count`].
    #[error("more than {limit} header lines")]
    TooManyHeaders {
        /// The limit it broke.
        limit: usize,
    },
    /// The connection closed in the middle of a frame.
    #[error("stream ended inside a frame ({buffered} bytes left over)")]
    Truncated {
        /// Bytes buffered but not part of a whole frame.
        buffered: usize,
    },
}

/// Why a frame, event or command cannot be written: the caller asked for something the
/// protocol cannot carry (this is never the peer's fault).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// A field that must not be empty is.
    #[error("{field} is empty")]
    Empty {
        /// Which field.
        field: &'static str,
    },
    /// A header name holds `:`.
    #[error("{field} contains ':'")]
    Colon {
        /// Which field.
        field: &'static str,
    },
    /// A header value starts with a blank, which FreeSWITCH would strip.
    #[error("{field} starts with a blank, which FreeSWITCH strips")]
    LeadingBlank {
        /// Which field.
        field: &'static str,
    },
    /// A single-line field holds CR or LF, which would end the line (or the whole message)
    /// early and let the rest be read as something else.
    #[error("{field} contains a line break")]
    LineBreak {
        /// Which field.
        field: &'static str,
    },
    /// A field holds a NUL byte, which FreeSWITCH (C strings) would cut the text at.
    #[error("{field} contains a NUL byte")]
    Nul {
        /// Which field.
        field: &'static str,
    },
    /// A space-separated word (uuid, event name, application name) holds a blank.
    #[error("{field} contains a blank")]
    Blank {
        /// Which field.
        field: &'static str,
    },
}

/// Writes a header block: `headers` in order with each value passed through `wire_value`,
/// `Content-Length` made to match `body_len` (see [`Frame::encode`]), and the blank line.
pub(crate) fn write_head<'a>(
    out: &mut Vec<u8>,
    headers: &'a Headers,
    body_len: Option<usize>,
    mut wire_value: impl FnMut(&'a str) -> Cow<'a, str>,
) {
    let mut wrote_length = false;
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case(HEADER_CONTENT_LENGTH) {
            write_header(out, name, &wire_value(value));
        } else if let (Some(length), false) = (body_len, wrote_length) {
            write_header(out, name, &length_value(value, length));
            wrote_length = true;
        }
    }
    if let (Some(length), false) = (body_len, wrote_length) {
        write_header(out, HEADER_CONTENT_LENGTH, &length.to_string());
    }
    out.push(b'\n');
}

/// Writes one `name: value` line.
pub(crate) fn write_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

/// The `Content-Length` value to write for a body of `length` bytes: the existing value when
/// it already says so (keeping e.g. leading zeros, so a decoded frame encodes to its own bytes),
/// else the length.
fn length_value(existing: &str, length: usize) -> Cow<'_, str> {
    let digits = !existing.is_empty() && existing.bytes().all(|b| b.is_ascii_digit());
    if digits && existing.parse::<usize>() == Ok(length) {
        Cow::Borrowed(existing)
    } else {
        Cow::Owned(length.to_string())
    }
}

/// A header name the decoder will read back as the same name.
pub(crate) fn check_header_name(name: &str) -> Result<(), EncodeError> {
    const FIELD: &str = "header name";
    if name.is_empty() {
        return Err(EncodeError::Empty { field: FIELD });
    }
    if name.contains(':') {
        return Err(EncodeError::Colon { field: FIELD });
    }
    if name.contains(['\r', '\n']) {
        return Err(EncodeError::LineBreak { field: FIELD });
    }
    Ok(())
}

/// A raw header value the decoder will read back as the same value.
fn check_header_value(value: &str) -> Result<(), EncodeError> {
    const FIELD: &str = "header value";
    if value.contains(['\r', '\n']) {
        return Err(EncodeError::LineBreak { field: FIELD });
    }
    if value.starts_with([' ', '\t']) {
        return Err(EncodeError::LeadingBlank { field: FIELD });
    }
    Ok(())
}

/// Where the decoder is within the current frame.
#[derive(Clone, Debug)]
enum State {
    /// Looking for the blank line that ends the header block.
    Head(HeadScan),
    /// The header block is parsed; waiting for `length` body bytes.
    Body { headers: Headers, length: usize },
}

impl Default for State {
    fn default() -> Self {
        Self::Head(HeadScan::default())
    }
}

/// Progress of the search for the end of a header block, kept between calls so each byte is
/// looked at once however the stream is split. Limits are checked in byte order, so the same
/// bytes give the same error however they arrive.
#[derive(Clone, Debug, Default)]
struct HeadScan {
    /// Bytes of the buffer already searched for `\n`.
    scanned: usize,
    /// Where the current (unfinished) line starts.
    line_start: usize,
    /// Header lines completed so far.
    lines: usize,
}

impl HeadScan {
    fn is_at_start(&self) -> bool {
        self.scanned == 0
    }

    /// The length of the header block, blank line included, and its number of header lines,
    /// once it is all in `buf`.
    fn find_end(&mut self, buf: &[u8], limits: &FrameLimits) -> Result<Option<(usize, usize)>, FrameError> {
        // Never look past the block limit: a peer that sends no blank line costs us at most
        // `max_header_block` bytes of scanning, and the error is the same however it arrives.
        let window = &buf[..buf.len().min(limits.max_header_block)];
        while let Some(offset) = find_byte(b'\n', &window[self.scanned..]) {
            let newline = self.scanned + offset;
            self.scanned = newline + 1;
            let line = &window[self.line_start..newline];
            if line.is_empty() || line == b"\r" {
                let (end, lines) = (newline + 1, self.lines);
                *self = Self::default();
                return Ok(Some((end, lines)));
            }
            if line.len() > limits.max_header_line {
                return Err(FrameError::HeaderLineTooLong { limit: limits.max_header_line });
            }
            self.lines += 1;
            if self.lines > limits.max_header_count {
                return Err(FrameError::TooManyHeaders { limit: limits.max_header_count });
            }
            // Checking each line as it completes rejects a peer that is not speaking ESL at
            // its first newline, instead of after buffering a whole block of garbage.
            match find_byte(b':', line) {
                None => {
                    return Err(FrameError::LineWithoutColon {
                        line: snippet(&String::from_utf8_lossy(line)),
                    })
                }
                Some(0) => {
                    return Err(FrameError::EmptyHeaderName { line: snippet(&String::from_utf8_lossy(line)) })
                }
                Some(_) => {}
            }
            self.line_start = newline + 1;
        }
        self.scanned = window.len();
        if window.len() - self.line_start > limits.max_header_line {
            return Err(FrameError::HeaderLineTooLong { limit: limits.max_header_line });
        }
        if buf.len() > limits.max_header_block {
            return Err(FrameError::HeaderBlockTooLarge { limit: limits.max_header_block });
        }
        Ok(None)
    }
}

/// Parses a complete header block (blank line included) into headers and the body length.
/// `lines`, counted by the search for the block's end, sizes the list once: the connect reply's
/// ~190 lines otherwise regrew it six times.
fn parse_head(
    block: &[u8],
    lines: usize,
    limits: &FrameLimits,
) -> Result<(Headers, Option<usize>), FrameError> {
    // Copying the block into a `String` costs one small allocation and lets every lookup hand
    // out `&str` without unsafe code. FreeSWITCH sends UTF-8 (or URL-encoded ASCII); anything
    // else is replaced rather than refused, because header text is informational.
    let text = match std::str::from_utf8(block) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(block).into_owned(),
    };
    let mut spans = Vec::with_capacity(lines);
    let mut content_length = None;
    let mut line_start = 0;
    while let Some(offset) = find_byte(b'\n', &text.as_bytes()[line_start..]) {
        let line_end = line_start + offset;
        let next = line_end + 1;
        let line = text[line_start..line_end].strip_suffix('\r').unwrap_or(&text[line_start..line_end]);
        if line.is_empty() {
            break;
        }
        let Some(colon) = find_byte(b':', line.as_bytes()) else {
            return Err(FrameError::LineWithoutColon { line: snippet(line) });
        };
        if colon == 0 {
            return Err(FrameError::EmptyHeaderName { line: snippet(line) });
        }
        let value = line[colon + 1..].trim_start_matches([' ', '\t']);
        let value_start = line_start + line.len() - value.len();
        let span = Span {
            name_start: line_start,
            name_end: line_start + colon,
            value_start,
            value_end: line_start + line.len(),
        };
        if line[..colon].eq_ignore_ascii_case(HEADER_CONTENT_LENGTH) {
            if content_length.is_some() {
                return Err(FrameError::DuplicateContentLength);
            }
            content_length = Some(parse_content_length(value, limits)?);
        }
        spans.push(span);
        line_start = next;
    }
    Ok((Headers::from_parts(text, spans), content_length))
}

/// A strict `Content-Length`: ASCII digits only, within `max_body`. FreeSWITCH writes it with
/// `%d`; anything else means the stream is not what we think it is.
fn parse_content_length(value: &str, limits: &FrameLimits) -> Result<usize, FrameError> {
    let bad = || FrameError::BadContentLength { value: snippet(value) };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // Digits only, so the only possible parse failure is overflow: a length no limit allows.
    let length: usize =
        value.parse().map_err(|_| FrameError::BodyTooLarge { length: usize::MAX, limit: limits.max_body })?;
    if length > limits.max_body {
        return Err(FrameError::BodyTooLarge { length, limit: limits.max_body });
    }
    Ok(length)
}

/// The start of a bad line for an error message, so a huge garbage line is not copied whole.
fn snippet(text: &str) -> String {
    text.chars().take(SNIPPET_CHARS).collect()
}

/// The position of `needle` in `haystack`, a word at a time (`scan`): the connect reply's
/// header block is ~190 lines, and a byte-at-a-time loop over it was most of
/// `FrameDecoder::decode`'s share of a call's CPU (BENCHMARKS.md, issue 11).
fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    Some(scan::find_either(haystack, 0, needle, needle)).filter(|&at| at < haystack.len())
}

const KNOWN_CONTENT_TYPES: [(&str, ContentType); 9] = [
    (CONTENT_TYPE_API_RESPONSE, ContentType::ApiResponse),
    (CONTENT_TYPE_AUTH_REQUEST, ContentType::AuthRequest),
    (CONTENT_TYPE_COMMAND_REPLY, ContentType::CommandReply),
    (CONTENT_TYPE_DISCONNECT_NOTICE, ContentType::DisconnectNotice),
    (CONTENT_TYPE_EVENT_JSON, ContentType::EventJson),
    (CONTENT_TYPE_EVENT_PLAIN, ContentType::EventPlain),
    (CONTENT_TYPE_EVENT_XML, ContentType::EventXml),
    (CONTENT_TYPE_LOG_DATA, ContentType::LogData),
    (CONTENT_TYPE_RUDE_REJECTION, ContentType::RudeRejection),
];

/// How much of a bad line an error message quotes.
const SNIPPET_CHARS: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, FrameError> {
        let mut decoder = FrameDecoder::new();
        let mut buf = BytesMut::from(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = decoder.decode(&mut buf)? {
            frames.push(frame);
        }
        Ok(frames)
    }

    fn decode_one(bytes: &[u8]) -> Result<Option<Frame>, FrameError> {
        FrameDecoder::new().decode(&mut BytesMut::from(bytes))
    }

    fn small_limits() -> FrameLimits {
        FrameLimits { max_header_count: 4, max_header_line: 32, max_header_block: 64, max_body: 16 }
    }

    #[test]
    fn partial_frame_waits_for_more_bytes() {
        let mut decoder = FrameDecoder::new();
        let mut buf = BytesMut::from(&b"Content-Type: api/response\nContent-Len"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"gth: 4\n\n+O");
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"K\n");
        let frame = decoder.decode(&mut buf).unwrap().expect("a whole frame");
        assert_eq!(frame.content_type(), ContentType::ApiResponse);
        assert_eq!(frame.body.as_deref(), Some(&b"+OK\n"[..]));
        assert!(buf.is_empty());
        assert_eq!(decoder.decode(&mut buf), Ok(None));
    }

    #[test]
    fn frame_without_content_length_has_no_body_and_the_next_frame_follows() {
        let frames = decode_all(
            b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n\
              Content-Type: api/response\nContent-Length: 3\n\nabc\
              Content-Type: auth/request\n\n",
        )
        .unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].body, None);
        assert_eq!(frames[0].reply_text(), Some("+OK accepted"));
        assert_eq!(frames[1].body_text().as_deref(), Some("abc"));
        assert_eq!(frames[2].content_type(), ContentType::AuthRequest);
    }

    #[test]
    fn zero_content_length_gives_an_empty_body() {
        let frame =
            decode_one(b"Content-Type: text/disconnect-notice\nContent-Length: 0\n\n").unwrap().unwrap();
        assert_eq!(frame.body, Some(Bytes::new()));
    }

    #[test]
    fn header_values_stay_raw() {
        let frame = decode_one(b"Content-Type: command/reply\nReply-Text: %2BOK%0A\n\n").unwrap().unwrap();
        assert_eq!(frame.reply_text(), Some("%2BOK%0A"));
    }

    #[test]
    fn header_lookup_ignores_case_and_keeps_duplicates() {
        let frame = decode_one(b"X-A: 1\nx-a: 2\ncontent-type: LOG/DATA\n\n").unwrap().unwrap();
        assert_eq!(frame.header("X-a"), Some("1"));
        assert_eq!(frame.headers.get_all("X-A").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(frame.content_type(), ContentType::LogData);
    }

    #[test]
    fn value_may_contain_colons_and_have_no_space_after_the_colon() {
        let frame = decode_one(b"Reply-Text:-USAGE: a:b\nEmpty:\n\n").unwrap().unwrap();
        assert_eq!(frame.reply_text(), Some("-USAGE: a:b"));
        assert_eq!(frame.header("Empty"), Some(""));
    }

    #[test]
    fn content_types_are_classified_and_unknown_ones_kept() {
        let kind = |value: &str| ContentType::from_header(Some(value));
        assert_eq!(kind("text/event-plain"), ContentType::EventPlain);
        assert_eq!(kind("text/event-json"), ContentType::EventJson);
        assert_eq!(kind("text/event-xml"), ContentType::EventXml);
        assert_eq!(kind("text/rude-rejection"), ContentType::RudeRejection);
        assert_eq!(kind("text/disconnect-notice"), ContentType::DisconnectNotice);
        assert_eq!(kind("text/x-new"), ContentType::Unknown("text/x-new".into()));
        assert_eq!(ContentType::from_header(None), ContentType::None);
        assert_eq!(ContentType::None.as_str(), None);
        assert!(ContentType::EventJson.is_event());
        assert!(!ContentType::CommandReply.is_event());
        let frame = decode_one(b"Reply-Text: +OK\n\n").unwrap().unwrap();
        assert_eq!(frame.content_type(), ContentType::None);
    }

    #[test]
    fn disconnect_notice_exposes_disposition_and_linger_time() {
        let frame = decode_one(
            b"Content-Type: text/disconnect-notice\nContent-Disposition: linger\n\
              Linger-Time: -1\nContent-Length: 0\n\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(frame.content_disposition(), Some(ContentDisposition::Linger));
        assert_eq!(frame.linger_time(), Some(LingerTime::UntilExit));
        assert_eq!(LingerTime::parse("3"), Some(LingerTime::Seconds(3)));
        assert_eq!(LingerTime::parse("soon"), None);
        assert_eq!(ContentDisposition::from_header("Disconnect"), ContentDisposition::Disconnect);
        assert_eq!(ContentDisposition::from_header("later"), ContentDisposition::Unknown("later".into()));
    }

    #[test]
    fn blank_lines_before_a_frame_are_skipped() {
        let frames = decode_all(b"\n\r\n\nContent-Type: auth/request\n\n\nReply-Text: x\n\n").unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].reply_text(), Some("x"));
    }

    #[test]
    fn crlf_line_endings_are_accepted() {
        let frame =
            decode_one(b"Content-Type: api/response\r\nContent-Length: 2\r\n\r\nok").unwrap().unwrap();
        assert_eq!(frame.content_type(), ContentType::ApiResponse);
        assert_eq!(frame.body.as_deref(), Some(&b"ok"[..]));
    }

    #[test]
    fn non_utf8_header_bytes_are_replaced_not_refused() {
        let frame = decode_one(b"Reply-Text: caf\xe9\n\n").unwrap().unwrap();
        assert_eq!(frame.reply_text(), Some("caf\u{fffd}"));
    }

    #[test]
    fn bad_content_length_is_rejected() {
        for value in ["abc", "-1", "+5", "5 ", "0x10", "", "1e3", "٣"] {
            let input = format!("Content-Type: api/response\nContent-Length: {value}\n\n");
            assert_eq!(
                decode_one(input.as_bytes()),
                Err(FrameError::BadContentLength { value: value.to_owned() }),
                "Content-Length {value:?}"
            );
        }
    }

    #[test]
    fn excess_body_length_is_rejected_before_any_body_arrives() {
        let mut decoder = FrameDecoder::new();
        let mut buf = BytesMut::from(&b"Content-Type: api/response\nContent-Length: 100000000\n\n"[..]);
        let capacity = buf.capacity();
        assert_eq!(
            decoder.decode(&mut buf),
            Err(FrameError::BodyTooLarge { length: 100_000_000, limit: 8 * 1024 * 1024 })
        );
        assert!(buf.capacity() <= capacity, "nothing was reserved for the body");
    }

    #[test]
    fn overflowing_content_length_is_rejected() {
        let input = b"Content-Length: 99999999999999999999999999\n\n";
        assert!(matches!(decode_one(input), Err(FrameError::BodyTooLarge { .. })));
    }

    #[test]
    fn duplicate_content_length_is_rejected() {
        let input = b"Content-Length: 1\ncontent-length: 1\n\nx";
        assert_eq!(decode_one(input), Err(FrameError::DuplicateContentLength));
    }

    #[test]
    fn header_line_without_colon_is_rejected() {
        assert_eq!(
            decode_one(b"Content-Type: api/response\nno colon here\n\n"),
            Err(FrameError::LineWithoutColon { line: "no colon here".into() })
        );
    }

    #[test]
    fn header_line_with_empty_name_is_rejected() {
        assert_eq!(decode_one(b": value\n\n"), Err(FrameError::EmptyHeaderName { line: ": value".into() }));
    }

    #[test]
    fn binary_garbage_is_rejected() {
        let garbage: Vec<u8> = (0..=255u8).rev().filter(|&b| b != b':').collect();
        assert!(matches!(decode_one(&garbage), Err(FrameError::LineWithoutColon { .. })));
    }

    #[test]
    fn header_block_without_blank_line_is_rejected_at_the_limit() {
        let mut decoder = FrameDecoder::with_limits(FrameLimits { max_header_count: 1000, ..small_limits() });
        let mut buf = BytesMut::new();
        let mut result = Ok(None);
        for _ in 0..20 {
            buf.extend_from_slice(b"A: 1\n");
            result = decoder.decode(&mut buf);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(FrameError::HeaderBlockTooLarge { limit: 64 }));
        assert!(buf.len() <= 64 + 5, "stopped within one line of the limit");
    }

    #[test]
    fn long_header_line_is_rejected_before_its_end_arrives() {
        let mut decoder = FrameDecoder::with_limits(small_limits());
        let mut buf = BytesMut::from(&b"Reply-Text: "[..]);
        buf.extend_from_slice(&[b'x'; 30]);
        assert_eq!(decoder.decode(&mut buf), Err(FrameError::HeaderLineTooLong { limit: 32 }));
    }

    #[test]
    fn too_many_headers_are_rejected() {
        let mut decoder = FrameDecoder::with_limits(small_limits());
        let mut buf = BytesMut::from(&b"A: 1\nB: 2\nC: 3\nD: 4\nE: 5\n"[..]);
        assert_eq!(decoder.decode(&mut buf), Err(FrameError::TooManyHeaders { limit: 4 }));
        let exactly = decode_all(b"A: 1\nB: 2\nC: 3\nD: 4\n\n");
        assert_eq!(exactly.map(|frames| frames.len()), Ok(1));
    }

    #[test]
    fn limits_allow_frames_exactly_at_them() {
        let limits = small_limits();
        let mut decoder = FrameDecoder::with_limits(limits);
        // A 32-byte line (the line limit), 4 lines (the count limit), 64 bytes in all (the
        // block limit), and a body of 16 (the body limit).
        let block = b"Reply-Text: 0123456789abcdefghij\nX:\nY: 1234\nContent-Length: 16\n\n";
        assert_eq!(block.len(), 64);
        let mut input = block.to_vec();
        input.extend_from_slice(&[b'b'; 16]);
        let frame = decoder.decode(&mut BytesMut::from(&input[..])).unwrap().unwrap();
        assert_eq!(frame.body.map(|b| b.len()), Some(16));
    }

    #[test]
    fn the_same_error_arrives_however_the_bytes_are_split() {
        let input = b"Content-Type: api/response\nContent-Length: 2\n\nokgarbage line\n\n";
        let whole = decode_all(input);
        assert!(matches!(whole, Err(FrameError::LineWithoutColon { .. })));
        let mut decoder = FrameDecoder::new();
        let mut buf = BytesMut::new();
        let mut error = None;
        for &byte in input.iter() {
            buf.extend_from_slice(&[byte]);
            match decoder.decode(&mut buf) {
                Ok(_) => {}
                Err(err) => {
                    error = Some(err);
                    break;
                }
            }
        }
        assert_eq!(Err(error.expect("an error")), whole.map(|_| ()));
    }

    #[test]
    fn decode_eof_tells_a_clean_end_from_a_truncated_frame() {
        let mut decoder = FrameDecoder::new();
        let mut buf = BytesMut::from(&b"Reply-Text: +OK\n\n\n"[..]);
        assert!(decoder.decode_eof(&mut buf).unwrap().is_some());
        assert_eq!(decoder.decode_eof(&mut buf), Ok(None));

        let mut buf = BytesMut::from(&b"Content-Length: 5\n\nab"[..]);
        let mut decoder = FrameDecoder::new();
        assert_eq!(decoder.decode_eof(&mut buf), Err(FrameError::Truncated { buffered: 2 }));

        let mut buf = BytesMut::from(&b"Reply-Text: +O"[..]);
        assert_eq!(FrameDecoder::new().decode_eof(&mut buf), Err(FrameError::Truncated { buffered: 14 }));
    }

    #[test]
    fn encode_reproduces_the_decoded_bytes() {
        let input: &[u8] = b"Content-Length: 0005\nContent-Type: text/event-plain\n\nhello\
              Content-Type: command/reply\nReply-Text: %2BOK%0A\n\n";
        let mut out = Vec::new();
        for frame in decode_all(input).unwrap() {
            frame.encode(&mut out).unwrap();
        }
        assert_eq!(out, input);
    }

    #[test]
    fn encode_writes_the_content_length_the_body_needs() {
        let headers: Headers =
            [("Content-Type", "api/response"), ("Content-Length", "99")].into_iter().collect();
        let mut out = Vec::new();
        Frame::new(headers.clone(), Some(Bytes::from_static(b"abc"))).encode(&mut out).unwrap();
        assert_eq!(out, b"Content-Type: api/response\nContent-Length: 3\n\nabc");

        let mut out = Vec::new();
        Frame::new(headers, None).encode(&mut out).unwrap();
        assert_eq!(out, b"Content-Type: api/response\n\n");

        let mut out = Vec::new();
        let headers: Headers = [("Content-Type", "api/response")].into_iter().collect();
        Frame::new(headers, Some(Bytes::from_static(b"x"))).encode(&mut out).unwrap();
        assert_eq!(out, b"Content-Type: api/response\nContent-Length: 1\n\nx");
    }

    #[test]
    fn encode_refuses_headers_that_would_break_the_framing() {
        let frame = |name: &str, value: &str| {
            let headers: Headers = [(name, value)].into_iter().collect();
            Frame::new(headers, None).encode(&mut Vec::new())
        };
        assert_eq!(
            frame("Reply-Text", "+OK\nContent-Length: 9"),
            Err(EncodeError::LineBreak { field: "header value" })
        );
        assert_eq!(frame("A:B", "x"), Err(EncodeError::Colon { field: "header name" }));
        assert_eq!(frame("", "x"), Err(EncodeError::Empty { field: "header name" }));
        assert_eq!(frame("A", " x"), Err(EncodeError::LeadingBlank { field: "header value" }));
    }
}
