//! Commands in over NATS (`nats.commands` in rivr.yaml): originate requests from a JetStream work
//! queue that every node shares, and hangups that reach whichever node holds the call.
//!
//! # Originate
//!
//! Requests are published (once, by a campaign service) to `nats.commands.originate.subject`
//! (`rivr.originate`), which a work-queue stream (`RIVR_ORIGINATE`, created if missing) keeps.
//! Every node binds to the same durable pull consumer (`rivr-originate`) and pulls no more than
//! it has free slots for (`max_in_flight`), so each request goes to one node at a time, and a
//! busy or draining node leaves the rest to the others. A draining node (`POST /drain`,
//! SIGTERM) stops pulling; a request it is handed meanwhile is given back at once (`nak`).
//!
//! A request is JSON (see [`OriginateMessage`]). The node places it through the same path as
//! `POST /calls` (`crate::originate`), keeps the message alive while the far end rings (an
//! "in progress" ack every third of `ack_wait`), then publishes the outcome and acks. The
//! outcome ([`OriginateReport`]) goes to the request's `reply_to` (or its `Rivr-Reply-To`
//! header) and always to `outcome_subject` (`rivr.originate.outcome`).
//!
//! Retries and their end:
//! - a request at fault (not JSON, unknown script, injection characters, too many variables...)
//!   is refused with a reason and terminated (`+TERM`): never delivered again;
//! - a node that cannot place now (FreeSWITCH unreachable, not listening yet) gives the request
//!   back with a delay (`nak`), for itself or another node, until `max_deliver`, where it is
//!   refused for good ("gave up after N deliveries");
//! - a node that dies before acking leaves the request to be delivered again after `ack_wait`.
//!
//! # Exactly once, as far as it goes
//!
//! The request's `idempotency_key` becomes the call's `origination_uuid`
//! (`crate::originate::call_uuid_for_key`). Before placing a request delivered more than once,
//! the node asks every FreeSWITCH server it is connected to whether that uuid exists (`api
//! uuid_exists`); if one says `true`, the call is not placed again and the outcome is
//! `already_placed`. A node also remembers the last `recent_keys` keys it took, and never places
//! one of them twice. What this does not cover: a first call that has already ended when its
//! redelivery is checked (FreeSWITCH forgets a uuid once the channel is gone), a FreeSWITCH
//! server the checking node is not connected to, and two different keys for one intended call.
//! `docs/scale-out.md` says more.
//!
//! # Hangup
//!
//! Every node subscribes to `nats.commands.hangup.subject` (`rivr.hangup`) with core NATS, no
//! queue group, so every node sees every request. `{"uuid": "...", "cause": "USER_BUSY"}`: the
//! node that holds the call asks it to hang up and replies `{"ok": true, "node": ...}`; the
//! others stay silent, so a request-reply gets one answer, or times out when no node has the
//! call. A request that is not valid is answered `{"ok": false, "error": ...}` by every node (the
//! requester takes the first).

use std::collections::{BTreeMap, HashMap, VecDeque};

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream::consumer::pull::Config as PullConfig;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::message::Acker;
use async_nats::jetstream::stream::{Config as StreamConfig, RetentionPolicy, StorageType};
use async_nats::jetstream::AckKind;
use async_nats::{Client, HeaderMap};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use super::NatsConnection;
use crate::call::HangupCause;
use crate::config::{is_subject, NatsCommands, OriginateQueue};
use crate::originate::{self, OriginateOrder, OriginateRefusal};
use crate::server::Runtime;
use crate::switch::freeswitch::inbound::OriginateOutcome;

/// The header a publisher may set to have the outcome sent there, as an alternative to
/// `reply_to` in the JSON (it also reaches the publisher of a request that is not JSON).
pub const REPLY_TO_HEADER: &str = "Rivr-Reply-To";

/// How long one pull waits for requests before the node looks at its state (draining, stop)
/// again.
const PULL_WAIT: Duration = Duration::from_secs(2);

/// How long a draining node waits before it looks again whether it still drains.
const DRAIN_POLL: Duration = Duration::from_millis(250);

