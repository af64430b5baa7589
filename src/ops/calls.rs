//! `LiveCalls`: the table of calls up now, with what each one is doing, for the operations API,
//! the live view, the metrics and the drain on shutdown.
//!
//! Each call's actor tells its [`LiveCall`] about every verb (it is the call's
//! `CallObserver`), so the table knows the verb in progress and keeps a short transcript
//! without the script doing anything. Changes go out on a broadcast feed that only costs
//! anything while someone (the live view) listens.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::call::transcript::{Described, Entry};
use crate::call::{CallError, CallObserver, Command, HangupCause, HangupRequest, Origin, Outcome};
use crate::ops::metrics::Metrics;
use crate::script::runner::{CallReport, Ending, Failure};

/// Most transcript entries kept per live call: the latest ones, which say where a stuck call is.
pub const TRANSCRIPT_ENTRIES: usize = 200;

/// Room a new call's transcript starts with: an everyday flow's verbs, so it grows at most once.
const TYPICAL_VERBS: usize = 8;

/// Most recent script errors kept for the live view.
pub const RECENT_ERRORS: usize = 50;

/// How a call ended, as the `ending` label of `rivr_calls_total` and in events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallEnding {
    /// The script ran to its end.
    Completed,
    /// The caller (or `DELETE /calls/{uuid}`) hung up while the script ran.
    HungUp,
    /// The script handed the call back to the dialplan.
    Transferred,
    /// The script failed; the fallback was applied.
    ScriptError,
    /// The script broke a sandbox or flow limit; the fallback was applied.
    Limit,
    /// The route's script is not loaded; the fallback was applied.
    Fallback,
    /// Refused: `max_calls` calls were up.
    RejectedBusy,
    /// Refused: the node is draining.
    RejectedDraining,
    /// Refused: no route matched.
    NoRoute,
    /// rivr stopped while the call ran.
    Cancelled,
}

impl CallEnding {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CallEnding::Completed => "completed",
            CallEnding::HungUp => "hung_up",
            CallEnding::Transferred => "transferred",
            CallEnding::ScriptError => "script_error",
            CallEnding::Limit => "limit",
            CallEnding::Fallback => "fallback",
            CallEnding::RejectedBusy => "rejected_busy",
            CallEnding::RejectedDraining => "rejected_draining",
            CallEnding::NoRoute => "no_route",
            CallEnding::Cancelled => "cancelled",
        }
    }

    /// How a script run ended.
    pub fn of(ending: &Ending) -> Self {
        match ending {
            Ending::Completed => CallEnding::Completed,
            Ending::HungUp { .. } => CallEnding::HungUp,
            Ending::Transferred => CallEnding::Transferred,
            Ending::Failed(failure) if failure.kind.is_limit() => CallEnding::Limit,
            Ending::Failed(_) => CallEnding::ScriptError,
            Ending::Cancelled => CallEnding::Cancelled,
        }
    }
}

/// Who a new call is, as the table shows it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CallIdentity {
    /// The call's uuid on the switch.
    pub uuid: String,
    /// The caller's number.
    pub caller: String,
    /// The dialled number.
    pub destination: String,
    /// The route that picked the script.
    pub route: String,
    /// The script it started on.
    pub script: String,
    /// That script's version tag.
    pub version: String,
}

/// A script error seen on a call, for the live view.
#[derive(Clone, Debug, Serialize)]
pub struct ScriptError {
    /// When (RFC 3339).
    pub at: String,
    /// The call it happened on.
    pub uuid: String,
    /// The script the call ran.
    pub script: String,
    /// The file the error is in.
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// What went wrong.
    pub message: String,
    /// `FailureKind` as a word.
    pub kind: &'static str,
}

/// A change to the table, as the live view's feed carries it.
#[derive(Clone, Debug)]
pub enum Update {
    /// A call started, or its verb changed: the call as it is when the update is read.
    Call(Arc<LiveCall>),
    /// A call ended.
    Ended {
        /// Its uuid.
        uuid: String,
        /// How.
        ending: CallEnding,
    },
    /// A script failed on a call.
    ScriptError(Arc<ScriptError>),
}

