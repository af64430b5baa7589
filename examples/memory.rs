//! Memory per call: N simulated calls, each blocked in `ask` at once, then RSS.
//!
//! `cargo run --release --example memory -- 10000`
//! (several counts: `cargo run --release --example memory -- 100 1000 10000`)

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rivr::call::actor::{self, CallServices};
use rivr::call::fiber::Fibers;
use rivr::call::{CallHandle, CallInfo, CallState};
use rivr::config::Limits;
use rivr::script::runner::{self, CallJob};
use rivr::script::Compiler;
use rivr::switch::sim::{Journal, SimChannel, SimSetup};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let counts: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let counts = if counts.is_empty() { vec![10_000] } else { counts };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let compiler = Compiler::new(".", &Limits::default());
    let script = Arc::new(
        compiler
            .compile(
                "main.rhai",
                &std::env::var("RIVR_MEMORY_SCRIPT")
                    .unwrap_or_else(|_| include_str!("../scripts/main.rhai").to_string()),
            )
            .expect("main.rhai compiles"),
    );
    let fibers = Fibers::new(rivr::script::engine::STACK_SIZE, 1024);
    println!("calls\tbaseline_kib\tblocked_kib\tkib_per_call\tstart_all_ms");
    for n in counts {
        let baseline = rss_kib();
        let waiting = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut senders = Vec::with_capacity(n);
        let mut calls = VecDeque::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            senders.push(tx);
            let info = CallInfo::new(format!("call-{i}"), "5551234", "1000");
            let counter = waiting.clone();
            let channel =
                SimChannel::new(&info, rx, SimSetup::default(), Journal::new()).on_waiting(move || {
                    counter.fetch_add(1, Ordering::Relaxed);
                });
            let body: Box<dyn FnOnce(CallHandle) -> runner::CallReport + Send> =
                if std::env::var("RIVR_MEMORY_NO_SCRIPT").is_ok() {
                    // The floor: the same fiber and task, blocked in ask without a script engine.
                    Box::new(|handle: CallHandle| {
                        let _ = handle.execute(rivr::call::Command::Ask(Default::default()));
                        runner::CallReport {
                            ending: runner::Ending::Cancelled,
                            script: String::new(),
                            on_hangup_error: None,
                        }
                    })
                } else {
                    let job = CallJob::new(info, script.clone());
                    Box::new(move |handle| runner::run(handle, job))
                };
            // As `rivr run` runs a call: the script on a fiber, driven by the call's own task.
            let fiber = fibers.fiber(Arc::new(CallState::default()), body).expect("fiber stack");
            calls.push_back(runtime.spawn(actor::drive(channel, fiber, CallServices::default())));
        }
        while waiting.load(Ordering::Relaxed) < n {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let elapsed = started.elapsed();
        let blocked = rss_kib();
        println!(
            "{n}\t{baseline}\t{blocked}\t{:.1}\t{}",
            (blocked.saturating_sub(baseline)) as f64 / n as f64,
            elapsed.as_millis()
        );
        drop(senders);
        for call in calls {
            let _ = runtime.block_on(call);
        }
    }
}
