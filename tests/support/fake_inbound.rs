//! A fake FreeSWITCH event socket in inbound mode, speaking the bytes captured from FreeSWITCH
//! 1.10.12 (`tests/fixtures/esl/inbound-*.fs2app.raw`).
//!
//! It listens on `127.0.0.1:0` and, like `mod_event_socket.c`, sends `auth/request`, checks the
//! password (`-ERR invalid`, the disconnect notice and a close on a wrong one, as captured),
//! and answers `event`, `filter`, `nixevent`, `noevents`, `api`, `bgapi` and `exit`. Every
//! reply, event and notice it sends is a captured frame, changed only where a uuid, a job id or
//! a job's output must differ (uuids keep their length, so captured `Content-Length`s stay
//! right). It delivers events only to connections subscribed to them, in their format.
//!
//! For tests it can: script `originate` outcomes (every one seen in inbound-misc and the
//! inbound-nolinger race), hold `bgapi` jobs and finish them in any order, stream the captured
//! event sequence of a call for many calls at once, answer an `api` with a malformed frame,
//! answer `api uuid_exists <uuid>` (`true` for a uuid it was asked to originate, `false`
//! otherwise, as mod_commands writes them), and restart (drop every socket and listen again on
//! the same port).

#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::BytesMut;
use rivr::switch::freeswitch::event::Event;
use rivr::switch::freeswitch::frame::{ContentType, Frame, FrameDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The password the captures used.
pub const CAPTURED_PASSWORD: &str = "ClueCon";

/// A scripted `api` answer.
#[derive(Clone, Debug)]
pub enum ApiReply {
    /// An `api/response` with this body.
    Body(String),
    /// Bytes that are not an ESL frame (a non-numeric `Content-Length`).
    Malformed,
    /// An `api/response` with this body, sent only after
    /// [`FakeFreeswitch::release_delayed`]. Like FreeSWITCH running a slow `api`, the
    /// connection reads no further command meanwhile.
    Delayed(String),
}

/// The fake server. Dropping it stops it.
pub struct FakeFreeswitch {
    addr: SocketAddr,
    state: Arc<State>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl FakeFreeswitch {
    /// Starts a fake that accepts `password`.
    pub async fn start(password: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            captures: Captures::load(),
            password: Mutex::new(password.to_owned()),
            hold_jobs: Mutex::new(false),
            held: Mutex::new(Vec::new()),
            api: Mutex::new(HashMap::new()),
            originate: Mutex::new(HashMap::new()),
            conns: Mutex::new(HashMap::new()),
            next_conn: Mutex::new(0),
            log: Mutex::new(Vec::new()),
            changed: watch::Sender::new(0),
            release: watch::Sender::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, state.clone()));
        Self { addr, state, accept: Mutex::new(Some(accept)) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Changes the password from now on.
    pub fn set_password(&self, password: &str) {
        *lock(&self.state.password) = password.to_owned();
    }

    /// Answers `api <command>` (the whole line after `api `) with `reply` from now on.
    pub fn on_api(&self, command: &str, reply: ApiReply) {
        lock(&self.state.api).insert(command.to_owned(), reply);
    }

    /// Sends the replies held by [`ApiReply::Delayed`].
    pub fn release_delayed(&self) {
        self.state.release.send_modify(|n| *n += 1);
    }

    /// Makes `originate` to `loopback/<extension>/...` end with `output` (e.g. `-ERR
    /// DESTINATION_OUT_OF_ORDER\n`). The captured outcomes are there without this: `busy`,
    /// `reject`, `noanswer`, `ring`, `nosuchext`, `answer` (inbound-misc) and `race`
    /// (`-ERR NORMAL_CLEARING`, inbound-nolinger).
    pub fn on_originate(&self, extension: &str, output: &str) {
        lock(&self.state.originate).insert(extension.to_owned(), output.to_owned());
    }

    /// Holds every `bgapi` job from now on until [`release_jobs`](Self::release_jobs).
    pub fn hold_jobs(&self) {
        *lock(&self.state.hold_jobs) = true;
    }

    /// Waits until `count` jobs are held.
    pub async fn wait_held_jobs(&self, count: usize) {
        self.wait_until(|state| lock(&state.held).len() >= count).await;
    }

    /// Finishes the held jobs, last received first, and stops holding.
    pub fn release_jobs_in_reverse(&self) {
        *lock(&self.state.hold_jobs) = false;
        let held: Vec<HeldJob> = std::mem::take(&mut *lock(&self.state.held));
        for job in held.into_iter().rev() {
            self.state.finish_job(job);
        }
    }

    /// Every command line received so far, in order.
    pub fn commands(&self) -> Vec<String> {
        lock(&self.state.log).clone()
    }

    /// The `origination_uuid` of every `originate` received (by `api` or `bgapi`), in order,
    /// repeats included.
    pub fn originated_uuids(&self) -> Vec<String> {
        originated_in(&lock(&self.state.log)).map(str::to_owned).collect()
    }

    /// Waits until a received command line starts with `prefix`, and returns it.
    pub async fn wait_for_command(&self, prefix: &str) -> String {
        let mut found = None;
        self.wait_until(|state| {
            found = lock(&state.log).iter().find(|line| line.starts_with(prefix)).cloned();
            found.is_some()
        })
        .await;
        found.expect("found")
    }

    /// Waits until `count` connections have subscribed to `event_name` (or `ALL`).
    pub async fn wait_subscribed(&self, event_name: &str, count: usize) {
        self.wait_until(|state| {
            lock(&state.conns).values().filter(|conn| lock(&conn.subs).wants(event_name)).count() >= count
        })
        .await;
    }

    /// Streams the captured events of one call for each uuid, interleaved: the first event of
    /// every call, then the second of every call, and so on. Plain subscribers get the a-leg
    /// events of inbound-pagd-all-events, JSON subscribers those of inbound-dtmfwait-json.
    /// Queued at once; written as fast as the client reads.
    pub fn stream_calls(&self, uuids: &[String]) {
        let captures = &self.state.captures;
        for (templates, json) in [(&captures.call_plain, false), (&captures.call_json, true)] {
            for template in templates.iter() {
                for uuid in uuids {
                    self.state.send_to_format(&template.name, &template.with_uuid(uuid), json);
                }
            }
        }
    }

    /// The `Event-Name`s each streamed call gets, in order, in plain or JSON subscriptions.
    pub fn streamed_event_names(&self, json: bool) -> Vec<String> {
        let captures = &self.state.captures;
        let templates = if json { &captures.call_json } else { &captures.call_plain };
        templates.iter().map(|template| template.name.clone()).collect()
    }

    /// Closes every connection and listens again on the same port.
    pub async fn restart(&self) {
        let accept = lock(&self.accept).take();
        if let Some(accept) = accept {
            accept.abort();
            let _ = accept.await;
        }
        let conns: Vec<Conn> = lock(&self.state.conns).drain().map(|(_, c)| c).collect();
        for conn in conns {
            conn.task.abort();
            let _ = conn.task.await;
        }
        let listener = TcpListener::bind(self.addr).await.expect("rebind");
        *lock(&self.accept) = Some(tokio::spawn(accept_loop(listener, self.state.clone())));
        self.state.changed.send_modify(|n| *n += 1);
    }

    async fn wait_until(&self, mut done: impl FnMut(&State) -> bool) {
        let mut changed = self.state.changed.subscribe();
        loop {
            if done(&self.state) {
                return;
            }
            changed.changed().await.expect("fake alive");
        }
    }
}

impl Drop for FakeFreeswitch {
    fn drop(&mut self) {
        if let Some(accept) = lock(&self.accept).take() {
            accept.abort();
        }
        for (_, conn) in lock(&self.state.conns).drain() {
            conn.task.abort();
        }
    }
}

/// The frames the fake speaks, cut from the captures.
struct Captures {
    auth_request: Vec<u8>,
    auth_accepted: Vec<u8>,
    /// `-ERR invalid` followed by the disconnect notice, as in inbound-authfail.
    auth_invalid: Vec<u8>,
    /// `+OK bye` followed by the disconnect notice, as at the end of inbound-misc.
    bye: Vec<u8>,
    listener_plain: Vec<u8>,
    listener_json: Vec<u8>,
    nixed: Vec<u8>,
    no_events: Vec<u8>,
    command_not_found: Vec<u8>,
    /// Replies to `api <command>` as captured, by command.
    api: HashMap<String, Vec<u8>>,
    /// The `BACKGROUND_JOB` of `bgapi status` (inbound-misc), decoded.
    job_plain: Event,
    /// The `BACKGROUND_JOB` of `bgapi originate` (inbound-dtmfwait-json), decoded.
    job_json: Event,
    /// `originate` results by loopback extension (inbound-misc), plus the nolinger race.
    originate: HashMap<String, String>,
    /// The answered call's events (inbound-misc, loopback/answer-a).
    answered_plain: Vec<Template>,
    /// One call's a-leg events, plain (inbound-pagd-all-events) and JSON
    /// (inbound-dtmfwait-json).
    call_plain: Vec<Template>,
    call_json: Vec<Template>,
}

impl Captures {
    fn load() -> Self {
        let authfail = frames(&fixture("inbound-authfail.fs2app.raw"));
        let misc_fs = frames(&fixture("inbound-misc.fs2app.raw"));
        let misc_app = commands(&fixture("inbound-misc.app2fs.raw"));
        let misc = pair_replies(&misc_app, &misc_fs);
        let reply_to = |command: &str| -> Vec<u8> {
            misc.iter()
                .find(|(line, _)| line == command)
                .map(|(_, raw)| raw.clone())
                .unwrap_or_else(|| panic!("no captured reply to {command:?}"))
        };
        let notice_after = |frames: &[Raw], reply: &[u8]| -> Vec<u8> {
            let at = frames.iter().position(|frame| frame.bytes == reply).expect("reply captured");
            let notice = &frames[at + 1];
            assert_eq!(notice.frame.content_type(), ContentType::DisconnectNotice);
            [reply, &notice.bytes[..]].concat()
        };
        let invalid = authfail[1].bytes.clone();
        let bye = reply_to("exit");

        let mut api = HashMap::new();
        for (line, raw) in &misc {
            if let Some(command) = line.strip_prefix("api ") {
                api.insert(command.to_owned(), raw.clone());
            }
        }
        let pagd_fs = frames(&fixture("inbound-pagd-all-events.fs2app.raw"));
        let pagd_app = commands(&fixture("inbound-pagd-all-events.app2fs.raw"));
        for (line, raw) in pair_replies(&pagd_app, &pagd_fs) {
            if line == "api status" {
                api.insert("status".to_owned(), raw);
            }
        }

        let mut originate = HashMap::new();
        for (line, raw) in &misc {
            let Some(rest) = line.strip_prefix("api originate ") else {
                continue;
            };
            let dial = rest.split_whitespace().next().expect("dial string");
            let dial = dial.rsplit('}').next().expect("after vars");
            let extension = dial.split('/').nth(1).expect("loopback extension");
            let body = frames(raw)[0].frame.body_text().expect("body").into_owned();
            originate.insert(extension.to_owned(), body);
        }
        let race = events(&frames(&fixture("inbound-nolinger-originate-race.fs2app.raw")))
            .into_iter()
            .find(|event| event.name() == Some("BACKGROUND_JOB"))
            .expect("race job");
        originate.insert("race".to_owned(), race.body().expect("race body").to_owned());

        let misc_events = events(&misc_fs);
        let job_plain = misc_events
            .iter()
            .find(|event| event.name() == Some("BACKGROUND_JOB"))
            .expect("status job")
            .clone();
        let answered_uuid = originate["answer"].trim().strip_prefix("+OK ").expect("answered").to_owned();
        let answered_plain = misc_fs
            .iter()
            .filter(|raw| is_event_of(raw, &answered_uuid))
            .filter(|raw| {
                let name = event_name(raw);
                name == "CHANNEL_CREATE" || name == "CHANNEL_ANSWER"
            })
            .map(|raw| Template::new(raw, &answered_uuid))
            .collect();

        let pagd_uuid = api_reply_uuid(&pagd_fs);
        let call_plain: Vec<Template> = pagd_fs
            .iter()
            .filter(|raw| is_event_of(raw, &pagd_uuid))
            .map(|raw| Template::new(raw, &pagd_uuid))
            .collect();
        let dtmf_fs = frames(&fixture("inbound-dtmfwait-json.fs2app.raw"));
        let dtmf_events = events(&dtmf_fs);
        let job_json = dtmf_events
            .iter()
            .find(|event| event.name() == Some("BACKGROUND_JOB"))
            .expect("json job")
            .clone();
        let json_uuid = job_json
            .body()
            .and_then(|body| body.trim().strip_prefix("+OK "))
            .expect("json answered")
            .to_owned();
        let call_json = dtmf_fs
            .iter()
            .filter(|raw| is_event_of(raw, &json_uuid))
            .map(|raw| Template::new(raw, &json_uuid))
            .collect();

        // The fake's BACKGROUND_JOB frames are the captured ones: a captured job rebuilt by the
        // fake with that job's own values must give back the captured bytes.
        for (fs, command, arg) in [
            (&misc_fs, "status", None),
            (
                &frames(&fixture("inbound-nolinger-originate-race.fs2app.raw")),
                "originate",
                Some("loopback/9004/default &park"),
            ),
        ] {
            let raw = fs.iter().find(|raw| event_name(raw) == "BACKGROUND_JOB").expect("captured job");
            let event = Event::from_frame(&raw.frame).expect("job decodes");
            let job = HeldJob {
                uuid: event.job_uuid().expect("job uuid").to_owned(),
                command: command.to_owned(),
                arg: arg.map(str::to_owned),
                output: event.body().expect("job output").to_owned(),
            };
            assert_eq!(
                String::from_utf8_lossy(&plain_job_frame(&event, &job)),
                String::from_utf8_lossy(&raw.bytes),
                "the fake's BACKGROUND_JOB differs from the capture"
            );
        }

        let find_reply = |text: &str| -> Vec<u8> {
            misc_fs
                .iter()
                .find(|raw| raw.frame.reply_text() == Some(text))
                .map(|raw| raw.bytes.clone())
                .unwrap_or_else(|| panic!("no captured {text:?}"))
        };
        Self {
            auth_request: misc_fs[0].bytes.clone(),
            auth_accepted: reply_to("auth ClueCon"),
            auth_invalid: notice_after(&authfail, &invalid),
            bye: notice_after(&misc_fs, &bye),
            listener_plain: find_reply("+OK event listener enabled plain"),
            listener_json: find_reply("+OK event listener enabled json"),
            nixed: find_reply("+OK events nixed"),
            no_events: find_reply("+OK no longer listening for events"),
            command_not_found: find_reply("-ERR command not found"),
            api,
            job_plain,
            job_json,
            originate,
            answered_plain,
            call_plain,
            call_json,
        }
    }
}

/// A captured event frame whose uuid can be swapped for another of the same length.
#[derive(Clone)]
struct Template {
    name: String,
    bytes: Vec<u8>,
    uuid: String,
}

impl Template {
    fn new(raw: &Raw, uuid: &str) -> Self {
        Self { name: event_name(raw), bytes: raw.bytes.clone(), uuid: uuid.to_owned() }
    }

    /// The frame with every occurrence of the captured uuid replaced. Both are 36-byte uuids,
    /// so every `Content-Length` stays right.
    fn with_uuid(&self, uuid: &str) -> Vec<u8> {
        assert_eq!(uuid.len(), self.uuid.len(), "uuids must keep their length");
        replace_all(&self.bytes, self.uuid.as_bytes(), uuid.as_bytes())
    }
}

struct State {
    captures: Captures,
    password: Mutex<String>,
    hold_jobs: Mutex<bool>,
    held: Mutex<Vec<HeldJob>>,
    api: Mutex<HashMap<String, ApiReply>>,
    /// Scripted originate results by loopback extension, before the captured ones.
    originate: Mutex<HashMap<String, String>>,
    conns: Mutex<HashMap<u64, Conn>>,
    next_conn: Mutex<u64>,
    log: Mutex<Vec<String>>,
    /// Bumped on every change tests may wait for.
    changed: watch::Sender<u64>,
    /// Bumped to send the replies of [`ApiReply::Delayed`].
    release: watch::Sender<u64>,
}

struct Conn {
    out: mpsc::UnboundedSender<Vec<u8>>,
    subs: Arc<Mutex<Subs>>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Subs {
    authed: bool,
    json: bool,
    all: bool,
    names: HashSet<String>,
    filters: Vec<(String, String)>,
}

impl Subs {
    fn wants(&self, name: &str) -> bool {
        self.authed && (self.all || self.names.contains(name))
    }
}

struct HeldJob {
    uuid: String,
    command: String,
    arg: Option<String>,
    output: String,
}

impl State {
    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Sends a plain event frame to every connection subscribed to it; JSON subscribers get
    /// the same event in FreeSWITCH's JSON form.
    fn broadcast(&self, name: &str, plain: &[u8]) {
        self.send_to_format(name, plain, false);
        if lock(&self.conns).values().any(|conn| lock(&conn.subs).json) {
            if let Some(event) = decode_event(plain) {
                let json = event_frame("text/event-json", json_object(&event).as_bytes());
                self.send_to_format(name, &json, true);
            }
        }
    }

    /// Sends an event frame to the connections subscribed to it in one format.
    fn send_to_format(&self, name: &str, frame: &[u8], json: bool) {
        let mut event = None;
        for conn in lock(&self.conns).values() {
            let subs = lock(&conn.subs);
            if subs.json != json || !subs.wants(name) {
                continue;
            }
            if !subs.filters.is_empty() {
                let event = event.get_or_insert_with(|| decode_event(frame));
                if !passes_filters(&subs.filters, event.as_ref()) {
                    continue;
                }
            }
            let _ = conn.out.send(frame.to_vec());
        }
    }

    fn finish_job(&self, job: HeldJob) {
        let json = job_event(&self.captures.job_json, &job);
        let plain_frame = plain_job_frame(&self.captures.job_plain, &job);
        let json_frame = event_frame("text/event-json", json_object(&json).as_bytes());
        self.send_to_format("BACKGROUND_JOB", &plain_frame, false);
        self.send_to_format("BACKGROUND_JOB", &json_frame, true);
    }

    fn originate_output(&self, arg: &str) -> String {
        let dial = arg.split_whitespace().next().unwrap_or_default();
        let (vars, dial) = match dial.strip_prefix('{').and_then(|rest| rest.split_once('}')) {
            Some((vars, dial)) => (vars, dial),
            None => ("", dial),
        };
        let extension = dial.split('/').nth(1).unwrap_or_default();
        let scripted = lock(&self.originate).get(extension).cloned();
        let Some(output) = scripted.or_else(|| self.captures.originate.get(extension).cloned()) else {
            return "-ERR NO_ROUTE_DESTINATION\n".to_owned();
        };
        if !output.starts_with("+OK") {
            return output;
        }
        let uuid = vars
            .split(',')
            .find_map(|var| var.strip_prefix("origination_uuid="))
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        // The new channel's events come before the job's result, as FreeSWITCH sends them.
        for template in &self.captures.answered_plain {
            self.broadcast(&template.name, &template.with_uuid(&uuid));
        }
        format!("+OK {uuid}\n")
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let id = {
            let mut next = lock(&state.next_conn);
            *next += 1;
            *next
        };
        let (out, rx) = mpsc::unbounded_channel();
        let subs = Arc::new(Mutex::new(Subs::default()));
        let task = tokio::spawn(serve(stream, state.clone(), id, out.clone(), rx, subs.clone()));
        lock(&state.conns).insert(id, Conn { out, subs, task });
        state.bump();
    }
}

async fn serve(
    stream: TcpStream,
    state: Arc<State>,
    id: u64,
    out: mpsc::UnboundedSender<Vec<u8>>,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    subs: Arc<Mutex<Subs>>,
) {
    let (mut reader, mut writer) = stream.into_split();
    let _ = out.send(state.captures.auth_request.clone());
    // Writes go through one task so events from other tasks and replies keep one order.
    let write = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if bytes.is_empty() {
                let _ = writer.shutdown().await;
                return;
            }
            if writer.write_all(&bytes).await.is_err() {
                return;
            }
        }
    });
    let mut buf = BytesMut::new();
    'read: loop {
        while let Some(command) = take_command(&mut buf).expect("whole commands") {
            // Subscribed before the command is visible to tests, so a release that follows
            // seeing the command is never missed.
            let mut release = state.release.subscribe();
            lock(&state.log).push(command.line.clone());
            state.bump();
            match handle(&state, &out, &subs, command) {
                Handled::Continue => {}
                Handled::Close => break 'read,
                Handled::After(bytes) => {
                    if release.changed().await.is_err() {
                        break 'read;
                    }
                    let _ = out.send(bytes);
                }
            }
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    // An empty buffer asks the writer to close after everything queued before it.
    let _ = out.send(Vec::new());
    let _ = write.await;
    lock(&state.conns).remove(&id);
    state.bump();
}

/// What the connection does after a command.
enum Handled {
    Continue,
    Close,
    /// Send these bytes once the test releases them, reading nothing meanwhile.
    After(Vec<u8>),
}

/// Answers one command.
fn handle(
    state: &State,
    out: &mpsc::UnboundedSender<Vec<u8>>,
    subs: &Mutex<Subs>,
    command: Command,
) -> Handled {
    let captures = &state.captures;
    let (word, rest) = command.line.split_once(' ').unwrap_or((command.line.as_str(), ""));
    let send = |bytes: Vec<u8>| {
        let _ = out.send(bytes);
    };
    if word == "exit" {
        send(captures.bye.clone());
        return Handled::Close;
    }
    if !lock(subs).authed {
        if word == "auth" && rest == *lock(&state.password) {
            lock(subs).authed = true;
            send(captures.auth_accepted.clone());
            return Handled::Continue;
        }
        if word == "auth" {
            send(captures.auth_invalid.clone());
            return Handled::Close;
        }
        send(reply_frame("-ERR command not found"));
        return Handled::Continue;
    }
    match word {
        "event" => {
            let mut words = rest.split_whitespace();
            let format = words.next().unwrap_or("plain");
            let mut subs = lock(subs);
            subs.json = format == "json";
            for name in words {
                if name == "ALL" {
                    subs.all = true;
                } else {
                    subs.names.insert(name.to_owned());
                }
            }
            drop(subs);
            send(if format == "json" {
                captures.listener_json.clone()
            } else {
                captures.listener_plain.clone()
            });
            state.bump();
        }
        "nixevent" => {
            let mut subs = lock(subs);
            for name in rest.split_whitespace() {
                subs.names.remove(name);
            }
            drop(subs);
            send(captures.nixed.clone());
        }
        "noevents" => {
            let mut subs = lock(subs);
            subs.all = false;
            subs.names.clear();
            drop(subs);
            send(captures.no_events.clone());
        }
        "filter" => match rest.strip_prefix("delete ") {
            Some(args) => {
                let (header, value) = args.split_once(' ').unwrap_or((args, ""));
                lock(subs).filters.retain(|(h, v)| !(h == header && (value.is_empty() || v == value)));
                send(reply_frame(&format!("+OK filter deleted. [{header}][{value}]")));
            }
            None => {
                let (header, value) = rest.split_once(' ').unwrap_or((rest, ""));
                lock(subs).filters.push((header.to_owned(), value.to_owned()));
                send(reply_frame(&format!("+OK filter added. [{header}]=[{value}]")));
            }
        },
        "api" => {
            let scripted = lock(&state.api).get(rest).cloned();
            match scripted {
                Some(ApiReply::Body(body)) => send(api_frame(&body)),
                Some(ApiReply::Delayed(body)) => return Handled::After(api_frame(&body)),
                Some(ApiReply::Malformed) => {
                    send(b"Content-Type: api/response\nContent-Length: twelve\n\n".to_vec())
                }
                None => {
                    let (api_command, arg) = rest.split_once(' ').unwrap_or((rest, ""));
                    if api_command == "originate" {
                        send(api_frame(&state.originate_output(arg)));
                    } else if let Some(raw) = captures.api.get(rest) {
                        send(raw.clone());
                    } else if api_command == "uuid_exists" {
                        // mod_commands writes `true` or `false`, no line break; the fake's
                        // channels live from their originate on (none ever hangs up).
                        let exists =
                            !arg.is_empty() && originated_in(&lock(&state.log)).any(|uuid| uuid == arg);
                        send(api_frame(if exists { "true" } else { "false" }));
                    } else if api_command == "uuid_kill" {
                        // The captured `uuid_kill` reply, for any uuid.
                        send(api_frame("+OK\n"));
                    } else {
                        send(api_frame(&format!("-ERR {api_command} Command not found!\n")));
                    }
                }
            }
        }
        "bgapi" => {
            let uuid = command
                .headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("Job-UUID"))
                .map(|(_, value)| value.clone())
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            send(
                format!(
                    "Content-Type: command/reply\nReply-Text: +OK Job-UUID: {uuid}\nJob-UUID: {uuid}\n\n"
                )
                .into_bytes(),
            );
            let (api_command, arg) = match rest.split_once(' ') {
                Some((command, arg)) => (command.to_owned(), Some(arg.to_owned())),
                None => (rest.to_owned(), None),
            };
            let output = if api_command == "originate" {
                state.originate_output(arg.as_deref().unwrap_or_default())
            } else if let Some(ApiReply::Body(body)) = lock(&state.api).get(rest).cloned() {
                body
            } else if api_command == "status" {
                job_body(&captures.api["status"])
            } else {
                format!("-ERR {api_command} Command not found!\n")
            };
            let job = HeldJob { uuid, command: api_command, arg, output };
            if *lock(&state.hold_jobs) {
                lock(&state.held).push(job);
                state.bump();
            } else {
                state.finish_job(job);
            }
        }
        _ => send(captures.command_not_found.clone()),
    }
    Handled::Continue
}

