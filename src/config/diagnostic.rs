//! `Diagnostic` and `ConfigError`: what is wrong with a configuration, and where.
//!
//! Every problem is a `Diagnostic` carrying `file:line:column`, a kind a program can branch on,
//! and a lowercase message that says what to do. Errors from the YAML deserializer become one
//! diagnostic (it stops at the first); the checks that run after deserialization collect every
//! problem they find.

use std::fmt;
use std::path::PathBuf;

use serde_saphyr::MessageFormatter;

use super::position::Position;

/// One problem found in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as given to `Config::load` or `Config::parse`.
    pub file: String,
    /// Line, counting from 1; 0 when the problem has no place in the file (a default value).
    pub line: usize,
    /// Column in characters, counting from 1; 0 when `line` is 0.
    pub column: usize,
    /// Whether the configuration is unusable (`Error`) or merely suspicious (`Warning`).
    pub severity: Severity,
    /// What kind of problem this is.
    pub kind: DiagnosticKind,
    /// What is wrong and what to do about it (lowercase, no final period).
    pub message: String,
}

impl Diagnostic {
    /// An error at `position` in `file`.
    pub fn error(file: &str, position: Position, kind: DiagnosticKind, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            line: position.line,
            column: position.column,
            severity: Severity::Error,
            kind,
            message: message.into(),
        }
    }

    /// A warning at `position` in `file`.
    pub fn warning(file: &str, position: Position, kind: DiagnosticKind, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(file, position, kind, message) }
    }

    /// Where the problem is.
    pub fn position(&self) -> Position {
        Position::new(self.line, self.column)
    }

    /// Whether this diagnostic makes the configuration unusable.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Turns a serde-saphyr error (syntax, unknown key, wrong type, ...) into a diagnostic.
    pub(crate) fn from_yaml(file: &str, err: &serde_saphyr::Error) -> Self {
        let position = err.location().map(|l| Position::from_location(&l)).unwrap_or(Position::UNKNOWN);
        let inner = original_error(err);
        let (kind, message) = describe(inner);
        Diagnostic::error(file, position, kind, sanitize(&message))
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: message`, with `warning: ` before warnings' messages, and without
    /// `line:column` when the problem has no place in the file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.line != 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The configuration cannot be used.
    Error,
    /// The configuration works, but probably not as intended.
    Warning,
}

/// What kind of problem a diagnostic reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// A `${NAME}` reference that is not well formed (`${}`, `${1X}`, a missing `}`).
    BadInterpolation,
    /// A match condition that does not compile (a bad regex).
    BadPattern,
    /// A route's script is not a relative `.rhai` path inside the scripts directory.
    BadScriptPath,
    /// An `http.allow` entry that is not a safe URL prefix.
    BadUrl,
    /// The same key twice in one YAML mapping.
    DuplicateKey,
    /// Two routes, or two FreeSWITCH connections, with the same name.
    DuplicateName,
    /// A value of the wrong type or out of range (`port: eighty`, `max_calls: 0`, an unknown
    /// hangup cause).
    InvalidValue,
    /// The scripts directory does not exist.
    MissingDirectory,
    /// A required key is absent (a route without `name` or `script`).
    MissingKey,
    /// A route names a script file that does not exist in the scripts directory.
    MissingScript,
    /// The file is not valid YAML, or exceeds the parser's size and depth budgets.
    Syntax,
    /// A key rivr does not know, usually a typo.
    UnknownKey,
    /// A route that can never match because an earlier route matches every call.
    UnreachableRoute,
    /// A `${NAME}` reference to an environment variable that is not set.
    UnsetEnv,
    /// The operations API on a network address without a token, or with an unusable one.
    UnprotectedApi,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: check the path and its permissions", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but has problems: every one found, errors and warnings, in file order.
    #[error("{}", DiagnosticList(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// The problems found; empty for `Read`.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid(diagnostics) => diagnostics,
        }
    }
}

/// Displays diagnostics one per line.
struct DiagnosticList<'a>(&'a [Diagnostic]);

impl fmt::Display for DiagnosticList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            d.fmt(f)?;
        }
        Ok(())
    }
}

/// The error under snippet and alias wrappers.
fn original_error(err: &serde_saphyr::Error) -> &serde_saphyr::Error {
    let mut err = err.without_snippet();
    while let serde_saphyr::Error::AliasError { error, .. } = err {
        err = error.without_snippet();
    }
    err
}

/// Classifies a serde-saphyr error and words its message, with a hint where we have one.
fn describe(err: &serde_saphyr::Error) -> (DiagnosticKind, String) {
    use serde_saphyr::Error as E;

    let plain = serde_saphyr::DefaultMessageFormatter.format_message(err).into_owned();
    match err {
        E::SerdeUnknownField { field, expected, .. } => {
            let mut message = format!("unknown key `{field}`");
            if let Some(close) = closest(field, expected) {
                message.push_str(&format!(": did you mean `{close}`?"));
            }
            if expected.is_empty() {
                message.push_str("; this section takes no keys");
            } else {
                message.push_str(&format!(" (known keys: {})", expected.join(", ")));
            }
            (DiagnosticKind::UnknownKey, message)
        }
        E::SerdeUnknownVariant { variant, expected, .. } => {
            let mut message = format!("unknown value `{variant}`");
            if let Some(close) = closest(variant, expected) {
                message.push_str(&format!(": did you mean `{close}`?"));
            }
            message.push_str(&format!(" (expected one of: {})", expected.join(", ")));
            (DiagnosticKind::InvalidValue, message)
        }
        E::SerdeMissingField { field, .. } => {
            (DiagnosticKind::MissingKey, format!("missing key `{field}`: add it to this mapping"))
        }
        E::DuplicateMappingKey { key, .. } => {
            let key = key.as_deref().unwrap_or("this key");
            (
                DiagnosticKind::DuplicateKey,
                format!("`{key}` appears twice in the same mapping: keep one of them"),
            )
        }
        E::InvalidScalar { ty, .. } => {
            (DiagnosticKind::InvalidValue, format!("this value is not a valid {}", type_name(ty)))
        }
        E::NullIntoString { .. } => (
            DiagnosticKind::InvalidValue,
            "a text value is required here: write it, or quote it (\"\") for empty text".into(),
        ),
        E::SerdeInvalidType { .. }
        | E::SerdeInvalidValue { .. }
        | E::SerdeInvalidLength { .. }
        | E::Message { .. }
        | E::Unexpected { .. }
        | E::InvalidBooleanStrict { .. }
        | E::TaggedScalarCannotDeserializeIntoString { .. }
        | E::ExternallyTaggedEnumExpectedScalarOrMapping { .. }
        | E::UnexpectedValueForUnitEnumVariant { .. } => (DiagnosticKind::InvalidValue, plain),
        E::UnsupportedTag { .. } => (
            DiagnosticKind::Syntax,
            format!("{plain}: rivr.yaml supports no YAML tags (such as !include) here"),
        ),
        E::ExternalMessage { .. } | E::Eof { .. } => (
            DiagnosticKind::Syntax,
            format!("{plain}: check the indentation, quotes and brackets here and on the lines above"),
        ),
        _ => (DiagnosticKind::Syntax, plain),
    }
}

/// A friendlier name for a Rust type in "not a valid ..." messages.
fn type_name(ty: &str) -> &str {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "usize" => "whole number (0 or more)",
        "i8" | "i16" | "i32" | "i64" | "isize" => "whole number",
        "f32" | "f64" => "number",
        "bool" => "boolean (true or false)",
        other => other,
    }
}

/// The known name closest to a misspelt one, if it is close enough to be a plausible typo.
pub(crate) fn closest<'a>(typo: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = (typo.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (edit_distance(typo, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Escapes control characters so a message from the file cannot mangle a terminal or log line.
pub(crate) fn sanitize(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_file_line_column_message() {
        let d = Diagnostic::error(
            "rivr.yaml",
            Position::new(3, 5),
            DiagnosticKind::UnknownKey,
            "unknown key `x`",
        );
        assert_eq!(d.to_string(), "rivr.yaml:3:5: unknown key `x`");
    }

    #[test]
    fn display_of_a_warning_says_so() {
        let d = Diagnostic::warning(
            "rivr.yaml",
            Position::new(1, 2),
            DiagnosticKind::UnreachableRoute,
            "never matches",
        );
        assert_eq!(d.to_string(), "rivr.yaml:1:2: warning: never matches");
    }

    #[test]
    fn display_without_a_position_omits_line_and_column() {
        let d =
            Diagnostic::error("rivr.yaml", Position::UNKNOWN, DiagnosticKind::MissingDirectory, "no scripts");
        assert_eq!(d.to_string(), "rivr.yaml: no scripts");
    }

    #[test]
    fn invalid_error_lists_every_diagnostic_on_its_own_line() {
        let a = Diagnostic::error("f", Position::new(1, 1), DiagnosticKind::Syntax, "a");
        let b = Diagnostic::error("f", Position::new(2, 1), DiagnosticKind::Syntax, "b");
        let err = ConfigError::Invalid(vec![a, b]);
        assert_eq!(err.to_string(), "f:1:1: a\nf:2:1: b");
        assert_eq!(err.diagnostics().len(), 2);
    }

    #[test]
    fn closest_suggests_a_near_typo_and_nothing_for_a_far_one() {
        let known = ["name", "destination", "caller", "script"];
        assert_eq!(closest("destinaton", &known), Some("destination"));
        assert_eq!(closest("scirpt", &known), Some("script"));
        assert_eq!(closest("colour", &known), None);
    }

    #[test]
    fn sanitize_escapes_control_characters() {
        assert_eq!(sanitize("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(sanitize("plain"), "plain");
    }
}
