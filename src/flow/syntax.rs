//! A script's syntax as the flow analyses read it: parsed without optimisation (every statement
//! keeps its place, nothing is folded away), with its function bodies, its imports, and helpers
//! to read calls, literals and conditions. Nothing here runs a script.

use std::collections::HashMap;
use std::sync::OnceLock;

use rhai::{ASTNode, Engine, Expr, FnCallExpr, FnPtr, OptimizationLevel, Position, Stmt, AST};

use crate::config::Limits;
use crate::script::Diagnostic;

/// One script, parsed.
pub struct Parsed {
    /// The script's name relative to its scripts directory (`main.rhai`).
    pub name: String,
    /// Its text, for what the AST does not keep (switch case labels, allow comments).
    pub text: String,
    /// The top-level statements.
    pub body: Vec<Stmt>,
    /// Every function, named and anonymous (closures), in source order.
    pub functions: Vec<Function>,
    /// `import "rivr/collect" as collect;`: alias → module path.
    pub imports: HashMap<String, String>,
}

/// A function of a script: `fn name(params) { … }`, or a closure (`|x| …`).
pub struct Function {
    /// The name (`anon$…` for a closure).
    pub name: String,
    /// Parameter names; a closure's captured variables come first.
    pub params: Vec<String>,
    /// The statements of its body.
    pub body: Vec<Stmt>,
    /// Where the body starts.
    pub position: Position,
    /// Whether it is a closure.
    pub anonymous: bool,
}

/// The engine that parses for the analyses: the sandbox's language settings (strict variables,
/// expression depths, no `eval`), without the optimiser, which would fold constants and drop
/// statements the analyses must see where they were written.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut engine = crate::script::engine::sandboxed(&Limits::default());
        engine.set_optimization_level(OptimizationLevel::None);
        engine
    })
}

/// Parse `text`, the script `name`.
///
/// # Errors
/// The first syntax error, with its position.
pub fn parse(name: &str, text: &str) -> Result<Parsed, Diagnostic> {
    let ast = engine().compile(text).map_err(|error| Diagnostic {
        file: name.to_string(),
        line: error.1.line().unwrap_or(0),
        column: error.1.position().unwrap_or(0),
        message: error.0.to_string(),
    })?;
    let body = ast.statements().to_vec();
    let mut functions = functions(&ast);
    functions.sort_by_key(|f| (f.position.line(), f.position.position()));
    let mut imports = HashMap::new();
    for stmt in body.iter().chain(functions.iter().flat_map(|f| f.body.iter())) {
        if let Stmt::Import(import, _) = stmt {
            if let Some(path) = string(&import.0) {
                imports.insert(import.1.name.to_string(), path.to_string());
            }
        }
    }
    Ok(Parsed { name: name.to_string(), text: text.to_string(), body, functions, imports })
}

/// Every function's body. Rhai exports a function's definition but not the type of its body,
/// so each body is read by walking an AST that holds that one function, keeping its top-level
/// statements.
fn functions(ast: &AST) -> Vec<Function> {
    ast.iter_fn_def()
        .map(|def| {
            let name = def.name.to_string();
            let arity = def.params.len();
            let mut only = ast.clone_functions_only();
            only.retain_functions(|_, _, candidate, params| candidate == name && params == arity);
            let mut body = Vec::new();
            only.walk(&mut |path: &[ASTNode]| {
                if let [ASTNode::Stmt(stmt)] = path {
                    body.push((*stmt).clone());
                }
                true
            });
            Function {
                anonymous: name.starts_with("anon$"),
                name,
                params: def.params.iter().map(|p| p.to_string()).collect(),
                body,
                position: def.body.start_position(),
            }
        })
        .collect()
}

