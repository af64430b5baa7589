//! DTMF as values that are checked once: [`DtmfKeys`] (keys a caller presses, terminators) and
//! [`DtmfTones`] (what `send_dtmf` plays, pauses included). Everything past the parse can rely
//! on them holding only what a switch takes.

use std::fmt;

use thiserror::Error;

/// Keys of a telephone keypad: `0`-`9`, `*`, `#` and `A`-`D` (upper case). May be empty (no
/// terminator).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DtmfKeys(String);

/// What [`DtmfTones`] plays: keys, and `w` / `W` for a 0.5 s / 1 s pause.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DtmfTones(String);

/// Text that is not DTMF, with the first character that is not.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("`{text}` is not DTMF: `{bad}` is not one of {allowed}")]
pub struct InvalidDtmf {
    /// The text as given.
    pub text: String,
    /// The first character that is not allowed.
    pub bad: char,
    /// What is allowed, in words.
    pub allowed: &'static str,
}

impl DtmfKeys {
    /// The keys in `text`, letters upper-cased (`a` is the key `A`).
    ///
    /// # Errors
    /// [`InvalidDtmf`] naming the first character that is not a key.
    pub fn parse(text: &str) -> Result<Self, InvalidDtmf> {
        check(text, text.to_ascii_uppercase(), KEYS, "0-9, *, #, A-D").map(DtmfKeys)
    }

    /// The keys as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `key` is one of these keys.
    pub fn contains(&self, key: char) -> bool {
        self.0.contains(key)
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = char> + '_ {
        self.0.chars()
    }
}

impl DtmfTones {
    /// The tones in `text`: keys and `w`/`W` pauses, at least one.
    ///
    /// # Errors
    /// [`InvalidDtmf`] naming the first character that is not allowed (or none for empty text).
    pub fn parse(text: &str) -> Result<Self, InvalidDtmf> {
        if text.is_empty() {
            return Err(InvalidDtmf { text: String::new(), bad: ' ', allowed: "at least one key" });
        }
        let upper = text.chars().map(|c| if c == 'w' { c } else { c.to_ascii_uppercase() }).collect();
        check(text, upper, TONES, "0-9, *, #, A-D, and w or W for a pause").map(DtmfTones)
    }

    /// The tones as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DtmfKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for DtmfTones {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `normalised` (`text` with its letters in the case the switch takes) if every character is in
/// `allowed`.
fn check(text: &str, normalised: String, allowed: &str, words: &'static str) -> Result<String, InvalidDtmf> {
    match text.chars().zip(normalised.chars()).find(|(_, c)| !allowed.contains(*c)) {
        Some((bad, _)) => Err(InvalidDtmf { text: text.to_string(), bad, allowed: words }),
        None => Ok(normalised),
    }
}

/// Every DTMF key.
const KEYS: &str = "0123456789*#ABCD";
/// Keys and the pauses `send_dtmf` understands.
const TONES: &str = "0123456789*#ABCDwW";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_upper_cased_and_anything_else_is_refused_by_name() {
        assert_eq!(DtmfKeys::parse("12*#ab").expect("keys").as_str(), "12*#AB");
        assert!(DtmfKeys::parse("").expect("none").is_empty());
        let error = DtmfKeys::parse("12x").expect_err("x");
        assert_eq!(error.bad, 'x');
        assert!(error.to_string().contains("`12x` is not DTMF"), "{error}");
    }

    #[test]
    fn tones_take_pauses_but_not_nothing() {
        assert_eq!(DtmfTones::parse("12w#Wd").expect("tones").as_str(), "12w#WD");
        assert!(DtmfTones::parse("").is_err());
        assert_eq!(DtmfTones::parse("1-2").expect_err("dash").bad, '-');
    }
}
