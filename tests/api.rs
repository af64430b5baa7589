//! The operations API end to end: `rivr run`'s runtime with the fake FreeSWITCH, and the API on
//! its own listener, spoken to over HTTP.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rivr::config::Secret;
use rivr::server::Runtime;
use support::fake_freeswitch::{self as fake, Scenario};
use support::fake_inbound::FakeFreeswitch;
use support::rivr_process::RivrProcess;
use tokio::net::TcpListener;

const CONFIG: &str = r#"
listen: 127.0.0.1:0
routes:
  - name: sales
    destination: "1000"
    script: sales.rhai
  - name: broken
    destination: "666"
    script: broken.rhai
"#;

const TOKEN: &str = "a-long-test-token-0123456789";

struct Node {
    /// FreeSWITCH's outbound sockets reach rivr here.
    calls: std::net::SocketAddr,
    /// The API.
    base: String,
    runtime: Arc<Runtime>,
    http: reqwest::Client,
    token: Option<&'static str>,
    /// The runtime's directory and outbound listener.
    server: support::server::Server,
    _api_stop: tokio::sync::oneshot::Sender<()>,
}

impl Node {
    async fn start(extra: &str, token: Option<&'static str>) -> Node {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server = support::server::start(
            &format!("{CONFIG}{extra}"),
            &[
                ("sales.rhai", "answer();\nplay(\"hold.wav\");\n"),
                ("broken.rhai", "answer();\nlet x = 1 / 0;\n"),
            ],
        )
        .await;
        let api = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", api.local_addr().expect("addr"));
        let (api_stop, api_stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(rivr::ops::api::serve_on(api, server.runtime.clone(), token.map(Secret::new), async {
            let _ = api_stopped.await;
        }));
        let node = Node {
            calls: server.addr,
            runtime: server.runtime.clone(),
            base,
            http: reqwest::Client::new(),
            token,
            server,
            _api_stop: api_stop,
        };
        node.wait_until(|node| node.runtime.listening_on().is_some()).await;
        node
    }

    async fn wait_until(&self, mut condition: impl FnMut(&Node) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !condition(self) {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        send(self.request(reqwest::Method::GET, path)).await
    }

    async fn post(&self, path: &str) -> (u16, serde_json::Value) {
        send(self.request(reqwest::Method::POST, path)).await
    }

    async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        send(self.request(reqwest::Method::DELETE, path)).await
    }

