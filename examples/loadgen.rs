//! The load generator (`cargo run --release --example loadgen -- …`): plays FreeSWITCH's side of many concurrent outbound-socket calls against an
//! ESL outbound listener (rivr, or `examples/baseline.rs`), and reports throughput and
//! turnaround.
//!
//! Each call is one TCP connection to `--addr`, as FreeSWITCH's `socket <addr> async full`
//! makes. The generator answers the way the outbound-pagd capture shows FreeSWITCH 1.10.12
//! answering (`tests/fixtures/esl/outbound-pagd.fs2app.raw`, compiled in): the `connect` reply
//! (the captured `CHANNEL_DATA`, with a fresh uuid per call), `+OK Events Enabled` to
//! `myevents`, `+OK will linger` to `linger`, and for each `sendmsg` execute an immediate
//! `+OK`, the captured `CHANNEL_EXECUTE`, then, after `--media-delay-ms` for media
//! applications, the captured `CHANNEL_EXECUTE_COMPLETE` carrying the `Event-UUID` as
//! `Application-UUID` (and, for `play_and_get_digits`, the digits in the variable it names).
//! `sendmsg` hangup gets `+OK`, `CHANNEL_HANGUP`, `CHANNEL_HANGUP_COMPLETE` and the disconnect
//! notice (`linger` with `Linger-Time: -1` if the app asked to linger, then `+OK bye` and the
//! final notice on `exit`).
//!
//! **Turnaround** is the time from writing a `CHANNEL_EXECUTE_COMPLETE` to reading the app's
//! next command: how long the app takes to react to a finished prompt, which is what a caller
//! hears as dead air. A call succeeds when the app hangs it up.
//!
//! The run is bounded: at most `--calls` calls, no new call after `--duration`, and every call
//! gives up after `--call-timeout`. Loopback only by intent: it is a benchmark tool, not a
//! traffic generator for other people's servers.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use clap::Parser;
use rivr::switch::freeswitch::event::Event;
use rivr::switch::freeswitch::frame::{ContentType, Frame, FrameDecoder};
use rivr::switch::freeswitch::headers::Headers;
use rivr::switch::freeswitch::protocol::{
    CMD_API, CMD_CONNECT, CMD_EVENT, CMD_EXIT, CMD_LINGER, CMD_MYEVENTS, CMD_NOLINGER, CMD_SENDMSG,
    DISPOSITION_DISCONNECT, DISPOSITION_LINGER, EVENT_CHANNEL_EXECUTE, EVENT_CHANNEL_EXECUTE_COMPLETE,
    EVENT_CHANNEL_HANGUP, EVENT_CHANNEL_HANGUP_COMPLETE, HEADER_APPLICATION, HEADER_APPLICATION_DATA,
    HEADER_APPLICATION_UUID, HEADER_CONTENT_DISPOSITION, HEADER_CONTENT_LENGTH, SENDMSG_APP_ARG,
    SENDMSG_APP_NAME, SENDMSG_CALL_COMMAND, SENDMSG_EVENT_UUID, SENDMSG_EXECUTE, SENDMSG_HANGUP,
};
use rivr::switch::freeswitch::url;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

// The switch side of the wire, shared with the fake FreeSWITCH of the tests.
#[path = "../tests/support/esl_wire.rs"]
mod esl_wire;
use esl_wire::{api_frame, plain_event_frame as event_frame, reply_frame, Command};