/// The first wait before retrying NATS (binding the consumer, pulling) after an error; it
/// doubles up to [`RETRY_MAX`].
const RETRY_INITIAL: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// An originate request as published.
///
/// ```json
/// {"to": "sofia/gateway/carrier/15551234567", "script": "survey.rhai",
///  "caller_id_number": "5550100", "caller_id_name": "Acme", "timeout_s": 30,
///  "variables": {"campaign": "spring"}, "idempotency_key": "spring/contact-42",
///  "reply_to": "campaign.outcomes"}
/// ```
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OriginateMessage {
    /// FreeSWITCH dial string.
    pub to: String,
    /// The script the answered call runs.
    pub script: String,
    /// `origination_caller_id_number`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id_number: Option<String>,
    /// `origination_caller_id_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id_name: Option<String>,
    /// Seconds to ring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// Channel variables for the new call.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// Which `freeswitch` connection to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The same for every publish of one intended call; names the call's uuid.
    pub idempotency_key: String,
    /// Where the outcome goes, besides the outcome subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

impl OriginateMessage {
    fn order(&self) -> OriginateOrder {
        OriginateOrder {
            to: self.to.clone(),
            script: self.script.clone(),
            caller_id_number: self.caller_id_number.clone(),
            caller_id_name: self.caller_id_name.clone(),
            timeout: self.timeout_s.map(Duration::from_secs),
            variables: self.variables.clone(),
            server: self.server.clone(),
            idempotency_key: Some(self.idempotency_key.clone()),
        }
    }
}

/// What became of an originate request, as published to the reply and outcome subjects.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct OriginateReport {
    /// The request's key (`null` when the request was not JSON with one).
    pub idempotency_key: Option<String>,
    /// The call's uuid (known before the call is placed, from the key).
    pub uuid: Option<String>,
    /// What became of it.
    pub outcome: ReportOutcome,
    /// The hangup cause of a `failed` call.
    pub cause: Option<String>,
    /// For `refused`: a stable word (`malformed`, `unknown_script`, `uncarriable`,
    /// `too_many_variables`, `variables_too_large`, `bad_idempotency_key`, `bad_reply_to`,
    /// `unknown_server`, `gave_up`, ...).
    pub code: Option<String>,
    /// For `refused` and `already_placed`: in words.
    pub reason: Option<String>,
    /// The node that handled this delivery.
    pub node: String,
    /// Which delivery of the request this was (1 the first time).
    pub delivery: i64,
}

/// What became of an originate request, as its report's `outcome` says it.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReportOutcome {
    /// The far end answered; the call runs its script.
    Answered,
    /// The far end was busy.
    Busy,
    /// Nobody answered in time.
    NoAnswer,
    /// FreeSWITCH had no route to the destination.
    NoRoute,
    /// The far end refused the call (`CALL_REJECTED`).
    Rejected,
    /// The call was answered and has already ended.
    Ended,
    /// The call failed otherwise; the report's `cause` says how.
    Failed,
    /// An earlier delivery placed this call; its outcome went out then, if that node lived to
    /// send it.
    AlreadyPlaced,
    /// rivr did not place it: the report's `code` and `reason` say why.
    Refused,
}

impl ReportOutcome {
    /// The word in the report and the `outcome` label of `rivr_originate_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportOutcome::Answered => "answered",
            ReportOutcome::Busy => "busy",
            ReportOutcome::NoAnswer => "no_answer",
            ReportOutcome::NoRoute => "no_route",
            ReportOutcome::Rejected => "rejected",
            ReportOutcome::Ended => "ended",
            ReportOutcome::Failed => "failed",
            ReportOutcome::AlreadyPlaced => "already_placed",
            ReportOutcome::Refused => "refused",
        }
    }
}

/// A report being gathered while a delivery is handled, before its outcome is known.
#[derive(Clone, Debug)]
struct Draft {
    idempotency_key: Option<String>,
    uuid: Option<String>,
    node: String,
    delivery: i64,
}

