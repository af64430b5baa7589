//! The flow graph of scripts, extracted from their syntax without running them.
//!
//! Nodes are the verbs a call goes through (with their prompts, targets and `file:line`), the
//! decisions the script takes between them (`if`, `switch`, loops, `try`), calls of the
//! script's own functions that run verbs, and the scripts that `pass` and `invoke` reach.
//! Edges are the ways from one to the next: `yes`/`no` of a condition, each case of a `switch`,
//! each choice of a `menu` with its handler, a menu's failure, `pass` and `invoke` across
//! scripts. The stdlib's `menu` and `collect` functions are one node each.
//!
//! What is only known at run time is marked as such, never guessed: a prompt or a script name
//! built from variables is `computed`, a menu whose choices are not a literal map has
//! `choices: null`. Statements that play no part in the call (arithmetic, `log`, `set_var`) are
//! left out, and so is a branch or loop with no verb in it.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use rhai::{ASTFlags, Expr, FnCallExpr, Position, Stmt};

use super::syntax::{self, Child, Handler, Parsed};
use super::verbs::{self, Callee, Effect, Shows, Verb};
use crate::call::Prompt;

/// The flow graph of one or more scripts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// The scripts drawn, in the order given (a directory's in name order).
    pub scripts: Vec<ScriptEntry>,
    /// The script functions drawn as their own part of the graph.
    pub functions: Vec<FunctionEntry>,
    /// Every node; a node's id is its index.
    pub nodes: Vec<Node>,
    /// Every edge, in the order they were found.
    pub edges: Vec<Edge>,
}

/// A script of the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptEntry {
    /// Its name relative to the scripts directory (`main.rhai`).
    pub name: String,
    /// Its start node.
    pub start: usize,
}

/// A function of a script that runs verbs, drawn apart with an entry node; calls of it are
/// `call` nodes with a `call` edge to the entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionEntry {
    /// The script it is in.
    pub script: String,
    /// Its name; `None` for a closure.
    pub name: Option<String>,
    /// Its parameters (a closure's captured variables are not among them).
    pub params: Vec<String>,
    /// Its entry node.
    pub entry: usize,
}

/// What a node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// Where a script starts.
    Start,
    /// Where a script ends without having ended the call (rivr then hangs up).
    End,
    /// A verb, or a stdlib function that is one (`menu`, `collect::digits`, `say::amount`).
    Verb,
    /// An `if` or a `switch`.
    Decision,
    /// A `for`, `while`, `loop` or `do`.
    Loop,
    /// A `try` block; its `error` edge leads to the `catch`.
    Try,
    /// A call of a script function drawn apart, or of a function of an imported module.
    Call,
    /// The entry of a script function drawn apart.
    Function,
    /// A script `pass` or `invoke` reaches that is not part of the graph.
    Script,
}

impl NodeKind {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Start => "start",
            NodeKind::End => "end",
            NodeKind::Verb => "verb",
            NodeKind::Decision => "decision",
            NodeKind::Loop => "loop",
            NodeKind::Try => "try",
            NodeKind::Call => "call",
            NodeKind::Function => "function",
            NodeKind::Script => "script",
        }
    }
}

/// One node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: NodeKind,
    /// The script it is in (for a `script` node: the script it stands for).
    pub script: String,
    /// 1-based line and column where it is written.
    pub line: usize,
    pub column: usize,
    /// What it shows, without its place: `say: "Welcome."`, `r.status != "match"`.
    pub label: String,
    /// The function (index into [`Graph::functions`]) it belongs to, if not the script's body.
    pub function: Option<usize>,
    /// For a verb: its name as written (`menu`, `collect::digits`).
    pub verb: Option<String>,
    /// For a verb: the prompts it plays (positional first, then prompt options).
    pub prompts: Vec<PromptRef>,
    /// For a verb showing a value (`transfer`, `say_number`, `sleep`, `http_get`): the value as
    /// written, `None` when computed.
    pub value: Option<Option<String>>,
    /// For `dial`: each target as written, `None` for a computed one.
    pub targets: Vec<Option<String>>,
    /// For `pass`/`invoke` and `script` nodes: the script reached.
    pub target: Option<ScriptTarget>,
    /// For `menu`: the keys of its choices, `None` when they are not a literal map.
    pub choices: Option<Option<Vec<String>>>,
    /// For a decision or loop: its condition as written.
    pub condition: Option<String>,
    /// For `call` and `function` nodes: the function (index into [`Graph::functions`]); `None`
    /// for a call of a module's function.
    pub calls: Option<usize>,
}

/// A prompt as the script wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptRef {
    /// `speech`, `file`, `tone`, `url`, or `computed` (built at run time).
    pub kind: &'static str,
    /// The text (the speech without `say:`), `None` when computed.
    pub text: Option<String>,
    /// The option it was given as (`invalid`), `None` for the verb's own prompt.
    pub option: Option<String>,
}

/// A script that `pass` or `invoke` reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptTarget {
    /// Its name as written, `None` when computed.
    pub name: Option<String>,
    /// Whether the file exists in the scripts directory (`None` when computed).
    pub exists: Option<bool>,
}

