//! The flow lint: mistakes in a call flow that compile and run but hurt callers, found from the
//! scripts' syntax without running them. Part of `rivr check` (see [`crate::check`]).
//!
//! Each rule has a name, and each warning says where (`file:line:col`), what is wrong and how to
//! fix it. A comment silences a rule on its line or on the line below the comment:
//!
//! ```rhai
//! ask("say:Press any key to continue."); // rivr: allow(unchecked-ask)
//!
//! // rivr: allow(short-time, unknown-option)
//! sleep(50);
//! ```
//!
//! The rules are [`Rule`]'s variants; each is one module here.

mod options;
mod outcomes;
mod prompts;
mod reach;
mod scripts;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::syntax::Parsed;

/// A lint rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// An `ask`, `menu` or `collect` whose result is never looked at: a caller who pressed
    /// nothing or a wrong key goes on as if they had answered.
    UncheckedAsk,
    /// The result of an `ask`, `menu` or `collect` is checked, but not for `noinput` or
    /// `nomatch`, which then go the way of a match.
    UnhandledAskOutcome,
    /// A `dial` whose status is never looked at: busy, unanswered and failed dials go on as if
    /// someone had answered.
    UncheckedDial,
    /// Code that never runs: anything after `pass()`, `return`, `throw`, `break` or `continue`;
    /// a verb that needs the call after `hangup()`, `reject()` or `transfer()`, or in
    /// `on_hangup`.
    UnreachableCode,
    /// `pass` or `invoke` of a script that is not in the scripts directory.
    MissingScript,
    /// Scripts that `pass` the call round in a circle (`a.rhai` → `b.rhai` → `a.rhai`).
    PassCycle,
    /// A time shorter than a verb can plausibly mean: rivr's times are milliseconds, so
    /// `dial(t, #{timeout: 10})` rings for 10 ms.
    ShortTime,
    /// A prompt file that is not in the sound directory (`sounds.prefix`, with `rivr check -c`).
    MissingPrompt,
    /// An option-map key the verb does not take (an error when the verb runs).
    UnknownOption,
    /// An allow comment naming no rule.
    UnknownRule,
}

impl Rule {
    /// Every rule, in the order the README lists them.
    pub const ALL: [Rule; 10] = [
        Rule::UncheckedAsk,
        Rule::UnhandledAskOutcome,
        Rule::UncheckedDial,
        Rule::UnreachableCode,
        Rule::MissingScript,
        Rule::PassCycle,
        Rule::ShortTime,
        Rule::MissingPrompt,
        Rule::UnknownOption,
        Rule::UnknownRule,
    ];

    /// The rule's name, as warnings and allow comments write it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::UncheckedAsk => "unchecked-ask",
            Rule::UnhandledAskOutcome => "unhandled-ask-outcome",
            Rule::UncheckedDial => "unchecked-dial",
            Rule::UnreachableCode => "unreachable-code",
            Rule::MissingScript => "missing-script",
            Rule::PassCycle => "pass-cycle",
            Rule::ShortTime => "short-time",
            Rule::MissingPrompt => "missing-prompt",
            Rule::UnknownOption => "unknown-option",
            Rule::UnknownRule => "unknown-rule",
        }
    }

    /// The rule named `name`.
    pub fn named(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.name() == name)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub rule: Rule,
    /// The file, as the user named it (`scripts/main.rhai`).
    pub file: String,
    /// 1-based line and column; 0 when unknown.
    pub line: usize,
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}", self.file)?,
            (line, 0) => write!(f, "{}:{line}", self.file)?,
            (line, column) => write!(f, "{}:{line}:{column}", self.file)?,
        }
        write!(f, ": warning[{}]: {}\n    fix: {}", self.rule, self.message, self.fix)
    }
}

/// What the lint may look at beyond the scripts.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The sound directory prompt files are looked up in (`sounds.prefix`); `None` skips
    /// `missing-prompt`.
    pub sounds: Option<PathBuf>,
}

/// A script to lint: its text parsed, and its path as the user named it.
pub struct Source {
    pub path: String,
    pub parsed: Parsed,
}

/// A warning found by a rule, before its file is known and allow comments apply.
pub(crate) struct Finding {
    pub rule: Rule,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub fix: String,
}

impl Finding {
    pub(crate) fn new(rule: Rule, (line, column): (usize, usize), message: String, fix: String) -> Finding {
        Finding { rule, line, column, message, fix }
    }
}