impl Draft {
    /// The report, with `outcome` and nothing else to say.
    fn report(self, outcome: ReportOutcome) -> OriginateReport {
        OriginateReport {
            idempotency_key: self.idempotency_key,
            uuid: self.uuid,
            outcome,
            cause: None,
            code: None,
            reason: None,
            node: self.node,
            delivery: self.delivery,
        }
    }

    /// The report of a request rivr did not place, with a stable `code` and the `reason`.
    fn refused(self, code: &str, reason: String) -> OriginateReport {
        OriginateReport {
            code: Some(code.to_owned()),
            reason: Some(reason),
            ..self.report(ReportOutcome::Refused)
        }
    }

    /// The report of a request placed, from what FreeSWITCH said.
    fn placed(mut self, outcome: &OriginateOutcome) -> OriginateReport {
        let (word, cause) = match outcome {
            OriginateOutcome::Answered { uuid } => {
                self.uuid = Some(uuid.clone());
                (ReportOutcome::Answered, None)
            }
            OriginateOutcome::Busy => (ReportOutcome::Busy, None),
            OriginateOutcome::Ended => (ReportOutcome::Ended, None),
            OriginateOutcome::Failed { cause } => (ReportOutcome::Failed, Some(cause.clone())),
            OriginateOutcome::NoAnswer => (ReportOutcome::NoAnswer, None),
            OriginateOutcome::NoRoute => (ReportOutcome::NoRoute, None),
            OriginateOutcome::Rejected => (ReportOutcome::Rejected, None),
        };
        OriginateReport { cause, ..self.report(word) }
    }

    /// The report of a request an earlier delivery placed.
    fn already_placed(self, reason: String) -> OriginateReport {
        OriginateReport { reason: Some(reason), ..self.report(ReportOutcome::AlreadyPlaced) }
    }
}

/// The running command handlers of a node. Dropping it leaves them running; [`stop`](Self::stop)
/// ends them.
#[derive(Debug)]
pub struct Commands {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Commands {
    /// Stop pulling requests and listening for hangups. Requests being placed finish on their
    /// own tasks; one cut short by the process ending is delivered again elsewhere.
    pub async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts the commands `nats.commands` configures, over the node's NATS `connection`, in the
/// name of `nats.name` (default `rivr-<host name>`, as the connection's). `None` when not
/// configured. Call once the outbound listener is up, inside the tokio runtime.
pub fn start_for(runtime: &Arc<Runtime>, connection: Option<&NatsConnection>) -> Option<Commands> {
    let config = runtime.live().started().nats.clone()?;
    let commands = config.commands.as_ref()?;
    let Some(connection) = connection else {
        tracing::error!(
            "nats.commands is set but the NATS connection was not started; no commands are taken"
        );
        return None;
    };
    let node = config.client_name();
    Some(start(runtime.clone(), connection, commands, node))
}

/// Starts the originate consumer and the hangup subscription over `connection`, for
/// `runtime`'s calls, in the name of `node`. Returns at once: binding to the stream waits for
/// NATS in the background, so a node without NATS serves calls anyway.
pub fn start(
    runtime: Arc<Runtime>,
    connection: &NatsConnection,
    config: &NatsCommands,
    node: String,
) -> Commands {
    let stop = CancellationToken::new();
    let problems = config.problems();
    if !problems.is_empty() {
        for problem in &problems {
            tracing::error!(%problem, "NATS commands are off");
        }
        return Commands { stop, tasks: Vec::new() };
    }
    let client = connection.client();
    let shared = Arc::new(Shared {
        runtime: runtime.clone(),
        client: client.clone(),
        config: config.originate.clone(),
        node: node.clone(),
        recent: Mutex::new(RecentKeys::new(config.originate.recent_keys.get())),
    });
    let originate = tokio::spawn(consume(shared, stop.clone()));
    let hangup =
        tokio::spawn(serve_hangups(runtime, client, config.hangup.subject.clone(), node, stop.clone()));
    tracing::info!(
        subject = %config.originate.subject,
        stream = %config.originate.stream,
        consumer = %config.originate.consumer,
        hangup = %config.hangup.subject,
        "taking originate and hangup commands over NATS"
    );
    Commands { stop, tasks: vec![originate, hangup] }
}

/// What every request handler of a node shares.
struct Shared {
    runtime: Arc<Runtime>,
    client: Client,
    config: OriginateQueue,
    node: String,
    recent: Mutex<RecentKeys>,
}

impl Shared {
    fn recent(&self) -> MutexGuard<'_, RecentKeys> {
        // Only map and queue operations run under this lock; a panic cannot leave it half done.
        self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn draft(&self, delivery: i64) -> Draft {
        Draft { idempotency_key: None, uuid: None, node: self.node.clone(), delivery }
    }