/// The `origination_uuid`s set by the `originate` commands in `log`.
fn originated_in(log: &[String]) -> impl Iterator<Item = &str> {
    log.iter()
        .filter(|line| line.starts_with("api originate ") || line.starts_with("bgapi originate "))
        .filter_map(|line| {
            let vars = line.split_once('{')?.1.split_once('}')?.0;
            vars.split(',').find_map(|var| var.strip_prefix("origination_uuid="))
        })
}

fn passes_filters(filters: &[(String, String)], event: Option<&Event>) -> bool {
    let Some(event) = event else {
        return true;
    };
    filters.iter().any(|(header, value)| event.header(header) == Some(value.as_str()))
}

/// A `BACKGROUND_JOB` frame in plain format, as `mod_event_socket.c` writes it.
fn plain_job_frame(template: &Event, job: &HeldJob) -> Vec<u8> {
    let mut body = Vec::new();
    job_event(template, job).encode_plain(&mut body).expect("encode job");
    event_frame("text/event-plain", &body)
}

fn job_event(template: &Event, job: &HeldJob) -> Event {
    let mut headers = rivr::switch::freeswitch::headers::Headers::new();
    for (name, value) in template.iter() {
        match name {
            "Job-UUID" => headers.push(name, &job.uuid),
            "Job-Command" => {
                headers.push(name, &job.command);
                if let Some(arg) = &job.arg {
                    headers.push("Job-Command-Arg", arg);
                }
            }
            "Job-Command-Arg" | "Content-Length" => {}
            _ => headers.push(name, value),
        }
    }
    Event::new(headers, Some(job.output.clone()))
}