    async fn text(&self, path: &str) -> (u16, String) {
        let response = self.request(reqwest::Method::GET, path).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// A call to `destination` that stays in each media application for `media_time`.
    fn call(&self, destination: &str, media_time: Duration) -> tokio::task::JoinHandle<fake::CallLog> {
        let scenario =
            Scenario { destination: destination.into(), media_time: Some(media_time), ..Scenario::default() };
        tokio::spawn(fake::call(self.calls, scenario))
    }
}

async fn send(request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_call_is_listed_with_its_verb_shown_with_its_transcript_and_hung_up_on_request() {
    let node = Node::start("", None).await;
    let call = node.call("1000", Duration::from_secs(60));
    node.wait_until(|node| node.runtime.calls().list().iter().any(|c| c.view().verb == Some("play"))).await;

    let (status, body) = node.get("/calls").await;
    assert_eq!(status, 200);
    let listed = &body["calls"][0];
    assert_eq!(listed["route"], "sales");
    assert_eq!(listed["script"], "sales.rhai");
    assert_eq!(listed["destination"], "1000");
    assert_eq!(listed["caller"], "5551234");
    assert_eq!(listed["verb"], "play");
    assert_eq!(listed["verb_detail"], "play: hold.wav");
    assert_eq!(listed["version"].as_str().map(str::len), Some(8));
    let uuid = listed["uuid"].as_str().expect("uuid").to_string();

    let (status, detail) = node.get(&format!("/calls/{uuid}")).await;
    assert_eq!(status, 200);
    assert_eq!(detail["transcript"][0]["line"], "answer");
    assert_eq!(detail["transcript"][0]["origin"], "sales.rhai:1:1");

    let (status, body) = node.delete(&format!("/calls/{uuid}?cause=USER_BUSY")).await;
    assert_eq!((status, body["cause"].as_str()), (202, Some("USER_BUSY")));
    let log =
        tokio::time::timeout(Duration::from_secs(30), call).await.expect("the call ended").expect("fake");
    assert_eq!(log.apps().last().map(String::as_str), Some("hangup USER_BUSY"));
    node.wait_until(|node| node.runtime.calls().is_empty()).await;

    let (status, body) = node.get(&format!("/calls/{uuid}")).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("no live call")), "{body}");
    let (status, body) = node.delete("/calls/nope?cause=HAPPY_ENDING").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("unknown hangup cause `HAPPY_ENDING`")),
        "{body}"
    );
    // Whatever goes wrong, the answer is JSON that says what to do.
    let (status, body) = send(node.request(reqwest::Method::PUT, "/calls")).await;
    assert_eq!(status, 405, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("PUT is not allowed on /calls")), "{body}");
    let (status, body) = node.get("/nope").await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("/health, /ready")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_by_route_and_ending_and_verbs_by_switch_time_in_prometheus_format() {
    let node = Node::start("", None).await;
    node.call("1000", Duration::from_millis(5)).await.expect("call");
    node.call("666", Duration::from_millis(5)).await.expect("call");
    node.call("999", Duration::from_millis(5)).await.expect("call");
    node.wait_until(|node| node.runtime.calls().counters().failed == 1).await;
    let response = node.request(reqwest::Method::GET, "/metrics").send().await.expect("metrics");
    let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let text = response.text().await.expect("body");
    for line in [
        "rivr_calls_total{ending=\"completed\",route=\"sales\"} 1",
        "rivr_calls_total{ending=\"script_error\",route=\"broken\"} 1",
        "rivr_calls_total{ending=\"no_route\",route=\"\"} 1",
        "rivr_script_errors_total{kind=\"error\"} 1",
        "rivr_verb_duration_seconds_count{verb=\"play\"} 2",
        "rivr_calls_active 0",
        "rivr_draining 0",
        "rivr_scripts_loaded 2",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
    }
    assert!(text.contains("process_open_fds"), "{text}");
    // Recent errors carry the script's position.
    let errors = node.runtime.calls().recent_errors();
    assert_eq!((errors[0].file.as_str(), errors[0].line), ("broken.rhai", 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_thread_shows_its_live_calls_in_metrics_and_a_call_names_its_thread() {
    let node = Node::start("call_threads: 2\n", None).await;
    let gauges = |text: &str| -> Vec<String> {
        let mut lines: Vec<String> =
            text.lines().filter(|l| l.starts_with("rivr_call_thread_calls{")).map(String::from).collect();
        lines.sort();
        lines
    };
    let (_, idle) = node.text("/metrics").await;
    assert_eq!(
        gauges(&idle),
        ["rivr_call_thread_calls{thread=\"0\"} 0", "rivr_call_thread_calls{thread=\"1\"} 0"],
        "both threads show before any call"
    );
    let call = node.call("1000", Duration::from_secs(60));
    node.wait_until(|node| node.runtime.calls().list().iter().any(|c| c.view().verb == Some("play"))).await;
    let (_, body) = node.get("/calls").await;
    let thread = body["calls"][0]["thread"].as_u64().expect("a call thread");
    assert!(thread < 2, "{body}");
    let (_, busy) = node.text("/metrics").await;
    let expected: Vec<String> = (0..2)
        .map(|n| format!("rivr_call_thread_calls{{thread=\"{n}\"}} {}", u64::from(n == thread)))
        .collect();
    assert_eq!(gauges(&busy), expected);
    let uuid = body["calls"][0]["uuid"].as_str().expect("uuid").to_string();
    node.delete(&format!("/calls/{uuid}")).await;
    tokio::time::timeout(Duration::from_secs(30), call).await.expect("the call ended").expect("fake");
    node.wait_until(|node| node.runtime.calls().is_empty()).await;
    let (_, after) = node.text("/metrics").await;
    assert_eq!(gauges(&after), gauges(&idle), "back to 0 once the call ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_every_endpoint_but_health_readiness_and_the_page() {
    let node = Node::start("", Some(TOKEN)).await;
    let bare = |path: &str| node.http.get(format!("{}{path}", node.base)).send();
    for path in ["/calls", "/scripts", "/metrics", "/events", "/stats"] {
        let response = bare(path).await.expect("request");
        assert_eq!(response.status().as_u16(), 401, "{path}");
        assert_eq!(response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
        let body: serde_json::Value =
            serde_json::from_str(&response.text().await.expect("body")).expect("json");
        assert!(body["error"].as_str().is_some_and(|e| e.contains("Authorization: Bearer")), "{body}");
    }
    let wrong = node.http.get(format!("{}/calls", node.base)).bearer_auth("a-long-test-token-0123456788");
    assert_eq!(wrong.send().await.expect("request").status().as_u16(), 401);
    for path in ["/health", "/ready", "/", "/assets/app.js"] {
        assert_eq!(bare(path).await.expect("request").status().as_u16(), 200, "{path}");
    }
    let (status, _) = node.get("/calls").await;
    assert_eq!(status, 200);
    let posted = node.http.post(format!("{}/drain", node.base)).send().await.expect("request");
    assert_eq!(posted.status().as_u16(), 401);
    assert!(!node.runtime.calls().is_draining());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_refuses_new_calls_with_the_busy_cause_and_shows_in_readiness_until_resumed() {
    let node = Node::start("", None).await;
    let (status, body) = node.get("/ready").await;
    assert_eq!((status, &body["ready"]), (200, &serde_json::json!(true)), "{body}");

    let (status, body) = node.post("/drain").await;
    assert_eq!((status, &body["draining"]), (200, &serde_json::json!(true)));
    let (status, body) = node.get("/ready").await;
    assert_eq!(status, 503);
    assert!(body["reasons"][0].as_str().is_some_and(|r| r.starts_with("draining")), "{body}");
    let log = node.call("1000", Duration::from_millis(5)).await.expect("call");
    assert_eq!(log.apps(), ["hangup NORMAL_CIRCUIT_CONGESTION"]);
    let (_, metrics) = node.text("/metrics").await;
    assert!(metrics.lines().any(|l| l == "rivr_draining 1"), "{metrics}");
    assert!(
        metrics.lines().any(|l| l == "rivr_calls_total{ending=\"rejected_draining\",route=\"\"} 1"),
        "{metrics}"
    );

    let (status, _) = node.post("/resume").await;
    assert_eq!(status, 200);
    let (status, _) = node.get("/ready").await;
    assert_eq!(status, 200);
    let log = node.call("1000", Duration::from_millis(5)).await.expect("call");
    assert_eq!(log.apps(), ["answer", "playback hold.wav", "hangup NORMAL_CLEARING"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_list_versions_and_a_reload_reports_a_compile_error_with_its_position() {
    let node = Node::start("", None).await;
    let (status, body) = node.get("/scripts").await;
    assert_eq!(status, 200);
    let names: Vec<&str> =
        body["scripts"].as_array().expect("list").iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["broken.rhai", "sales.rhai"]);
    assert!(body["scripts"][1]["loaded_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{body}");

    std::fs::write(node.server.dir.path().join("scripts/sales.rhai"), "answer();\nplay(\"x.wav\"\n")
        .expect("write");
    let (status, body) = node.post("/reload").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["scripts"]["failed"][0].as_str().is_some_and(|f| f.starts_with("sales.rhai:3:1")), "{body}");
    let (_, body) = node.get("/scripts").await;
    let sales = &body["scripts"][1];
    assert_eq!(sales["error"]["file"], "sales.rhai");
    assert_eq!(sales["error"]["line"], 3);
    // The last good version keeps serving.
    assert!(sales["version"].is_string());
    let (_, metrics) = node.text("/metrics").await;
    assert!(metrics.lines().any(|l| l == "rivr_scripts_failing 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originating_through_the_api_places_the_call_on_freeswitch_and_returns_its_outcome() {
    let fs = FakeFreeswitch::start("ClueCon").await;
    let extra = format!("freeswitch:\n  - name: fs1\n    host: 127.0.0.1\n    port: {}\n", fs.port());
    let node = Node::start(&extra, None).await;
    node.wait_until(|node| {
        node.runtime.inbound().is_some_and(|pool| {
            pool.clients().all(|c| {
                matches!(c.state(), rivr::switch::freeswitch::inbound::ConnectionState::Connected { .. })
            })
        })
    })
    .await;
    let (status, _) = node.get("/ready").await;
    assert_eq!(status, 200);

    let body = serde_json::json!({ "to": "loopback/busy/default", "script": "sales.rhai", "caller_id_number": "5550100" });
    let (status, outcome) = send(
        node.request(reqwest::Method::POST, "/calls")
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await;
    assert_eq!((status, outcome["outcome"].as_str()), (200, Some("busy")), "{outcome}");
    let sent = fs.wait_for_command("bgapi originate").await;
    let listening = node.runtime.listening_on().expect("listening");
    assert!(sent.contains(",rivr_script=sales.rhai,origination_caller_id_number=5550100}"), "{sent}");
    assert!(sent.ends_with(&format!("}}loopback/busy/default '&socket({listening} async full)'")), "{sent}");

    let missing = serde_json::json!({ "to": "user/1000", "script": "nope.rhai" });
    let (status, body) = send(
        node.request(reqwest::Method::POST, "/calls")
            .header("content-type", "application/json")
            .body(missing.to_string()),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("nope.rhai")), "{body}");
    let (status, body) = send(
        node.request(reqwest::Method::POST, "/calls")
            .header("content-type", "application/json")
            .body("{\"to\": 1}"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (_, metrics) = node.text("/metrics").await;
    for line in [
        "rivr_originate_total{outcome=\"busy\",via=\"api\"} 1",
        "rivr_originate_total{outcome=\"refused\",via=\"api\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_starts_with_a_snapshot_and_then_announces_calls() {
    let node = Node::start("", None).await;
    let mut response = node.request(reqwest::Method::GET, "/events").send().await.expect("events");
    assert_eq!(response.status().as_u16(), 200);
    let mut seen = String::new();
    let first = tokio::time::timeout(Duration::from_secs(10), response.chunk())
        .await
        .expect("snapshot")
        .expect("chunk");
    seen.push_str(&String::from_utf8_lossy(&first.expect("bytes")));
    assert!(seen.starts_with("event: snapshot\ndata: {"), "{seen}");
    let _call = node.call("1000", Duration::from_secs(60));
    while !(seen.contains("event: call\n") && seen.contains("\"verb\":\"play\"")) {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("an event")
            .expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("bytes")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_comes_from_the_environment_is_never_logged_and_changes_are_logged_with_who_made_them() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = "listen: 127.0.0.1:0\napi:\n  listen: 127.0.0.1:0\n  token: ${RIVR_API_TOKEN}\n";
    // Every level, so that nothing anywhere in the stack writes the token.
    let rivr = RivrProcess::start_logging(
        Some("trace"),
        config,
        &[("main.rhai", "answer();")],
        &[("RIVR_API_TOKEN", TOKEN)],
    );
    let http = reqwest::Client::new();
    let wrong = "a-long-wrong-token-9876543210";
    let refused = http.post(rivr.url("/drain")).bearer_auth(wrong).send().await.expect("request");
    assert_eq!(refused.status().as_u16(), 401);
    for path in ["/drain", "/resume", "/reload"] {
        let response = http.post(rivr.url(path)).bearer_auth(TOKEN).send().await.expect("request");
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !rivr.log_text().contains("API: reload") {
        assert!(tokio::time::Instant::now() < deadline, "{}", rivr.log_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = rivr.log_text();
    for change in ["API: draining", "API: resumed", "API: reload", "API request refused"] {
        let line = log
            .lines()
            .find(|line| line.contains(change))
            .unwrap_or_else(|| panic!("no `{change}` in\n{log}"));
        assert!(line.contains("remote=127.0.0.1:"), "{line}");
    }
    assert!(!log.contains(TOKEN), "the token was logged");
    assert!(!log.contains(wrong), "a presented token was logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeswitch_connection_that_is_down_makes_the_node_not_ready_and_shows_in_metrics() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let extra = format!("freeswitch:\n  - name: fs-down\n    host: 127.0.0.1\n    port: {port}\n");
    let node = Node::start(&extra, None).await;
    let (status, body) = node.get("/ready").await;
    assert_eq!(status, 503, "{body}");
    let reasons = body["reasons"].to_string();
    assert!(
        reasons.contains(&format!("FreeSWITCH connection `fs-down` (127.0.0.1:{port}) is down")),
        "{body}"
    );
    let (_, metrics) = node.text("/metrics").await;
    assert!(metrics.lines().any(|l| l == "rivr_freeswitch_connected{connection=\"fs-down\"} 0"), "{metrics}");
    let body = serde_json::json!({ "to": "user/1000", "script": "sales.rhai" });
    let (status, body) = send(
        node.request(reqwest::Method::POST, "/calls")
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.starts_with("FreeSWITCH did not place the call")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_switch_disconnects_mid_call_leaves_the_table_and_is_counted_as_hung_up() {
    let node = Node::start("", None).await;
    let scenario =
        Scenario { destination: "1000".into(), drop_during: Some("playback".into()), ..Scenario::default() };
    tokio::time::timeout(Duration::from_secs(30), fake::call(node.calls, scenario))
        .await
        .expect("the call ended");
    node.wait_until(|node| node.runtime.calls().is_empty() && node.runtime.calls().counters().completed == 1)
        .await;
    let (_, metrics) = node.text("/metrics").await;
    assert!(
        metrics.lines().any(|l| l == "rivr_calls_total{ending=\"hung_up\",route=\"sales\"} 1"),
        "{metrics}"
    );
    assert!(metrics.lines().any(|l| l == "rivr_calls_active 0"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_the_caller_presses_are_never_logged_even_at_trace_level() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = "listen: 127.0.0.1:0\napi:\n  listen: 127.0.0.1:0\nlog: {format: json}\n";
    let script =
        "answer();\nlet pin = ask(\"pin.wav\", #{max_digits: 4, sensitive: true});\nplay(\"ok.wav\");\n";
    let rivr = RivrProcess::start_logging(Some("trace"), config, &[("main.rhai", script)], &[]);
    let pin = "7319";
    let scenario = Scenario { keys: [pin.to_string()].into(), ..Scenario::default() };
    let log = tokio::time::timeout(Duration::from_secs(30), fake::call(rivr.outbound, scenario))
        .await
        .expect("the call ended");
    assert!(
        log.apps().iter().any(|app| app.starts_with("playback ok.wav")),
        "the PIN was taken: {:?}",
        log.apps()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !rivr.log_text().contains("DTMF key") {
        assert!(tokio::time::Instant::now() < deadline, "no DTMF line at trace level:\n{}", rivr.log_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every value of every record, field by field: none is a key of the PIN, bare or wrapped.
    let keys: Vec<String> = pin.chars().flat_map(|key| [key.to_string(), format!("Some('{key}')")]).collect();
    for line in rivr.log_text().lines() {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("log.format json, yet: {line}"));
        let mut values = vec![&record];
        while let Some(value) = values.pop() {
            match value {
                serde_json::Value::Object(map) => values.extend(map.values()),
                serde_json::Value::Array(items) => values.extend(items),
                serde_json::Value::String(text) => {
                    assert!(!keys.contains(text) && !text.contains(pin), "a key was logged: {line}")
                }
                _ => {}
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_the_node_drains_visibly_and_the_api_answers_until_the_last_call_ends() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = "listen: 127.0.0.1:0\ndrain_timeout_s: 60\napi:\n  listen: 127.0.0.1:0\n";
    let rivr = RivrProcess::start(config, &[("main.rhai", "answer();\nplay(\"hold.wav\");\n")], &[]);
    let http = reqwest::Client::new();
    let scenario = Scenario { media_time: Some(Duration::from_secs(3)), ..Scenario::default() };
    let call = tokio::spawn(fake::call(rivr.outbound, scenario));
    let live =
        || async { http.get(rivr.url("/calls")).send().await.expect("calls").text().await.expect("body") };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !live().await.contains("\"verb\":\"play\"") {
        assert!(tokio::time::Instant::now() < deadline, "the call never showed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rivr.terminate();
    let mut ready = http.get(rivr.url("/ready")).send().await.expect("ready");
    while ready.status().as_u16() == 200 {
        assert!(tokio::time::Instant::now() < deadline, "never stopped being ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
        ready = http.get(rivr.url("/ready")).send().await.expect("ready");
    }
    let body = ready.text().await.expect("body");
    assert!(body.contains("draining"), "{body}");
    let metrics = http.get(rivr.url("/metrics")).send().await.expect("metrics").text().await.expect("body");
    assert!(metrics.lines().any(|l| l == "rivr_draining 1"), "{metrics}");
    let log =
        tokio::time::timeout(Duration::from_secs(30), call).await.expect("the call ended").expect("fake");
    assert_eq!(
        log.apps().last().map(String::as_str),
        Some("hangup NORMAL_CLEARING"),
        "the live call finished its flow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_menu_reached_on_a_live_call_is_counted_at_its_script_line_with_the_choice() {
    let menu = r#"import "rivr/menu" as menu;
answer();
let choice = menu::menu("ivr/main-menu.wav", #{ "1": || "sales", "2": || "support" }, #{ tries: 2 });
hangup();
"#;
    let server = support::server::start("listen: 127.0.0.1:0\n", &[("main.rhai", menu)]).await;
    let scenario = Scenario { keys: ["2".to_string()].into(), ..Scenario::default() };
    tokio::time::timeout(Duration::from_secs(30), fake::call(server.addr, scenario))
        .await
        .expect("the call ended");
    let calls = server.runtime.calls().clone();
    tokio::task::spawn_blocking(move || support::wait_for("the call to end", || calls.is_empty()))
        .await
        .expect("wait");
    let text = server.runtime.calls().metrics().render(&Default::default());
    for line in [
        "rivr_menu_reached_total{line=\"3\",script=\"main.rhai\"} 1",
        "rivr_menu_outcomes_total{line=\"3\",outcome=\"match\",script=\"main.rhai\"} 1",
        "rivr_menu_choices_total{choice=\"2\",line=\"3\",script=\"main.rhai\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{}",
            text.lines().filter(|l| l.starts_with("rivr_menu")).collect::<Vec<_>>().join("\n")
        );
    }
}