    /// Publishes `report` to the outcome subject and `reply_to`. A publish only fails when the
    /// client is closed, at the end of the process; the log says so.
    async fn publish(&self, report: &OriginateReport, reply_to: Option<&str>) {
        self.runtime.calls().metrics().originate.with_label_values(&["nats", report.outcome.as_str()]).inc();
        let Ok(bytes) = serde_json::to_vec(report) else {
            return;
        };
        let bytes = bytes::Bytes::from(bytes);
        for subject in std::iter::once(self.config.outcome_subject.as_str()).chain(reply_to) {
            if let Err(error) = self.client.publish(subject.to_owned(), bytes.clone()).await {
                tracing::warn!(%subject, %error, key = ?report.idempotency_key, "cannot publish an originate outcome");
            }
        }
    }
}

/// Binds to the consumer (waiting for NATS as long as it takes) and pulls requests while the
/// node is not draining, as many as it has free slots for.
async fn consume(shared: Arc<Shared>, stop: CancellationToken) {
    let Some(consumer) = bind(&shared, &stop).await else {
        return;
    };
    let slots = Arc::new(Semaphore::new(shared.config.max_in_flight.get()));
    let mut retry = RETRY_INITIAL;
    let mut draining_logged = false;
    loop {
        if stop.is_cancelled() {
            return;
        }
        if shared.runtime.calls().is_draining() {
            if !draining_logged {
                tracing::info!("draining: no more originate requests taken from NATS");
                draining_logged = true;
            }
            if sleep_or_stop(DRAIN_POLL, &stop).await {
                return;
            }
            continue;
        }
        if draining_logged {
            tracing::info!("taking originate requests from NATS again");
            draining_logged = false;
        }
        let first = tokio::select! {
            () = stop.cancelled() => return,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let free = 1 + slots.available_permits();
        let batch = consumer.batch().max_messages(free).expires(PULL_WAIT).messages().await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, retry_in = ?retry, "cannot pull originate requests from NATS");
                drop(first);
                if sleep_or_stop(retry, &stop).await {
                    return;
                }
                retry = (retry * 2).min(RETRY_MAX);
                continue;
            }
        };
        retry = RETRY_INITIAL;
        let mut first = Some(first);
        loop {
            let item = tokio::select! {
                () = stop.cancelled() => None,
                item = batch.next() => item,
            };
            let Some(item) = item else { break };
            let message = match item {
                Ok(message) => message,
                Err(error) => {
                    tracing::debug!(%error, "originate pull ended early");
                    break;
                }
            };
            // The pull asked for no more than the free slots, so one is there.
            let slot = first.take().or_else(|| slots.clone().try_acquire_owned().ok());
            if stop.is_cancelled() || shared.runtime.calls().is_draining() || slot.is_none() {
                // Straight back to the queue, for another node.
                let _ = message.ack_with(AckKind::Nak(None)).await;
                continue;
            }
            let shared = shared.clone();
            tokio::spawn(async move {
                handle(&shared, message).await;
                drop(slot);
            });
        }
    }
}

