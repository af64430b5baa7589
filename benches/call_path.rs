//! One whole call's path on FreeSWITCH, without the load generator: the reference flow
//! (`../shared/bench/flow.rhai`: answer, playback, an `ask` with a regex, playback, hangup)
//! over a real loopback socket, with the fake FreeSWITCH of the tests playing the captured bytes
//! and rivr's outbound listener, channel, mapping, fiber and script engine doing the rest. A
//! per-call cost that creeps in (the `ask` regex compiled on every call once cost a tenth of a
//! call's CPU) shows here as a slower call.
//!
//! `cargo bench --bench call_path`

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use rivr::call::actor::{self, CallServices};
use rivr::call::CallInfo;
use rivr::ops::calls::{CallEnding, CallIdentity, LiveCalls};
use rivr::script::runner::{self, CallJob, CallReport, Ending};
use rivr::switch::freeswitch::{outbound, FsSettings};
use tokio::sync::mpsc;

/// The tests' helpers: the fake FreeSWITCH and script compilation.
#[path = "../tests/support/mod.rs"]
mod support;

use support::fake_freeswitch::{self as fake, Scenario};

/// Calls in flight at once.
const CONCURRENT_CALLS: u64 = 32;

/// The reference flow of `../shared/bench/` (kept here so the bench needs nothing outside the
/// repository).
const FLOW: &str = r##"
answer();
play("ivr/ivr-welcome.wav");
let r = ask("ivr/ivr-enter_ext.wav", #{
    min_digits: 1, max_digits: 1, tries: 3, timeout: 5000, terminator: "#",
    invalid: "ivr/ivr-that_was_an_invalid_entry.wav", regex: "\\d"
});
if r.digits == "1" { play("ivr/ivr-you_entered.wav"); } else { play("ivr/ivr-goodbye.wav"); }
hangup();
"##;

/// rivr's outbound listener on a free port, running `FLOW` for every call; with `table`, each
/// call is in the live call table and reports every verb to it, as in `rivr run` with the API.
fn serve(
    rt: &tokio::runtime::Runtime,
    table: Option<Arc<LiveCalls>>,
) -> (std::net::SocketAddr, mpsc::UnboundedReceiver<CallReport>) {
    let script = support::compile("main.rhai", FLOW);
    rt.block_on(async {
        let listener = outbound::bind(([127, 0, 0, 1], 0).into()).expect("bind");
        let addr = listener.local_addr().expect("address");
        let (tx, reports) = mpsc::unbounded_channel();
        let on_call = move |info: CallInfo, channel| {
            let identity = CallIdentity { uuid: info.uuid.clone(), ..CallIdentity::default() };
            let job = CallJob::new(info, script.clone());
            let fiber = runner::fiber(&support::fibers(), job).expect("fiber stack");
            let tx = tx.clone();
            let table = table.clone();
            tokio::spawn(async move {
                let report = match table {
                    None => actor::drive(channel, fiber, CallServices::default()).await,
                    Some(table) => {
                        let (call, observer, hangup) = table.begin(identity);
                        let services = CallServices::default().watched(observer, hangup);
                        let report = actor::drive(channel, fiber, services).await;
                        table.end(&call, CallEnding::of(&report.ending), Some(&report));
                        report
                    }
                };
                let _ = tx.send(report);
            });
        };
        let two = std::num::NonZeroUsize::new(2).expect("two");
        let threads = Arc::new(rivr::call_threads::CallThreads::start(two).expect("call threads"));
        tokio::spawn(outbound::serve(
            listener,
            Arc::new(FsSettings::default()),
            threads,
            on_call,
            std::future::pending(),
        ));
        (addr, reports)
    })
}

fn bench(c: &mut Criterion) {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut group = c.benchmark_group("call_path");
    group.measurement_time(Duration::from_secs(10));
    for (name, table) in [
        ("reference_flow_over_esl", None),
        ("reference_flow_over_esl_in_the_live_call_table", Some(Arc::new(LiveCalls::default()))),
    ] {
        let (addr, mut reports) = serve(&rt, table);
        // 32 calls at a time keep both cores busy, so the figure is CPU per call (the fake's
        // share included), not the latency of one call's round trips.
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let started = std::time::Instant::now();
                    let mut calls = tokio::task::JoinSet::new();
                    for n in 0..iters {
                        if calls.len() as u64 >= CONCURRENT_CALLS {
                            calls.join_next().await.expect("a call").expect("joined");
                        }
                        calls.spawn(async move {
                            let scenario = Scenario { keys: ["1".to_string()].into(), ..Scenario::default() };
                            let log = fake::call(addr, scenario).await;
                            assert!(log.hung_up.is_some(), "call {n}: {:?}", log.lines());
                        });
                    }
                    while let Some(done) = calls.join_next().await {
                        done.expect("joined");
                    }
                    for _ in 0..iters {
                        let report = reports.recv().await.expect("a report");
                        assert_eq!(report.ending, Ending::Completed);
                    }
                    started.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
