//! `unreachable-code`: code that can never run.
//!
//! - After `pass()`, `return`, `throw`, `break`, `continue`, an endless `loop` without `break`, or
//!   a branch whose every way ends so: nothing runs.
//! - After `hangup()`, `reject()` or `transfer()` the call is over: the script may still do work
//!   that needs no call (`log`, `set_var`, `http_post`), but the first verb that needs the call
//!   stops it. That verb is reported, not the work before it.
//! - In `on_hangup` the call has ended: a verb that needs it fails there.
//!
//! A call of the script's own function counts as what the function always does (a helper that
//! always ends with `transfer` ends the call where it is called). Only the first statement that
//! never runs in a block is reported.

use std::collections::HashMap;

use rhai::{ASTFlags, Expr, FnCallExpr, Position, Stmt};

use super::{Finding, Rule};
use crate::flow::syntax::{self, Child, Parsed};
use crate::flow::verbs::{self, Callee, Effect};

pub(super) fn check(parsed: &Parsed, findings: &mut Vec<Finding>) {
    let mut checker = Checker { parsed, findings, summaries: HashMap::new() };
    checker.block(&parsed.body, State::Live, true);
    for function in &parsed.functions {
        let start = if function.name == "on_hangup" && function.params.is_empty() {
            State::Ended { by: OnHangup, line: 0 }
        } else {
            State::Live
        };
        checker.block(&function.body, start, true);
    }
}

/// How a statement leaves the flow.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// The flow goes on.
    Live,
    /// The call has ended: only work that needs no call runs.
    Ended { by: Ended, line: usize },
    /// Nothing after it runs: `by` (as written) on `line` does `why`. `leaves`: the script
    /// never comes back (a `pass`).
    Stopped { by: String, why: &'static str, line: usize, leaves: bool },
}

/// What ended the call.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ended {
    /// A verb or function, as written (`hangup()`, `to_agent()`).
    By(String),
    /// Every branch of a statement ended it.
    Branches,
    /// The function is `on_hangup`.
    OnHangup,
}

use Ended::OnHangup;

struct Checker<'p, 'f> {
    parsed: &'p Parsed,
    findings: &'f mut Vec<Finding>,
    /// What each script function always does to its caller's flow (`None` while one is being
    /// worked out, so recursion counts as going on).
    summaries: HashMap<String, Option<State>>,
}

impl Checker<'_, '_> {
    fn block(&mut self, stmts: &[Stmt], start: State, report: bool) -> State {
        let mut state = start;
        for stmt in stmts {
            match &state {
                State::Live => state = self.stmt(stmt, report),
                State::Stopped { by, why, line, .. } => {
                    if report {
                        self.findings.push(Finding::new(
                            Rule::UnreachableCode,
                            syntax::place(stmt.position()),
                            format!("this code never runs: {by} on line {line} {why}"),
                            format!("remove it, or move what it does before line {line}"),
                        ));
                    }
                    return state;
                }
                State::Ended { by, line } => {
                    if let Some((verb, pos)) = self.first_media_verb(stmt) {
                        if report {
                            self.findings.push(ended_finding(&verb, pos, by, *line));
                        }
                        return state;
                    }
                    if let stopped @ State::Stopped { .. } = self.stmt(stmt, report) {
                        state = stopped;
                    }
                }
            }
        }
        state
    }

    fn stmt(&mut self, stmt: &Stmt, report: bool) -> State {
        let line = syntax::place(stmt.position()).0;
        match stmt {
            Stmt::If(flow, _) => {
                let body = self.block(flow.body.statements(), State::Live, report);
                let branch = self.block(flow.branch.statements(), State::Live, report);
                join(&[body, branch], line)
            }
            Stmt::Switch(parts, _) => {
                let states: Vec<State> =
                    parts.1.expressions.iter().map(|case| self.expr(&case.rhs, report)).collect();
                if parts.1.def_case.is_some() {
                    join(&states, line)
                } else {
                    State::Live
                }
            }
            Stmt::While(flow, _) => {
                self.block(flow.body.statements(), State::Live, report);
                let endless = matches!(flow.expr, Expr::Unit(_)) && !breaks_out(flow.body.statements());
                if endless {
                    State::Stopped { by: "the `loop`".into(), why: "has no `break`", line, leaves: false }
                } else {
                    State::Live
                }
            }
            Stmt::Do(flow, _, _) => {
                self.block(flow.body.statements(), State::Live, report);
                State::Live
            }
            Stmt::For(parts, _) => {
                self.block(parts.2.body.statements(), State::Live, report);
                State::Live
            }
            Stmt::Block(block) => self.block(block.statements(), State::Live, report),
            Stmt::TryCatch(flow, _) => {
                let body = self.block(flow.body.statements(), State::Live, report);
                let caught = self.block(flow.branch.statements(), State::Live, report);
                join(&[body, caught], line)
            }
            Stmt::Return(_, flags, _) => {
                let (by, why) = if flags.contains(ASTFlags::BREAK) {
                    ("`throw`", "raises an error")
                } else {
                    ("`return`", "leaves")
                };
                State::Stopped { by: by.into(), why, line, leaves: false }
            }
            Stmt::BreakLoop(_, flags, _) => {
                let (by, why) = if flags.contains(ASTFlags::BREAK) {
                    ("`break`", "leaves the loop")
                } else {
                    ("`continue`", "starts the next round")
                };
                State::Stopped { by: by.into(), why, line, leaves: false }
            }
            Stmt::Expr(expr) => self.expr(expr, report),
            Stmt::FnCall(..) => self.call_statement(stmt),
            _ => State::Live,
        }
    }

