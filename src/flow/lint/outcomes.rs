//! `unchecked-ask`, `unhandled-ask-outcome` and `unchecked-dial`: results of caller input and of
//! dials that the flow never looks at.
//!
//! A result is followed where it is written down: a call whose value is thrown away, and a
//! `let x = ask(…)` (or `x = ask(…)`) whose variable is then read. Whatever the analysis cannot
//! follow (the result passed to a function, returned, stored in a map, read in a way that is not
//! a comparison) counts as checked: a warning is only given when the script plainly ignores the
//! outcome.

use std::collections::BTreeSet;

use rhai::{Expr, FnCallExpr, Position, Stmt};

use super::{Finding, Rule};
use crate::flow::syntax::{self, Handler, Parsed};
use crate::flow::verbs::{self, Callee, Outcome, Verb};

pub(super) fn check(parsed: &Parsed, findings: &mut Vec<Finding>) {
    let mut checker = Checker { parsed, findings };
    checker.body(&parsed.body, false);
    for function in &parsed.functions {
        checker.body(&function.body, true);
    }
}

struct Checker<'p, 'f> {
    parsed: &'p Parsed,
    findings: &'f mut Vec<Finding>,
}

/// A verb call with a result to check.
struct Site<'p> {
    verb: &'static Verb,
    name: String,
    call: &'p FnCallExpr,
    pos: Position,
}

