//! `FsChannel`: one call on an outbound Event Socket connection, as the call actor drives it.
//!
//! The channel owns the socket. Each command becomes the applications of its
//! [`mapping::Plan`], each sent as `sendmsg` with `event-lock: true` and a fresh `Event-UUID`,
//! and each waited for until both its `command/reply` and the `CHANNEL_EXECUTE_COMPLETE` whose
//! `Application-UUID` is that uuid have arrived: never by position or timing. Meanwhile every
//! other frame is read and applied: the channel's hangup events, a disconnect notice, the end of
//! the socket or a frame that does not decode end the call at once, and the pending command
//! answers `CallError::Hangup`.
//!
//! Replies carry no correlation id in ESL; FreeSWITCH answers commands in the order it receives
//! them, so the channel keeps the queue of replies it is owed and hands each one to whoever is
//! still waiting for it (nobody, once a hangup cut a command short).
//!
//! Reading is cancel-safe: the only await point of a read is `read_buf`, which either put bytes
//! into the buffer or did not, and a decoded frame is applied before the next await. That is what
//! lets the actor drop [`Channel::ended`] whenever a command arrives.
//!
//! This module knows nothing of Rhai.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use crate::call::{CallError, Command, HangupCause, KeyPress, Origin, Outcome};
use crate::switch::freeswitch::command::{EslCommand, Execute, SendMsg};
use crate::switch::freeswitch::event::Event;
use crate::switch::freeswitch::frame::{ContentDisposition, ContentType, Frame, FrameDecoder, FrameError};
use crate::switch::freeswitch::indexed::IndexedEvent;
use crate::switch::freeswitch::mapping::{self, Expect, Finished, Lookup, MapContext, Observed, Step};
use crate::switch::freeswitch::protocol::{
    ANSWER_STATE_HANGUP, CAUSE_NORMAL_CLEARING, EVENT_CHANNEL_BRIDGE, EVENT_CHANNEL_EXECUTE_COMPLETE,
    EVENT_CHANNEL_HANGUP, EVENT_CHANNEL_HANGUP_COMPLETE, EVENT_CHANNEL_UNBRIDGE, EVENT_DTMF,
    HEADER_ANSWER_STATE, HEADER_APPLICATION_UUID, HEADER_DTMF_DIGIT, HEADER_EVENT_DATE_TIMESTAMP,
    HEADER_EVENT_NAME, HEADER_HANGUP_CAUSE, HEADER_UNIQUE_ID, REPLY_OK,
};
use crate::switch::freeswitch::settings::FsSettings;
use crate::switch::Channel;

/// One call on an outbound ESL connection. Made by the outbound listener after the handshake.
pub struct FsChannel {
    conn: Connection,
    /// The channel's `Unique-ID`: events about other channels are ignored.
    uuid: String,
    settings: Arc<FsSettings>,
    /// Channel variables as last known (the `connect` data plus `set_var`s), for verbs that
    /// change a variable for their own use and put it back.
    variables: BTreeMap<String, String>,
    /// Replies FreeSWITCH still owes, oldest first.
    owed: VecDeque<Owed>,
    /// What the command being executed waits for.
    pending: Option<Pending>,
    /// The hangup cause, once the call has ended.
    ended: Option<HangupCause>,
    /// FreeSWITCH accepted `linger`: after the hangup it keeps the socket open until `exit`.
    lingering: bool,
    /// The `linger` disconnect notice arrived: FreeSWITCH has sent the channel's last events.
    linger_notice: bool,
    /// A `transfer` succeeded: the call continues in the dialplan and is not ours to hang up.
    transferred: bool,
    /// The socket has `full` control: `api` commands are allowed on it.
    full_control: bool,
    /// Held for the call's life so the listener serves at most `max_calls` calls at once.
    _permit: Option<OwnedSemaphorePermit>,
}

/// Who waits for a reply FreeSWITCH owes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owed {
    /// The pending step.
    Pending,
    /// Nobody: the command was cut short, or its reply does not matter (`exit`, hangup on close).
    Nobody,
}

/// A step sent and not finished yet.
#[derive(Debug, Default)]
struct Pending {
    /// The `Event-UUID` the step was sent with; `None` for `api`, `getvar` and a hangup, which
    /// have no execute events.
    event_uuid: Option<String>,
    /// When it was sent: DTMF keys are timed from it (`Observed::keys`).
    sent: Option<Instant>,
    reply: Option<Reply>,
    complete: Option<Received>,
    observed: Observed,
}

