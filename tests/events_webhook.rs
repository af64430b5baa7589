//! The webhook sink end to end: events from the bus through a sink's bounded queue and its
//! delivery task to an HTTP receiver on 127.0.0.1 started by the test, which answers, fails,
//! refuses, stalls or is not there at all.
//!
//! Every test asserts on what arrived and on the sink's counts; none on how long anything took.
//! Timeouts and backoffs are either tiny (so retries are quick) or huge (so the task is known to
//! be stuck where the test put it).

#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cloudevents::AttributesReader;
use hmac::{Hmac, KeyInit, Mac};
use http_server::{Received, Reply};
use rivr::config::Config;
use rivr::events::sink::{self, SinkReading, SinkStats};
use rivr::events::{webhook, EventBus};
use sha2::Sha256;
use support::{runtime, wait_for};

const SECRET: &str = "correct horse battery staple";

/// A bus with one webhook sink configured by `settings` (YAML lines under the webhook entry)
/// and pointed at `url`; its delivery task is not started yet, so events emitted now wait in
/// the queue.
struct Sink {
    /// None once closed, as rivr's shutdown drops it.
    bus: Option<EventBus>,
    config: rivr::config::Webhook,
    inbox: Option<sink::SinkInbox>,
    stats: Arc<SinkStats>,
}

impl Sink {
    fn new(url: &str, settings: &str) -> Sink {
        let yaml = format!("events:\n  source: rivr://test-node\n  webhooks:\n    - url: {url}\n{settings}");
        let config =
            Config::parse_with_env(&yaml, "rivr.yaml", &|_| None).unwrap_or_else(|error| panic!("{error}"));
        let webhook = config.events.webhooks[0].clone();
        let (queue, inbox) = sink::queue(&webhook.display_name(), "webhook", webhook.queue.get());
        let stats = inbox.stats.clone();
        Sink {
            bus: Some(EventBus::new(&config.events, vec![queue])),
            config: webhook,
            inbox: Some(inbox),
            stats,
        }
    }

    /// Start the delivery task on `rt`.
    fn start(&mut self, rt: &tokio::runtime::Runtime) -> tokio::task::JoinHandle<()> {
        let _entered = rt.enter();
        webhook::start(&self.config, self.inbox.take().expect("started once")).expect("sink starts")
    }

    /// Emit `n` events, `script.reloaded` of `main.rhai` at versions `from`, `from + 1`, …, so
    /// each carries its place in `data.version`.
    fn emit(&self, from: usize, n: usize) {
        for version in from..from + n {
            self.bus.as_ref().expect("open").script_reloaded("main.rhai", &version.to_string());
        }
    }

    fn reading(&self) -> SinkReading {
        self.bus.as_ref().expect("open").readings().remove(0)
    }

    /// Close the queue, as rivr's shutdown does.
    fn close(&mut self) {
        self.bus = None;
    }

    /// Delivered and given up, also after closing.
    fn outcome(&self) -> (u64, u64) {
        (self.stats.sent.load(Ordering::Relaxed), self.stats.failed.load(Ordering::Relaxed))
    }
}

/// The versions carried by the events of a request's body, a single event or an array.
fn versions(request: &Received) -> Vec<usize> {
    let value: serde_json::Value = serde_json::from_slice(&request.body).expect("JSON body");
    let events = match value {
        serde_json::Value::Array(events) => events,
        event => vec![event],
    };
    events
        .iter()
        .map(|event| event["data"]["version"].as_str().expect("version").parse().expect("number"))
        .collect()
}

/// Whether `request` carries `X-Rivr-Signature` for its body with `SECRET`, checked with the
/// HMAC crate's constant-time comparison as a receiver would.
fn signed_with_the_secret(request: &Received) -> bool {
    let Some(hex) = request.header("x-rivr-signature").and_then(|value| value.strip_prefix("sha256=")) else {
        return false;
    };
    let Some(code) = decode_hex(hex) else { return false };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(&request.body);
    mac.verify_slice(&code).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok()).collect()
}

/// A loopback address nobody listens on.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}/events")
}

#[test]
fn events_arrive_one_per_post_signed_and_parse_as_cloudevents() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::text(200, ""));
    let mut sink = Sink::new(&server.url("/rivr/events?token=abc"), &format!("      secret: {SECRET}\n"));
    sink.start(&rt);
    sink.emit(0, 3);
    wait_for("three events delivered", || sink.reading().sent == 3);

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for (n, request) in requests.iter().enumerate() {
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/rivr/events?token=abc"));
        assert_eq!(request.header("content-type"), Some("application/cloudevents+json"));
        assert!(signed_with_the_secret(request), "bad signature: {:?}", request.header("x-rivr-signature"));
        let event: cloudevents::Event =
            serde_json::from_slice(&request.body).expect("a CloudEvents 1.0 event");
        assert_eq!(event.specversion(), cloudevents::event::SpecVersion::V10);
        assert_eq!(event.ty(), "dev.rivr.script.reloaded");
        assert_eq!(event.source().as_str(), "rivr://test-node");
        assert_eq!(versions(request), [n]);
    }
    let reading = sink.reading();
    assert_eq!((reading.sent, reading.failed, reading.dropped), (3, 0, 0));
}