/// How one node leads to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// The next step.
    Next,
    /// A condition held.
    Yes,
    /// A condition did not hold.
    No,
    /// A case of a `switch` (the label is the case as written).
    Case,
    /// A menu choice (the label is its key).
    Choice,
    /// A menu's last try failed (no valid key, or none).
    Failure,
    /// A menu's `on_invalid` / `on_timeout` handler, before the next try.
    Retry,
    /// Into a loop's body.
    Each,
    /// Out of a loop when its condition ends it.
    Done,
    /// From a `try` to its `catch`.
    Error,
    /// `pass`: the call continues in that script.
    Pass,
    /// `invoke`: that script runs, then the call comes back.
    Invoke,
    /// A call of a script function drawn apart.
    Call,
}

impl EdgeKind {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Next => "next",
            EdgeKind::Yes => "yes",
            EdgeKind::No => "no",
            EdgeKind::Case => "case",
            EdgeKind::Choice => "choice",
            EdgeKind::Failure => "failure",
            EdgeKind::Retry => "retry",
            EdgeKind::Each => "each",
            EdgeKind::Done => "done",
            EdgeKind::Error => "error",
            EdgeKind::Pass => "pass",
            EdgeKind::Invoke => "invoke",
            EdgeKind::Call => "call",
        }
    }
}

/// One edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
    /// The case or key, or a handler's name for `retry`.
    pub label: Option<String>,
}

impl Edge {
    /// What a drawing writes on the edge.
    pub fn text(&self) -> Option<String> {
        match self.kind {
            EdgeKind::Next => self.label.clone(),
            EdgeKind::Case | EdgeKind::Choice | EdgeKind::Retry => self.label.clone(),
            EdgeKind::Failure => Some(self.label.clone().unwrap_or_else(|| "no valid choice".into())),
            EdgeKind::Call => None,
            kind => Some(kind.as_str().to_string()),
        }
    }
}

/// Draw the graph of `scripts` (parsed, in order), whose scripts directory is `root`: `pass`
/// and `invoke` of one of them lead to its start; of any other script, to a `script` node that
/// says whether the file exists under `root`.
pub fn build(scripts: &[Parsed], root: &Path) -> Graph {
    let mut graph = Graph::default();
    let mut passes = Vec::new();
    for parsed in scripts {
        Builder::new(&mut graph, parsed, &mut passes).script();
    }
    // `pass`/`invoke` edges, now that every script has its start.
    let mut outside: BTreeMap<String, usize> = BTreeMap::new();
    for (from, kind, name) in passes {
        let start = graph.scripts.iter().find(|s| same_script(&s.name, &name)).map(|s| s.start);
        let to = match start {
            Some(start) => start,
            None => *outside.entry(name.clone()).or_insert_with(|| {
                let exists = script_exists(root, &name);
                graph.nodes.push(Node {
                    target: Some(ScriptTarget { name: Some(name.clone()), exists: Some(exists) }),
                    ..Node::new(NodeKind::Script, &name, (0, 0), name.clone())
                });
                graph.nodes.len() - 1
            }),
        };
        if let Some(target) = graph.nodes[from].target.as_mut() {
            target.exists = Some(start.is_some() || script_exists(root, &name));
        }
        graph.edges.push(Edge { from, to, kind, label: None });
    }
    graph
}

/// Whether `a` and `b` name the same script (`main` is `main.rhai`).
pub fn same_script(a: &str, b: &str) -> bool {
    a.trim_end_matches(".rhai") == b.trim_end_matches(".rhai")
}

/// Whether the script `name` exists in the scripts directory `root`.
pub fn script_exists(root: &Path, name: &str) -> bool {
    let path = root.join(name);
    path.is_file()
        || (!name.ends_with(".rhai") && PathBuf::from(format!("{}.rhai", path.display())).is_file())
}

impl Node {
    fn new(kind: NodeKind, script: &str, (line, column): (usize, usize), label: String) -> Node {
        Node {
            kind,
            script: script.to_string(),
            line,
            column,
            label,
            function: None,
            verb: None,
            prompts: Vec::new(),
            value: None,
            targets: Vec::new(),
            target: None,
            choices: None,
            condition: None,
            calls: None,
        }
    }
}

/// Where the flow is: the nodes (with the kind and label of the edge) the next node follows.
type Frontier = Vec<(usize, EdgeKind, Option<String>)>;

fn from(node: usize) -> Frontier {
    vec![(node, EdgeKind::Next, None)]
}

/// Builds the part of the graph for one script.
struct Builder<'g, 'p> {
    graph: &'g mut Graph,
    parsed: &'p Parsed,
    /// `pass`/`invoke` edges to add once every script is drawn.
    passes: &'g mut Vec<(usize, EdgeKind, String)>,
    /// Functions that run verbs (directly or through other functions): the ones drawn.
    drawn: HashSet<String>,
    /// Closures drawn in place as menu handlers.
    inlined: HashSet<String>,
    /// `call` edges to add once every function has its entry: (call node, function name).
    calls: Vec<(usize, String)>,
    /// The function being drawn.
    function: Option<usize>,
    /// Enclosing loops: their node, and the `break`s out of them.
    loops: Vec<(usize, Frontier)>,
    /// Where `return` goes: the end of the script or function being drawn.
    returns: Frontier,
    /// Enclosing `try` blocks: the `throw`s in them.
    tries: Vec<Frontier>,
}

