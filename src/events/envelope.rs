//! An event's bytes: the CloudEvents 1.0 envelope in its structured JSON form
//! (`application/cloudevents+json`) around rivr's data, written straight into the thread's
//! arena ([`super::arena`]), whose slice of it is what is sent.
//!
//! Text that needs no escaping (ids, types, names, most summaries) is copied as it is, numbers
//! are written by `itoa`, and serde writes the rest (text with quotes or control characters,
//! the JSON a script publishes). An event is ~400 bytes and a call sends about seven, so this
//! is on every call's path. Building the `cloudevents-sdk` crate's `Event` first would cost an
//! allocation per attribute and a `serde_json::Value` per payload on every verb of every call;
//! the tests parse what this writes with that crate instead, so the two cannot drift apart.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

/// The CloudEvents version of the envelope.
pub const SPEC_VERSION: &str = "1.0";

/// The version of rivr's event data, as the `dataschema` attribute names it. Bumped when a
/// field changes meaning or goes away; new fields do not bump it.
pub const DATA_SCHEMA: &str = "urn:rivr:events:1";

/// The prefix of rivr's own event types: `dev.rivr.call.ended`.
pub const TYPE_PREFIX: &str = "dev.rivr.";

/// The envelope attributes of one event.
pub struct Envelope<'a> {
    /// Unique per `source`.
    pub id: Id<'a>,
    /// The node.
    pub source: &'a str,
    /// rivr's type without its `dev.rivr.` prefix (`call.ended`), or a script's own type.
    pub kind: &'a str,
    /// Whether `kind` is one of rivr's own (written with the `dev.rivr.` prefix).
    pub rivr_type: bool,
    /// The call's uuid, or the script's name.
    pub subject: Option<&'a str>,
    /// The event's place among its call's events (extension attribute `rivrseq`).
    pub sequence: Option<u64>,
}

/// An event's `id`.
#[derive(Clone, Copy)]
pub enum Id<'a> {
    /// A call's event: `<call uuid>-<its place in the call>`.
    InCall(&'a str, u64),
    /// Any other event: a fresh UUID.
    Unique(&'a uuid::Uuid),
}

impl Envelope<'_> {
    /// Write the envelope up to its `data` object, stamped with the time now; the data's fields
    /// follow through the returned writer.
    pub fn begin(&self, capacity: usize) -> DataWriter {
        let mut out = DataWriter { buf: super::arena::take(capacity), first: true };
        out.buf.extend_from_slice(b"{\"specversion\":\"1.0\",\"id\":");
        match self.id {
            Id::InCall(uuid, place) if is_plain(uuid) => {
                out.buf.put_u8(b'"');
                out.buf.extend_from_slice(uuid.as_bytes());
                out.buf.put_u8(b'-');
                out.buf.extend_from_slice(itoa::Buffer::new().format(place).as_bytes());
                out.buf.put_u8(b'"');
            }
            Id::InCall(uuid, place) => out.display(&format_args!("{uuid}-{place}")),
            Id::Unique(uuid) => out.display(uuid),
        }
        out.buf.extend_from_slice(b",\"source\":");
        out.text(self.source);
        out.buf.extend_from_slice(b",\"type\":");
        if self.rivr_type {
            // rivr's own types are its constants: nothing to escape.
            out.buf.put_u8(b'"');
            out.buf.extend_from_slice(TYPE_PREFIX.as_bytes());
            out.buf.extend_from_slice(self.kind.as_bytes());
            out.buf.put_u8(b'"');
        } else {
            out.text(self.kind);
        }
        out.buf.extend_from_slice(b",\"time\":\"");
        super::clock::write_now(&mut out.buf);
        out.buf.put_u8(b'"');
        if let Some(subject) = self.subject {
            out.buf.extend_from_slice(b",\"subject\":");
            out.text(subject);
        }
        if let Some(sequence) = self.sequence {
            out.buf.extend_from_slice(b",\"rivrseq\":");
            sequence.write_to(&mut out);
        }
        out.buf.extend_from_slice(b",\"datacontenttype\":\"application/json\",\"dataschema\":\"");
        out.buf.extend_from_slice(DATA_SCHEMA.as_bytes());
        out.buf.extend_from_slice(b"\",\"data\":{");
        out
    }
}

