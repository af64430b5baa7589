//! Writing a [`Graph`] out: Mermaid (renders on GitHub inside a ```` ```mermaid ```` block),
//! Graphviz DOT, and JSON for tools.
//!
//! # The JSON format (`rivr graph --format json`)
//!
//! One object, `{"format": "rivr-graph", "version": 1, "scripts", "functions", "nodes",
//! "edges"}`, described field by field in `docs/graph-json.md`. It is a stable format for tools:
//! within a version, fields are only added. A change here that is not an addition needs a new
//! `version` and an update of that document.

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use super::graph::{EdgeKind, Graph, Node, NodeKind};
use super::overlay::Overlay;

/// An output format of `rivr graph`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Mermaid,
    Dot,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "mermaid" => Ok(Format::Mermaid),
            "dot" => Ok(Format::Dot),
            "json" => Ok(Format::Json),
            other => Err(format!("--format {other}: use mermaid, dot or json")),
        }
    }
}

/// The graph in `format`, ending with a newline.
pub fn render(graph: &Graph, format: Format) -> String {
    render_with(graph, format, None)
}

/// The graph in `format` with the counts of `rivr stats` laid over it (`rivr graph --stats`):
/// counts on input nodes and their choice and failure edges, and input nodes with a high
/// no-input or no-match share set apart.
pub fn render_with(graph: &Graph, format: Format, overlay: Option<&Overlay>) -> String {
    let empty = Overlay::default();
    let overlay = overlay.unwrap_or(&empty);
    match format {
        Format::Mermaid => mermaid(graph, overlay),
        Format::Dot => dot(graph, overlay),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&json(graph, overlay)).unwrap_or_default();
            text.push('\n');
            text
        }
    }
}

/// Longest label text a drawing shows; JSON keeps the whole text.
const MAX_LABEL: usize = 60;

fn short(text: &str) -> String {
    if text.chars().count() <= MAX_LABEL {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(MAX_LABEL - 1).collect();
    cut.push('…');
    cut
}

/// The text a drawing shows for a node: its label, then where it is.
fn node_text(node: &Node) -> (String, Option<String>) {
    let place = match node.kind {
        NodeKind::Start | NodeKind::Script => None,
        _ => Some(format!("{}:{}", node.script, node.line)),
    };
    let label = match (&node.kind, &node.target) {
        (NodeKind::Script, Some(target)) if target.exists == Some(false) => {
            format!("{} (missing)", node.label)
        }
        _ => node.label.clone(),
    };
    (short(&label), place)
}

/// What a drawing writes on an edge: its own text, then how often callers took it.
fn edge_text(edge: &super::graph::Edge, overlay: &Overlay, index: usize) -> Option<String> {
    let text = edge.text();
    match (overlay.edges.get(&index), text) {
        (Some(count), Some(text)) => Some(format!("{}: {}", short(&text), count.note())),
        (Some(count), None) => Some(count.note()),
        (None, text) => text.map(|t| short(&t)),
    }
}

/// Whether a node is caller input, which a drawing sets apart.
pub(crate) fn is_input(node: &Node) -> bool {
    matches!(
        node.verb.as_deref().map(|v| v.rsplit("::").next().unwrap_or(v)),
        Some("ask" | "menu" | "digits" | "pin")
    )
}

/// Whether a node ends the call or hands it on.
fn is_exit(node: &Node) -> bool {
    matches!(node.verb.as_deref(), Some("hangup" | "reject" | "transfer" | "pass"))
}

/// The nodes of each part of the drawing: per script, its body's nodes and each function's.
struct Parts<'g> {
    graph: &'g Graph,
}

