//! Escaping for FreeSWITCH's argument parsers: text rivr passes on arrives exactly as written.
//!
//! FreeSWITCH reads an application argument in layers, and a value that is not escaped for each
//! layer is silently changed:
//!
//! 1. The core expands channel variables in every argument (`switch_core_session.c`,
//!    `switch_core_session_execute_application_get_flags`) when it holds `${` or a backslash
//!    escape: `${var}` is replaced and `${api(arg)}` *runs an API command*. Text that rivr
//!    passes on (TTS text, variable values, caller ids) goes through `protect` so it arrives
//!    literally. Dial targets and `execute` arguments stay expandable, as in a dialplan.
//! 2. The application splits its argument (`switch_separate_string`, `switch_utils.c`): on
//!    blanks for `play_and_get_digits`, `record` and `say`; on `!` inside `file_string://`; on
//!    `|` for `tts://`; on `,` and `=` inside `{...}` of a dial string. Each split honours `'`
//!    quotes and backslash escapes and strips quotes: `escape_word` and `escape_item` undo
//!    exactly that.
//! 3. `speak` takes its text verbatim after the second `|` (`mod_dptools.c`, `speak_function`),
//!    so it needs layer 1 only.
//!
//! The tests check every escape against FreeSWITCH's parsers as transcribed in
//! `tests/support/fs_parsers.rs` (the oracle the fake FreeSWITCH reads arguments with, too).

use std::borrow::Cow;

/// Escape `text` so that FreeSWITCH's blank-separated `switch_separate_string` gives it back as
/// one word: quoted with `'...'` when it holds blanks, quotes inside as `\'`, and a backslash
/// doubled only where the parser would otherwise eat it (so `\d` in a regex stays `\d`, as in
/// the outbound-pagd capture). Quoting rather than `\s` keeps the argument free of escapes
/// that would make the core expand it (see `protect`).
pub(crate) fn escape_word(text: &str) -> String {
    let inner = escape(text, None);
    if text.contains(' ') {
        format!("'{inner}'")
    } else {
        inner
    }
}

/// Escape `text` so that `switch_separate_string(_, delim, ..)` gives it back as one item.
pub(crate) fn escape_item(text: &str, delim: char) -> String {
    escape(text, Some(delim))
}

fn escape(text: &str, delim: Option<char>) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                // `cleanup_separated_string` turns `\x` into `x` for these x (and `\n`, `\r`,
                // `\t`, `\s` into control characters); any other backslash stays literal.
                let eaten = match chars.peek() {
                    None => true,
                    Some(&next) => {
                        matches!(next, '\\' | '\'' | '"' | 'n' | 'r' | 't' | 's') || Some(next) == delim
                    }
                };
                out.push_str(if eaten { "\\\\" } else { "\\" });
            }
            '\'' => out.push_str("\\'"),
            c if Some(c) == delim => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Make a whole application argument arrive literally through the core's variable expansion.
///
/// The core only expands an argument that holds `${` (blanks and backslashes may sit between)
/// or a backslash before `\`, `n`, `s`, `t` or `'` (`switch_string_var_check_const`,
/// `switch_string_has_escaped_data`); then `\\` becomes `\` and `\$` a literal `$`. So an
/// argument that would not be expanded is sent as is (the capture bytes stay exact), and one
/// that would is sent with every `\` and `$` escaped.
pub(crate) fn protect(arg: &str) -> Cow<'_, str> {
    if !expands(arg) {
        return Cow::Borrowed(arg);
    }
    Cow::Owned(escape_expansion(arg))
}

pub(crate) fn escape_expansion(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\\' || c == '$' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether FreeSWITCH's core would run `text` through variable expansion.
pub(crate) fn expands(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut dollar = false;
    for &b in bytes {
        if b == b'$' {
            dollar = true;
        } else if dollar {
            if b == b'{' {
                return true;
            }
            if b != b'\\' {
                dollar = false;
            }
        }
    }
    bytes.windows(2).any(|w| w[0] == b'\\' && matches!(w[1], b'\\' | b'n' | b's' | b't' | b'\''))
}

/// FreeSWITCH's parsers, transcribed: the oracle every family's tests check arguments against.
#[cfg(test)]
#[path = "../../../tests/support/fs_parsers.rs"]
pub(crate) mod fs_parsers;

#[cfg(test)]
mod tests {
    use super::*;

    use super::fs_parsers;

    #[test]
    fn escapes_round_trip_through_freeswitch_parsers() {
        let samples = [
            "plain",
            "two words",
            "it's",
            "'quoted' text",
            r"back\slash",
            r"\d+\s*",
            r"trailing\",
            r"a\\b",
            "bang! and | bar, comma=eq",
            "\"double\"",
            r"\'",
        ];
        for text in samples {
            let word = escape_word(text);
            assert_eq!(fs_parsers::separate(&word, None, 8), [text], "word {word:?}");
            for delim in ['!', '|', ',', '='] {
                let item = escape_item(text, delim);
                let parsed = fs_parsers::separate(&format!("x{delim}{item}"), Some(delim), 8);
                assert_eq!(parsed, ["x", text], "item {item:?} split on {delim}");
            }
            assert_eq!(fs_parsers::expand(&protect(text)), text);
        }
    }

    #[test]
    fn protect_leaves_text_the_core_would_not_expand() {
        assert_eq!(protect("hello world"), "hello world");
        assert_eq!(protect("$5 and \\d"), "$5 and \\d");
        assert_eq!(protect("${x}"), r"\${x}");
        assert_eq!(protect(r"a\nb"), r"a\\nb");
    }

    #[test]
    fn the_oracle_and_the_escaper_agree_on_what_the_core_expands() {
        for text in ["plain", "${x}", "$ {x}", "$\\{x}", r"a\nb", r"\d", "$5", r"it\'s"] {
            assert_eq!(expands(text), fs_parsers::would_expand(text), "{text:?}");
        }
    }
}
