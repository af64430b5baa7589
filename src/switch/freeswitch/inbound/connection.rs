//! One authenticated ESL connection: the handshake, then a writer task and a reader task that
//! pair each reply with its request and each `BACKGROUND_JOB` with its job.
//!
//! ESL replies carry no request id: FreeSWITCH answers commands strictly in order, so the
//! connection keeps a FIFO of reply slots. The writer task appends a request's slot to the FIFO
//! *before* it writes the request's bytes, in the order it takes requests, so the FIFO order
//! is the wire order and the reader can give each `command/reply` or `api/response` to the
//! oldest slot. Only the writer task writes, so a caller that gives up (a timeout, a dropped
//! future) never leaves half a command on the wire; its slot stays in the FIFO and its late
//! reply is discarded there, which keeps every later reply matched to its own request.
//!
//! `bgapi` jobs are registered under a `Job-UUID` we make up and send, together with the reply
//! slot, so the result event can never arrive before its waiter exists.
//!
//! When the connection ends for any reason, every waiting slot and job fails with the same
//! error, and so does every request that arrives later.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::config::{EventEncoding, Filter, InboundConfig};
use super::demux::Demux;
use super::error::EslError;
use crate::switch::freeswitch::command::EslCommand;
use crate::switch::freeswitch::event::Event;
use crate::switch::freeswitch::frame::{ContentType, Frame, FrameDecoder, FrameError};
use crate::switch::freeswitch::protocol::{
    CMD_BGAPI, EVENT_BACKGROUND_JOB, REPLY_ERR, REPLY_OK, REPLY_USAGE,
};

/// What a connection is for. Replies and call events never share a socket: a slow event
/// subscriber stops the event socket's reader, and a reply behind those events would wait too.
pub(crate) enum Role {
    /// `api`/`bgapi`: subscribes to `BACKGROUND_JOB` only, whose events go straight to their
    /// job's waiter and never wait for anything.
    Commands,
    /// Call events, routed through the demultiplexer (which may stop the reader to apply
    /// backpressure). Only subscription commands (`filter`) are sent here.
    Events { demux: Arc<Demux>, events: Vec<String>, format: EventEncoding, filters: Vec<Filter> },
}

/// A live, authenticated connection. Dropping the last handle closes it.
#[derive(Debug)]
pub(crate) struct Connection {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
    reply_timeout: Duration,
    job_timeout: Duration,
}

impl Connection {
    /// Connects, authenticates, subscribes as `role` needs, and starts the reader and writer.
    pub(crate) async fn open(config: &InboundConfig, role: Role) -> Result<Self, EslError> {
        let server: Arc<str> = config.server().into();
        let handshake = handshake(config, &role, &server);
        let (read_half, write_half, link) =
            match tokio::time::timeout(config.connect_timeout, handshake).await {
                Ok(result) => result?,
                Err(_) => {
                    return Err(EslError::Connect {
                        server: server.to_string(),
                        reason: format!("no answer to the ESL handshake within {:?}", config.connect_timeout),
                    })
                }
            };
        let shared = Arc::new(Shared {
            server,
            pending: Mutex::new(Pending::default()),
            dead: CancellationToken::new(),
            notice: AtomicBool::new(false),
            leaving: AtomicBool::new(false),
        });
        let (requests, rx) = mpsc::channel(REQUEST_QUEUE);
        let sink = match role {
            Role::Commands => None,
            Role::Events { demux, .. } => Some(demux),
        };
        tokio::spawn(write_loop(shared.clone(), rx, BufWriter::new(write_half)));
        tokio::spawn(read_loop(shared.clone(), read_half, link, sink));
        Ok(Self { shared, requests, reply_timeout: config.reply_timeout, job_timeout: config.job_timeout })
    }

    /// Sends `command` and waits for its reply frame (`command/reply` or `api/response`).
    pub(crate) async fn request(&self, command: &EslCommand) -> Result<Frame, EslError> {
        let bytes = command.to_bytes()?;
        self.send(bytes, None, &describe(command)).await
    }