impl Parts<'_> {
    fn body(&self, script: &str) -> impl Iterator<Item = usize> + '_ {
        let script = script.to_string();
        self.graph
            .nodes
            .iter()
            .enumerate()
            .filter(move |(_, n)| n.script == script && n.function.is_none() && n.kind != NodeKind::Script)
            .map(|(id, _)| id)
    }

    fn function(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        self.graph.nodes.iter().enumerate().filter(move |(_, n)| n.function == Some(index)).map(|(id, _)| id)
    }

    fn outside(&self) -> impl Iterator<Item = usize> + '_ {
        self.graph.nodes.iter().enumerate().filter(|(_, n)| n.kind == NodeKind::Script).map(|(id, _)| id)
    }
}

// Mermaid.

/// Text inside a quoted Mermaid label: `#`, `"`, `<`, `>`, `&` and backticks as entity codes,
/// so that no label can end the string, open HTML or start a Markdown string.
fn mermaid_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn mermaid_node(out: &mut String, graph: &Graph, overlay: &Overlay, id: usize, indent: &str) {
    let node = &graph.nodes[id];
    let (label, place) = node_text(node);
    let mut text = mermaid_escape(&label);
    if let Some(place) = place {
        text.push_str("<br/>");
        text.push_str(&mermaid_escape(&place));
    }
    if let Some(counts) = overlay.nodes.get(&id) {
        text.push_str("<br/>");
        text.push_str(&mermaid_escape(&counts.note()));
    }
    let (open, close) = match node.kind {
        NodeKind::Start | NodeKind::Function | NodeKind::Script => ("([", "])"),
        NodeKind::End => ("((", "))"),
        NodeKind::Decision | NodeKind::Try => ("{", "}"),
        NodeKind::Loop => ("{{", "}}"),
        NodeKind::Call => ("[[", "]]"),
        NodeKind::Verb if is_input(node) => ("[/", "/]"),
        NodeKind::Verb => ("[", "]"),
    };
    let _ = writeln!(out, "{indent}n{id}{open}\"{text}\"{close}");
}

fn mermaid(graph: &Graph, overlay: &Overlay) -> String {
    let parts = Parts { graph };
    let mut out = String::from("flowchart TD\n");
    let several = graph.scripts.len() > 1;
    for (index, script) in graph.scripts.iter().enumerate() {
        let indent = if several { "    " } else { "  " };
        if several {
            let _ = writeln!(out, "  subgraph s{index}[\"{}\"]", mermaid_escape(&script.name));
        }
        for id in parts.body(&script.name) {
            mermaid_node(&mut out, graph, overlay, id, indent);
        }
        for (f, function) in graph.functions.iter().enumerate().filter(|(_, f)| f.script == script.name) {
            let title = match &function.name {
                Some(name) => format!("fn {name}"),
                None => "closure".to_string(),
            };
            let _ = writeln!(out, "{indent}subgraph f{f}[\"{}\"]", mermaid_escape(&title));
            for id in parts.function(f) {
                mermaid_node(&mut out, graph, overlay, id, &format!("{indent}  "));
            }
            let _ = writeln!(out, "{indent}end");
        }
        if several {
            out.push_str("  end\n");
        }
    }
    for id in parts.outside() {
        mermaid_node(&mut out, graph, overlay, id, "  ");
    }
    for (index, edge) in graph.edges.iter().enumerate() {
        let arrow = match edge.kind {
            EdgeKind::Call | EdgeKind::Retry => "-.->",
            EdgeKind::Pass | EdgeKind::Invoke => "==>",
            _ => "-->",
        };
        match edge_text(edge, overlay, index) {
            Some(text) => {
                let _ = writeln!(out, "  n{} {arrow}|\"{}\"| n{}", edge.from, mermaid_escape(&text), edge.to);
            }
            None => {
                let _ = writeln!(out, "  n{} {arrow} n{}", edge.from, edge.to);
            }
        }
    }
    let high = |id: usize| overlay.nodes.get(&id).is_some_and(|c| c.high());
    let class = |pick: &dyn Fn(usize, &Node) -> bool| -> Vec<String> {
        graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(id, n)| pick(*id, n))
            .map(|(id, _)| format!("n{id}"))
            .collect()
    };
    // A node takes one class, so that the warning colour is not left to CSS order.
    let classes: [(&str, &str, Vec<String>); 4] = [
        (
            "input",
            "fill:#fff4d6,stroke:#b8860b",
            class(&|id, n| n.kind == NodeKind::Verb && is_input(n) && !high(id)),
        ),
        ("confusing", "fill:#ffb3a7,stroke:#c62828,stroke-width:3px", class(&|id, _| high(id))),
        ("exit", "fill:#fde2e1,stroke:#b22222", class(&|_, n| n.kind == NodeKind::Verb && is_exit(n))),
        (
            "unresolved",
            "stroke-dasharray:4 3",
            class(&|_, n| {
                n.target.as_ref().is_some_and(|t| t.name.is_none() || t.exists == Some(false))
                    || n.prompts.iter().any(|p| p.kind == "computed" && p.option.is_none())
            }),
        ),
    ];
    for (name, style, members) in classes {
        if !members.is_empty() {
            let _ = writeln!(out, "  classDef {name} {style}");
            let _ = writeln!(out, "  class {} {name}", members.join(","));
        }
    }
    out
}