impl<'p> Checker<'p, '_> {
    /// A script's or function's body. A function's last statement is its value: what it does
    /// with a result is up to the caller.
    fn body(&mut self, stmts: &'p [Stmt], is_function: bool) {
        self.block(stmts, stmts, is_function);
    }

    /// A list of statements; `scope` is the whole body (where an assigned variable may be read),
    /// `tail` whether the last statement is the body's value.
    fn block(&mut self, stmts: &'p [Stmt], scope: &'p [Stmt], tail: bool) {
        for (index, stmt) in stmts.iter().enumerate() {
            let is_tail = tail && index + 1 == stmts.len();
            match stmt {
                Stmt::Var(var, _, _) => {
                    if let Some(site) = self.site(&var.1) {
                        self.variable(&site, &var.0.name, &stmts[index + 1..]);
                    }
                }
                Stmt::Assignment(assignment) => {
                    if let (Some(name), Some(site)) =
                        (syntax::variable(&assignment.1.lhs), self.site(&assignment.1.rhs))
                    {
                        self.variable(&site, name, scope);
                    }
                }
                _ => {
                    if let Some((call, pos)) = syntax::call_statement(stmt) {
                        if let Some(site) = self.site_of(call, pos) {
                            if !is_tail {
                                self.discarded(&site);
                            }
                        }
                    }
                }
            }
            self.nested(stmt, scope, is_tail);
        }
    }

    /// The statement lists inside `stmt`.
    fn nested(&mut self, stmt: &'p Stmt, scope: &'p [Stmt], tail: bool) {
        match stmt {
            Stmt::If(flow, _) => {
                self.block(flow.body.statements(), scope, tail);
                self.block(flow.branch.statements(), scope, tail);
            }
            Stmt::While(flow, _) | Stmt::Do(flow, _, _) => self.block(flow.body.statements(), scope, false),
            Stmt::For(parts, _) => self.block(parts.2.body.statements(), scope, false),
            Stmt::Block(block) => self.block(block.statements(), scope, tail),
            Stmt::TryCatch(flow, _) => {
                self.block(flow.body.statements(), scope, tail);
                self.block(flow.branch.statements(), scope, tail);
            }
            Stmt::Switch(parts, _) => {
                for case in &parts.1.expressions {
                    if let Expr::Stmt(block) = &case.rhs {
                        self.block(block.statements(), scope, true);
                    }
                }
            }
            _ => {
                // Blocks inside expressions (`let x = if c { … } else { … }`): their last
                // statement is the expression's value.
                syntax::for_each_stmt_child(stmt, &mut |child| {
                    if let syntax::Child::Expr(expr) = child {
                        self.expression_blocks(expr, scope);
                    }
                });
            }
        }
    }

    fn expression_blocks(&mut self, expr: &'p Expr, scope: &'p [Stmt]) {
        match expr {
            Expr::Stmt(block) => self.block(block.statements(), scope, true),
            _ => syntax::for_each_child(expr, &mut |child| match child {
                syntax::Child::Expr(inner) => self.expression_blocks(inner, scope),
                syntax::Child::Stmt(stmt) => self.nested(stmt, scope, true),
            }),
        }
    }

    fn site(&self, expr: &'p Expr) -> Option<Site<'p>> {
        let (call, pos) = syntax::call_of(expr)?;
        self.site_of(call, pos)
    }

    fn site_of(&self, call: &'p FnCallExpr, pos: Position) -> Option<Site<'p>> {
        match verbs::callee(self.parsed, call) {
            Callee::Verb(verb, name) if verb.outcome != Outcome::None => {
                Some(Site { verb, name, call, pos: syntax::call_position(call, pos) })
            }
            _ => None,
        }
    }

    /// A result thrown away.
    fn discarded(&mut self, site: &Site) {
        if site.verb.name == "menu" && self.menu_handles_failure(site) {
            return;
        }
        self.unchecked(site);
    }

    fn unchecked(&mut self, site: &Site) {
        let name = &site.name;
        let (rule, message, fix) = match site.verb.outcome {
            Outcome::Dial => (
                Rule::UncheckedDial,
                format!(
                    "the status of this {name} is never checked: a busy, unanswered or failed dial goes on \
                     as if someone had answered"
                ),
                format!("let result = {name}(…); if result.status != \"answered\" {{ … }}"),
            ),
            _ if site.verb.name == "menu" => (
                Rule::UncheckedAsk,
                format!(
                    "the result of this {name} is never checked: when every try fails (no key, or no \
                     valid key), the flow goes on as if a choice had been made"
                ),
                format!(
                    "give it `on_failure: || …` in its options, or `let choice = {name}(…); if \
                     choice.status != \"match\" {{ … }}`"
                ),
            ),
            _ => (
                Rule::UncheckedAsk,
                format!(
                    "the result of this {name} is never checked: a caller who presses nothing or a \
                     wrong key goes on as if they had answered"
                ),
                format!(
                    "let answer = {name}(…); if answer.status != \"match\" {{ … }} (status is \"match\", \
                     \"nomatch\" or \"noinput\")"
                ),
            ),
        };
        self.findings.push(Finding::new(rule, syntax::place(site.pos), message, fix));
    }

    /// A result kept in `name`, read (or not) in `scope`.
    fn variable(&mut self, site: &Site, name: &str, scope: &'p [Stmt]) {
        let mut reads = Reads { parsed: Some(self.parsed), ..Reads::default() };
        for stmt in scope {
            reads.stmt(stmt, name);
        }
        if reads.escapes || reads.status_unknown {
            return;
        }
        let menu_handled = site.verb.name == "menu" && self.menu_handles_failure(site);
        if reads.compared.is_empty() && !reads.field_tested && !reads.switched {
            if !menu_handled {
                self.unchecked(site);
            }
            return;
        }
        if site.verb.outcome != Outcome::Input || menu_handled || reads.field_tested {
            return;
        }
        if reads.compared.contains("match") {
            return;
        }
        let missing: Vec<&str> =
            ["noinput", "nomatch"].into_iter().filter(|status| !reads.compared.contains(*status)).collect();
        if missing.is_empty() {
            return;
        }
        let verb = &site.name;
        let shown = missing.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(" and ");
        let what = if missing.len() == 2 { "these statuses go" } else { "this status goes" };
        self.findings.push(Finding::new(
            Rule::UnhandledAskOutcome,
            syntax::place(site.pos),
            format!("{verb}'s status is checked, but never for {shown}: {what} the way of a match"),
            format!("compare `{name}.status` with \"match\" (`if {name}.status != \"match\" {{ … }}`), or handle {shown} too"),
        ));
    }

    /// Whether a menu's failure has somewhere to go without its result: an `on_failure` handler,
    /// or choices that all end the call or leave the script, so that only a failure reaches the
    /// code after it.
    fn menu_handles_failure(&self, site: &Site) -> bool {
        let options = site.call.args.get(2).and_then(syntax::map_entries);
        if options.is_some_and(|mut entries| entries.any(|(key, _, _)| key == "on_failure")) {
            return true;
        }
        if site.call.args.get(2).is_some_and(|arg| syntax::map_entries(arg).is_none()) {
            // Options decided at run time may have an `on_failure`.
            return true;
        }
        match site.call.args.get(1).and_then(syntax::map_entries) {
            // Choices decided at run time: their handlers are unknown.
            None => true,
            Some(mut choices) => choices.all(|(_, _, handler)| self.handler_ends(handler)),
        }
    }

    /// Whether a handler always ends the call or leaves the script.
    fn handler_ends(&self, handler: &Expr) -> bool {
        let function = match self.parsed.handler(handler) {
            Handler::Closure(name) => self.parsed.functions.iter().find(|f| f.name == name),
            Handler::Named(name) => self.parsed.function(&name, 0),
            Handler::Computed => return true,
        };
        function.is_some_and(|f| verbs::always_ends(self.parsed, f))
    }
}

/// How a variable holding a result is read.
#[derive(Default)]
struct Reads<'p> {
    /// The script, for what the AST does not keep (switch case values).
    parsed: Option<&'p Parsed>,
    /// String literals `x.status` is compared with (`==`, `!=`, `in`, switch cases).
    compared: BTreeSet<String>,
    /// `x.status` is the subject of a `switch` (its default case, like an `else`, handles no
    /// status in particular).
    switched: bool,
    /// `x.status` is read in a way that is not a comparison with literals.
    status_unknown: bool,
    /// Another field is read in a condition or comparison (`if r.digits == "1"`).
    field_tested: bool,
    /// `x` itself goes somewhere the analysis cannot follow.
    escapes: bool,
}