/// The captured outbound session this generator replays (see the module doc).
const CAPTURE: &[u8] = include_bytes!("../tests/fixtures/esl/outbound-pagd.fs2app.raw");
/// The call's uuid in the capture, replaced per call.
const CAPTURED_UUID: &str = "a0dea27a-7a6e-4176-8178-7f9eb3f06a49";
/// The captured `play_and_get_digits` result variable, replaced by the one the app names.
const CAPTURED_DIGIT_VARIABLE: &str = "variable_fslab_digit";
/// The application whose completion carries collected digits.
const APP_PLAY_AND_GET_DIGITS: &str = "play_and_get_digits";
/// The connect reply's dialled number, which rivr's router matches routes on.
const HEADER_DESTINATION_NUMBER: &str = "Caller-Destination-Number";
/// Applications that take media time (`--media-delay-ms`); others complete at once.
const MEDIA_APPS: &[&str] = &["playback", "play_and_get_digits", "say", "speak", "record", "sleep", "read"];

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Plays FreeSWITCH's side of N concurrent ESL outbound calls against a listener"
)]
struct Args {
    /// The outbound listener to call (rivr's or the baseline's); loopback addresses only.
    #[arg(long, default_value = "127.0.0.1:8084")]
    addr: SocketAddr,
    /// Total calls to place.
    #[arg(long, default_value_t = 1000)]
    calls: u64,
    /// Calls up at the same time.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// How long each media application (playback, play_and_get_digits, ...) "plays".
    #[arg(long, default_value_t = 0)]
    media_delay_ms: u64,
    /// Stop starting calls after this many seconds (calls in progress finish).
    #[arg(long, default_value_t = 300)]
    duration: u64,
    /// Give up on a call after this many seconds.
    #[arg(long, default_value_t = 30)]
    call_timeout: u64,
    /// The digits `play_and_get_digits` "collects".
    #[arg(long, default_value = "1")]
    digits: String,
    /// The dialled number in the connect reply (`Caller-Destination-Number`), for routing.
    #[arg(long, default_value = "9000")]
    destination: String,
    /// Report this process's peak resident memory (the server's pid).
    #[arg(long)]
    pid: Option<u32>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        eprintln!("loadgen: --addr must be a loopback address (127.0.0.1 or ::1)");
        return ExitCode::from(2);
    }
    if args.calls == 0 || args.concurrency == 0 {
        eprintln!("loadgen: --calls and --concurrency must be at least 1");
        return ExitCode::from(2);
    }
    let script = match Script::from_capture(&args) {
        Ok(script) => Arc::new(script),
        Err(problem) => {
            eprintln!("loadgen: the built-in capture is unusable: {problem}");
            return ExitCode::FAILURE;
        }
    };
    let mut report = run(&args, script).await;
    report.print(&args);
    if report.failed > 0 || report.completed < args.calls {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn run(args: &Args, script: Arc<Script>) -> Report {
    let started = Instant::now();
    let stop_starting = started + Duration::from_secs(args.duration);
    let call_timeout = Duration::from_secs(args.call_timeout);
    let rss = args.pid.map(RssSampler::start);
    let slots = Arc::new(Semaphore::new(args.concurrency));
    let mut calls = JoinSet::new();
    let mut report = Report::default();
    for _ in 0..args.calls {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = tokio::time::sleep_until(stop_starting.into()) => break,
        };
        if Instant::now() >= stop_starting {
            break;
        }
        let script = script.clone();
        let addr = args.addr;
        calls.spawn(async move {
            let result = tokio::time::timeout(call_timeout, call(addr, &script)).await;
            drop(permit);
            result.unwrap_or_else(|_| CallResult::failed("timed out".to_owned()))
        });
        report.started += 1;
        // Collect finished calls as we go so memory stays flat on long runs.
        while let Some(done) = calls.try_join_next() {
            report.add(done);
        }
    }
    while let Some(done) = calls.join_next().await {
        report.add(done);
    }
    report.elapsed = started.elapsed();
    report.rss = rss.map(RssSampler::finish);
    report
}