// Graphviz.

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace(['\n', '\r'], " ")
}

fn dot_node(out: &mut String, graph: &Graph, overlay: &Overlay, id: usize, indent: &str) {
    let node = &graph.nodes[id];
    let (label, place) = node_text(node);
    let mut text = dot_escape(&label);
    if let Some(place) = place {
        text.push_str("\\n");
        text.push_str(&dot_escape(&place));
    }
    let counts = overlay.nodes.get(&id);
    if let Some(counts) = counts {
        text.push_str("\\n");
        text.push_str(&dot_escape(&counts.note()));
    }
    let shape = match node.kind {
        NodeKind::Start | NodeKind::Function | NodeKind::Script => "shape=oval",
        NodeKind::End => "shape=doublecircle",
        NodeKind::Decision | NodeKind::Try => "shape=diamond",
        NodeKind::Loop => "shape=hexagon",
        NodeKind::Call => "shape=box, peripheries=2",
        NodeKind::Verb if is_input(node) => "shape=parallelogram",
        NodeKind::Verb => "shape=box",
    };
    let missing = node.target.as_ref().is_some_and(|t| t.exists == Some(false));
    let style = if counts.is_some_and(|c| c.high()) {
        ", style=filled, fillcolor=\"#ffb3a7\", color=\"#c62828\", penwidth=3"
    } else if missing {
        ", style=dashed"
    } else {
        ""
    };
    let _ = writeln!(out, "{indent}n{id} [label=\"{text}\", {shape}{style}];");
}

fn dot(graph: &Graph, overlay: &Overlay) -> String {
    let parts = Parts { graph };
    let mut out = String::from("digraph rivr {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n");
    let several = graph.scripts.len() > 1;
    for (index, script) in graph.scripts.iter().enumerate() {
        let indent = if several { "    " } else { "  " };
        if several {
            let _ =
                writeln!(out, "  subgraph cluster_s{index} {{\n    label=\"{}\";", dot_escape(&script.name));
        }
        for id in parts.body(&script.name) {
            dot_node(&mut out, graph, overlay, id, indent);
        }
        for (f, function) in graph.functions.iter().enumerate().filter(|(_, f)| f.script == script.name) {
            let title = function.name.as_ref().map_or("closure".to_string(), |name| format!("fn {name}"));
            let _ = writeln!(
                out,
                "{indent}subgraph cluster_f{f} {{\n{indent}  label=\"{}\";",
                dot_escape(&title)
            );
            for id in parts.function(f) {
                dot_node(&mut out, graph, overlay, id, &format!("{indent}  "));
            }
            let _ = writeln!(out, "{indent}}}");
        }
        if several {
            out.push_str("  }\n");
        }
    }
    for id in parts.outside() {
        dot_node(&mut out, graph, overlay, id, "  ");
    }
    for (index, edge) in graph.edges.iter().enumerate() {
        let mut attributes = Vec::new();
        if let Some(text) = edge_text(edge, overlay, index) {
            attributes.push(format!("label=\"{}\"", dot_escape(&text)));
        }
        // The way most callers go is drawn widest.
        if let Some(count) = overlay.edges.get(&index) {
            attributes.push(format!("penwidth={:.1}", 1.0 + 4.0 * count.share));
        }
        match edge.kind {
            EdgeKind::Call | EdgeKind::Retry => attributes.push("style=dashed".into()),
            EdgeKind::Pass | EdgeKind::Invoke => attributes.push("style=bold".into()),
            _ => {}
        }
        let attributes =
            if attributes.is_empty() { String::new() } else { format!(" [{}]", attributes.join(", ")) };
        let _ = writeln!(out, "  n{} -> n{}{attributes};", edge.from, edge.to);
    }
    out.push_str("}\n");
    out
}

