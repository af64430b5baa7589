//! `Condition`: how a route matches one field of a call (destination, caller, a variable).
//!
//! # Syntax
//!
//! A condition is one pattern, or a YAML list of patterns of which any may match:
//!
//! | pattern | matches |
//! |---|---|
//! | `"1000"` | exactly `1000` |
//! | `"0800*"` | anything starting with `0800` (a trailing `*` means "prefix") |
//! | `"*"` | anything, including an empty value |
//! | `'/^1[0-9]{3}$/'` | the regex between the slashes (Rust `regex` syntax, not anchored unless you write `^`/`$`) |
//! | `["1000", "2000", "3*"]` | any of the patterns |
//!
//! There is no escaping: a value that really ends in `*` (or is wrapped in slashes) is written
//! as a regex, e.g. `'/^\*$/'`. Quote patterns in YAML: a plain `*97` is an alias, and single
//! quotes keep regex backslashes as written.

use std::fmt;

use regex::Regex;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::position::Position;

/// A match condition: one or more patterns, any of which may match. See the module docs for
/// the syntax.
#[derive(Clone)]
pub struct Condition {
    alternatives: Vec<Alternative>,
    /// Where the condition was written (for an empty list, which has no alternatives).
    position: Position,
}

/// One pattern of a condition, as written and compiled.
#[derive(Clone)]
pub(crate) struct Alternative {
    /// The pattern as written in the file.
    pub(crate) text: String,
    /// Where it was written.
    pub(crate) position: Position,
    /// What it means.
    pub(crate) pattern: Pattern,
    /// Byte range in the source to re-read the spelling from. Set for a plain scalar that YAML
    /// typed as a number or boolean (`destination: 0800` arrives as the float 800), because a
    /// condition accepts either a scalar or a list and so cannot ask for a string up front.
    respell: Option<(usize, usize)>,
}

/// A compiled pattern.
#[derive(Clone, Debug)]
pub(crate) enum Pattern {
    /// The whole value equals this text.
    Exact(String),
    /// The value starts with this text.
    Prefix(String),
    /// The regex matches somewhere in the value.
    Regex(Regex),
    /// The pattern did not compile; it never matches. Only exists between deserialization and
    /// the checks in `Config::parse`, which turn it into a diagnostic and reject the file.
    Invalid(String),
}

/// A pattern that does not compile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("pattern `{pattern}` is not valid: {reason}")]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// Why it does not compile, and what to do.
    pub reason: String,
}

impl Condition {
    /// A condition of one pattern (`"1000"`, `"0800*"`, `"/^1[0-9]{3}$/"`).
    ///
    /// # Errors
    ///
    /// A regex that does not compile.
    pub fn parse(pattern: &str) -> Result<Condition, PatternError> {
        Condition::any_of([pattern])
    }

    /// A condition matching when any of the patterns does.
    ///
    /// # Errors
    ///
    /// The first regex that does not compile.
    pub fn any_of<I, S>(patterns: I) -> Result<Condition, PatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let alternatives = patterns
            .into_iter()
            .map(|p| Alternative::new(p.as_ref().to_string(), Position::UNKNOWN, None))
            .collect::<Vec<_>>();
        if let Some((pattern, reason)) = alternatives.iter().find_map(|a| match &a.pattern {
            Pattern::Invalid(reason) => Some((a.text.clone(), reason.clone())),
            _ => None,
        }) {
            return Err(PatternError { pattern, reason });
        }
        Ok(Condition { alternatives, position: Position::UNKNOWN })
    }

    /// Whether `value` matches any of the patterns.
    pub fn matches(&self, value: &str) -> bool {
        self.alternatives.iter().any(|a| a.pattern.matches(value))
    }

    /// Where the condition was written.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The patterns as written.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.alternatives.iter().map(|a| a.text.as_str())
    }

    pub(crate) fn alternatives(&self) -> &[Alternative] {
        &self.alternatives
    }

    /// Re-reads patterns that YAML typed as numbers or booleans from the source text, so that
    /// `0800` stays `0800` and `+4930` keeps its `+`.
    pub(crate) fn respell(&mut self, source: &str) {
        for alternative in &mut self.alternatives {
            let Some((start, len)) = alternative.respell.take() else {
                continue;
            };
            if let Some(text) = source.get(start..start.saturating_add(len)) {
                *alternative = Alternative::new(text.to_string(), alternative.position, None);
            }
        }
    }
}