/// The broadcast of changes, with its own count of listeners: tokio's `receiver_count` takes
/// the channel's lock, and every verb of every call asks.
#[derive(Clone)]
struct Feed {
    sender: broadcast::Sender<Update>,
    listeners: Arc<AtomicUsize>,
}

impl Feed {
    fn new() -> Self {
        Feed { sender: broadcast::channel(FEED_CAPACITY).0, listeners: Arc::new(AtomicUsize::new(0)) }
    }

    /// Send the update `make` builds, if anyone listens.
    fn send(&self, make: impl FnOnce() -> Update) {
        if self.listeners.load(Ordering::Acquire) > 0 {
            let _ = self.sender.send(make());
        }
    }
}

/// One listener's view of the feed; it stops counting as a listener when dropped.
pub struct Subscription {
    receiver: broadcast::Receiver<Update>,
    listeners: Arc<AtomicUsize>,
}

impl Subscription {
    /// The next change; `Lagged` when this listener fell so far behind that changes were lost.
    ///
    /// # Errors
    /// As `broadcast::Receiver::recv`.
    pub async fn recv(&mut self) -> Result<Update, broadcast::error::RecvError> {
        self.receiver.recv().await
    }

    /// The next change if one is waiting.
    ///
    /// # Errors
    /// As `broadcast::Receiver::try_recv`.
    pub fn try_recv(&mut self) -> Result<Update, broadcast::error::TryRecvError> {
        self.receiver.try_recv()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.listeners.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One call that is up.
pub struct LiveCall {
    identity: CallIdentity,
    started: Instant,
    started_at: SystemTime,
    hangup: Arc<HangupRequest>,
    progress: Mutex<Progress>,
    feed: Feed,
    metrics: Arc<Metrics>,
    /// The call thread it runs on (`crate::call_threads::current`); `None` off them.
    thread: Option<usize>,
    /// Set once the call is out of the table; late verbs (`on_hangup`) are not announced.
    ended: AtomicBool,
}

#[derive(Default)]
struct Progress {
    /// The verb in progress, where it came from and when it started.
    current: Option<(Command, Option<Origin>, Instant, SystemTime)>,
    transcript: VecDeque<Entry>,
    /// Entries that fell off the front of `transcript`.
    dropped: usize,
    /// The `ask`/`menu`/`collect` visit in progress, counted in the menu metrics when it ends.
    prompt: Option<OpenPrompt>,
}

/// A visit to an ask/menu/collect site, for the live counters.
struct OpenPrompt {
    /// The stdlib call it runs inside; `None` for a plain `ask` (each is its own visit).
    within: Option<Arc<crate::call::Site>>,
    /// The script file and line of the site: the metrics' labels.
    script: String,
    line: String,
    visit: crate::stats::Visit,
}

impl OpenPrompt {
    fn count(self, metrics: &Metrics) {
        let keys = self.within.as_ref().map_or(&[][..], |site| &site.keys[..]);
        let (outcome, choice) = self.visit.outcome(keys);
        metrics.menu_finished(&self.script, &self.line, outcome, self.visit.retries(), choice, keys.len());
    }
}

/// A live call as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CallView {
    /// Who the call is: uuid, caller, destination, route, script, version.
    #[serde(flatten)]
    pub identity: CallIdentity,
    /// The verb in progress, if the call is in one (not computing between verbs).
    pub verb: Option<&'static str>,
    /// The verb with its arguments, as `rivr sim` shows it.
    pub verb_detail: Option<String>,
    /// When the verb started (RFC 3339).
    pub verb_since: Option<String>,
    /// When the call started (RFC 3339).
    pub started: String,
    /// Seconds since the call started.
    pub age_s: f64,
    /// The call thread it runs on (`rivr-call-N`), or `None` for a call not on one.
    pub thread: Option<usize>,
}

/// One line of a live call's transcript.
#[derive(Clone, Debug, Serialize)]
pub struct TranscriptLine {
    /// Milliseconds after the call started that the verb started.
    pub at_ms: u64,
    /// Where in the script (`file:line:col`), when known.
    pub origin: Option<String>,
    /// The verb and its outcome, as `rivr sim` prints them.
    pub line: String,
}

/// Whether the live view shows a command as the call's current verb: reading or setting a
/// variable and logging take no time on the call, and would only make the view flicker.
fn shown_as_verb(command: &Command) -> bool {
    !matches!(command, Command::Log(_) | Command::GetVar(_) | Command::SetVar { .. } | Command::Publish(_))
}

impl LiveCall {
    /// The call's uuid.
    pub fn uuid(&self) -> &str {
        &self.identity.uuid
    }

