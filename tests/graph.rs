//! `rivr graph` on every example script, against the checked-in drawings in
//! `tests/fixtures/graph/` (`<script>.mmd`, `.dot`, `.json`).
//!
//! After a deliberate change to the graph, regenerate them with
//! `RIVR_BLESS=1 cargo test --test graph` and review the diff: the fixtures are what users see.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rivr(args: &[&str]) -> (i32, String, String) {
    let output =
        Command::new(env!("CARGO_BIN_EXE_rivr")).args(args).current_dir(root()).output().expect("run rivr");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The example scripts, by file stem.
fn examples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("scripts"))
        .expect("scripts/")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".rhai").map(str::to_string))
        .collect();
    names.sort();
    names
}

const FORMATS: [(&str, &str); 3] = [("mermaid", "mmd"), ("dot", "dot"), ("json", "json")];

fn fixture(name: &str, extension: &str) -> PathBuf {
    root().join("tests/fixtures/graph").join(format!("{name}.{extension}"))
}

#[test]
fn every_example_draws_as_its_checked_in_fixture_in_every_format() {
    let bless = std::env::var_os("RIVR_BLESS").is_some_and(|v| !v.is_empty());
    let mut differ = Vec::new();
    for name in examples() {
        for (format, extension) in FORMATS {
            let (code, out, err) = rivr(&["graph", &format!("scripts/{name}.rhai"), "--format", format]);
            assert_eq!(code, 0, "rivr graph scripts/{name}.rhai --format {format}: {err}");
            let path = fixture(&name, extension);
            if bless {
                std::fs::create_dir_all(path.parent().expect("parent")).expect("fixture dir");
                std::fs::write(&path, &out).expect("write fixture");
                continue;
            }
            let expected = std::fs::read_to_string(&path).unwrap_or_default();
            if expected != out {
                differ.push(format!("{} (regenerate with RIVR_BLESS=1 and review the diff)", path.display()));
            }
        }
    }
    assert!(differ.is_empty(), "drawings differ from their fixtures:\n{}", differ.join("\n"));
}

#[test]
fn every_fixture_belongs_to_an_example() {
    if std::env::var_os("RIVR_BLESS").is_some_and(|v| !v.is_empty()) {
        return; // being written by the test above
    }
    let expected: BTreeSet<String> = examples()
        .iter()
        .flat_map(|name| FORMATS.iter().map(move |(_, extension)| format!("{name}.{extension}")))
        .collect();
    let found: BTreeSet<String> = std::fs::read_dir(root().join("tests/fixtures/graph"))
        .expect("tests/fixtures/graph")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    assert_eq!(found, expected, "a fixture without its example, or an example without fixtures");
}