impl<'g, 'p> Builder<'g, 'p> {
    fn new(graph: &'g mut Graph, parsed: &'p Parsed, passes: &'g mut Vec<(usize, EdgeKind, String)>) -> Self {
        let drawn = drawn_functions(parsed);
        Builder {
            graph,
            parsed,
            passes,
            drawn,
            inlined: HashSet::new(),
            calls: Vec::new(),
            function: None,
            loops: Vec::new(),
            returns: Vec::new(),
            tries: Vec::new(),
        }
    }

    fn script(mut self) {
        let parsed = self.parsed;
        let start = self.node(Node::new(NodeKind::Start, &parsed.name, (1, 1), parsed.name.clone()));
        self.graph.scripts.push(ScriptEntry { name: parsed.name.clone(), start });
        let mut end = self.block(&parsed.body, from(start));
        end.append(&mut self.returns);
        if !end.is_empty() {
            let lines = parsed.text.lines().count().max(1);
            let node = self.node(Node::new(NodeKind::End, &parsed.name, (lines, 1), "end".into()));
            self.connect(end, node);
        }
        // Named functions first, then closures not drawn in place (in source order, so an
        // outer closure draws the handlers inside it before they are considered on their own).
        let mut entries: BTreeMap<String, usize> = BTreeMap::new();
        for anonymous in [false, true] {
            for function in parsed.functions.iter().filter(|f| f.anonymous == anonymous) {
                if !self.drawn.contains(&function.name) || self.inlined.contains(&function.name) {
                    continue;
                }
                let index = self.graph.functions.len();
                let (line, column) = syntax::place(function.position);
                let label = if function.anonymous {
                    "closure".to_string()
                } else if function.name == "on_hangup" && function.params.is_empty() {
                    "fn on_hangup(): after the call has ended".to_string()
                } else {
                    format!("fn {}({})", function.name, function.params.join(", "))
                };
                let entry = self.node(Node {
                    calls: Some(index),
                    ..Node::new(NodeKind::Function, &parsed.name, (line, column), label)
                });
                self.graph.nodes[entry].function = Some(index);
                self.graph.functions.push(FunctionEntry {
                    script: parsed.name.clone(),
                    name: (!function.anonymous).then(|| function.name.clone()),
                    params: function.params.clone(),
                    entry,
                });
                entries.insert(function.name.clone(), index);
                self.function = Some(index);
                self.loops.clear();
                self.returns.clear();
                self.block(&function.body, from(entry));
            }
        }
        for (call, name) in std::mem::take(&mut self.calls) {
            if let Some(&index) = entries.get(&name) {
                let entry = self.graph.functions[index].entry;
                self.graph.nodes[call].calls = Some(index);
                self.graph.edges.push(Edge { from: call, to: entry, kind: EdgeKind::Call, label: None });
            }
        }
    }

    fn node(&mut self, mut node: Node) -> usize {
        node.function = self.function;
        self.graph.nodes.push(node);
        self.graph.nodes.len() - 1
    }

    fn connect(&mut self, frontier: Frontier, to: usize) {
        for (from, kind, label) in frontier {
            self.graph.edges.push(Edge { from, to, kind, label });
        }
    }

    fn block(&mut self, stmts: &'p [Stmt], mut frontier: Frontier) -> Frontier {
        for stmt in stmts {
            frontier = self.stmt(stmt, frontier);
        }
        frontier
    }

