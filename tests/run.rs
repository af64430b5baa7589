//! `rivr run` end to end: the server routes each call FreeSWITCH connects to the right script,
//! rejects calls that match no route, and picks up a changed script for the next call.

mod support;

use std::time::Duration;

use support::fake_freeswitch::{self as fake, Scenario};
use support::server::Server;

const CONFIG: &str = r#"
listen: 127.0.0.1:0
routes:
  - name: sales
    destination: "1000"
    script: sales.rhai
    set: { team: "east" }
  - name: support
    destination: "2*"
    script: support.rhai
no_route:
  cause: UNALLOCATED_NUMBER
"#;

const SALES: &str = r#"answer(); play("sales-" + call_info().variables.team + ".wav");"#;
const SUPPORT: &str = r#"answer(); play("support.wav");"#;

async fn start() -> Server {
    start_with(CONFIG).await
}

async fn start_with(config: &str) -> Server {
    support::server::start(config, &[("sales.rhai", SALES), ("support.rhai", SUPPORT)]).await
}

async fn call(server: &Server, destination: &str) -> Vec<String> {
    let scenario = Scenario { destination: destination.into(), ..Scenario::default() };
    let log = tokio::time::timeout(Duration::from_secs(300), fake::call(server.addr, scenario))
        .await
        .expect("the call ended");
    log.apps()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_routed_by_destination_with_the_routes_variables() {
    let server = start().await;
    let sales = call(&server, "1000").await;
    assert_eq!(sales, ["answer", "playback sales-east.wav", "hangup NORMAL_CLEARING"]);
    let support = call(&server, "2345").await;
    assert_eq!(support, ["answer", "playback support.wav", "hangup NORMAL_CLEARING"]);
    assert!(server.runtime.calls().started.load(std::sync::atomic::Ordering::Relaxed) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_matching_no_route_is_rejected_with_the_configured_cause() {
    let server = start().await;
    let apps = call(&server, "9999").await;
    assert_eq!(apps, ["hangup UNALLOCATED_NUMBER"]);
    assert_eq!(server.runtime.calls().rejected_no_route.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_script_serves_the_next_call() {
    let server = start().await;
    assert_eq!(call(&server, "2000").await[1], "playback support.wav");
    let path = server.dir.path().join("scripts/support.rhai");
    std::fs::write(&path, r#"answer(); play("support-v2.wav");"#).expect("edit");
    // The watcher picks the change up within its debounce; wait for it, bounded.
    let mut apps = Vec::new();
    for _ in 0..600 {
        apps = call(&server, "2000").await;
        if apps[1] == "playback support-v2.wav" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(apps[1], "playback support-v2.wav");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_max_calls_are_rejected_with_the_busy_cause() {
    let server = start_with(&format!("{CONFIG}max_calls: 1\nbusy_cause: USER_BUSY\n")).await;
    // The first call stays up while its prompt plays (the fake plays media in real time).
    let first = Scenario {
        destination: "1000".into(),
        media_time: Some(Duration::from_secs(3)),
        ..Scenario::default()
    };
    let addr = server.addr;
    let first = tokio::spawn(fake::call(addr, first));
    for _ in 0..6000 {
        if server.runtime.calls().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.runtime.calls().len(), 1, "the first call is live");
    let second = call(&server, "1000").await;
    assert_eq!(second, ["hangup USER_BUSY"]);
    assert_eq!(server.runtime.calls().rejected_busy.load(std::sync::atomic::Ordering::Relaxed), 1);
    let first = first.await.expect("first call");
    assert_eq!(first.apps()[1], "playback sales-east.wav");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_originated_call_runs_the_script_it_names() {
    let server = start().await;
    let mut scenario = Scenario { destination: "9999".into(), ..Scenario::default() };
    scenario.variables.insert("rivr_script".into(), "support.rhai".into());
    let log = tokio::time::timeout(Duration::from_secs(300), fake::call(server.addr, scenario))
        .await
        .expect("ended");
    assert_eq!(log.apps(), ["answer", "playback support.wav", "hangup NORMAL_CLEARING"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_longer_than_max_call_duration_s_is_hung_up_with_allotted_timeout() {
    let server = start_with(&format!("{CONFIG}max_call_duration_s: 1\n")).await;
    // The playback would take a minute; the configured limit ends the call after a second.
    let scenario = Scenario {
        destination: "2345".into(),
        media_time: Some(Duration::from_secs(60)),
        ..Scenario::default()
    };
    let log = tokio::time::timeout(Duration::from_secs(300), fake::call(server.addr, scenario))
        .await
        .expect("the call ended");
    assert_eq!(log.apps(), ["answer", "playback support.wav", "hangup ALLOTTED_TIMEOUT"]);
}

/// Calls stay on the call thread that accepted them: with one thread, a script stuck in a busy
/// loop shares it with every other call, and must give it up now and then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_loop_does_not_hold_up_the_other_calls_on_its_call_thread() {
    const BUSY: &str = "answer();\nloop { }";
    let config = "listen: 127.0.0.1:0\ncall_threads: 1\nlimits:\n  max_operations: 1000000000000000\n  compute_budget_ms: 3000\nroutes:\n  - name: busy\n    destination: \"1000\"\n    script: busy.rhai\n  - name: support\n    destination: \"2000\"\n    script: support.rhai\n";
    let server = support::server::start(config, &[("busy.rhai", BUSY), ("support.rhai", SUPPORT)]).await;
    let busy =
        tokio::spawn(fake::call(server.addr, Scenario { destination: "1000".into(), ..Scenario::default() }));
    for _ in 0..6000 {
        if server.runtime.calls().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.runtime.calls().len(), 1, "the busy call is live");
    assert_eq!(server.runtime.call_threads().map(|threads| threads.len()), Some(1));
    let good = call(&server, "2000").await;
    assert_eq!(good, ["answer", "playback support.wav", "hangup NORMAL_CLEARING"]);
    assert!(!busy.is_finished(), "the well-behaved call waited for the busy one to be stopped");
    let busy = busy.await.expect("busy call");
    assert_eq!(
        busy.apps().last().map(String::as_str),
        Some("hangup NORMAL_TEMPORARY_FAILURE"),
        "{:?}",
        busy.apps()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configurations_log_section_sets_the_format_and_a_reload_changes_the_level() {
    use support::rivr_process::RivrProcess;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = |level: &str| {
        format!("listen: 127.0.0.1:0\napi:\n  listen: 127.0.0.1:0\nlog: {{level: {level}, format: json}}\n")
    };
    let script = "answer();\nif call_info().destination == \"666\" { throw \"broken on purpose\"; }\n";
    let rivr = RivrProcess::start_logging(None, &config("info"), &[("main.rhai", script)], &[]);
    let call = |uuid: &str, destination: &str| {
        let scenario = Scenario { uuid: uuid.into(), destination: destination.into(), ..Scenario::default() };
        tokio::time::timeout(Duration::from_secs(30), fake::call(rivr.outbound, scenario))
    };
    let wait_for = |text: &'static str| {
        let rivr = &rivr;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while !rivr.log_text().contains(text) {
                assert!(tokio::time::Instant::now() < deadline, "no `{text}` in\n{}", rivr.log_text());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    const AT_INFO: &str = "11111111-0000-4000-8000-000000000001";
    const AT_WARN: &str = "11111111-0000-4000-8000-000000000002";
    const FAILING: &str = "11111111-0000-4000-8000-000000000003";
    call(AT_INFO, "1000").await.expect("the first call ended");
    wait_for(AT_INFO).await;

    std::fs::write(rivr.dir().join("rivr.yaml"), config("warn")).expect("rewrite rivr.yaml");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let metrics =
            http.get(rivr.url("/metrics")).send().await.expect("metrics").text().await.expect("body");
        if metrics.lines().any(|l| l == "rivr_reloads_total{result=\"ok\",what=\"config\"} 1") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the configuration was not reloaded:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    call(AT_WARN, "1000").await.expect("the second call ended");
    // A script error is logged at error level: once it shows, everything logged before it has.
    call(FAILING, "666").await.expect("the failing call ended");
    wait_for(FAILING).await;
    let log = rivr.log_text();
    assert!(!log.contains(AT_WARN), "a call's info lines were logged at warn:\n{log}");
    // At warn too, a call's lines carry its span: the error names its call.
    let failed = log.lines().find(|line| line.contains("broken on purpose")).expect("the script error");
    assert!(failed.contains(FAILING), "{failed}");
    for line in log.lines() {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("log.format json, yet: {line}"));
        assert!(record["level"].is_string(), "{line}");
    }
}
