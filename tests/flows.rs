//! The example flows that call web services (`scripts/balance.rhai`, `scripts/survey.rhai`), on a
//! simulated call whose HTTP client answers from the test. Their scenario files cover the paths
//! through each flow; scenarios match requests by method and URL only, so what the flows send
//! (JSON bodies, the bearer token) and a service that answers the same URL two ways (a refused
//! PIN, then an accepted one) are checked here.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rivr::call::actor::CallServices;
use rivr::call::http::{CannedHttp, HttpResponse};
use rivr::call::{CallInfo, HttpError, HttpMethod, HttpRequest};
use rivr::config::Limits;
use rivr::script::runner::Ending;
use rivr::script::Compiler;
use rivr::switch::sim::CallerAction;
use support::{press, run_on, runtime, SimCall};

type Answer = Box<dyn Fn(&HttpRequest) -> Result<HttpResponse, HttpError> + Send + Sync>;

/// What a flow did (the transcript) and the requests it sent, in order.
struct Run {
    ending: Ending,
    lines: Vec<String>,
    requests: Vec<HttpRequest>,
}

impl Run {
    fn said(&self, text: &str) -> bool {
        self.lines.iter().any(|line| line == &format!("say: {text:?}"))
    }

    fn json(&self, index: usize) -> serde_json::Value {
        let body = self.requests[index].body.as_deref().unwrap_or_default();
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("request {index} is not JSON: {e}"))
    }
}

/// Run `scripts/<script>` for a caller who does `actions`, with `variables` on the call and
/// `answer` as the web.
fn call_flow(script: &str, variables: &[(&str, &str)], actions: Vec<CallerAction>, answer: Answer) -> Run {
    let rt = runtime();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let compiled = Compiler::new(&scripts, &Limits::default())
        .compile_file(&scripts.join(script))
        .unwrap_or_else(|problem| panic!("{problem}"));
    let mut info = CallInfo::new("call-1", "5551234", "3000");
    info.variables = variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let requests: Arc<Mutex<Vec<HttpRequest>>> = Arc::default();
    let seen = requests.clone();
    let http = CannedHttp(move |request: &HttpRequest| {
        seen.lock().expect("requests").push(request.clone());
        answer(request)
    });
    let services = CallServices::with_http(Arc::new(http));
    let call = SimCall { actions, info, services, ..SimCall::default() };
    let (report, lines) = run_on(&rt, Arc::new(compiled), call);
    let requests = requests.lock().expect("requests").clone();
    Run { ending: report.ending, lines, requests }
}

const API: &str = "https://accounts.test/api";

/// The account service: account 79927398713 with PIN 2468.
fn accounts(request: &HttpRequest) -> Result<HttpResponse, HttpError> {
    match (request.method, request.url.as_str()) {
        (HttpMethod::Post, "https://accounts.test/api/sign-in") => {
            let body: serde_json::Value =
                serde_json::from_slice(request.body.as_deref().unwrap_or_default()).expect("JSON");
            if body["account"] == "79927398713" && body["pin"] == "2468" {
                Ok(HttpResponse::json(r#"{"token": "t-1"}"#))
            } else {
                Ok(HttpResponse::new(401, "application/json", r#"{"error": "wrong PIN"}"#))
            }
        }
        (HttpMethod::Get, "https://accounts.test/api/accounts/79927398713/balance")
            if request.header("authorization") == Some("Bearer t-1") =>
        {
            Ok(HttpResponse::json(r#"{"balance": 1234.56, "currency": "EUR", "due": "2026-12-01"}"#))
        }
        _ => Ok(HttpResponse::new(404, "text/plain", "not found")),
    }
}

fn sign_in_keys(pins: &[&str]) -> Vec<CallerAction> {
    let mut actions = vec![press("79927398713#"), press("1")];
    actions.extend(pins.iter().map(|pin| press(pin)));
    actions
}

#[test]
fn balance_signs_in_and_reads_the_balance_the_service_returns() {
    let run =
        call_flow("balance.rhai", &[("accounts_api", API)], sign_in_keys(&["2468"]), Box::new(accounts));
    assert_eq!(run.ending, Ending::Completed, "{:#?}", run.lines);
    assert_eq!(run.requests.len(), 2, "{:#?}", run.requests);
    assert_eq!(run.json(0), serde_json::json!({"account": "79927398713", "pin": "2468"}));
    assert_eq!(run.requests[1].header("authorization"), Some("Bearer t-1"));
    let tail: Vec<&str> = run.lines.iter().rev().take(9).rev().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            r#"say: "Your balance is""#,
            "say_number: 1234",
            r#"say: "euros and""#,
            "say_number: 56",
            r#"say: "cents""#,
            r#"say: "Your next payment is due on""#,
            r#"say: "Tuesday, December first""#,
            r#"say: "Goodbye.""#,
            "hangup: NORMAL_CLEARING",
        ],
        "{:#?}",
        run.lines
    );
}

#[test]
fn balance_counts_a_pin_the_service_refuses_as_wrong() {
    let run = call_flow(
        "balance.rhai",
        &[("accounts_api", API)],
        sign_in_keys(&["1111", "2468"]),
        Box::new(accounts),
    );
    assert_eq!(run.ending, Ending::Completed, "{:#?}", run.lines);
    assert!(run.said("That PIN is not correct."), "{:#?}", run.lines);
    assert!(run.said("Your balance is"), "{:#?}", run.lines);
    assert_eq!(run.requests.len(), 3);
}

fn survey(request: &HttpRequest) -> Result<HttpResponse, HttpError> {
    assert_eq!(request.url, "https://hooks.test/survey");
    Ok(HttpResponse::new(201, "application/json", "{}"))
}

#[test]
fn survey_posts_the_answers_once_the_call_ends() {
    let run = call_flow(
        "survey.rhai",
        &[("survey_url", "https://hooks.test/survey")],
        vec![press("4"), press("1"), press("1"), press("#")],
        Box::new(survey),
    );
    assert_eq!(run.ending, Ending::Completed, "{:#?}", run.lines);
    assert_eq!(run.requests.len(), 1, "{:#?}", run.requests);
    assert_eq!(
        run.json(0),
        serde_json::json!({
            "uuid": "call-1",
            "caller": "5551234",
            "satisfaction": "4",
            "recommend": "yes",
            "comment": "/usr/local/freeswitch/recordings/survey/call-1.wav",
            "complete": true,
        })
    );
}

#[test]
fn survey_posts_what_was_answered_when_the_caller_hangs_up_halfway() {
    let run = call_flow(
        "survey.rhai",
        &[("survey_url", "https://hooks.test/survey")],
        // Hangs up at the second question (after answer, say and the first ask), as a scenario's
        // `hangup` step there would.
        vec![press("2"), CallerAction::HangupAfter(3)],
        Box::new(survey),
    );
    assert_eq!(run.requests.len(), 1, "{:#?}", run.lines);
    let posted = run.json(0);
    assert_eq!(posted["satisfaction"], "2");
    assert_eq!(posted["recommend"], serde_json::Value::Null);
    assert_eq!(posted["complete"], false);
}