/// One call, start to finish.
async fn call(addr: SocketAddr, script: &Script) -> CallResult {
    let mut result = CallResult::default();
    let stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(err) => return CallResult::failed(format!("connect: {err}")),
    };
    let _ = stream.set_nodelay(true);
    let (mut reader, writer) = stream.into_split();
    let mut writer = BufWriter::new(writer);
    let uuid = uuid::Uuid::new_v4().to_string();
    let mut buf = BytesMut::with_capacity(4096);
    let mut queue: VecDeque<Action> = VecDeque::new();
    let mut running: Option<(Action, tokio::time::Instant)> = None;
    let mut completed_at: Option<Instant> = None;
    let mut linger = false;
    let mut hung_up = false;
    loop {
        // Start queued work when nothing runs (FreeSWITCH runs event-locked messages in order).
        while running.is_none() {
            let Some(action) = queue.pop_front() else {
                break;
            };
            match action {
                Action::Execute(execute) => {
                    if let Err(err) = send(&mut writer, &script.execute(&uuid, &execute)).await {
                        return result.fail(err);
                    }
                    let delay = if execute.is_media() { script.media_delay } else { Duration::ZERO };
                    running = Some((Action::Execute(execute), tokio::time::Instant::now() + delay));
                }
                Action::Hangup => {
                    hung_up = true;
                    let mut out = script.hangup_events(&uuid);
                    if linger {
                        out.extend_from_slice(&script.linger_notice(&uuid));
                    } else {
                        out.extend_from_slice(&script.disconnect_notice(&uuid));
                    }
                    if let Err(err) = send(&mut writer, &out).await {
                        return result.fail(err);
                    }
                    if !linger {
                        result.ok = true;
                        return result;
                    }
                }
            }
        }
        let deadline = running.as_ref().map(|(_, at)| *at);
        let command = tokio::select! {
            () = sleep_until(deadline) => None,
            command = read_command(&mut reader, &mut buf) => Some(command),
        };
        let command = match command {
            None => {
                if let Some((Action::Execute(execute), _)) = running.take() {
                    if let Err(err) = send(&mut writer, &script.complete(&uuid, &execute)).await {
                        return result.fail(err);
                    }
                    completed_at = Some(Instant::now());
                }
                continue;
            }
            Some(Ok(Some(command))) => command,
            Some(Ok(None)) => {
                if hung_up {
                    result.ok = true;
                    return result;
                }
                return result.fail("the app closed the connection before hanging up".into());
            }
            Some(Err(err)) => return result.fail(err),
        };
        if let Some(at) = completed_at.take() {
            result.turnaround_us.push(micros(at.elapsed()));
        }
        let reply = match command.word() {
            CMD_CONNECT => script.connect_reply(&uuid),
            CMD_MYEVENTS | CMD_EVENT => script.events_enabled.clone(),
            CMD_LINGER => {
                linger = true;
                script.will_linger.clone()
            }
            CMD_NOLINGER => {
                linger = false;
                reply_frame("+OK will not linger")
            }
            CMD_EXIT => {
                let _ = send(&mut writer, &script.bye(&uuid)).await;
                result.ok = hung_up;
                if !hung_up {
                    return result.fail("the app said exit before hanging up".into());
                }
                return result;
            }
            CMD_SENDMSG => match command.header(SENDMSG_CALL_COMMAND) {
                Some(SENDMSG_EXECUTE) => match Execute::from_command(&command) {
                    Some(execute) => {
                        queue.push_back(Action::Execute(execute));
                        script.ok.clone()
                    }
                    None => reply_frame("-ERR no execute-app-name"),
                },
                Some(SENDMSG_HANGUP) => {
                    queue.push_back(Action::Hangup);
                    script.ok.clone()
                }
                _ => reply_frame("-ERR unknown call-command"),
            },
            CMD_API => api_frame("-ERR not available in the load generator\n"),
            _ => reply_frame("-ERR command not found"),
        };
        if let Err(err) = send(&mut writer, &reply).await {
            return result.fail(err);
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn send(writer: &mut BufWriter<tokio::net::tcp::OwnedWriteHalf>, bytes: &[u8]) -> Result<(), String> {
    writer.write_all(bytes).await.map_err(|err| format!("write: {err}"))?;
    writer.flush().await.map_err(|err| format!("write: {err}"))
}

/// Reads the next command; `Ok(None)` when the app closed the connection between commands.
async fn read_command(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
) -> Result<Option<Command>, String> {
    loop {
        if let Some(command) = esl_wire::take_command(buf)? {
            return Ok(Some(command));
        }
        let read = reader.read_buf(buf).await.map_err(|err| format!("read: {err}"))?;
        if read == 0 {
            if buf.iter().all(|b| b.is_ascii_whitespace()) {
                return Ok(None);
            }
            return Err("the app closed the connection inside a command".into());
        }
        if buf.len() > MAX_COMMAND {
            return Err(format!("a command longer than {MAX_COMMAND} bytes"));
        }
    }
}

/// What the app asked a call to do, in order.
enum Action {
    Execute(Execute),
    Hangup,
}

/// One `sendmsg` execute.
struct Execute {
    app: String,
    arg: String,
    event_uuid: String,
}

impl Execute {
    fn from_command(command: &Command) -> Option<Self> {
        let app = command.header(SENDMSG_APP_NAME)?.to_owned();
        let arg = command
            .header(SENDMSG_APP_ARG)
            .map(str::to_owned)
            .or_else(|| command.body.clone())
            .unwrap_or_default();
        let event_uuid = command
            .header(SENDMSG_EVENT_UUID)
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Some(Self { app, arg, event_uuid })
    }

    fn is_media(&self) -> bool {
        MEDIA_APPS.contains(&self.app.as_str())
    }

    /// The variable `play_and_get_digits` stores its digits in (its 8th argument).
    fn digit_variable(&self) -> Option<&str> {
        (self.app == APP_PLAY_AND_GET_DIGITS).then(|| self.arg.split_whitespace().nth(7)).flatten()
    }
}

/// The captured frames, precompiled into pieces so each call only fills in values.
struct Script {
    connect: Pieces,
    events_enabled: Vec<u8>,
    will_linger: Vec<u8>,
    ok: Vec<u8>,
    /// `(application, CHANNEL_EXECUTE, CHANNEL_EXECUTE_COMPLETE)`; the first is the fallback
    /// for applications the capture does not have.
    apps: Vec<(String, Pieces, Pieces)>,
    hangup: Vec<Pieces>,
    linger_notice: Pieces,
    bye: Pieces,
    disconnect_notice: Pieces,
    media_delay: Duration,
    digits: String,
    destination: String,
}

impl Script {
    fn from_capture(args: &Args) -> Result<Self, String> {
        let frames = decode_all(CAPTURE)?;
        // Only called with indexes `position` found in `frames`.
        let raw = |index: usize| frames[index].1.clone();
        let connect = frames.first().ok_or("empty capture")?;
        let find_reply = |text: &str| -> Result<Vec<u8>, String> {
            frames
                .iter()
                .find(|(frame, _)| frame.reply_text() == Some(text))
                .map(|(_, bytes)| bytes.clone())
                .ok_or_else(|| format!("no {text:?} reply"))
        };
        let events: Vec<(usize, Event)> = frames
            .iter()
            .enumerate()
            .filter(|(_, (frame, _))| frame.content_type() == ContentType::EventPlain)
            .filter_map(|(index, (frame, _))| Some((index, Event::from_frame(frame).ok()?)))
            .collect();
        let find_event = |name: &str, app: Option<&str>| -> Option<&Event> {
            events.iter().map(|(_, event)| event).find(|event| {
                event.name() == Some(name) && (app.is_none() || event.header(HEADER_APPLICATION) == app)
            })
        };
        let mut apps = Vec::new();
        // The first is the fallback for applications the capture does not have.
        for app in ["playback", "answer", APP_PLAY_AND_GET_DIGITS, "say"] {
            let execute = find_event(EVENT_CHANNEL_EXECUTE, Some(app)).ok_or("no CHANNEL_EXECUTE")?;
            let complete =
                find_event(EVENT_CHANNEL_EXECUTE_COMPLETE, Some(app)).ok_or("no CHANNEL_EXECUTE_COMPLETE")?;
            apps.push((app.to_owned(), event_pieces(execute)?, event_pieces(complete)?));
        }
        let hangup = [EVENT_CHANNEL_HANGUP, EVENT_CHANNEL_HANGUP_COMPLETE]
            .iter()
            .map(|name| find_event(name, None).ok_or_else(|| format!("no {name}")).and_then(event_pieces))
            .collect::<Result<_, _>>()?;
        let notice = |disposition: &str| -> Result<Pieces, String> {
            frames
                .iter()
                .position(|(frame, _)| {
                    frame.content_type() == ContentType::DisconnectNotice
                        && frame.header(HEADER_CONTENT_DISPOSITION) == Some(disposition)
                })
                .map(|index| Pieces::split_uuid(&raw(index)))
                .ok_or_else(|| format!("no {disposition} notice"))
        };
        let bye_reply = find_reply("+OK bye")?;
        let mut bye = bye_reply.clone();
        let disconnect = notice(DISPOSITION_DISCONNECT)?;
        bye.extend_from_slice(&disconnect.render(&Values::default()));
        Ok(Self {
            connect: connect_pieces(&connect.0)?,
            events_enabled: find_reply("+OK Events Enabled")?,
            will_linger: find_reply("+OK will linger")?,
            ok: find_reply("+OK")?,
            apps,
            hangup,
            linger_notice: notice(DISPOSITION_LINGER)?,
            bye: Pieces::split_uuid(&bye),
            disconnect_notice: disconnect,
            media_delay: Duration::from_millis(args.media_delay_ms),
            digits: args.digits.clone(),
            destination: args.destination.clone(),
        })
    }

    fn connect_reply(&self, uuid: &str) -> Vec<u8> {
        self.connect.render(&Values { uuid, destination: &self.destination, ..Values::default() })
    }

    fn app(&self, app: &str) -> &(String, Pieces, Pieces) {
        // `from_capture` fills `apps` with four entries or fails, so `[0]` exists.
        self.apps.iter().find(|(name, _, _)| name == app).unwrap_or(&self.apps[0])
    }

    fn values<'a>(&'a self, uuid: &'a str, execute: &'a Execute) -> Values<'a> {
        Values {
            uuid,
            app: &execute.app,
            app_data: &execute.arg,
            app_uuid: &execute.event_uuid,
            digit_variable: execute.digit_variable(),
            digits: &self.digits,
            destination: &self.destination,
        }
    }

    fn execute(&self, uuid: &str, execute: &Execute) -> Vec<u8> {
        event_frame(&self.app(&execute.app).1.render(&self.values(uuid, execute)))
    }

    fn complete(&self, uuid: &str, execute: &Execute) -> Vec<u8> {
        event_frame(&self.app(&execute.app).2.render(&self.values(uuid, execute)))
    }

    fn hangup_events(&self, uuid: &str) -> Vec<u8> {
        let values = Values { uuid, ..Values::default() };
        self.hangup.iter().flat_map(|pieces| event_frame(&pieces.render(&values))).collect()
    }

    fn linger_notice(&self, uuid: &str) -> Vec<u8> {
        self.linger_notice.render(&Values { uuid, ..Values::default() })
    }

    fn disconnect_notice(&self, uuid: &str) -> Vec<u8> {
        self.disconnect_notice.render(&Values { uuid, ..Values::default() })
    }

    fn bye(&self, uuid: &str) -> Vec<u8> {
        self.bye.render(&Values { uuid, ..Values::default() })
    }
}

