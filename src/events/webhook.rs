//! The webhook sink: one task per `events.webhooks` entry that reads its queue in order and
//! POSTs the events to the receiver, signed, retrying with backoff while the receiver is down.
//!
//! Each POST carries one event (`application/cloudevents+json`) or, with `batch` above 1, a
//! JSON array of those already waiting (`application/cloudevents-batch+json`); the task never
//! waits to fill a batch, so a quiet node still sends each event at once. A batch is retried
//! before the next is sent, so the receiver sees the events in the order they were emitted,
//! and what it never acknowledges is given up and counted. The calls never see any of this:
//! they only ever offer events to the bounded queue in front of this task (`sink`).
//!
//! With a `secret`, `X-Rivr-Signature: sha256=<hex>` carries the HMAC-SHA256 of the exact body
//! bytes, so a receiver can check that rivr sent them:
//!
//! ```python
//! expected = "sha256=" + hmac.new(secret, request.body, hashlib.sha256).hexdigest()
//! ok = hmac.compare_digest(expected, request.headers["X-Rivr-Signature"])
//! ```

use std::error::Error as StdError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::{redirect, StatusCode, Url};
use sha2::Sha256;
use tokio::task::JoinHandle;

use super::sink::{SinkInbox, SinkStats};
use super::Event;
use crate::config::Webhook;

/// The content type of one event in its structured JSON form.
pub const SINGLE_CONTENT_TYPE: &str = "application/cloudevents+json";

/// The content type of a JSON array of events.
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// The signature header: `sha256=` and the hex HMAC-SHA256 of the body.
pub const SIGNATURE_HEADER: &str = "X-Rivr-Signature";

/// The longest wait between two tries, however many came before.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Most of a receiver's answer read: enough for an error message, and reading it (rather than
/// dropping it half-read) lets the connection go back to the pool.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Most of a refusing receiver's answer quoted in the log.
const QUOTED_ANSWER_BYTES: usize = 200;

/// A webhook sink could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// reqwest could not build its client (no TLS configuration on this system).
    #[error("cannot set up the HTTP client of webhook `{sink}`: {source}; rivr runs without this sink")]
    Client {
        /// The sink's name.
        sink: String,
        /// reqwest's reason.
        #[source]
        source: reqwest::Error,
    },
    /// The URL does not parse (configuration built in code; `rivr.yaml`'s is checked on load).
    #[error(
        "the url of webhook `{sink}`{at} is not an http:// or https:// URL: {reason}; fix it in rivr.yaml"
    )]
    Url {
        /// The sink's name.
        sink: String,
        /// ` (line:column)` where the URL was written, when known; the URL itself may carry a
        /// token, so it is not repeated.
        at: String,
        /// Why it does not parse.
        reason: String,
    },
}

/// Start the delivery task of the webhook `config`, reading `inbox` until it closes (rivr
/// shutting down) and is drained.
///
/// # Errors
/// `WebhookError` when the URL does not parse or the HTTP client cannot be built.
pub fn start(config: &Webhook, inbox: SinkInbox) -> Result<JoinHandle<()>, WebhookError> {
    let sender = Sender::new(config, &inbox.name)?;
    Ok(tokio::spawn(sender.run(inbox)))
}

/// What one POST needs, fixed at start.
struct Sender {
    client: reqwest::Client,
    url: Url,
    /// `host[:port]`, what the logs name: the path and query may carry a token.
    host: String,
    /// The HMAC key, ready to clone per body (the secret's text is not kept).
    signer: Option<Hmac<Sha256>>,
    batch: usize,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
}

/// What became of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    /// The receiver took it.
    Delivered,
    /// The receiver answered and refused it (a 4xx other than 408 and 429, or a 3xx).
    Refused,
    /// No answer that took it through every retry: down, unreachable, or failing.
    Unreachable,
}

/// How one POST went.
#[derive(Debug)]
enum Attempt {
    /// A 2xx.
    Delivered,
    /// Worth another try: the receiver was unreachable, slow, overloaded or failing (network
    /// errors, timeouts, 408, 429, 5xx), with how long it asked us to wait (`Retry-After`).
    Transient(String, Option<Duration>),
    /// The receiver refused these events (another 4xx, or a redirect, which is not followed):
    /// trying again would be refused again.
    Refused { status: StatusCode, answer: String },
}

