//! `SimChannel`: one simulated call leg.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::call::{
    AskOptions, AskOutcome, AskStatus, CallEnd, CallError, CallInfo, Command, DialOutcome, DialStatus,
    DtmfKeys, HangupCause, KeyPress, Origin, Outcome, RecordOptions, RecordOutcome, RecordStatus,
};
use crate::switch::sim::{Entry, Journal};
use crate::switch::Channel;

/// Something the simulated caller does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerAction {
    /// Press keys (`"1"`, `"1234#"`) as one quick burst, once the prompt has played.
    Press(DtmfKeys),
    /// Press each key at its time since the start of the `ask` that takes this action (a
    /// replayed call): a key during the prompt stops it (barge-in), a gap longer than the
    /// inter-digit timeout ends the collection, and the ask hears nothing else from the caller
    /// (no key left is silence, not the next action's keys).
    PressAt(TimedKeys),
    /// Do nothing for a while (virtual time).
    Wait(Duration),
    /// Stay silent until the current prompt times out.
    Silence,
    /// Hang up.
    Hangup,
    /// Hang up once the flow has started this many commands (not counting `get_var` and
    /// `set_var`), or as soon as it waits for the caller: how a scenario places a hangup
    /// between its expectations.
    HangupAfter(usize),
}

/// The keys of one `ask` at their times: what a trace recorded of a caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimedKeys {
    /// Each key, at its time since the ask started.
    pub keys: Vec<KeyPress>,
    /// The shortest the ask's prompt can have been for the keys to come as they did: a real
    /// prompt's length is not recorded, and one longer than the simulator's would otherwise
    /// make a caller who answered after it too late. The prompt plays at least this long.
    pub prompt_at_least: Duration,
}

impl TimedKeys {
    /// `keys`, with no more than the simulator's prompt.
    pub fn new(keys: Vec<KeyPress>) -> Self {
        TimedKeys { keys, prompt_at_least: Duration::ZERO }
    }
}

/// How a simulated dial ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimDial {
    /// The status the dial reports.
    pub status: DialStatus,
    /// Talk time when answered; ringing time otherwise.
    pub duration: Duration,
}

impl SimDial {
    /// A dial that is answered and talks for `duration`.
    pub fn answered(duration: Duration) -> Self {
        SimDial { status: DialStatus::Answered, duration }
    }

    /// Parse `answered[:SECONDS]`, `busy`, `no_answer`, `failed` (the `rivr sim --dial` syntax).
    pub fn parse(text: &str) -> Option<Self> {
        let (status, seconds) = match text.split_once(':') {
            Some((status, seconds)) => (status, Some(seconds.parse::<f64>().ok()?)),
            None => (text, None),
        };
        let status = DialStatus::parse(status.trim())?;
        let default = if status == DialStatus::Answered { 30.0 } else { 0.0 };
        let seconds = seconds.unwrap_or(default);
        if !(0.0..=86_400.0).contains(&seconds) {
            return None;
        }
        Some(SimDial { status, duration: Duration::from_secs_f64(seconds) })
    }

    fn cause(&self) -> &'static str {
        match self.status {
            DialStatus::Answered => "NORMAL_CLEARING",
            DialStatus::Busy => "USER_BUSY",
            DialStatus::Failed => "NO_ROUTE_DESTINATION",
            DialStatus::NoAnswer => "NO_ANSWER",
        }
    }
}

/// How a simulated recording ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRecord {
    /// The status the recording reports.
    pub status: RecordStatus,
    /// Its length (capped by the script's `max_duration`).
    pub duration: Duration,
}

impl Default for SimRecord {
    fn default() -> Self {
        SimRecord { status: RecordStatus::Recorded, duration: Duration::from_secs(5) }
    }
}

/// The scripted side of a simulated call: everything that is not the caller's keys.
#[derive(Clone, Debug)]
pub struct SimSetup {
    /// Results for successive dials; when empty, `default_dial` applies.
    pub dials: VecDeque<SimDial>,
    /// Result of a dial with nothing scripted.
    pub default_dial: SimDial,
    /// Results for successive recordings; when empty, `SimRecord::default()` applies.
    pub records: VecDeque<SimRecord>,
    /// Where recordings are said to be written (`SIM_RECORDINGS_DIR` unless a configuration
    /// names its own).
    pub recordings_dir: String,
    /// Hang up (as the caller) when the command with this 1-based number starts.
    pub hangup_at_command: Option<usize>,
    /// Longest the call may last in simulated time (`max_call_duration_s`, 4 hours by
    /// default): the first command that starts later finds the call hung up with
    /// `ALLOTTED_TIMEOUT`, as `rivr run` hangs a real call up.
    pub max_duration: Duration,
}

/// Where a stock FreeSWITCH built from source keeps recordings (its `recordings_dir`), which
/// is where `record()` writes when `recordings:` is not configured.
pub const SIM_RECORDINGS_DIR: &str = "/usr/local/freeswitch/recordings";

/// The least simulated time a dial takes, whatever its outcome.
const MIN_DIAL_TIME: Duration = Duration::from_secs(1);

/// How long the simulator plays a prompt (a `play`, a `say`, an `ask`'s prompts), and the
/// invalid prompt an `ask` plays after a failed try.
pub const SIM_PROMPT_TIME: Duration = Duration::from_secs(1);

/// What FreeSWITCH plays after a failed try when the ask names no invalid prompt
/// (`silence_stream://250`, see `switch::freeswitch::mapping::input`).
const NO_INVALID_PROMPT_TIME: Duration = Duration::from_millis(250);

/// The keys that stop `playback`, `speak` and `say` when `playback_terminators` is unset
/// (mod_dptools, `on_dtmf`).
const DEFAULT_PLAYBACK_TERMINATORS: &str = "*";