/// The JSON form FreeSWITCH writes: string members in header order, the body under `_body`.
fn json_object(event: &Event) -> String {
    let mut members: Vec<String> = event
        .iter()
        .filter(|(name, _)| *name != "Content-Length")
        .map(|(name, value)| {
            format!(
                "{}:{}",
                serde_json::to_string(name).expect("json"),
                serde_json::to_string(value).expect("json")
            )
        })
        .collect();
    if let Some(body) = event.body() {
        members.push(format!("\"Content-Length\":\"{}\"", body.len()));
        members.push(format!("\"_body\":{}", serde_json::to_string(body).expect("json")));
    }
    format!("{{{}}}", members.join(","))
}

use super::esl_wire::{api_frame, event_frame, reply_frame, take_command, Command};

fn job_body(api_reply: &[u8]) -> String {
    frames(api_reply)[0].frame.body_text().expect("body").into_owned()
}

/// One decoded frame and the exact bytes it came from.
struct Raw {
    frame: Frame,
    bytes: Vec<u8>,
}

fn frames(bytes: &[u8]) -> Vec<Raw> {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    let mut offset = 0;
    while let Some(frame) = decoder.decode(&mut buf).expect("captured frames decode") {
        let used = bytes.len() - offset - buf.len();
        out.push(Raw { frame, bytes: bytes[offset..offset + used].to_vec() });
        offset += used;
    }
    out
}

