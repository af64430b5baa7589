//! `http_get`/`http_post` end to end: a script on a simulated call, the call actor, the real
//! reqwest client with its policy, and an HTTP server on 127.0.0.1 started by the test.

#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::sync::Arc;

use http_server::Reply;
use rivr::call::actor::CallServices;
use rivr::call::http::{CannedHttp, HttpClient, HttpResponse};
use rivr::call::{CallError, CallInfo, Command, Origin, Outcome};
use rivr::config::Config;
use rivr::http::ReqwestHttp;
use rivr::script::runner::{CallJob, CallReport, Ending};
use rivr::switch::sim::CallerAction;
use rivr::switch::Channel;
use support::*;

/// The real client with `http:` settings written as YAML.
fn client(http_yaml: &str) -> Arc<ReqwestHttp> {
    let config = Config::parse_with_env(&format!("http:\n{http_yaml}"), "rivr.yaml", &|_| None)
        .unwrap_or_else(|error| panic!("{error}"));
    Arc::new(ReqwestHttp::new(&config.http).expect("client"))
}

/// Run `text` on a simulated call whose actor uses `http`; the caller does `actions`.
fn run_with_http(
    rt: &tokio::runtime::Runtime,
    text: &str,
    http: Arc<dyn HttpClient>,
    actions: Vec<CallerAction>,
) -> (CallReport, Vec<String>) {
    let call = SimCall { actions, services: CallServices::with_http(http), ..SimCall::default() };
    run_on(rt, compile("main.rhai", text), call)
}

#[test]
fn a_url_outside_the_allowlist_is_a_catchable_error_naming_the_url_and_the_setting() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::text(200, "secret"));
    let http = client(&format!("  allow: ['{}/api/']\n", server.base));
    let script = format!(
        r#"try {{ http_get("{0}/admin/users"); say("fetched"); }} catch (e) {{ say(`${{e}}`); }}
           try {{ http_get("{0}/api/../admin/users"); say("fetched"); }} catch (e) {{ say("dots refused"); }}"#,
        server.base
    );
    let (report, lines) = run_with_http(&rt, &script, http, Vec::new());
    assert_eq!(report.ending, Ending::Completed, "{lines:#?}");
    let said = said(&lines);
    assert!(said[0].contains(&format!("`{}/admin/users` is not allowed", server.base)), "{said:?}");
    assert!(said[0].contains("http.allow"), "{said:?}");
    assert_eq!(said[1], "dots refused");
    assert!(server.requests().is_empty(), "nothing may reach the server");
}

#[test]
fn an_empty_allowlist_refuses_everything_and_says_how_to_allow() {
    let rt = runtime();
    let http = client("  allow: []\n");
    let (_, lines) = run_with_http(
        &rt,
        r#"try { http_get("https://crm.example.com/api/x"); } catch (e) { say(`${e}`); }"#,
        http,
        Vec::new(),
    );
    assert!(said(&lines)[0].contains("http.allow in rivr.yaml is empty"), "{lines:?}");
}

#[test]
fn a_slow_service_times_out_with_a_catchable_error() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::Hang);
    let http = client(&format!("  allow: ['{}/']\n", server.base));
    let script = format!(
        r#"try {{ http_get("{}/slow", #{{timeout: 200}}); say("answered"); }} catch (e) {{ say(`${{e}}`); }}
           say("still running");"#,
        server.base
    );
    let (report, lines) = run_with_http(&rt, &script, http, Vec::new());
    assert_eq!(report.ending, Ending::Completed);
    let said = said(&lines);
    assert!(said[0].contains("no response from") && said[0].contains("within 200 ms"), "{said:?}");
    assert_eq!(said[1], "still running");
}

#[test]
fn the_configured_timeout_applies_when_the_script_gives_none() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::Hang);
    let http = client(&format!("  allow: ['{}/']\n  timeout_ms: 150\n", server.base));
    let script = format!(r#"try {{ http_get("{}/slow"); }} catch (e) {{ say(`${{e}}`); }}"#, server.base);
    let (_, lines) = run_with_http(&rt, &script, http, Vec::new());
    assert!(said(&lines)[0].contains("within 150 ms"), "{lines:?}");
}

#[test]
fn an_oversized_response_is_refused_whether_or_not_it_declares_its_length() {
    let rt = runtime();
    let server = http_server::start(&rt, |request| {
        if request.path == "/declared" {
            Reply::text(200, &"x".repeat(10_000))
        } else {
            Reply::Stream { chunk: vec![b'y'; 1000], count: 10_000 }
        }
    });
    let http = client(&format!("  allow: ['{}/']\n  max_response_bytes: 1024\n", server.base));
    let script = format!(
        r#"for path in ["/declared", "/streamed"] {{
               try {{ http_get("{}" + path); say("got it"); }} catch (e) {{ say(`${{e}}`); }}
           }}"#,
        server.base
    );
    let (_, lines) = run_with_http(&rt, &script, http, Vec::new());
    let said = said(&lines);
    assert_eq!(said.len(), 2, "{said:?}");
    for message in &said {
        assert!(message.contains("larger than 1024 bytes (http.max_response_bytes"), "{said:?}");
    }
}

