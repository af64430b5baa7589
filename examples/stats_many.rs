//! `rivr stats` throughput: write traces of every example scenario once (`rivr test scripts
//! --traces`), copy them to N trace files, and time counting all of them (best of 3).
//!
//! ```sh
//! cargo run --release --example stats_many -- 100000
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let count: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("rivr-stats-bench-{}", std::process::id()));
    let seeds = dir.join("seeds");
    std::fs::create_dir_all(&seeds).expect("temp dir");
    // The scenarios print their own report; only the traces matter here.
    rivr::scenario::cli::run(&[PathBuf::from("scripts")], false, None, Some(&seeds)).expect("scenarios run");
    let texts: Vec<String> = rivr::trace::cli::trace_files(std::slice::from_ref(&seeds))
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("seed trace"))
        .collect();
    assert!(!texts.is_empty(), "the scenarios wrote no traces");
    let many = dir.join("many");
    std::fs::create_dir_all(&many).expect("temp dir");
    for n in 0..count {
        std::fs::write(many.join(format!("{n:08}.trace.jsonl")), &texts[n % texts.len()])
            .expect("write trace");
    }
    let bytes: usize = (0..count).map(|n| texts[n % texts.len()].len()).sum();
    let mut best = Duration::MAX;
    for run in 1..=3 {
        // Listing the directory is part of what `rivr stats DIR` does, so it is timed too.
        let started = Instant::now();
        let files = rivr::trace::cli::trace_files(std::slice::from_ref(&many));
        let (report, errors) = rivr::stats::report::gather(&files);
        let elapsed = started.elapsed();
        assert!(errors.is_empty(), "{}", errors[0]);
        assert_eq!(report.traces as usize, count);
        println!("run {run}: {count} traces in {:.2} s", elapsed.as_secs_f64());
        best = best.min(elapsed);
    }
    println!(
        "best of 3: {count} traces ({:.1} MB, {} distinct) in {:.2} s ({:.0} traces/s, {} threads)",
        bytes as f64 / 1e6,
        texts.len(),
        best.as_secs_f64(),
        count as f64 / best.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
