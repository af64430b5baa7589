//! `Headers`: the ordered `Name: value` list that both frames and events are made of.
//!
//! A frame's headers are kept exactly as they came off the wire; an event's headers hold the
//! decoded values. Either way the list keeps order and duplicates, and lookups ignore ASCII
//! case as FreeSWITCH's own `switch_event_get_header` does.
//!
//! All names and values of one list live in a single `String`, and each header is a pair of
//! ranges into it. An event carries 150 to 200 headers; one allocation for the text and one for
//! the ranges, instead of two per header, is what keeps decoding fast (see
//! `benches/esl_codec.rs`). Lookups are a linear scan, which for this size beats hashing: the
//! lengths differ for most names, so most comparisons stop at the length check.
//!
//! This module knows nothing of Rhai or of the call model.

use std::fmt;
use std::iter::FusedIterator;
use std::slice;

/// An ordered list of header lines; duplicates are kept, lookups ignore ASCII case.
#[derive(Clone, Default)]
pub struct Headers {
    /// Every name and value, back to back. For a decoded frame this is the header block as it
    /// came off the wire, which is why the ranges are stored instead of being implied.
    text: String,
    /// One entry per header, in order.
    spans: Vec<Span>,
}

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list with room for `headers` headers totalling `text` bytes.
    pub fn with_capacity(headers: usize, text: usize) -> Self {
        Self { text: String::with_capacity(text), spans: Vec::with_capacity(headers) }
    }

    /// Appends a header at the end.
    pub fn push(&mut self, name: &str, value: &str) {
        let name_start = self.text.len();
        self.text.push_str(name);
        let name_end = self.text.len();
        self.text.push_str(value);
        self.spans.push(Span { name_start, name_end, value_start: name_end, value_end: self.text.len() });
    }

    /// The number of headers, duplicates included.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The value of the first header called `name` (ASCII case ignored).
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = name.as_bytes();
        self.spans
            .iter()
            .find(|span| self.name_bytes(span).eq_ignore_ascii_case(name))
            .map(|span| self.value(span))
    }

    /// The values of every header called `name` (ASCII case ignored), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter().filter(move |(header, _)| header.eq_ignore_ascii_case(name)).map(|(_, value)| value)
    }

    /// Whether a header called `name` is present (ASCII case ignored).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The headers in order, as `(name, value)` pairs.
    pub fn iter(&self) -> Iter<'_> {
        Iter { headers: self, spans: self.spans.iter() }
    }

    /// Builds a list from a header block's text and the ranges a parser found in it.
    pub(crate) fn from_parts(text: String, spans: Vec<Span>) -> Self {
        Self { text, spans }
    }

    /// Appends a header whose value `write` produces directly into the shared text, so a
    /// decoder needs no buffer of its own.
    pub(crate) fn push_with(&mut self, name: &str, write: impl FnOnce(&mut String)) {
        let result: Result<(), std::convert::Infallible> = self.try_push_with(name, |text| {
            write(text);
            Ok(())
        });
        // `Infallible` has no values, so there is no error to lose here.
        let Ok(()) = result;
    }

    /// [`Headers::push_with`] for a writer that can fail; on error nothing is appended.
    pub(crate) fn try_push_with<E>(
        &mut self,
        name: &str,
        write: impl FnOnce(&mut String) -> Result<(), E>,
    ) -> Result<(), E> {
        let name_start = self.text.len();
        self.text.push_str(name);
        let name_end = self.text.len();
        if let Err(err) = write(&mut self.text) {
            self.text.truncate(name_start);
            return Err(err);
        }
        self.spans.push(Span { name_start, name_end, value_start: name_end, value_end: self.text.len() });
        Ok(())
    }

    /// The value of the first header called `prefix` + `name`, without building that name.
    pub(crate) fn get_prefixed(&self, prefix: &str, name: &str) -> Option<&str> {
        let (prefix, name) = (prefix.as_bytes(), name.as_bytes());
        let len = prefix.len() + name.len();
        self.spans
            .iter()
            .find(|span| {
                let header = self.name_bytes(span);
                header.len() == len
                    && header[..prefix.len()].eq_ignore_ascii_case(prefix)
                    && header[prefix.len()..].eq_ignore_ascii_case(name)
            })
            .map(|span| self.value(span))
    }

    fn name_bytes(&self, span: &Span) -> &[u8] {
        self.text.as_bytes().get(span.name_start..span.name_end).unwrap_or_default()
    }

    fn name(&self, span: &Span) -> &str {
        // Spans are only ever made at `str` boundaries (by `push`, `push_with` and the frame
        // parser, which splits at ASCII bytes), so `get` never fails; `""` keeps this total.
        self.text.get(span.name_start..span.name_end).unwrap_or_default()
    }

    fn value(&self, span: &Span) -> &str {
        // Same invariant as in `name`.
        self.text.get(span.value_start..span.value_end).unwrap_or_default()
    }
}