// JSON.

fn json(graph: &Graph, overlay: &Overlay) -> Value {
    let scripts: Vec<Value> =
        graph.scripts.iter().map(|s| json!({"name": s.name, "start": format!("n{}", s.start)})).collect();
    let functions: Vec<Value> = graph
        .functions
        .iter()
        .enumerate()
        .map(|(index, f)| {
            json!({
                "id": format!("f{index}"),
                "script": f.script,
                "name": f.name,
                "params": f.params,
                "entry": format!("n{}", f.entry),
            })
        })
        .collect();
    let nodes: Vec<Value> =
        graph.nodes.iter().enumerate().map(|(id, node)| json_node(id, node, overlay)).collect();
    let edges: Vec<Value> = graph
        .edges
        .iter()
        .enumerate()
        .map(|(index, e)| {
            let mut edge = Map::new();
            edge.insert("from".into(), format!("n{}", e.from).into());
            edge.insert("to".into(), format!("n{}", e.to).into());
            edge.insert("kind".into(), e.kind.as_str().into());
            if let Some(label) = &e.label {
                edge.insert("label".into(), label.clone().into());
            }
            if let Some(stats) = overlay.edge_json(index) {
                edge.insert("stats".into(), stats);
            }
            Value::Object(edge)
        })
        .collect();
    json!({
        "format": "rivr-graph",
        "version": 1,
        "scripts": scripts,
        "functions": functions,
        "nodes": nodes,
        "edges": edges,
    })
}

