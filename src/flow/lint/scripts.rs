//! `missing-script` and `pass-cycle`: what `pass` and `invoke` reach across scripts.
//!
//! Only script names written as literals are followed; a computed name is left to run time. A
//! cycle is reported once, at the `pass` that starts it in the first of its scripts (by name)
//! that is being checked, with the whole circle in the message.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use rhai::{Expr, Position, Stmt};

use super::{Finding, Rule, Source};
use crate::flow::graph::script_exists;
use crate::flow::syntax::{self, Child, Parsed};
use crate::flow::verbs::{self, Callee};

/// A `pass` or `invoke` of a script named by a literal.
struct HandOff {
    verb: &'static str,
    target: String,
    pos: Position,
}

fn hand_offs(parsed: &Parsed) -> Vec<HandOff> {
    let mut found = Vec::new();
    let bodies = std::iter::once(&parsed.body).chain(parsed.functions.iter().map(|f| &f.body));
    for body in bodies {
        for stmt in body {
            syntax::visit_stmt(stmt, &mut |child| {
                let (call, pos) = match child {
                    Child::Stmt(Stmt::FnCall(call, pos)) => (call, *pos),
                    Child::Expr(Expr::FnCall(call, pos)) => (call, *pos),
                    _ => return,
                };
                if let Callee::Verb(verb, _) = verbs::callee(parsed, call) {
                    if let ("pass" | "invoke", Some(target)) =
                        (verb.name, call.args.first().and_then(syntax::string))
                    {
                        found.push(HandOff { verb: verb.name, target: target.to_string(), pos });
                    }
                }
            });
        }
    }
    found.sort_by_key(|h| syntax::place(h.pos));
    found
}

pub(super) fn check_missing(parsed: &Parsed, root: &Path, findings: &mut Vec<Finding>) {
    for hand_off in hand_offs(parsed) {
        if script_exists(root, &hand_off.target) {
            continue;
        }
        let known = script_names(root);
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        let hint = crate::script::api::options::suggestion(&hand_off.target, &known)
            .map(|name| format!("; did you mean `{name}`?"))
            .unwrap_or_default();
        findings.push(Finding::new(
            Rule::MissingScript,
            syntax::place(hand_off.pos),
            format!(
                "{}(\"{}\"): there is no such script in the scripts directory ({}){hint}",
                hand_off.verb,
                hand_off.target,
                root.display()
            ),
            "create the script, or correct the name (relative to the scripts directory)".into(),
        ));
    }
}

/// The names of the scripts under `root`.
fn script_names(root: &Path) -> Vec<String> {
    crate::script::store::script_files(root)
        .iter()
        .map(|path| crate::script::store::script_name(root, path))
        .collect()
}

/// Pass cycles through any of `sources`: (index of the source to report in, finding).
pub(super) fn check_cycles(sources: &[Source], root: &Path) -> Vec<(usize, Finding)> {
    // The pass graph, reading scripts outside `sources` from `root` as the passes reach them.
    let mut passes: BTreeMap<String, Vec<(String, Position)>> = BTreeMap::new();
    let mut queue: VecDeque<String> = sources.iter().map(|s| key(&s.parsed.name)).collect();
    while let Some(name) = queue.pop_front() {
        if passes.contains_key(&name) {
            continue;
        }
        let own = sources.iter().find(|s| key(&s.parsed.name) == name).map(|s| &s.parsed);
        let read;
        let parsed = match own {
            Some(parsed) => Some(parsed),
            None => {
                read = std::fs::read_to_string(root.join(&name))
                    .ok()
                    .and_then(|text| syntax::parse(&name, &text).ok());
                read.as_ref()
            }
        };
        let targets: Vec<(String, Position)> = parsed
            .map(|parsed| {
                hand_offs(parsed)
                    .into_iter()
                    .filter(|h| h.verb == "pass" && script_exists(root, &h.target))
                    .map(|h| (key(&h.target), h.pos))
                    .collect()
            })
            .unwrap_or_default();
        queue.extend(targets.iter().map(|(target, _)| target.clone()));
        passes.insert(name, targets);
    }
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let mut findings = Vec::new();
    let mut checked: Vec<(usize, String)> =
        sources.iter().enumerate().map(|(index, s)| (index, key(&s.parsed.name))).collect();
    checked.sort_by(|a, b| a.1.cmp(&b.1));
    for (index, start) in checked {
        if reported.contains(&start) {
            continue;
        }
        let Some((cycle, pos)) = shortest_cycle(&passes, &start) else { continue };
        reported.extend(cycle.iter().cloned());
        let circle = cycle.iter().chain(std::iter::once(&start)).cloned().collect::<Vec<_>>().join(" → ");
        findings.push((
            index,
            Finding::new(
                Rule::PassCycle,
                syntax::place(pos),
                format!(
                    "pass cycle: {circle}; a call going round it is ended through the fallback after \
                     limits.max_passes hand-offs"
                ),
                "end the call in one of these scripts (hangup, transfer) on the way round, or use \
                 invoke to run a script and come back"
                    .into(),
            ),
        ));
    }
    findings
}