impl Reads<'_> {
    fn stmt(&mut self, stmt: &Stmt, name: &str) {
        match stmt {
            // Assigning the variable anew is not reading it.
            Stmt::Assignment(assignment) if syntax::variable(&assignment.1.lhs) == Some(name) => {
                self.expr(&assignment.1.rhs, name, false);
            }
            // A field kept in another variable (`let entered = answer.digits;`) may be tested
            // there: the lint cannot follow it, so it counts as tested.
            Stmt::Var(var, _, _) if syntax::property_of(&var.1).is_some_and(|(v, _)| v == name) => {
                self.field_tested = true;
            }
            Stmt::Assignment(assignment)
                if syntax::property_of(&assignment.1.rhs).is_some_and(|(v, _)| v == name) =>
            {
                self.field_tested = true;
            }
            Stmt::If(flow, _) | Stmt::While(flow, _) | Stmt::Do(flow, _, _) => {
                self.expr(&flow.expr, name, true);
                self.stmts(flow.body.statements(), name);
                self.stmts(flow.branch.statements(), name);
            }
            Stmt::Switch(parts, _) => {
                let cases = &parts.1;
                match syntax::property_of(&parts.0) {
                    Some((var, "status")) if var == name => {
                        self.switched = true;
                        // The AST keeps only hashes of the case values: read them from the text.
                        for (index, case) in cases.expressions.iter().enumerate() {
                            if cases.def_case == Some(index) {
                                continue;
                            }
                            let label = self.parsed.and_then(|p| p.case_label(case.rhs.start_position()));
                            let values: Option<Vec<&str>> = label.as_deref().and_then(|label| {
                                label
                                    .split('|')
                                    .map(|v| v.trim().strip_prefix('"')?.strip_suffix('"'))
                                    .collect()
                            });
                            match values {
                                Some(values) => self.compared.extend(values.into_iter().map(str::to_string)),
                                None => self.status_unknown = true,
                            }
                        }
                    }
                    _ => self.expr(&parts.0, name, true),
                }
                for case in &cases.expressions {
                    self.expr(&case.lhs, name, true);
                    self.expr(&case.rhs, name, false);
                }
            }
            other => syntax::for_each_stmt_child(other, &mut |child| match child {
                syntax::Child::Stmt(inner) => self.stmt(inner, name),
                syntax::Child::Expr(expr) => self.expr(expr, name, false),
            }),
        }
    }

    fn stmts(&mut self, stmts: &[Stmt], name: &str) {
        for stmt in stmts {
            self.stmt(stmt, name);
        }
    }

    fn expr(&mut self, expr: &Expr, name: &str, condition: bool) {
        if let Some((var, field)) = syntax::property_of(expr) {
            if var == name {
                if field == "status" {
                    self.status_unknown = true;
                } else if condition {
                    self.field_tested = true;
                }
                return;
            }
        }
        match expr {
            Expr::Variable(..) if syntax::variable(expr) == Some(name) => self.escapes = true,
            Expr::FnCall(call, _) if is_comparison(call) => {
                let status = call.args.iter().position(|arg| is_status(arg, name));
                match status {
                    Some(index) => {
                        let other = &call.args[1 - index];
                        match syntax::string(other) {
                            Some(text) => {
                                self.compared.insert(text.to_string());
                            }
                            None => self.status_unknown = true,
                        }
                        self.expr(other, name, true);
                    }
                    None => call.args.iter().for_each(|arg| self.expr(arg, name, true)),
                }
            }
            // `x.status in ["noinput", "nomatch"]` is `contains([…], x.status)`.
            Expr::FnCall(call, _)
                if call.name == "contains" && call.args.len() == 2 && is_status(&call.args[1], name) =>
            {
                match &call.args[0] {
                    Expr::Array(items, _) if items.iter().all(|item| syntax::string(item).is_some()) => {
                        self.compared.extend(items.iter().filter_map(syntax::string).map(str::to_string));
                    }
                    other => {
                        self.status_unknown = true;
                        self.expr(other, name, true);
                    }
                }
            }
            Expr::FnCall(call, _) if call.op_token.is_some() => {
                // `!`, `<`, `+`…: operands of an operator in a condition are tested.
                call.args.iter().for_each(|arg| self.expr(arg, name, condition));
            }
            Expr::And(items, _) | Expr::Or(items, _) => {
                items.iter().for_each(|item| self.expr(item, name, true))
            }
            _ => syntax::for_each_child(expr, &mut |child| match child {
                syntax::Child::Stmt(stmt) => self.stmt(stmt, name),
                syntax::Child::Expr(inner) => self.expr(inner, name, false),
            }),
        }
    }
}