#[test]
fn a_json_response_is_parsed_into_a_map() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| {
        Reply::json(200, r#"{"first_name": "Ada", "balance": 12, "tags": ["vip", "fr"], "ratio": 0.5}"#)
    });
    let http = client(&format!("  allow: ['{}/api/']\n", server.base));
    let script = format!(
        r#"let r = http_get("{}/api/customers?phone=5551234");
           say(`${{r.status}} ${{r.json.first_name}} ${{r.json.balance + 1}} ${{r.json.tags[0]}} ${{r.json.ratio}}`);
           say(r.headers["content-type"]);
           say(`${{r.body.len() > 10}}`);"#,
        server.base
    );
    let (report, lines) = run_with_http(&rt, &script, http, Vec::new());
    assert_eq!(report.ending, Ending::Completed, "{lines:#?}");
    assert_eq!(said(&lines), ["200 Ada 13 vip 0.5", "application/json", "true"]);
    assert_eq!(server.requests()[0].path, "/api/customers?phone=5551234");
}

#[test]
fn error_statuses_are_results_and_non_json_bodies_have_no_json() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::text(503, "down for maintenance"));
    let http = client(&format!("  allow: ['{}/']\n", server.base));
    let script = format!(
        r#"let r = http_get("{}/x"); say(`${{r.status}} ${{r.json == ()}} ${{r.body}}`);"#,
        server.base
    );
    let (_, lines) = run_with_http(&rt, &script, http, Vec::new());
    assert_eq!(said(&lines), ["503 true down for maintenance"]);
}

#[test]
fn posting_a_map_sends_json_with_the_script_headers() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::json(201, r#"{"id": 7}"#));
    let http = client(&format!("  allow: ['{}/api/']\n", server.base));
    let script = format!(
        r#"let r = http_post("{0}/api/calls", #{{caller: "5551234", tries: 2, vip: true, items: [1, "two"]}},
                             #{{headers: #{{authorization: "Bearer t0k"}}}});
           say(`${{r.status}} ${{r.json.id}}`);
           http_post("{0}/api/notes", "plain words", #{{content_type: "text/x-note"}});"#,
        server.base
    );
    let (report, lines) = run_with_http(&rt, &script, http, Vec::new());
    assert_eq!(report.ending, Ending::Completed, "{lines:#?}");
    assert_eq!(said(&lines), ["201 7"]);
    let requests = server.requests();
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(requests[0].header("authorization"), Some("Bearer t0k"));
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).expect("a JSON body");
    assert_eq!(body, serde_json::json!({"caller": "5551234", "tries": 2, "vip": true, "items": [1, "two"]}));
    assert_eq!(requests[1].header("content-type"), Some("text/x-note"));
    assert_eq!(requests[1].body, b"plain words");
}

#[test]
fn a_redirect_outside_the_allowlist_is_refused() {
    let rt = runtime();
    let server = http_server::start(&rt, |request| match request.path.as_str() {
        "/api/moved" => Reply::redirect("/api/here"),
        "/api/away" => Reply::redirect("/private/data"),
        _ => Reply::text(200, "arrived"),
    });
    let http = client(&format!("  allow: ['{}/api/']\n", server.base));
    let script = format!(
        r#"say(http_get("{0}/api/moved").body);
           try {{ http_get("{0}/api/away"); say("followed"); }} catch (e) {{ say(`${{e}}`); }}"#,
        server.base
    );
    let (_, lines) = run_with_http(&rt, &script, http, Vec::new());
    let said = said(&lines);
    assert_eq!(said[0], "arrived");
    assert!(said[1].contains(&format!("`{}/private/data` is not allowed", server.base)), "{said:?}");
    assert!(!server.requests().iter().any(|r| r.path == "/private/data"));
}

