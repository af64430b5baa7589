//! A minimal hand-written ESL outbound app: the yardstick rivr is measured against.
//!
//! It listens where FreeSWITCH's `socket <addr> async full` (or `examples/loadgen.rs`) connects and
//! runs the reference flow on every call with no scripting, no routing and no per-call thread:
//! `connect`, `myevents`, `linger`, answer, playback, play_and_get_digits, playback, hangup,
//! and closing the socket after the linger notice, as rivr does. Each execute is a `sendmsg` with `event-lock: true` and an `Event-UUID`, and the
//! next step starts when the `CHANNEL_EXECUTE_COMPLETE` with that `Application-UUID` arrives,
//! as in the outbound-pagd capture. It uses rivr's ESL codec for frames and commands, one tokio
//! task per call, and nothing else, so the difference between its figures and rivr's is what
//! rivr's layers (routing, call task, script fiber, Rhai) cost.
//!
//! ```text
//! cargo run --release --example baseline -- --listen 127.0.0.1:8085
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use clap::Parser;
use rivr::switch::freeswitch::command::{EslCommand, Execute, SendMsg};
use rivr::switch::freeswitch::frame::{ContentType, Frame, FrameDecoder};
use rivr::switch::freeswitch::indexed::IndexedEvent;
use rivr::switch::freeswitch::protocol::{
    EVENT_CHANNEL_EXECUTE_COMPLETE, EVENT_CHANNEL_HANGUP, HEADER_UNIQUE_ID,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// The prompts and `play_and_get_digits` arguments of the captured reference flow; the digit
/// lands in `rivr_digit`.
const GREETING: &str = "hello-world.wav";
const COLLECT: &str = "1 1 2 8000 # vm-enter-num-to-call.wav silence_stream://250 rivr_digit \\d 3000";
const DIGIT_VARIABLE: &str = "rivr_digit";
const CONFIRM: &str = "you-entered.wav";
const APP_PLAY_AND_GET_DIGITS: &str = "play_and_get_digits";
const CAUSE_NORMAL_CLEARING: &str = "NORMAL_CLEARING";
/// How FreeSWITCH starts a refusal.
const REPLY_ERR: &str = "-ERR";

#[derive(Parser, Debug)]
#[command(name = "baseline", about = "A minimal tokio ESL outbound app running the reference flow")]
struct Args {
    /// Where to listen for FreeSWITCH (or the load generator).
    #[arg(long, default_value = "127.0.0.1:8085")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(args.listen).await?;
    eprintln!("baseline: listening on {}", listener.local_addr()?);
    let stats = Arc::new(Stats::default());
    {
        let stats = stats.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!(
                "baseline: {} calls completed, {} failed",
                stats.completed.load(Ordering::Relaxed),
                stats.failed.load(Ordering::Relaxed)
            );
            std::process::exit(0);
        });
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let stats = stats.clone();
        tokio::spawn(async move {
            match run_call(stream).await {
                Ok(()) => stats.completed.fetch_add(1, Ordering::Relaxed),
                Err(err) => {
                    eprintln!("baseline: call failed: {err}");
                    stats.failed.fetch_add(1, Ordering::Relaxed)
                }
            };
        });
    }
}

#[derive(Default)]
struct Stats {
    completed: AtomicU64,
    failed: AtomicU64,
}

/// One call's connection: FreeSWITCH's frames in, commands out.
struct Call {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    decoder: FrameDecoder,
    buf: BytesMut,
    out: Vec<u8>,
    hung_up: bool,
}

/// How a step ended.
enum Step {
    Completed(IndexedEvent),
    HungUp,
}