/// The channel variable with the keys that stop media, and its value for none.
const VAR_PLAYBACK_TERMINATORS: &str = "playback_terminators";
const PLAYBACK_TERMINATORS_NONE: &str = "none";

/// The cause a call that lasted `max_call_duration_s` is hung up with.
const CAUSE_ALLOTTED_TIMEOUT: &str = "ALLOTTED_TIMEOUT";

impl Default for SimSetup {
    fn default() -> Self {
        SimSetup {
            dials: VecDeque::new(),
            default_dial: SimDial::answered(Duration::from_secs(30)),
            records: VecDeque::new(),
            recordings_dir: SIM_RECORDINGS_DIR.into(),
            hangup_at_command: None,
            max_duration: Duration::from_secs(4 * 60 * 60),
        }
    }
}

/// One simulated call leg, driven by a queue of caller actions.
pub struct SimChannel {
    input: mpsc::UnboundedReceiver<CallerAction>,
    /// Actions taken off the queue but not used up yet (a hangup seen early, part of a wait).
    ahead: VecDeque<CallerAction>,
    /// Keys pressed and not taken yet: type-ahead for the next collection, unless media plays
    /// first and takes them ([`SimChannel::media_plays`]) or a bridge passes them on
    /// ([`SimChannel::bridge_takes_keys`]).
    burst: VecDeque<char>,
    /// Keys of a `PressAt` not collected yet, each at its time on `clock`.
    timed: VecDeque<KeyPress>,
    /// Keys of a `PressAt` that its ask did not take, each at its time on `clock`: pressed
    /// after that ask ended, they reach whatever runs then ([`SimChannel::media_plays`]).
    later: VecDeque<KeyPress>,
    /// The current ask took a `PressAt`: its caller does nothing but press those keys.
    timed_ask: bool,
    /// When the current ask started, on `clock`.
    ask_started: Duration,
    /// `TimedKeys::prompt_at_least` of the current ask's keys.
    prompt_at_least: Duration,
    /// What is left of a `Wait` that outlasted a timeout.
    waiting_rest: Duration,
    setup: SimSetup,
    variables: BTreeMap<String, String>,
    journal: Journal,
    clock: Duration,
    commands: usize,
    /// Commands started, not counting `get_var`/`set_var` (see `CallerAction::HangupAfter`).
    media_commands: usize,
    /// How the call stopped being the script's, once it has.
    ended: Option<CallEnd>,
    /// A collection on this call ended on a terminator (FreeSWITCH's `read_terminator_used`,
    /// which nothing clears).
    terminator_used: bool,
    /// Called when the call needs the caller's next action and none is queued (the console
    /// prints a hint then).
    waiting: Option<Box<dyn Fn() + Send>>,
}

impl SimChannel {
    /// A call for `info`, whose caller acts as `input` says. When `input` runs dry (its sender is
    /// dropped), the caller hangs up.
    pub fn new(
        info: &CallInfo,
        input: mpsc::UnboundedReceiver<CallerAction>,
        setup: SimSetup,
        journal: Journal,
    ) -> Self {
        SimChannel {
            input,
            ahead: VecDeque::new(),
            burst: VecDeque::new(),
            timed: VecDeque::new(),
            later: VecDeque::new(),
            timed_ask: false,
            ask_started: Duration::ZERO,
            prompt_at_least: Duration::ZERO,
            waiting_rest: Duration::ZERO,
            setup,
            variables: info.variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            journal,
            clock: Duration::ZERO,
            commands: 0,
            media_commands: 0,
            ended: None,
            terminator_used: false,
            waiting: None,
        }
    }

    /// Call `hook` whenever the call waits for a caller action that hasn't come yet.
    pub fn on_waiting(mut self, hook: impl Fn() + Send + 'static) -> Self {
        self.waiting = Some(Box::new(hook));
        self
    }

    /// The next caller action, waiting for one if the queue is empty. `None`: the caller is gone.
    async fn next_action(&mut self) -> Option<CallerAction> {
        if let Some(action) = self.ahead.pop_front() {
            self.journal.note_action_taken();
            return Some(action);
        }
        match self.input.try_recv() {
            Ok(action) => {
                self.journal.note_action_taken();
                Some(action)
            }
            Err(mpsc::error::TryRecvError::Disconnected) => {
                self.journal.mark_input_exhausted();
                None
            }
            Err(mpsc::error::TryRecvError::Empty) => {
                if let Some(hook) = &self.waiting {
                    hook();
                }
                let action = self.input.recv().await;
                if action.is_some() {
                    self.journal.note_action_taken();
                } else {
                    self.journal.mark_input_exhausted();
                }
                action
            }
        }
    }

    /// Whether the caller has hung up by now, looking only at actions already queued.
    fn hangup_pending(&mut self) -> bool {
        while let Ok(action) = self.input.try_recv() {
            self.ahead.push_back(action);
        }
        match self.ahead.front() {
            Some(CallerAction::Hangup) => true,
            Some(CallerAction::HangupAfter(count)) => self.media_commands > *count,
            _ => false,
        }
    }

    fn end(&mut self, cause: &str) -> CallError {
        if matches!(self.ahead.front(), Some(CallerAction::Hangup | CallerAction::HangupAfter(_))) {
            self.ahead.pop_front();
            self.journal.note_action_taken();
        }
        self.ended.get_or_insert_with(|| CallEnd::HungUp(cause.into()));
        CallError::hangup(cause)
    }

