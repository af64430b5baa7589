//! `rivr stats` over traces written by `rivr test --traces` on the example scripts.

use std::path::Path;
use std::process::Command;

fn rivr() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rivr"))
}

/// Traces of every example scenario, in a fresh directory.
fn example_traces(dir: &Path) {
    let status = rivr()
        .args(["test", "scripts", "--traces"])
        .arg(dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("rivr test runs");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
}

fn stats_json(dir: &Path) -> (serde_json::Value, String) {
    let out = rivr().args(["stats", "--format", "json"]).arg(dir).output().expect("rivr stats runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (serde_json::from_slice(&out.stdout).expect("json"), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn site<'a>(report: &'a serde_json::Value, script: &str, at: &str) -> &'a serde_json::Value {
    let flow = report["flows"].as_array().unwrap().iter().find(|f| f["script"] == script).expect("flow");
    flow["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site"] == at)
        .unwrap_or_else(|| panic!("{at} in {flow}"))
}

#[test]
fn stats_count_each_menu_visit_under_the_scripts_own_line_with_outcomes_retries_and_choices() {
    let dir = tempfile::tempdir().unwrap();
    example_traces(dir.path());
    let (report, _) = stats_json(dir.path());
    // voicemail.rhai's review menu: the verbs run inside the stdlib, the counts land on line 70.
    let menu = site(&report, "voicemail.rhai", "voicemail.rhai:70");
    assert_eq!(menu["function"], "menu");
    let reached = menu["reached"].as_u64().unwrap();
    let ended =
        ["match", "nomatch", "noinput", "hung_up"].iter().map(|k| menu[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(reached, ended, "every visit ends one way: {menu}");
    let chosen: u64 = menu["choices"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(chosen, menu["match"].as_u64().unwrap(), "each match names its key: {menu}");
    assert!(menu["retries"].as_u64().unwrap() > 0, "{menu}");
    assert!(!report.to_string().contains("rivr/menu"), "no site is a stdlib position");
}

#[test]
fn the_funnel_gives_each_sites_share_of_calls_drop_offs_and_median_time() {
    let dir = tempfile::tempdir().unwrap();
    example_traces(dir.path());
    let (report, _) = stats_json(dir.path());
    let flow = report["flows"].as_array().unwrap().iter().find(|f| f["script"] == "survey.rhai").unwrap();
    let calls = flow["calls"].as_u64().unwrap();
    for site in flow["sites"].as_array().unwrap() {
        let funnel = &site["funnel"];
        let share = funnel["share"].as_f64().unwrap();
        assert!((share - funnel["calls"].as_u64().unwrap() as f64 / calls as f64).abs() < 1e-9);
        assert!(funnel["median_ms"].is_u64() && funnel["dropped"].is_u64());
    }
    let first = &flow["sites"][0]["funnel"];
    assert_eq!(first["share"].as_f64(), Some(1.0), "every survey call reaches the first question");
}

#[test]
fn a_corrupt_trace_is_reported_with_its_file_and_line_and_the_rest_still_counts() {
    let dir = tempfile::tempdir().unwrap();
    example_traces(dir.path());
    let (before, _) = stats_json(dir.path());
    std::fs::write(dir.path().join("zz-broken.trace.jsonl"), "{\"trace\":1,\"call\":{}}\n{not json\n")
        .unwrap();
    let (after, stderr) = stats_json(dir.path());
    assert!(stderr.contains("zz-broken.trace.jsonl:1"), "{stderr}");
    assert_eq!(before["traces"], after["traces"]);
}
