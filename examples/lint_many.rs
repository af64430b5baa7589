//! `rivr check` with the flow lint on many scripts: generates N scripts (the examples of
//! `scripts/`, repeated) in a temporary directory, then times what `rivr check` does on them.
//!
//! `cargo run --release --example lint_many -- 1000`
//! (`--keep DIR` writes the scripts to DIR and leaves them there, to time the binary too:
//! `time target/release/rivr check DIR`)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rivr::check::{check_paths_with, CheckOptions};
use rivr::config::Limits;
use rivr::flow::lint;

/// Write `count` scripts to `dir`: each example in turn under a numbered name, plus the
/// `voicemail.rhai` that the examples pass to.
fn generate(dir: &Path, count: usize) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let mut texts: Vec<(String, String)> = rivr::script::store::script_files(&examples)
        .into_iter()
        .map(|path| {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            (stem, std::fs::read_to_string(&path).expect("read an example"))
        })
        .collect();
    texts.sort();
    std::fs::create_dir_all(dir).expect("create the directory");
    std::fs::write(
        dir.join("voicemail.rhai"),
        &texts.iter().find(|(s, _)| s == "voicemail").expect("voicemail").1,
    )
    .expect("write");
    for n in 1..count {
        let (stem, text) = &texts[n % texts.len()];
        // A different text for every script, as in a real directory.
        std::fs::write(dir.join(format!("{stem}_{n:04}.rhai")), format!("// copy {n}\n{text}"))
            .expect("write");
    }
}

fn best_of(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut result = 0;
    for _ in 0..runs {
        let started = Instant::now();
        result = f();
        best = best.min(started.elapsed());
    }
    (best, result)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut count = 1000;
    let mut keep: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--keep" => keep = args.next().map(PathBuf::from),
            other => count = other.parse().expect("a number of scripts"),
        }
    }
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = keep.clone().unwrap_or_else(|| temp.path().to_path_buf());
    generate(&dir, count);
    let paths = vec![dir.clone()];
    let limits = Limits::default();

    let compile_only = CheckOptions { lint: false, ..Default::default() };
    let (compile, checked) = best_of(3, || check_paths_with(&paths, &limits, &compile_only).checked);
    let (full, warnings) =
        best_of(3, || check_paths_with(&paths, &limits, &CheckOptions::default()).warnings.len());
    let (lint_alone, _) = best_of(3, || {
        let (root, files) = rivr::flow::scripts_of(&dir).expect("scripts");
        let sources: Vec<lint::Source> =
            files.iter().map(|file| rivr::flow::parse_file(&root, file).expect("parses")).collect();
        lint::lint(&sources, &root, &lint::Settings::default()).len()
    });
    println!("{checked} scripts (best of 3):");
    println!("  rivr check --no-lint (compile every script with its imports): {:>7.1} ms", ms(compile));
    println!("  rivr check (compile, then the flow lint):                   {:>7.1} ms", ms(full));
    println!("  the flow lint alone (parse and lint, no compile):           {:>7.1} ms", ms(lint_alone));
    println!("  warnings: {warnings}");
    if let Some(dir) = keep {
        println!("scripts kept in {}", dir.display());
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