/// The consumer, once the stream and it exist; `None` when stopped first.
async fn bind(shared: &Shared, stop: &CancellationToken) -> Option<PullConsumer> {
    let config = &shared.config;
    let jetstream = async_nats::jetstream::new(shared.client.clone());
    let mut retry = RETRY_INITIAL;
    loop {
        let attempt = async {
            let stream = jetstream
                .get_or_create_stream(StreamConfig {
                    name: config.stream.clone(),
                    subjects: vec![config.subject.clone()],
                    retention: RetentionPolicy::WorkQueue,
                    storage: StorageType::File,
                    ..StreamConfig::default()
                })
                .await
                .map_err(|error| error.to_string())?;
            stream
                .get_or_create_consumer(
                    &config.consumer,
                    PullConfig {
                        durable_name: Some(config.consumer.clone()),
                        filter_subject: config.subject.clone(),
                        deliver_policy: DeliverPolicy::All,
                        ack_policy: AckPolicy::Explicit,
                        ack_wait: config.ack_wait(),
                        max_deliver: config.max_deliver(),
                        ..PullConfig::default()
                    },
                )
                .await
                .map_err(|error| error.to_string())
        };
        let result = tokio::select! {
            () = stop.cancelled() => return None,
            result = attempt => result,
        };
        match result {
            Ok(consumer) => {
                tracing::info!(stream = %config.stream, consumer = %config.consumer, "bound to the originate work queue");
                return Some(consumer);
            }
            Err(error) => {
                tracing::warn!(
                    stream = %config.stream,
                    consumer = %config.consumer,
                    %error,
                    retry_in = ?retry,
                    "cannot bind to the originate work queue yet (is NATS up, with JetStream?)"
                );
                if sleep_or_stop(retry, stop).await {
                    return None;
                }
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// One delivery of one request, from taking it to its ack.
async fn handle(shared: &Shared, message: async_nats::jetstream::Message) {
    let delivery = message.info().map(|info| info.delivered).unwrap_or(1);
    let (message, acker) = message.split();
    let header_reply = message.headers.as_ref().and_then(reply_header);
    let mut draft = shared.draft(delivery);
    let request = match serde_json::from_slice::<OriginateMessage>(&message.payload) {
        Ok(request) => request,
        Err(error) => {
            draft.idempotency_key = key_of_malformed(&message.payload);
            let report = draft.refused(
                "malformed",
                format!("the request is not valid JSON of an originate request: {error}"),
            );
            return finish(shared, &acker, &report, header_reply.as_deref(), AckKind::Term).await;
        }
    };
    draft.idempotency_key = Some(request.idempotency_key.clone());
    let reply_to = request.reply_to.clone().or(header_reply);
    if let Some(subject) = reply_to.as_deref().filter(|subject| !is_subject(subject)) {
        let report = draft.refused("bad_reply_to", format!("reply_to `{subject}` is not a NATS subject"));
        return finish(shared, &acker, &report, None, AckKind::Term).await;
    }
    let reply_to = reply_to.as_deref();
    let order = request.order();
    let prepared = match originate::prepare(&shared.runtime, &order) {
        Ok(prepared) => prepared,
        Err(refusal) => {
            refused(shared, &acker, draft, reply_to, &refusal).await;
            return;
        }
    };
    draft.uuid = prepared.uuid().map(str::to_owned);
    let key = request.idempotency_key;

    let seen = shared.recent().begin(&key);
    match seen {
        Seen::New => {}
        Seen::Placing => {
            let report = draft.already_placed("this node is placing the call for this key now".into());
            return finish(shared, &acker, &report, reply_to, AckKind::Ack).await;
        }
        Seen::Done(earlier) => {
            let mut earlier = *earlier;
            earlier.delivery = delivery;
            return finish(shared, &acker, &earlier, reply_to, AckKind::Ack).await;
        }
    }

    if delivery > 1 {
        match prepared.exists_on_switch().await {
            Ok(true) => {
                let reason = format!(
                    "delivery {delivery}: the call {} exists on FreeSWITCH, placed by an earlier delivery",
                    draft.uuid.as_deref().unwrap_or_default()
                );
                let report = draft.already_placed(reason);
                shared.recent().finish(&key, report.clone());
                return finish(shared, &acker, &report, reply_to, AckKind::Ack).await;
            }
            Ok(false) => {}
            Err(refusal) => {
                shared.recent().forget(&key);
                refused(shared, &acker, draft, reply_to, &refusal).await;
                return;
            }
        }
    }

    tracing::info!(%key, uuid = ?draft.uuid, to = %order.to, script = %order.script, delivery, "NATS: originate");
    // The far end may ring for longer than ack_wait: "in progress" keeps the request ours.
    let placed = tokio::select! {
        placed = prepared.place() => placed,
        () = keep_in_progress(&acker, shared.config.ack_wait() / 3) => unreachable!("never ends"),
    };
    match placed {
        Ok(outcome) => {
            let report = draft.placed(&outcome);
            shared.recent().finish(&key, report.clone());
            finish(shared, &acker, &report, reply_to, AckKind::Ack).await;
        }
        Err(refusal) => match refused(shared, &acker, draft, reply_to, &refusal).await {
            // Refused for good: a redelivery gets the same report.
            Some(report) => shared.recent().finish(&key, report),
            // Maybe placed (a connection lost mid-command): the next delivery checks.
            None => shared.recent().forget(&key),
        },
    }
}

/// A request not placed: given back for later when that may help (`None`), otherwise refused
/// for good with the report returned.
async fn refused(
    shared: &Shared,
    acker: &Acker,
    draft: Draft,
    reply_to: Option<&str>,
    refusal: &OriginateRefusal,
) -> Option<OriginateReport> {
    let last = draft.delivery >= shared.config.max_deliver();
    if refusal.is_transient() && !last {
        let delay = retry_delay(draft.delivery);
        tracing::warn!(key = ?draft.idempotency_key, %refusal, retry_in = ?delay, "originate request given back to the queue");
        let _ = acker.ack_with(AckKind::Nak(Some(delay))).await;
        return None;
    }
    let report = if refusal.is_transient() {
        let reason = format!("gave up after {} deliveries: {refusal}", draft.delivery);
        draft.refused("gave_up", reason)
    } else if let OriginateRefusal::Switch(_) = refusal {
        // FreeSWITCH refused the command itself: a failed call, not a bad request.
        OriginateReport { reason: Some(refusal.to_string()), ..draft.report(ReportOutcome::Failed) }
    } else {
        draft.refused(refusal.code(), refusal.to_string())
    };
    finish(shared, acker, &report, reply_to, AckKind::Term).await;
    Some(report)
}

/// Publishes the outcome, then acks (or terminates) the delivery: outcomes go out at least
/// once, since a node that dies between the two has the request delivered again.
async fn finish(
    shared: &Shared,
    acker: &Acker,
    report: &OriginateReport,
    reply_to: Option<&str>,
    ack: AckKind,
) {
    if report.outcome == ReportOutcome::Refused {
        tracing::warn!(key = ?report.idempotency_key, code = ?report.code, reason = ?report.reason, "originate request refused");
    }
    shared.publish(report, reply_to).await;
    if let Err(error) = acker.ack_with(ack).await {
        tracing::warn!(key = ?report.idempotency_key, %error, "cannot ack an originate request; it will be delivered again and recognised");
    }
}

async fn keep_in_progress(acker: &Acker, every: Duration) {
    let every = every.max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let _ = acker.ack_with(AckKind::Progress).await;
    }
}

/// The wait before delivery `delivery + 1` of a request this node could not place: longer each
/// time, so a FreeSWITCH outage is not hammered, at most 30 s.
fn retry_delay(delivery: i64) -> Duration {
    let delivery = u64::try_from(delivery.max(1)).unwrap_or(1);
    Duration::from_secs((2 * delivery).min(30))
}

fn reply_header(headers: &HeaderMap) -> Option<String> {
    headers.get(REPLY_TO_HEADER).map(|value| value.as_str().to_owned())
}

/// The `idempotency_key` of a request that is JSON but not a valid request, so its refusal can
/// be matched to it.
fn key_of_malformed(payload: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    value.get("idempotency_key")?.as_str().map(str::to_owned)
}

/// Sleeps for `duration`; true when stopped meanwhile.
async fn sleep_or_stop(duration: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(duration) => false,
    }
}

/// The idempotency keys this node took most recently, with the outcome once known.
struct RecentKeys {
    capacity: usize,
    keys: HashMap<String, Option<Box<OriginateReport>>>,
    order: VecDeque<String>,
}

/// What a node knows of a key.
enum Seen {
    New,
    Placing,
    Done(Box<OriginateReport>),
}

impl RecentKeys {
    fn new(capacity: usize) -> Self {
        RecentKeys { capacity, keys: HashMap::new(), order: VecDeque::new() }
    }

    /// Takes `key` if it is new (it is then "placing").
    fn begin(&mut self, key: &str) -> Seen {
        match self.keys.get(key) {
            Some(None) => return Seen::Placing,
            Some(Some(report)) => return Seen::Done(report.clone()),
            None => {}
        }
        while self.order.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.keys.remove(&oldest);
            }
        }
        self.keys.insert(key.to_owned(), None);
        self.order.push_back(key.to_owned());
        Seen::New
    }

    fn finish(&mut self, key: &str, report: OriginateReport) {
        if let Some(slot) = self.keys.get_mut(key) {
            *slot = Some(Box::new(report));
        }
    }

    /// Lets `key` be tried again (the attempt ended without knowing whether a call was made; the
    /// next delivery asks FreeSWITCH).
    fn forget(&mut self, key: &str) {
        if self.keys.remove(key).is_some() {
            self.order.retain(|k| k != key);
        }
    }
}