    /// How long the call has been up.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ask for the call to be hung up with `cause`; false if a hangup was already asked for.
    pub fn hang_up(&self, cause: HangupCause) -> bool {
        self.hangup.request(cause)
    }

    /// The call as the API shows it.
    pub fn view(&self) -> CallView {
        let progress = self.progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = progress.current.as_ref().filter(|(command, ..)| shown_as_verb(command));
        CallView {
            identity: self.identity.clone(),
            verb: current.map(|(command, ..)| command.verb()),
            verb_detail: current.map(|(command, ..)| Described(command).to_string()),
            verb_since: current.map(|(.., since)| rfc3339(*since)),
            started: rfc3339(self.started_at),
            age_s: self.started.elapsed().as_secs_f64(),
            thread: self.thread,
        }
    }

    /// The transcript so far (the latest [`TRANSCRIPT_ENTRIES`]), and how many earlier entries
    /// were not kept.
    pub fn transcript(&self) -> (Vec<TranscriptLine>, usize) {
        let progress = self.progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let lines = progress
            .transcript
            .iter()
            .map(|entry| TranscriptLine {
                at_ms: u64::try_from(entry.at.as_millis()).unwrap_or(u64::MAX),
                origin: entry.origin.as_ref().map(ToString::to_string),
                line: entry.to_string(),
            })
            .collect();
        (lines, progress.dropped)
    }

    fn announce(self: &Arc<Self>) {
        if !self.ended.load(Ordering::Acquire) {
            self.feed.send(|| Update::Call(self.clone()));
        }
    }
}

impl std::fmt::Debug for LiveCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCall").field("uuid", &self.identity.uuid).finish_non_exhaustive()
    }
}

/// The observer the call's actor reports to. It holds the call weakly in spirit: the table
/// owns the `LiveCall`, the actor an `Arc` of this wrapper.
struct Observer(Arc<LiveCall>);

impl CallObserver for Observer {
    fn verb_started(&self, command: &Command, origin: Option<&Origin>) {
        let call = &self.0;
        let mut progress = call.progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let (Command::Ask(_), Some(origin)) = (command, origin) {
            let same = matches!((&progress.prompt, &origin.within),
                (Some(OpenPrompt { within: Some(open), .. }), Some(now)) if Arc::ptr_eq(open, now));
            if !same {
                if let Some(open) = progress.prompt.take() {
                    open.count(&call.metrics);
                }
                let site = origin.site();
                let line = site.line.to_string();
                call.metrics.menu_reached(&site.source, &line);
                progress.prompt = Some(OpenPrompt {
                    within: origin.within.clone(),
                    script: site.source.clone(),
                    line,
                    visit: crate::stats::Visit::default(),
                });
            }
        }
        progress.current = Some((command.clone(), origin.cloned(), Instant::now(), SystemTime::now()));
        drop(progress);
        if shown_as_verb(command) {
            call.announce();
        }
    }

    fn verb_finished(&self, result: &Result<Outcome, CallError>, switch_time: Duration) {
        let call = &self.0;
        let mut progress = call.progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some((command, origin, started, _)) = progress.current.take() else { return };
        if let (Command::Ask(_), Some(open)) = (&command, progress.prompt.as_mut()) {
            match result {
                Ok(Outcome::Ask(ask)) => open.visit.answered(ask.status.as_str(), Some(&ask.digits)),
                Err(error) if error.is_hangup() => open.visit.hung_up(),
                _ => {}
            }
        }
        if !matches!(command, Command::Log(_)) {
            call.metrics.observe_verb(command.verb(), switch_time.as_secs_f64());
        }
        if progress.transcript.len() == TRANSCRIPT_ENTRIES {
            progress.transcript.pop_front();
            progress.dropped += 1;
        }
        let at = started.saturating_duration_since(call.started);
        progress.transcript.push_back(Entry { at, command, origin, result: result.clone() });
    }
}