/// The shortest way from `start` back to itself through passes: the scripts on it (from
/// `start`), and the position of `start`'s pass that begins it.
fn shortest_cycle(
    passes: &BTreeMap<String, Vec<(String, Position)>>,
    start: &str,
) -> Option<(Vec<String>, Position)> {
    let mut previous: BTreeMap<String, String> = BTreeMap::new();
    let mut queue: VecDeque<String> = VecDeque::from([start.to_string()]);
    while let Some(name) = queue.pop_front() {
        for (target, _) in passes.get(&name).into_iter().flatten() {
            if target == start {
                let mut path = vec![name.clone()];
                while let Some(before) = previous.get(path.last()?) {
                    path.push(before.clone());
                }
                path.reverse();
                let next = path.get(1).map(String::as_str).unwrap_or(start);
                let pos = passes.get(start)?.iter().find(|(t, _)| t == next)?.1;
                return Some((path, pos));
            }
            if !previous.contains_key(target) && target != start {
                previous.insert(target.clone(), name.clone());
                queue.push_back(target.clone());
            }
        }
    }
    None
}

/// A script's name with `.rhai`, so that `pass("a")` and `pass("a.rhai")` meet.
fn key(name: &str) -> String {
    if name.ends_with(".rhai") {
        name.to_string()
    } else {
        format!("{name}.rhai")
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::flow::lint::{lint, Settings};
    use crate::flow::syntax::parse;

    fn lint_dir(files: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            fs::write(dir.path().join(name), text).expect("write");
        }
        let sources: Vec<Source> = files
            .iter()
            .map(|(name, text)| Source { path: name.to_string(), parsed: parse(name, text).expect("parses") })
            .collect();
        lint(&sources, dir.path(), &Settings::default())
            .into_iter()
            .filter(|w| w.rule == Rule::MissingScript || w.rule == Rule::PassCycle)
            .map(|w| format!("{}:{}:{} {} {}", w.file, w.line, w.column, w.rule, w.message))
            .collect()
    }

    #[test]
    fn a_pass_or_invoke_of_a_missing_script_is_reported_with_the_closest_name() {
        let found = lint_dir(&[
            ("main.rhai", "let v = invoke(\"check.rhai\");\npass(\"voicemale.rhai\");"),
            ("voicemail.rhai", "hangup();"),
            ("check.rhai", "true"),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("main.rhai:2:1 missing-script pass(\"voicemale.rhai\")"), "{found:?}");
        assert!(found[0].contains("did you mean `voicemail.rhai`?"), "{found:?}");
    }

    #[test]
    fn a_pass_cycle_is_reported_once_with_its_circle() {
        let found = lint_dir(&[
            ("a.rhai", "let r = ask(\"p\");\nif r.status == \"match\" { pass(\"b\"); }\nhangup();"),
            ("b.rhai", "pass(\"c.rhai\");"),
            ("c.rhai", "pass(\"a.rhai\");"),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("a.rhai:2:26 pass-cycle pass cycle: a.rhai → b.rhai → c.rhai → a.rhai"),
            "{found:?}"
        );
    }

    #[test]
    fn passes_that_end_somewhere_are_no_cycle() {
        let found =
            lint_dir(&[("a.rhai", "pass(\"b.rhai\");"), ("b.rhai", "invoke(\"a.rhai\");\nhangup();")]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_cycle_through_scripts_not_being_checked_is_found_from_the_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("a.rhai"), "pass(\"b.rhai\");").expect("write");
        fs::write(dir.path().join("b.rhai"), "pass(\"a.rhai\");").expect("write");
        let parsed = parse("a.rhai", "pass(\"b.rhai\");").expect("parses");
        let found = check_cycles(&[Source { path: "a.rhai".into(), parsed }], dir.path());
        assert_eq!(found.len(), 1);
        assert!(found[0].1.message.contains("a.rhai → b.rhai → a.rhai"), "{}", found[0].1.message);
    }
}
