//! Replay throughput: record calls of `scripts/main.rhai` on the simulator (one per menu path),
//! copy them to N trace files, and time `rivr replay` of all of them against the same script.
//!
//! ```sh
//! cargo run --release --example replay_many -- 10000
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use rivr::trace::{replay_all, ReplayOptions, Verdict};

fn main() {
    let count: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("rivr-replay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // One call per path through the menu: each choice, an invalid key, silence, and after hours.
    let calls = [
        ("1\n", "2026-11-23T10:00:00-05:00"),
        ("2\n", "2026-11-23T10:00:00-05:00"),
        ("3\n", "2026-11-23T10:00:00-05:00"),
        ("0\n", "2026-11-23T10:00:00-05:00"),
        ("9\n1\n", "2026-11-23T10:00:00-05:00"),
        ("\n\n\n", "2026-11-23T10:00:00-05:00"),
        ("2\n", "2026-11-23T19:30:00-05:00"),
    ];
    let mut texts = Vec::new();
    for (n, (input, now)) in calls.iter().enumerate() {
        let path = dir.join(format!("seed-{n}.trace"));
        let options = rivr::console::SimOptions {
            script: "scripts/main.rhai".into(),
            scripts_dir: None,
            from: "5551234".into(),
            to: "1000".into(),
            variables: vec![("rivr_now".into(), (*now).into())],
            dials: Vec::new(),
            limits: rivr::config::Limits::default(),
            fallback: rivr::config::Fallback::default(),
            services: rivr::call::actor::CallServices::default(),
            max_duration: Duration::from_secs(3600),
            trace: Some(path.clone()),
        };
        let input = Box::new(std::io::Cursor::new(input.as_bytes().to_vec()));
        rivr::console::simulate(options, input, Arc::new(|_: &str| {}), false).expect("a seed call");
        texts.push(std::fs::read_to_string(&path).expect("seed trace"));
        std::fs::remove_file(&path).expect("remove seed");
    }
    let paths: Vec<_> = (0..count)
        .map(|n| {
            let path = dir.join(format!("{n:08}.trace.jsonl"));
            std::fs::write(&path, &texts[n % texts.len()]).expect("write trace");
            path
        })
        .collect();
    let options = ReplayOptions { scripts_dir: Some("scripts".into()), ..ReplayOptions::default() };
    let started = Instant::now();
    let results = replay_all(&paths, &options);
    let elapsed = started.elapsed();
    let same = results.iter().filter(|r| r.verdict == Verdict::Same).count();
    println!(
        "replayed {count} traces of scripts/main.rhai in {:.2} s ({:.0} traces/s): {same} same",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
    if let Some(other) = results.iter().find(|r| r.verdict != Verdict::Same) {
        println!("first not same:\n{}", other.render());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