/// The counters the live view shows in its header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Calls up now.
    pub active: usize,
    /// Calls that ran a script since start.
    pub total: u64,
    /// Calls that ended without a script failure.
    pub completed: u64,
    /// Calls whose script failed or broke a limit, or had no script loaded.
    pub failed: u64,
    /// Calls refused because `max_calls` were up or the node was draining.
    pub rejected_busy: u64,
    /// Calls no route took.
    pub rejected_no_route: u64,
    /// Whether the node refuses new calls.
    pub draining: bool,
}

/// The live calls, with counters and the feed of changes.
pub struct LiveCalls {
    live: Mutex<HashMap<String, Arc<LiveCall>>>,
    feed: Feed,
    errors: Mutex<VecDeque<Arc<ScriptError>>>,
    metrics: Arc<Metrics>,
    draining: AtomicBool,
    /// Calls that ran a script.
    pub started: AtomicU64,
    /// Calls that ended without a script failure.
    pub completed: AtomicU64,
    /// Calls refused because `max_calls` were up, or because the node was draining.
    pub rejected_busy: AtomicU64,
    /// Calls that matched no route.
    pub rejected_no_route: AtomicU64,
    /// Calls whose script failed (the fallback ran).
    pub failed: AtomicU64,
}

/// Updates the feed holds for a slow listener before it must start again from a snapshot.
const FEED_CAPACITY: usize = 4096;

impl LiveCalls {
    /// An empty table reporting to `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        LiveCalls {
            live: Mutex::new(HashMap::new()),
            feed: Feed::new(),
            errors: Mutex::new(VecDeque::new()),
            metrics,
            draining: AtomicBool::new(false),
            started: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            rejected_busy: AtomicU64::new(0),
            rejected_no_route: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// The metrics this table reports to.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// How many calls are live.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no call is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every live call, oldest first.
    pub fn list(&self) -> Vec<Arc<LiveCall>> {
        let mut calls: Vec<Arc<LiveCall>> = self.lock().values().cloned().collect();
        calls.sort_by_key(|call| call.started);
        calls
    }

    /// The live call `uuid`.
    pub fn get(&self, uuid: &str) -> Option<Arc<LiveCall>> {
        self.lock().get(uuid).cloned()
    }

    /// Listen to changes from now on.
    pub fn subscribe(&self) -> Subscription {
        self.feed.listeners.fetch_add(1, Ordering::AcqRel);
        Subscription { receiver: self.feed.sender.subscribe(), listeners: self.feed.listeners.clone() }
    }

    /// The latest script errors seen on calls, newest first.
    pub fn recent_errors(&self) -> Vec<Arc<ScriptError>> {
        let errors = self.errors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        errors.iter().rev().cloned().collect()
    }

    /// Whether the node refuses new calls.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Refuse (true) or take again (false) new calls. Returns whether that changed anything.
    pub fn set_draining(&self, draining: bool) -> bool {
        let before = self.draining.swap(draining, Ordering::AcqRel);
        self.metrics.draining.set(i64::from(draining));
        before != draining
    }

    /// The header counters.
    pub fn counters(&self) -> Counters {
        Counters {
            active: self.len(),
            total: self.started.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            rejected_busy: self.rejected_busy.load(Ordering::Relaxed),
            rejected_no_route: self.rejected_no_route.load(Ordering::Relaxed),
            draining: self.is_draining(),
        }
    }

    /// Count a call refused before it ran a script (`ending` is one of the rejections).
    pub fn refused(&self, route: &str, ending: CallEnding) {
        match ending {
            CallEnding::NoRoute => self.rejected_no_route.fetch_add(1, Ordering::Relaxed),
            _ => self.rejected_busy.fetch_add(1, Ordering::Relaxed),
        };
        if ending == CallEnding::RejectedBusy {
            self.metrics.max_calls_rejections.inc();
        }
        self.metrics.calls_total.with_label_values(&[route, ending.as_str()]).inc();
    }