/// The values a call fills into the captured frames.
struct Values<'a> {
    uuid: &'a str,
    app: &'a str,
    app_data: &'a str,
    app_uuid: &'a str,
    digit_variable: Option<&'a str>,
    digits: &'a str,
    destination: &'a str,
}

impl Default for Values<'_> {
    fn default() -> Self {
        Self {
            uuid: CAPTURED_UUID,
            app: "",
            app_data: "",
            app_uuid: "",
            digit_variable: None,
            digits: "",
            destination: "",
        }
    }
}

/// A captured frame cut at the places a call changes.
struct Pieces(Vec<Piece>);

enum Piece {
    Text(Vec<u8>),
    Slot(Slot),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    App,
    AppData,
    AppUuid,
    Destination,
    /// A whole `variable_<name>: <digits>` line, or nothing.
    DigitLine,
    Uuid,
}

impl Pieces {
    /// Cuts `bytes` at every occurrence of the captured call uuid.
    fn split_uuid(bytes: &[u8]) -> Self {
        let mut pieces = Vec::new();
        let mut rest = bytes;
        let needle = CAPTURED_UUID.as_bytes();
        while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
            pieces.push(Piece::Text(rest[..at].to_vec()));
            pieces.push(Piece::Slot(Slot::Uuid));
            rest = &rest[at + needle.len()..];
        }
        pieces.push(Piece::Text(rest.to_vec()));
        Self(pieces)
    }

    fn render(&self, values: &Values<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => out.extend_from_slice(text),
                Piece::Slot(Slot::Uuid) => out.extend_from_slice(values.uuid.as_bytes()),
                Piece::Slot(Slot::AppUuid) => out.extend_from_slice(values.app_uuid.as_bytes()),
                Piece::Slot(Slot::App) => {
                    out.extend_from_slice(url::encode(values.app.as_bytes()).as_bytes())
                }
                Piece::Slot(Slot::AppData) => {
                    out.extend_from_slice(url::encode(values.app_data.as_bytes()).as_bytes())
                }
                Piece::Slot(Slot::Destination) => {
                    out.extend_from_slice(url::encode(values.destination.as_bytes()).as_bytes())
                }
                Piece::Slot(Slot::DigitLine) => {
                    if let Some(name) = values.digit_variable {
                        let line = format!("variable_{}: {}\n", name, url::encode(values.digits.as_bytes()));
                        out.extend_from_slice(line.as_bytes());
                    }
                }
            }
        }
        out
    }
}

