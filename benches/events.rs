//! What a call's events cost the call's thread: `call.started`, one `call.verb` per verb of the
//! reference flow (answer, playback, an `ask`, playback, hangup) and `call.ended`, written into
//! a sink's queue, which another thread empties as a sink would. The events' share of a call's
//! CPU in `WHAT=events benches/overhead.sh` is this figure times seven-ish, plus what the
//! sink, NATS and the subscriber cost the machine.
//!
//! `cargo bench --bench events`

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use rivr::call::{
    AskOptions, AskOutcome, AskStatus, CallInfo, CallObserver, Command, HangupCause, Origin, Outcome, Prompt,
};
use rivr::config::Config;
use rivr::events::{sink, CallEvents, EventBus};
use rivr::ops::calls::CallEnding;

/// Calls whose events are written before the other thread takes them: about the events a busy
/// node's sink finds waiting after its linger.
const CALLS_PER_ROUND: usize = 64;

fn verbs() -> Vec<(Command, Result<Outcome, rivr::call::CallError>)> {
    let ask = AskOptions { prompts: vec![Prompt::parse("ivr/ivr-enter_ext.wav")], ..AskOptions::default() };
    let digit =
        AskOutcome { status: AskStatus::Match, digits: "1".into(), terminator: None, keys: Vec::new() };
    vec![
        (Command::Answer, Ok(Outcome::Done)),
        (Command::Play(vec![Prompt::parse("ivr/ivr-welcome.wav")]), Ok(Outcome::Done)),
        (Command::Ask(ask), Ok(Outcome::Ask(digit))),
        (Command::Play(vec![Prompt::parse("ivr/ivr-you_entered.wav")]), Ok(Outcome::Done)),
        (Command::Hangup(HangupCause::normal()), Ok(Outcome::Done)),
    ]
}

fn bench(c: &mut Criterion) {
    let config = Config::parse("events:\n  source: rivr://bench\n", "rivr.yaml").expect("valid");
    let (queue, mut inbox) = sink::queue("nats", "nats", 1 << 14);
    let bus = Arc::new(EventBus::new(&config.events, vec![queue]));
    let verbs = verbs();
    let origin = Origin { source: "main.rhai".into(), line: 4, column: 9, within: None };
    let infos: Vec<CallInfo> = (0..CALLS_PER_ROUND)
        .map(|n| {
            CallInfo::new(format!("1316b196-6459-44a3-af60-d94e0b80{n:04}"), "+14155550000", "+18005550100")
        })
        .collect();
    // The sink's thread: drops what it takes, as NATS does once it has written it.
    let (taken, rounds) = std::sync::mpsc::sync_channel::<()>(0);
    let sink = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let mut batch = Vec::new();
        while rounds.recv().is_ok() {
            while let Some(event) = inbox.events.try_recv() {
                batch.push(event);
            }
            batch.clear();
        }
        drop(rt);
    });
    let mut group = c.benchmark_group("events");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("a_calls_seven_events", |b| {
        b.iter_custom(|iters| {
            let started = std::time::Instant::now();
            let mut left = iters as usize;
            while left > 0 {
                let round = left.min(CALLS_PER_ROUND);
                let calls: Vec<_> = infos[..round]
                    .iter()
                    .map(|info| CallEvents::begin(&bus, info, "main.rhai", "10903a4b").expect("a sink"))
                    .collect();
                // Verb by verb across the calls, as a call thread interleaves them.
                for (command, outcome) in &verbs {
                    for events in &calls {
                        events.verb_started(command, Some(&origin));
                        events.verb_finished(outcome, Duration::from_millis(3));
                    }
                }
                for events in &calls {
                    events.finish(CallEnding::Completed, None);
                }
                taken.send(()).expect("the sink's thread");
                left -= round;
            }
            started.elapsed()
        })
    });
    group.finish();
    drop(taken);
    sink.join().expect("the sink's thread");
}

criterion_group!(benches, bench);
criterion_main!(benches);
