//! The ESL inbound client against a fake FreeSWITCH that speaks the captured bytes
//! (`tests/support/fake_inbound.rs`): authentication, reply and job correlation, originate
//! outcomes, per-call event demultiplexing under pressure, reconnects and the server pool.
//!
//! No test asserts on time: each waits for an explicit condition (a reply, a command seen by
//! the fake, a connection generation).

mod support;

use std::sync::Arc;
use std::time::Duration;

use rivr::switch::freeswitch::inbound::{
    ConnectionState, Destination, EslError, EventEncoding, EventSubscription, Filter, InboundClient,
    InboundConfig, InboundPool, OriginateOutcome, OriginateRequest, Received,
};
use support::fake_inbound::{ApiReply, FakeFreeswitch, CAPTURED_PASSWORD};
use tokio::sync::Barrier;

fn config(fake: &FakeFreeswitch) -> InboundConfig {
    let mut config = InboundConfig::new("fs1", "127.0.0.1", fake.port(), CAPTURED_PASSWORD);
    // Reconnect tests wait for the reconnect, never for a time; short delays only make them
    // finish sooner.
    config.reconnect_initial = Duration::from_millis(10);
    config.reconnect_max = Duration::from_millis(50);
    config
}

fn with_events(fake: &FakeFreeswitch, events: &[&str]) -> InboundConfig {
    let mut config = config(fake);
    config.events = events.iter().map(|name| name.to_string()).collect();
    config
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Takes `count` events from a subscription and returns their names, checking each is for the
/// subscription's uuid.
async fn names(subscription: &mut EventSubscription, count: usize) -> Vec<String> {
    let mut names = Vec::with_capacity(count);
    while names.len() < count {
        match subscription.recv().await {
            Some(Received::Event(event)) => {
                assert_eq!(event.unique_id(), subscription.uuid(), "routed by Unique-ID");
                names.push(event.name().unwrap_or_default().to_owned());
            }
            other => panic!("expected an event, got {other:?}"),
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_authenticates_subscribes_to_jobs_and_runs_api_commands() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let client = InboundClient::connect(config(&fake)).await.expect("connects");
    let version = client.api("version").await.expect("version");
    assert!(version.starts_with("FreeSWITCH Version 1.10.12-release"), "{version}");
    assert!(!version.ends_with('\n'));
    let commands = fake.commands();
    assert_eq!(
        commands,
        [
            format!("auth {CAPTURED_PASSWORD}"),
            "event plain BACKGROUND_JOB".to_owned(),
            "api version".to_owned()
        ]
    );
    assert_eq!(client.state(), ConnectionState::Connected { generation: 1 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_a_clear_error_that_never_shows_the_password() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let mut config = config(&fake);
    config.password = "WrongPassword".into();
    let debug = format!("{config:?}");
    let err = InboundClient::connect(config).await.expect_err("the password is refused");
    assert_eq!(err, EslError::AuthRejected { server: format!("127.0.0.1:{}", fake.port()) });
    let message = err.to_string();
    assert_eq!(
        message,
        format!(
            "FreeSWITCH at 127.0.0.1:{} refused the ESL password; check `password` in \
             event_socket.conf.xml and rivr.yaml",
            fake.port()
        )
    );
    assert!(!message.contains("WrongPassword"));
    assert!(!format!("{err:?}").contains("WrongPassword"));
    assert!(!debug.contains("WrongPassword"), "{debug}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_keeps_retrying_after_an_auth_failure_and_connects_once_the_password_matches() {
    let fake = FakeFreeswitch::start("NewPassword").await;
    let client = InboundClient::start(config(&fake));
    fake.wait_for_command("auth ClueCon").await;
    assert!(matches!(client.api("version").await, Err(EslError::NotConnected { .. })));
    fake.set_password(CAPTURED_PASSWORD);
    let generation = client.wait_connected(0).await.expect("connects");
    assert_eq!(generation, 1);
    client.api("version").await.expect("works once connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_error_reply_is_a_command_failed_error_with_freeswitchs_words() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let client = InboundClient::connect(config(&fake)).await.expect("connects");
    let err = client.api("bogus_command").await.expect_err("refused");
    assert!(
        matches!(&err, EslError::CommandFailed { reply, command, .. }
            if reply == "-ERR bogus_command Command not found!" && command == "api bogus_command"),
        "{err:?}"
    );
    let err = client.bgapi("bogus_command").await.expect_err("refused");
    assert!(matches!(err, EslError::CommandFailed { .. }), "{err:?}");
    // The connection is still fine.
    client.api("version").await.expect("still connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_api_and_bgapi_callers_each_get_their_own_result() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let client = InboundClient::connect(config(&fake)).await.expect("connects");
    for n in 0..20 {
        fake.on_api(&format!("rivr_echo {n}"), ApiReply::Body(format!("echo {n}\n")));
    }
    fake.hold_jobs();
    let mut jobs = Vec::new();
    let mut calls = Vec::new();
    for n in 0..20 {
        let client = client.clone();
        let command = format!("rivr_echo {n}");
        if n % 2 == 0 {
            jobs.push((n, tokio::spawn(async move { client.bgapi(&command).await })));
        } else {
            calls.push((n, tokio::spawn(async move { client.api(&command).await })));
        }
    }
    // Every job is held by the fake, yet the api calls behind them are answered.
    for (n, call) in calls {
        assert_eq!(call.await.expect("task").expect("api"), format!("echo {n}"));
    }
    fake.wait_held_jobs(10).await;
    fake.release_jobs_in_reverse();
    for (n, job) in jobs {
        assert_eq!(job.await.expect("task").expect("bgapi"), format!("echo {n}"));
    }
    let status = client.status().await.expect("status");
    assert_eq!(status.max_sessions, Some(1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_comes_after_its_request_timed_out_is_not_given_to_the_next_request() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    fake.on_api("rivr_slow", ApiReply::Delayed("slow\n".into()));
    let mut config = config(&fake);
    config.reply_timeout = Duration::from_millis(300);
    let client = InboundClient::connect(config).await.expect("connects");
    let err = client.api("rivr_slow").await.expect_err("times out");
    assert!(matches!(&err, EslError::Timeout { command, .. } if command == "api rivr_slow"), "{err:?}");
    fake.wait_for_command("api rivr_slow").await;
    fake.release_delayed();
    let version = client.api("version").await.expect("its own reply");
    assert!(version.starts_with("FreeSWITCH Version"), "{version}");
    assert_eq!(client.state(), ConnectionState::Connected { generation: 1 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originate_maps_every_captured_outcome() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let client = InboundClient::connect(config(&fake)).await.expect("connects");
    let answered = uuid();
    let cases = [
        ("busy", OriginateOutcome::Busy),
        ("reject", OriginateOutcome::Rejected),
        ("noanswer", OriginateOutcome::NoAnswer),
        ("ring", OriginateOutcome::NoAnswer),
        ("nosuchext", OriginateOutcome::NoRoute),
        ("race", OriginateOutcome::Ended),
        ("answer", OriginateOutcome::Answered { uuid: answered.clone() }),
    ];
    for (extension, expected) in cases {
        let request = OriginateRequest::new(
            format!("loopback/{extension}/default"),
            Destination::application("park", None),
        )
        .uuid(answered.clone());
        let outcome = client.originate(&request).await.expect("originate runs");
        assert_eq!(outcome, expected, "{extension}");
    }
    let sent = fake.wait_for_command("bgapi originate").await;
    assert_eq!(sent, format!("bgapi originate {{origination_uuid={answered}}}loopback/busy/default &park"));
    fake.on_originate("outoforder", "-ERR DESTINATION_OUT_OF_ORDER\n");
    let request = OriginateRequest::new("loopback/outoforder/default", Destination::extension("9000"));
    assert_eq!(
        client.originate(&request).await,
        Ok(OriginateOutcome::Failed { cause: "DESTINATION_OUT_OF_ORDER".into() })
    );
    client.hangup(&answered, Some("NORMAL_CLEARING")).await.expect("uuid_kill");
    assert!(fake.commands().contains(&format!("api uuid_kill {answered} NORMAL_CLEARING")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originate_to_rivr_names_the_script_and_the_call_events_reach_its_subscriber() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let config = with_events(&fake, &["CHANNEL_CREATE", "CHANNEL_ANSWER"]);
    let client = InboundClient::connect(config).await.expect("connects");
    let call = uuid();
    let mut events = client.subscribe(&call);
    let request = OriginateRequest::new("loopback/answer/default", Destination::socket("127.0.0.1:8084"))
        .uuid(call.clone())
        .script("callback.rhai")
        .caller_id_number("5550100");
    let outcome = client.originate(&request).await.expect("originate");
    assert_eq!(outcome.uuid(), Some(call.as_str()));
    let sent = fake.wait_for_command("bgapi originate").await;
    assert!(sent.contains(",rivr_script=callback.rhai,"), "{sent}");
    assert!(sent.ends_with(" '&socket(127.0.0.1:8084 async full)'"), "{sent}");
    assert_eq!(names(&mut events, 2).await, ["CHANNEL_CREATE", "CHANNEL_ANSWER"]);
}

/// `calls` calls subscribed on `client`: the first one's subscription, which nobody reads
/// yet, and collectors that read `count` event names from each of the others.
fn one_slow_subscriber_among(
    client: &InboundClient,
    calls: usize,
    count: usize,
) -> (Vec<String>, EventSubscription, Vec<tokio::task::JoinHandle<Vec<String>>>) {
    let uuids: Vec<String> = (0..calls).map(|_| uuid()).collect();
    let slow = client.subscribe(&uuids[0]);
    let others = uuids[1..]
        .iter()
        .map(|uuid| {
            let mut subscription = client.subscribe(uuid);
            tokio::spawn(async move { names(&mut subscription, count).await })
        })
        .collect();
    (uuids, slow, others)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_100_interleaved_calls_keep_flowing_while_one_subscriber_is_slow() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let expected = fake.streamed_event_names(false);
    let mut config = with_events(&fake, &["ALL"]);
    config.queue_capacity = 8;
    // Room for the slow call's whole backlog: the other calls must never wait for it.
    config.spill_capacity = expected.len() + 8;
    let client = InboundClient::connect(config).await.expect("connects");
    let (uuids, mut slow, others) = one_slow_subscriber_among(&client, 100, expected.len());
    fake.stream_calls(&uuids);
    // The 99 others get everything while the slow one has not read a single event.
    for other in others {
        assert_eq!(other.await.expect("collector"), expected);
    }
    assert_eq!(names(&mut slow, expected.len()).await, expected);
    assert!(slow.try_recv().is_none());
    assert_eq!(client.discarded_events(), 0);
    assert_eq!(client.reader_pauses(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_beyond_the_spill_budget_pauses_the_socket_and_loses_nothing() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let expected = fake.streamed_event_names(false);
    let mut config = with_events(&fake, &["ALL"]);
    config.queue_capacity = 2;
    config.spill_capacity = 4;
    let client = InboundClient::connect(config).await.expect("connects");
    let (uuids, mut slow, others) = one_slow_subscriber_among(&client, 20, expected.len());
    fake.stream_calls(&uuids);
    // Wait until the reader has stopped for the slow subscriber (polling a counter: a
    // condition, not a time).
    while client.reader_pauses() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(names(&mut slow, expected.len()).await, expected);
    for other in others {
        assert_eq!(other.await.expect("collector"), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_events_are_demultiplexed_like_plain_ones() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let expected = fake.streamed_event_names(true);
    let mut config = with_events(&fake, &["ALL"]);
    config.format = EventEncoding::Json;
    let client = InboundClient::connect(config).await.expect("connects");
    let uuids: Vec<String> = (0..3).map(|_| uuid()).collect();
    let mut subscriptions: Vec<_> = uuids.iter().map(|uuid| client.subscribe(uuid)).collect();
    fake.stream_calls(&uuids);
    for subscription in &mut subscriptions {
        assert_eq!(names(subscription, expected.len()).await, expected);
    }
    assert!(fake.commands().contains(&"event json ALL".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reconnects_after_the_server_restarts_and_fails_what_was_pending() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let client = InboundClient::connect(with_events(&fake, &["ALL"])).await.expect("connects");
    let call = uuid();
    let mut events = client.subscribe(&call);
    fake.hold_jobs();
    let pending = {
        let client = client.clone();
        tokio::spawn(async move { client.bgapi("status").await })
    };
    fake.wait_held_jobs(1).await;
    fake.restart().await;
    let err = pending.await.expect("task").expect_err("lost with the connection");
    assert!(matches!(err, EslError::Disconnected { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(events.recv().await, Some(Received::ConnectionLost));
    assert_eq!(client.wait_connected(1).await.expect("reconnects"), 2);
    client.api("version").await.expect("works again");
    // The subscription carried over.
    fake.stream_calls(std::slice::from_ref(&call));
    let expected = fake.streamed_event_names(false);
    assert_eq!(names(&mut events, expected.len()).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frame_closes_the_connection_and_the_client_reconnects() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    fake.on_api("rivr_garbage", ApiReply::Malformed);
    let client = InboundClient::connect(config(&fake)).await.expect("connects");
    let err = client.api("rivr_garbage").await.expect_err("garbage");
    assert!(
        matches!(&err, EslError::Protocol { detail, .. } if detail.contains("Content-Length")),
        "{err:?}"
    );
    assert_eq!(client.wait_connected(1).await.expect("reconnects"), 2);
    client.api("version").await.expect("works again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_while_disconnected_fail_at_once_with_not_connected() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let mut config = InboundConfig::new("gone", "127.0.0.1", port, CAPTURED_PASSWORD);
    config.reconnect_initial = Duration::from_millis(10);
    let err = InboundClient::connect(config.clone()).await.expect_err("nothing listens");
    assert!(matches!(err, EslError::Connect { .. }), "{err:?}");
    let client = InboundClient::start(config);
    let err = client.api("status").await.expect_err("not connected");
    assert!(matches!(err, EslError::NotConnected { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_go_before_the_subscription_and_can_change_at_runtime() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let mut config = with_events(&fake, &["CHANNEL_CREATE", "CHANNEL_ANSWER"]);
    config.filters = vec![Filter::new("Event-Name", "CHANNEL_CREATE")];
    let client = InboundClient::connect(config).await.expect("connects");
    let commands = fake.commands();
    let filter =
        commands.iter().position(|line| line == "filter Event-Name CHANNEL_CREATE").expect("filter sent");
    let event = commands
        .iter()
        .position(|line| line == "event plain CHANNEL_CREATE CHANNEL_ANSWER")
        .expect("subscribed");
    assert!(filter < event);
    client.add_filter(Filter::new("Event-Name", "CHANNEL_ANSWER")).await.expect("added");
    client.remove_filter(&Filter::new("Event-Name", "CHANNEL_CREATE")).await.expect("removed");
    fake.wait_for_command("filter delete Event-Name CHANNEL_CREATE").await;
    // With only the CHANNEL_ANSWER filter left, an answered call's CHANNEL_CREATE is filtered.
    let call = uuid();
    let mut events = client.subscribe(&call);
    let request =
        OriginateRequest::new("loopback/answer/default", Destination::extension("9000")).uuid(call.clone());
    client.originate(&request).await.expect("answered");
    assert_eq!(names(&mut events, 1).await, ["CHANNEL_ANSWER"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_reports_health_and_picks_a_connected_server() {
    let first = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let second = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let dead_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let mut dead = InboundConfig::new("dead", "127.0.0.1", dead_port, CAPTURED_PASSWORD);
    dead.reconnect_initial = Duration::from_millis(10);
    let mut second_config = config(&second);
    second_config.name = "fs2".into();
    let pool = InboundPool::start(vec![dead, config(&first), second_config], None);
    for name in ["fs1", "fs2"] {
        pool.client(name).expect("configured").wait_connected(0).await.expect("connects");
    }
    let health = pool.check_now().await;
    assert_eq!(health.len(), 3);
    assert!(!health[0].connected);
    assert!(health[0].error.is_some());
    for server in &health[1..] {
        assert!(server.connected, "{server:?}");
        let status = server.status.as_ref().expect("status");
        assert!(status.ready);
        assert_eq!(status.sessions, 0);
        assert_eq!(status.free_sessions(), Some(1000));
    }
    let picked = pool.pick().expect("a server");
    assert_eq!(picked.name(), "fs1");
    let request = OriginateRequest::new("loopback/busy/default", Destination::extension("9000"));
    assert_eq!(pool.originate(&request).await, Ok(OriginateOutcome::Busy));
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_says_exit_and_later_requests_fail_as_closed() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let client = InboundClient::connect(with_events(&fake, &["ALL"])).await.expect("connects");
    let mut events = client.subscribe(&uuid());
    let clone = client.clone();
    client.close().await;
    assert!(fake.commands().iter().filter(|line| *line == "exit").count() == 2);
    assert!(matches!(clone.api("version").await, Err(EslError::Closed { .. })));
    assert_eq!(clone.state(), ConnectionState::Closed);
    assert_eq!(events.recv().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_share_one_client_without_mixing_replies() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    let client = InboundClient::connect(config(&fake)).await.expect("connects");
    for n in 0..50 {
        fake.on_api(&format!("rivr_echo {n}"), ApiReply::Body(format!("{n}")));
    }
    let start = Arc::new(Barrier::new(50));
    let mut tasks = Vec::new();
    for n in 0..50 {
        let client = client.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            for _ in 0..10 {
                let reply = client.api(&format!("rivr_echo {n}")).await.expect("api");
                assert_eq!(reply, n.to_string());
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rivr_originate_prints_the_outcome_in_words_and_its_own_exit_is_no_warning() {
    let fake = FakeFreeswitch::start(CAPTURED_PASSWORD).await;
    fake.on_originate("noanswer", "-ERR NO_ANSWER\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("rivr.yaml");
    let yaml = format!(
        "freeswitch:\n  - host: 127.0.0.1\n    port: {}\n    password: {CAPTURED_PASSWORD}\n",
        fake.port()
    );
    std::fs::write(&config, yaml).expect("write");
    std::fs::create_dir(dir.path().join("scripts")).expect("scripts dir");
    let config = config.to_str().expect("utf-8").to_string();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rivr"))
            .args(["originate", "-c", &config, "loopback/noanswer/default", "main.rhai"])
            .env("RIVR_LOG", "info")
            .env("NO_COLOR", "1")
            .output()
            .expect("rivr runs")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), "not answered: no_answer", "{stderr}");
    assert!(!stderr.contains("WARN"), "rivr's own exit logged as a warning: {stderr}");
    assert!(fake.commands().iter().any(|c| c == "exit"), "{:?}", fake.commands());
}