    fn stmt(&mut self, stmt: &'p Stmt, frontier: Frontier) -> Frontier {
        match stmt {
            Stmt::If(flow, pos) => {
                let frontier = self.expr(&flow.expr, frontier);
                if !self.has_flow(flow.body.statements()) && !self.has_flow(flow.branch.statements()) {
                    return frontier;
                }
                let decision = self.decision(*pos, syntax::show(&flow.expr));
                self.connect(frontier, decision);
                let mut out = self.block(flow.body.statements(), vec![(decision, EdgeKind::Yes, None)]);
                out.extend(self.block(flow.branch.statements(), vec![(decision, EdgeKind::No, None)]));
                out
            }
            Stmt::Switch(parts, pos) => {
                let frontier = self.expr(&parts.0, frontier);
                let cases = &parts.1;
                let any = cases.expressions.iter().any(|case| self.expr_has_flow(&case.rhs));
                if !any {
                    return frontier;
                }
                let decision = self.decision(*pos, format!("switch {}", syntax::show(&parts.0)));
                self.connect(frontier, decision);
                let mut out = Vec::new();
                for (index, case) in cases.expressions.iter().enumerate() {
                    let label = if cases.def_case == Some(index) {
                        "_".to_string()
                    } else {
                        self.parsed.case_label(case.rhs.start_position()).unwrap_or_else(|| "case".into())
                    };
                    out.extend(self.expr(&case.rhs, vec![(decision, EdgeKind::Case, Some(label))]));
                }
                if cases.def_case.is_none() {
                    out.push((decision, EdgeKind::Case, Some("no case".into())));
                }
                out
            }
            Stmt::While(flow, pos) => {
                let endless = matches!(flow.expr, Expr::Unit(_));
                let frontier = self.expr(&flow.expr, frontier);
                let label =
                    if endless { "loop".to_string() } else { format!("while {}", syntax::show(&flow.expr)) };
                self.looping(flow.body.statements(), frontier, *pos, label, !endless)
            }
            Stmt::Do(flow, flags, pos) => {
                let word = if flags.contains(ASTFlags::NEGATED) { "until" } else { "while" };
                let label = format!("do … {word} {}", syntax::show(&flow.expr));
                let out = self.looping(flow.body.statements(), frontier, *pos, label, true);
                self.expr(&flow.expr, out)
            }
            Stmt::For(parts, pos) => {
                let frontier = self.expr(&parts.2.expr, frontier);
                let variables = match &parts.1 {
                    Some(counter) => format!("({}, {})", parts.0.name, counter.name),
                    None => parts.0.name.to_string(),
                };
                let label = format!("for {variables} in {}", syntax::show(&parts.2.expr));
                self.looping(parts.2.body.statements(), frontier, *pos, label, true)
            }
            Stmt::Var(parts, _, _) => self.expr(&parts.1, frontier),
            Stmt::Assignment(parts) => {
                let frontier = self.expr(&parts.1.rhs, frontier);
                self.expr(&parts.1.lhs, frontier)
            }
            Stmt::FnCall(call, pos) => self.call(call, *pos, frontier),
            Stmt::Expr(expr) => self.expr(expr, frontier),
            Stmt::Block(block) => self.block(block.statements(), frontier),
            Stmt::TryCatch(flow, pos) => {
                if !self.has_flow(flow.body.statements()) && !self.has_flow(flow.branch.statements()) {
                    return frontier;
                }
                let node =
                    self.node(Node::new(NodeKind::Try, &self.parsed.name, syntax::place(*pos), "try".into()));
                self.connect(frontier, node);
                self.tries.push(Vec::new());
                let mut out = self.block(flow.body.statements(), from(node));
                let mut caught = self.tries.pop().unwrap_or_default();
                caught.push((node, EdgeKind::Error, None));
                out.extend(self.block(flow.branch.statements(), caught));
                out
            }
            Stmt::BreakLoop(value, flags, _) => {
                let frontier = match value {
                    Some(value) => self.expr(value, frontier),
                    None => frontier,
                };
                if flags.contains(ASTFlags::BREAK) {
                    if let Some((_, breaks)) = self.loops.last_mut() {
                        breaks.extend(frontier);
                    }
                } else if let Some(&(head, _)) = self.loops.last() {
                    self.connect(frontier, head);
                }
                Vec::new()
            }
            Stmt::Return(value, flags, _) => {
                let frontier = match value {
                    Some(value) => self.expr(value, frontier),
                    None => frontier,
                };
                if flags.contains(ASTFlags::BREAK) {
                    // `throw`: to the enclosing `catch`, if any; otherwise the script fails.
                    if let Some(caught) = self.tries.last_mut() {
                        caught.extend(frontier);
                    }
                } else {
                    self.returns.extend(frontier);
                }
                Vec::new()
            }
            _ => frontier,
        }
    }

    fn decision(&mut self, pos: Position, label: String) -> usize {
        let node = Node {
            condition: Some(label.clone()),
            ..Node::new(NodeKind::Decision, &self.parsed.name, syntax::place(pos), label)
        };
        self.node(node)
    }

    /// A loop: its node, the body from it and back to it, and the way out.
    fn looping(
        &mut self,
        body: &'p [Stmt],
        frontier: Frontier,
        pos: Position,
        label: String,
        ends: bool,
    ) -> Frontier {
        if !self.has_flow(body) {
            return frontier;
        }
        let node = self.node(Node {
            condition: Some(label.clone()),
            ..Node::new(NodeKind::Loop, &self.parsed.name, syntax::place(pos), label)
        });
        self.connect(frontier, node);
        self.loops.push((node, Vec::new()));
        let back = self.block(body, vec![(node, EdgeKind::Each, None)]);
        self.connect(back, node);
        let (_, mut out) = self.loops.pop().unwrap_or_default();
        if ends {
            out.push((node, EdgeKind::Done, None));
        }
        out
    }

    fn expr(&mut self, expr: &'p Expr, frontier: Frontier) -> Frontier {
        match expr {
            Expr::FnCall(call, pos) | Expr::MethodCall(call, pos) => self.call(call, *pos, frontier),
            Expr::Stmt(block) => self.block(block.statements(), frontier),
            _ => {
                let mut frontier = frontier;
                syntax::for_each_child(expr, &mut |child| {
                    frontier = match child {
                        Child::Expr(inner) => self.expr(inner, std::mem::take(&mut frontier)),
                        Child::Stmt(stmt) => self.stmt(stmt, std::mem::take(&mut frontier)),
                    };
                });
                frontier
            }
        }
    }

