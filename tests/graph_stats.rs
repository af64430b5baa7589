//! `rivr graph --stats`: the counts of `rivr stats --format json`, from traces of the example
//! scenarios (`rivr test scripts --traces`), laid over the graph of the example scripts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

fn rivr(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_rivr"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run rivr");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Traces of every example scenario and their `rivr stats --format json`, made once for all
/// tests (a static is never dropped, so this temp dir outlives the run: it is a few hundred kB).
fn stats_file() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let traces = dir.path().join("traces");
        let (code, _, err) = rivr(&["test", "scripts", "--traces", traces.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let (code, out, err) = rivr(&["stats", "--format", "json", traces.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        std::fs::write(dir.path().join("stats.json"), out).expect("write stats");
        dir
    });
    dir.path().join("stats.json")
}

fn stats() -> Value {
    serde_json::from_str(&std::fs::read_to_string(stats_file()).unwrap()).unwrap()
}

/// A site's counts summed over every flow that reached it, as the overlay sums them.
fn site_total(stats: &Value, at: &str, field: &str) -> u64 {
    let sites = stats["flows"].as_array().unwrap().iter().flat_map(|f| f["sites"].as_array().unwrap());
    sites.filter(|s| s["site"] == at).map(|s| s[field].as_u64().unwrap()).sum()
}

fn choice_total(stats: &Value, at: &str, key: &str) -> u64 {
    let sites = stats["flows"].as_array().unwrap().iter().flat_map(|f| f["sites"].as_array().unwrap());
    sites.filter(|s| s["site"] == at).filter_map(|s| s["choices"][key].as_u64()).sum()
}

fn graph(script: &str, format: &str, stats: &Path) -> (String, String) {
    let (code, out, err) = rivr(&["graph", script, "--format", format, "--stats", stats.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    (out, err)
}

fn node_at<'a>(graph: &'a Value, script: &str, line: u64) -> &'a Value {
    graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["script"] == script && n["line"] == line && n["kind"] == "verb")
        .unwrap_or_else(|| panic!("no verb at {script}:{line}"))
}

#[test]
fn each_menu_node_carries_its_visits_and_each_choice_edge_how_often_it_was_taken() {
    let stats = stats();
    let (out, err) = graph("scripts/main.rhai", "json", &stats_file());
    assert!(err.is_empty(), "a matching stats file gives no warning: {err}");
    let graph: Value = serde_json::from_str(&out).unwrap();
    let menu = node_at(&graph, "main.rhai", 52);
    assert_eq!(menu["stats"]["reached"].as_u64(), Some(site_total(&stats, "main.rhai:52", "reached")));
    assert_eq!(menu["stats"]["noinput"].as_u64(), Some(site_total(&stats, "main.rhai:52", "noinput")));
    let id = menu["id"].as_str().unwrap();
    let edges: Vec<&Value> = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["from"] == id && e["kind"] == "choice")
        .collect();
    assert_eq!(edges.len(), 4, "{edges:?}");
    for edge in edges {
        let key = edge["label"].as_str().unwrap();
        let count = choice_total(&stats, "main.rhai:52", key);
        assert_eq!(edge["stats"]["count"].as_u64(), Some(count), "choice {key}");
        let share = count as f64 / menu["stats"]["reached"].as_f64().unwrap();
        assert!((edge["stats"]["share"].as_f64().unwrap() - share).abs() < 1e-9);
    }
    // Nodes that are no input have no counts.
    assert!(node_at(&graph, "main.rhai", 31).get("stats").is_none());
}

#[test]
fn an_input_with_a_high_noinput_share_takes_the_warning_class_and_shows_the_share_in_mermaid() {
    let stats = stats();
    // survey.rhai:47 (the comment question): callers often say nothing.
    let reached = site_total(&stats, "survey.rhai:47", "reached");
    let noinput = site_total(&stats, "survey.rhai:47", "noinput");
    assert!(noinput as f64 / reached as f64 >= 0.2, "the fixture needs a high no-input share");
    let (json, _) = graph("scripts/survey.rhai", "json", &stats_file());
    let json: Value = serde_json::from_str(&json).unwrap();
    let (mermaid, _) = graph("scripts/survey.rhai", "mermaid", &stats_file());
    assert!(mermaid.contains("classDef confusing "), "{mermaid}");
    let members: Vec<&str> = mermaid
        .lines()
        .find_map(|l| l.trim().strip_prefix("class ").and_then(|l| l.strip_suffix(" confusing")))
        .expect("a class line for confusing nodes")
        .split(',')
        .collect();
    for node in json["nodes"].as_array().unwrap().iter().filter(|n| n.get("stats").is_some()) {
        let high = node["stats"]["high"].as_bool().unwrap();
        let id = node["id"].as_str().unwrap();
        assert_eq!(members.contains(&id), high, "{node}");
    }
    let id = node_at(&json, "survey.rhai", 47)["id"].as_str().unwrap();
    assert!(members.contains(&id));
    let share = (noinput as f64 / reached as f64 * 100.0).round();
    let label = mermaid.lines().find(|l| l.trim_start().starts_with(&format!("{id}["))).unwrap();
    assert!(label.contains(&format!("{reached} reached · noinput {share}%")), "{label}");
}

#[test]
fn dot_writes_the_counts_in_labels_and_fills_confusing_inputs() {
    let stats = stats();
    let (dot, _) = graph("scripts/main.rhai", "dot", &stats_file());
    let count = choice_total(&stats, "main.rhai:52", "0");
    assert!(dot.contains(&format!("label=\"0: {count} (")), "{dot}");
    assert!(dot.contains("penwidth="));
    // main.rhai:44 (the after-hours menu) ends in no valid choice as often as not.
    let line = dot.lines().find(|l| l.contains("main.rhai:44\\n")).expect("the after-hours menu");
    assert!(line.contains("fillcolor=\"#ffb3a7\""), "{line}");
}

#[test]
fn stats_of_another_version_of_the_script_give_a_warning_and_a_graph_without_counts() {
    let mut stats = stats();
    for flow in stats["flows"].as_array_mut().unwrap() {
        for site in flow["sites"].as_array_mut().unwrap() {
            let line = site["line"].as_u64().unwrap() + 1000;
            site["line"] = line.into();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let moved = dir.path().join("old.json");
    std::fs::write(&moved, stats.to_string()).unwrap();
    let (out, err) = graph("scripts/main.rhai", "mermaid", &moved);
    assert!(err.contains("warning: ") && err.contains("another version"), "{err}");
    assert!(!out.contains("reached") && !out.contains("confusing"), "{out}");
    let (plain, _) = {
        let (code, out, err) = rivr(&["graph", "scripts/main.rhai"]);
        assert_eq!(code, 0);
        (out, err)
    };
    assert_eq!(out, plain, "without matching sites the drawing is the plain graph");
}

#[test]
fn a_file_that_is_not_stats_json_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = PathBuf::from(dir.path()).join("bad.json");
    std::fs::write(&bad, "not json").unwrap();
    let (code, _, err) = rivr(&["graph", "scripts/main.rhai", "--stats", bad.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("bad.json") && err.contains("rivr stats --format json"), "{err}");
}
