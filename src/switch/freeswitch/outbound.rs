//! The outbound listener: FreeSWITCH's `socket <rivr>:8084 async full` connects once per call.
//!
//! [`serve`] accepts sockets (mini-redis's `Listener`); a task per socket (its `Handler`) runs
//! the handshake seen in every outbound capture: `connect`, whose reply is the channel's
//! `CHANNEL_DATA` as URL-encoded headers, then `myevents` (the channel's own events) and,
//! if configured, `linger` (keep the socket after the hangup until `exit`). The call's
//! [`CallInfo`] and its [`FsChannel`] then go to `on_call`, which routes the call and runs its
//! script. A handshake that fails, times out or meets garbage closes only that socket, with one
//! log line saying why.
//!
//! This module knows nothing of Rhai.

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::call::{CallInfo, Variables};
use crate::call_threads::CallThreads;
use crate::switch::freeswitch::channel::{Connection, FsChannel, Input};
use crate::switch::freeswitch::command::EslCommand;
use crate::switch::freeswitch::event::push_decoded;
use crate::switch::freeswitch::frame::{ContentType, FrameError};
use crate::switch::freeswitch::headers::Headers;
use crate::switch::freeswitch::mapping;
use crate::switch::freeswitch::protocol::{HEADER_REPLY_TEXT, HEADER_UNIQUE_ID, REPLY_OK, VARIABLE_PREFIX};
use crate::switch::freeswitch::settings::FsSettings;
use crate::switch::freeswitch::url;

/// Why an outbound connection was closed before its call started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboundError {
    /// The socket failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// FreeSWITCH sent bytes that are not ESL.
    #[error("malformed frame: {0}")]
    Frame(#[from] FrameError),
    /// FreeSWITCH closed the socket before the handshake was done.
    #[error("FreeSWITCH closed the connection during the handshake")]
    Closed,
    /// FreeSWITCH answered a handshake command with an error (or rejected the connection).
    #[error("FreeSWITCH refused `{command}`: {reply}")]
    Refused {
        /// The command.
        command: &'static str,
        /// What FreeSWITCH said.
        reply: String,
    },
    /// The reply to `connect` is not a `command/reply`.
    #[error("expected the reply to `connect`, got a {content_type} frame")]
    UnexpectedFrame {
        /// What came instead.
        content_type: String,
    },
    /// The `connect` reply names no channel.
    #[error("the reply to `connect` carries no Unique-ID")]
    MissingUuid,
    /// The handshake took longer than `FsSettings::handshake_timeout`.
    #[error("no handshake within {0:?}")]
    Timeout(Duration),
}

/// A listener for [`serve`] on `addr`, with an accept queue of [`LISTEN_BACKLOG`].
///
/// Bind with this rather than `TcpListener::bind`, whose queue holds 128 (the standard library's
/// value). FreeSWITCH's `socket` application connects and then waits for rivr to speak first;
/// when a burst of calls overflows the queue, Linux drops the connection on rivr's side while
/// FreeSWITCH still sees it established, and that call hangs until TCP keepalive notices.
///
/// # Errors
/// When the address cannot be bound.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accept FreeSWITCH's outbound sockets on `listener` until `shutdown` resolves, on every one
/// of `threads`, and hand each call that completes the handshake to `on_call`. Every call thread
/// accepts from the listener, so a call's socket, its task and what `on_call` spawns stay on the
/// thread that accepted it; the thread least busy is the first to look, and so takes most new
/// calls.
///
/// Calls in progress are not stopped by `shutdown`; they end with their scripts.
pub async fn serve<F>(
    listener: TcpListener,
    settings: Arc<FsSettings>,
    threads: Arc<CallThreads>,
    on_call: F,
    shutdown: impl Future<Output = ()>,
) where
    F: Fn(CallInfo, FsChannel) + Send + Sync + 'static,
{
    let on_call = Arc::new(on_call);
    let limit = Arc::new(Semaphore::new(settings.max_calls.max(1)));
    let stop = tokio_util::sync::CancellationToken::new();
    let first = match listener.into_std() {
        Ok(first) => first,
        Err(error) => {
            tracing::error!(%error, "cannot hand the FreeSWITCH listener to the call threads; not serving calls");
            return;
        }
    };
    let mut listeners = Vec::with_capacity(threads.len());
    for n in 1..threads.len() {
        match sibling(&first) {
            Ok(listening) => listeners.push(listening),
            Err(error) => {
                // Calls are still served, by the threads that have a listener.
                tracing::error!(%error, thread = n, "cannot listen for FreeSWITCH on a call thread");
                break;
            }
        }
    }
    listeners.insert(0, first);
    let mut loops = Vec::with_capacity(listeners.len());
    for (n, listening) in listeners.into_iter().enumerate() {
        let (settings, on_call, limit, stop) =
            (settings.clone(), on_call.clone(), limit.clone(), stop.clone());
        loops.push(threads.spawn_on(n, move || async move {
            match TcpListener::from_std(listening) {
                Ok(listening) => accept_loop(listening, settings, limit, on_call, stop).await,
                Err(error) => {
                    tracing::error!(%error, thread = n, "cannot listen for FreeSWITCH on a call thread")
                }
            }
        }));
    }
    shutdown.await;
    stop.cancel();
    for accepting in loops {
        let _ = accepting.await;
    }
    tracing::info!("outbound listener stopped accepting");
}

