//! `unknown-option` and `short-time`: what a literal option map (or a literal time argument)
//! says, checked before the verb runs.
//!
//! Keys are checked against the lists the verbs themselves use (see `flow::verbs`). A time is
//! reported when it is below what anyone could mean for that option: rivr's times are
//! milliseconds, and a number of seconds written by habit is a few milliseconds.

use rhai::{Expr, Stmt};

use super::{Finding, Rule};
use crate::flow::syntax::{self, Child, Parsed};
use crate::flow::verbs::{self, Callee, Verb};

pub(super) fn check(parsed: &Parsed, findings: &mut Vec<Finding>) {
    let bodies = std::iter::once(&parsed.body).chain(parsed.functions.iter().map(|f| &f.body));
    for body in bodies {
        for stmt in body {
            syntax::visit_stmt(stmt, &mut |child| {
                let call = match child {
                    Child::Stmt(Stmt::FnCall(call, _)) => call,
                    Child::Expr(Expr::FnCall(call, _)) => call,
                    _ => return,
                };
                if let Callee::Verb(verb, name) = verbs::callee(parsed, call) {
                    check_call(verb, &name, &call.args, findings);
                }
            });
        }
    }
}

fn check_call(verb: &Verb, name: &str, args: &[Expr], findings: &mut Vec<Finding>) {
    if let Some((index, minimum)) = verb.time_argument {
        if let Some(arg) = args.get(index) {
            short_time(&format!("{name}'s time"), arg, minimum, findings);
        }
    }
    let Some((index, _)) = verb.options else { return };
    let Some(entries) = args.get(index).and_then(syntax::map_entries) else { return };
    let keys = verb.option_keys().unwrap_or_default();
    for (key, pos, value) in entries {
        if !keys.iter().any(|k| k == key) {
            let known: Vec<&str> = keys.iter().map(String::as_str).collect();
            let hint = crate::script::api::options::suggestion(key, &known)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            findings.push(Finding::new(
                Rule::UnknownOption,
                syntax::place(pos),
                format!("{name} has no option `{key}`{hint} (it is an error when the {name} runs)"),
                format!("use one of {name}'s options: {}", keys.join(", ")),
            ));
        }
        if let Some((_, minimum)) = verb.time_options.iter().find(|(k, _)| *k == key) {
            short_time(&format!("{name} option `{key}`"), value, *minimum, findings);
        }
    }
}

/// A literal time below `minimum` milliseconds (zero is left alone: it is how some options say
/// "none").
fn short_time(what: &str, value: &Expr, minimum: i64, findings: &mut Vec<Finding>) {
    let Some(ms) = syntax::integer(value) else { return };
    if ms <= 0 || ms >= minimum {
        return;
    }
    // Seconds written by habit: up to ten minutes' worth makes sense as seconds.
    let (message, fix) = if ms <= 600 {
        (
            format!("{what} is {ms} ms: rivr's times are milliseconds; did you mean {} ({ms} s)?", ms * 1000),
            format!("write it in milliseconds: {}", ms * 1000),
        )
    } else {
        (
            format!("{what} is {ms} ms, less than the {minimum} ms anyone could mean"),
            "write the time in milliseconds".to_string(),
        )
    };
    findings.push(Finding::new(Rule::ShortTime, syntax::place(value.start_position()), message, fix));
}

#[cfg(test)]
mod tests {
    use crate::flow::lint::tests::warnings;

    fn only(rule: &str, text: &str) -> Vec<String> {
        warnings(text).into_iter().filter(|w| w.ends_with(rule)).collect()
    }

    #[test]
    fn a_timeout_in_seconds_is_a_short_time() {
        assert_eq!(only("short-time", "let r = dial(\"user/1\", #{timeout: 10});"), ["1:35 short-time"]);
        assert_eq!(only("short-time", "sleep(2);"), ["1:7 short-time"]);
        assert_eq!(
            only("short-time", "let r = ask(\"p\", #{timeout: 5, inter_digit_timeout: 3});"),
            ["1:29 short-time", "1:53 short-time"]
        );
    }

    #[test]
    fn milliseconds_computed_from_literals_and_zero_are_fine() {
        assert!(only("short-time", "let r = dial(\"user/1\", #{timeout: 20 * 1000});").is_empty());
        assert!(only("short-time", "let r = record(#{silence_timeout: 0, max_duration: 120000});").is_empty());
        assert!(only("short-time", "let t = 5;\nsleep(t);").is_empty());
    }

    #[test]
    fn menu_and_collect_times_are_checked_too() {
        let text = "import \"rivr/collect\" as collect;\nlet d = collect::digits(\"p\", #{timeout: 4});";
        assert_eq!(only("short-time", text), ["2:41 short-time"]);
        assert_eq!(
            only("short-time", "menu(\"p\", #{\"1\": || 1}, #{inter_digit_timeout: 2});"),
            ["1:48 short-time"]
        );
    }

    #[test]
    fn an_option_the_verb_does_not_take_is_reported_with_a_suggestion() {
        assert_eq!(only("unknown-option", "let r = ask(\"p\", #{timout: 5000});"), ["1:20 unknown-option"]);
        assert_eq!(only("unknown-option", "say(\"x\", #{voice: \"a\", speed: 2});"), ["1:24 unknown-option"]);
        assert_eq!(
            only("unknown-option", "menu(\"p\", #{\"1\": || 1}, #{on_fail: || 1});"),
            ["1:27 unknown-option"]
        );
    }

    #[test]
    fn known_options_and_maps_built_at_run_time_are_fine() {
        assert!(only(
            "unknown-option",
            "let r = ask(\"p\", #{max_digits: 4, timeout: 5000, invalid: \"x\"});"
        )
        .is_empty());
        assert!(only("unknown-option", "let o = #{timout: 1};\nlet r = ask(\"p\", o);").is_empty());
    }
}