impl Sender {
    fn new(config: &Webhook, name: &str) -> Result<Sender, WebhookError> {
        let url = Url::parse(config.url.as_str())
            .map_err(|error| error.to_string())
            .and_then(|url| match url.scheme() {
                "http" | "https" if url.host_str().is_some() => Ok(url),
                _ => Err("the scheme must be http or https, followed by a host".to_string()),
            })
            .map_err(|reason| {
                let position = config.url.position();
                let at = if position.is_known() { format!(" (at {position})") } else { String::new() };
                WebhookError::Url { sink: name.to_string(), at, reason }
            })?;
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        crate::http::ensure_crypto_provider();
        let timeout = Duration::from_millis(config.timeout_ms.get());
        let client = reqwest::Client::builder()
            // A redirected POST would lose its body or go somewhere the signature was not meant
            // for; the operator should configure the final address instead.
            .redirect(redirect::Policy::none())
            .user_agent(concat!("rivr/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .build()
            .map_err(|source| WebhookError::Client { sink: name.to_string(), source })?;
        let signer = config.secret.as_ref().map(|secret| {
            <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
                .expect("HMAC takes keys of any length")
        });
        Ok(Sender {
            client,
            url,
            host,
            signer,
            batch: config.batch.get(),
            timeout,
            retries: config.retries,
            backoff: Duration::from_millis(config.backoff_ms.get()),
        })
    }

    async fn run(self, mut inbox: SinkInbox) {
        let mut events = Vec::with_capacity(self.batch);
        // After a batch was given up, the next one delivered says the receiver is back.
        let mut failing = false;
        // A batch is what is waiting, up to `batch`: it never waits to fill.
        while inbox.events.recv_many(&mut events, self.batch).await > 0 {
            let delivery = self.deliver(&events, &inbox).await;
            if delivery == Delivery::Delivered && failing {
                tracing::info!(
                    sink = %inbox.name,
                    host = %self.host,
                    "webhook receiver accepts events again"
                );
            }
            failing = delivery == Delivery::Unreachable;
            events.clear();
            if failing && inbox.events.is_closed() {
                // Shutting down and the receiver just failed a whole round of retries: trying
                // each remaining batch as long would hold rivr's exit hostage to it. A receiver
                // that refused one batch (a 4xx) is up, and gets the rest.
                give_up_the_rest(&mut inbox, &self.host);
                return;
            }
        }
    }

    /// POST `events` until the receiver takes them, refuses them, or the retries run out;
    /// counts them either way.
    async fn deliver(&self, events: &[Event], inbox: &SinkInbox) -> Delivery {
        let body = body_of(events, self.batch > 1);
        let signature = self.signer.as_ref().map(|signer| signature(signer.clone(), &body));
        let mut tries = 0u32;
        let problem = loop {
            tries += 1;
            match self.post(&body, signature.as_ref()).await {
                Attempt::Delivered => {
                    inbox.stats.delivered(events.len());
                    return Delivery::Delivered;
                }
                Attempt::Refused { status, answer } => {
                    inbox.stats.gave_up(events.len());
                    let totals = Totals::of(&inbox.stats);
                    tracing::warn!(
                        sink = %inbox.name,
                        host = %self.host,
                        status = status.as_u16(),
                        answer = %answer,
                        events = events.len(),
                        delivered_total = totals.delivered,
                        given_up_total = totals.given_up,
                        dropped_total = totals.dropped,
                        "webhook receiver refused events, not retried: {}",
                        advice(status)
                    );
                    return Delivery::Refused;
                }
                Attempt::Transient(problem, _) if tries > self.retries => break problem,
                Attempt::Transient(problem, asked) => {
                    // A receiver that says when to come back (429, 503 with `Retry-After`) is
                    // believed, up to the longest backoff; never sooner than our own backoff.
                    let wait =
                        backoff(self.backoff, tries - 1).max(asked.unwrap_or_default()).min(MAX_BACKOFF);
                    tracing::debug!(
                        sink = %inbox.name,
                        host = %self.host,
                        problem = %problem,
                        try_number = tries,
                        retry_in_ms = wait.as_millis() as u64,
                        "webhook POST failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        };
        inbox.stats.gave_up(events.len());
        let totals = Totals::of(&inbox.stats);
        tracing::warn!(
            sink = %inbox.name,
            host = %self.host,
            problem = %problem,
            events = events.len(),
            tries,
            delivered_total = totals.delivered,
            given_up_total = totals.given_up,
            dropped_total = totals.dropped,
            "webhook receiver unreachable or failing: events given up after every retry; check that it \
             is up and reachable from this node (its timeout is {} ms)",
            self.timeout.as_millis()
        );
        Delivery::Unreachable
    }

    async fn post(&self, body: &Bytes, signature: Option<&HeaderValue>) -> Attempt {
        let content_type = if self.batch > 1 { BATCH_CONTENT_TYPE } else { SINGLE_CONTENT_TYPE };
        let mut request =
            self.client.post(self.url.clone()).header(CONTENT_TYPE, content_type).body(body.clone());
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature.clone());
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) if error.is_timeout() => {
                return Attempt::Transient(format!("no answer within {} ms", self.timeout.as_millis()), None)
            }
            Err(error) => return Attempt::Transient(root_cause(&error), None),
        };
        let status = response.status();
        let retry_after = response.headers().get(reqwest::header::RETRY_AFTER).and_then(retry_after);
        let mut answer = Vec::new();
        // The answer only matters for a refusal's log line; a receiver that hangs up or stalls
        // while sending it has still answered with its status.
        while let Ok(Some(chunk)) = response.chunk().await {
            answer.extend_from_slice(&chunk);
            if answer.len() >= MAX_ANSWER_BYTES {
                break;
            }
        }
        match classify(status, &answer) {
            Attempt::Transient(problem, _) => Attempt::Transient(problem, retry_after),
            attempt => attempt,
        }
    }
}

/// A `Retry-After` of delta-seconds (RFC 9110 §10.2.3). The HTTP-date form is not read: a
/// receiver's clock is not ours, and the backoff applies instead.
fn retry_after(value: &HeaderValue) -> Option<Duration> {
    value.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// What a receiver's status means for the events.
fn classify(status: StatusCode, answer: &[u8]) -> Attempt {
    if status.is_success() {
        Attempt::Delivered
    } else if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Attempt::Transient(format!("HTTP {status}"), None)
    } else {
        let quoted = &answer[..answer.len().min(QUOTED_ANSWER_BYTES)];
        Attempt::Refused { status, answer: String::from_utf8_lossy(quoted).trim().to_string() }
    }
}

/// What the operator can do about a refusal.
fn advice(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 | 403 => "the receiver does not accept this sender; check that its secret matches the webhook's `secret`",
        404 | 405 => "check the webhook's `url`: the receiver has nothing there that takes a POST",
        413 => "the body is too large for the receiver; lower the webhook's `batch`",
        415 => "the receiver does not take CloudEvents JSON here; check the webhook's `url` and `batch` (a batch is a JSON array)",
        300..=399 => "the url redirects; configure the address it redirects to (redirects are not followed)",
        _ => "the receiver rejected these events; its answer should say why",
    }
}

/// The POST body of `events`: the one event's bytes as they are, or a JSON array of them.
fn body_of(events: &[Event], as_array: bool) -> Bytes {
    if let ([event], false) = (events, as_array) {
        return event.body.clone();
    }
    let length = events.iter().map(|event| event.body.len() + 1).sum::<usize>() + 1;
    let mut body = Vec::with_capacity(length);
    body.push(b'[');
    for (n, event) in events.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&event.body);
    }
    body.push(b']');
    Bytes::from(body)
}