/// An event as the channel reads it: a plain event indexed in place (the usual case: decoding
/// all of its headers would cost more than the rest of the call's work on it), or a JSON one.
#[derive(Debug)]
enum Received {
    Plain(IndexedEvent),
    Json(Event),
}

impl Lookup for Received {
    fn header(&self, name: &str) -> Option<&str> {
        match self {
            Received::Plain(event) => event.header(name),
            Received::Json(event) => event.header(name),
        }
    }

    fn variable(&self, name: &str) -> Option<&str> {
        match self {
            Received::Plain(event) => event.variable(name),
            Received::Json(event) => event.variable(name),
        }
    }
}

/// A `command/reply` (`Reply-Text`) or `api/response` (body).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reply {
    text: String,
    api: bool,
}

impl Reply {
    /// Whether FreeSWITCH refused the command (`-ERR ...`). An `api` body is the command's own
    /// output and is judged by the mapping instead.
    fn refused(&self) -> bool {
        !self.api && !self.text.starts_with(REPLY_OK)
    }
}

/// How a step finished.
enum StepDone {
    App(Box<Received>, Observed),
    Api(String),
    /// An application that ends the call did so.
    Ended,
}

impl FsChannel {
    pub(crate) fn new(
        conn: Connection,
        uuid: String,
        variables: BTreeMap<String, String>,
        settings: Arc<FsSettings>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        FsChannel {
            conn,
            uuid,
            settings,
            variables,
            owed: VecDeque::new(),
            pending: None,
            ended: None,
            lingering: false,
            linger_notice: false,
            transferred: false,
            full_control: true,
            _permit: permit,
        }
    }

    /// The channel's FreeSWITCH `Unique-ID`.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// Whether the call has ended (hangup, disconnect notice, lost connection).
    pub fn is_ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Send a command outside any step and wait for its reply, applying every other frame that
    /// arrives meanwhile. `None` when the connection closed first. Used by the handshake.
    pub(crate) async fn request(&mut self, command: &EslCommand) -> Option<String> {
        self.pending = Some(Pending::default());
        let result = if self.send(command, Owed::Pending).await.is_err() {
            None
        } else {
            loop {
                if let Some(reply) = self.pending.as_mut().and_then(|p| p.reply.take()) {
                    break Some(reply.text);
                }
                if self.conn.closed {
                    break None;
                }
                self.read_and_apply().await;
            }
        };
        self.forget_pending();
        result
    }

    /// Record whether the socket has `full` control (the connect reply's `Control` header).
    pub(crate) fn set_full_control(&mut self, full: bool) {
        self.full_control = full;
    }

    /// Record that FreeSWITCH keeps the socket after the hangup.
    pub(crate) fn set_lingering(&mut self) {
        self.lingering = true;
    }

    async fn run_command(&mut self, command: &Command) -> Result<Outcome, CallError> {
        if let Some(cause) = &self.ended {
            return Err(CallError::hangup(cause.clone()));
        }
        let verb = command.verb();
        let plan = {
            let ctx = MapContext {
                settings: &self.settings,
                uuid: &self.uuid,
                variables: &self.variables,
                full_control: self.full_control,
            };
            mapping::plan(command, &ctx)?
        };
        let ends_call = plan.expect == Expect::EndsCall;
        let mut outcome = Ok(Outcome::Done);
        for (index, step) in plan.steps.iter().enumerate() {
            let main = index == plan.main;
            match self.run_step(verb, step, ends_call && main).await {
                Ok(done) if main => {
                    outcome = match done {
                        StepDone::App(event, observed) => {
                            plan.expect.outcome(verb, Finished::App(event.as_ref()), &observed)
                        }
                        StepDone::Api(body) => {
                            plan.expect.outcome(verb, Finished::Api(&body), &Observed::default())
                        }
                        StepDone::Ended => Ok(Outcome::Done),
                    };
                }
                Ok(_) => {}
                Err(CallError::Hangup { cause }) => {
                    if let Some(hint) = plan.expect.hangup_hint(cause.as_str()).filter(|_| main) {
                        tracing::error!(uuid = %self.uuid, %verb, "{hint}");
                    }
                    return Err(CallError::Hangup { cause });
                }
                // A preparing step failed: the verb did not happen.
                Err(error) if index < plan.main => return Err(error),
                Err(error) if main => outcome = Err(error),
                // A restoring step failed: the verb's result stands.
                Err(error) => {
                    tracing::warn!(uuid = %self.uuid, %verb, %error, "restoring after the verb failed")
                }
            }
        }
        if outcome.is_ok() {
            match command {
                Command::SetVar { name, value } => {
                    self.variables.insert(name.clone(), value.clone());
                }
                Command::Transfer(_) => self.transferred = true,
                _ => {}
            }
        }
        outcome
    }

