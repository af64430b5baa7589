//! An event's bytes: the CloudEvents 1.0 envelope in its structured JSON form
//! (`application/cloudevents+json`) around rivr's data, written straight into the one buffer
//! that is sent.
//!
//! serde writes every value (strings escaped, numbers, maps); this module only lays out the
//! envelope's attributes. Building the `cloudevents-sdk` crate's `Event` first would cost an
//! allocation per attribute and a `serde_json::Value` per payload on every verb of every call;
//! the tests parse what this writes with that crate instead, so the two cannot drift apart.

use std::fmt;

use bytes::Bytes;
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
    /// Unique per `source`; `Display` so a call's `uuid-seq` is written without a `String`.
    pub id: &'a dyn fmt::Display,
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

impl Envelope<'_> {
    /// Write the envelope up to its `data` object, stamped with the time now; the data's fields
    /// follow through the returned writer.
    pub fn begin(&self, capacity: usize) -> DataWriter {
        let mut out = DataWriter { buf: super::buffers::take(capacity), first: true };
        out.buf.extend_from_slice(b"{\"specversion\":\"1.0\",\"id\":");
        out.display(self.id);
        out.buf.extend_from_slice(b",\"source\":");
        out.value(self.source);
        out.buf.extend_from_slice(b",\"type\":");
        if self.rivr_type {
            out.display(&format_args!("{TYPE_PREFIX}{}", self.kind));
        } else {
            out.value(self.kind);
        }
        out.buf.extend_from_slice(b",\"time\":");
        out.display(&jiff::Timestamp::now());
        if let Some(subject) = self.subject {
            out.buf.extend_from_slice(b",\"subject\":");
            out.value(subject);
        }
        if let Some(sequence) = self.sequence {
            out.buf.extend_from_slice(b",\"rivrseq\":");
            out.value(&sequence);
        }
        out.buf.extend_from_slice(b",\"datacontenttype\":\"application/json\",\"dataschema\":");
        out.value(DATA_SCHEMA);
        out.buf.extend_from_slice(b",\"data\":{");
        out
    }
}

/// The `data` object of an event being written, field by field.
pub struct DataWriter {
    buf: Vec<u8>,
    first: bool,
}

impl DataWriter {
    /// A data field.
    pub fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> &mut Self {
        self.key(key);
        self.value(value);
        self
    }

    /// A data field whose value is text written by `Display` (a summary, a position).
    pub fn field_display(&mut self, key: &str, value: &dyn fmt::Display) -> &mut Self {
        self.key(key);
        self.display(value);
        self
    }

    /// A data field, when there is a value.
    pub fn field_opt<T: Serialize + ?Sized>(&mut self, key: &str, value: Option<&T>) -> &mut Self {
        if let Some(value) = value {
            self.field(key, value);
        }
        self
    }

    /// A field holding an object; its fields follow, up to [`DataWriter::end_object`].
    pub fn object(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.buf.push(b'{');
        self.first = true;
        self
    }

    /// The end of the object [`DataWriter::object`] began.
    pub fn end_object(&mut self) -> &mut Self {
        self.buf.push(b'}');
        self.first = false;
        self
    }

    /// The event's bytes: the data object and the envelope closed.
    pub fn finish(mut self) -> Bytes {
        self.buf.extend_from_slice(b"}}");
        super::buffers::share(self.buf)
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.value(key);
        self.buf.push(b':');
    }

    /// `value`'s text as a JSON string. Written straight into the buffer and then checked:
    /// what needs no escaping (ids, times, types, most summaries) costs no second pass through
    /// serde's escaper, and what does is written again by serde.
    fn display(&mut self, value: &dyn fmt::Display) {
        use std::io::Write as _;
        let start = self.buf.len();
        self.buf.push(b'"');
        let _ = write!(self.buf, "{value}");
        if self.buf[start + 1..].iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.buf.push(b'"');
        } else {
            self.buf.truncate(start);
            self.value(&format_args!("{value}"));
        }
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) {
        // Writing into a Vec cannot fail, and rivr's data has no map with non-string keys.
        let _ = serde_json::to_writer(&mut self.buf, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_carries_every_required_attribute_and_the_data_as_json() {
        let envelope = Envelope {
            id: &format_args!("{}-{}", "u-1", 3),
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
        let envelope = Envelope {
            id: &"x",
            source: "rivr://n",
            kind: "survey.done",
            rivr_type: false,
            subject: None,
            sequence: None,
        };
        let mut data = envelope.begin(64);
        data.field("said", "\"}, \"evil\": 1, \n\u{0}");
        data.field_display("shown", &format_args!("{}", "a \"quoted\" \\ line\n"));
        data.field_display("plain", &format_args!("{}:{}", "main.rhai", 12));
        let value: serde_json::Value = serde_json::from_slice(&data.finish()).expect("JSON");
        assert_eq!(value["data"]["said"], "\"}, \"evil\": 1, \n\u{0}");
        assert_eq!(value["data"]["shown"], "a \"quoted\" \\ line\n");
        assert_eq!(value["data"]["plain"], "main.rhai:12");
        assert_eq!(value["type"], "survey.done");
        assert!(value.get("evil").is_none());
    }
}