#[test]
fn a_service_that_cannot_be_reached_is_a_catchable_error() {
    let rt = runtime();
    // A port that was free a moment ago and has no listener now.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let http = client(&format!("  allow: ['http://127.0.0.1:{port}/']\n"));
    let script =
        format!(r#"try {{ http_get("http://127.0.0.1:{port}/x"); }} catch (e) {{ say(`${{e}}`); }}"#);
    let (report, lines) = run_with_http(&rt, &script, http, Vec::new());
    assert_eq!(report.ending, Ending::Completed);
    assert!(said(&lines)[0].contains("cannot connect to"), "{lines:?}");
}

#[test]
fn bad_options_and_bodies_are_script_errors_with_the_verb_named() {
    let rt = runtime();
    let http = client("  allow: ['http://127.0.0.1/']\n");
    let (_, lines) = run_with_http(
        &rt,
        r#"try { http_get("http://127.0.0.1/x", #{timout: 5}); } catch (e) { say(`${e}`); }
           try { http_post("http://127.0.0.1/x", 42); } catch (e) { say(`${e}`); }
           try { http_get("http://127.0.0.1/x", #{headers: #{"bad name": "v"}}); } catch (e) { say(`${e}`); }
           try { http_get("not a url"); } catch (e) { say(`${e}`); }"#,
        http,
        Vec::new(),
    );
    let said = said(&lines);
    assert!(said[0].contains("http_get: unknown option `timout`; did you mean `timeout`?"), "{said:?}");
    assert!(said[1].contains("http_post: the body must be a string, a map or an array"), "{said:?}");
    assert!(said[2].contains("`bad name` is not a header name"), "{said:?}");
    assert!(said[3].contains("`not a url` is not a URL"), "{said:?}");
}

#[test]
fn without_an_http_client_requests_fail_clearly() {
    let (_, lines) =
        run(r#"try { http_get("https://x.example.com/"); } catch (e) { say(`${e}`); }"#, Vec::new());
    assert_eq!(said(&lines), ["http_get: HTTP is not configured for this call"]);
}

#[test]
fn a_canned_client_answers_without_any_network() {
    let rt = runtime();
    let canned = CannedHttp(|request: &rivr::call::HttpRequest| {
        Ok(HttpResponse::json(format!(r#"{{"echo": "{}"}}"#, request.url)))
    });
    let (_, lines) =
        run_with_http(&rt, r#"say(http_get("sim://crm/lookup").json.echo);"#, Arc::new(canned), Vec::new());
    assert_eq!(said(&lines), ["sim://crm/lookup"]);
}

#[test]
fn on_hangup_can_report_the_call_over_http() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::text(204, ""));
    let http = client(&format!("  allow: ['{}/hooks/']\n", server.base));
    let script = format!(
        r#"answer();
           ask("say:Enter your account", #{{max_digits: 4}});
           fn on_hangup() {{ http_post("{}/hooks/ended", #{{uuid: call_info().uuid}}); }}"#,
        server.base
    );
    let (report, _) = run_with_http(&rt, &script, http, vec![CallerAction::Hangup]);
    assert!(matches!(report.ending, Ending::HungUp { .. }), "{report:?}");
    assert_eq!(report.on_hangup_error, None);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/hooks/ended");
}

/// A channel that answers every command at once and ends when the test says so.
struct HangableChannel {
    hangup: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Channel for HangableChannel {
    async fn execute(&mut self, _command: Command, _origin: Option<Origin>) -> Result<Outcome, CallError> {
        Ok(Outcome::Done)
    }

    async fn ended(&mut self) -> rivr::call::HangupCause {
        match self.hangup.as_mut() {
            Some(signal) => {
                let _ = signal.await;
                self.hangup = None;
                "NORMAL_CLEARING".into()
            }
            None => std::future::pending().await,
        }
    }

    async fn close(self) {}
}

#[test]
fn a_hangup_during_a_request_cancels_it_and_stops_the_script() {
    let rt = runtime();
    let server = http_server::start(&rt, |_| Reply::Hang);
    let http = client(&format!("  allow: ['{}/']\n  timeout_ms: 600000\n", server.base));
    let (hang_up, hangup) = tokio::sync::oneshot::channel();
    let script = format!(
        r#"answer();
           try {{ http_get("{}/slow"); }} catch (e) {{ log("caught " + e); }}
           say("never");"#,
        server.base
    );
    let call = SimCall::default();
    let channel = HangableChannel { hangup: Some(hangup) };
    let script = compile("main.rhai", &script);
    let started = start_call(
        &rt,
        channel,
        CallServices::with_http(http),
        CallJob {
            info: CallInfo::new("call-h", "5551234", "1000"),
            script,
            scripts: None,
            limits: call.limits,
            fallback: call.fallback,
            language: "en".into(),
        },
    );
    wait_for("the request reaches the server", || !server.requests().is_empty());
    hang_up.send(()).expect("the call's task is listening");
    let report = rt.block_on(started).expect("no panic");
    assert!(matches!(report.ending, Ending::HungUp { .. }), "{report:?}");
    wait_for("the request's connection is closed", || server.closed() == 1);
}