    /// Runs `command` with `bgapi` and waits for its `BACKGROUND_JOB` event.
    pub(crate) async fn bgapi(&self, command: &str) -> Result<Event, EslError> {
        let job_uuid = uuid::Uuid::new_v4().to_string();
        let bytes =
            EslCommand::BgApi { command: command.to_owned(), job_uuid: Some(job_uuid.clone()) }.to_bytes()?;
        let label = format!("{CMD_BGAPI} {command}");
        let (job_tx, job_rx) = oneshot::channel();
        let reply = self
            .send(bytes, Some((job_uuid.clone(), job_tx)), &label)
            .await
            .and_then(|frame| check_reply(&self.shared.server, &label, &frame).map(|_| frame));
        let frame = match reply {
            Ok(frame) => frame,
            Err(err) => {
                self.shared.remove_job(&job_uuid);
                return Err(err);
            }
        };
        if let Some(echoed) = frame.job_uuid().filter(|echoed| *echoed != job_uuid) {
            // FreeSWITCH has used the `Job-UUID` header a client sends since 1.0; a server that
            // made up its own would send the result under an id nobody waits for.
            self.shared.remove_job(&job_uuid);
            return Err(self
                .shared
                .protocol(format!("the bgapi reply names job {echoed}, not the {job_uuid} we sent")));
        }
        match tokio::time::timeout(self.job_timeout, job_rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.shared.failure()),
            Err(_) => {
                self.shared.remove_job(&job_uuid);
                Err(EslError::Timeout {
                    server: self.shared.server.to_string(),
                    command: label,
                    timeout: self.job_timeout,
                })
            }
        }
    }

    /// Ends the connection now with `err` (a no-op if it has already ended).
    pub(crate) fn abort(&self, err: EslError) {
        self.shared.fail(err);
    }

    /// Resolves once the connection has ended, with the reason.
    pub(crate) async fn closed(&self) -> EslError {
        self.shared.dead.cancelled().await;
        self.shared.failure()
    }

    /// Says `exit` (so FreeSWITCH logs a clean goodbye), waits briefly for `+OK bye`, and closes.
    pub(crate) async fn exit(&self) {
        if !self.shared.dead.is_cancelled() {
            self.shared.leaving.store(true, Ordering::Relaxed);
            let bye = self.request(&EslCommand::Exit);
            let _ = tokio::time::timeout(EXIT_GRACE, bye).await;
        }
        self.shared.fail(EslError::Closed { server: self.shared.server.to_string() });
    }

    async fn send(
        &self,
        bytes: Vec<u8>,
        job: Option<(String, JobSlot)>,
        label: &str,
    ) -> Result<Frame, EslError> {
        let (reply, reply_rx) = oneshot::channel();
        let request = Request { bytes, reply, job };
        if self.requests.send(request).await.is_err() {
            return Err(self.shared.failure());
        }
        match tokio::time::timeout(self.reply_timeout, reply_rx).await {
            Ok(Ok(result)) => result,
            // The writer dropped the request: the connection ended before it was sent.
            Ok(Err(_)) => Err(self.shared.failure()),
            Err(_) => Err(EslError::Timeout {
                server: self.shared.server.to_string(),
                command: label.to_owned(),
                timeout: self.reply_timeout,
            }),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.fail(EslError::Closed { server: self.shared.server.to_string() });
    }
}

/// Checks a `command/reply` (or an `api/response`) for FreeSWITCH's `-ERR`, returning the text.
pub(crate) fn check_reply(server: &str, command: &str, frame: &Frame) -> Result<String, EslError> {
    let text = match frame.content_type() {
        ContentType::ApiResponse => frame.body_text().unwrap_or_default().into_owned(),
        _ => frame.reply_text().unwrap_or_default().to_owned(),
    };
    if is_error_reply(&text) {
        return Err(EslError::CommandFailed {
            server: server.to_owned(),
            command: command.to_owned(),
            reply: text.trim_end().to_owned(),
        });
    }
    Ok(text)
}

/// `-ERR ...` and `-USAGE: ...` are how FreeSWITCH and its API commands say no.
pub(crate) fn is_error_reply(text: &str) -> bool {
    text.starts_with(REPLY_ERR) || text.starts_with(REPLY_USAGE)
}

/// A command as it may appear in logs and errors: `auth` never shows its argument.
fn describe(command: &EslCommand) -> String {
    match command {
        EslCommand::Auth(_) => "auth <password>".to_owned(),
        other => {
            let bytes = other.to_bytes().unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            text.lines().next().unwrap_or_default().to_owned()
        }
    }
}