    /// Send one step and wait for it to finish. `ends_call`: the step ends the call, so the
    /// channel's hangup is its success.
    async fn run_step(
        &mut self,
        verb: &'static str,
        step: &Step,
        ends_call: bool,
    ) -> Result<StepDone, CallError> {
        let (command, event_uuid) = match step {
            Step::App { app, arg } => {
                let event_uuid = uuid::Uuid::new_v4().to_string();
                let execute = Execute {
                    app: app.clone(),
                    arg: arg.clone(),
                    event_lock: true,
                    event_uuid: Some(event_uuid.clone()),
                    loops: None,
                };
                let command = EslCommand::SendMsg { uuid: None, message: SendMsg::Execute(execute) };
                (command, Some(event_uuid))
            }
            Step::Api(api) => (EslCommand::Api(api.clone()), None),
            Step::GetVar(name) => (EslCommand::GetVar(name.clone()), None),
            Step::Hangup { cause } => {
                let message = SendMsg::Hangup { cause: Some(cause.clone()) };
                (EslCommand::SendMsg { uuid: None, message }, None)
            }
        };
        // The reply itself is the result (and judged by the mapping, `-ERR` included).
        let api = matches!(step, Step::Api(_) | Step::GetVar(_));
        if self.pending.is_some() {
            // The previous step was abandoned mid-way (its future dropped: the call's time ran
            // out). Its reply, still on its way, must not be taken for this step's.
            self.forget_pending();
        }
        self.pending = Some(Pending { event_uuid, sent: Some(Instant::now()), ..Pending::default() });
        let result = match self.send(&command, Owed::Pending).await {
            Ok(()) => self.wait_step(verb, api, ends_call).await,
            Err(error) => Err(error.into_call_error(verb, self.ended.as_ref())),
        };
        self.forget_pending();
        result
    }

    async fn wait_step(
        &mut self,
        verb: &'static str,
        api: bool,
        ends_call: bool,
    ) -> Result<StepDone, CallError> {
        loop {
            if let Some(cause) = &self.ended {
                return if ends_call { Ok(StepDone::Ended) } else { Err(CallError::hangup(cause.clone())) };
            }
            let Some(pending) = self.pending.as_mut() else {
                // Unreachable: run_step set it and only forget_pending clears it.
                return Err(CallError::Internal { verb, reason: "no pending step".into() });
            };
            if let Some(reply) = &pending.reply {
                if !api && reply.refused() {
                    return Err(CallError::Switch {
                        verb,
                        reason: format!("FreeSWITCH refused the command: {}", reply.text.trim_end()),
                    });
                }
                if api {
                    return Ok(StepDone::Api(reply.text.clone()));
                }
                if let Some(event) = pending.complete.take() {
                    return Ok(StepDone::App(Box::new(event), std::mem::take(&mut pending.observed)));
                }
            }
            self.read_and_apply().await;
        }
    }

    /// The step is over: a reply still owed to it goes to nobody.
    fn forget_pending(&mut self) {
        self.pending = None;
        for owed in &mut self.owed {
            *owed = Owed::Nobody;
        }
    }

    /// Write `command`; its reply will go to `owed`.
    async fn send(&mut self, command: &EslCommand, owed: Owed) -> Result<(), SendError> {
        if self.conn.closed {
            return Err(SendError::Closed);
        }
        let bytes = command.to_bytes().map_err(|error| SendError::Encode(error.to_string()))?;
        if let Err(error) = self.conn.writer.write_all(&bytes).await {
            tracing::warn!(uuid = %self.uuid, %error, "writing to FreeSWITCH failed; closing the call's connection");
            self.conn.closed = true;
            self.end(CAUSE_CONNECTION_LOST);
            return Err(SendError::Closed);
        }
        self.owed.push_back(owed);
        Ok(())
    }

    /// Read one frame (or the end of the connection) and apply it.
    async fn read_and_apply(&mut self) {
        let input = self.conn.read_input().await;
        self.apply(input);
    }