/// `sha256=<hex HMAC-SHA256 of body>`.
fn signature(mut signer: Hmac<Sha256>, body: &[u8]) -> HeaderValue {
    signer.update(body);
    let code = signer.finalize().into_bytes();
    let mut text = String::with_capacity(7 + 2 * code.len());
    text.push_str("sha256=");
    for byte in code.iter() {
        text.push(HEX[usize::from(byte >> 4)] as char);
        text.push(HEX[usize::from(byte & 0xf)] as char);
    }
    HeaderValue::from_str(&text).expect("hex is a valid header value")
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The wait before try `retry + 2` (the first retry waits `first`): doubling, at most 30 s.
fn backoff(first: Duration, retry: u32) -> Duration {
    first.saturating_mul(2u32.saturating_pow(retry)).min(MAX_BACKOFF)
}

/// Shutting down with a receiver that failed: count what is still queued as given up.
fn give_up_the_rest(inbox: &mut SinkInbox, host: &str) {
    let mut left = 0;
    while inbox.events.try_recv().is_some() {
        left += 1;
    }
    if left > 0 {
        inbox.stats.gave_up(left);
        let totals = Totals::of(&inbox.stats);
        tracing::warn!(
            sink = %inbox.name,
            host,
            events = left,
            delivered_total = totals.delivered,
            given_up_total = totals.given_up,
            dropped_total = totals.dropped,
            "rivr is stopping and the webhook receiver is failing: the events still queued are given up"
        );
    }
}

/// A sink's counts for a log line.
struct Totals {
    delivered: u64,
    given_up: u64,
    dropped: u64,
}

impl Totals {
    fn of(stats: &SinkStats) -> Totals {
        Totals {
            delivered: stats.sent.load(Ordering::Relaxed),
            given_up: stats.failed.load(Ordering::Relaxed),
            dropped: stats.dropped.load(Ordering::Relaxed),
        }
    }
}

/// The innermost error's message: reqwest's own ("error sending request") says little.
fn root_cause(error: &(dyn StdError + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RivrEventType;
    use crate::events::EventKind;

    fn event(body: &str) -> Event {
        Event { kind: EventKind::Rivr(RivrEventType::CallVerb), body: Bytes::from(body.to_string()) }
    }

    fn signer(key: &str) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("key")
    }

    #[test]
    fn a_retry_after_in_seconds_is_read_and_a_date_is_left_to_the_backoff() {
        assert_eq!(retry_after(&HeaderValue::from_static("7")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }

    #[test]
    fn the_signature_is_the_hex_hmac_sha256_of_the_body_as_any_receiver_computes_it() {
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"s3cret", b"{\"id\":\"1\"}",
        //   hashlib.sha256).hexdigest())'
        let expected = "sha256=06988fa1cf02b8383043f7f2735f723f7bb350950d9214409cde13490d6a6373";
        assert_eq!(signature(signer("s3cret"), br#"{"id":"1"}"#), expected);
    }

    #[test]
    fn one_event_is_sent_as_it_is_and_a_batch_as_a_json_array_even_of_one() {
        let events = [event(r#"{"id":"1"}"#), event(r#"{"id":"2"}"#)];
        assert_eq!(&body_of(&events[..1], false)[..], br#"{"id":"1"}"#);
        assert_eq!(&body_of(&events[..1], true)[..], br#"[{"id":"1"}]"#);
        let both = body_of(&events, true);
        assert_eq!(&both[..], br#"[{"id":"1"},{"id":"2"}]"#);
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&both).expect("a JSON array");
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn the_wait_between_tries_doubles_up_to_thirty_seconds() {
        let first = Duration::from_millis(200);
        let waits: Vec<u64> = (0..10).map(|retry| backoff(first, retry).as_millis() as u64).collect();
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000]);
        assert_eq!(backoff(first, u32::MAX), MAX_BACKOFF);
        assert_eq!(backoff(Duration::from_secs(60), 0), MAX_BACKOFF);
    }

    #[test]
    fn overload_and_server_errors_are_retried_and_other_refusals_are_not() {
        for status in [500, 502, 503, 504, 408, 429] {
            let status = StatusCode::from_u16(status).expect("status");
            assert!(matches!(classify(status, b""), Attempt::Transient(..)), "{status}");
        }
        for status in [400, 401, 404, 413, 302] {
            let status = StatusCode::from_u16(status).expect("status");
            assert!(matches!(classify(status, b"no"), Attempt::Refused { .. }), "{status}");
        }
        assert!(matches!(classify(StatusCode::NO_CONTENT, b""), Attempt::Delivered));
        let long = vec![b'x'; 1000];
        let Attempt::Refused { answer, .. } = classify(StatusCode::BAD_REQUEST, &long) else { panic!() };
        assert_eq!(answer.len(), QUOTED_ANSWER_BYTES);
    }

    #[test]
    fn a_url_that_does_not_parse_is_an_error_naming_the_sink_not_the_url() {
        let config: Webhook =
            serde_json::from_value(serde_json::json!({"url": "crm?token=abc"})).expect("webhook");
        let error = Sender::new(&config, "crm").err().expect("refused");
        let text = error.to_string();
        assert!(text.starts_with("the url of webhook `crm` is not") && !text.contains("abc"), "{text}");
    }
}