/// The state both tasks and every caller share.
#[derive(Debug)]
struct Shared {
    server: Arc<str>,
    pending: Mutex<Pending>,
    /// Cancelled once the connection has ended; stops both tasks.
    dead: CancellationToken,
    /// FreeSWITCH announced the close with a `text/disconnect-notice`.
    notice: AtomicBool,
    /// rivr said `exit`: the close that follows is the one it asked for.
    leaving: AtomicBool,
}

#[derive(Debug, Default)]
struct Pending {
    /// Why the connection ended; set once, and from then on every request fails with it.
    failure: Option<EslError>,
    /// Reply slots in wire order.
    replies: VecDeque<ReplySlot>,
    /// `bgapi` waiters by `Job-UUID`.
    jobs: HashMap<String, JobSlot>,
}

type ReplySlot = oneshot::Sender<Result<Frame, EslError>>;
type JobSlot = oneshot::Sender<Result<Event, EslError>>;

#[derive(Debug)]
struct Request {
    bytes: Vec<u8>,
    reply: ReplySlot,
    job: Option<(String, JobSlot)>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Held only for queue and map operations that cannot panic; recovering from poison
        // keeps this total anyway.
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ends the connection with `err` unless it has already ended: fails every waiter and
    /// stops both tasks.
    fn fail(&self, err: EslError) {
        let (replies, jobs) = {
            let mut pending = self.lock();
            if pending.failure.is_some() {
                return;
            }
            pending.failure = Some(err.clone());
            (std::mem::take(&mut pending.replies), std::mem::take(&mut pending.jobs))
        };
        for slot in replies {
            let _ = slot.send(Err(err.clone()));
        }
        for (_, slot) in jobs {
            let _ = slot.send(Err(err.clone()));
        }
        self.dead.cancel();
    }

    /// Why the connection ended (or a generic "lost" if a waiter raced the bookkeeping).
    fn failure(&self) -> EslError {
        self.lock().failure.clone().unwrap_or_else(|| EslError::Disconnected {
            server: self.server.to_string(),
            reason: "the connection ended".to_owned(),
        })
    }

    fn protocol(&self, detail: String) -> EslError {
        EslError::Protocol { server: self.server.to_string(), detail }
    }

    /// Registers a request's waiters, in wire order; hands them back if the connection ended.
    fn enqueue(&self, reply: ReplySlot, job: Option<(String, JobSlot)>) -> Result<(), (ReplySlot, EslError)> {
        let mut pending = self.lock();
        if let Some(err) = &pending.failure {
            return Err((reply, err.clone()));
        }
        pending.replies.push_back(reply);
        if let Some((uuid, slot)) = job {
            pending.jobs.insert(uuid, slot);
        }
        Ok(())
    }

    fn pop_reply(&self) -> Option<ReplySlot> {
        self.lock().replies.pop_front()
    }

    fn take_job(&self, uuid: &str) -> Option<JobSlot> {
        self.lock().jobs.remove(uuid)
    }

    fn remove_job(&self, uuid: &str) {
        self.lock().jobs.remove(uuid);
    }
}

/// Bytes read during the handshake that the reader must start from.
struct Link {
    decoder: FrameDecoder,
    buf: BytesMut,
    /// Events that arrived before the last handshake reply.
    early: Vec<Event>,
}

