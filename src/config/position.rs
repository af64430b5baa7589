//! `Position` and `Positioned<T>`: where in `rivr.yaml` a value was written.
//!
//! Most checks run after the YAML has been deserialized (unset `${ENV}` variables, bad
//! regexes, missing scripts), so the values they look at keep their place in the file.
//! `Positioned<T>` is filled from serde-saphyr's `Spanned<T>`; serde-saphyr's own types stay
//! inside this module so the rest of rivr does not depend on them.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer};

/// A 1-based line and column in the configuration file. `Position::UNKNOWN` (0:0) marks a value
/// that was not written in the file: a default, or a value built in code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Line, counting from 1; 0 when unknown.
    pub line: usize,
    /// Column in characters, counting from 1; 0 when unknown.
    pub column: usize,
}

impl Position {
    /// No place in the file (a default value).
    pub const UNKNOWN: Position = Position { line: 0, column: 0 };

    /// A known place.
    pub const fn new(line: usize, column: usize) -> Self {
        Position { line, column }
    }

    /// Whether this position points into the file.
    pub const fn is_known(&self) -> bool {
        self.line != 0
    }

    pub(crate) fn from_location(location: &serde_saphyr::Location) -> Self {
        Position {
            line: usize::try_from(location.line()).unwrap_or(usize::MAX),
            column: usize::try_from(location.column()).unwrap_or(usize::MAX),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A value together with the position it was written at.
///
/// Dereferences to the value, so `route.script.as_str()` and `*config.max_calls` read as if the
/// wrapper were not there. Equality and hashing look at the value only: moving a route three
/// lines down does not change the configuration.
#[derive(Clone, Default)]
pub struct Positioned<T> {
    value: T,
    position: Position,
}

impl<T> Positioned<T> {
    /// A value written at `position`.
    pub const fn new(value: T, position: Position) -> Self {
        Positioned { value, position }
    }

    /// A value that was not written in a file (a default or a value built in code).
    pub const fn unplaced(value: T) -> Self {
        Positioned { value, position: Position::UNKNOWN }
    }

    /// Where the value was written.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The value, unwrapped.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Mutable access for the post-parse pass (interpolation, normalisation).
    pub(crate) fn value_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> Deref for Positioned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> From<T> for Positioned<T> {
    fn from(value: T) -> Self {
        Positioned::unplaced(value)
    }
}

impl<T: PartialEq> PartialEq for Positioned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Positioned<T> {}

impl<T: std::hash::Hash> std::hash::Hash for Positioned<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl<T: fmt::Debug> fmt::Debug for Positioned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The position is noise in a dump of the configuration; the value is what matters.
        self.value.fmt(f)
    }
}

impl<T: fmt::Display> fmt::Display for Positioned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Positioned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        // `referenced` is where the value is used: for an alias, the `*alias`, which is the
        // place a user edits to change this one value.
        Ok(Positioned { position: Position::from_location(&spanned.referenced), value: spanned.value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        name: Positioned<String>,
        port: Positioned<u16>,
    }

    #[test]
    fn positioned_values_carry_line_and_column_of_the_value() {
        let doc: Doc = serde_saphyr::from_str("name: sales\nport:   8021\n").unwrap();
        assert_eq!(doc.name.as_str(), "sales");
        assert_eq!(doc.name.position(), Position::new(1, 7));
        assert_eq!(*doc.port, 8021);
        assert_eq!(doc.port.position(), Position::new(2, 9));
    }

    #[test]
    fn equality_ignores_the_position() {
        let a = Positioned::new("x".to_string(), Position::new(1, 1));
        let b = Positioned::new("x".to_string(), Position::new(9, 4));
        assert_eq!(a, b);
        assert_ne!(a, Positioned::unplaced("y".to_string()));
    }

    #[test]
    fn unknown_position_is_not_known() {
        assert!(!Position::UNKNOWN.is_known());
        assert!(Position::new(1, 1).is_known());
    }
}
