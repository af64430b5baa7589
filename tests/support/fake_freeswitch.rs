//! A fake FreeSWITCH for whole-call tests, built from the real captures in `tests/fixtures/esl/`.
//!
//! [`call`] connects to rivr's outbound listener the way FreeSWITCH's `socket` application does
//! and plays one call: it answers `connect` with the captured `CHANNEL_DATA` reply (uuid and
//! caller substituted), `myevents` and `linger` with the captured replies, and every `sendmsg`
//! with the captured `+OK` followed by `CHANNEL_EXECUTE` and `CHANNEL_EXECUTE_COMPLETE` events
//! made from the captured ones: same header set, with this call's uuid, the application, its
//! data, the `Application-UUID` rivr sent, the response, and the channel's variables.
//!
//! The applications rivr relies on are emulated from FreeSWITCH's source: `play_and_get_digits`
//! (`switch_play_and_get_digits`: tries, min/max, terminators, regex, `read_result`,
//! `<var>_invalid`), `bridge` (the variables each outcome writes replayed from the outbound-dial
//! capture; `continue_on_fail`, `hangup_after_bridge`, `import`), `record` (`record_ms`, `silence_hits_exhausted`,
//! `playback_terminators`), `set`/`unset` with the core's variable expansion, and `api
//! uuid_getvar`, and the channel's DTMF queue: keys a try did not take wait there until the next
//! try, a playback (`on_dtmf`: dropped, `playback_terminators` stops it) or a bridge (passed to
//! the far end) takes them. A [`Scenario`] scripts the caller and the far ends: keys per try, dial and
//! record results, the caller hanging up during an application, a dropped socket, a garbage
//! frame, an unknown application. Everything rivr sent is kept in the [`CallLog`].
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::BytesMut;
use rivr::switch::freeswitch::event::Event;
use rivr::switch::freeswitch::frame::{ContentDisposition, ContentType, Frame, FrameDecoder};
use rivr::switch::freeswitch::headers::Headers;
use rivr::switch::freeswitch::url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::esl_wire;

/// How a dial ends at the far end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialResult {
    /// Leg `leg` (0-based) answers and talks for `talk`.
    Answered { leg: usize, talk: Duration },
    /// `USER_BUSY`.
    Busy,
    /// Nobody answers: `NO_ANSWER`.
    NoAnswer,
    /// The originate fails with this cause (`NO_ROUTE_DESTINATION`, `CALL_REJECTED`, ...).
    Failed(&'static str),
}

/// How a recording ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordResult {
    /// Length written.
    pub ms: u64,
    /// Silence ended it.
    pub silence_exhausted: bool,
    /// The caller pressed this key (it ends the recording if it is a terminator).
    pub key: Option<char>,
}

impl Default for RecordResult {
    fn default() -> Self {
        RecordResult { ms: 5000, silence_exhausted: false, key: None }
    }
}

/// One call's script on the switch side.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The channel's uuid.
    pub uuid: String,
    /// `Caller-Caller-ID-Number`.
    pub caller: String,
    /// `Caller-Destination-Number`.
    pub destination: String,
    /// What the caller presses during each `play_and_get_digits` try, in order (`""`: nothing).
    pub keys: VecDeque<String>,
    /// Results of successive bridges (default: leg 0 answers and talks 30 s).
    pub dials: VecDeque<DialResult>,
    /// Results of successive recordings.
    pub records: VecDeque<RecordResult>,
    /// Files `playback` cannot find (matched as substrings of the argument).
    pub missing_files: Vec<String>,
    /// Applications this FreeSWITCH does not have (`+OK`, then the channel is hung up with
    /// DESTINATION_OUT_OF_ORDER, as in outbound-errors).
    pub unknown_apps: Vec<String>,
    /// `Application-Response` of applications the fake does not emulate.
    pub responses: BTreeMap<String, String>,
    /// The caller hangs up (with this cause) while the first execution of this application runs
    /// (after `hangup_during_skip` executions of it have completed).
    pub hangup_during: Option<(String, String)>,
    /// How many executions of `hangup_during`'s application complete before the one the caller
    /// hangs up in.
    pub hangup_during_skip: usize,
    /// The socket drops while the first execution of this application runs.
    pub drop_during: Option<String>,
    /// A malformed frame arrives while the first execution of this application runs.
    pub garbage_during: Option<String>,
    /// The caller hangs up (with this cause) right after the first execution of this
    /// application completes, while rivr is not waiting for anything.
    pub hangup_after: Option<(String, String)>,
    /// Answer this handshake command with `-ERR`.
    pub refuse: Option<String>,
    /// The socket application ran without `full` (`Control: single-channel`): `api` is refused.
    pub single_channel: bool,
    /// When the caller hangs up during an application, send its completion (`PLAYBACK ERROR`,
    /// `Answer-State: hangup`) before `CHANNEL_HANGUP` instead of after it.
    pub completion_first: bool,
    /// Before each real completion, send a decoy `CHANNEL_EXECUTE_COMPLETE` for the same
    /// application with another `Application-UUID` and a failing response.
    pub decoys: bool,
    /// Real time each media application (playback, speak, say, ask, record, bridge, sleep)
    /// takes, so concurrent calls overlap as they would on a switch.
    pub media_time: Option<Duration>,
    /// Initial channel variables (besides the captured ones).
    pub variables: BTreeMap<String, String>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            uuid: uuid::Uuid::new_v4().to_string(),
            caller: "5551234".into(),
            destination: "9000".into(),
            keys: VecDeque::new(),
            dials: VecDeque::new(),
            records: VecDeque::new(),
            missing_files: Vec::new(),
            unknown_apps: vec!["nosuchapp".into()],
            responses: BTreeMap::new(),
            hangup_during: None,
            hangup_during_skip: 0,
            hangup_after: None,
            drop_during: None,
            garbage_during: None,
            refuse: None,
            single_channel: false,
            completion_first: false,
            decoys: false,
            media_time: None,
            variables: BTreeMap::new(),
        }
    }
}

