//! `Pattern`: a script's regular expression (an `ask` regex, `matches(text, pattern)`), checked
//! and compiled once per distinct pattern in the process.
//!
//! A flow asks with the same few literal patterns on every call, and compiling one costs more
//! than the rest of the call's work on the switch's events (a profile at 200 concurrent calls
//! found a tenth of rivr's time in the regex compiler). So compiled patterns are shared through
//! a small process-wide cache, emptied when it fills so a script that builds patterns at run
//! time cannot grow it without bound.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use regex::{Regex, RegexBuilder};

use crate::call::fiber;

/// A checked regular expression (linear-time `regex` syntax, compiled size capped).
#[derive(Clone)]
pub struct Pattern(Arc<Regex>);

impl Pattern {
    /// The pattern `source`, compiled once for the whole process.
    ///
    /// # Errors
    /// The regex crate's own error when `source` is not a valid pattern or compiles too large.
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        // The lock is held only for the lookup and the insert, never across a verb.
        if let Some(regex) = fiber::lock(cache).get(source) {
            return Ok(Pattern(Arc::clone(regex)));
        }
        let regex = Arc::new(RegexBuilder::new(source).size_limit(MAX_COMPILED_SIZE).build()?);
        let mut cache = fiber::lock(cache);
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(source.into(), Arc::clone(&regex));
        Ok(Pattern(regex))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether `text` matches somewhere (anchor the pattern with `^…$` for a whole match).
    pub fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Pattern {}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.as_str())
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

static CACHE: OnceLock<Mutex<HashMap<Box<str>, Arc<Regex>>>> = OnceLock::new();

/// Distinct patterns kept at once; far more than any set of flows uses.
const MAX_CACHED: usize = 1024;
/// Largest compiled pattern a script may ask for (bytes of the compiled program).
const MAX_COMPILED_SIZE: usize = 1 << 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_pattern_is_compiled_once() {
        let a = Pattern::new(r"^\d{4}$").expect("valid");
        let b = Pattern::new(r"^\d{4}$").expect("valid");
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert!(a.is_match("1234") && !a.is_match("12345"));
        assert_eq!(a.as_str(), r"^\d{4}$");
    }

    #[test]
    fn invalid_and_oversized_patterns_are_refused() {
        assert!(Pattern::new("(").is_err());
        assert!(Pattern::new(r"\w{1000}{1000}").is_err());
    }

    #[test]
    fn patterns_built_at_run_time_do_not_grow_the_cache_without_bound() {
        for n in 0..(MAX_CACHED * 2) {
            Pattern::new(&format!("^{n}$")).expect("valid");
        }
        let cached = fiber::lock(CACHE.get().expect("used")).len();
        assert!(cached <= MAX_CACHED, "{cached}");
    }
}