impl PartialEq for Headers {
    /// Two lists are equal when they hold the same pairs in the same order, however their text
    /// is laid out (a decoded frame keeps the `": "` and newlines between the ranges).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        headers.extend(iter);
        headers
    }
}

impl<N: AsRef<str>, V: AsRef<str>> Extend<(N, V)> for Headers {
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, iter: I) {
        for (name, value) in iter {
            self.push(name.as_ref(), value.as_ref());
        }
    }
}

/// Iterator over `(name, value)` pairs of a [`Headers`], in order.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    headers: &'a Headers,
    spans: slice::Iter<'a, Span>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let span = self.spans.next()?;
        Some((self.headers.name(span), self.headers.value(span)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let span = self.spans.next_back()?;
        Some((self.headers.name(span), self.headers.value(span)))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl FusedIterator for Iter<'_> {}

/// Where one header's name and value sit in the shared text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) name_start: usize,
    pub(crate) name_end: usize,
    /// Not always `name_end`: in a frame's text the `": "` separator lies between.
    pub(crate) value_start: usize,
    pub(crate) value_end: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_ascii_case_and_returns_the_first_duplicate() {
        let headers: Headers =
            [("Content-Type", "a"), ("X", "1"), ("content-type", "b")].into_iter().collect();
        assert_eq!(headers.get("CONTENT-TYPE"), Some("a"));
        assert_eq!(headers.get_all("Content-type").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(headers.get("Missing"), None);
        assert!(headers.contains("x"));
    }

    #[test]
    fn iteration_keeps_order_and_duplicates() {
        let headers: Headers = [("B", "2"), ("A", "1"), ("B", "3")].into_iter().collect();
        let pairs: Vec<_> = headers.iter().collect();
        assert_eq!(pairs, [("B", "2"), ("A", "1"), ("B", "3")]);
        assert_eq!(headers.iter().next_back(), Some(("B", "3")));
        assert_eq!(headers.len(), 3);
    }

    #[test]
    fn prefixed_lookup_matches_the_whole_name() {
        let headers: Headers = [("variable_fslab_digit", "1"), ("variable_fslab", "x")].into_iter().collect();
        assert_eq!(headers.get_prefixed("variable_", "fslab"), Some("x"));
        assert_eq!(headers.get_prefixed("variable_", "FSLAB_DIGIT"), Some("1"));
        assert_eq!(headers.get_prefixed("variable_", "fslab_dig"), None);
    }

    #[test]
    fn failed_push_with_leaves_the_list_unchanged() {
        let mut headers: Headers = [("A", "1")].into_iter().collect();
        let result: Result<(), ()> = headers.try_push_with("B", |text| {
            text.push_str("partial");
            Err(())
        });
        assert!(result.is_err());
        assert_eq!(headers, [("A", "1")].into_iter().collect());
        headers.push("C", "3");
        assert_eq!(headers.iter().next_back(), Some(("C", "3")));
    }

    #[test]
    fn equality_ignores_text_layout() {
        let text = String::from("A: 1\nB: 2\n\n");
        let spans = vec![
            Span { name_start: 0, name_end: 1, value_start: 3, value_end: 4 },
            Span { name_start: 5, name_end: 6, value_start: 8, value_end: 9 },
        ];
        let parsed = Headers::from_parts(text, spans);
        let built: Headers = [("A", "1"), ("B", "2")].into_iter().collect();
        assert_eq!(parsed, built);
        assert_eq!(format!("{parsed:?}"), r#"[("A", "1"), ("B", "2")]"#);
    }
}