fn is_comparison(call: &FnCallExpr) -> bool {
    call.op_token.is_some() && call.args.len() == 2 && matches!(call.name.as_str(), "==" | "!=")
}

fn is_status(expr: &Expr, name: &str) -> bool {
    syntax::property_of(expr).is_some_and(|(var, field)| var == name && field == "status")
}

#[cfg(test)]
mod tests {
    use crate::flow::lint::tests::warnings;

    #[test]
    fn an_ask_whose_result_is_thrown_away_is_unchecked() {
        assert_eq!(warnings("answer();\nask(\"say:Press 1\");"), ["2:1 unchecked-ask"]);
    }

    #[test]
    fn an_ask_whose_variable_is_never_tested_is_unchecked() {
        assert_eq!(warnings("let r = ask(\"p\");\nsay_digits(r.digits);"), ["1:9 unchecked-ask"]);
    }

    #[test]
    fn an_ask_checked_for_match_passes() {
        assert!(warnings("let r = ask(\"p\");\nif r.status != \"match\" { hangup(); }").is_empty());
        assert!(
            warnings("let r = ask(\"p\");\nif r.status == \"match\" { say_digits(r.digits); }").is_empty()
        );
    }

    #[test]
    fn an_ask_whose_digits_are_tested_passes() {
        assert!(warnings("let c = ask(\"p\");\nif c.digits == \"1\" { say(\"one\"); }").is_empty());
    }