fn json_node(id: usize, node: &Node, overlay: &Overlay) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), format!("n{id}").into());
    out.insert("kind".into(), node.kind.as_str().into());
    out.insert("script".into(), node.script.clone().into());
    out.insert("line".into(), node.line.into());
    out.insert("column".into(), node.column.into());
    out.insert("label".into(), node.label.clone().into());
    if let Some(function) = node.function {
        out.insert("function".into(), format!("f{function}").into());
    }
    if let Some(verb) = &node.verb {
        out.insert("verb".into(), verb.clone().into());
        let prompts: Vec<Value> = node
            .prompts
            .iter()
            .map(|p| {
                let mut prompt = Map::new();
                prompt.insert("kind".into(), p.kind.into());
                if let Some(text) = &p.text {
                    prompt.insert("text".into(), text.clone().into());
                }
                if let Some(option) = &p.option {
                    prompt.insert("option".into(), option.clone().into());
                }
                Value::Object(prompt)
            })
            .collect();
        out.insert("prompts".into(), prompts.into());
    }
    if let Some(value) = &node.value {
        out.insert("value".into(), value.clone().into());
    }
    if !node.targets.is_empty() {
        out.insert("targets".into(), node.targets.clone().into());
    }
    if let Some(target) = &node.target {
        out.insert("target".into(), json!({"name": target.name, "exists": target.exists}));
    }
    if let Some(choices) = &node.choices {
        out.insert("choices".into(), choices.clone().into());
    }
    if let Some(condition) = &node.condition {
        out.insert("condition".into(), condition.clone().into());
    }
    if let Some(calls) = node.calls {
        out.insert("calls".into(), format!("f{calls}").into());
    }
    if let Some(stats) = overlay.node_json(id) {
        out.insert("stats".into(), stats);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::graph::build;
    use crate::flow::syntax::parse;

    fn graph(text: &str) -> Graph {
        build(&[parse("t.rhai", text).expect("parses")], std::path::Path::new("/nonexistent"))
    }

    #[test]
    fn mermaid_labels_cannot_break_out_of_their_quotes() {
        let g = graph("say(\"He said \\\"<b>#1</b>\\\" & `x`\");");
        let text = render(&g, Format::Mermaid);
        let line = text.lines().find(|l| l.contains("say:")).expect("say node");
        assert_eq!(line, "  n1[\"say: #quot;He said \\#quot;#lt;b#gt;#35;1#lt;/b#gt;\\#quot; #amp; #96;x#96;#quot;<br/>t.rhai:1\"]");
    }

    #[test]
    fn long_labels_are_shortened_in_drawings_but_whole_in_json() {
        let long = "x".repeat(100);
        let g = graph(&format!("say(\"{long}\");"));
        // 59 characters of `say: "xxx…`, then the ellipsis.
        assert!(render(&g, Format::Mermaid).contains(&format!("say: #quot;{}…<br/>", "x".repeat(53))));
        assert!(render(&g, Format::Json).contains(&long));
    }

    #[test]
    fn dot_escapes_quotes_and_backslashes() {
        let g = graph("say(\"a \\\"b\\\" \\\\ c\");");
        assert!(render(&g, Format::Dot)
            .contains(r#"n1 [label="say: \"a \\\"b\\\" \\\\ c\"\nt.rhai:1", shape=box];"#));
    }

    #[test]
    fn the_json_document_describes_every_node_and_edge_kind() {
        let doc = include_str!("../../docs/graph-json.md");
        use crate::flow::graph::{EdgeKind as E, NodeKind as N};
        let nodes =
            [N::Start, N::End, N::Verb, N::Decision, N::Loop, N::Try, N::Call, N::Function, N::Script];
        for kind in nodes {
            assert!(doc.contains(&format!("`{}`", kind.as_str())), "node kind {}", kind.as_str());
        }
        let edges = [
            E::Next,
            E::Yes,
            E::No,
            E::Case,
            E::Choice,
            E::Failure,
            E::Retry,
            E::Each,
            E::Done,
            E::Error,
            E::Pass,
            E::Invoke,
            E::Call,
        ];
        for kind in edges {
            assert!(doc.contains(&format!("`{}`", kind.as_str())), "edge kind {}", kind.as_str());
        }
    }

    #[test]
    fn json_names_its_format_and_version_and_links_nodes_by_id() {
        let g = graph("let r = ask(\"say:Hi\");\nif r.status == \"match\" { hangup(); }");
        let value: Value = serde_json::from_str(&render(&g, Format::Json)).expect("valid JSON");
        assert_eq!(value["format"], "rivr-graph");
        assert_eq!(value["version"], 1);
        assert_eq!(value["scripts"][0]["start"], "n0");
        assert_eq!(value["nodes"][1]["prompts"][0], json!({"kind": "speech", "text": "Hi"}));
        assert_eq!(value["nodes"][2]["condition"], "r.status == \"match\"");
        let ids: Vec<&str> =
            value["nodes"].as_array().into_iter().flatten().filter_map(|n| n["id"].as_str()).collect();
        for edge in value["edges"].as_array().into_iter().flatten() {
            assert!(
                ids.contains(&edge["from"].as_str().unwrap_or(""))
                    && ids.contains(&edge["to"].as_str().unwrap_or(""))
            );
        }
    }
}