    /// Wait up to `limit` of virtual time for one key. `Ok(None)` is a timeout.
    ///
    /// The keys of one `Press` come as a quick burst; after the burst the caller pauses, so a
    /// collection that wants more digits times out (`first` is false) rather than taking keys
    /// from the caller's next action, which answers a later prompt.
    async fn key_within(&mut self, limit: Duration, first: bool) -> Result<Option<char>, CallError> {
        if let Some(key) = self.burst.pop_front() {
            return Ok(Some(key));
        }
        if self.timed_ask {
            return Ok(self.timed_key_within(limit));
        }
        if !first {
            if self.hangup_pending() {
                return Err(self.end("NORMAL_CLEARING"));
            }
            self.clock += limit;
            return Ok(None);
        }
        let mut left = limit;
        // The rest of an earlier wait comes first.
        if self.waiting_rest > Duration::ZERO {
            if self.waiting_rest >= left {
                self.waiting_rest -= left;
                self.clock += left;
                return Ok(None);
            }
            left -= self.waiting_rest;
            self.clock += self.waiting_rest;
            self.waiting_rest = Duration::ZERO;
        }
        loop {
            match self.next_action().await {
                None | Some(CallerAction::Hangup | CallerAction::HangupAfter(_)) => {
                    return Err(self.end("NORMAL_CLEARING"))
                }
                Some(CallerAction::Press(keys)) => {
                    self.burst.extend(keys.keys());
                    if let Some(key) = self.burst.pop_front() {
                        return Ok(Some(key));
                    }
                }
                Some(CallerAction::PressAt(keys)) => {
                    self.take_timed(keys);
                    return Ok(self.timed_key_within(left));
                }
                Some(CallerAction::Silence) => {
                    self.clock += left;
                    return Ok(None);
                }
                Some(CallerAction::Wait(wait)) => {
                    if wait < left {
                        self.clock += wait;
                        left -= wait;
                    } else {
                        self.clock += left;
                        self.waiting_rest = wait - left;
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// The timed keys of `keys`, from the start of the current ask; this ask hears nothing else.
    fn take_timed(&mut self, keys: TimedKeys) {
        let start = self.ask_started;
        self.timed
            .extend(keys.keys.into_iter().map(|press| KeyPress { key: press.key, at: start + press.at }));
        self.prompt_at_least = keys.prompt_at_least;
        self.timed_ask = true;
    }

    /// The next timed key if it comes within `limit` (the clock moves to it; a key pressed
    /// earlier waited on the channel and comes now), else `None` with the clock `limit` on.
    fn timed_key_within(&mut self, limit: Duration) -> Option<char> {
        match self.timed.front() {
            Some(next) if next.at <= self.clock + limit => {
                self.clock = self.clock.max(next.at);
                self.timed.pop_front().map(|press| press.key)
            }
            _ => {
                self.clock += limit;
                None
            }
        }
    }

    /// A try's prompt, `length` long. `switch_ivr_read` plays it with a digit buffer, so any key
    /// stops it (barge-in) and is the try's first key; a key typed ahead stops it at once. A
    /// caller of `Press` actions listens to the whole prompt and acts after it.
    fn prompt(&mut self, length: Duration) -> Option<char> {
        if let Some(key) = self.burst.pop_front() {
            return Some(key);
        }
        if !self.timed_ask {
            while let Ok(action) = self.input.try_recv() {
                self.ahead.push_back(action);
            }
            if matches!(self.ahead.front(), Some(CallerAction::PressAt(_))) {
                if let Some(CallerAction::PressAt(keys)) = self.ahead.pop_front() {
                    self.journal.note_action_taken();
                    self.take_timed(keys);
                }
            }
        }
        if self.timed_ask {
            let length = if length.is_zero() { length } else { length.max(self.prompt_at_least) };
            return self.timed_key_within(length);
        }
        self.clock += length;
        None
    }

    /// One prompt-and-collect, as FreeSWITCH's `play_and_get_digits` does it
    /// (`switch_play_and_get_digits`, `switch_ivr_read`, `switch_ivr_collect_digits_count`):
    /// each try plays the prompt, which a key interrupts; then waits `timeout` for a first key
    /// after the prompt, or `inter_digit_timeout` after the last key, and ends the try with the
    /// digits so far when that passes; a failed try plays the invalid prompt, during which keys
    /// wait for the next try.
    async fn ask(&mut self, options: &AskOptions) -> Result<Outcome, CallError> {
        self.ask_started = self.clock;
        self.timed_ask = false;
        // Keys an earlier ask did not take and no media took are type-ahead for this one.
        self.burst.extend(self.later.drain(..).map(|press| press.key));
        let result = self.collect(options).await;
        self.later.extend(self.timed.drain(..));
        self.timed_ask = false;
        result
    }

    async fn collect(&mut self, options: &AskOptions) -> Result<Outcome, CallError> {
        let pattern = options.regex.as_ref();
        let tries = options.tries.max(1);
        let prompt_time = if options.prompts.is_empty() { Duration::ZERO } else { SIM_PROMPT_TIME };
        let invalid_time =
            if options.invalid_prompt.is_some() { SIM_PROMPT_TIME } else { NO_INVALID_PROMPT_TIME };
        let mut keys: Vec<KeyPress> = Vec::new();
        let mut last = AskOutcome {
            status: AskStatus::NoInput,
            digits: String::new(),
            terminator: None,
            keys: Vec::new(),
        };
        // Digits the regex refused, kept across tries as FreeSWITCH keeps `<var>_invalid`.
        let mut refused: Option<String> = None;
        for attempt in 1..=tries {
            let mut digits = String::new();
            let mut terminator = None;
            let mut wait = options.timeout;
            let mut barged_in = self.prompt(prompt_time);
            while (digits.len() as u32) < options.max_digits {
                let key = match barged_in.take() {
                    Some(key) => Some(key),
                    None => self.key_within(wait, digits.is_empty() && terminator.is_none()).await?,
                };
                let Some(key) = key else { break };
                keys.push(KeyPress { key, at: self.clock.saturating_sub(self.ask_started) });
                if options.terminators.contains(key) {
                    terminator = Some(key);
                    break;
                }
                digits.push(key);
                wait = options.inter_digit_timeout;
            }
            self.terminator_used |= terminator.is_some();
            let length = digits.len() as u32;
            let long_enough =
                !digits.is_empty() && length >= options.min_digits && length <= options.max_digits;
            if long_enough {
                if pattern.is_none_or(|re| re.is_match(&digits)) {
                    return Ok(Outcome::Ask(AskOutcome {
                        status: AskStatus::Match,
                        digits,
                        terminator,
                        keys,
                    }));
                }
                refused = Some(digits.clone());
            }
            let collected_nothing = digits.is_empty();
            // With min_digits 0 a try that collected nothing reads `success` (terminator) or
            // `timeout` (silence) with `<var>_invalid` still set: rivr reports the refused digits.
            let earlier = refused.clone().filter(|_| collected_nothing && options.min_digits == 0);
            let (status, digits, terminator) = match earlier {
                Some(digits) => (AskStatus::NoMatch, digits, terminator),
                None if !collected_nothing || terminator.is_some() => {
                    (AskStatus::NoMatch, digits, terminator)
                }
                None => (AskStatus::NoInput, digits, None),
            };
            last = AskOutcome { status, digits, terminator, keys: keys.clone() };
            // switch_play_and_get_digits: with min_digits 0, a try that collected nothing ends
            // the ask once any terminator was ever used on the channel.
            if options.min_digits == 0 && collected_nothing && self.terminator_used {
                break;
            }
            if attempt < tries && self.hangup_pending() {
                return Err(self.end("NORMAL_CLEARING"));
            }
            // After every failed try, the last one too; it takes no keys (no digit buffer).
            self.clock += invalid_time;
        }
        Ok(Outcome::Ask(last))
    }

    /// The keys that stop media on this call, as mod_dptools' `on_dtmf` reads them: the channel
    /// variable `playback_terminators`, `*` when it is unset, none when it is `none`.
    fn playback_terminators(&self) -> String {
        match self.variables.get(VAR_PLAYBACK_TERMINATORS) {
            None => DEFAULT_PLAYBACK_TERMINATORS.into(),
            Some(keys) if keys.eq_ignore_ascii_case(PLAYBACK_TERMINATORS_NONE) => String::new(),
            Some(keys) => keys.clone(),
        }
    }

    /// An application that plays media (`playback`, `speak`, `say`, `record`) for `length`,
    /// and what it does with the keys pressed before it ends. FreeSWITCH's media loop takes each
    /// key off the channel, those typed ahead at once, and hands it to mod_dptools' `on_dtmf`
    /// (`switch_ivr_play_file`, `switch_ivr_speak_text_handle`, `switch_ivr_record_file`),
    /// which drops it unless it is one of `terminators`. A terminator stops the application
    /// when it comes, and the keys after it stay on the channel for what runs next. So keys an
    /// `ask` did not take are type-ahead for the next `ask` only when no media plays in between
    /// before they are pressed. Returns the terminator that stopped the application, if one did;
    /// the clock is then at that key, else `length` on.
    fn media_plays(&mut self, length: Duration, terminators: &str) -> Option<char> {
        while let Some(key) = self.burst.pop_front() {
            if terminators.contains(key) {
                return Some(key);
            }
        }
        let end = self.clock + length;
        while self.later.front().is_some_and(|press| press.at <= end) {
            let Some(press) = self.later.pop_front() else { break };
            if terminators.contains(press.key) {
                self.clock = self.clock.max(press.at);
                return Some(press.key);
            }
        }
        self.clock = end;
        None
    }

    /// An answered `bridge` passes every key on the caller's channel to the far end
    /// (`switch_ivr_bridge.c`, `audio_bridge_thread`): the keys typed ahead and those pressed
    /// until the bridge ended (the clock) never reach the script's next `ask`.
    fn bridge_takes_keys(&mut self) {
        self.burst.clear();
        while self.later.front().is_some_and(|press| press.at <= self.clock) {
            self.later.pop_front();
        }
    }

    fn record(&mut self, options: &RecordOptions) -> Result<Outcome, CallError> {
        let result = self.setup.records.pop_front().unwrap_or_default();
        let path = format!("{}/{}.wav", self.setup.recordings_dir.trim_end_matches('/'), options.name);
        // The beep (`playback`, which the simulator plays in no time) takes keys typed ahead
        // first, then `record` with the recording's own terminators as `playback_terminators`
        // (`switch::freeswitch::mapping::record`).
        if options.beep {
            let terminators = self.playback_terminators();
            self.media_plays(Duration::ZERO, &terminators);
        }
        let started = self.clock;
        let duration = result.duration.min(options.max_duration);
        if let Some(key) = self.media_plays(duration, options.terminators.as_str()) {
            let duration = self.clock - started;
            // `record_ms` 0 reads as empty (`switch::freeswitch::mapping::record::outcome`).
            let status = if duration.is_zero() { RecordStatus::Empty } else { result.status };
            return Ok(Outcome::Record(RecordOutcome { status, path, duration, terminator: Some(key) }));
        }
        let terminator = match self.ahead.front() {
            Some(CallerAction::Press(keys)) => {
                keys.keys().next().filter(|key| options.terminators.contains(*key))
            }
            _ => None,
        };
        if terminator.is_some() {
            self.ahead.pop_front();
            self.journal.note_action_taken();
        }
        Ok(Outcome::Record(RecordOutcome { status: result.status, path, duration, terminator }))
    }

    async fn run(&mut self, command: &Command) -> Result<Outcome, CallError> {
        if let Command::Log(_) | Command::Publish(_) = command {
            // Written by `execute` (published by the actor), whatever state the call is in.
            return Ok(Outcome::Done);
        }
        if let Some(end) = &self.ended {
            return Err(CallError::ended(end.clone()));
        }
        self.commands += 1;
        if command.needs_media() {
            self.media_commands += 1;
        }
        if self.setup.hangup_at_command == Some(self.commands) || self.hangup_pending() {
            return Err(self.end("NORMAL_CLEARING"));
        }
        if self.clock >= self.setup.max_duration {
            tracing::warn!(limit = ?self.setup.max_duration, "the simulated call lasted max_call_duration_s; hanging it up");
            return Err(self.end(CAUSE_ALLOTTED_TIMEOUT));
        }
        match command {
            Command::Answer | Command::PreAnswer | Command::Ring | Command::SendDtmf(_) => Ok(Outcome::Done),
            Command::Reject(cause) | Command::Hangup(cause) => {
                self.ended = Some(CallEnd::HungUp(cause.clone()));
                Ok(Outcome::Done)
            }
            Command::Play(_) | Command::Say(_) | Command::SayAs(_) => {
                let terminators = self.playback_terminators();
                self.media_plays(SIM_PROMPT_TIME, &terminators);
                Ok(Outcome::Done)
            }
            Command::Ask(options) => self.ask(options).await,
            Command::Dial(_) => {
                let dial = self.setup.dials.pop_front().unwrap_or_else(|| self.setup.default_dial.clone());
                // Even a dial that fails at once takes signalling time on a switch; without it a
                // flow that redials a busy line for ever would never reach max_call_duration_s.
                self.clock += dial.duration.max(MIN_DIAL_TIME);
                let answered = dial.status == DialStatus::Answered;
                if answered {
                    self.bridge_takes_keys();
                }
                let answered_by = match command {
                    Command::Dial(options) if answered => options.targets.first().cloned(),
                    _ => None,
                };
                Ok(Outcome::Dial(DialOutcome {
                    status: dial.status,
                    cause: dial.cause().into(),
                    duration: if answered { dial.duration } else { Duration::ZERO },
                    answered_by,
                }))
            }
            Command::Record(options) => self.record(options),
            Command::Transfer(_) => {
                self.ended = Some(CallEnd::Transferred);
                Ok(Outcome::Done)
            }
            Command::GetVar(name) => Ok(Outcome::Value(self.variables.get(name).cloned())),
            // FreeSWITCH's `set` deletes a variable set to nothing (mod_dptools, `base_set`).
            Command::SetVar { name, value } if value.is_empty() => {
                self.variables.remove(name);
                Ok(Outcome::Done)
            }
            Command::SetVar { name, value } => {
                self.variables.insert(name.clone(), value.clone());
                Ok(Outcome::Done)
            }
            Command::Sleep(duration) => {
                self.clock += *duration;
                Ok(Outcome::Done)
            }
            // What FreeSWITCH reports for an application that sets no response (every capture).
            Command::Execute { .. } => Ok(Outcome::Response("_none_".into())),
            // The call actor answers HTTP through its `HttpClient` (a canned one in scenarios);
            // a request only gets here if something bypassed the actor.
            Command::Http(request) => Err(CallError::Unsupported {
                verb: request.method.verb(),
                reason: "HTTP requests are carried out by the call actor, not the switch".into(),
            }),
            // Written (or published) before the call's state was looked at, above.
            Command::Log(_) | Command::Publish(_) => Ok(Outcome::Done),
        }
    }
}

impl Channel for SimChannel {
    async fn execute(&mut self, command: Command, origin: Option<Origin>) -> Result<Outcome, CallError> {
        if let Command::Log(line) = &command {
            line.emit(origin.as_ref());
        }
        let at = self.clock;
        let result = self.run(&command).await;
        self.journal.push(Entry { at, command, origin, result: result.clone() });
        result
    }

    async fn ended(&mut self) -> HangupCause {
        // The simulated caller only acts when a command consumes its actions, so an idle call
        // never ends by itself.
        std::future::pending().await
    }

    async fn close(self) {}
}

#[cfg(test)]
mod tests_support {
    use super::*;

    pub fn call(actions: Vec<CallerAction>) -> SimChannel {
        let (tx, rx) = mpsc::unbounded_channel();
        for action in actions {
            tx.send(action).expect("queue");
        }
        drop(tx);
        SimChannel::new(&CallInfo::new("call-1", "5551234", "1000"), rx, SimSetup::default(), Journal::new())
    }

    pub fn run(channel: &mut SimChannel, command: Command) -> Result<Outcome, CallError> {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        rt.block_on(channel.execute(command, None))
    }

    /// `key`, pressed `ms` after the ask started.
    pub fn at(key: char, ms: u64) -> KeyPress {
        KeyPress { key, at: Duration::from_millis(ms) }
    }

    /// Up to four digits, a 5 s first-key timeout and a 2 s inter-digit timeout.
    pub fn account() -> Command {
        Command::Ask(AskOptions {
            prompts: vec!["account.wav".into()],
            min_digits: 1,
            max_digits: 4,
            timeout: Duration::from_secs(5),
            inter_digit_timeout: Duration::from_secs(2),
            ..AskOptions::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;

    #[test]
    fn setting_a_variable_to_empty_text_unsets_it_as_freeswitch_does() {
        // mod_dptools' `set` (base_set) passes NULL for an empty value, which deletes the
        // variable: `uuid_getvar` then answers `_undef_`.
        let mut channel = call(Vec::new());
        let set = |value: &str| Command::SetVar { name: "colour".into(), value: value.into() };
        run(&mut channel, set("blue")).expect("set");
        assert_eq!(
            run(&mut channel, Command::GetVar("colour".into())),
            Ok(Outcome::Value(Some("blue".into())))
        );
        run(&mut channel, set("")).expect("set empty");
        assert_eq!(run(&mut channel, Command::GetVar("colour".into())), Ok(Outcome::Value(None)));
    }
}

#[cfg(test)]
mod ask_tests {
    use super::tests_support::*;
    use super::*;

    fn ask(min: u32, tries: u32, regex: Option<&str>) -> Command {
        Command::Ask(AskOptions {
            prompts: vec!["x.wav".into()],
            min_digits: min,
            max_digits: 3,
            tries,
            regex: regex.map(|r| crate::call::Pattern::new(r).expect("valid pattern")),
            ..AskOptions::default()
        })
    }

    fn outcome(status: AskStatus, digits: &str, terminator: Option<char>) -> Result<Outcome, CallError> {
        Ok(Outcome::Ask(AskOutcome { status, digits: digits.into(), terminator, keys: Vec::new() }))
    }

    #[test]
    fn with_min_digits_zero_a_lone_terminator_ends_the_ask_at_once() {
        // switch_play_and_get_digits returns as soon as a try with min_digits 0 collected nothing
        // and `read_terminator_used` is set; the next key is for the next prompt.
        let mut channel = call(vec![
            CallerAction::Press(DtmfKeys::parse("#").expect("dtmf")),
            CallerAction::Press(DtmfKeys::parse("5").expect("dtmf")),
        ]);
        assert_eq!(run(&mut channel, ask(0, 2, None)), outcome(AskStatus::NoMatch, "", Some('#')));
        assert_eq!(run(&mut channel, ask(1, 1, None)), outcome(AskStatus::Match, "5", None));
    }

    #[test]
    fn with_min_digits_zero_a_terminator_from_an_earlier_ask_ends_a_silent_try_at_once() {
        // `read_terminator_used` is never cleared, so it still counts in a later ask.
        let mut channel = call(vec![
            CallerAction::Press(DtmfKeys::parse("1#").expect("dtmf")),
            CallerAction::Silence,
            CallerAction::Press(DtmfKeys::parse("5").expect("dtmf")),
        ]);
        assert_eq!(run(&mut channel, ask(1, 1, None)), outcome(AskStatus::Match, "1", Some('#')));
        assert_eq!(run(&mut channel, ask(0, 2, None)), outcome(AskStatus::NoInput, "", None));
        assert_eq!(run(&mut channel, ask(1, 1, None)), outcome(AskStatus::Match, "5", None));
    }

    #[test]
    fn with_min_digits_zero_digits_the_regex_refused_outlast_a_silent_last_try() {
        // `<var>_invalid` is cleared once per play_and_get_digits, and a silent try with
        // min_digits 0 reads `timeout`: the refused digits are the ask's result.
        let mut channel =
            call(vec![CallerAction::Press(DtmfKeys::parse("99").expect("dtmf")), CallerAction::Silence]);
        assert_eq!(run(&mut channel, ask(0, 2, Some("^1"))), outcome(AskStatus::NoMatch, "99", None));
        // A lone terminator reads `success`: the same digits, with the terminator.
        let mut channel = call(vec![
            CallerAction::Press(DtmfKeys::parse("99").expect("dtmf")),
            CallerAction::Press(DtmfKeys::parse("#").expect("dtmf")),
        ]);
        assert_eq!(run(&mut channel, ask(0, 2, Some("^1"))), outcome(AskStatus::NoMatch, "99", Some('#')));
        // With min_digits 1 the silent try reads `failure`: nothing was pressed on it.
        let mut channel =
            call(vec![CallerAction::Press(DtmfKeys::parse("99").expect("dtmf")), CallerAction::Silence]);
        assert_eq!(run(&mut channel, ask(1, 2, Some("^1"))), outcome(AskStatus::NoInput, "", None));
    }

    fn keys_of(result: Result<Outcome, CallError>) -> (String, Vec<KeyPress>) {
        match result {
            Ok(Outcome::Ask(ask)) => (ask.digits, ask.keys),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_key_during_the_prompt_barges_in_and_a_pause_past_the_inter_digit_timeout_ends_the_ask_there() {
        // 1 at 300 ms stops the 1 s prompt; 2 comes 2.7 s later, past the 2 s inter-digit
        // timeout, so the ask ends with "1" and the 2 is type-ahead for the next collection.
        let mut channel =
            call(vec![CallerAction::PressAt(TimedKeys::new(vec![at('1', 300), at('2', 3000)]))]);
        assert_eq!(keys_of(run(&mut channel, account())), ("1".into(), vec![at('1', 300)]));
        assert_eq!(keys_of(run(&mut channel, account())), ("2".into(), vec![at('2', 0)]));
    }

    #[test]
    fn the_same_keys_pressed_as_one_burst_are_collected_together() {
        // What a replay without key times does: the pause that ended the ask is lost.
        let mut channel = call(vec![CallerAction::Press(DtmfKeys::parse("12").expect("dtmf"))]);
        let (digits, keys) = keys_of(run(&mut channel, account()));
        assert_eq!(digits, "12");
        // A caller of `Press` listens to the whole prompt first.
        assert_eq!(keys, [at('1', 1000), at('2', 1000)]);
    }

    #[test]
    fn keys_within_the_inter_digit_timeout_are_collected_together_whenever_they_come() {
        let mut channel = call(vec![CallerAction::PressAt(TimedKeys::new(vec![
            at('1', 300),
            at('2', 2200),
            at('3', 4100),
        ]))]);
        assert_eq!(keys_of(run(&mut channel, account())).0, "123");
    }

    #[test]
    fn a_first_key_after_the_prompt_and_the_timeout_is_heard_on_the_next_try() {
        // Try 1: prompt 0-1 s, silence until 6 s, invalid prompt (silence_stream://250) until
        // 6.25 s; try 2's prompt runs until 7.25 s, and the key at 7 s stops it.
        let ask = Command::Ask(AskOptions {
            prompts: vec!["account.wav".into()],
            max_digits: 1,
            tries: 2,
            timeout: Duration::from_secs(5),
            ..AskOptions::default()
        });
        let mut channel = call(vec![CallerAction::PressAt(TimedKeys::new(vec![at('7', 7000)]))]);
        assert_eq!(keys_of(run(&mut channel, ask.clone())), ("7".into(), vec![at('7', 7000)]));
        // With one try the same key comes too late: the ask heard nothing.
        let one_try = match ask {
            Command::Ask(options) => Command::Ask(AskOptions { tries: 1, ..options }),
            other => other,
        };
        let mut channel = call(vec![CallerAction::PressAt(TimedKeys::new(vec![at('7', 7000)]))]);
        assert_eq!(
            run(&mut channel, one_try),
            Ok(Outcome::Ask(AskOutcome {
                status: AskStatus::NoInput,
                digits: String::new(),
                terminator: None,
                keys: Vec::new()
            }))
        );
    }

    #[test]
    fn a_prompt_known_to_be_longer_than_the_simulators_keeps_a_late_first_key_on_the_first_try() {
        // Recorded after an 8 s prompt: the key at 9 s came 1 s into the 5 s timeout.
        let one_try = Command::Ask(AskOptions {
            prompts: vec!["menu.wav".into()],
            max_digits: 1,
            timeout: Duration::from_secs(5),
            ..AskOptions::default()
        });
        let keys = TimedKeys { keys: vec![at('3', 9000)], prompt_at_least: Duration::from_secs(4) };
        let mut channel = call(vec![CallerAction::PressAt(keys)]);
        assert_eq!(keys_of(run(&mut channel, one_try)), ("3".into(), vec![at('3', 9000)]));
    }

    #[test]
    fn a_timed_ask_with_no_key_left_is_silence_not_the_callers_next_action() {
        let mut channel = call(vec![
            CallerAction::PressAt(TimedKeys::default()),
            CallerAction::Press(DtmfKeys::parse("5").expect("dtmf")),
        ]);
        assert_eq!(keys_of(run(&mut channel, account())).0, "");
        assert_eq!(keys_of(run(&mut channel, account())).0, "5");
    }

    #[test]
    fn execute_answers_what_freeswitch_answers_for_an_application_without_a_response() {
        // Every capture's `Application-Response` of such an application is `_none_`.
        let mut channel = call(Vec::new());
        let info = Command::Execute { app: "info".into(), args: String::new() };
        assert_eq!(run(&mut channel, info), Ok(Outcome::Response("_none_".into())));
    }
}

#[cfg(test)]
mod media_tests {
    use super::tests_support::*;
    use super::*;

    fn press(keys: &str) -> CallerAction {
        CallerAction::Press(DtmfKeys::parse(keys).expect("dtmf"))
    }

    /// One key, `#` ends it.
    fn one_key() -> Command {
        Command::Ask(AskOptions { prompts: vec!["menu.wav".into()], max_digits: 1, ..AskOptions::default() })
    }

    fn play() -> Command {
        Command::Play(vec![crate::call::Prompt::File("thanks.wav".into())])
    }

    fn digits(result: Result<Outcome, CallError>) -> String {
        match result {
            Ok(Outcome::Ask(ask)) => ask.digits,
            other => panic!("{other:?}"),
        }
    }

    fn record(beep: bool) -> Command {
        Command::Record(RecordOptions { name: "msg".into(), beep, ..RecordOptions::default() })
    }

    #[test]
    fn keys_an_ask_did_not_take_are_type_ahead_for_the_next_ask() {
        let mut channel = call(vec![press("12"), press("5")]);
        assert_eq!(digits(run(&mut channel, one_key())), "1");
        assert_eq!(digits(run(&mut channel, one_key())), "2");
    }

    #[test]
    fn a_play_between_two_asks_takes_the_keys_typed_ahead_and_drops_them() {
        // mod_dptools' `on_dtmf` drops every key that is not a playback terminator.
        for media in [
            play(),
            Command::Say(crate::call::SayOptions { text: "Thanks".into(), voice: None, engine: None }),
        ] {
            let mut channel = call(vec![press("12"), press("5")]);
            assert_eq!(digits(run(&mut channel, one_key())), "1");
            let before = channel.clock;
            assert_eq!(run(&mut channel, media), Ok(Outcome::Done));
            assert_eq!(channel.clock - before, SIM_PROMPT_TIME, "the prompt played to its end");
            assert_eq!(digits(run(&mut channel, one_key())), "5", "the 2 is gone");
        }
    }

    #[test]
    fn a_star_typed_ahead_stops_the_play_at_once_and_the_keys_after_it_wait_for_the_next_ask() {
        let mut channel = call(vec![press("19*3"), press("5")]);
        assert_eq!(digits(run(&mut channel, one_key())), "1");
        let before = channel.clock;
        assert_eq!(run(&mut channel, play()), Ok(Outcome::Done));
        assert_eq!(channel.clock, before, "the 9 was dropped and the * stopped the prompt as it began");
        assert_eq!(digits(run(&mut channel, one_key())), "3");
    }

    #[test]
    fn playback_terminators_decides_which_keys_stop_a_play() {
        let set = |value: &str| Command::SetVar { name: "playback_terminators".into(), value: value.into() };
        // `none`: even a * is dropped.
        let mut channel = call(vec![press("1*3"), press("5")]);
        run(&mut channel, set("none")).expect("set");
        assert_eq!(digits(run(&mut channel, one_key())), "1");
        let before = channel.clock;
        run(&mut channel, play()).expect("play");
        assert_eq!(channel.clock - before, SIM_PROMPT_TIME);
        assert_eq!(digits(run(&mut channel, one_key())), "5");
        // Other keys: the 3 stops it, the * is dropped before it.
        let mut channel = call(vec![press("1*34")]);
        run(&mut channel, set("3")).expect("set");
        assert_eq!(digits(run(&mut channel, one_key())), "1");
        let before = channel.clock;
        run(&mut channel, play()).expect("play");
        assert_eq!(channel.clock, before);
        assert_eq!(digits(run(&mut channel, one_key())), "4");
    }

    /// A call whose caller pressed `1#` for a one-key ask ended by `*`: the ask takes the 1, and
    /// the # stays on the channel; then a recording, with or without its beep.
    fn recording_after_typed_ahead_hash(beep: bool) -> RecordOutcome {
        let mut channel = call(vec![press("1#")]);
        let ask = Command::Ask(AskOptions {
            max_digits: 1,
            terminators: DtmfKeys::parse("*").expect("dtmf"),
            ..AskOptions::default()
        });
        assert_eq!(digits(run(&mut channel, ask)), "1");
        match run(&mut channel, record(beep)) {
            Ok(Outcome::Record(recording)) => recording,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_recording_terminator_typed_ahead_stops_the_recording_before_it_writes_anything() {
        let recording = recording_after_typed_ahead_hash(false);
        assert_eq!(recording.status, RecordStatus::Empty);
        assert_eq!(recording.duration, Duration::ZERO);
        assert_eq!(recording.terminator, Some('#'));
    }

    #[test]
    fn the_beep_drops_a_recording_terminator_typed_ahead_and_the_recording_runs() {
        // The beep is a `playback` with the call's own terminators (`*`), before `record`'s are set.
        let recording = recording_after_typed_ahead_hash(true);
        assert_eq!(recording.status, RecordStatus::Recorded);
        assert_eq!(recording.duration, SimRecord::default().duration);
        assert_eq!(recording.terminator, None);
    }

    #[test]
    fn a_key_pressed_after_an_ask_reaches_the_play_running_then_or_else_the_next_ask() {
        // The 1 at 300 ms barges in, and the ask ends 2 s later, at 2.3 s; the play runs from
        // 2.3 s to 3.3 s.
        let mut channel = call(vec![
            CallerAction::PressAt(TimedKeys::new(vec![at('1', 300), at('2', 3000), at('3', 4000)])),
            press("5"),
        ]);
        assert_eq!(digits(run(&mut channel, account())), "1");
        run(&mut channel, play()).expect("play");
        assert_eq!(channel.clock, Duration::from_millis(3300));
        // The 2 came during the play, which dropped it; the 3 came after it.
        assert_eq!(digits(run(&mut channel, one_key())), "3");
        assert_eq!(digits(run(&mut channel, one_key())), "5");
    }

    #[test]
    fn a_star_pressed_during_a_play_stops_it_there() {
        let mut channel = call(vec![CallerAction::PressAt(TimedKeys::new(vec![
            at('1', 300),
            at('*', 2800),
            at('4', 2900),
        ]))]);
        assert_eq!(digits(run(&mut channel, account())), "1");
        run(&mut channel, play()).expect("play");
        assert_eq!(channel.clock, Duration::from_millis(2800), "the * stopped the prompt 0.5 s in");
        assert_eq!(digits(run(&mut channel, one_key())), "4");
    }

    #[test]
    fn a_recording_terminator_pressed_during_the_recording_ends_it_there() {
        let mut channel =
            call(vec![CallerAction::PressAt(TimedKeys::new(vec![at('1', 300), at('#', 4300)]))]);
        assert_eq!(digits(run(&mut channel, account())), "1");
        match run(&mut channel, record(false)) {
            Ok(Outcome::Record(recording)) => {
                assert_eq!(recording.status, RecordStatus::Recorded);
                assert_eq!(recording.duration, Duration::from_secs(2), "from 2.3 s to the # at 4.3 s");
                assert_eq!(recording.terminator, Some('#'));
            }
            other => panic!("{other:?}"),
        }
    }

    fn dial(answered: bool) -> (Command, SimSetup) {
        let options = crate::call::DialOptions { targets: vec!["user/1001".into()], ..Default::default() };
        let status = if answered { DialStatus::Answered } else { DialStatus::Busy };
        let setup = SimSetup {
            dials: [SimDial { status, duration: Duration::from_secs(10) }].into(),
            ..SimSetup::default()
        };
        (Command::Dial(options), setup)
    }

    #[test]
    fn an_answered_dial_passes_the_keys_typed_ahead_to_the_far_end_and_a_failed_one_leaves_them() {
        for answered in [true, false] {
            let (command, setup) = dial(answered);
            let mut channel = call(vec![press("12"), press("5")]);
            channel.setup = setup;
            assert_eq!(digits(run(&mut channel, one_key())), "1");
            run(&mut channel, command).expect("dial");
            let next = digits(run(&mut channel, one_key()));
            assert_eq!(next, if answered { "5" } else { "2" }, "answered: {answered}");
        }
    }
}