/// Lint `sources`, scripts of the scripts directory `root`; warnings in file order, each file's by
/// position. Scripts outside `sources` are read from `root` where a rule needs them (the
/// scripts a `pass` reaches, for cycles).
pub fn lint(sources: &[Source], root: &Path, settings: &Settings) -> Vec<Warning> {
    let mut by_file: Vec<Vec<Finding>> = sources
        .iter()
        .map(|source| {
            let parsed = &source.parsed;
            let mut findings = Vec::new();
            outcomes::check(parsed, &mut findings);
            reach::check(parsed, &mut findings);
            options::check(parsed, &mut findings);
            scripts::check_missing(parsed, root, &mut findings);
            if let Some(sounds) = &settings.sounds {
                prompts::check(parsed, sounds, &mut findings);
            }
            findings
        })
        .collect();
    for (index, finding) in scripts::check_cycles(sources, root) {
        by_file[index].push(finding);
    }
    let mut warnings = Vec::new();
    for (source, mut findings) in sources.iter().zip(by_file) {
        let allowed = allow_comments(&source.parsed.text);
        for (line, names) in &allowed {
            for (name, column) in names {
                if Rule::named(name).is_none() {
                    findings.push(Finding::new(
                        Rule::UnknownRule,
                        (*line, *column),
                        format!("`{name}` is not a lint rule, so this comment silences nothing"),
                        format!("use one of: {}", Rule::ALL.map(Rule::name).join(", ")),
                    ));
                }
            }
        }
        findings.sort_by_key(|f| (f.line, f.column, f.rule));
        findings.dedup_by(|a, b| (a.line, a.column, a.rule) == (b.line, b.column, b.rule));
        for finding in findings {
            if is_allowed(&allowed, &source.parsed, finding.rule, finding.line) {
                continue;
            }
            warnings.push(Warning {
                rule: finding.rule,
                file: source.path.clone(),
                line: finding.line,
                column: finding.column,
                message: finding.message,
                fix: finding.fix,
            });
        }
    }
    warnings
}

/// The rule names of each line's `// rivr: allow(a, b)` comment, with their columns.
fn allow_comments(text: &str) -> HashMap<usize, Vec<(String, usize)>> {
    const MARK: &str = "rivr: allow(";
    let mut allowed = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let Some(comment) = line.find("//") else { continue };
        let Some(at) = line[comment..].find(MARK).map(|at| comment + at + MARK.len()) else { continue };
        let Some(end) = line[at..].find(')') else { continue };
        let mut names = Vec::new();
        let mut offset = at;
        for name in line[at..at + end].split(',') {
            let trimmed = name.trim();
            if !trimmed.is_empty() {
                let column = line[..offset + name.find(trimmed).unwrap_or(0)].chars().count() + 1;
                names.push((trimmed.to_string(), column));
            }
            offset += name.len() + 1;
        }
        allowed.insert(index + 1, names);
    }
    allowed
}

/// Whether `rule` is silenced at `line`: by an allow comment on that line, or on the line above
/// when that line is only a comment.
fn is_allowed(
    allowed: &HashMap<usize, Vec<(String, usize)>>,
    parsed: &Parsed,
    rule: Rule,
    line: usize,
) -> bool {
    let names = |line: usize| allowed.get(&line).into_iter().flatten().any(|(name, _)| name == rule.name());
    names(line) || (line > 1 && parsed.line_text(line - 1).trim_start().starts_with("//") && names(line - 1))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::flow::syntax::parse;

    /// The warnings of one script `t.rhai` in an empty scripts directory, as `line:col rule`.
    pub(crate) fn warnings(text: &str) -> Vec<String> {
        warnings_with(text, &Settings::default())
    }

    pub(crate) fn warnings_with(text: &str, settings: &Settings) -> Vec<String> {
        let parsed = parse("t.rhai", text).unwrap_or_else(|e| panic!("{e}"));
        let source = Source { path: "t.rhai".into(), parsed };
        lint(&[source], Path::new("/nonexistent-rivr-scripts"), settings)
            .into_iter()
            .map(|w| format!("{}:{} {}", w.line, w.column, w.rule))
            .collect()
    }

    #[test]
    fn an_allow_comment_silences_its_rule_on_its_line_and_the_line_below() {
        assert_eq!(warnings("ask(\"x\");"), ["1:1 unchecked-ask"]);
        assert!(warnings("ask(\"x\"); // rivr: allow(unchecked-ask)").is_empty());
        assert!(warnings("// rivr: allow(short-time, unchecked-ask)\nask(\"x\");").is_empty());
        // Another rule's allow does not silence it, nor does one two lines up.
        assert_eq!(warnings("ask(\"x\"); // rivr: allow(short-time)"), ["1:1 unchecked-ask"]);
        assert_eq!(warnings("// rivr: allow(unchecked-ask)\n\nask(\"x\");"), ["3:1 unchecked-ask"]);
    }

    #[test]
    fn an_allow_comment_naming_no_rule_is_a_warning_itself() {
        assert_eq!(
            warnings("let r = ask(\"x\"); // rivr: allow(unchecked-asks)\nif r.status == \"match\" {}"),
            ["1:34 unknown-rule"]
        );
    }

    #[test]
    fn a_warning_shows_its_place_rule_message_and_fix() {
        let parsed = parse("t.rhai", "dial(\"user/1\");").expect("parses");
        let warnings =
            lint(&[Source { path: "s/t.rhai".into(), parsed }], Path::new("s"), &Settings::default());
        let text = warnings[0].to_string();
        assert!(text.starts_with("s/t.rhai:1:1: warning[unchecked-dial]: "), "{text}");
        assert!(text.contains("\n    fix: "), "{text}");
    }

    #[test]
    fn every_rule_has_a_distinct_name() {
        for rule in Rule::ALL {
            assert_eq!(Rule::named(rule.name()), Some(rule));
        }
    }
}