impl Alternative {
    fn new(text: String, position: Position, respell: Option<(usize, usize)>) -> Self {
        Alternative { pattern: Pattern::compile(&text), text, position, respell }
    }
}

impl Pattern {
    fn compile(text: &str) -> Pattern {
        if text.len() >= 2 && text.starts_with('/') && text.ends_with('/') {
            let body = &text[1..text.len() - 1];
            if body.is_empty() {
                return Pattern::Invalid(
                    "an empty regex matches every value: write \"*\" if that is what you mean".into(),
                );
            }
            return match Regex::new(body) {
                Ok(regex) => Pattern::Regex(regex),
                Err(err) => Pattern::Invalid(regex_reason(&err)),
            };
        }
        match text.strip_suffix('*') {
            Some(prefix) => Pattern::Prefix(prefix.to_string()),
            None => Pattern::Exact(text.to_string()),
        }
    }

    pub(crate) fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Exact(exact) => value == exact,
            Pattern::Prefix(prefix) => value.starts_with(prefix.as_str()),
            Pattern::Regex(regex) => regex.is_match(value),
            Pattern::Invalid(_) => false,
        }
    }
}

/// The one useful line of a regex error ("unclosed character class"), plus a hint.
fn regex_reason(err: &regex::Error) -> String {
    match err {
        regex::Error::Syntax(text) => {
            let reason =
                text.lines().rev().find_map(|l| l.trim().strip_prefix("error: ")).unwrap_or("syntax error");
            format!("{reason} (regex syntax: https://docs.rs/regex/#syntax)")
        }
        regex::Error::CompiledTooBig(limit) => {
            format!("the regex compiles to more than {limit} bytes: simplify it")
        }
        other => other.to_string(),
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.alternatives.as_slice() {
            [one] => f.write_str(&one.text),
            many => {
                f.write_str("[")?;
                for (i, a) in many.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&a.text)?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition").field(&self.patterns().collect::<Vec<_>>()).finish()
    }
}

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.patterns().eq(other.patterns())
    }
}

impl Eq for Condition {}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<Raw>::deserialize(deserializer)?;
        let position = Position::from_location(&spanned.referenced);
        let alternatives = match spanned.value {
            Raw::Text(text) => vec![Alternative::new(text, position, None)],
            Raw::Scalar(text) => {
                let span = spanned.defined.span();
                let respell = span
                    .byte_offset()
                    .zip(span.byte_len())
                    .and_then(|(o, l)| Some((usize::try_from(o).ok()?, usize::try_from(l).ok()?)));
                vec![Alternative::new(text, position, respell)]
            }
            Raw::List(items) => items
                .into_iter()
                .map(|item| {
                    let position = Position::from_location(&item.referenced);
                    Alternative::new(item.value, position, None)
                })
                .collect(),
        };
        Ok(Condition { alternatives, position })
    }
}