#[test]
fn a_batch_is_a_json_array_of_the_events_already_waiting_signed_as_one_body() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::text(204, ""));
    let mut sink = Sink::new(&server.url("/in"), &format!("      secret: {SECRET}\n      batch: 4\n"));
    // Six wait before the task starts: a batch of four, then one of the two left.
    sink.emit(0, 6);
    sink.start(&rt);
    wait_for("six events delivered", || sink.reading().sent == 6);
    // A lone event later still goes out, as an array of one, without waiting for company.
    sink.emit(6, 1);
    wait_for("the seventh delivered", || sink.reading().sent == 7);

    let requests = server.requests();
    let batches: Vec<Vec<usize>> = requests.iter().map(versions).collect();
    assert_eq!(batches, [vec![0, 1, 2, 3], vec![4, 5], vec![6]]);
    for request in &requests {
        assert_eq!(request.header("content-type"), Some("application/cloudevents-batch+json"));
        assert!(signed_with_the_secret(request));
        let events: Vec<cloudevents::Event> =
            serde_json::from_slice(&request.body).expect("an array of CloudEvents 1.0 events");
        assert!(events.iter().all(|event| event.ty() == "dev.rivr.script.reloaded"));
    }
}

#[test]
fn without_a_secret_there_is_no_signature_header() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::text(200, ""));
    let mut sink = Sink::new(&server.url("/in"), "");
    sink.start(&rt);
    sink.emit(0, 1);
    wait_for("delivered", || sink.reading().sent == 1);
    assert_eq!(server.requests()[0].header("x-rivr-signature"), None);
}

#[test]
fn a_receiver_failing_twice_gets_the_same_batch_a_third_time_and_nothing_is_lost_or_reordered() {
    let rt = runtime();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    let server = http_server::start(&rt, move |_| match count.fetch_add(1, Ordering::SeqCst) {
        0 | 1 => Reply::text(503, "warming up"),
        _ => Reply::text(200, ""),
    });
    let mut sink = Sink::new(
        &server.url("/in"),
        &format!("      secret: {SECRET}\n      batch: 3\n      retries: 5\n      backoff_ms: 1\n"),
    );
    sink.emit(0, 6);
    sink.start(&rt);
    wait_for("six events delivered", || sink.reading().sent == 6);

    let requests = server.requests();
    let batches: Vec<Vec<usize>> = requests.iter().map(versions).collect();
    assert_eq!(batches, [vec![0, 1, 2], vec![0, 1, 2], vec![0, 1, 2], vec![3, 4, 5]]);
    assert_eq!(requests[0].body, requests[2].body, "a retry sends the same bytes");
    assert!(requests.iter().all(signed_with_the_secret));
    let reading = sink.reading();
    assert_eq!((reading.sent, reading.failed, reading.dropped), (6, 0, 0));
}

#[test]
fn a_refusing_receiver_is_not_asked_again_and_its_events_are_counted_as_failed() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::json(400, r#"{"error":"unknown type"}"#));
    let mut sink = Sink::new(&server.url("/in"), "      retries: 5\n      backoff_ms: 1\n");
    sink.emit(0, 3);
    sink.start(&rt);
    wait_for("three events given up", || sink.reading().failed == 3);
    // The failures are counted once their POST was refused, so any retry would be in already.
    let asked: Vec<Vec<usize>> = server.requests().iter().map(versions).collect();
    assert_eq!(asked, [vec![0], vec![1], vec![2]], "each event once, none retried");
    assert_eq!(sink.reading().sent, 0);
}

#[test]
fn a_stalled_receiver_fills_the_queue_and_then_exactly_the_excess_is_dropped_without_blocking() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::Hang);
    // A timeout far beyond the test: the task is known to be stuck in the first POST.
    let mut sink = Sink::new(&server.url("/in"), "      queue: 8\n      timeout_ms: 600000\n");
    sink.start(&rt);
    sink.emit(0, 1);
    wait_for("the first POST reaches the receiver", || server.requests().len() == 1);

    // Emitting returns at once whatever the receiver does: were it to wait, this would hang.
    sink.emit(1, 8 + 5);
    let reading = sink.reading();
    assert_eq!((reading.queued, reading.dropped), (8, 5));
    assert_eq!((reading.sent, reading.failed), (0, 0));
    assert_eq!(server.requests().len(), 1, "nothing else sent while the first POST hangs");
}