    fn call(&mut self, call: &'p FnCallExpr, pos: Position, frontier: Frontier) -> Frontier {
        let callee = verbs::callee(self.parsed, call);
        let is_menu = matches!(&callee, Callee::Verb(verb, _) if verb.name == "menu");
        let mut frontier = frontier;
        for (index, arg) in call.args.iter().enumerate() {
            // A menu's handlers run as its branches, not before it.
            if is_menu && index > 0 && syntax::map_entries(arg).is_some() {
                continue;
            }
            frontier = self.expr(arg, frontier);
        }
        match callee {
            Callee::Verb(verb, name) => self.verb(verb, name, call, pos, frontier),
            Callee::Function(function) if self.drawn.contains(&function.name) => {
                let label = format!("{}(…)", function.name);
                let node = self.node(Node::new(NodeKind::Call, &self.parsed.name, syntax::place(pos), label));
                self.connect(frontier, node);
                self.calls.push((node, function.name.clone()));
                // A helper that always ends the call (`to_agent()` ending in `transfer`) does not
                // come back.
                if verbs::always_ends(self.parsed, function) {
                    Vec::new()
                } else {
                    from(node)
                }
            }
            Callee::Module { module, name } if !module.starts_with(crate::script::stdlib::STDLIB_PREFIX) => {
                let label = format!("{}::{name}(…)", call.namespace.root());
                let place = syntax::place(syntax::call_position(call, pos));
                let node = self.node(Node {
                    value: Some(Some(module.clone())),
                    ..Node::new(NodeKind::Call, &self.parsed.name, place, label)
                });
                self.connect(frontier, node);
                from(node)
            }
            _ => frontier,
        }
    }

    fn verb(
        &mut self,
        verb: &'static Verb,
        name: String,
        call: &'p FnCallExpr,
        pos: Position,
        frontier: Frontier,
    ) -> Frontier {
        let place = syntax::place(syntax::call_position(call, pos));
        let mut node = Node::new(NodeKind::Verb, &self.parsed.name, place, String::new());
        let shown = describe(verb, call, &mut node);
        node.label = if shown.is_empty() { name.clone() } else { format!("{name}: {shown}") };
        node.verb = Some(name);
        if verb.name == "menu" {
            node.choices = Some(
                call.args
                    .get(1)
                    .and_then(syntax::map_entries)
                    .map(|entries| entries.map(|(key, _, _)| key.to_string()).collect()),
            );
        }
        let script_target = node.target.as_ref().and_then(|t| t.name.clone());
        let id = self.node(node);
        self.connect(frontier, id);
        match verb.effect {
            Effect::Leaves => {
                if let Some(target) = script_target {
                    self.passes.push((id, EdgeKind::Pass, target));
                }
                Vec::new()
            }
            Effect::EndsCall => Vec::new(),
            _ if verb.name == "invoke" => {
                if let Some(target) = script_target {
                    self.passes.push((id, EdgeKind::Invoke, target));
                }
                from(id)
            }
            _ if verb.name == "menu" => self.menu(id, call),
            _ => from(id),
        }
    }