    #[test]
    fn an_ask_checked_only_for_noinput_misses_nomatch() {
        assert_eq!(
            warnings("let r = ask(\"p\");\nif r.status == \"noinput\" { hangup(); }\nsay_digits(r.digits);"),
            ["1:9 unhandled-ask-outcome"]
        );
        assert!(warnings("let r = ask(\"p\");\nif r.status in [\"noinput\", \"nomatch\"] { hangup(); }")
            .is_empty());
        assert!(
            warnings("let r = ask(\"p\");\nswitch r.status { \"match\" => (), _ => hangup() }").is_empty()
        );
        let text = "let r = ask(\"p\");\nswitch r.status { \"noinput\" | \"nomatch\" => hangup(), _ => () }";
        assert!(warnings(text).is_empty());
        // A default case is an `else`: it handles no status in particular.
        let text = "let r = ask(\"p\");\nswitch r.status { \"noinput\" => hangup(), _ => () }";
        assert_eq!(warnings(text), ["1:9 unhandled-ask-outcome"]);
        let text = "let r = ask(\"p\");\nswitch r.status {\n  \"noinput\" => hangup(),\n  \"x\" => ()\n}";
        assert_eq!(warnings(text), ["1:9 unhandled-ask-outcome"]);
    }

    #[test]
    fn a_result_handed_on_or_returned_is_not_judged() {
        assert!(warnings("let r = ask(\"p\");\nlog(r);").is_empty());
        assert!(warnings("fn get() { ask(\"p\") }\nlet r = get();\nif r.status == \"match\" {}").is_empty());
        assert!(
            warnings("menu(\"p\", #{\"1\": || dial(\"user/1\")}, #{on_failure: || hangup()});").is_empty()
        );
    }

    #[test]
    fn a_field_kept_in_another_variable_counts_as_tested_there() {
        let text = "let r = ask(\"p\");\nlet entered = r.digits;\nif entered.len() < 4 { hangup(); }";
        assert!(warnings(text).is_empty());
    }

    #[test]
    fn a_reassigned_result_is_checked_anywhere_in_its_body() {
        let text = "let r = #{status: \"\"};\nwhile r.status != \"match\" {\n  r = ask(\"p\");\n}";
        assert!(warnings(text).is_empty());
    }

    #[test]
    fn a_menu_without_failure_handling_is_unchecked() {
        assert_eq!(warnings("menu(\"p\", #{\"1\": || say(\"one\")});\nhangup();"), ["1:1 unchecked-ask"]);
    }

    #[test]
    fn a_menu_with_on_failure_or_whose_choices_all_leave_passes() {
        assert!(warnings("menu(\"p\", #{\"1\": || say(\"one\")}, #{on_failure: || hangup()});").is_empty());
        // Only a failure reaches the code after it.
        assert!(warnings("menu(\"p\", #{\"1\": || pass(\"a.rhai\"), \"0\": || transfer(\"op\")}, #{tries: 1});\nsay(\"Goodbye\");")
            .iter()
            .all(|w| !w.contains("unchecked-ask")));
    }

    #[test]
    fn collect_results_are_checked_like_ask() {
        let text = "import \"rivr/collect\" as collect;\nlet pin = collect::pin(\"say:PIN\");\nlog(`${pin.digits}`);";
        assert_eq!(warnings(text), ["2:11 unchecked-ask"]);
        let text = "import \"rivr/collect\" as collect;\nlet pin = collect::pin(\"say:PIN\");\nif pin.status != \"match\" { hangup(); }";
        assert!(warnings(text).is_empty());
    }

    #[test]
    fn a_dial_whose_status_is_never_checked_is_unchecked() {
        assert_eq!(warnings("dial(\"user/1000\");\nhangup();"), ["1:1 unchecked-dial"]);
        assert_eq!(warnings("let r = dial(\"user/1000\");\nlog(`${r.duration}`);"), ["1:9 unchecked-dial"]);
    }

    #[test]
    fn a_dial_whose_status_is_checked_passes() {
        assert!(
            warnings("let r = dial(\"user/1000\");\nif r.status == \"answered\" { hangup(); }").is_empty()
        );
        // A status kept in another variable is checked there, as far as the lint can tell.
        assert!(warnings("let r = dial(\"user/1000\");\nlet s = r.status;\nif s == \"busy\" {}").is_empty());
    }
}
