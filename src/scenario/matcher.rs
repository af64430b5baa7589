//! Argument patterns of `expect` steps: exact text, globs (`*`, `?`) or `/regex/flags`.

use regex::Regex;

/// How an expected argument is compared with what the flow did.
#[derive(Clone, Debug)]
pub enum Pattern {
    /// Anything (no argument given).
    Any,
    /// Exactly this text.
    Exact(String),
    /// A glob: `*` any run of characters, `?` one character.
    Glob(String, Regex),
    /// A regular expression (written `/…/` or `/…/i`).
    Regex(String, Regex),
}

impl Pattern {
    /// Parse a pattern. Quotes around the text are removed; `*`/`?` make a glob.
    ///
    /// # Errors
    /// A message when a `/regex/` does not compile.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Pattern::Any);
        }
        if let Some(body) = text.strip_prefix('/') {
            let (body, flags) = match body.rfind('/') {
                Some(end) => (&body[..end], &body[end + 1..]),
                None => return Err(format!("`{text}`: a regex is written /pattern/ (or /pattern/i)")),
            };
            let pattern = if flags.contains('i') { format!("(?i){body}") } else { body.to_string() };
            let regex = regex::RegexBuilder::new(&pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("`{text}` is not a valid regex: {e}"))?;
            return Ok(Pattern::Regex(text.to_string(), regex));
        }
        let unquoted = unquote(text);
        if unquoted.contains(['*', '?']) {
            let mut pattern = String::from("^");
            for c in unquoted.chars() {
                match c {
                    '*' => pattern.push_str(".*"),
                    '?' => pattern.push('.'),
                    other => pattern.push_str(&regex::escape(&other.to_string())),
                }
            }
            pattern.push('$');
            let regex = Regex::new(&pattern).map_err(|e| format!("`{text}`: {e}"))?;
            return Ok(Pattern::Glob(unquoted, regex));
        }
        Ok(Pattern::Exact(unquoted))
    }

    /// Whether `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(expected) => expected == text,
            Pattern::Glob(_, regex) | Pattern::Regex(_, regex) => regex.is_match(text),
        }
    }

    /// The pattern as written.
    pub fn as_text(&self) -> &str {
        match self {
            Pattern::Any => "",
            Pattern::Exact(text) | Pattern::Glob(text, _) | Pattern::Regex(text, _) => text,
        }
    }
}

fn unquote(text: &str) -> String {
    let quoted = text.len() >= 2
        && ((text.starts_with('"') && text.ends_with('"'))
            || (text.starts_with('\'') && text.ends_with('\'')));
    if quoted {
        text[1..text.len() - 1].to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_glob_and_regex_patterns_match_as_written() {
        assert!(Pattern::parse("\"Welcome to Acme\"").unwrap().matches("Welcome to Acme"));
        assert!(!Pattern::parse("Welcome").unwrap().matches("Welcome to Acme"));
        assert!(Pattern::parse("\"Welcome*\"").unwrap().matches("Welcome to Acme"));
        assert!(Pattern::parse("user/100?").unwrap().matches("user/1001"));
        assert!(Pattern::parse("/sorry/i").unwrap().matches("We are SORRY"));
        assert!(!Pattern::parse("/^sorry$/").unwrap().matches("sorry!"));
        assert!(Pattern::parse("").unwrap().matches("anything"));
    }

    #[test]
    fn a_bad_regex_is_reported() {
        assert!(Pattern::parse("/(/").unwrap_err().contains("not a valid regex"));
        assert!(Pattern::parse("/abc").unwrap_err().contains("/pattern/"));
    }
}