fn events(frames: &[Raw]) -> Vec<Event> {
    frames
        .iter()
        .filter(|raw| raw.frame.content_type().is_event())
        .map(|raw| Event::from_frame(&raw.frame).expect("captured event decodes"))
        .collect()
}

fn decode_event(bytes: &[u8]) -> Option<Event> {
    let raw = frames(bytes).into_iter().next()?;
    Event::from_frame(&raw.frame).ok()
}

fn event_name(raw: &Raw) -> String {
    Event::from_frame(&raw.frame).ok().and_then(|event| event.name().map(str::to_owned)).unwrap_or_default()
}

fn is_event_of(raw: &Raw, uuid: &str) -> bool {
    raw.frame.content_type().is_event()
        && Event::from_frame(&raw.frame).map(|event| event.unique_id() == Some(uuid)).unwrap_or(false)
}

/// The a-leg uuid from the `BACKGROUND_JOB` of a capture's `bgapi originate`.
fn api_reply_uuid(frames: &[Raw]) -> String {
    events(frames)
        .into_iter()
        .find(|event| event.name() == Some("BACKGROUND_JOB"))
        .and_then(|event| event.body().and_then(|body| body.trim().strip_prefix("+OK ")).map(str::to_owned))
        .expect("originate job")
}

/// The client's commands in a capture (first lines only), in order.
fn commands(bytes: &[u8]) -> Vec<String> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(command) = take_command(&mut buf).expect("captured commands") {
        out.push(command.line);
    }
    out
}

/// Pairs each command with the reply FreeSWITCH sent to it (replies come in command order).
fn pair_replies(commands: &[String], frames: &[Raw]) -> Vec<(String, Vec<u8>)> {
    let replies: VecDeque<&Raw> = frames
        .iter()
        .filter(|raw| {
            matches!(raw.frame.content_type(), ContentType::CommandReply | ContentType::ApiResponse)
        })
        .collect();
    commands.iter().cloned().zip(replies.into_iter().map(|raw| raw.bytes.clone())).collect()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/esl/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {path}: {err}"))
}

fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(from.len()).position(|window| window == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