impl Parsed {
    /// The function `name` taking `arity` arguments.
    pub fn function(&self, name: &str, arity: usize) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name && f.params.len() == arity)
    }

    /// The closure (or named function) a handler expression stands for.
    pub fn handler(&self, expr: &Expr) -> Handler {
        match expr {
            Expr::DynamicConstant(value, _) => match value.read_lock::<FnPtr>() {
                Some(ptr) if ptr.fn_name().starts_with("anon$") => {
                    Handler::Closure(ptr.fn_name().to_string())
                }
                Some(ptr) => Handler::Named(ptr.fn_name().to_string()),
                None => Handler::Computed,
            },
            // A closure that captures variables: `{ share…; curry(Fn(anon$…), captured…) }`.
            Expr::Stmt(block) => match block.statements().last() {
                Some(Stmt::Expr(inner)) => match &**inner {
                    Expr::FnCall(call, _) if call.name == "curry" && !call.args.is_empty() => {
                        self.handler(&call.args[0])
                    }
                    _ => Handler::Computed,
                },
                Some(Stmt::FnCall(call, _)) if call.name == "curry" && !call.args.is_empty() => {
                    self.handler(&call.args[0])
                }
                _ => Handler::Computed,
            },
            Expr::FnCall(call, _) if call.name == "Fn" && call.args.len() == 1 => match string(&call.args[0])
            {
                Some(name) => Handler::Named(name.to_string()),
                None => Handler::Computed,
            },
            _ => Handler::Computed,
        }
    }

    /// The module an alias was imported as (`collect` → `rivr/collect`).
    pub fn module(&self, alias: &str) -> Option<&str> {
        self.imports.get(alias).map(String::as_str)
    }

    /// The label of each case of a `switch`, from the source text (the AST keeps only hashes of
    /// the case values): the text between the previous case and the `=>` before `body`.
    pub fn case_label(&self, body: Position) -> Option<String> {
        let offset = self.offset(body)?;
        let before = self.text[..offset].trim_end();
        let before = before.strip_suffix("=>")?;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut start = 0;
        for (index, c) in before.char_indices().rev() {
            match c {
                '"' | '`' => in_string = !in_string,
                _ if in_string => {}
                // A case's block ends where the next case's label begins.
                '}' if depth == 0 && !before[index + 1..].trim().is_empty() => {
                    start = index + 1;
                    break;
                }
                ')' | ']' | '}' => depth += 1,
                '(' | '[' if depth > 0 => depth -= 1,
                '{' if depth > 0 => depth -= 1,
                '{' | ',' | ';' => {
                    start = index + 1;
                    break;
                }
                _ => {}
            }
        }
        let label = before[start..].trim();
        (!label.is_empty()).then(|| label.to_string())
    }

    /// The byte offset of a position in the text.
    fn offset(&self, pos: Position) -> Option<usize> {
        let (line, column) = (pos.line()?, pos.position()?);
        let mut start = 0;
        for _ in 1..line {
            start += self.text[start..].find('\n')? + 1;
        }
        let rest = &self.text[start..];
        let within = rest.char_indices().nth(column - 1).map_or(rest.len(), |(i, _)| i);
        Some(start + within)
    }

    /// The text of line `line` (1-based).
    pub fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line.saturating_sub(1)).unwrap_or("")
    }
}

/// What a menu handler is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handler {
    /// A closure written in place, by its function name.
    Closure(String),
    /// `Fn("name")`: a function of the script.
    Named(String),
    /// Anything else: decided at run time.
    Computed,
}

/// `(line, column)`, 0 when unknown.
pub fn place(pos: Position) -> (usize, usize) {
    (pos.line().unwrap_or(0), pos.position().unwrap_or(0))
}

/// Where a call is written: its module alias when it has one (`collect::pin`), else its name.
pub fn call_position(call: &FnCallExpr, pos: Position) -> Position {
    if call.namespace.is_empty() {
        pos
    } else {
        call.namespace.position()
    }
}

/// A string literal's text.
pub fn string(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::StringConstant(text, _) => Some(text.as_str()),
        _ => None,
    }
}

/// The value of an integer expression made of literals (`20000`, `20 * 1000`, `-5`).
pub fn integer(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::IntegerConstant(n, _) => Some(*n),
        Expr::FnCall(call, _) if call.op_token.is_some() => match (call.name.as_str(), &call.args[..]) {
            ("-", [value]) => integer(value)?.checked_neg(),
            ("+", [a, b]) => integer(a)?.checked_add(integer(b)?),
            ("-", [a, b]) => integer(a)?.checked_sub(integer(b)?),
            ("*", [a, b]) => integer(a)?.checked_mul(integer(b)?),
            ("/", [a, b]) => integer(a)?.checked_div(integer(b)?),
            _ => None,
        },
        _ => None,
    }
}

/// The entries of a literal map `#{key: value, …}`, in source order.
pub fn map_entries(expr: &Expr) -> Option<impl Iterator<Item = (&str, Position, &Expr)>> {
    match expr {
        Expr::Map(map, _) => Some(map.0.iter().map(|(key, value)| (key.name.as_str(), key.pos, value))),
        _ => None,
    }
}

/// The position of a call expression (its name).
pub fn call_of(expr: &Expr) -> Option<(&FnCallExpr, Position)> {
    match expr {
        Expr::FnCall(call, pos) => Some((call, *pos)),
        _ => None,
    }
}