/// The `data` object of an event being written, field by field.
pub struct DataWriter {
    /// The event so far, at the end of the thread's arena.
    buf: BytesMut,
    first: bool,
}

impl DataWriter {
    /// A data field.
    pub fn field<T: FieldValue + ?Sized>(&mut self, key: &str, value: &T) -> &mut Self {
        self.key(key);
        value.write_to(self);
        self
    }

    /// A data field, when there is a value.
    pub fn field_opt<T: FieldValue + ?Sized>(&mut self, key: &str, value: Option<&T>) -> &mut Self {
        if let Some(value) = value {
            self.field(key, value);
        }
        self
    }

    /// A field holding an object; its fields follow, up to [`DataWriter::end_object`].
    pub fn object(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.buf.put_u8(b'{');
        self.first = true;
        self
    }

    /// The end of the object [`DataWriter::object`] began.
    pub fn end_object(&mut self) -> &mut Self {
        self.buf.put_u8(b'}');
        self.first = false;
        self
    }

    /// The event's bytes: the data object and the envelope closed.
    pub fn finish(mut self) -> Bytes {
        self.buf.extend_from_slice(b"}}");
        super::arena::finish(self.buf)
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.buf.put_u8(b',');
        }
        self.first = false;
        self.text(key);
        self.buf.put_u8(b':');
    }

    /// `text` as a JSON string: copied as it is when nothing in it needs escaping.
    fn text(&mut self, text: &str) {
        if is_plain(text) {
            self.buf.reserve(text.len() + 2);
            self.buf.put_u8(b'"');
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.put_u8(b'"');
        } else {
            self.serialized(text);
        }
    }

    /// `value`'s text as a JSON string, written straight into the buffer and then checked:
    /// what needs escaping is written again by serde.
    fn display(&mut self, value: &dyn fmt::Display) {
        use std::fmt::Write as _;
        let start = self.buf.len();
        self.buf.put_u8(b'"');
        let _ = write!(self.buf, "{value}");
        if self.buf[start + 1..].iter().all(|&b| is_plain_byte(b)) {
            self.buf.put_u8(b'"');
        } else {
            self.buf.truncate(start);
            self.serialized(&format_args!("{value}"));
        }
    }

    fn serialized<T: Serialize + ?Sized>(&mut self, value: &T) {
        // Writing into memory cannot fail, and rivr's data has no map with non-string keys.
        let _ = serde_json::to_writer((&mut self.buf).writer(), value);
    }
}

/// A value a data field holds, written the quickest way its type allows.
pub trait FieldValue {
    /// Write the value as JSON.
    fn write_to(&self, out: &mut DataWriter);
}

impl FieldValue for str {
    fn write_to(&self, out: &mut DataWriter) {
        out.text(self);
    }
}

impl FieldValue for String {
    fn write_to(&self, out: &mut DataWriter) {
        out.text(self);
    }
}

impl<T: FieldValue + ?Sized> FieldValue for &T {
    fn write_to(&self, out: &mut DataWriter) {
        (**self).write_to(out);
    }
}

impl FieldValue for fmt::Arguments<'_> {
    fn write_to(&self, out: &mut DataWriter) {
        out.display(self);
    }
}

/// What a script publishes: any JSON.
impl FieldValue for serde_json::Value {
    fn write_to(&self, out: &mut DataWriter) {
        out.serialized(self);
    }
}

macro_rules! integer_field {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            fn write_to(&self, out: &mut DataWriter) {
                out.buf.extend_from_slice(itoa::Buffer::new().format(*self).as_bytes());
            }
        }
    )*};
}
integer_field!(u16, u32, u64, usize, i32, i64);

/// Whether `text` goes into a JSON string as it is.
fn is_plain(text: &str) -> bool {
    // Eight bytes at a time: most text here is a uuid, a path or a summary, and all plain.
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS != 0;
    let mut words = text.as_bytes().chunks_exact(8);
    for word in &mut words {
        let word = u64::from_ne_bytes(word.try_into().expect("eight bytes"));
        // A control character (below 0x20: bytes of UTF-8 above 0x7f never match), a quote,
        // a backslash.
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS != 0;
        if control || has_zero(word ^ (ONES * u64::from(b'"'))) || has_zero(word ^ (ONES * u64::from(b'\\')))
        {
            return false;
        }
    }
    words.remainder().iter().all(|&b| is_plain_byte(b))
}