/// An event's plain serialization cut into pieces: the call uuid, the application fields and
/// the digit variable become slots.
fn event_pieces(event: &Event) -> Result<Pieces, String> {
    let mut headers = Headers::new();
    for (name, value) in event.iter() {
        let slot = match name {
            HEADER_APPLICATION_UUID => Some(MARK_APP_UUID),
            HEADER_APPLICATION | "variable_current_application" => Some(MARK_APP),
            HEADER_APPLICATION_DATA | "variable_current_application_data" => Some(MARK_APP_DATA),
            HEADER_CONTENT_LENGTH => continue,
            CAPTURED_DIGIT_VARIABLE => {
                headers.push(MARK_DIGIT_LINE, "x");
                continue;
            }
            _ => None,
        };
        headers.push(name, slot.unwrap_or(value));
    }
    let mut body = Vec::new();
    Event::new(headers, event.body().map(str::to_owned))
        .encode_plain(&mut body)
        .map_err(|err| err.to_string())?;
    let mut pieces = Vec::new();
    for piece in Pieces::split_uuid(&body).0 {
        match piece {
            Piece::Text(text) => pieces.extend(split_marks(&text)),
            slot => pieces.push(slot),
        }
    }
    Ok(Pieces(pieces))
}

/// The connect reply's header lines (values URL-encoded, no body) with slots.
fn connect_pieces(frame: &Frame) -> Result<Pieces, String> {
    let mut text = Vec::new();
    for (name, value) in &frame.headers {
        let value = if name == HEADER_DESTINATION_NUMBER { MARK_DESTINATION } else { value };
        text.extend_from_slice(format!("{name}: {value}\n").as_bytes());
    }
    text.push(b'\n');
    let mut pieces = Vec::new();
    for piece in Pieces::split_uuid(&text).0 {
        match piece {
            Piece::Text(text) => pieces.extend(split_marks(&text)),
            slot => pieces.push(slot),
        }
    }
    Ok(Pieces(pieces))
}