#[test]
fn a_dead_receiver_fills_the_queue_and_then_exactly_the_excess_is_dropped_without_blocking() {
    let rt = runtime();
    // A backoff far beyond the test: after its first refused connection the task waits, holding
    // the first event.
    let mut sink = Sink::new(&dead_url(), "      queue: 8\n      retries: 3\n      backoff_ms: 600000\n");
    sink.start(&rt);
    sink.emit(0, 1);
    wait_for("the task takes the first event", || sink.reading().queued == 0);

    sink.emit(1, 8 + 5);
    let reading = sink.reading();
    assert_eq!((reading.queued, reading.dropped), (8, 5));
    assert_eq!((reading.sent, reading.failed), (0, 0));
}

#[test]
fn a_dead_receiver_gets_every_event_given_up_and_counted_after_the_retries() {
    let rt = runtime();
    let mut sink = Sink::new(&dead_url(), "      queue: 8\n      retries: 2\n      backoff_ms: 1\n");
    sink.emit(0, 8 + 3);
    sink.start(&rt);
    wait_for("eight events given up", || sink.reading().failed == 8);
    let reading = sink.reading();
    assert_eq!((reading.sent, reading.dropped, reading.queued), (0, 3, 0));
}

#[test]
fn on_shutdown_the_queued_events_are_still_delivered_before_the_task_ends() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::text(200, ""));
    let mut sink = Sink::new(&server.url("/in"), "      batch: 2\n");
    sink.emit(0, 5);
    sink.close();
    let task = sink.start(&rt);
    rt.block_on(task).expect("the task ends by itself");
    let delivered: Vec<usize> = server.requests().iter().flat_map(versions).collect();
    assert_eq!(delivered, [0, 1, 2, 3, 4]);
    assert_eq!(sink.outcome(), (5, 0));
}

#[test]
fn on_shutdown_a_failing_receiver_costs_one_round_of_retries_and_the_rest_is_given_up() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::text(503, "down"));
    let mut sink = Sink::new(&server.url("/in"), "      retries: 2\n      backoff_ms: 1\n      queue: 50\n");
    sink.emit(0, 50);
    sink.close();
    let task = sink.start(&rt);
    rt.block_on(task).expect("the task ends by itself");
    // The first event was tried three times; the other 49 were given up without a POST.
    let asked: Vec<Vec<usize>> = server.requests().iter().map(versions).collect();
    assert_eq!(asked, [vec![0], vec![0], vec![0]]);
    assert_eq!(sink.outcome(), (0, 50));
}

#[test]
fn on_shutdown_a_receiver_refusing_one_batch_still_gets_the_rest() {
    let rt = runtime();
    let asked = Arc::new(AtomicUsize::new(0));
    let counted = asked.clone();
    let server = http_server::start(&rt, move |_| {
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::text(400, "bad event")
        } else {
            Reply::text(200, "")
        }
    });
    let mut sink = Sink::new(&server.url("/in"), "      retries: 2\n      backoff_ms: 1\n");
    sink.emit(0, 4);
    sink.close();
    let task = sink.start(&rt);
    rt.block_on(task).expect("the task ends by itself");
    let asked: Vec<Vec<usize>> = server.requests().iter().map(versions).collect();
    assert_eq!(asked, [vec![0], vec![1], vec![2], vec![3]], "the refused one is not asked again");
    assert_eq!(sink.outcome(), (3, 1));
}

/// How many calls the stalled-receiver test runs.
const CALLS: usize = 500;

/// How many of them are dialled at once.
const WAVE: usize = 100;

