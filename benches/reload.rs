//! Save-to-new-version latency: the time from a 200-line script being saved (written to a
//! temporary file and renamed over, as most editors do) to a new call getting the new version,
//! with the watcher at its default debounce. Prints p50/p90/p99/max over `RIVR_BENCH_SAVES`
//! saves (default 100).
//!
//! `cargo bench --bench reload`
//!
//! A new call takes `store.get(...)` at its start, so the bench polls exactly that every 100 µs
//! after each save; then (outside the timing) it runs a call on the simulated switch to check
//! the version served really is the one saved.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rivr::config::Limits;
use rivr::script::runner::Ending;
use rivr::script::watch::DEFAULT_DEBOUNCE;
use rivr::script::{ScriptStore, ScriptWatcher};

/// The tests' helpers: a call on the simulated switch, run as `rivr run` runs one.
#[path = "../tests/support/mod.rs"]
mod support;

/// A 200-line script whose first spoken line is `version <n>`.
fn script(version: usize) -> String {
    let mut text = format!("// generated for the reload bench\nanswer();\nsay(\"version {version}\");\n");
    let mut lines = 3;
    let mut f = 0;
    while lines + 6 <= 199 {
        text.push_str(&format!(
            "fn step_{f}(x) {{\n    let y = x * {f} + 1;\n    if y % 2 == 0 {{\n        return y / 2;\n    }}\n    y\n}}\n"
        ));
        lines += 7;
        f += 1;
    }
    while lines < 199 {
        text.push_str(&format!("let v{lines} = step_0({lines});\n"));
        lines += 1;
    }
    text.push_str("hangup();\n");
    text
}

fn save_by_rename(path: &Path, text: &str) {
    let temp = path.with_file_name(".main.rhai.swp-bench");
    std::fs::write(&temp, text).expect("write");
    std::fs::rename(&temp, path).expect("rename");
}

/// What a new call to `main.rhai` says first.
fn first_words(rt: &tokio::runtime::Runtime, store: &ScriptStore) -> String {
    let script = store.get("main.rhai").expect("served");
    let (report, lines) = support::run_on(rt, script, support::SimCall::default());
    assert_eq!(report.ending, Ending::Completed);
    lines.get(1).cloned().unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn main() {
    let saves: usize = std::env::var("RIVR_BENCH_SAVES").ok().and_then(|n| n.parse().ok()).unwrap_or(100);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("main.rhai");
    std::fs::write(&path, script(0)).expect("write");
    assert_eq!(script(0).lines().count(), 200);
    let (store, problems) = ScriptStore::load(dir.path(), &Limits::default());
    assert!(problems.is_empty(), "{problems:?}");
    let store = Arc::new(store);
    let _watcher = ScriptWatcher::start(store.clone(), DEFAULT_DEBOUNCE);
    // Let the watcher settle before the first save.
    std::thread::sleep(Duration::from_millis(200));

    let mut latencies = Vec::with_capacity(saves);
    for n in 1..=saves {
        let before = store.get("main.rhai").expect("served").version;
        let text = script(n);
        let saved = Instant::now();
        save_by_rename(&path, &text);
        loop {
            if store.get("main.rhai").is_some_and(|s| s.version != before) {
                break;
            }
            assert!(saved.elapsed() < Duration::from_secs(10), "save {n} never became visible");
            std::thread::sleep(Duration::from_micros(100));
        }
        latencies.push(saved.elapsed());
        assert_eq!(first_words(&rt, &store), format!("say: \"version {n}\""));
        // Space the saves out as a person would, beyond one debounce window.
        std::thread::sleep(Duration::from_millis(20 + (n as u64 * 7) % 60));
    }
    latencies.sort();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!(
        "reload: save → new calls on the new version, {} saves of a 200-line script, debounce {} ms: \
         p50 {}, p90 {}, p99 {}, max {}",
        latencies.len(),
        DEFAULT_DEBOUNCE.as_millis(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies[latencies.len() - 1]),
    );
}