    /// Put a new call in the table. Returns the observer and hangup request its actor takes.
    pub fn begin(
        &self,
        identity: CallIdentity,
    ) -> (Arc<LiveCall>, Arc<dyn CallObserver>, Arc<HangupRequest>) {
        let hangup = Arc::new(HangupRequest::default());
        let call = Arc::new(LiveCall {
            identity,
            started: Instant::now(),
            started_at: SystemTime::now(),
            hangup: hangup.clone(),
            progress: Mutex::new(Progress {
                transcript: VecDeque::with_capacity(TYPICAL_VERBS),
                ..Progress::default()
            }),
            feed: self.feed.clone(),
            metrics: self.metrics.clone(),
            thread: crate::call_threads::current(),
            ended: AtomicBool::new(false),
        });
        self.lock().insert(call.identity.uuid.clone(), call.clone());
        self.started.fetch_add(1, Ordering::Relaxed);
        self.metrics.calls_active.inc();
        if let Some(gauge) = call.thread.and_then(|thread| self.metrics.call_thread(thread)) {
            gauge.inc();
        }
        call.announce();
        (call.clone(), Arc::new(Observer(call)), hangup)
    }

    /// Take a call out of the table once its script run is over, counting how it went.
    pub fn end(&self, call: &LiveCall, ending: CallEnding, report: Option<&CallReport>) {
        call.ended.store(true, Ordering::Release);
        let open = call.progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).prompt.take();
        if let Some(mut open) = open {
            if ending == CallEnding::HungUp && open.visit.tries == 0 {
                open.visit.hung_up();
            }
            open.count(&self.metrics);
        }
        self.metrics.calls_active.dec();
        if let Some(gauge) = call.thread.and_then(|thread| self.metrics.call_thread(thread)) {
            gauge.dec();
        }
        let route = call.identity.route.as_str();
        self.metrics.calls_total.with_label_values(&[route, ending.as_str()]).inc();
        self.metrics.call_duration.with_label_values(&[route]).observe(call.age().as_secs_f64());
        match ending {
            CallEnding::ScriptError | CallEnding::Limit | CallEnding::Fallback => {
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
            _ => self.completed.fetch_add(1, Ordering::Relaxed),
        };
        if let Some(Ending::Failed(failure)) = report.map(|report| &report.ending) {
            self.script_failed(call, failure);
        }
        // Last, so that whoever sees the call gone from the table also sees it counted.
        self.lock().remove(&call.identity.uuid);
        self.feed.send(|| Update::Ended { uuid: call.identity.uuid.clone(), ending });
    }