/// A hangup request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HangupMessage {
    uuid: String,
    #[serde(default)]
    cause: Option<String>,
}

/// Answers hangups for the calls this node holds until stopped. The subscription comes back
/// by itself after NATS reconnects.
async fn serve_hangups(
    runtime: Arc<Runtime>,
    client: Client,
    subject: String,
    node: String,
    stop: CancellationToken,
) {
    let mut retry = RETRY_INITIAL;
    let mut subscriber = loop {
        let attempt = tokio::select! {
            () = stop.cancelled() => return,
            attempt = client.subscribe(subject.clone()) => attempt,
        };
        match attempt {
            Ok(subscriber) => {
                tracing::info!(%subject, "subscribed to hangup requests");
                break subscriber;
            }
            Err(error) => {
                tracing::warn!(%subject, %error, retry_in = ?retry, "cannot subscribe to hangup requests yet");
                if sleep_or_stop(retry, &stop).await {
                    return;
                }
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    };
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => break,
            message = subscriber.next() => message,
        };
        let Some(message) = message else { break };
        let Some(answer) = hangup(&runtime, &node, &message.payload) else {
            continue;
        };
        if let Some(reply) = message.reply {
            if let Err(error) = client.publish(reply, answer.to_string().into()).await {
                tracing::warn!(%error, "cannot answer a hangup request");
            }
        }
    }
    let _ = subscriber.unsubscribe().await;
}