/// A condition as YAML gives it, before the patterns are compiled.
enum Raw {
    /// A string scalar.
    Text(String),
    /// A scalar YAML typed as a number or boolean, in Rust's spelling (re-read from the source
    /// later).
    Scalar(String),
    /// A list; its items are asked for as strings, so they keep their spelling.
    List(Vec<serde_saphyr::Spanned<String>>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a pattern (\"1000\", \"0800*\" or '/^1[0-9]{3}$/') or a list of patterns")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Text(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Text(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Err(E::custom("a condition needs a pattern: write \"*\" to match anything, or remove the key"))
    }

    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_saphyr::Spanned<String>>()? {
            items.push(item);
        }
        Ok(Raw::List(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(yaml: &str) -> Condition {
        #[derive(Deserialize)]
        struct Doc {
            c: Condition,
        }
        let mut doc: Doc = serde_saphyr::from_str(yaml).unwrap();
        doc.c.respell(yaml);
        doc.c
    }

    #[test]
    fn quoted_text_is_an_exact_match() {
        let c = Condition::parse("1000").unwrap();
        assert!(c.matches("1000"));
        assert!(!c.matches("10000"));
        assert!(!c.matches("100"));
    }

    #[test]
    fn trailing_star_is_a_prefix_match() {
        let c = Condition::parse("0800*").unwrap();
        assert!(c.matches("0800"));
        assert!(c.matches("08001234"));
        assert!(!c.matches("0900"));
    }

    #[test]
    fn a_lone_star_matches_anything_even_empty() {
        let c = Condition::parse("*").unwrap();
        assert!(c.matches(""));
        assert!(c.matches("anything"));
    }

    #[test]
    fn slashes_make_an_unanchored_regex() {
        let c = Condition::parse("/^1[0-9]{3}$/").unwrap();
        assert!(c.matches("1234"));
        assert!(!c.matches("12345"));
        let unanchored = Condition::parse("/99/").unwrap();
        assert!(unanchored.matches("12993"));
    }

    #[test]
    fn a_list_matches_when_any_pattern_does() {
        let c = Condition::any_of(["1000", "2*", "/^3.$/"]).unwrap();
        assert!(c.matches("1000"));
        assert!(c.matches("2999"));
        assert!(c.matches("31"));
        assert!(!c.matches("4000"));
        assert_eq!(c.to_string(), "[1000, 2*, /^3.$/]");
    }

    #[test]
    fn a_bad_regex_is_an_error_naming_the_reason() {
        let err = Condition::parse("/^1[0-9{3}$/").unwrap_err();
        assert_eq!(err.pattern, "/^1[0-9{3}$/");
        assert!(err.reason.starts_with("unclosed character class"), "{err}");
    }

    #[test]
    fn an_empty_regex_is_rejected() {
        assert!(Condition::parse("//").is_err());
    }

    #[test]
    fn a_single_slash_is_exact_text() {
        assert!(Condition::parse("/").unwrap().matches("/"));
    }

    #[test]
    fn plain_yaml_numbers_keep_their_spelling() {
        assert_eq!(condition("c: 0800\n").to_string(), "0800");
        assert_eq!(condition("c: +4930123\n").to_string(), "+4930123");
        assert_eq!(condition("c: 1e3\n").to_string(), "1e3");
        assert_eq!(condition("c: yes\n").to_string(), "yes");
        assert!(condition("c: 0800\n").matches("0800"));
    }

    #[test]
    fn list_items_keep_their_spelling_and_positions() {
        let c = condition("c:\n  - 0800\n  - '+49*'\n");
        assert_eq!(c.patterns().collect::<Vec<_>>(), ["0800", "+49*"]);
        assert_eq!(c.alternatives()[1].position, Position::new(3, 5));
    }

    #[test]
    fn a_scalar_condition_knows_its_position() {
        let c = condition("c:   '/x/'\n");
        assert_eq!(c.position(), Position::new(1, 6));
        assert_eq!(c.alternatives()[0].position, Position::new(1, 6));
    }

    #[test]
    fn an_empty_condition_is_a_positioned_error() {
        #[derive(Debug, Deserialize)]
        struct Doc {
            #[allow(dead_code)]
            c: Condition,
        }
        let err = serde_saphyr::from_str::<Doc>("c: ~\n").unwrap_err();
        let location = err.location().unwrap();
        assert_eq!((location.line(), location.column()), (1, 4));
    }
}