/// A call written as a statement, with its position.
pub fn call_statement(stmt: &Stmt) -> Option<(&FnCallExpr, Position)> {
    match stmt {
        Stmt::FnCall(call, pos) => Some((call, *pos)),
        Stmt::Expr(expr) => call_of(expr),
        _ => None,
    }
}

/// `variable.property` → `(variable, property)`.
pub fn property_of(expr: &Expr) -> Option<(&str, &str)> {
    match expr {
        Expr::Dot(dot, _, _) => match (&dot.lhs, &dot.rhs) {
            (Expr::Variable(var, _, _), Expr::Property(prop, _)) => Some((var.1.as_str(), prop.2.as_str())),
            (Expr::Variable(var, _, _), Expr::Dot(inner, _, _)) => match &inner.lhs {
                Expr::Property(prop, _) => Some((var.1.as_str(), prop.2.as_str())),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// The variable an expression is, if it is one (without a namespace).
pub fn variable(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Variable(var, _, _) if var.2.is_empty() => Some(var.1.as_str()),
        _ => None,
    }
}

/// Calls `f` on every expression directly inside `expr`.
pub fn for_each_child<'a>(expr: &'a Expr, f: &mut dyn FnMut(Child<'a>)) {
    match expr {
        Expr::InterpolatedString(items, _) | Expr::Array(items, _) => {
            items.iter().for_each(|e| f(Child::Expr(e)))
        }
        Expr::Map(map, _) => map.0.iter().for_each(|(_, e)| f(Child::Expr(e))),
        Expr::MethodCall(call, _) | Expr::FnCall(call, _) => call.args.iter().for_each(|e| f(Child::Expr(e))),
        Expr::Stmt(block) => block.statements().iter().for_each(|s| f(Child::Stmt(s))),
        Expr::Dot(pair, _, _) | Expr::Index(pair, _, _) => {
            f(Child::Expr(&pair.lhs));
            f(Child::Expr(&pair.rhs));
        }
        Expr::And(items, _) | Expr::Or(items, _) | Expr::Coalesce(items, _) => {
            items.iter().for_each(|e| f(Child::Expr(e)))
        }
        Expr::Custom(custom, _) => custom.inputs.iter().for_each(|e| f(Child::Expr(e))),
        _ => {}
    }
}

/// A node directly inside another.
#[derive(Clone, Copy)]
pub enum Child<'a> {
    Stmt(&'a Stmt),
    Expr(&'a Expr),
}

/// Calls `f` on every statement and expression directly inside `stmt`, in evaluation order.
pub fn for_each_stmt_child<'a>(stmt: &'a Stmt, f: &mut dyn FnMut(Child<'a>)) {
    let block =
        |stmts: &'a [Stmt], f: &mut dyn FnMut(Child<'a>)| stmts.iter().for_each(|s| f(Child::Stmt(s)));
    match stmt {
        Stmt::If(flow, _) | Stmt::While(flow, _) => {
            f(Child::Expr(&flow.expr));
            block(flow.body.statements(), f);
            block(flow.branch.statements(), f);
        }
        Stmt::Do(flow, _, _) => {
            block(flow.body.statements(), f);
            f(Child::Expr(&flow.expr));
        }
        Stmt::For(parts, _) => {
            f(Child::Expr(&parts.2.expr));
            block(parts.2.body.statements(), f);
        }
        Stmt::Switch(parts, _) => {
            f(Child::Expr(&parts.0));
            for case in &parts.1.expressions {
                f(Child::Expr(&case.lhs));
                f(Child::Expr(&case.rhs));
            }
        }
        Stmt::Var(parts, _, _) => f(Child::Expr(&parts.1)),
        Stmt::Assignment(parts) => {
            f(Child::Expr(&parts.1.rhs));
            f(Child::Expr(&parts.1.lhs));
        }
        Stmt::FnCall(call, _) => call.args.iter().for_each(|e| f(Child::Expr(e))),
        Stmt::Block(inner) => block(inner.statements(), f),
        Stmt::TryCatch(flow, _) => {
            block(flow.body.statements(), f);
            block(flow.branch.statements(), f);
        }
        Stmt::Expr(expr) => f(Child::Expr(expr)),
        Stmt::BreakLoop(Some(expr), _, _) | Stmt::Return(Some(expr), _, _) => f(Child::Expr(expr)),
        Stmt::Import(parts, _) => f(Child::Expr(&parts.0)),
        _ => {}
    }
}

/// Calls `f` on `stmt` and everything inside it, depth first, in evaluation order.
pub fn visit_stmt<'a>(stmt: &'a Stmt, f: &mut dyn FnMut(Child<'a>)) {
    f(Child::Stmt(stmt));
    for_each_stmt_child(stmt, &mut |child| visit(child, f));
}

/// Calls `f` on `expr` and everything inside it, depth first, in evaluation order.
pub fn visit_expr<'a>(expr: &'a Expr, f: &mut dyn FnMut(Child<'a>)) {
    f(Child::Expr(expr));
    for_each_child(expr, &mut |child| visit(child, f));
}

fn visit<'a>(child: Child<'a>, f: &mut dyn FnMut(Child<'a>)) {
    match child {
        Child::Stmt(stmt) => visit_stmt(stmt, f),
        Child::Expr(expr) => visit_expr(expr, f),
    }
}

/// An expression as a person would write it, for conditions in the graph (`r.status != "match"`).
pub fn show(expr: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, expr, false);
    out
}

fn write_expr(out: &mut String, expr: &Expr, nested: bool) {
    use std::fmt::Write as _;
    match expr {
        Expr::DynamicConstant(value, _) => match value.read_lock::<FnPtr>() {
            Some(ptr) if ptr.fn_name().starts_with("anon$") => out.push_str("|…| …"),
            Some(ptr) => {
                let _ = write!(out, "Fn({:?})", ptr.fn_name());
            }
            None => {
                let _ = write!(out, "{value}");
            }
        },
        Expr::BoolConstant(value, _) => {
            let _ = write!(out, "{value}");
        }
        Expr::IntegerConstant(value, _) => {
            let _ = write!(out, "{value}");
        }
        Expr::FloatConstant(value, _) => {
            let _ = write!(out, "{value}");
        }
        Expr::CharConstant(value, _) => {
            let _ = write!(out, "'{value}'");
        }
        Expr::StringConstant(value, _) => {
            let _ = write!(out, "{:?}", value.as_str());
        }
        Expr::InterpolatedString(parts, _) => {
            out.push('`');
            for part in parts.iter() {
                match part {
                    Expr::StringConstant(text, _) => out.push_str(text),
                    other => {
                        out.push_str("${");
                        write_expr(out, other, false);
                        out.push('}');
                    }
                }
            }
            out.push('`');
        }
        Expr::Array(items, _) => {
            out.push('[');
            write_list(out, items.iter());
            out.push(']');
        }
        Expr::Map(map, _) => {
            out.push_str("#{");
            for (index, (key, value)) in map.0.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}: ", key.name);
                write_expr(out, value, false);
            }
            out.push('}');
        }
        Expr::Unit(_) => out.push_str("()"),
        Expr::Variable(var, _, _) => {
            for segment in var.2.path.iter() {
                let _ = write!(out, "{}::", segment.name);
            }
            out.push_str(&var.1);
        }
        Expr::ThisPtr(_) => out.push_str("this"),
        Expr::Property(prop, _) => out.push_str(&prop.2),
        Expr::MethodCall(call, _) => write_call(out, call),
        Expr::Stmt(block) => match block.statements() {
            // `${x}` in an interpolated string is a block holding one expression.
            [Stmt::Expr(inner)] => write_expr(out, inner, nested),
            _ => out.push_str("{…}"),
        },
        Expr::FnCall(call, _) => {
            let wrap = nested && call.op_token.is_some() && call.args.len() == 2;
            if wrap {
                out.push('(');
            }
            write_call(out, call);
            if wrap {
                out.push(')');
            }
        }
        Expr::Dot(pair, _, _) => {
            write_expr(out, &pair.lhs, true);
            out.push('.');
            write_expr(out, &pair.rhs, true);
        }
        Expr::Index(pair, _, _) => {
            write_expr(out, &pair.lhs, true);
            out.push('[');
            write_expr(out, &pair.rhs, false);
            out.push(']');
        }
        Expr::And(items, _) | Expr::Or(items, _) | Expr::Coalesce(items, _) => {
            let op = match expr {
                Expr::And(..) => " && ",
                Expr::Or(..) => " || ",
                _ => " ?? ",
            };
            if nested {
                out.push('(');
            }
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(op);
                }
                // Operators bind tighter than `&&`, `||` and `??`: only those need parentheses.
                let operator = matches!(item, Expr::FnCall(call, _) if call.op_token.is_some());
                write_expr(out, item, !operator);
            }
            if nested {
                out.push(')');
            }
        }
        _ => out.push('…'),
    }
}