/// The answer to one hangup request; `None` when the call is not on this node.
fn hangup(runtime: &Runtime, node: &str, payload: &[u8]) -> Option<serde_json::Value> {
    let request: HangupMessage = match serde_json::from_slice(payload) {
        Ok(request) => request,
        Err(error) => {
            return Some(serde_json::json!({
                "ok": false,
                "node": node,
                "error": format!("not a hangup request ({error}): send {{\"uuid\": \"...\", \"cause\": \"NORMAL_CLEARING\"}}"),
            }))
        }
    };
    let cause = match request.cause.as_deref() {
        None | Some("") => HangupCause::normal(),
        Some(name) => match HangupCause::parse(name) {
            Some(cause) => cause,
            None => {
                return Some(serde_json::json!({
                    "ok": false,
                    "node": node,
                    "uuid": request.uuid,
                    "error": format!("unknown hangup cause `{name}`: use a FreeSWITCH cause such as NORMAL_CLEARING or USER_BUSY"),
                }))
            }
        },
    };
    let call = runtime.calls().get(&request.uuid)?;
    let first = call.hang_up(cause.clone());
    tracing::info!(uuid = %request.uuid, %cause, "NATS: hang up call");
    Some(serde_json::json!({
        "ok": true,
        "node": node,
        "uuid": request.uuid,
        "cause": cause.as_str(),
        "already_asked": !first,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcome: ReportOutcome) -> OriginateReport {
        let draft = Draft { idempotency_key: Some("k".into()), uuid: None, node: "a".into(), delivery: 1 };
        draft.report(outcome)
    }

    #[test]
    fn a_report_says_its_outcome_in_the_documented_words() {
        for outcome in [
            ReportOutcome::Answered,
            ReportOutcome::Busy,
            ReportOutcome::NoAnswer,
            ReportOutcome::NoRoute,
            ReportOutcome::Rejected,
            ReportOutcome::Ended,
            ReportOutcome::Failed,
            ReportOutcome::AlreadyPlaced,
            ReportOutcome::Refused,
        ] {
            let json = serde_json::to_value(report(outcome)).expect("JSON");
            assert_eq!(json["outcome"], outcome.as_str());
            let back: OriginateReport = serde_json::from_value(json).expect("reads back");
            assert_eq!(back.outcome, outcome);
        }
        let refused = Draft { idempotency_key: None, uuid: None, node: "a".into(), delivery: 2 }
            .refused("unknown_script", "no script `x.rhai`".into());
        assert_eq!((refused.code.as_deref(), refused.delivery), (Some("unknown_script"), 2));
        let failed = Draft { idempotency_key: None, uuid: None, node: "a".into(), delivery: 1 }
            .placed(&OriginateOutcome::Failed { cause: "NETWORK_OUT_OF_ORDER".into() });
        assert_eq!(
            (failed.outcome, failed.cause.as_deref()),
            (ReportOutcome::Failed, Some("NETWORK_OUT_OF_ORDER"))
        );
    }

    #[test]
    fn a_key_being_placed_or_placed_is_not_taken_again_until_forgotten() {
        let mut recent = RecentKeys::new(2);
        assert!(matches!(recent.begin("k"), Seen::New));
        assert!(matches!(recent.begin("k"), Seen::Placing));
        recent.finish("k", report(ReportOutcome::Busy));
        assert!(matches!(recent.begin("k"), Seen::Done(report) if report.outcome == ReportOutcome::Busy));
        recent.forget("k");
        assert!(matches!(recent.begin("k"), Seen::New));
    }

    #[test]
    fn the_recent_keys_keep_only_the_newest() {
        let mut recent = RecentKeys::new(2);
        for key in ["a", "b", "c"] {
            assert!(matches!(recent.begin(key), Seen::New));
        }
        assert!(matches!(recent.begin("a"), Seen::New), "the oldest was let go");
        assert!(matches!(recent.begin("c"), Seen::Placing));
        assert_eq!(recent.order.len(), 2);
    }

    #[test]
    fn a_request_reads_with_only_its_required_fields_and_refuses_unknown_ones() {
        let request: OriginateMessage =
            serde_json::from_str(r#"{"to": "user/1000", "script": "main.rhai", "idempotency_key": "k-1"}"#)
                .expect("minimal");
        assert_eq!(request.order().idempotency_key.as_deref(), Some("k-1"));
        assert!(serde_json::from_str::<OriginateMessage>(
            r#"{"to": "user/1000", "script": "main.rhai", "idempotency_key": "k", "extra": 1}"#
        )
        .is_err());
        assert_eq!(key_of_malformed(br#"{"to": 5, "idempotency_key": "k-9"}"#).as_deref(), Some("k-9"));
        assert_eq!(key_of_malformed(b"not json"), None);
    }

    #[test]
    fn retries_wait_longer_each_time_up_to_half_a_minute() {
        assert_eq!(retry_delay(1), Duration::from_secs(2));
        assert_eq!(retry_delay(3), Duration::from_secs(6));
        assert_eq!(retry_delay(100), Duration::from_secs(30));
    }
}
