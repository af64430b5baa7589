//! `Secret`: a password that never appears in logs, `Debug` dumps or error messages.

use std::fmt;

use serde::{Deserialize, Deserializer};

use super::position::{Position, Positioned};

/// A secret value, such as the FreeSWITCH event socket password. `Debug` and `Display` print
/// `***`; only `expose` gives the value, and only the code that sends it should call it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Positioned<String>);

impl Secret {
    /// A secret built in code.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Positioned::unplaced(value.into()))
    }

    /// The secret value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Where the secret was written in the configuration.
    pub fn position(&self) -> Position {
        self.0.position()
    }

    /// The value for `${ENV}` interpolation.
    pub(crate) fn positioned_mut(&mut self) -> &mut Positioned<String> {
        &mut self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Positioned::<String>::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.to_string(), "***");
        assert_eq!(format!("{s:#?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