/// `first` again, for another call thread's I/O driver to watch: the same socket, so each
/// connection is accepted once, by whichever thread takes it first.
fn sibling(first: &std::net::TcpListener) -> std::io::Result<std::net::TcpListener> {
    let shared = first.try_clone()?;
    shared.set_nonblocking(true)?;
    Ok(shared)
}

/// One call thread's accepting: a socket at a time, each handshaken and handed to `on_call` in
/// a task of its own on this thread.
async fn accept_loop<F>(
    listener: TcpListener,
    settings: Arc<FsSettings>,
    limit: Arc<Semaphore>,
    on_call: Arc<F>,
    stop: tokio_util::sync::CancellationToken,
) where
    F: Fn(CallInfo, FsChannel) + Send + Sync + 'static,
{
    let mut backoff = ACCEPT_BACKOFF_START;
    loop {
        // Wait for a free slot before accepting, so a flood waits in the kernel's queue.
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => permit,
            () = stop.cancelled() => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = ACCEPT_BACKOFF_START;
                let settings = settings.clone();
                let on_call = on_call.clone();
                tokio::spawn(async move {
                    if let Some((info, channel)) = handle(stream, peer, settings, permit).await {
                        on_call(info, channel);
                    }
                });
            }
            Err(error) => {
                // Out of file descriptors and the like: wait and try again rather than spin.
                tracing::warn!(%error, ?backoff, "accepting a FreeSWITCH connection failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// One socket's handshake, logged. `None` when it failed.
async fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    settings: Arc<FsSettings>,
    permit: OwnedSemaphorePermit,
) -> Option<(CallInfo, FsChannel)> {
    let limit = settings.handshake_timeout;
    let result = match tokio::time::timeout(limit, handshake(stream, settings, Some(permit))).await {
        Ok(result) => result,
        Err(_) => Err(OutboundError::Timeout(limit)),
    };
    match result {
        Ok((info, channel)) => {
            // At debug: the route line that follows at info names the call already, and every
            // info line costs each call CPU (BENCHMARKS.md, log level).
            tracing::debug!(
                %peer,
                uuid = %info.uuid,
                caller = %info.caller_id_number,
                destination = %info.destination,
                context = %info.context,
                "FreeSWITCH connected a call"
            );
            Some((info, channel))
        }
        Err(error) => {
            tracing::warn!(%peer, %error, "closing a FreeSWITCH connection before its call started");
            None
        }
    }
}

/// `connect`, `myevents`, `linger` on a fresh socket.
///
/// # Errors
/// [`OutboundError`] when FreeSWITCH refuses a command, closes the socket, or sends garbage.
pub async fn handshake(
    stream: TcpStream,
    settings: Arc<FsSettings>,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<(CallInfo, FsChannel), OutboundError> {
    let _ = stream.set_nodelay(true);
    let mut conn = Connection::new(stream, &settings);
    conn.write(&EslCommand::Connect).await?;
    let frame = match conn.read_input().await {
        Input::Frame(frame) => frame,
        Input::Eof | Input::Closed => return Err(OutboundError::Closed),
        Input::Corrupt(error) => return Err(error.into()),
        Input::Failed(error) => return Err(error.into()),
    };
    match frame.content_type() {
        ContentType::CommandReply => {}
        ContentType::RudeRejection => {
            return Err(OutboundError::Refused {
                command: "connect",
                reply: frame.body_text().unwrap_or_default().trim_end().to_string(),
            })
        }
        other => return Err(OutboundError::UnexpectedFrame { content_type: other.to_string() }),
    }
    // The reply's headers are the channel's CHANNEL_DATA event, URL-encoded, `Reply-Text` too.
    let data = &frame.headers;
    let reply = url::decode_str(data.get(HEADER_REPLY_TEXT).unwrap_or_default());
    if !reply.starts_with(REPLY_OK) {
        return Err(OutboundError::Refused { command: "connect", reply: reply.trim_end().to_string() });
    }
    let info = call_info(data)?;
    let full = data.get(HEADER_CONTROL).map(url::decode_str).as_deref() == Some(CONTROL_FULL);
    if !full {
        tracing::warn!(
            uuid = %info.uuid,
            "the socket application runs without `full` (`socket <host:port> async full`): \
             get_var falls back to `getvar`"
        );
    }
    let mut channel = FsChannel::new(
        conn,
        info.uuid.clone(),
        mapping::restorable(&info.variables),
        settings.clone(),
        permit,
    );
    channel.set_full_control(full);
    expect_ok(&mut channel, EslCommand::MyEvents(None), "myevents").await?;
    if settings.linger {
        expect_ok(&mut channel, EslCommand::Linger(None), "linger").await?;
        channel.set_lingering();
    }
    Ok((info, channel))
}

async fn expect_ok(
    channel: &mut FsChannel,
    command: EslCommand,
    name: &'static str,
) -> Result<(), OutboundError> {
    match channel.request(&command).await {
        Some(reply) if reply.starts_with(REPLY_OK) => Ok(()),
        Some(reply) => Err(OutboundError::Refused { command: name, reply }),
        None => Err(OutboundError::Closed),
    }
}

/// The call's data from the `connect` reply's headers (the channel's `CHANNEL_DATA`, values
/// URL-encoded as FreeSWITCH sends them).
///
/// # Errors
/// [`OutboundError::MissingUuid`] when there is no `Unique-ID`.
pub fn call_info(data: &Headers) -> Result<CallInfo, OutboundError> {
    // Only what a call needs is decoded: the channel variables and four fields of the ~100 other
    // headers (decoding them all was a measurable part of a call's setup).
    let field = |name: &str| url::decode_str(data.get(name).unwrap_or_default()).into_owned();
    let uuid = field(HEADER_UNIQUE_ID);
    if uuid.is_empty() {
        return Err(OutboundError::MissingUuid);
    }
    let text_len = data.iter().map(|(name, value)| name.len() + value.len()).sum();
    // The values are decoded back to back into one buffer first: a reply has ~20 escaped ones,
    // and an allocation for each (freed at once) showed among a call's malloc calls.
    let mut decoded = String::with_capacity(text_len);
    let mut ranges = Vec::with_capacity(data.len());
    let mut scratch = Vec::new();
    for (name, value) in data {
        if let Some(name) = name.strip_prefix(VARIABLE_PREFIX) {
            let start = decoded.len();
            push_decoded(&mut decoded, value, &mut scratch);
            ranges.push((name, start..decoded.len()));
        }
    }
    let variables = Variables::packed(
        ranges
            .iter()
            .map(|(name, range)| (*name, Cow::Borrowed(decoded.get(range.clone()).unwrap_or_default()))),
        text_len,
    );
    Ok(CallInfo {
        uuid,
        caller_id_number: field(HEADER_CALLER_ID_NUMBER),
        caller_id_name: field(HEADER_CALLER_ID_NAME),
        destination: field(HEADER_DESTINATION_NUMBER),
        context: field(HEADER_CONTEXT),
        route: None,
        variables,
    })
}

/// On the connect reply: `full`, or `single-channel` without `full` in the socket's arguments.
const HEADER_CONTROL: &str = "Control";
const CONTROL_FULL: &str = "full";
const HEADER_CALLER_ID_NUMBER: &str = "Caller-Caller-ID-Number";
const HEADER_CALLER_ID_NAME: &str = "Caller-Caller-ID-Name";
const HEADER_DESTINATION_NUMBER: &str = "Caller-Destination-Number";
const HEADER_CONTEXT: &str = "Caller-Context";
/// Connections the kernel may queue before rivr accepts them (capped by `net.core.somaxconn`,
/// 4096 on current kernels): a burst of this many calls arriving at once is still served.
pub const LISTEN_BACKLOG: u32 = 1024;
const ACCEPT_BACKOFF_START: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switch::freeswitch::frame::FrameDecoder;
    use bytes::BytesMut;

    fn connect_reply(capture: &str) -> Headers {
        let path = format!("{}/tests/fixtures/esl/{capture}.fs2app.raw", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).expect("fixture");
        let mut buf = BytesMut::from(&bytes[..]);
        let frame = FrameDecoder::new().decode(&mut buf).expect("decodes").expect("a frame");
        frame.headers
    }

    #[test]
    fn call_info_comes_from_the_captured_connect_reply() {
        let info = call_info(&connect_reply("outbound-pagd")).expect("info");
        assert_eq!(info.uuid, "a0dea27a-7a6e-4176-8178-7f9eb3f06a49");
        assert_eq!(info.caller_id_number, "0000000000");
        assert_eq!(info.caller_id_name, "");
        assert_eq!(info.destination, "9000");
        assert_eq!(info.context, "default");
        assert_eq!(info.variables.get("socket_host"), Some("127.0.0.1"));
        assert_eq!(info.variables.get("current_application_data"), Some("127.0.0.1:8084 async full"));
        assert_eq!(info.variables.get("DP_MATCH"), Some("ARRAY::9000|:9000"));
    }

    #[test]
    fn a_connect_reply_without_a_uuid_is_refused() {
        let headers: Headers = [("Event-Name", "CHANNEL_DATA")].into_iter().collect();
        assert!(matches!(call_info(&headers), Err(OutboundError::MissingUuid)));
    }
}