async fn run_call(stream: TcpStream) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let (reader, writer) = stream.into_split();
    let mut call = Call {
        reader,
        writer,
        decoder: FrameDecoder::new(),
        buf: BytesMut::with_capacity(16 * 1024),
        out: Vec::with_capacity(512),
        hung_up: false,
    };
    let data = call.command(&EslCommand::Connect).await?;
    // All it needs of the channel data is that there is a channel.
    anyhow::ensure!(data.headers.get(HEADER_UNIQUE_ID).is_some(), "connect reply without a Unique-ID");
    call.command(&EslCommand::MyEvents(None)).await?;
    call.command(&EslCommand::Linger(None)).await?;

    let flow =
        [("answer", ""), ("playback", GREETING), (APP_PLAY_AND_GET_DIGITS, COLLECT), ("playback", CONFIRM)];
    for (app, arg) in flow {
        match call.execute(app, arg).await? {
            Step::Completed(done) => {
                if app == APP_PLAY_AND_GET_DIGITS {
                    // A real app would branch on it; reading it is part of the work measured.
                    let _digit = done.variable(DIGIT_VARIABLE).unwrap_or_default();
                }
            }
            Step::HungUp => break,
        }
    }
    if !call.hung_up {
        call.command(&EslCommand::SendMsg {
            uuid: None,
            message: SendMsg::Hangup { cause: Some(CAUSE_NORMAL_CLEARING.into()) },
        })
        .await?;
    }
    // With `linger`, FreeSWITCH sends the channel's last events and a `linger` notice; then the
    // socket is closed, as rivr closes it (no `exit`, whose `+OK bye` would cost a round trip).
    while let Some(frame) = call.next_frame().await? {
        if frame.content_type() == ContentType::DisconnectNotice {
            break;
        }
    }
    Ok(())
}

impl Call {
    /// Sends a command and waits for its `command/reply`.
    async fn command(&mut self, command: &EslCommand) -> anyhow::Result<Frame> {
        self.send(command).await?;
        loop {
            let frame = self
                .next_frame()
                .await?
                .ok_or_else(|| anyhow::anyhow!("closed while waiting for a reply"))?;
            match frame.content_type() {
                ContentType::CommandReply => {
                    let text = frame.reply_text().unwrap_or_default();
                    anyhow::ensure!(!text.starts_with(REPLY_ERR), "refused: {text}");
                    return Ok(frame);
                }
                _ => self.note(&frame),
            }
        }
    }

    /// Runs one application and waits for its completion (or the hangup).
    async fn execute(&mut self, app: &str, arg: &str) -> anyhow::Result<Step> {
        let event_uuid = uuid::Uuid::new_v4().to_string();
        let execute = Execute::new(app, arg).event_lock(true).event_uuid(event_uuid.clone());
        self.command(&EslCommand::SendMsg { uuid: None, message: SendMsg::Execute(execute) }).await?;
        loop {
            let Some(frame) = self.next_frame().await? else {
                return Ok(Step::HungUp);
            };
            if frame.content_type() != ContentType::EventPlain {
                self.note(&frame);
                if self.hung_up {
                    return Ok(Step::HungUp);
                }
                continue;
            }
            // Indexed in place, as rivr's channel reads events: the comparison is of rivr's layers,
            // not of two ways to decode.
            let event = IndexedEvent::parse(frame.body.unwrap_or_default())?;
            match event.name_header() {
                Some(EVENT_CHANNEL_EXECUTE_COMPLETE)
                    if event.application_uuid() == Some(event_uuid.as_str()) =>
                {
                    return Ok(Step::Completed(event));
                }
                Some(EVENT_CHANNEL_HANGUP) => {
                    self.hung_up = true;
                    return Ok(Step::HungUp);
                }
                _ => {}
            }
        }
    }

    fn note(&mut self, frame: &Frame) {
        if frame.content_type() == ContentType::DisconnectNotice {
            self.hung_up = true;
        }
    }

    async fn send(&mut self, command: &EslCommand) -> anyhow::Result<()> {
        self.out.clear();
        command.encode(&mut self.out)?;
        self.writer.write_all(&self.out).await?;
        Ok(())
    }

    async fn next_frame(&mut self) -> anyhow::Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf)? {
                return Ok(Some(frame));
            }
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(16 * 1024);
            }
            if self.reader.read_buf(&mut self.buf).await? == 0 {
                return Ok(self.decoder.decode_eof(&mut self.buf)?);
            }
        }
    }
}