    fn expr(&mut self, expr: &Expr, report: bool) -> State {
        match expr {
            Expr::Stmt(block) => self.block(block.statements(), State::Live, report),
            Expr::FnCall(call, pos) => self.call(call, *pos),
            _ => State::Live,
        }
    }

    /// What a call written as a statement does to the flow.
    fn call_statement(&mut self, stmt: &Stmt) -> State {
        match syntax::call_statement(stmt) {
            Some((call, pos)) => self.call(call, pos),
            None => State::Live,
        }
    }

    fn call(&mut self, call: &FnCallExpr, pos: Position) -> State {
        let line = syntax::place(pos).0;
        match verbs::callee(self.parsed, call) {
            Callee::Verb(verb, name) => match verb.effect {
                Effect::Leaves => State::Stopped {
                    by: format!("`{name}()`"),
                    why: "hands the call to another script",
                    line,
                    leaves: true,
                },
                Effect::EndsCall => State::Ended { by: Ended::By(format!("{name}()")), line },
                _ => State::Live,
            },
            Callee::Function(function) => {
                let name = function.name.clone();
                match self.summary(&name) {
                    State::Stopped { leaves: true, .. } => State::Stopped {
                        by: format!("`{name}()`"),
                        why: "always hands the call to another script",
                        line,
                        leaves: true,
                    },
                    State::Ended { .. } => {
                        State::Ended { by: Ended::By(format!("{name}() (which always ends it)")), line }
                    }
                    _ => State::Live,
                }
            }
            _ => State::Live,
        }
    }

    /// What calling the script function `name` always does to its caller's flow.
    fn summary(&mut self, name: &str) -> State {
        match self.summaries.get(name) {
            Some(Some(state)) => return state.clone(),
            Some(None) => return State::Live,
            None => {}
        }
        self.summaries.insert(name.to_string(), None);
        let parsed = self.parsed;
        let state = match parsed.functions.iter().find(|f| f.name == name) {
            Some(function) => match self.block(&function.body, State::Live, false) {
                // `return` and `throw` go back to the caller.
                State::Stopped { leaves: false, .. } => State::Live,
                state => state,
            },
            None => State::Live,
        };
        self.summaries.insert(name.to_string(), Some(state.clone()));
        state
    }

    /// The first verb in `stmt` that needs the call.
    fn first_media_verb(&self, stmt: &Stmt) -> Option<(String, Position)> {
        let mut found = None;
        syntax::visit_stmt(stmt, &mut |child| {
            if found.is_some() {
                return;
            }
            let (call, pos) = match child {
                Child::Stmt(Stmt::FnCall(call, pos)) => (call, *pos),
                Child::Expr(Expr::FnCall(call, pos)) => (call, *pos),
                _ => return,
            };
            if let Callee::Verb(verb, name) = verbs::callee(self.parsed, call) {
                if verb.effect == Effect::Media {
                    found = Some((name, syntax::call_position(call, pos)));
                }
            }
        });
        found
    }
}

fn ended_finding(verb: &str, pos: Position, by: &Ended, line: usize) -> Finding {
    let place = syntax::place(pos);
    match by {
        OnHangup => Finding::new(
            Rule::UnreachableCode,
            place,
            format!(
                "{verb} can't run in on_hangup: the call has ended when it runs (only get_var, set_var, \
                 http_get, http_post and log work there)"
            ),
            format!("do the {verb} in the flow, before the call ends"),
        ),
        Ended::By(what) => Finding::new(
            Rule::UnreachableCode,
            place,
            format!(
                "{verb} never runs: the call ended at {what} on line {line}, and the first verb that needs \
                 the call stops the script"
            ),
            format!("move it before line {line}, or remove it"),
        ),
        Ended::Branches => Finding::new(
            Rule::UnreachableCode,
            place,
            format!(
                "{verb} never runs: every branch of the statement on line {line} ends the call, and the \
                 first verb that needs the call stops the script"
            ),
            format!("move it before line {line}, or remove it"),
        ),
    }
}

