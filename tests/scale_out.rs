//! Scale-out with real parts: a real `nats-server -js`, two `rivr run` processes ("node-a" and
//! "node-b"), each with a fake FreeSWITCH of its own that answers every originate, and both
//! connected to both fakes (as production nodes are connected to every FreeSWITCH box), so a
//! node can ask every box whether a call exists.
//!
//! Every test polls for conditions with a generous deadline; none asserts on how long anything
//! took.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use rivr::nats::commands::{OriginateMessage, OriginateReport};
use rivr::originate::call_uuid_for_key;
use support::fake_freeswitch::{self as fake, Scenario};
use support::fake_inbound::FakeFreeswitch;
use support::nats_server::NatsServer;
use support::rivr_process::RivrProcess;
use tokio_stream::StreamExt as _;

/// Longest any condition is waited for.
const DEADLINE: Duration = Duration::from_secs(90);

/// What an originated call runs, and what the outbound calls of the events test run.
const SCRIPT: &str = "answer();\nplay(\"hold.wav\");\nhangup();\n";

/// Two nodes, their fakes and a NATS client of the test's own.
struct Cluster {
    nats: NatsServer,
    fakes: [FakeFreeswitch; 2],
    nodes: [Option<RivrProcess>; 2],
    client: async_nats::Client,
    jetstream: jetstream::Context,
}

impl Cluster {
    /// A NATS server and two nodes bound to the originate work queue. `ack_wait_s` is short so
    /// that a dead node's requests come back soon.
    async fn start() -> Cluster {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let nats = NatsServer::start();
        let fakes = [
            FakeFreeswitch::start(support::fake_inbound::CAPTURED_PASSWORD).await,
            FakeFreeswitch::start(support::fake_inbound::CAPTURED_PASSWORD).await,
        ];
        let client = async_nats::connect(nats.url()).await.expect("the test's NATS client");
        let jetstream = jetstream::new(client.clone());
        let mut cluster = Cluster { nats, fakes, nodes: [None, None], client, jetstream };
        for index in 0..2 {
            cluster.nodes[index] = Some(cluster.start_node(index));
        }
        for index in 0..2 {
            let node = cluster.node(index);
            wait_until(&format!("{} bound to the work queue", name(index)), || {
                let log = node.log_text();
                log.contains("bound to the originate work queue")
                    && log.contains("subscribed to hangup requests")
            })
            .await;
        }
        cluster
    }

    /// Node `index`: its own fake is `own` (listed first), the other node's is `other`.
    fn start_node(&self, index: usize) -> RivrProcess {
        let config = format!(
            "listen: 127.0.0.1:0\n\
             api:\n  listen: 127.0.0.1:0\n\
             nats:\n  url: {url}\n  name: {name}\n  commands:\n    originate:\n      max_in_flight: 10\n      ack_wait_s: 2\n      max_deliver: 5\n\
             events:\n  source: rivr://{name}\n  nats:\n    subject_prefix: rivr.events\n\
             freeswitch:\n  - name: own\n    host: 127.0.0.1\n    port: {own}\n  - name: other\n    host: 127.0.0.1\n    port: {other}\n",
            url = self.nats.url(),
            name = name(index),
            own = self.fakes[index].port(),
            other = self.fakes[1 - index].port(),
        );
        RivrProcess::start(&config, &[("main.rhai", SCRIPT), ("callback.rhai", SCRIPT)], &[])
    }

    fn node(&self, index: usize) -> &RivrProcess {
        self.nodes[index].as_ref().expect("the node runs")
    }

    /// Publishes `request` to the work queue once, with JetStream's acknowledgement.
    async fn publish(&self, request: &OriginateMessage) {
        let body = serde_json::to_vec(request).expect("json");
        self.publish_raw(body, None).await;
    }

    async fn publish_raw(&self, body: Vec<u8>, reply_header: Option<&str>) {
        let mut headers = async_nats::HeaderMap::new();
        if let Some(reply) = reply_header {
            headers.insert(rivr::nats::commands::REPLY_TO_HEADER, reply);
        }
        self.jetstream
            .publish_with_headers("rivr.originate", headers, body.into())
            .await
            .expect("publish")
            .await
            .expect("JetStream stored the request");
    }

    /// Every `origination_uuid` the fakes were asked to originate, repeats included.
    fn originated(&self) -> Vec<String> {
        self.fakes.iter().flat_map(FakeFreeswitch::originated_uuids).collect()
    }

