//! FreeSWITCH's argument parsers, transcribed from its source, as a test oracle: the mapping's
//! escaping is checked against them (`src/switch/freeswitch/escape.rs` includes this file in its
//! unit tests) and the fake FreeSWITCH reads rivr's arguments with them.
//!
//! - [`separate`]: `switch_separate_string` with `cleanup_separated_string` (`switch_utils.c`);
//! - [`expand`]: the core's variable expansion of an application argument
//!   (`switch_channel_expand_variables_check`, `switch_channel.c`).
#![allow(dead_code)]

/// `switch_separate_string(_, ' ', ..)`: an argument's blank-separated words.
pub fn words(input: &str) -> Vec<String> {
    separate(input, None, 64)
}

/// `switch_separate_string(input, delim, .., max)` with `cleanup_separated_string`: `delim: None`
/// is the blank-separated mode (runs of blanks are one separator, `'` quotes apply always).
pub fn separate(input: &str, delim: Option<char>, max: usize) -> Vec<String> {
    let chars: Vec<char> = input.chars().collect();
    let mut cut = vec![false; chars.len()];
    let mut starts = Vec::new();
    let mut ptr = 0;
    let mut quoted = false;
    #[derive(PartialEq)]
    enum State {
        Start,
        SkipInitial,
        Find,
        SkipEnding,
    }
    let mut state = State::Start;
    while ptr < chars.len() && starts.len() < max {
        let c = chars[ptr];
        match state {
            State::Start => {
                starts.push(ptr);
                state = if delim.is_none() { State::SkipInitial } else { State::Find };
            }
            State::SkipInitial => {
                if c == ' ' {
                    ptr += 1;
                } else {
                    state = State::Find;
                }
            }
            State::Find => {
                if c == '\\' {
                    ptr += 1;
                } else if c == '\'' {
                    if delim.is_none() || quoted || chars[ptr + 1..].contains(&'\'') {
                        quoted = !quoted;
                    }
                } else if c == delim.unwrap_or(' ') && !quoted {
                    cut[ptr] = true;
                    state = if delim.is_none() { State::SkipEnding } else { State::Start };
                }
                ptr += 1;
            }
            State::SkipEnding => {
                if c == ' ' {
                    ptr += 1;
                } else {
                    state = State::Start;
                }
            }
        }
    }
    starts
        .iter()
        .map(|&start| {
            let end = (start..chars.len()).find(|&i| cut[i]).unwrap_or(chars.len());
            cleanup(&chars[start..end], delim)
        })
        .collect()
}

fn cleanup(chars: &[char], delim: Option<char>) -> String {
    let mut i = 0;
    while i < chars.len() && chars[i] == ' ' {
        i += 1;
    }
    let mut out = String::new();
    let mut end = 0;
    let mut quoted = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let e = chars[i + 1];
            let unescaped = match e {
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                's' => Some(' '),
                '\'' | '"' | '\\' => Some(e),
                e if Some(e) == delim => Some(e),
                _ => None,
            };
            if let Some(u) = unescaped {
                out.push(u);
                end = out.len();
                i += 2;
                continue;
            }
        }
        if c == '\'' && (quoted || chars[i + 1..].contains(&'\'')) {
            quoted = !quoted;
            if quoted {
                end = out.len();
            }
        } else {
            out.push(c);
            if c != ' ' || quoted {
                end = out.len();
            }
        }
        i += 1;
    }
    out.truncate(end);
    out
}

/// `switch_channel_expand_variables_check` for text without real variables: a `${...}` stands
/// for itself, escapes are undone exactly when the core would expand the text at all.
pub fn expand(text: &str) -> String {
    if !would_expand(text) {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            match chars[i + 1] {
                '$' => {
                    out.push('$');
                    i += if chars.get(i + 2) == Some(&'$') { 3 } else { 2 };
                    continue;
                }
                '\'' => {
                    i += 2;
                    continue;
                }
                '\\' => {
                    out.push('\\');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        if c == '$' && chars.get(i + 1) == Some(&'{') {
            // A real variable: stands for itself here.
            let close = chars[i..].iter().position(|&c| c == '}').map_or(chars.len(), |p| i + p + 1);
            out.extend(&chars[i..close]);
            i = close;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Whether the core runs `text` through variable expansion at all
/// (`switch_string_var_check_const` or `switch_string_has_escaped_data`).
pub fn would_expand(text: &str) -> bool {
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