fn is_plain_byte(b: u8) -> bool {
    b >= 0x20 && b != b'"' && b != b'\\'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_carries_every_required_attribute_and_the_data_as_json() {
        let envelope = Envelope {
            id: Id::InCall("u-1", 3),
            source: "rivr://node-a",
            kind: "call.verb",
            rivr_type: true,
            subject: Some("u-1"),
            sequence: Some(3),
        };
        let mut data = envelope.begin(256);
        data.field("verb", "ask")
            .object("outcome")
            .field("status", "match")
            .end_object()
            .field("switch_ms", &12);
        let value: serde_json::Value = serde_json::from_slice(&data.finish()).expect("JSON");
        assert_eq!(value["specversion"], "1.0");
        assert_eq!(value["id"], "u-1-3");
        assert_eq!(value["type"], "dev.rivr.call.verb");
        assert_eq!(value["subject"], "u-1");
        assert_eq!(value["rivrseq"], 3);
        assert_eq!(value["dataschema"], DATA_SCHEMA);
        assert_eq!(
            value["data"],
            serde_json::json!({"verb": "ask", "outcome": {"status": "match"}, "switch_ms": 12})
        );
        let time = value["time"].as_str().expect("time");
        assert!(time.parse::<jiff::Timestamp>().is_ok(), "{time}");
    }

    #[test]
    fn text_from_scripts_and_callers_is_escaped() {
        let id = uuid::Uuid::nil();
        let envelope = Envelope {
            id: Id::Unique(&id),
            source: "rivr://n",
            kind: "survey.done",
            rivr_type: false,
            subject: None,
            sequence: None,
        };
        let mut data = envelope.begin(64);
        data.field("said", "\"}, \"evil\": 1, \n\u{0}");
        data.field("shown", &format_args!("{}", "a \"quoted\" \\ line\n"));
        data.field("plain", &format_args!("{}:{}", "main.rhai", 12));
        let value: serde_json::Value = serde_json::from_slice(&data.finish()).expect("JSON");
        assert_eq!(value["data"]["said"], "\"}, \"evil\": 1, \n\u{0}");
        assert_eq!(value["data"]["shown"], "a \"quoted\" \\ line\n");
        assert_eq!(value["data"]["plain"], "main.rhai:12");
        assert_eq!(value["type"], "survey.done");
        assert_eq!(value["id"], "00000000-0000-0000-0000-000000000000");
        assert!(value.get("evil").is_none());
    }

    #[test]
    fn text_is_plain_unless_a_byte_anywhere_in_it_needs_escaping() {
        let plain = "1316b196-6459-44a3-af60-d94e0b80beea ivr/welcome.wav é ~ \u{7f}";
        assert!(is_plain(plain));
        for position in 0..plain.len() {
            for bad in [b'"', b'\\', b'\n', 0, 0x1f] {
                let mut bytes = plain.as_bytes().to_vec();
                if !plain.is_char_boundary(position) || !plain.is_char_boundary(position + 1) {
                    continue;
                }
                bytes[position] = bad;
                let text = String::from_utf8(bytes).expect("UTF-8");
                assert!(!is_plain(&text), "{text:?}");
            }
        }
        for b in 0..=0x7fu8 {
            assert_eq!(is_plain(&char::from(b).to_string().repeat(9)), is_plain_byte(b), "{b:#x}");
        }
    }

    #[test]
    fn a_call_uuid_from_the_switch_is_escaped_in_the_id_and_the_subject() {
        let uuid = "u\"1";
        let envelope = Envelope {
            id: Id::InCall(uuid, 12),
            source: "rivr://n",
            kind: "call.verb",
            rivr_type: true,
            subject: Some(uuid),
            sequence: Some(12),
        };
        let mut data = envelope.begin(64);
        data.field("caller", &String::from("\\\u{7}")).field("count", &u64::MAX).field("delta", &-3i64);
        let value: serde_json::Value = serde_json::from_slice(&data.finish()).expect("JSON");
        assert_eq!(value["id"], "u\"1-12");
        assert_eq!(value["subject"], "u\"1");
        assert_eq!(value["data"], serde_json::json!({"caller": "\\\u{7}", "count": u64::MAX, "delta": -3}));
    }
}