/// Splits text at the slot markers.
fn split_marks(text: &[u8]) -> Vec<Piece> {
    let marks = [
        (MARK_APP_UUID, Slot::AppUuid),
        (MARK_APP_DATA, Slot::AppData),
        (MARK_APP, Slot::App),
        (MARK_DESTINATION, Slot::Destination),
    ];
    let mut pieces = Vec::new();
    let mut rest = text;
    loop {
        let digit_line = format!("{MARK_DIGIT_LINE}: x\n");
        let next = marks
            .iter()
            .map(|(mark, slot)| (mark.as_bytes().to_vec(), *slot))
            .chain(std::iter::once((digit_line.into_bytes(), Slot::DigitLine)))
            .filter_map(|(mark, slot)| {
                rest.windows(mark.len()).position(|w| w == mark.as_slice()).map(|at| (at, mark.len(), slot))
            })
            .min_by_key(|(at, _, _)| *at);
        let Some((at, len, slot)) = next else {
            pieces.push(Piece::Text(rest.to_vec()));
            return pieces;
        };
        pieces.push(Piece::Text(rest[..at].to_vec()));
        pieces.push(Piece::Slot(slot));
        rest = &rest[at + len..];
    }
}

// Markers survive URL encoding unchanged (letters only) and appear nowhere in the capture.
// `RIVRMARKAPPDATA` and `RIVRMARKAPPUUID` are matched before `RIVRMARKAPP`, their prefix.
const MARK_APP: &str = "RIVRMARKAPP";
const MARK_APP_DATA: &str = "RIVRMARKAPPDATA";
const MARK_APP_UUID: &str = "RIVRMARKAPPUUID";
const MARK_DESTINATION: &str = "RIVRMARKDESTINATION";
const MARK_DIGIT_LINE: &str = "RIVRMARKDIGITLINE";
/// Distinct failure messages the report lists.
const MAX_ERROR_KINDS: usize = 10;
/// A command longer than this is not something an IVR app sends.
const MAX_COMMAND: usize = 1024 * 1024;