    fn apply(&mut self, input: Input) {
        match input {
            Input::Frame(frame) => self.apply_frame(frame),
            Input::Eof => {
                if self.ended.is_none() {
                    tracing::warn!(uuid = %self.uuid, "FreeSWITCH closed the call's connection without a hangup");
                } else {
                    tracing::debug!(uuid = %self.uuid, "FreeSWITCH closed the connection");
                }
                self.end(CAUSE_CONNECTION_LOST);
            }
            Input::Corrupt(error) => {
                tracing::error!(uuid = %self.uuid, %error, "FreeSWITCH sent a malformed frame; closing the call's connection");
                self.end(CAUSE_CONNECTION_LOST);
            }
            Input::Failed(error) => {
                tracing::warn!(uuid = %self.uuid, %error, "reading from FreeSWITCH failed; closing the call's connection");
                self.end(CAUSE_CONNECTION_LOST);
            }
            Input::Closed => self.end(CAUSE_CONNECTION_LOST),
        }
    }

    fn apply_frame(&mut self, frame: Frame) {
        match frame.content_type() {
            ContentType::CommandReply => {
                let text = frame.reply_text().unwrap_or_default().to_string();
                self.apply_reply(Reply { text, api: false });
            }
            ContentType::ApiResponse => {
                let text = frame.body_text().unwrap_or_default().into_owned();
                self.apply_reply(Reply { text, api: true });
            }
            ContentType::EventPlain => {
                let body = frame.body.unwrap_or_default();
                if !self.wants_plain_event(&body) {
                    return;
                }
                match IndexedEvent::parse(body) {
                    Ok(event) => self.apply_event(Received::Plain(event)),
                    // The frame was well delimited, so the stream is still in step: lose only it.
                    Err(error) => {
                        tracing::warn!(uuid = %self.uuid, %error, "ignoring an event that does not decode")
                    }
                }
            }
            ContentType::EventJson => match Event::from_frame(&frame) {
                Ok(event) => self.apply_event(Received::Json(event)),
                // The frame was well delimited, so the stream is still in step: lose only it.
                Err(error) => {
                    tracing::warn!(uuid = %self.uuid, %error, "ignoring an event that does not decode")
                }
            },
            ContentType::DisconnectNotice => match frame.content_disposition() {
                Some(ContentDisposition::Linger) => {
                    self.linger_notice = true;
                    self.end(CAUSE_NORMAL_CLEARING);
                }
                _ => self.end(CAUSE_NORMAL_CLEARING),
            },
            ContentType::RudeRejection => {
                tracing::error!(uuid = %self.uuid, "FreeSWITCH rejected the connection");
                self.end(CAUSE_CONNECTION_LOST);
            }
            other => tracing::debug!(uuid = %self.uuid, content_type = %other, "ignoring a frame"),
        }
    }

    fn apply_reply(&mut self, reply: Reply) {
        match self.owed.pop_front() {
            Some(Owed::Pending) => {
                if let Some(pending) = self.pending.as_mut() {
                    pending.reply = Some(reply);
                }
            }
            Some(Owed::Nobody) => tracing::trace!(uuid = %self.uuid, reply = %reply.text, "late reply"),
            None => tracing::warn!(uuid = %self.uuid, reply = %reply.text, "reply to no command"),
        }
    }

    /// Whether a plain event can matter to this call, judged from its `Event-Name` alone. Most events of a call (`CHANNEL_EXECUTE`, other
    /// steps' completions, state changes) do not, and skipping their full decode (about 190
    /// headers each) is a large share of rivr's time per call under load.
    fn wants_plain_event(&self, body: &[u8]) -> bool {
        if self.ended.is_some() {
            // Nothing an event says changes a call that has ended.
            return false;
        }
        let Some(name) = Event::peek_plain(body, HEADER_EVENT_NAME) else { return true };
        match &*name {
            // Whether it is the pending step's is checked on the index (`apply_event`): looking
            // for `Application-UUID` here would scan the whole event a second time.
            EVENT_CHANNEL_EXECUTE_COMPLETE => self.pending.as_ref().is_some_and(|p| p.event_uuid.is_some()),
            EVENT_CHANNEL_HANGUP
            | EVENT_CHANNEL_HANGUP_COMPLETE
            | EVENT_DTMF
            | EVENT_CHANNEL_BRIDGE
            | EVENT_CHANNEL_UNBRIDGE => true,
            _ => false,
        }
    }