async fn handshake(
    config: &InboundConfig,
    role: &Role,
    server: &Arc<str>,
) -> Result<(OwnedReadHalf, OwnedWriteHalf, Link), EslError> {
    let connect_error = |reason: String| EslError::Connect { server: server.to_string(), reason };
    let stream = TcpStream::connect((config.host.as_str(), config.port))
        .await
        .map_err(|err| connect_error(err.to_string()))?;
    // Commands are small and each waits for its reply: Nagle would only add latency.
    let _ = stream.set_nodelay(true);
    let (mut read_half, mut write_half) = stream.into_split();
    let mut link =
        Link { decoder: FrameDecoder::new(), buf: BytesMut::with_capacity(READ_CHUNK), early: Vec::new() };

    let first = read_frame(&mut read_half, &mut link, server)
        .await?
        .ok_or_else(|| connect_error("FreeSWITCH closed the connection before auth/request".into()))?;
    match first.content_type() {
        ContentType::AuthRequest => {}
        ContentType::RudeRejection => {
            return Err(EslError::AccessDenied {
                server: server.to_string(),
                reason: first.body_text().map(|text| text.trim().to_owned()).unwrap_or_default(),
            })
        }
        other => {
            return Err(EslError::Protocol {
                server: server.to_string(),
                detail: format!("expected auth/request first, got {other}"),
            })
        }
    }

    let auth = EslCommand::Auth(config.password.clone());
    let reply = exchange(&mut read_half, &mut write_half, &mut link, server, &auth).await?;
    if !reply.reply_text().unwrap_or_default().starts_with(REPLY_OK) {
        // FreeSWITCH follows `-ERR invalid` with a disconnect notice and closes; nothing more
        // to read.
        return Err(EslError::AuthRejected { server: server.to_string() });
    }

    let mut subscriptions = Vec::new();
    match role {
        Role::Commands => subscriptions.push(EslCommand::Event {
            format: EventEncoding::Plain.to_format(),
            events: vec![EVENT_BACKGROUND_JOB.to_owned()],
        }),
        Role::Events { events, format, filters, .. } => {
            // Filters first: until `event` is accepted no event flows, so every reply of the
            // handshake comes before the first event.
            subscriptions.extend(filters.iter().map(|filter| EslCommand::Filter {
                header: filter.header.clone(),
                value: filter.value.clone(),
            }));
            subscriptions.push(EslCommand::Event { format: format.to_format(), events: events.clone() });
        }
    }
    for command in &subscriptions {
        let reply = exchange(&mut read_half, &mut write_half, &mut link, server, command).await?;
        check_reply(server, &describe(command), &reply)?;
    }
    Ok((read_half, write_half, link))
}

/// Writes one command and reads frames up to its reply (keeping any events met on the way).
async fn exchange(
    read_half: &mut OwnedReadHalf,
    write_half: &mut OwnedWriteHalf,
    link: &mut Link,
    server: &Arc<str>,
    command: &EslCommand,
) -> Result<Frame, EslError> {
    let bytes = command.to_bytes()?;
    write_half
        .write_all(&bytes)
        .await
        .map_err(|err| EslError::Connect { server: server.to_string(), reason: err.to_string() })?;
    loop {
        let frame = read_frame(read_half, link, server).await?.ok_or_else(|| EslError::Connect {
            server: server.to_string(),
            reason: format!("FreeSWITCH closed the connection after `{}`", describe(command)),
        })?;
        match frame.content_type() {
            ContentType::CommandReply | ContentType::ApiResponse => return Ok(frame),
            ContentType::EventPlain | ContentType::EventJson => {
                if let Ok(event) = Event::from_frame(&frame) {
                    link.early.push(event);
                }
            }
            _ => {}
        }
    }
}

/// Reads the next frame; `Ok(None)` at a clean end of stream.
async fn read_frame(
    read_half: &mut OwnedReadHalf,
    link: &mut Link,
    server: &Arc<str>,
) -> Result<Option<Frame>, EslError> {
    let protocol =
        |err: FrameError| EslError::Protocol { server: server.to_string(), detail: err.to_string() };
    loop {
        if let Some(frame) = link.decoder.decode(&mut link.buf).map_err(protocol)? {
            return Ok(Some(frame));
        }
        if link.buf.capacity() - link.buf.len() < READ_CHUNK / 4 {
            link.buf.reserve(READ_CHUNK);
        }
        let read = read_half
            .read_buf(&mut link.buf)
            .await
            .map_err(|err| EslError::Disconnected { server: server.to_string(), reason: err.to_string() })?;
        if read == 0 {
            return link.decoder.decode_eof(&mut link.buf).map_err(|err| EslError::Disconnected {
                server: server.to_string(),
                reason: err.to_string(),
            });
        }
    }
}