fn json(name: &str) -> Value {
    let (code, out, err) = rivr(&["graph", &format!("scripts/{name}.rhai"), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("valid JSON")
}

fn nodes(graph: &Value) -> &Vec<Value> {
    graph["nodes"].as_array().expect("nodes")
}

#[test]
fn every_node_points_at_the_line_that_runs_it() {
    for name in examples() {
        let graph = json(&name);
        let text = std::fs::read_to_string(root().join(format!("scripts/{name}.rhai"))).expect("script");
        let lines: Vec<&str> = text.lines().collect();
        let ids: BTreeSet<&str> = nodes(&graph).iter().filter_map(|n| n["id"].as_str()).collect();
        for edge in graph["edges"].as_array().expect("edges") {
            for end in ["from", "to"] {
                assert!(ids.contains(edge[end].as_str().unwrap_or("")), "{name}: edge to nowhere: {edge}");
            }
        }
        for node in nodes(&graph) {
            let (Some(verb), Some(line)) = (node["verb"].as_str(), node["line"].as_u64()) else { continue };
            let source = lines[line as usize - 1];
            let called = verb.rsplit("::").next().unwrap_or(verb);
            let column = node["column"].as_u64().unwrap_or(0) as usize;
            let at: String = source.chars().skip(column.saturating_sub(1)).collect();
            assert!(
                at.starts_with(verb) || at.starts_with(called),
                "{name}:{line}:{column}: node {verb} points at `{source}`"
            );
        }
    }
}

#[test]
fn the_main_menu_graph_has_its_choices_its_dial_outcome_and_its_pass() {
    let graph = json("main");
    let nodes = nodes(&graph);
    let label = |id: &str| {
        nodes.iter().find(|n| n["id"] == id).map(|n| n["label"].as_str().unwrap_or("").to_string())
    };
    let menu = nodes
        .iter()
        .find(|n| n["verb"] == "menu" && n["line"] == 52)
        .expect("the office-hours menu at main.rhai:52");
    assert_eq!(menu["choices"], serde_json::json!(["1", "2", "3", "0"]));
    let out: Vec<(String, String, String)> = graph["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|e| e["from"] == menu["id"])
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or("").to_string(),
                e["label"].as_str().unwrap_or("").to_string(),
                label(e["to"].as_str().unwrap_or("")).unwrap_or_default(),
            )
        })
        .collect();
    let expected = [
        ("choice", "1", "play: ivr/ivr-hold_connect_call.wav"),
        ("choice", "2", "say: \"Please leave your message after the tone. Press pound when you are done.\""),
        ("choice", "3", "say: \"You are calling from\""),
        ("choice", "0", "transfer: operator"),
        ("failure", "", "say: \"We did not get a valid choice.\""),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(k, l, t)| (k.to_string(), l.to_string(), t.to_string())).collect();
    assert_eq!(out, expected);
    // The dial's outcome is a decision with both ways drawn.
    let decision =
        nodes.iter().find(|n| n["condition"] == "result.status != \"answered\"").expect("dial decision");
    let ways: BTreeSet<&str> = graph["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|e| e["from"] == decision["id"])
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(ways, BTreeSet::from(["yes", "no"]));
    // After hours, 2 passes the call to voicemail.rhai, which exists.
    let pass = nodes.iter().find(|n| n["verb"] == "pass").expect("pass");
    assert_eq!(pass["target"], serde_json::json!({"name": "voicemail.rhai", "exists": true}));
}

#[test]
fn a_directory_is_drawn_whole_with_passes_reaching_the_script_they_name() {
    let (code, out, err) = rivr(&["graph", "scripts", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let graph: Value = serde_json::from_str(&out).expect("valid JSON");
    let scripts: Vec<&str> =
        graph["scripts"].as_array().expect("scripts").iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(scripts.len(), examples().len());
    let voicemail = graph["scripts"]
        .as_array()
        .expect("scripts")
        .iter()
        .find(|s| s["name"] == "voicemail.rhai")
        .expect("voicemail");
    let passes: Vec<&Value> =
        graph["edges"].as_array().expect("edges").iter().filter(|e| e["kind"] == "pass").collect();
    // main.rhai (after hours) and transfer_chain.rhai both end in voicemail.rhai's start.
    assert_eq!(passes.len(), 2);
    assert!(passes.iter().all(|e| e["to"] == voicemail["start"]), "{passes:?}");
    // Every drawn script's start is a node of the graph.
    for script in graph["scripts"].as_array().expect("scripts") {
        assert!(nodes(&graph).iter().any(|n| n["id"] == script["start"] && n["kind"] == "start"));
    }
}

#[test]
fn the_readme_shows_the_main_menu_as_rivr_graph_draws_it() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let drawn = std::fs::read_to_string(fixture("main", "mmd")).expect("main.mmd");
    let block = format!("```mermaid\n{drawn}```");
    assert!(
        readme.contains(&block),
        "README.md must show `rivr graph scripts/main.rhai` in a ```mermaid block"
    );
}

#[test]
fn a_script_that_does_not_parse_is_reported_with_its_place_and_exit_1() {
    let (code, out, err) = rivr(&["graph", "tests/fixtures/scripts/syntax_error.rhai"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.starts_with("tests/fixtures/scripts/syntax_error.rhai:2:"), "{err}");
}

#[test]
fn an_unknown_format_or_path_is_refused() {
    let (code, _, err) = rivr(&["graph", "scripts/main.rhai", "--format", "svg"]);
    assert_eq!(code, 2);
    assert!(err.contains("use mermaid, dot or json"), "{err}");
    let (code, _, err) = rivr(&["graph", "no/such/dir"]);
    assert_eq!(code, 2);
    assert!(err.contains("no/such/dir: no such file or directory"), "{err}");
}