/// One command rivr sent, as FreeSWITCH reads it.
pub type Received = super::esl_wire::Command;

/// What happened on one fake call.
#[derive(Clone, Debug, Default)]
pub struct CallLog {
    /// The channel's uuid.
    pub uuid: String,
    /// Every command rivr sent, in order.
    pub commands: Vec<Received>,
    /// Every byte rivr sent.
    pub bytes: Vec<u8>,
    /// rivr closed the socket (rather than the fake, after `exit` or a hangup without linger).
    pub closed_by_rivr: bool,
    /// The fake sent the linger notice (`text/disconnect-notice`, `linger`).
    pub linger_notice_sent: bool,
    /// The channel was hung up (by rivr or by the scenario).
    pub hung_up: Option<String>,
}

impl CallLog {
    /// The commands as [`Received::describe`] lines, handshake included.
    pub fn lines(&self) -> Vec<String> {
        self.commands.iter().map(Received::describe).collect()
    }

    /// The executions and hangups only.
    pub fn apps(&self) -> Vec<String> {
        self.commands.iter().filter(|c| c.line == "sendmsg").map(Received::describe).collect()
    }
}

/// Connect to rivr at `addr` and play one call.
///
/// # Panics
/// When rivr cannot be reached or breaks the protocol in a way the fake cannot answer.
pub async fn call(addr: SocketAddr, scenario: Scenario) -> CallLog {
    let stream = TcpStream::connect(addr).await.expect("connect to rivr's outbound listener");
    // The fake writes a reply and its events separately; with Nagle's algorithm each later
    // write would wait for rivr's delayed ACK (40 ms per command).
    let _ = stream.set_nodelay(true);
    let mut session = Session::new(stream, scenario);
    session.run().await;
    session.log
}

/// The captured frames the fake is made of.
struct Templates {
    /// The channel uuid in the captured frames.
    uuid: String,
    connect_reply: Frame,
    execute: Event,
    complete: Event,
    dtmf: Event,
    /// CHANNEL_HANGUP … CHANNEL_HANGUP_COMPLETE as FreeSWITCH sends them after a hangup.
    hangup_tail: Vec<Event>,
    linger_notice: Vec<u8>,
    bye: Vec<u8>,
    goodbye: Vec<u8>,
    /// outbound-nolinger's goodbye, and its uuid.
    nolinger_goodbye: (Vec<u8>, String),
}

