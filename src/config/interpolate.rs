//! `${NAME}` interpolation from the environment.
//!
//! Forms: `${NAME}` (an error when `NAME` is unset), `${NAME:-default}` (the default when
//! `NAME` is unset or empty) and `$${` for a literal `${`. `NAME` is a letter or `_` followed by
//! letters, digits and `_`. A `$` not followed by `{` is literal, so passwords containing `$`
//! need no escaping.

use std::borrow::Cow;

/// What went wrong with one `${...}` reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum InterpolationError {
    /// `${NAME}` where `NAME` is not set.
    Unset(String),
    /// A `${...}` that is not well formed; holds the reference as written.
    Malformed(String),
}

/// Replaces every reference in `text`; reports every bad reference, not only the first.
pub(crate) fn interpolate<'a>(
    text: &'a str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Cow<'a, str>, Vec<InterpolationError>> {
    if !text.contains("${") {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(body) = tail.strip_prefix("${") {
            let Some(end) = body.find('}') else {
                errors.push(InterpolationError::Malformed(tail.to_string()));
                rest = "";
                break;
            };
            let reference = &body[..end];
            let (name, default) = match reference.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (reference, None),
            };
            if !is_name(name) {
                errors.push(InterpolationError::Malformed(format!("${{{reference}}}")));
            } else {
                match (env(name), default) {
                    (Some(value), Some(default)) if value.is_empty() => out.push_str(default),
                    (Some(value), _) => out.push_str(&value),
                    (None, Some(default)) => out.push_str(default),
                    (None, None) => errors.push(InterpolationError::Unset(name.to_string())),
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(Cow::Owned(out))
    } else {
        Err(errors)
    }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "FS_PASSWORD" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(text: &str) -> Result<String, Vec<InterpolationError>> {
        interpolate(text, &env).map(Cow::into_owned)
    }

    #[test]
    fn a_reference_is_replaced_by_the_variable() {
        assert_eq!(run("${FS_PASSWORD}").unwrap(), "s3cret");
        assert_eq!(run("pre-${FS_PASSWORD}-post").unwrap(), "pre-s3cret-post");
    }

    #[test]
    fn text_without_references_is_unchanged() {
        assert_eq!(run("Clue$Con $HOME {x}").unwrap(), "Clue$Con $HOME {x}");
    }

    #[test]
    fn a_default_applies_when_unset_or_empty() {
        assert_eq!(run("${NOPE:-ClueCon}").unwrap(), "ClueCon");
        assert_eq!(run("${EMPTY:-ClueCon}").unwrap(), "ClueCon");
        assert_eq!(run("${FS_PASSWORD:-x}").unwrap(), "s3cret");
    }

    #[test]
    fn an_empty_variable_without_default_is_empty() {
        assert_eq!(run("[${EMPTY}]").unwrap(), "[]");
    }

    #[test]
    fn double_dollar_escapes_a_reference() {
        assert_eq!(run("$${FS_PASSWORD}").unwrap(), "${FS_PASSWORD}");
    }

    #[test]
    fn every_unset_variable_is_reported() {
        assert_eq!(
            run("${A}:${FS_PASSWORD}:${B}").unwrap_err(),
            [InterpolationError::Unset("A".into()), InterpolationError::Unset("B".into())]
        );
    }

    #[test]
    fn malformed_references_are_reported() {
        assert_eq!(run("${}").unwrap_err(), [InterpolationError::Malformed("${}".into())]);
        assert_eq!(run("${1X}").unwrap_err(), [InterpolationError::Malformed("${1X}".into())]);
        assert_eq!(run("x${OPEN").unwrap_err(), [InterpolationError::Malformed("${OPEN".into())]);
    }
}
