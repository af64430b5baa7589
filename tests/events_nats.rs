//! Events to NATS against a real `nats-server` (started by each test on a free loopback port):
//! core NATS subjects, JetStream with acknowledgements, and a NATS that is down at startup or
//! goes away mid-run.
//!
//! Every test asserts on what arrived and on the sink's counts, polling for conditions with a
//! generous deadline; none on how long anything took.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use cloudevents::AttributesReader;
use rivr::config::{Config, Nats, NatsSink};
use rivr::events::sink::{self, SinkStats};
use rivr::events::EventBus;
use rivr::nats::{NatsConnection, NatsState};
use support::nats_server::NatsServer;
use tokio_stream::StreamExt as _;

/// Longest any condition is waited for.
const DEADLINE: Duration = Duration::from_secs(60);

/// A bus whose one sink is NATS over a connection to `url`, configured by `settings` (YAML
/// under `events.nats:`).
struct Sink {
    bus: EventBus,
    stats: Arc<SinkStats>,
    connection: NatsConnection,
    config: NatsSink,
}

impl Sink {
    /// Must run inside the tokio runtime; returns at once whether NATS is up or not.
    fn start(url: &str, settings: &str) -> Sink {
        let yaml = format!("nats:\n  url: {url}\nevents:\n  source: rivr://test-node\n  nats:\n{settings}");
        let config = Config::parse_with_env(&yaml, "rivr.yaml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
        let nats: &Nats = config.nats.as_ref().expect("nats:");
        let sink_config = config.events.nats.clone().expect("events.nats");
        let (queue, inbox) = sink::queue("nats", "nats", sink_config.queue.get());
        let stats = inbox.stats.clone();
        let connection = NatsConnection::start(nats);
        rivr::events::nats::start_on(&connection, &sink_config, inbox);
        Sink { bus: EventBus::new(&config.events, vec![queue]), stats, connection, config: sink_config }
    }

    /// Emit `n` events, `script.reloaded` of `main.rhai` at versions `from`, `from + 1`, …, so
    /// each carries its place in `data.version`.
    fn emit(&self, from: usize, n: usize) {
        for version in from..from + n {
            self.bus.script_reloaded("main.rhai", &version.to_string());
        }
    }

    fn sent(&self) -> u64 {
        self.stats.sent.load(Ordering::Relaxed)
    }

    fn failed(&self) -> u64 {
        self.stats.failed.load(Ordering::Relaxed)
    }

    fn dropped(&self) -> u64 {
        self.bus.readings()[0].dropped
    }
}

/// Wait for `condition`, failing after [`DEADLINE`].
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The version an event's body carries.
fn version(body: &[u8]) -> usize {
    let event: serde_json::Value = serde_json::from_slice(body).expect("JSON");
    event["data"]["version"].as_str().expect("version").parse().expect("number")
}

/// The versions of every event the stream `name` holds, in the stream's order.
async fn stream_versions(url: &str, name: &str) -> Vec<usize> {
    let client = async_nats::connect(url).await.expect("test client");
    let stream = jetstream::new(client).get_stream(name).await.expect("the stream exists");
    let info = stream.get_info().await.expect("stream info");
    let mut versions = Vec::new();
    for sequence in info.state.first_sequence..=info.state.last_sequence {
        if info.state.messages == 0 {
            break;
        }
        let message = stream.get_raw_message(sequence).await.expect("stored message");
        assert_eq!(message.subject.as_str(), "rivr.events.script.reloaded");
        versions.push(version(&message.payload));
    }
    versions
}

#[tokio::test]
async fn the_test_server_accepts_clients_and_comes_back_on_the_same_port_after_a_restart() {
    let mut server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.expect("connect");
    client.flush().await.expect("flush");
    drop(client);
    server.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", server.port())).is_err());
    server.start_again();
    let client = async_nats::connect(server.url()).await.expect("connect after restart");
    client.flush().await.expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_on_core_nats_arrive_in_order_on_their_type_subjects_as_cloudevents() {
    let server = NatsServer::start();
    let listener = async_nats::connect(server.url()).await.expect("subscriber");
    let mut subscription = listener.subscribe("rivr.events.>").await.expect("subscribe");
    listener.flush().await.expect("subscription registered");

    let sink = Sink::start(&server.url(), "    subject_prefix: rivr.events\n");
    eventually("rivr connects", || sink.connection.state() == NatsState::Connected).await;
    sink.emit(0, 200);
    let mut versions = Vec::new();
    while versions.len() < 200 {
        let message = tokio::time::timeout(DEADLINE, subscription.next())
            .await
            .expect("the events arrive")
            .expect("subscription open");
        assert_eq!(message.subject.as_str(), "rivr.events.script.reloaded");
        let event: cloudevents::Event = serde_json::from_slice(&message.payload).expect("a CloudEvent");
        assert_eq!(event.ty(), "dev.rivr.script.reloaded");
        assert_eq!(event.source().as_str(), "rivr://test-node");
        versions.push(version(&message.payload));
    }
    assert_eq!(versions, (0..200).collect::<Vec<_>>());
    eventually("every event counted as sent", || sink.sent() == 200).await;
    assert_eq!((sink.failed(), sink.dropped()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_jetstream_the_stream_is_created_and_holds_every_acknowledged_event_in_order() {
    let server = NatsServer::start();
    let sink = Sink::start(&server.url(), "    jetstream: true\n");
    sink.emit(0, 500);
    eventually("JetStream acknowledges every event", || sink.sent() == 500).await;
    assert_eq!((sink.failed(), sink.dropped()), (0, 0));

    let client = async_nats::connect(server.url()).await.expect("test client");
    let mut stream = jetstream::new(client).get_stream(&sink.config.stream).await.expect("rivr created it");
    let info = stream.info().await.expect("info");
    assert_eq!(info.config.subjects, ["rivr.events.>"]);
    assert_eq!(info.config.storage, jetstream::stream::StorageType::File);
    assert_eq!(info.config.retention, jetstream::stream::RetentionPolicy::Limits);
    assert_eq!(stream_versions(&server.url(), "RIVR_EVENTS").await, (0..500).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_at_startup_does_not_stop_rivr_and_the_events_queued_meanwhile_go_out_once_it_is_up() {
    let mut server = NatsServer::reserve();
    let sink = Sink::start(&server.url(), "    jetstream: true\n    queue: 100\n");
    assert_eq!(sink.connection.state(), NatsState::Connecting);
    sink.emit(0, 60);
    assert_eq!((sink.sent(), sink.dropped()), (0, 0));
    assert_eq!(sink.bus.readings()[0].queued, 60);

    server.start_again();
    eventually("rivr connects once NATS is up", || sink.connection.state() == NatsState::Connected).await;
    eventually("the queued events are acknowledged", || sink.sent() == 60).await;
    assert_eq!(sink.failed(), 0);
    assert_eq!(stream_versions(&server.url(), "RIVR_EVENTS").await, (0..60).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_server_restarts_mid_run_rivr_reconnects_and_delivery_resumes() {
    let mut server = NatsServer::start();
    let sink = Sink::start(&server.url(), "    jetstream: true\n");
    sink.emit(0, 50);
    eventually("the first events are acknowledged", || sink.sent() == 50).await;

    server.stop();
    eventually("rivr notices NATS is gone", || sink.connection.state() == NatsState::Disconnected).await;
    sink.emit(50, 50);
    server.start_again();
    eventually("rivr reconnects", || sink.connection.state() == NatsState::Connected).await;
    eventually("the events emitted while NATS was down are acknowledged", || sink.sent() == 100).await;
    assert_eq!((sink.failed(), sink.dropped()), (0, 0));
    // JetStream's storage outlived the restart; what was published after it follows in order.
    let versions = stream_versions(&server.url(), "RIVR_EVENTS").await;
    let after: Vec<usize> = versions.iter().copied().skip_while(|v| *v < 50).collect();
    assert_eq!(after, (50..100).collect::<Vec<_>>(), "{versions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_nats_is_down_a_full_queue_drops_and_counts_the_newest_and_keeps_the_oldest() {
    let mut server = NatsServer::reserve();
    let sink = Sink::start(&server.url(), "    jetstream: true\n    queue: 10\n");
    sink.emit(0, 25);
    // The JetStream sink takes nothing from its queue before it is connected.
    assert_eq!((sink.dropped(), sink.bus.readings()[0].queued), (15, 10));

    server.start_again();
    eventually("the queued events are acknowledged", || sink.sent() == 10).await;
    assert_eq!((sink.failed(), sink.dropped()), (0, 15));
    assert_eq!(stream_versions(&server.url(), "RIVR_EVENTS").await, (0..10).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_stream_is_used_as_it_is() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.expect("test client");
    jetstream::new(client)
        .create_stream(jetstream::stream::Config {
            name: "ACME".into(),
            subjects: vec!["acme.>".into()],
            storage: jetstream::stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .expect("the operator's stream");
    let sink =
        Sink::start(&server.url(), "    jetstream: true\n    stream: ACME\n    subject_prefix: acme.rivr\n");
    sink.emit(0, 20);
    eventually("JetStream acknowledges every event", || sink.sent() == 20).await;
    let client = async_nats::connect(server.url()).await.expect("test client");
    let mut stream = jetstream::new(client).get_stream("ACME").await.expect("stream");
    let info = stream.info().await.expect("info");
    assert_eq!(info.config.storage, jetstream::stream::StorageType::Memory, "left as it was");
    assert_eq!(info.state.messages, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_flight_when_the_server_dies_are_published_again_after_it_returns_and_none_is_given_up() {
    let mut server = NatsServer::start();
    let sink = Sink::start(&server.url(), "    jetstream: true\n    queue: 5000\n");
    eventually("rivr connects", || sink.connection.state() == NatsState::Connected).await;
    sink.emit(0, 3000);
    eventually("some events are acknowledged", || sink.sent() > 0).await;
    server.stop();
    server.start_again();
    eventually("every event is acknowledged", || sink.sent() == 3000).await;
    assert_eq!((sink.failed(), sink.dropped()), (0, 0));
    // At least once: the last event is stored, after everything published again before it.
    let versions = stream_versions(&server.url(), "RIVR_EVENTS").await;
    assert_eq!(versions.last(), Some(&2999));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rivr_run_serves_while_nats_is_down_stays_ready_and_sends_its_events_once_nats_is_up() {
    let mut nats = NatsServer::reserve();
    let config = format!(
        "listen: 127.0.0.1:0\nnats:\n  url: {}\nevents:\n  types: [script.reloaded]\n  nats: {{}}\n",
        nats.url()
    );
    let rivr = support::server::start(&config, &[("main.rhai", "hangup();\n")]).await;
    eventually("rivr listens", || rivr.runtime.listening_on().is_some()).await;
    let connection = rivr.runtime.nats().expect("nats: starts a connection");
    assert_eq!(connection.state(), NatsState::Connecting);
    let api = Api::serve(&rivr).await;
    let (status, ready) = api.get("/ready").await;
    assert_eq!(status, 200, "{ready}");
    let ready: serde_json::Value = serde_json::from_str(&ready).expect("JSON");
    assert_eq!(ready["nats"]["state"], "connecting", "{ready}");
    assert!(api.get("/metrics").await.1.lines().any(|line| line == "rivr_nats_connected 0"));

    nats.start_again();
    eventually("rivr connects once NATS is up", || connection.state() == NatsState::Connected).await;
    let ready: serde_json::Value = serde_json::from_str(&api.get("/ready").await.1).expect("JSON");
    assert_eq!(ready["nats"]["state"], "connected", "{ready}");
    assert!(api.get("/metrics").await.1.lines().any(|line| line == "rivr_nats_connected 1"));
    let listener = async_nats::connect(nats.url()).await.expect("subscriber");
    let mut subscription = listener.subscribe("rivr.events.>").await.expect("subscribe");
    listener.flush().await.expect("subscription registered");
    std::fs::write(rivr.dir.path().join("scripts/main.rhai"), "answer();\nhangup();\n").expect("edit");
    let message = tokio::time::timeout(DEADLINE, subscription.next())
        .await
        .expect("script.reloaded arrives")
        .expect("subscription open");
    assert_eq!(message.subject.as_str(), "rivr.events.script.reloaded");
    let event: cloudevents::Event = serde_json::from_slice(&message.payload).expect("a CloudEvent");
    assert_eq!(event.subject(), Some("main.rhai"));
}

/// The operations API of an in-process rivr, on a free loopback port.
struct Api {
    base: String,
    http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Api {
    async fn serve(rivr: &support::server::Server) -> Api {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(rivr::ops::api::serve_on(listener, rivr.runtime.clone(), None, async {
            let _ = stopped.await;
        }));
        Api { base, http: reqwest::Client::new(), _stop: stop }
    }

    /// The status and body of `GET path`.
    async fn get(&self, path: &str) -> (u16, String) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.expect("API answers");
        (response.status().as_u16(), response.text().await.expect("body"))
    }
}