async fn write_loop(
    shared: Arc<Shared>,
    mut requests: mpsc::Receiver<Request>,
    mut writer: BufWriter<OwnedWriteHalf>,
) {
    loop {
        let first = tokio::select! {
            biased;
            () = shared.dead.cancelled() => break,
            request = requests.recv() => request,
        };
        let Some(mut request) = first else { break };
        // Take everything already queued before flushing: one write for a burst of requests.
        loop {
            match shared.enqueue(request.reply, request.job) {
                Ok(()) => {
                    if let Err(err) = writer.write_all(&request.bytes).await {
                        shared.fail(disconnected(&shared, &err));
                        return;
                    }
                }
                Err((slot, err)) => {
                    let _ = slot.send(Err(err));
                }
            }
            match requests.try_recv() {
                Ok(next) => request = next,
                Err(_) => break,
            }
        }
        if let Err(err) = writer.flush().await {
            shared.fail(disconnected(&shared, &err));
            return;
        }
    }
    let _ = writer.shutdown().await;
}

fn disconnected(shared: &Shared, err: &std::io::Error) -> EslError {
    EslError::Disconnected { server: shared.server.to_string(), reason: err.to_string() }
}

async fn read_loop(
    shared: Arc<Shared>,
    mut read_half: OwnedReadHalf,
    mut link: Link,
    sink: Option<Arc<Demux>>,
) {
    let reading = async {
        for event in std::mem::take(&mut link.early) {
            route_event(&shared, sink.as_deref(), event).await;
        }
        loop {
            let frame = match read_frame(&mut read_half, &mut link, &shared.server).await {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    let reason = if shared.notice.load(Ordering::Relaxed) {
                        "FreeSWITCH said goodbye and closed the connection"
                    } else {
                        "FreeSWITCH closed the connection"
                    };
                    return EslError::Disconnected {
                        server: shared.server.to_string(),
                        reason: reason.to_owned(),
                    };
                }
                Err(err) => return err,
            };
            if let Err(err) = handle_frame(&shared, sink.as_deref(), frame).await {
                return err;
            }
        }
    };
    tokio::select! {
        err = reading => {
            if shared.leaving.load(Ordering::Relaxed) {
                // rivr's own `exit`: FreeSWITCH's goodbye and close are what it asked for.
                debug!(server = %shared.server, "ESL connection closed after exit");
            } else {
                warn!(server = %shared.server, error = %err, "ESL connection ended");
            }
            shared.fail(err);
        }
        () = shared.dead.cancelled() => {}
    }
}

async fn handle_frame(shared: &Shared, sink: Option<&Demux>, frame: Frame) -> Result<(), EslError> {
    match frame.content_type() {
        ContentType::CommandReply | ContentType::ApiResponse => match shared.pop_reply() {
            // The waiter may have given up; its reply is consumed here all the same.
            Some(slot) => {
                let _ = slot.send(Ok(frame));
            }
            None => {
                return Err(shared
                    .protocol(format!("a {} arrived with no command waiting for it", frame.content_type())))
            }
        },
        ContentType::EventPlain | ContentType::EventJson => match Event::from_frame(&frame) {
            Ok(event) => route_event(shared, sink, event).await,
            // The frame was whole, so the stream is still in step: lose this one event (and
            // say so loudly) rather than the connection and everything queued behind it.
            Err(err) => warn!(server = %shared.server, error = %err, "undecodable event dropped"),
        },
        ContentType::DisconnectNotice => {
            shared.notice.store(true, Ordering::Relaxed);
            debug!(server = %shared.server, "FreeSWITCH sent a disconnect notice");
        }
        other => debug!(server = %shared.server, content_type = %other, "frame ignored"),
    }
    Ok(())
}

async fn route_event(shared: &Shared, sink: Option<&Demux>, event: Event) {
    if event.name() == Some(EVENT_BACKGROUND_JOB) {
        if let Some(slot) = event.job_uuid().and_then(|uuid| shared.take_job(uuid)) {
            let _ = slot.send(Ok(event));
            return;
        }
    }
    if let Some(demux) = sink {
        demux.dispatch(event).await;
    }
}

/// Requests queued for the writer before callers wait to queue more.
const REQUEST_QUEUE: usize = 1024;
/// The read buffer grows by this much.
const READ_CHUNK: usize = 64 * 1024;
/// How long `exit` waits for `+OK bye` before closing anyway.
const EXIT_GRACE: Duration = Duration::from_secs(1);