/// Calls rivr has started: live ones and ended ones.
fn calls_started(runtime: &rivr::server::Runtime) -> usize {
    let ended: usize = runtime
        .calls()
        .metrics()
        .render(&Default::default())
        .lines()
        .filter(|line| line.starts_with("rivr_calls_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<usize>().ok())
        .sum();
    runtime.calls().len() + ended
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_calls_complete_normally_while_a_webhook_receiver_stalls_and_its_drops_are_counted() {
    use support::fake_freeswitch::{self as fake, Scenario};

    let stalled = http_server::start_here(|_| Reply::Hang).await;
    let healthy = http_server::start_here(|_| Reply::text(200, "")).await;
    // The stalled receiver's sink holds one POST forever and 16 events behind it; the healthy
    // one's queue outgrows every event of the run, so it counts what was emitted.
    let config = format!(
        "listen: 127.0.0.1:0\n\
         events:\n  webhooks:\n\
         \x20   - name: stalled\n      url: {}\n      queue: 16\n      timeout_ms: 600000\n\
         \x20   - name: healthy\n      url: {}\n      queue: 100000\n      batch: 100\n",
        stalled.url("/in"),
        healthy.url("/in"),
    );
    let script = "answer();\nplay(\"ivr/welcome.wav\");\nhangup();\n";
    let server = support::server::start(&config, &[("main.rhai", script)]).await;
    wait_until("the runtime listens", || server.runtime.listening_on().is_some()).await;

    // In waves that fit the listener's accept queue (128 here): a connection the kernel
    // completes but cannot queue is lost silently, and its fake switch would wait forever for
    // rivr's `connect`. Each wave is accepted before the next is dialled.
    let mut calls = Vec::with_capacity(CALLS);
    for wave in (0..CALLS).step_by(WAVE) {
        for _ in wave..(wave + WAVE).min(CALLS) {
            let scenario = Scenario { destination: "1000".into(), ..Scenario::default() };
            calls.push(tokio::spawn(fake::call(server.addr, scenario)));
        }
        let target = calls.len();
        wait_until("rivr accepts the wave", || calls_started(&server.runtime) >= target).await;
    }
    for call in calls {
        let log = call.await.expect("the fake call ran");
        assert_eq!(log.apps().len(), 3, "answer, playback and hangup reached the switch: {:#?}", log.lines());
        assert!(log.hung_up.is_some(), "{:#?}", log.lines());
    }
    let live = server.runtime.calls().clone();
    wait_until("every call has ended", || live.is_empty()).await;
    let metrics = server.runtime.calls().metrics().render(&Default::default());
    let endings: Vec<&str> = metrics.lines().filter(|line| line.starts_with("rivr_calls_total{")).collect();
    assert_eq!(
        endings,
        [format!("rivr_calls_total{{ending=\"completed\",route=\"default_route\"}} {CALLS}")],
        "every call completes normally"
    );

    let bus = server.runtime.events().expect("events started").clone();
    let reading = |name: &str| bus.readings().into_iter().find(|r| r.name == name).expect("sink");
    // call.started, call.verb for answer, play and hangup, and call.ended.
    let emitted = (CALLS * 5) as u64;
    wait_until("the healthy receiver has every event", || reading("healthy").sent == emitted).await;
    assert_eq!(healthy.requests().iter().map(event_count).sum::<usize>() as u64, emitted);
    assert_eq!(stalled.requests().len(), 1, "the stalled receiver got one POST and never answered it");
    let stuck = reading("stalled");
    assert_eq!((stuck.sent, stuck.failed, stuck.queued), (0, 0, 16));
    assert_eq!(stuck.dropped, emitted - 16 - 1, "all but the queue and the POST in flight are dropped");
}

/// The number of events in a request's body.
fn event_count(request: &Received) -> usize {
    match serde_json::from_slice::<serde_json::Value>(&request.body).expect("JSON") {
        serde_json::Value::Array(events) => events.len(),
        _ => 1,
    }
}

/// Wait for `condition` without blocking the runtime, failing after a generous deadline (never
/// a timing assertion).
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A call rivr refuses before any script runs still reaches the systems watching: its one
/// event says how it was refused and with which cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_matching_no_route_sends_one_call_ended_saying_so() {
    use support::fake_freeswitch::{self as fake, Scenario};

    let receiver = http_server::start_here(|_| Reply::text(200, "")).await;
    let config = format!(
        "listen: 127.0.0.1:0\n\
         routes:\n  - name: sales\n    destination: \"1000\"\n    script: main.rhai\n\
         no_route:\n  cause: UNALLOCATED_NUMBER\n\
         events:\n  webhooks:\n\x20   - url: {}\n",
        receiver.url("/in"),
    );
    let server = support::server::start(&config, &[("main.rhai", "answer();")]).await;
    wait_until("the runtime listens", || server.runtime.listening_on().is_some()).await;
    let scenario = Scenario { destination: "9999".into(), ..Scenario::default() };
    let uuid = scenario.uuid.clone();
    let log = fake::call(server.addr, scenario).await;
    assert_eq!(log.apps(), ["hangup UNALLOCATED_NUMBER"]);

    wait_until("the event arrived", || !receiver.requests().is_empty()).await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "one event for the refused call");
    let event: cloudevents::Event = serde_json::from_slice(&requests[0].body).expect("a CloudEvent");
    assert_eq!(event.ty(), "dev.rivr.call.ended");
    assert_eq!(event.subject(), Some(uuid.as_str()));
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).expect("JSON");
    assert_eq!(body["rivrseq"], 1);
    assert_eq!(body["data"]["ending"], "no_route");
    assert_eq!(body["data"]["cause"], "UNALLOCATED_NUMBER");
    assert_eq!(body["data"]["destination"], "9999");
    assert_eq!(body["data"]["verbs"], 0);
}