    /// A menu's ways on: each choice through its handler, `on_invalid`/`on_timeout` back to the
    /// menu, and the failure of its last try through `on_failure`, if any.
    fn menu(&mut self, menu: usize, call: &'p FnCallExpr) -> Frontier {
        let mut out = Vec::new();
        match call.args.get(1).and_then(syntax::map_entries) {
            Some(choices) => {
                for (key, _, handler) in choices {
                    out.extend(self.handler(handler, vec![(menu, EdgeKind::Choice, Some(key.to_string()))]));
                }
            }
            None => out.push((menu, EdgeKind::Choice, Some("(computed)".into()))),
        }
        let options: Vec<(&str, Position, &'p Expr)> =
            call.args.get(2).and_then(syntax::map_entries).map(Iterator::collect).unwrap_or_default();
        for (key, _, handler) in &options {
            if let Some(label) = match *key {
                "on_invalid" => Some("invalid"),
                "on_timeout" => Some("timeout"),
                _ => None,
            } {
                let back = self.handler(handler, vec![(menu, EdgeKind::Retry, Some(label.to_string()))]);
                self.connect(back, menu);
            }
        }
        match options.iter().find(|(key, _, _)| *key == "on_failure") {
            Some((_, _, handler)) => out.extend(self.handler(handler, vec![(menu, EdgeKind::Failure, None)])),
            None => out.push((menu, EdgeKind::Failure, None)),
        }
        out
    }

    /// A handler's flow from `frontier`: a closure drawn in place, a call of a named function,
    /// or nothing to draw (the flow goes straight on).
    fn handler(&mut self, expr: &'p Expr, frontier: Frontier) -> Frontier {
        match self.parsed.handler(expr) {
            Handler::Closure(name) => {
                let Some(function) = self.parsed.functions.iter().find(|f| f.name == name) else {
                    return frontier;
                };
                self.inlined.insert(name);
                // A closure's `return` ends the handler; loops do not reach into it.
                let returns = std::mem::take(&mut self.returns);
                let loops = std::mem::take(&mut self.loops);
                let mut out = self.block(&function.body, frontier);
                out.append(&mut self.returns);
                self.returns = returns;
                self.loops = loops;
                out
            }
            Handler::Named(name) if self.drawn.contains(&name) => {
                let (line, column) = syntax::place(expr.start_position());
                let label = format!("{name}(…)");
                let node = self.node(Node::new(NodeKind::Call, &self.parsed.name, (line, column), label));
                self.connect(frontier, node);
                let ends = self.parsed.function(&name, 0).is_some_and(|f| verbs::always_ends(self.parsed, f));
                self.calls.push((node, name));
                if ends {
                    Vec::new()
                } else {
                    from(node)
                }
            }
            _ => frontier,
        }
    }

    /// Whether statements take part in the flow: a verb, a drawn function, or a jump.
    fn has_flow(&self, stmts: &[Stmt]) -> bool {
        let mut found = false;
        for stmt in stmts {
            syntax::visit_stmt(stmt, &mut |child| found |= self.is_flow(child));
            if found {
                return true;
            }
        }
        false
    }

    fn expr_has_flow(&self, expr: &Expr) -> bool {
        let mut found = false;
        syntax::visit_expr(expr, &mut |child| found |= self.is_flow(child));
        found
    }

    fn is_flow(&self, child: Child) -> bool {
        let call = match child {
            Child::Stmt(Stmt::BreakLoop(..) | Stmt::Return(..)) => return true,
            Child::Stmt(Stmt::FnCall(call, _)) => call,
            Child::Expr(Expr::FnCall(call, _) | Expr::MethodCall(call, _)) => call,
            _ => return false,
        };
        match verbs::callee(self.parsed, call) {
            Callee::Verb(..) => true,
            Callee::Function(function) => self.drawn.contains(&function.name),
            Callee::Module { module, .. } => !module.starts_with(crate::script::stdlib::STDLIB_PREFIX),
            Callee::Other => false,
        }
    }
}

/// The functions of a script that run verbs, directly or through its other functions.
fn drawn_functions(parsed: &Parsed) -> HashSet<String> {
    // What each function calls: verbs (as "") and the script's functions.
    let calls: Vec<(String, HashSet<String>)> = parsed
        .functions
        .iter()
        .map(|function| {
            let mut called = HashSet::new();
            for stmt in &function.body {
                syntax::visit_stmt(stmt, &mut |child| {
                    let call = match child {
                        Child::Stmt(Stmt::FnCall(call, _)) => call,
                        Child::Expr(Expr::FnCall(call, _) | Expr::MethodCall(call, _)) => call,
                        _ => return,
                    };
                    match verbs::callee(parsed, call) {
                        Callee::Verb(..) => {
                            called.insert(String::new());
                        }
                        Callee::Function(f) => {
                            called.insert(f.name.clone());
                        }
                        Callee::Module { module, .. }
                            if !module.starts_with(crate::script::stdlib::STDLIB_PREFIX) =>
                        {
                            called.insert(String::new());
                        }
                        _ => {}
                    }
                    // A handler given as a closure is part of the function that gives it.
                    if let Callee::Verb(..) = verbs::callee(parsed, call) {
                        for arg in call.args.iter() {
                            for (_, _, value) in syntax::map_entries(arg).into_iter().flatten() {
                                if let Handler::Closure(name) | Handler::Named(name) = parsed.handler(value) {
                                    called.insert(name);
                                }
                            }
                        }
                    }
                });
            }
            (function.name.clone(), called)
        })
        .collect();
    let mut drawn: HashSet<String> = HashSet::new();
    loop {
        let before = drawn.len();
        for (name, called) in &calls {
            if called.iter().any(|c| c.is_empty() || drawn.contains(c)) {
                drawn.insert(name.clone());
            }
        }
        if drawn.len() == before {
            return drawn;
        }
    }
}

const COMPUTED: &str = "<computed>";

/// What a verb node shows of its arguments (its label after the verb's name), filling in its
/// prompts, value, targets and script target.
fn describe(verb: &Verb, call: &FnCallExpr, node: &mut Node) -> String {
    let shown = match verb.shows {
        Shows::Nothing => String::new(),
        Shows::Prompt(index) => match call.args.get(index) {
            None => String::new(),
            Some(arg) => {
                let items: Vec<&Expr> = match arg {
                    Expr::Array(items, _) => items.iter().collect(),
                    other => vec![other],
                };
                let mut shown = Vec::new();
                for item in items {
                    let prompt = prompt_ref(item, None);
                    shown.push(match (&prompt.text, prompt.kind) {
                        (Some(text), "speech") => format!("{text:?}"),
                        (Some(text), _) => text.clone(),
                        (None, _) => COMPUTED.to_string(),
                    });
                    node.prompts.push(prompt);
                }
                shown.join(", ")
            }
        },
        Shows::Speech(index) => match call.args.get(index) {
            None => String::new(),
            Some(arg) => {
                let text = syntax::string(arg).map(str::to_string);
                let shown = text.as_ref().map_or(COMPUTED.to_string(), |t| format!("{t:?}"));
                let kind = if text.is_some() { "speech" } else { "computed" };
                node.prompts.push(PromptRef { kind, text, option: None });
                shown
            }
        },
        Shows::Targets(index) => match call.args.get(index) {
            None => String::new(),
            Some(arg) => {
                let items: Vec<&Expr> = match arg {
                    Expr::Array(items, _) => items.iter().collect(),
                    other => vec![other],
                };
                node.targets = items.iter().map(|item| syntax::string(item).map(str::to_string)).collect();
                node.targets.iter().map(|t| t.as_deref().unwrap_or(COMPUTED)).collect::<Vec<_>>().join(", ")
            }
        },
        Shows::Value(index) => match call.args.get(index) {
            None => String::new(),
            Some(arg) => {
                let value = syntax::string(arg)
                    .map(str::to_string)
                    .or_else(|| syntax::integer(arg).map(|n| n.to_string()))
                    .or_else(|| match arg {
                        Expr::FloatConstant(x, _) => Some(x.to_string()),
                        _ => None,
                    });
                let unit = if verb.time_argument.is_some() { " ms" } else { "" };
                let shown = value.as_ref().map_or(COMPUTED.to_string(), |v| format!("{v}{unit}"));
                node.value = Some(value);
                shown
            }
        },
        Shows::Script(index) => match call.args.get(index) {
            None => String::new(),
            Some(arg) => {
                let name = syntax::string(arg).map(str::to_string);
                let shown = name.clone().unwrap_or_else(|| COMPUTED.to_string());
                node.target = Some(ScriptTarget { name, exists: None });
                shown
            }
        },
    };
    if let Some((index, _)) = verb.options {
        for (key, _, value) in call.args.get(index).and_then(syntax::map_entries).into_iter().flatten() {
            if verb.prompt_options.contains(&key) {
                node.prompts.push(prompt_ref(value, Some(key)));
            }
        }
    }
    shown
}

/// A prompt as written: a literal string is a speech, tone, URL or file prompt; anything else
/// is computed.
fn prompt_ref(expr: &Expr, option: Option<&str>) -> PromptRef {
    let option = option.map(str::to_string);
    match syntax::string(expr) {
        None => PromptRef { kind: "computed", text: None, option },
        Some(text) => {
            let (kind, text) = match Prompt::parse(text) {
                Prompt::Speech(speech) => ("speech", speech),
                Prompt::File(file) => ("file", file),
                Prompt::Tone(tone) => ("tone", tone),
                Prompt::Url(url) => ("url", url),
            };
            PromptRef { kind, text: Some(text), option }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(text: &str) -> Graph {
        let parsed = syntax::parse("t.rhai", text).expect("parses");
        build(&[parsed], Path::new("/nonexistent"))
    }

    fn labels(graph: &Graph) -> Vec<&str> {
        graph.nodes.iter().map(|n| n.label.as_str()).collect()
    }

    fn edge(graph: &Graph, from: &str, to: &str) -> Option<EdgeKind> {
        let find = |label: &str| graph.nodes.iter().position(|n| n.label == label);
        let (from, to) = (find(from)?, find(to)?);
        graph.edges.iter().find(|e| e.from == from && e.to == to).map(|e| e.kind)
    }

    #[test]
    fn verbs_follow_each_other_with_their_prompts_and_places() {
        let g =
            graph("answer();\nsay(\"Hello\");\nplay([\"ivr/a.wav\", \"say:Hi\"]);\nlet x = \"b\";\nplay(x);");
        assert_eq!(
            labels(&g),
            ["t.rhai", "answer", "say: \"Hello\"", "play: ivr/a.wav, \"Hi\"", "play: <computed>", "end"]
        );
        assert_eq!((g.nodes[2].line, g.nodes[2].column), (2, 1));
        assert_eq!(
            g.nodes[3].prompts[0],
            PromptRef { kind: "file", text: Some("ivr/a.wav".into()), option: None }
        );
        assert_eq!(g.nodes[4].prompts[0].kind, "computed");
        assert_eq!(edge(&g, "answer", "say: \"Hello\""), Some(EdgeKind::Next));
    }

    #[test]
    fn a_condition_on_an_outcome_is_a_decision_with_yes_and_no() {
        let g = graph(
            "let r = dial(\"user/1\", #{timeout: 20000});\nif r.status != \"answered\" {\n    say(\"Sorry\");\n}\nhangup();",
        );
        assert_eq!(edge(&g, "dial: user/1", "r.status != \"answered\""), Some(EdgeKind::Next));
        assert_eq!(edge(&g, "r.status != \"answered\"", "say: \"Sorry\""), Some(EdgeKind::Yes));
        assert_eq!(edge(&g, "r.status != \"answered\"", "hangup"), Some(EdgeKind::No));
        assert_eq!(edge(&g, "say: \"Sorry\"", "hangup"), Some(EdgeKind::Next));
        // The call ends at the hangup: no end node.
        assert!(!labels(&g).contains(&"end"));
    }

    #[test]
    fn branches_without_verbs_are_left_out() {
        let g = graph("let n = 1;\nif n > 0 { n += 1; } else { n = 0; }\nsay(\"x\");");
        assert_eq!(labels(&g), ["t.rhai", "say: \"x\"", "end"]);
    }

    #[test]
    fn menu_choices_lead_through_their_handlers_and_failure_through_on_failure() {
        let g = graph(
            "menu(\"say:Press 1\", #{\n  \"1\": || pass(\"sales.rhai\"),\n  \"2\": || { say(\"Two\"); },\n  \"3\": Fn(\"three\"),\n}, #{on_failure: || transfer(\"operator\")});\nsay(\"Bye\");\nfn three() { 3 }",
        );
        let menu = g.nodes.iter().position(|n| n.verb.as_deref() == Some("menu")).expect("menu");
        assert_eq!(g.nodes[menu].choices, Some(Some(vec!["1".into(), "2".into(), "3".into()])));
        let out: Vec<(EdgeKind, Option<&str>, &str)> = g
            .edges
            .iter()
            .filter(|e| e.from == menu)
            .map(|e| (e.kind, e.label.as_deref(), g.nodes[e.to].label.as_str()))
            .collect();
        assert_eq!(
            out,
            [
                (EdgeKind::Choice, Some("1"), "pass: sales.rhai"),
                (EdgeKind::Choice, Some("2"), "say: \"Two\""),
                (EdgeKind::Failure, None, "transfer: operator"),
                // `three` runs no verb: choosing 3 goes straight on.
                (EdgeKind::Choice, Some("3"), "say: \"Bye\""),
            ]
        );
        let pass = g.nodes.iter().position(|n| n.label == "pass: sales.rhai").expect("pass");
        let script = g.edges.iter().find(|e| e.from == pass).expect("pass edge");
        assert_eq!(script.kind, EdgeKind::Pass);
        assert_eq!(
            g.nodes[script.to].target,
            Some(ScriptTarget { name: Some("sales.rhai".into()), exists: Some(false) })
        );
    }

    #[test]
    fn a_computed_script_name_is_shown_unresolved_and_leads_nowhere() {
        let g = graph("let name = \"a\";\npass(`${name}.rhai`);");
        let pass = &g.nodes[1];
        assert_eq!(pass.label, "pass: <computed>");
        assert_eq!(pass.target, Some(ScriptTarget { name: None, exists: None }));
        assert!(g.edges.iter().all(|e| e.from != 1));
    }

    #[test]
    fn functions_that_run_verbs_are_drawn_apart_and_called() {
        let g = graph(
            "let v = check(1);\ngreet();\nfn greet() { say(\"Hi\"); helper(); }\nfn helper() { play(\"x.wav\"); }\nfn check(x) { x + 1 }",
        );
        assert_eq!(
            g.functions.iter().map(|f| f.name.clone().unwrap_or_default()).collect::<Vec<_>>(),
            ["greet", "helper"]
        );
        assert_eq!(edge(&g, "greet(…)", "fn greet()"), Some(EdgeKind::Call));
        assert_eq!(edge(&g, "fn greet()", "say: \"Hi\""), Some(EdgeKind::Next));
        assert_eq!(edge(&g, "helper(…)", "fn helper()"), Some(EdgeKind::Call));
        assert!(!labels(&g).iter().any(|l| l.starts_with("check")));
    }

    #[test]
    fn loops_go_round_and_break_out() {
        let g = graph("for agent in [\"a\", \"b\"] {\n  let r = dial(agent);\n  if r.status == \"answered\" { break; }\n}\nsay(\"done\");");
        let head = "for agent in [\"a\", \"b\"]";
        assert_eq!(edge(&g, head, "dial: <computed>"), Some(EdgeKind::Each));
        assert_eq!(edge(&g, "r.status == \"answered\"", head), Some(EdgeKind::No));
        assert_eq!(edge(&g, "r.status == \"answered\"", "say: \"done\""), Some(EdgeKind::Yes));
        assert_eq!(edge(&g, head, "say: \"done\""), Some(EdgeKind::Done));
    }

    #[test]
    fn switch_cases_are_labelled_as_written() {
        let g = graph("let r = ask(\"p\");\nswitch r.status {\n  \"match\" => say(\"ok\"),\n  \"noinput\" | \"nomatch\" => hangup(),\n}");
        let cases: Vec<Option<&str>> =
            g.edges.iter().filter(|e| e.kind == EdgeKind::Case).map(|e| e.label.as_deref()).collect();
        assert_eq!(cases, [Some("\"match\""), Some("\"noinput\" | \"nomatch\""), Some("no case")]);
    }

    #[test]
    fn stdlib_collect_is_one_node_and_hours_is_none() {
        let g = graph(
            "import \"rivr/collect\" as collect;\nimport \"rivr/hours\" as hours;\nlet open = hours::open(#{});\nlet pin = collect::pin(\"say:PIN\", #{tries: 2});",
        );
        assert_eq!(labels(&g), ["t.rhai", "collect::pin: \"PIN\"", "end"]);
    }
}