fn write_call(out: &mut String, call: &FnCallExpr) {
    match (&call.op_token, &call.args[..]) {
        (Some(_), [value]) => {
            out.push_str(&call.name);
            write_expr(out, value, true);
        }
        // Ranges read as written: `1..=3`.
        (Some(_), [a, b]) if call.name.starts_with("..") => {
            write_expr(out, a, true);
            out.push_str(&call.name);
            write_expr(out, b, true);
        }
        (Some(_), [a, b]) => {
            write_expr(out, a, true);
            out.push(' ');
            out.push_str(&call.name);
            out.push(' ');
            write_expr(out, b, true);
        }
        // `x in list` is parsed as `contains(list, x)`.
        (None, [list, item]) if call.name == "contains" && call.namespace.is_empty() => {
            write_expr(out, item, true);
            out.push_str(" in ");
            write_expr(out, list, true);
        }
        _ => {
            for segment in call.namespace.path.iter() {
                out.push_str(&segment.name);
                out.push_str("::");
            }
            out.push_str(&call.name);
            out.push('(');
            write_list(out, call.args.iter());
            out.push(')');
        }
    }
}

fn write_list<'a>(out: &mut String, items: impl Iterator<Item = &'a Expr>) {
    for (index, item) in items.enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        write_expr(out, item, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_expr(text: &str) -> Expr {
        let parsed = parse("t.rhai", text).expect("parses");
        match parsed.body.last().expect("a statement") {
            Stmt::Expr(expr) => (**expr).clone(),
            Stmt::Var(var, _, _) => var.1.clone(),
            Stmt::FnCall(call, pos) => Expr::FnCall(call.clone(), *pos),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn conditions_are_shown_as_written() {
        let text = "let r = #{}; let s = !(r.status == \"match\") && r.digits in [\"1\", \"2\"] || x::y(1, `a${r.z}`);";
        let parsed = parse("t.rhai", &format!("import \"m\" as x; {text}")).expect("parses");
        let Stmt::Var(var, _, _) = &parsed.body[2] else { panic!() };
        assert_eq!(
            show(&var.1),
            "(!(r.status == \"match\") && r.digits in [\"1\", \"2\"]) || x::y(1, `a${r.z}`)"
        );
        let parsed = parse("t.rhai", "let a = 1; let b = a == 1 || a > 2; let c = 1..=3;").expect("parses");
        let shown: Vec<String> = parsed.body[1..]
            .iter()
            .map(|stmt| match stmt {
                Stmt::Var(var, _, _) => show(&var.1),
                _ => String::new(),
            })
            .collect();
        assert_eq!(shown, ["a == 1 || a > 2", "1..=3"]);
    }

    #[test]
    fn integer_literals_are_folded_through_arithmetic() {
        assert_eq!(integer(&last_expr("20 * 1000")), Some(20_000));
        assert_eq!(integer(&last_expr("-5")), Some(-5));
        assert_eq!(integer(&last_expr("let x = 1; x * 1000")), None);
    }

    #[test]
    fn function_bodies_are_read_with_their_statements() {
        let parsed = parse("t.rhai", "fn a(x) { say(x); hangup(); }\nfn b() { 1 }\nlet f = || play(\"x\");")
            .expect("parses");
        let names: Vec<(&str, usize)> =
            parsed.functions.iter().map(|f| (f.name.as_str(), f.body.len())).collect();
        assert_eq!(names[..2], [("a", 2), ("b", 1)]);
        assert!(parsed.functions[2].anonymous);
    }

    #[test]
    fn switch_case_labels_come_from_the_source_text() {
        let text = "let r = 1;\nswitch r {\n    \"a\" | \"b,c\" => say(\"x\"),\n    1..3 => { play(\"y\") }\n    _ => ()\n}";
        let parsed = parse("t.rhai", text).expect("parses");
        let Stmt::Switch(parts, _) = &parsed.body[1] else { panic!() };
        let labels: Vec<String> = parts
            .1
            .expressions
            .iter()
            .map(|case| parsed.case_label(case.rhs.start_position()).unwrap_or_default())
            .collect();
        assert_eq!(labels, ["\"a\" | \"b,c\"", "1..3", "_"]);
    }

    #[test]
    fn a_syntax_error_has_its_place() {
        let error = parse("t.rhai", "say(\"x\" +);").err().expect("an error");
        assert_eq!((error.line, error.file.as_str()), (1, "t.rhai"));
    }
}
