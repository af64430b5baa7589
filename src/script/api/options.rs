//! Validated option maps: every verb reads its options through `Options`, which rejects unknown
//! keys and wrong types with a message naming the verb, the key and what was expected.

use std::time::Duration;

use rhai::{Dynamic, EvalAltResult, Map, Position};

use crate::call::Prompt;

/// A verb's option map, consumed key by key.
pub struct Options {
    verb: &'static str,
    map: Map,
    known: &'static [&'static str],
    pos: Position,
}

impl Options {
    /// Options of `verb` from `value` (a map, or unit for none), allowing the keys in `known`.
    pub fn new(
        verb: &'static str,
        value: Dynamic,
        known: &'static [&'static str],
        pos: Position,
    ) -> Result<Self, Box<EvalAltResult>> {
        let map = if value.is_unit() {
            Map::new()
        } else {
            value.try_cast::<Map>().ok_or_else(|| {
                error(format!("{verb}: options must be an object map like #{{{}: …}}", known[0]), pos)
            })?
        };
        if let Some(key) = map.keys().find(|key| !known.contains(&key.as_str())) {
            let hint = suggestion(key, known).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
            return Err(error(
                format!("{verb}: unknown option `{key}`{hint} (options: {})", known.join(", ")),
                pos,
            ));
        }
        Ok(Options { verb, map, known, pos })
    }

    fn take(&mut self, key: &'static str) -> Option<Dynamic> {
        debug_assert!(self.known.contains(&key), "option {key} read but not declared");
        self.map.remove(key).filter(|value| !value.is_unit())
    }

    fn wrong(&self, key: &str, expected: &str, value: &Dynamic) -> Box<EvalAltResult> {
        error(
            format!("{}: option `{key}` must be {expected}, not {}", self.verb, value.type_name()),
            self.pos,
        )
    }

    /// A string option.
    pub fn string(&mut self, key: &'static str) -> Result<Option<String>, Box<EvalAltResult>> {
        match self.take(key) {
            None => Ok(None),
            Some(value) if value.is_string() => Ok(Some(value.to_string())),
            Some(value) => Err(self.wrong(key, "a string", &value)),
        }
    }

    /// A whole-number option within `range`.
    pub fn count(
        &mut self,
        key: &'static str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<u32>, Box<EvalAltResult>> {
        match self.take(key) {
            None => Ok(None),
            Some(value) => match value.as_int() {
                Ok(n) if range.contains(&n) => Ok(Some(n as u32)),
                Ok(n) => Err(error(
                    format!(
                        "{}: option `{key}` must be between {} and {}, not {n}",
                        self.verb,
                        range.start(),
                        range.end()
                    ),
                    self.pos,
                )),
                Err(_) => Err(self.wrong(key, "a whole number", &value)),
            },
        }
    }

    /// A duration option, in milliseconds (a whole number; at most one day).
    pub fn millis(&mut self, key: &'static str) -> Result<Option<Duration>, Box<EvalAltResult>> {
        match self.take(key) {
            None => Ok(None),
            Some(value) => match value.as_int() {
                Ok(ms) if (0..=86_400_000).contains(&ms) => Ok(Some(Duration::from_millis(ms as u64))),
                Ok(ms) => Err(error(
                    format!("{}: option `{key}` must be 0 to 86400000 milliseconds, not {ms}", self.verb),
                    self.pos,
                )),
                Err(_) => Err(self.wrong(key, "a whole number of milliseconds", &value)),
            },
        }
    }

    /// A true/false option.
    pub fn flag(&mut self, key: &'static str) -> Result<Option<bool>, Box<EvalAltResult>> {
        match self.take(key) {
            None => Ok(None),
            Some(value) => value.as_bool().map(Some).map_err(|_| self.wrong(key, "true or false", &value)),
        }
    }

    /// A raw option value, for options with several accepted shapes.
    pub fn value(&mut self, key: &'static str) -> Option<Dynamic> {
        self.take(key)
    }
}

/// A catchable script error at `pos`.
pub fn error(message: String, pos: Position) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.into(), pos).into()
}

/// The known key closest to a mistyped one, if any is close.
pub fn suggestion<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| (distance(key, candidate), *candidate))
        .filter(|(d, candidate)| *d <= 2.max(candidate.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb { previous } else { 1 + previous.min(row[j]).min(row[j + 1]) };
            previous = current;
        }
    }
    row[b.len()]
}

/// Prompts from a string, an array of strings, or unit (none).
pub fn prompts(verb: &'static str, value: Dynamic, pos: Position) -> Result<Vec<Prompt>, Box<EvalAltResult>> {
    if value.is_unit() {
        return Ok(Vec::new());
    }
    if value.is_string() {
        return Ok(vec![Prompt::parse(&value.to_string())]);
    }
    if value.is_array() {
        let items = value.cast::<rhai::Array>();
        return items
            .into_iter()
            .map(|item| {
                if item.is_string() {
                    Ok(Prompt::parse(&item.to_string()))
                } else {
                    Err(error(
                        format!("{verb}: every prompt must be a string, not {}", item.type_name()),
                        pos,
                    ))
                }
            })
            .collect();
    }
    Err(error(
        format!("{verb}: the prompt must be a string or an array of strings, not {}", value.type_name()),
        pos,
    ))
}