    async fn consumer(&self) -> jetstream::consumer::Info {
        let mut consumer: jetstream::consumer::PullConsumer = self
            .jetstream
            .get_stream("RIVR_ORIGINATE")
            .await
            .expect("the work-queue stream")
            .get_consumer("rivr-originate")
            .await
            .expect("the shared consumer");
        consumer.info().await.expect("consumer info").clone()
    }
}

fn name(index: usize) -> &'static str {
    ["node-a", "node-b"][index]
}

fn request(key: &str) -> OriginateMessage {
    OriginateMessage {
        to: "loopback/answer/default".into(),
        script: "callback.rhai".into(),
        caller_id_number: Some("5550100".into()),
        caller_id_name: None,
        timeout_s: Some(30),
        variables: BTreeMap::from([("campaign".to_string(), "spring".to_string())]),
        server: None,
        idempotency_key: key.into(),
        reply_to: None,
    }
}

/// Outcomes as they arrive on a subscription, by idempotency key (every one kept).
struct Outcomes {
    subscriber: async_nats::Subscriber,
    by_key: HashMap<String, Vec<OriginateReport>>,
}

impl Outcomes {
    async fn subscribe(client: &async_nats::Client, subject: &str) -> Outcomes {
        let subscriber = client.subscribe(subject.to_owned()).await.expect("subscribe");
        client.flush().await.expect("flush");
        Outcomes { subscriber, by_key: HashMap::new() }
    }