/// Decodes the capture into frames and the exact bytes of each.
fn decode_all(bytes: &[u8]) -> Result<Vec<(Frame, Vec<u8>)>, String> {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    let mut offset = 0;
    while let Some(frame) = decoder.decode(&mut buf).map_err(|err| err.to_string())? {
        let used = bytes.len() - offset - buf.len();
        out.push((frame, bytes[offset..offset + used].to_vec()));
        offset += used;
    }
    Ok(out)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[derive(Default)]
struct CallResult {
    ok: bool,
    error: Option<String>,
    turnaround_us: Vec<u64>,
}

impl CallResult {
    fn failed(error: String) -> Self {
        Self { ok: false, error: Some(error), turnaround_us: Vec::new() }
    }

    fn fail(mut self, error: String) -> Self {
        self.ok = false;
        self.error = Some(error);
        self
    }
}

#[derive(Default)]
struct Report {
    started: u64,
    completed: u64,
    failed: u64,
    errors: Vec<(String, u64)>,
    turnaround_us: Vec<u64>,
    elapsed: Duration,
    rss: Option<Rss>,
}

impl Report {
    fn add(&mut self, done: Result<CallResult, tokio::task::JoinError>) {
        let result = done.unwrap_or_else(|err| CallResult::failed(format!("task: {err}")));
        self.turnaround_us.extend(result.turnaround_us);
        if result.ok {
            self.completed += 1;
            return;
        }
        self.failed += 1;
        let error = result.error.unwrap_or_else(|| "unknown".to_owned());
        // Keep the first few distinct errors; later ones of a known kind are counted.
        match self.errors.iter().position(|(text, _)| *text == error) {
            Some(index) => self.errors[index].1 += 1,
            None if self.errors.len() < MAX_ERROR_KINDS => self.errors.push((error, 1)),
            None => {}
        }
    }

    fn print(&mut self, args: &Args) {
        self.turnaround_us.sort_unstable();
        let pick = |q: f64| -> Option<f64> {
            let n = self.turnaround_us.len();
            (n > 0).then(|| {
                // Nearest-rank percentile; the clamp keeps the index within 0..n.
                let index = ((n as f64 * q).ceil() as usize).clamp(1, n) - 1;
                self.turnaround_us[index] as f64 / 1000.0
            })
        };
        let (p50, p99) = (pick(0.50), pick(0.99));
        let max = self.turnaround_us.last().map(|us| *us as f64 / 1000.0);
        let seconds = self.elapsed.as_secs_f64();
        let rate = if seconds > 0.0 { self.completed as f64 / seconds } else { 0.0 };
        let ms = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:.3}"));
        if args.json {
            let json = serde_json::json!({
                "addr": args.addr.to_string(),
                "calls": args.calls,
                "concurrency": args.concurrency,
                "media_delay_ms": args.media_delay_ms,
                "started": self.started,
                "completed": self.completed,
                "failed": self.failed,
                "elapsed_s": seconds,
                "calls_per_s": rate,
                "turnaround_samples": self.turnaround_us.len(),
                "turnaround_p50_ms": p50,
                "turnaround_p99_ms": p99,
                "turnaround_max_ms": max,
                "errors": self.errors.iter().map(|(e, n)| serde_json::json!({"error": e, "count": n})).collect::<Vec<_>>(),
                "rss_start_kib": self.rss.as_ref().map(|r| r.start_kib),
                "rss_peak_kib": self.rss.as_ref().map(|r| r.peak_kib),
                "rss_end_kib": self.rss.as_ref().map(|r| r.end_kib),
            });
            println!("{json}");
            return;
        }
        println!(
            "loadgen: {} calls at concurrency {} against {} (media delay {} ms)",
            args.calls, args.concurrency, args.addr, args.media_delay_ms
        );
        println!(
            "  calls: {} started, {} completed, {} failed in {:.2} s",
            self.started, self.completed, self.failed, seconds
        );
        println!("  throughput: {rate:.1} calls/s");
        println!(
            "  turnaround (EXECUTE_COMPLETE written -> next command read), {} samples: p50 {} ms, p99 {} ms, max {} ms",
            self.turnaround_us.len(),
            ms(p50),
            ms(p99),
            ms(max)
        );
        if let Some(rss) = &self.rss {
            println!(
                "  server RSS: {} KiB at start, {} KiB peak, {} KiB at end",
                rss.start_kib, rss.peak_kib, rss.end_kib
            );
        }
        for (error, count) in &self.errors {
            println!("  failure x{count}: {error}");
        }
    }
}

/// The server's resident memory, sampled from `/proc/<pid>/status` while the run lasts.
struct RssSampler {
    pid: u32,
    start_kib: u64,
    peak: Arc<std::sync::atomic::AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

struct Rss {
    start_kib: u64,
    peak_kib: u64,
    end_kib: u64,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let start_kib = rss_kib(pid).unwrap_or(0);
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(start_kib));
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (peak, stop) = (peak.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = rss_kib(pid) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        Self { pid, start_kib, peak, stop, task }
    }