fn templates() -> &'static Templates {
    static TEMPLATES: OnceLock<Templates> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let frames = frames_of("outbound-pagd");
        let connect_reply = frames[0].clone();
        let uuid = Event::from_headers(&connect_reply.headers)
            .header("Unique-ID")
            .expect("captured uuid")
            .to_string();
        let events: Vec<Event> =
            frames.iter().filter(|f| f.content_type() == ContentType::EventPlain).map(event_of).collect();
        let find = |name: &str, app: Option<&str>| {
            events
                .iter()
                .find(|e| e.name() == Some(name) && (app.is_none() || e.header("Application") == app))
                .cloned()
                .unwrap_or_else(|| panic!("outbound-pagd has no {name}"))
        };
        let first = events.iter().position(|e| e.name() == Some("CHANNEL_HANGUP")).expect("hangup");
        let last = events.iter().position(|e| e.name() == Some("CHANNEL_HANGUP_COMPLETE")).expect("complete");
        let notices: Vec<&Frame> =
            frames.iter().filter(|f| f.content_type() == ContentType::DisconnectNotice).collect();
        let bye = frames
            .iter()
            .find(|f| f.reply_text() == Some("+OK bye"))
            .map(bytes_of)
            .expect("captured +OK bye");
        let nolinger = frames_of("outbound-nolinger");
        let nolinger_uuid =
            Event::from_headers(&nolinger[0].headers).header("Unique-ID").expect("uuid").to_string();
        let nolinger_goodbye = nolinger.last().map(bytes_of).expect("goodbye");
        assert_eq!(notices[0].content_disposition(), Some(ContentDisposition::Linger));
        Templates {
            connect_reply,
            execute: find("CHANNEL_EXECUTE", Some("playback")),
            complete: find("CHANNEL_EXECUTE_COMPLETE", Some("playback")),
            dtmf: find("DTMF", None),
            hangup_tail: events[first..=last].to_vec(),
            linger_notice: bytes_of(notices[0]),
            bye,
            goodbye: bytes_of(notices[notices.len() - 1]),
            nolinger_goodbye: (nolinger_goodbye, nolinger_uuid),
            uuid,
        }
    })
}

fn frames_of(capture: &str) -> Vec<Frame> {
    let path = format!("{}/tests/fixtures/esl/{capture}.fs2app.raw", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let mut buf = BytesMut::from(&bytes[..]);
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut buf).expect("captures decode") {
        frames.push(frame);
    }
    frames
}

fn event_of(frame: &Frame) -> Event {
    Event::from_frame(frame).expect("captured events decode")
}

fn bytes_of(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    frame.encode(&mut out).expect("captured frames encode");
    out
}

/// The fake's side of one socket.
struct Session {
    stream: TcpStream,
    buf: BytesMut,
    scenario: Scenario,
    vars: BTreeMap<String, String>,
    sequence: u64,
    clock_us: u64,
    up: bool,
    lingering: bool,
    closed: bool,
    log: CallLog,
    /// Keys on the channel's DTMF queue that nothing has taken yet: those of a try's keys
    /// after the ones it took. FreeSWITCH sends a key's `DTMF` event when something takes it
    /// off the queue (`switch_channel_dequeue_dtmf`).
    queued: VecDeque<char>,
}

#[derive(PartialEq, Eq)]
enum Read {
    Success,
    Timeout,
    TooSmall,
}

impl Session {
    fn new(stream: TcpStream, scenario: Scenario) -> Self {
        let log = CallLog { uuid: scenario.uuid.clone(), ..CallLog::default() };
        let mut vars = BTreeMap::new();
        vars.insert("uuid".to_string(), scenario.uuid.clone());
        vars.insert("call_uuid".to_string(), scenario.uuid.clone());
        vars.extend(scenario.variables.clone());
        Session {
            stream,
            buf: BytesMut::new(),
            scenario,
            vars,
            sequence: 441,
            clock_us: 1_795_472_296_738_349,
            up: true,
            lingering: false,
            closed: false,
            log,
            queued: VecDeque::new(),
        }
    }

    async fn run(&mut self) {
        while !self.closed {
            let Some(command) = self.read_command().await else {
                self.log.closed_by_rivr = true;
                return;
            };
            self.log.commands.push(command.clone());
            let line = command.line.clone();
            let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            if self.scenario.refuse.as_deref() == Some(word) {
                self.reply(&format!("-ERR {word} refused by the test")).await;
                continue;
            }
            match word {
                "connect" => {
                    let reply = self.connect_reply();
                    self.write(&reply).await;
                }
                "myevents" => self.reply("+OK Events Enabled").await,
                "linger" => {
                    self.lingering = true;
                    self.reply("+OK will linger").await;
                }
                "exit" => {
                    let bye = templates().bye.clone();
                    self.write(&bye).await;
                    let goodbye = self.with_uuid(&templates().goodbye, &templates().uuid);
                    self.write(&goodbye).await;
                    self.close().await;
                }
                "api" if self.scenario.single_channel => self.reply("-ERR command not found").await,
                "api" => self.api(rest).await,
                "getvar" => {
                    let value = self.vars.get(rest).cloned().unwrap_or_default();
                    self.reply(&value).await;
                }
                "sendmsg" => self.sendmsg(&command).await,
                _ => self.reply("-ERR command not found").await,
            }
        }
    }

    // ---- Reading rivr's commands ----