    fn apply_event(&mut self, event: Received) {
        if event.header(HEADER_UNIQUE_ID).is_some_and(|id| !id.eq_ignore_ascii_case(&self.uuid)) {
            return;
        }
        let name = event.header(HEADER_EVENT_NAME).unwrap_or_default();
        match name {
            EVENT_CHANNEL_HANGUP | EVENT_CHANNEL_HANGUP_COMPLETE => {
                let cause = event.header(HEADER_HANGUP_CAUSE).unwrap_or(CAUSE_NORMAL_CLEARING);
                self.end(cause);
            }
            EVENT_CHANNEL_EXECUTE_COMPLETE => {
                let Some(pending) = self.pending.as_mut() else { return };
                if pending.event_uuid.is_none()
                    || pending.event_uuid.as_deref() != event.header(HEADER_APPLICATION_UUID)
                {
                    return;
                }
                // A completion after the channel went down (outbound-farhangup: `PLAYBACK ERROR`
                // with `Answer-State: hangup`) reports the hangup, not the application.
                let down = event.header(HEADER_ANSWER_STATE) == Some(ANSWER_STATE_HANGUP);
                let cause = event.header(HEADER_HANGUP_CAUSE).unwrap_or(CAUSE_NORMAL_CLEARING).to_string();
                pending.complete = Some(event);
                if down {
                    self.end(&cause);
                }
            }
            EVENT_DTMF => {
                let digit = event.header(HEADER_DTMF_DIGIT).and_then(|d| d.chars().next());
                // Never the key itself: callers type PINs and card numbers, and a log at debug
                // level must not hold what a `sensitive` ask keeps even out of traces.
                tracing::debug!(uuid = %self.uuid, "DTMF key");
                if let (Some(pending), Some(key)) = (self.pending.as_mut(), digit) {
                    // Timed here rather than by `Event-Date-Timestamp`: the switch's clock is
                    // not rivr's, and the event comes as the application takes the key.
                    let at = pending.sent.map(|sent| sent.elapsed()).unwrap_or_default();
                    pending.observed.keys.push(KeyPress { key, at });
                }
            }
            EVENT_CHANNEL_BRIDGE | EVENT_CHANNEL_UNBRIDGE => {
                let at = event.header(HEADER_EVENT_DATE_TIMESTAMP).and_then(|t| t.parse().ok());
                if let Some(pending) = self.pending.as_mut() {
                    if name == EVENT_CHANNEL_BRIDGE {
                        pending.observed.bridged_at = at;
                    } else {
                        pending.observed.unbridged_at = at;
                    }
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, cause: &str) {
        if self.ended.is_none() {
            tracing::info!(uuid = %self.uuid, %cause, "call ended");
            self.ended = Some(HangupCause::reported(cause));
        }
    }

    /// Hang up a call still up, let FreeSWITCH send its last events, and then end the
    /// connection: close it after the linger notice, say `exit` after a transfer, or read until
    /// FreeSWITCH closes it.
    async fn finish(&mut self) {
        if self.conn.closed {
            return;
        }
        if self.ended.is_none() && !self.transferred {
            let hangup = EslCommand::SendMsg {
                uuid: None,
                message: SendMsg::Hangup { cause: Some(CAUSE_NORMAL_CLEARING.into()) },
            };
            if self.send(&hangup, Owed::Nobody).await.is_err() {
                return;
            }
            while self.ended.is_none() && !self.conn.closed {
                self.read_and_apply().await;
            }
        }
        if self.lingering && !self.transferred {
            // After the hangup, FreeSWITCH sends the channel's last events and then the linger
            // notice (outbound-pagd); closing after it loses none.
            while !self.linger_notice && !self.conn.closed {
                self.read_and_apply().await;
            }
            // After the notice a lingering socket stays open, with nothing more to come, until
            // rivr says `exit` or closes it (esl-captures README). Closing (`close` shuts the
            // socket down) spares the `exit`, its `+OK bye` and the goodbye notice: a write and
            // two reads of every call.
            self.conn.closed = true;
            return;
        }
        if self.transferred && !self.conn.closed {
            // A failed write closes the connection, which ends the loop below.
            let _ = self.send(&EslCommand::Exit, Owed::Nobody).await;
        }
        // FreeSWITCH answers `exit` with `+OK bye` and closes; without linger it closes after
        // the hangup by itself.
        while !self.conn.closed {
            self.read_and_apply().await;
        }
    }
}

impl Channel for FsChannel {
    async fn execute(&mut self, command: Command, origin: Option<Origin>) -> Result<Outcome, CallError> {
        match &command {
            // Nothing to ask of FreeSWITCH: the line goes to rivr's log, in the call's span.
            Command::Log(line) => {
                line.emit(origin.as_ref());
                return Ok(Outcome::Done);
            }
            // The actor's publisher sent it; FreeSWITCH has nothing to do with it.
            Command::Publish(_) => return Ok(Outcome::Done),
            _ => {}
        }
        let result = self.run_command(&command).await;
        if let Err(error) = &result {
            if !error.is_hangup() {
                let at = origin.map(|o| o.to_string()).unwrap_or_default();
                tracing::info!(uuid = %self.uuid, verb = command.verb(), %at, %error, "verb failed");
            }
        }
        result
    }

    async fn ended(&mut self) -> HangupCause {
        loop {
            if let Some(cause) = &self.ended {
                return cause.clone();
            }
            self.read_and_apply().await;
        }
    }

    async fn close(mut self) {
        let limit = self.settings.close_timeout;
        if tokio::time::timeout(limit, self.finish()).await.is_err() {
            tracing::warn!(uuid = %self.uuid, ?limit, "FreeSWITCH did not close the call's connection in time; dropping it");
        }
        let _ = self.conn.writer.shutdown().await;
    }
}

/// Why a command could not be sent.
enum SendError {
    Closed,
    Encode(String),
}

impl SendError {
    fn into_call_error(self, verb: &'static str, ended: Option<&HangupCause>) -> CallError {
        match self {
            SendError::Closed => {
                CallError::hangup(ended.cloned().unwrap_or_else(|| CAUSE_CONNECTION_LOST.into()))
            }
            SendError::Encode(reason) => {
                CallError::Invalid { verb, reason: format!("cannot be sent to FreeSWITCH: {reason}") }
            }
        }
    }
}

/// One outbound socket: the halves, the read buffer and the frame decoder.
pub(crate) struct Connection {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    buf: BytesMut,
    decoder: FrameDecoder,
    /// The socket is done: closed by FreeSWITCH, broken, or out of sync after a bad frame.
    pub(crate) closed: bool,
}

/// What one read gave.
pub(crate) enum Input {
    Frame(Frame),
    /// FreeSWITCH closed the socket between frames.
    Eof,
    /// The bytes are not ESL (or break a limit, or stop inside a frame).
    Corrupt(FrameError),
    Failed(std::io::Error),
    /// The connection was already done.
    Closed,
}

impl Connection {
    pub(crate) fn new(stream: TcpStream, settings: &FsSettings) -> Self {
        let (reader, writer) = stream.into_split();
        Connection {
            reader,
            writer,
            buf: BytesMut::with_capacity(READ_CHUNK),
            decoder: FrameDecoder::with_limits(settings.frame_limits),
            closed: false,
        }
    }

    pub(crate) async fn write(&mut self, command: &EslCommand) -> std::io::Result<()> {
        let bytes = command
            .to_bytes()
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
        self.writer.write_all(&bytes).await
    }

    /// The next frame. Cancel-safe (see the module doc).
    pub(crate) async fn read_input(&mut self) -> Input {
        if self.closed {
            return Input::Closed;
        }
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(frame)) => return Input::Frame(frame),
                Ok(None) => {}
                Err(error) => {
                    self.closed = true;
                    return Input::Corrupt(error);
                }
            }
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            match self.reader.read_buf(&mut self.buf).await {
                Ok(0) => {
                    self.closed = true;
                    return match self.decoder.decode_eof(&mut self.buf) {
                        Ok(Some(frame)) => Input::Frame(frame),
                        Ok(None) => Input::Eof,
                        Err(error) => Input::Corrupt(error),
                    };
                }
                Ok(_) => {}
                Err(error) => {
                    self.closed = true;
                    return Input::Failed(error);
                }
            }
        }
    }
}

/// How much to read at a time: a whole event is 2 to 5 KB.
const READ_CHUNK: usize = 16 * 1024;
/// The cause reported when the connection to FreeSWITCH is lost or out of sync without a
/// hangup event: Q.850 38, "network out of order".
pub(crate) const CAUSE_CONNECTION_LOST: &str = "NETWORK_OUT_OF_ORDER";