/// Where branches meet: stopped if every branch stops, ended if every branch ends the call or
/// stops.
fn join(states: &[State], line: usize) -> State {
    if states.iter().all(|s| matches!(s, State::Stopped { .. })) {
        if let [only] = states {
            return only.clone();
        }
        let leaves = states.iter().all(|s| matches!(s, State::Stopped { leaves: true, .. }));
        return State::Stopped { by: "the statement".into(), why: "ends in every branch", line, leaves };
    }
    if states.iter().all(|s| !matches!(s, State::Live)) {
        if let [only] = states {
            return only.clone();
        }
        return State::Ended { by: Ended::Branches, line };
    }
    State::Live
}

/// Whether a loop body has a `break` of its own (not one of a loop inside it).
fn breaks_out(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|stmt| match stmt {
        Stmt::BreakLoop(_, flags, _) => flags.contains(ASTFlags::BREAK),
        Stmt::While(..) | Stmt::Do(..) | Stmt::For(..) => false,
        Stmt::If(flow, _) | Stmt::TryCatch(flow, _) => {
            breaks_out(flow.body.statements()) || breaks_out(flow.branch.statements())
        }
        Stmt::Block(block) => breaks_out(block.statements()),
        Stmt::Switch(parts, _) => parts.1.expressions.iter().any(|case| match &case.rhs {
            Expr::Stmt(block) => breaks_out(block.statements()),
            _ => false,
        }),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use crate::flow::lint::tests::warnings;

    fn unreachable(text: &str) -> Vec<String> {
        warnings(text).into_iter().filter(|w| w.ends_with("unreachable-code")).collect()
    }

    #[test]
    fn code_after_pass_never_runs() {
        assert_eq!(unreachable("pass(\"a.rhai\");\nlog(\"x\");\nsay(\"y\");"), ["2:1 unreachable-code"]);
    }

    #[test]
    fn work_after_hangup_runs_but_a_verb_that_needs_the_call_does_not() {
        assert_eq!(
            unreachable("say(\"Bye\");\nhangup();\nlog(\"done\");\nset_var(\"a\", \"b\");\nplay(\"x.wav\");"),
            ["5:1 unreachable-code"]
        );
        assert!(unreachable("say(\"Bye\");\nhangup();\nlog(\"done\");\nreturn;").is_empty());
    }

    #[test]
    fn a_verb_after_transfer_never_runs() {
        assert_eq!(unreachable("transfer(\"1000\");\nif true { say(\"x\"); }"), ["2:11 unreachable-code"]);
    }

    #[test]
    fn code_after_a_branch_that_always_ends_never_runs() {
        let text = "let x = 1;\nif x > 0 { hangup(); } else { transfer(\"op\"); }\nsay(\"never\");";
        assert_eq!(unreachable(text), ["3:1 unreachable-code"]);
        let text = "let x = 1;\nif x > 0 { hangup(); }\nsay(\"maybe\");";
        assert!(unreachable(text).is_empty());
    }

    #[test]
    fn a_function_that_always_ends_the_call_ends_it_where_it_is_called() {
        let text = "to_agent();\nsay(\"x\");\nfn to_agent() { say(\"Hold on\"); transfer(\"op\"); }";
        assert_eq!(unreachable(text), ["2:1 unreachable-code"]);
    }

    #[test]
    fn code_after_return_break_and_an_endless_loop_never_runs() {
        assert_eq!(unreachable("fn f() { return 1; say(\"x\"); }"), ["1:20 unreachable-code"]);
        assert_eq!(unreachable("for i in 1..3 { break; say(\"x\"); }"), ["1:24 unreachable-code"]);
        assert_eq!(unreachable("loop { say(\"a\"); }\nsay(\"b\");"), ["2:1 unreachable-code"]);
        assert!(unreachable("loop { let r = ask(\"a\"); if r.status == \"match\" { break; } }\nsay(\"b\");")
            .is_empty());
    }

    #[test]
    fn a_media_verb_in_on_hangup_is_reported_but_http_is_not() {
        let text = "fn on_hangup() {\n  http_post(\"https://x/\", #{});\n  say(\"bye\");\n}";
        assert_eq!(unreachable(text), ["3:3 unreachable-code"]);
    }
}