    fn script_failed(&self, call: &LiveCall, failure: &Failure) {
        self.metrics.script_errors.with_label_values(&[failure.kind.as_str()]).inc();
        let error = Arc::new(ScriptError {
            at: rfc3339(SystemTime::now()),
            uuid: call.identity.uuid.clone(),
            script: call.identity.script.clone(),
            file: failure.source.clone(),
            line: failure.line,
            column: failure.column,
            message: failure.message.clone(),
            kind: failure.kind.as_str(),
        });
        let mut errors = self.errors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if errors.len() == RECENT_ERRORS {
            errors.pop_front();
        }
        errors.push_back(error.clone());
        drop(errors);
        self.feed.send(|| Update::ScriptError(error));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LiveCall>>> {
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for LiveCalls {
    fn default() -> Self {
        LiveCalls::new(Arc::new(Metrics::new()))
    }
}

impl std::fmt::Debug for LiveCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCalls").field("live", &self.len()).finish_non_exhaustive()
    }
}

/// A wall-clock time in RFC 3339, UTC.
pub fn rfc3339(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time).map(|t| t.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{AskOptions, AskOutcome, AskStatus, Prompt};

    fn identity(uuid: &str) -> CallIdentity {
        CallIdentity {
            uuid: uuid.into(),
            route: "sales".into(),
            script: "main.rhai".into(),
            ..CallIdentity::default()
        }
    }

    #[test]
    fn a_menu_counts_once_per_visit_under_the_scripts_line_with_its_retries_and_choice() {
        let calls = LiveCalls::default();
        let (call, observer, _) = calls.begin(identity("m"));
        let site = Arc::new(crate::call::Site {
            function: "menu",
            at: Origin { source: "main.rhai".into(), line: 12, column: 5, within: None },
            keys: vec!["1".into(), "2".into()],
        });
        let inside = Origin { source: "rivr/menu".into(), line: 57, column: 17, within: Some(site.clone()) };
        let ask = Command::Ask(AskOptions::default());
        for (status, digits) in [(AskStatus::NoInput, ""), (AskStatus::Match, "2")] {
            observer.verb_started(&ask, Some(&inside));
            let outcome = Outcome::Ask(AskOutcome {
                status,
                digits: digits.into(),
                terminator: None,
                keys: Vec::new(),
            });
            observer.verb_finished(&Ok(outcome), Duration::from_millis(5));
        }
        calls.end(&call, CallEnding::Completed, None);
        let text = calls.metrics().render(&crate::ops::metrics::Readings::default());
        for line in [
            r#"rivr_menu_reached_total{line="12",script="main.rhai"} 1"#,
            r#"rivr_menu_outcomes_total{line="12",outcome="match",script="main.rhai"} 1"#,
            r#"rivr_menu_retries_total{line="12",script="main.rhai"} 1"#,
            r#"rivr_menu_choices_total{choice="2",line="12",script="main.rhai"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn a_live_call_shows_its_verb_in_progress_and_keeps_what_finished_as_a_transcript() {
        let calls = LiveCalls::default();
        let (call, observer, _) = calls.begin(identity("a"));
        let ask = Command::Ask(AskOptions {
            prompts: vec![Prompt::parse("ivr/menu.wav")],
            ..AskOptions::default()
        });
        observer.verb_started(&ask, None);
        let view = call.view();
        assert_eq!(view.verb, Some("ask"));
        assert_eq!(view.verb_detail.as_deref(), Some("ask: ivr/menu.wav"));
        let outcome = Outcome::Ask(AskOutcome {
            status: AskStatus::Match,
            digits: "1".into(),
            terminator: None,
            keys: Vec::new(),
        });
        observer.verb_finished(&Ok(outcome), Duration::from_millis(1200));
        assert_eq!(call.view().verb, None);
        let (lines, dropped) = call.transcript();
        assert_eq!(
            lines.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(),
            ["ask: ivr/menu.wav → match \"1\""]
        );
        assert_eq!(dropped, 0);
        assert_eq!(calls.len(), 1);
        calls.end(&call, CallEnding::Completed, None);
        assert!(calls.get("a").is_none());
        assert_eq!(calls.counters().completed, 1);
    }

    #[test]
    fn a_long_call_keeps_only_its_latest_transcript_entries_and_counts_the_rest() {
        let calls = LiveCalls::default();
        let (call, observer, _) = calls.begin(identity("b"));
        for _ in 0..TRANSCRIPT_ENTRIES + 3 {
            observer.verb_started(&Command::Answer, None);
            observer.verb_finished(&Ok(Outcome::Done), Duration::ZERO);
        }
        let (lines, dropped) = call.transcript();
        assert_eq!(lines.len(), TRANSCRIPT_ENTRIES);
        assert_eq!(dropped, 3);
    }

    #[test]
    fn the_feed_announces_calls_only_while_someone_listens() {
        let calls = LiveCalls::default();
        let (quiet, ..) = calls.begin(identity("quiet"));
        let mut feed = calls.subscribe();
        let (call, observer, _) = calls.begin(identity("heard"));
        observer.verb_started(&Command::Answer, None);
        calls.end(&call, CallEnding::HungUp, None);
        calls.end(&quiet, CallEnding::Completed, None);
        let mut seen = Vec::new();
        while let Ok(update) = feed.try_recv() {
            seen.push(match update {
                Update::Call(call) => format!("call {}", call.uuid()),
                Update::Ended { uuid, ending } => format!("ended {uuid} {}", ending.as_str()),
                Update::ScriptError(_) => "error".into(),
            });
        }
        assert_eq!(seen, ["call heard", "call heard", "ended heard hung_up", "ended quiet completed"]);
    }
}