    /// Reads outcomes until `done` holds for those received.
    async fn until(&mut self, what: &str, done: impl Fn(&HashMap<String, Vec<OriginateReport>>) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !done(&self.by_key) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "gave up waiting: {what}; got {} keys", self.by_key.len());
            if let Ok(Some(message)) = tokio::time::timeout(left, self.subscriber.next()).await {
                let report: OriginateReport = serde_json::from_slice(&message.payload).expect("an outcome");
                self.by_key
                    .entry(report.idempotency_key.clone().unwrap_or_default())
                    .or_default()
                    .push(report);
            }
        }
    }
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn counts(uuids: &[String]) -> (usize, usize) {
    (uuids.len(), uuids.iter().collect::<BTreeSet<_>>().len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_requests_published_once_are_each_placed_once_spread_over_both_nodes() {
    let cluster = Cluster::start().await;
    let mut outcomes = Outcomes::subscribe(&cluster.client, "rivr.originate.outcome").await;
    let keys: Vec<String> = (0..200).map(|i| format!("spring/contact-{i}")).collect();
    for key in &keys {
        cluster.publish(&request(key)).await;
    }
    outcomes
        .until("an outcome for each of the 200 requests", |got| keys.iter().all(|k| got.contains_key(k)))
        .await;

    let originated = cluster.originated();
    assert_eq!(counts(&originated), (200, 200), "each request placed once");
    let expected: BTreeSet<String> = keys.iter().map(|k| call_uuid_for_key(k).expect("key")).collect();
    assert_eq!(
        originated.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "each call's uuid comes from its key"
    );
    for (index, fake) in cluster.fakes.iter().enumerate() {
        assert!(!fake.originated_uuids().is_empty(), "{} placed none", name(index));
    }
    let mut by_node = BTreeMap::new();
    for key in &keys {
        let reports = &outcomes.by_key[key];
        assert_eq!(reports.len(), 1, "one outcome per request: {reports:?}");
        let report = &reports[0];
        assert_eq!(report.outcome.as_str(), "answered", "{report:?}");
        assert_eq!(report.uuid.as_deref(), Some(call_uuid_for_key(key).expect("key").as_str()));
        *by_node.entry(report.node.clone()).or_insert(0) += 1;
    }
    assert_eq!(by_node.len(), 2, "both nodes placed some: {by_node:?}");
    let consumer = cluster.consumer().await;
    assert_eq!((consumer.num_pending, consumer.num_ack_pending), (0, 0), "{consumer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_run_loses_no_request_and_its_placed_calls_are_not_placed_again() {
    let mut cluster = Cluster::start().await;
    let mut outcomes = Outcomes::subscribe(&cluster.client, "rivr.originate.outcome").await;
    // node-a's own FreeSWITCH takes its originates and never finishes them: node-a dies with
    // calls placed but requests not acknowledged.
    cluster.fakes[0].hold_jobs();
    let keys: Vec<String> = (0..100).map(|i| format!("autumn/contact-{i}")).collect();
    for key in &keys {
        let request = OriginateMessage { server: Some("own".into()), ..request(key) };
        cluster.publish(&request).await;
    }
    cluster.fakes[0].wait_held_jobs(1).await;
    wait_until("every request sent to a FreeSWITCH", || cluster.originated().len() >= 100).await;
    let held: BTreeSet<String> = cluster.fakes[0].originated_uuids().into_iter().collect();
    assert!(!held.is_empty());

    cluster.nodes[0].as_mut().expect("node-a").kill();
    // node-b gets node-a's requests after ack_wait, sees their calls on node-a's FreeSWITCH
    // and does not place them again.
    outcomes
        .until("an outcome for each of the 100 requests", |got| keys.iter().all(|k| got.contains_key(k)))
        .await;

    let originated = cluster.originated();
    assert_eq!(counts(&originated), (100, 100), "none lost, none placed twice");
    let mut recognised = BTreeSet::new();
    for key in &keys {
        let report = outcomes.by_key[key].last().expect("an outcome").clone();
        assert_eq!(report.node, "node-b", "node-a never finished one: {report:?}");
        match report.outcome.as_str() {
            "answered" => {}
            "already_placed" => {
                assert!(report.delivery > 1, "{report:?}");
                recognised.insert(report.uuid.clone().expect("uuid"));
            }
            other => panic!("unexpected outcome {other}: {report:?}"),
        }
    }
    assert_eq!(recognised, held, "exactly the calls node-a had placed are recognised");
    wait_until_settled(&cluster).await;
}

/// Waits until the work queue holds nothing pending or unacknowledged.
async fn wait_until_settled(cluster: &Cluster) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let consumer = cluster.consumer().await;
        if consumer.num_pending == 0 && consumer.num_ack_pending == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the work queue did not settle: {consumer:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_a_reason_on_their_reply_subject_and_never_delivered_again() {
    let cluster = Cluster::start().await;
    let mut replies = Outcomes::subscribe(&cluster.client, "campaign.replies").await;
    cluster.publish_raw(b"{\"to\": \"user/1000\", not json".to_vec(), Some("campaign.replies")).await;
    let with_reply = |mut request: OriginateMessage| {
        request.reply_to = Some("campaign.replies".into());
        request
    };
    cluster
        .publish(&with_reply(OriginateMessage {
            script: "nope.rhai".into(),
            ..request("bad/unknown-script")
        }))
        .await;
    cluster
        .publish(&with_reply(OriginateMessage { to: "user/1000 &park".into(), ..request("bad/injection") }))
        .await;
    let many = (0..100).map(|i| (format!("v{i}"), "x".to_string())).collect();
    cluster.publish(&with_reply(OriginateMessage { variables: many, ..request("bad/oversized") })).await;
    replies.until("four refusals", |got| got.values().map(Vec::len).sum::<usize>() >= 4).await;

    let code = |key: &str| {
        let report = &replies.by_key[key][0];
        assert_eq!(report.outcome.as_str(), "refused", "{report:?}");
        assert!(report.reason.as_deref().is_some_and(|r| !r.is_empty()), "{report:?}");
        report.code.clone().expect("a code")
    };
    assert_eq!(code(""), "malformed");
    assert_eq!(code("bad/unknown-script"), "unknown_script");
    assert!(replies.by_key["bad/unknown-script"][0]
        .reason
        .as_deref()
        .unwrap_or_default()
        .contains("nope.rhai"));
    assert_eq!(code("bad/injection"), "uncarriable");
    assert_eq!(code("bad/oversized"), "too_many_variables");
    assert!(cluster.originated().is_empty(), "nothing placed");

    wait_until_settled(&cluster).await;
    // Past two ack waits, nothing has come back: each was delivered once.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let consumer = cluster.consumer().await;
    assert_eq!((consumer.delivered.consumer_sequence, consumer.num_redelivered), (4, 0), "{consumer:?}");
    let stream = cluster
        .jetstream
        .get_stream("RIVR_ORIGINATE")
        .await
        .expect("stream")
        .info()
        .await
        .expect("info")
        .clone();
    assert_eq!(stream.state.messages, 0, "the work queue let them go");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hangup_over_nats_is_answered_by_the_node_holding_the_call_and_by_no_other() {
    let cluster = Cluster::start().await;
    let scenario = Scenario { media_time: Some(Duration::from_secs(120)), ..Scenario::default() };
    let uuid = scenario.uuid.clone();
    let call = tokio::spawn(fake::call(cluster.node(1).outbound, scenario));
    let http = reqwest::Client::new();
    let url = cluster.node(1).url(&format!("/calls/{uuid}"));
    let deadline = Instant::now() + DEADLINE;
    while !http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "the call never showed on node-b");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let request = serde_json::json!({ "uuid": uuid, "cause": "NORMAL_CLEARING" }).to_string();
    let reply = cluster.client.new_inbox();
    let mut inbox = cluster.client.subscribe(reply.clone()).await.expect("inbox");
    cluster.client.publish_with_reply("rivr.hangup", reply, request.into()).await.expect("publish");
    let answer = tokio::time::timeout(DEADLINE, inbox.next()).await.expect("an answer").expect("message");
    let answer: serde_json::Value = serde_json::from_slice(&answer.payload).expect("json");
    assert_eq!((answer["ok"].as_bool(), answer["node"].as_str()), (Some(true), Some("node-b")), "{answer}");
    tokio::time::timeout(DEADLINE, call).await.expect("the call ended").expect("the fake call");

    let nobody = serde_json::json!({ "uuid": "no-such-call" }).to_string();
    let unanswered = cluster.client.request("rivr.hangup", nobody.into());
    let result = tokio::time::timeout(Duration::from_secs(3), unanswered).await;
    assert!(!matches!(result, Ok(Ok(_))), "no node holds it, so nobody answers: {result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_of_both_nodes_arrive_on_one_subscription_in_order_within_each_call() {
    let cluster = Cluster::start().await;
    let mut events = cluster.client.subscribe("rivr.events.>").await.expect("subscribe");
    cluster.client.flush().await.expect("flush");
    let mut calls = Vec::new();
    for index in 0..2 {
        for _ in 0..3 {
            let scenario = Scenario::default();
            calls.push((scenario.uuid.clone(), name(index)));
            let addr = cluster.node(index).outbound;
            tokio::spawn(fake::call(addr, scenario));
        }
    }
    let mut seen: HashMap<String, Vec<(i64, String, String)>> = HashMap::new();
    let ended = |seen: &HashMap<String, Vec<(i64, String, String)>>| {
        calls.iter().all(|(uuid, _)| {
            seen.get(uuid).is_some_and(|e| e.iter().any(|(_, t, _)| t.ends_with("call.ended")))
        })
    };
    let deadline = Instant::now() + DEADLINE;
    while !ended(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "not every call's events arrived: {seen:?}");
        let Ok(Some(message)) = tokio::time::timeout(left, events.next()).await else { continue };
        let event: serde_json::Value = serde_json::from_slice(&message.payload).expect("a CloudEvent");
        let Some(subject) = event["subject"].as_str() else { continue };
        let seq = event["rivrseq"].as_i64().expect("rivrseq");
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        let source = event["source"].as_str().unwrap_or_default().to_owned();
        seen.entry(subject.to_owned()).or_default().push((seq, kind, source));
    }
    for (uuid, node) in &calls {
        let events = &seen[uuid];
        let seqs: Vec<i64> = events.iter().map(|(seq, ..)| *seq).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as i64).collect::<Vec<_>>(),
            "{uuid}: in order, none missing: {events:?}"
        );
        assert!(events.iter().all(|(_, _, source)| source == &format!("rivr://{node}")), "{events:?}");
        assert!(events[0].1.ends_with("call.started"), "{events:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_takes_no_originate_requests_and_the_other_places_them_all() {
    let cluster = Cluster::start().await;
    let mut outcomes = Outcomes::subscribe(&cluster.client, "rivr.originate.outcome").await;
    let http = reqwest::Client::new();
    let drained = http.post(cluster.node(0).url("/drain")).send().await.expect("POST /drain");
    assert!(drained.status().is_success(), "{drained:?}");
    wait_until("node-a stopped pulling", || {
        cluster.node(0).log_text().contains("no more originate requests")
    })
    .await;

    let keys: Vec<String> = (0..40).map(|i| format!("winter/contact-{i}")).collect();
    for key in &keys {
        cluster.publish(&request(key)).await;
    }
    outcomes
        .until("an outcome for each of the 40 requests", |got| keys.iter().all(|k| got.contains_key(k)))
        .await;
    for key in &keys {
        let report = &outcomes.by_key[key][0];
        assert_eq!((report.outcome.as_str(), report.node.as_str()), ("answered", "node-b"), "{report:?}");
    }
    assert!(cluster.fakes[0].originated_uuids().is_empty(), "node-a placed nothing while draining");
    assert_eq!(counts(&cluster.originated()), (40, 40));
}