    fn finish(self) -> Rss {
        self.stop.store(true, Ordering::Relaxed);
        self.task.abort();
        let end_kib = rss_kib(self.pid).unwrap_or(0);
        Rss { start_kib: self.start_kib, peak_kib: self.peak.load(Ordering::Relaxed).max(end_kib), end_kib }
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script() -> Script {
        let args = Args::parse_from(["loadgen", "--digits", "42", "--destination", "5551234"]);
        Script::from_capture(&args).expect("the capture compiles")
    }

    fn decode(bytes: &[u8]) -> Vec<Frame> {
        decode_all(bytes).expect("decodes").into_iter().map(|(frame, _)| frame).collect()
    }

    #[test]
    fn commands_are_cut_at_the_blank_line_and_bodies_by_content_length() {
        let mut buf = BytesMut::from(
            &b"connect\n\nsendmsg\ncall-command: execute\nexecute-app-name: speak\n\
               content-type: text/plain\ncontent-length: 5\n\nhello\nexit\n"[..],
        );
        let first = esl_wire::take_command(&mut buf).expect("valid").expect("whole");
        assert_eq!(first.word(), "connect");
        let second = esl_wire::take_command(&mut buf).expect("valid").expect("whole");
        assert_eq!(second.header("Execute-App-Name"), Some("speak"));
        assert_eq!(second.body.as_deref(), Some("hello"));
        assert!(esl_wire::take_command(&mut buf).expect("valid").is_none(), "exit is not whole yet");
        buf.extend_from_slice(b"\n");
        assert_eq!(esl_wire::take_command(&mut buf).expect("valid").expect("whole").word(), "exit");
    }

    #[test]
    fn connect_reply_is_the_captured_channel_data_with_the_calls_uuid_and_destination() {
        let uuid = "00000000-1111-2222-3333-444444444444";
        let frames = decode(&script().connect_reply(uuid));
        assert_eq!(frames.len(), 1);
        let data = Event::from_headers(&frames[0].headers);
        assert_eq!(data.unique_id(), Some(uuid));
        assert_eq!(data.header("Caller-Destination-Number"), Some("5551234"));
        assert_eq!(data.header("Reply-Text"), Some("+OK\n"));
        assert_eq!(frames[0].content_type(), ContentType::CommandReply);
    }

    #[test]
    fn execute_complete_carries_the_event_uuid_and_the_collected_digits() {
        let script = script();
        let execute = Execute {
            app: "play_and_get_digits".into(),
            arg: "1 1 2 8000 # p.wav silence_stream://250 my_digit \\d 3000".into(),
            event_uuid: "app-uuid-1".into(),
        };
        let uuid = "00000000-1111-2222-3333-444444444444";
        for (bytes, name) in [
            (script.execute(uuid, &execute), "CHANNEL_EXECUTE"),
            (script.complete(uuid, &execute), "CHANNEL_EXECUTE_COMPLETE"),
        ] {
            let frames = decode(&bytes);
            assert_eq!(frames.len(), 1);
            let event = Event::from_frame(&frames[0]).expect("event");
            assert_eq!(event.name(), Some(name));
            assert_eq!(event.unique_id(), Some(uuid));
            assert_eq!(event.application_uuid(), Some("app-uuid-1"));
            assert_eq!(event.header("Application"), Some("play_and_get_digits"));
            assert_eq!(event.header("Application-Data"), Some(execute.arg.as_str()));
            let digit = event.variable("my_digit");
            assert_eq!(digit, (name == "CHANNEL_EXECUTE_COMPLETE").then_some("42"));
            assert_eq!(event.variable("fslab_digit"), None);
        }
    }

    #[test]
    fn hangup_ends_with_the_captured_linger_notice_for_the_call() {
        let script = script();
        let uuid = "00000000-1111-2222-3333-444444444444";
        let mut bytes = script.hangup_events(uuid);
        bytes.extend_from_slice(&script.linger_notice(uuid));
        let frames = decode(&bytes);
        let names: Vec<_> = frames[..2]
            .iter()
            .map(|frame| Event::from_frame(frame).expect("event").name().map(str::to_owned))
            .collect();
        assert_eq!(names, [Some("CHANNEL_HANGUP".to_owned()), Some("CHANNEL_HANGUP_COMPLETE".to_owned())]);
        assert_eq!(frames[2].content_type(), ContentType::DisconnectNotice);
        assert_eq!(frames[2].header("Controlled-Session-UUID"), Some(uuid));
        assert_eq!(frames[2].header("Linger-Time"), Some("-1"));
    }
}