    async fn read_command(&mut self) -> Option<Received> {
        loop {
            if let Some(command) = esl_wire::take_command(&mut self.buf).expect("rivr sends whole commands") {
                return Some(command);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                self.log.bytes.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    // ---- Writing ----

    async fn write(&mut self, bytes: &[u8]) {
        if self.closed {
            return;
        }
        if self.stream.write_all(bytes).await.is_err() {
            self.closed = true;
        }
    }

    async fn reply(&mut self, text: &str) {
        self.write(&esl_wire::reply_frame(text)).await;
    }

    async fn api_response(&mut self, body: &str) {
        self.write(&esl_wire::api_frame(body)).await;
    }

    async fn close(&mut self) {
        let _ = self.stream.shutdown().await;
        self.closed = true;
    }

    fn with_uuid(&self, bytes: &[u8], captured: &str) -> Vec<u8> {
        let text = String::from_utf8_lossy(bytes).replace(captured, &self.scenario.uuid);
        text.into_bytes()
    }

    fn connect_reply(&self) -> Vec<u8> {
        let t = templates();
        let mut headers = Headers::new();
        for (name, value) in &t.connect_reply.headers {
            if name == "Content-Type" {
                // The scenario's own channel variables, where FreeSWITCH puts variables: after
                // the captured ones, before the reply headers it appends.
                for (key, value) in &self.scenario.variables {
                    headers.push(&format!("variable_{key}"), &url::encode(value.as_bytes()));
                }
            }
            let value = match name {
                "Caller-Caller-ID-Number" | "Channel-Caller-ID-Number" => {
                    url::encode(self.scenario.caller.as_bytes()).into_owned()
                }
                "Caller-Destination-Number" | "Channel-Destination-Number" => {
                    url::encode(self.scenario.destination.as_bytes()).into_owned()
                }
                "Control" if self.scenario.single_channel => "single-channel".to_string(),
                _ => value.replace(&t.uuid, &self.scenario.uuid),
            };
            headers.push(name, &value);
        }
        let mut out = Vec::new();
        Frame::new(headers, None).encode(&mut out).expect("connect reply encodes");
        out
    }

    /// An event from `template`: this call's uuid, the next sequence number, the fake clock,
    /// `set` applied, and the channel's variables (when `with_vars`).
    fn event(&mut self, template: &Event, set: &[(&str, String)], with_vars: bool) -> Vec<u8> {
        let t = templates();
        self.sequence += 1;
        let mut used = vec![false; set.len()];
        let mut used_vars = Vec::new();
        let mut headers = Headers::new();
        for (name, value) in template {
            if let Some(i) = set.iter().position(|(n, _)| *n == name) {
                used[i] = true;
                headers.push(name, &set[i].1);
            } else if let Some(var) = name.strip_prefix("variable_").filter(|_| with_vars) {
                match self.vars.get(var) {
                    Some(v) => {
                        used_vars.push(var.to_string());
                        headers.push(name, v);
                    }
                    None => headers.push(name, &value.replace(&t.uuid, &self.scenario.uuid)),
                }
            } else if name == "Event-Sequence" {
                headers.push(name, &self.sequence.to_string());
            } else if name == "Event-Date-Timestamp" {
                headers.push(name, &self.clock_us.to_string());
            } else {
                headers.push(name, &value.replace(&t.uuid, &self.scenario.uuid));
            }
        }
        if with_vars {
            for (var, value) in &self.vars {
                if !used_vars.contains(var) {
                    headers.push(&format!("variable_{var}"), value);
                }
            }
        }
        for (i, (name, value)) in set.iter().enumerate() {
            if !used[i] {
                headers.push(name, value);
            }
        }
        let mut body = Vec::new();
        Event::new(headers, None).encode_plain(&mut body).expect("event encodes");
        esl_wire::plain_event_frame(&body)
    }

    async fn send_event(&mut self, template: &Event, set: &[(&str, String)], with_vars: bool) {
        let frame = self.event(template, set, with_vars);
        self.write(&frame).await;
    }

    async fn dtmf(&mut self, key: char) {
        let t = templates();
        self.send_event(&t.dtmf, &[("DTMF-Digit", key.to_string())], false).await;
    }

    /// What an application playing media (`playback`, `speak`, `say`, `record`) does with the
    /// keys waiting on the channel: mod_dptools' `on_dtmf` takes each off the queue (its `DTMF`
    /// event goes out), drops it, and stops the application at one of `playback_terminators`
    /// (`*` when unset, none for `none`), noting it in `playback_terminator_used`; the keys
    /// after it wait. Returns the terminator that stopped it.
    async fn media_takes_keys(&mut self) -> Option<char> {
        let terminators = match self.vars.get("playback_terminators") {
            None => "*".to_string(),
            Some(keys) if keys.eq_ignore_ascii_case("none") => String::new(),
            Some(keys) => keys.clone(),
        };
        while let Some(key) = self.queued.pop_front() {
            self.dtmf(key).await;
            if terminators.contains(key) {
                self.vars.insert("playback_terminator_used".into(), key.to_string());
                return Some(key);
            }
        }
        None
    }

    // ---- Commands ----

    async fn api(&mut self, command: &str) {
        let words: Vec<&str> = command.split(' ').collect();
        match words.as_slice() {
            ["uuid_getvar", uuid, name] if *uuid == self.scenario.uuid => {
                let value = self.vars.get(*name).cloned().unwrap_or_else(|| "_undef_".into());
                self.api_response(&value).await;
            }
            ["uuid_getvar", ..] => self.api_response("-ERR No such channel!\n").await,
            [name, ..] => self.api_response(&format!("-ERR {name} Command not found!\n")).await,
            [] => self.api_response("-ERR no command\n").await,
        }
    }

    async fn sendmsg(&mut self, command: &Received) {
        match command.header("call-command") {
            Some("hangup") => {
                self.reply("+OK").await;
                if self.up {
                    let cause = command.header("hangup-cause").unwrap_or("NORMAL_CLEARING").to_string();
                    self.hang_up(&cause, None).await;
                }
            }
            Some("execute") => {
                self.reply("+OK").await;
                if self.up {
                    self.execute(command).await;
                }
            }
            _ => self.reply("-ERR invalid command").await,
        }
    }

    async fn execute(&mut self, command: &Received) {
        let t = templates();
        let app = command.header("execute-app-name").unwrap_or_default().to_string();
        let wire_arg = command.app_arg().unwrap_or_default().to_string();
        let app_uuid = command.header("Event-UUID").unwrap_or_default().to_string();
        if self.scenario.unknown_apps.contains(&app) {
            // outbound-errors: `+OK`, no EXECUTE, then the channel goes down.
            self.hang_up("DESTINATION_OUT_OF_ORDER", None).await;
            return;
        }
        // The core expands variables before the application sees its argument; of the
        // globals, rivr relies on `recordings_dir`.
        let arg = fs_expand(&wire_arg).replace("${recordings_dir}", RECORDINGS_DIR);
        let app_fields = |response: &str| {
            vec![
                ("Application", app.clone()),
                ("Application-Data", arg.clone()),
                ("Application-Response", response.to_string()),
                ("Application-UUID", app_uuid.clone()),
            ]
        };
        self.vars.insert("current_application".into(), app.clone());
        self.vars.insert("current_application_data".into(), arg.clone());
        let mut started = app_fields("");
        started.retain(|(n, _)| *n != "Application-Response");
        self.send_event(&t.execute, &started, false).await;

        if self.scenario.drop_during.as_deref() == Some(app.as_str()) {
            self.scenario.drop_during = None;
            self.close().await;
            return;
        }
        if self.scenario.garbage_during.as_deref() == Some(app.as_str()) {
            self.scenario.garbage_during = None;
            self.write(b"Content-Type: text/event-plain\nContent-Length: many\n\n").await;
            // FreeSWITCH would be out of step too: wait for rivr to give up on the socket.
            while self.read_command().await.is_some() {}
            self.log.closed_by_rivr = true;
            self.closed = true;
            return;
        }
        if let Some((during, cause)) = self.scenario.hangup_during.clone() {
            if during == app && self.scenario.hangup_during_skip > 0 {
                self.scenario.hangup_during_skip -= 1;
            } else if during == app {
                self.scenario.hangup_during = None;
                self.hang_up_during(&app, &cause, app_fields).await;
                return;
            }
        }

        let mut after: Option<String> = None;
        let response = match app.as_str() {
            "playback" => {
                self.clock_us += 1_000_000;
                self.vars.insert("playback_terminator_used".into(), String::new());
                self.media_takes_keys().await;
                if self.scenario.missing_files.iter().any(|f| arg.contains(f.as_str())) {
                    "FILE NOT FOUND".to_string()
                } else {
                    "FILE PLAYED".to_string()
                }
            }
            "set" => {
                // `set` expands the value once more (`base_set`).
                if let Some((name, value)) = arg.split_once('=') {
                    let value = fs_expand(value);
                    if value.is_empty() {
                        self.vars.remove(name);
                    } else {
                        self.vars.insert(name.to_string(), value);
                    }
                }
                "_none_".into()
            }
            "unset" => {
                self.vars.remove(arg.as_str());
                "_none_".into()
            }
            "play_and_get_digits" => {
                self.play_and_get_digits(&arg).await;
                "_none_".into()
            }
            "record" => {
                self.record(&arg).await;
                "_none_".into()
            }
            "bridge" => {
                after = self.bridge(&arg).await;
                "_none_".into()
            }
            "speak" | "say" => {
                self.clock_us += 500_000;
                self.vars.insert("playback_terminator_used".into(), String::new());
                self.media_takes_keys().await;
                "_none_".into()
            }
            "answer" | "pre_answer" | "ring_ready" | "sleep" | "send_dtmf" | "transfer" => {
                self.clock_us += 500_000;
                "_none_".into()
            }
            other => self.scenario.responses.get(other).cloned().unwrap_or_else(|| "_none_".into()),
        };
        if let Some(time) = self.scenario.media_time {
            if MEDIA_APPS.contains(&app.as_str()) {
                // As FreeSWITCH in async mode, commands are read while the media plays: a
                // `sendmsg hangup` interrupts it (the completion then reports the hangup).
                let interrupted = tokio::select! {
                    () = tokio::time::sleep(time) => None,
                    command = self.read_command() => Some(command),
                };
                if let Some(command) = interrupted {
                    let Some(command) = command else {
                        self.log.closed_by_rivr = true;
                        self.closed = true;
                        return;
                    };
                    self.log.commands.push(command.clone());
                    assert_eq!(
                        command.header("call-command"),
                        Some("hangup"),
                        "the fake takes only a hangup while media plays, got {:?}",
                        command.line
                    );
                    self.reply("+OK").await;
                    let cause = command.header("hangup-cause").unwrap_or("NORMAL_CLEARING").to_string();
                    self.hang_up_during(&app, &cause, app_fields).await;
                    return;
                }
            }
        }
        if self.scenario.decoys {
            let mut decoy = app_fields("FILE NOT FOUND");
            decoy[3].1 = uuid::Uuid::new_v4().to_string();
            self.send_event(&t.complete, &decoy, true).await;
        }
        let complete = app_fields(&response);
        self.send_event(&t.complete, &complete, true).await;
        if let Some((after_app, cause)) = self.scenario.hangup_after.clone() {
            if after_app == app {
                self.scenario.hangup_after = None;
                after = Some(cause);
            }
        }
        if let Some(cause) = after {
            self.hang_up(&cause, None).await;
        }
    }

    /// The channel goes down while `app` runs: it completes with the hangup (`PLAYBACK ERROR`
    /// for a playback), as in outbound-farhangup.
    async fn hang_up_during(
        &mut self,
        app: &str,
        cause: &str,
        app_fields: impl Fn(&str) -> Vec<(&'static str, String)>,
    ) {
        let response = if app == "playback" { "PLAYBACK ERROR" } else { "_none_" };
        let mut fields = app_fields(response);
        fields.push(("Answer-State", "hangup".into()));
        fields.push(("Hangup-Cause", cause.to_string()));
        self.hang_up(cause, Some(fields)).await;
    }

    /// The channel goes down: CHANNEL_HANGUP, then (when an application was running) its
    /// completion, then the rest of the captured tail, then the linger notice or the goodbye.
    async fn hang_up(&mut self, cause: &str, interrupted: Option<Vec<(&'static str, String)>>) {
        let t = templates();
        self.up = false;
        self.log.hung_up = Some(cause.to_string());
        self.vars.insert("hangup_cause".into(), cause.to_string());
        let cause_field = ("Hangup-Cause", cause.to_string());
        let first = self.scenario.completion_first;
        if let (true, Some(fields)) = (first, &interrupted) {
            self.send_event(&t.complete, fields, true).await;
        }
        for (i, template) in t.hangup_tail.iter().enumerate() {
            self.send_event(template, std::slice::from_ref(&cause_field), true).await;
            if let (0, false, Some(fields)) = (i, first, &interrupted) {
                self.send_event(&t.complete, fields, true).await;
            }
        }
        if self.lingering {
            let notice = self.with_uuid(&t.linger_notice, &t.uuid);
            self.write(&notice).await;
            self.log.linger_notice_sent = true;
        } else {
            let (goodbye, captured) = &t.nolinger_goodbye;
            let goodbye = self.with_uuid(goodbye, captured);
            self.write(&goodbye).await;
            self.close().await;
        }
    }

    /// `switch_play_and_get_digits` over `switch_ivr_read`, one scripted key string per try.
    async fn play_and_get_digits(&mut self, arg: &str) {
        let argv = fs_words(arg);
        let number = |i: usize| argv.get(i).and_then(|a| a.parse::<usize>().ok()).unwrap_or(0);
        let (min, max, tries) = (number(0), number(1).max(number(0)), number(2).max(1));
        let terminators = argv.get(4).cloned().unwrap_or_else(|| "#".into());
        let var = argv.get(7).cloned().unwrap_or_default();
        let regex = argv.get(8).cloned().unwrap_or_default();
        let invalid_var = format!("{var}_invalid");
        if !regex.is_empty() {
            self.vars.remove(&invalid_var);
        }
        for _ in 0..tries {
            // Keys waiting on the channel come first; a caller who typed ahead then pauses, so
            // the try takes nothing more from them (as the simulator's caller does).
            let input: String = if self.queued.is_empty() {
                self.scenario.keys.pop_front().unwrap_or_default()
            } else {
                self.queued.drain(..).collect()
            };
            self.vars.remove("read_result");
            self.vars.remove(&var);
            let mut digits = String::new();
            let mut terminator = None;
            let mut keys = input.chars();
            for key in keys.by_ref() {
                self.dtmf(key).await;
                if terminators.contains(key) {
                    terminator = Some(key);
                    break;
                }
                digits.push(key);
                if digits.len() == max {
                    break;
                }
            }
            // Keys pressed after the ones the try took wait on the channel.
            self.queued.extend(keys);
            let mut status =
                if terminator.is_some() || digits.len() == max { Read::Success } else { Read::Timeout };
            if let Some(key) = terminator {
                self.vars.insert("read_terminator_used".into(), key.to_string());
            }
            if min > 0 && digits.len() < min {
                status = Read::TooSmall;
            }
            let result = match status {
                Read::Success => "success",
                Read::Timeout => "timeout",
                Read::TooSmall => "failure",
            };
            self.vars.insert("read_result".into(), result.into());
            if !digits.is_empty() {
                self.vars.insert(var.clone(), digits.clone());
            }
            if status == Read::Timeout && digits.len() >= min {
                status = Read::Success;
            }
            // `read_terminator_used` is never cleared: a terminator of any earlier read counts.
            if min == 0 && digits.is_empty() && self.vars.contains_key("read_terminator_used") {
                return;
            }
            if status == Read::Success && !digits.is_empty() {
                let matched = regex.is_empty()
                    || regex::Regex::new(&regex).map(|re| re.is_match(&digits)).unwrap_or(false);
                if matched {
                    return;
                }
                self.vars.remove(&var);
                self.vars.insert(invalid_var.clone(), digits.clone());
            }
        }
    }

    async fn record(&mut self, arg: &str) {
        let mut result = self.scenario.records.pop_front().unwrap_or_default();
        let argv = fs_words(arg);
        self.vars.insert("playback_terminator_used".into(), String::new());
        if self.media_takes_keys().await.is_some() {
            // A terminator typed ahead stops the recording before it writes anything.
            result = RecordResult { ms: 0, key: None, silence_exhausted: false };
        }
        if let Some(key) = result.key {
            self.dtmf(key).await;
            let terminators = self.vars.get("playback_terminators").cloned().unwrap_or_else(|| "*".into());
            if terminators != "none" && terminators.contains(key) {
                self.vars.insert("playback_terminator_used".into(), key.to_string());
            }
        }
        self.clock_us += result.ms * 1000;
        self.vars.insert("record_ms".into(), result.ms.to_string());
        self.vars.insert("record_seconds".into(), (result.ms / 1000).to_string());
        self.vars.insert("record_samples".into(), (result.ms * 8).to_string());
        self.vars.insert("silence_hits_exhausted".into(), result.silence_exhausted.to_string());
        self.vars.insert("record_file_size".into(), (result.ms * 16 + 44).to_string());
        if let Some(path) = argv.first() {
            self.vars.insert("rivr_test_last_recording".into(), path.clone());
        }
    }

    /// `bridge`: the originate's variables on the caller leg, the bridge events, and what
    /// FreeSWITCH does to the caller afterwards. Returns the cause to hang the caller up with.
    ///
    /// The variables a bridge writes are replayed from the outbound-dial capture, outcome by
    /// outcome ([`captured_bridge_variables`]), so whatever an earlier bridge left stays on the
    /// channel as it does on a real switch.
    async fn bridge(&mut self, arg: &str) -> Option<String> {
        let t = templates();
        let legs = arg.find('}').map_or(arg, |close| &arg[close + 1..]);
        let legs: Vec<&str> = legs.split([',', '|']).collect();
        let result = self
            .scenario
            .dials
            .pop_front()
            .unwrap_or(DialResult::Answered { leg: 0, talk: Duration::from_secs(30) });
        let captured = captured_bridge_variables();
        let written: Vec<(String, String)> = match &result {
            DialResult::Answered { .. } => captured[0].clone(),
            DialResult::Busy => captured[1].clone(),
            DialResult::NoAnswer => captured[2].clone(),
            DialResult::Failed("NO_ROUTE_DESTINATION") => captured[3].clone(),
            DialResult::Failed("CALL_REJECTED") => captured[4].clone(),
            // Any other cause is written as the no-route bridge writes its own.
            DialResult::Failed(cause) => captured[3]
                .iter()
                .map(|(name, value)| (name.clone(), value.replace("NO_ROUTE_DESTINATION", cause)))
                .collect(),
        };
        if let DialResult::Answered { leg, talk } = result {
            let peer = uuid::Uuid::new_v4().to_string();
            let bridge_fields = vec![
                ("Event-Name", "CHANNEL_BRIDGE".to_string()),
                ("Bridge-A-Unique-ID", self.scenario.uuid.clone()),
                ("Bridge-B-Unique-ID", peer.clone()),
            ];
            // Before the bridge: the originate's result (captured CHANNEL_BRIDGE carries it).
            for (name, value) in &written {
                if name == "originate_disposition" || name == "DIALSTATUS" {
                    self.vars.insert(name.clone(), value.clone());
                }
            }
            self.send_event(&t.execute, &bridge_fields, false).await;
            // The bridge passes every key on the caller's channel to the far end
            // (`audio_bridge_thread`), taking it off the queue.
            while let Some(key) = self.queued.pop_front() {
                self.dtmf(key).await;
            }
            self.clock_us += talk.as_micros() as u64;
            let mut unbridge = bridge_fields;
            unbridge[0].1 = "CHANNEL_UNBRIDGE".into();
            self.send_event(&t.execute, &unbridge, false).await;
            self.vars.extend(written);
            let imports = self.vars.get("import").cloned().unwrap_or_default();
            if let Some(number) = legs.get(leg).and_then(|l| leg_number(l)) {
                if imports.split(',').any(|v| v == "rivr_dial_leg") {
                    self.vars.insert("rivr_dial_leg".into(), number);
                }
            }
            let hangup_after = self.vars.get("hangup_after_bridge").is_none_or(|v| v != "false");
            return hangup_after.then(|| "NORMAL_CLEARING".to_string());
        }
        let cause = written
            .iter()
            .find(|(name, _)| name == "originate_disposition")
            .map(|(_, cause)| cause.clone())
            .expect("a failed bridge writes its disposition");
        self.vars.extend(written);
        // switch_channel_handle_cause: without continue_on_fail the caller goes down too.
        let continues = self.vars.get("continue_on_fail").is_some_and(|v| v == "true");
        (!continues).then_some(cause)
    }
}

/// What each `bridge` of the outbound-dial capture wrote on the caller's channel: the variables
/// of its completion that differ from its start, in capture order (answered, busy, no answer,
/// no route, rejected, parallel, sequential). Only the dial's own variables are kept (not the
/// lists of every leg so far, `originated_legs` and `originate_causes`).
pub fn captured_bridge_variables() -> &'static Vec<Vec<(String, String)>> {
    static WRITTEN: OnceLock<Vec<Vec<(String, String)>>> = OnceLock::new();
    WRITTEN.get_or_init(|| {
        let events: Vec<Event> = frames_of("outbound-dial")
            .iter()
            .filter(|f| f.content_type() == ContentType::EventPlain)
            .map(event_of)
            .filter(|e| e.header("Application") == Some("bridge"))
            .collect();
        let starts = events.iter().filter(|e| e.name() == Some("CHANNEL_EXECUTE"));
        let completions = events.iter().filter(|e| e.name() == Some("CHANNEL_EXECUTE_COMPLETE"));
        starts
            .zip(completions)
            .map(|(start, complete)| {
                complete
                    .iter()
                    .filter_map(|(name, value)| {
                        let var = name.strip_prefix("variable_")?;
                        let skip = var.starts_with("current_application")
                            || var == "originated_legs"
                            || var == "originate_causes";
                        (!skip && start.header(name) != Some(value))
                            .then(|| (var.to_string(), value.to_string()))
                    })
                    .collect()
            })
            .collect()
    })
}

/// FreeSWITCH's `recordings_dir` global on an install built from source (the captures' lab).
pub const RECORDINGS_DIR: &str = "/usr/local/freeswitch/recordings";

/// Applications that take media time on a real switch.
const MEDIA_APPS: &[&str] = &["playback", "speak", "say", "play_and_get_digits", "record", "bridge", "sleep"];

fn leg_number(leg: &str) -> Option<String> {
    let start = leg.find("rivr_dial_leg=")? + "rivr_dial_leg=".len();
    let digits: String = leg[start..].chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

// FreeSWITCH's argument parsing lives in `fs_parsers`, shared with the mapping's unit tests.
pub use super::fs_parsers::expand as fs_expand;
use super::fs_parsers::words as fs_words;
