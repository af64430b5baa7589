//! The ESL inbound client: rivr connects to FreeSWITCH's event socket (port 8021) to place
//! calls (`originate`), run `uuid_*` and other API commands, check health (`status`), and
//! follow calls through their events.
//!
//! This module knows nothing of Rhai or of the call model; it speaks ESL and hands out replies,
//! job results and events.
//!
//! # Connections
//!
//! An [`InboundClient`] keeps two sockets to its server, each authenticated (`auth/request` →
//! `auth <password>` → `+OK accepted`):
//!
//! - the **command connection** carries `api` and `bgapi` and subscribes to `BACKGROUND_JOB`
//!   only. ESL replies have no ids but come in order, so each request leaves a reply slot in a
//!   FIFO in wire order; a `bgapi` also registers a waiter under a `Job-UUID` we choose and
//!   send, and its `BACKGROUND_JOB` event completes it. Any number of tasks may have requests
//!   in flight; a long `originate` runs as a job and does not hold up the replies behind it.
//! - the **event connection** (only if [`InboundConfig::events`] is set) subscribes to the
//!   configured events with the configured filters and feeds the demultiplexer.
//!
//! # Events without loss, replies without stalls
//!
//! One connection carries the events of every call, so they are routed by `Unique-ID` to
//! per-call [`EventSubscription`]s. Each subscriber has a bounded queue of its own plus a share
//! of a spill budget common to all subscribers. When a subscriber is behind, its events use the
//! spill budget and the others keep flowing; when the budget is used up too, the reader stops
//! reading the socket, and FreeSWITCH, unable to write, buffers and slows down (TCP
//! backpressure). No event is ever dropped for being early or plentiful.
//!
//! Backpressure moves the backlog into FreeSWITCH, it does not make it vanish: each event
//! socket listener has a queue of `MAX_QUEUE_LEN` (100,000) events in `mod_event_socket.c`,
//! past which FreeSWITCH drops events and, after `MAX_MISSED` (500) losses, closes the
//! listener. The client then sees a lost connection and tells every subscriber
//! ([`Received::ConnectionLost`]). So the spill budget is for bursts; a subscriber must keep
//! up on average, and one that stops reading for good should be dropped (which unsubscribes).
//!
//! A stopped reader also stops every reply behind it on the same socket, which is why replies
//! never share a socket with call events: the command connection's only events are job results,
//! which go to a waiting oneshot and never wait. (It also means a user's `filter` cannot hide a
//! job result.) The cost is a second TCP connection per server. The one command that does go
//! on the event connection, `filter`, may wait behind events there; it only changes the
//! subscription.
//!
//! # Failures
//!
//! When either connection drops, both are closed, every pending request fails with the reason
//! ([`EslError::Disconnected`], or [`EslError::Protocol`] when FreeSWITCH sent bytes that are
//! not ESL: the stream cannot be trusted after that), every subscriber gets [`Received::ConnectionLost`] (FreeSWITCH
//! keeps nothing for a gone listener), and the client reconnects after
//! [`InboundConfig::reconnect_initial`], doubling up to [`InboundConfig::reconnect_max`];
//! subscriptions and filters carry over. Requests made while disconnected fail at once with
//! [`EslError::NotConnected`] rather than wait, so a caller can try another server
//! ([`InboundPool`]). A wrong password gets a clear [`EslError::AuthRejected`] and is retried
//! with the same backoff; the password itself is never logged.

mod config;
mod connection;
mod demux;
mod error;
mod originate;
mod pool;
mod status;

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use self::config::{EventEncoding, Filter, InboundConfig, DEFAULT_PORT};
pub use self::demux::{EventSubscription, Received};
pub use self::error::EslError;
pub use self::originate::{Destination, OriginateOutcome, OriginateRequest, RIVR_SCRIPT_VARIABLE};
pub use self::pool::{InboundPool, ServerHealth};
pub use self::status::ServerStatus;

use self::connection::{check_reply, is_error_reply, Connection, Role};
use self::demux::Demux;
use crate::switch::freeswitch::command::EslCommand;

/// A client for one FreeSWITCH server's event socket. Cheap to clone; every clone shares the
/// connections. The client closes when the last clone is dropped or [`close`](Self::close)
/// is called.
#[derive(Clone, Debug)]
pub struct InboundClient {
    handle: Arc<Handle>,
}

impl InboundClient {
    /// Connects and authenticates, and keeps the connection up from then on.
    ///
    /// # Errors
    ///
    /// The first attempt's failure, e.g. [`EslError::AuthRejected`] or [`EslError::Connect`];
    /// nothing keeps running then. Use [`InboundClient::start`] to keep trying instead.
    pub async fn connect(config: InboundConfig) -> Result<Self, EslError> {
        let client = Self::start(config);
        let mut link = client.inner().link.subscribe();
        let first = link
            .wait_for(|link| !matches!(link, Link::Connecting { attempts: 0, .. }))
            .await
            .map(|link| link.clone());
        match first {
            Ok(Link::Up { .. }) => Ok(client),
            Ok(Link::Connecting { last_error: Some(err), .. }) => Err(err),
            _ => Err(client.inner().closed()),
        }
    }

    /// Starts a client that connects in the background and reconnects whenever the connection
    /// is lost or refused. Requests fail with [`EslError::NotConnected`] until it is up.
    ///
    /// Must be called within a tokio runtime.
    pub fn start(config: InboundConfig) -> Self {
        let server = config.server();
        let inner = Arc::new(Inner {
            demux: Demux::new(config.queue_capacity, config.spill_capacity),
            filters: Mutex::new(config.filters.clone()),
            link: watch::Sender::new(Link::Connecting { attempts: 0, last_error: None }),
            shutdown: CancellationToken::new(),
            server,
            config,
        });
        tokio::spawn(supervise(inner.clone()));
        Self { handle: Arc::new(Handle { inner }) }
    }

    /// The configured name, e.g. `fs1`.
    pub fn name(&self) -> &str {
        &self.inner().config.name
    }

    /// `host:port`.
    pub fn server(&self) -> &str {
        &self.inner().server
    }

    /// Runs an API command and returns its output (the `api/response` body, less one trailing
    /// newline), e.g. `api("uuid_getvar <uuid> foo")`.
    ///
    /// # Errors
    ///
    /// [`EslError::CommandFailed`] when FreeSWITCH answers `-ERR ...`/`-USAGE ...`; the
    /// connection errors otherwise.
    pub async fn api(&self, command: &str) -> Result<String, EslError> {
        let connection = self.inner().commands()?;
        let frame = connection.request(&EslCommand::Api(command.to_owned())).await?;
        let text = check_reply(self.server(), &format!("api {command}"), &frame)?;
        Ok(without_newline(text))
    }

    /// Runs an API command as a background job (`bgapi`) and returns its output once the
    /// `BACKGROUND_JOB` event arrives; the connection stays free meanwhile.
    ///
    /// # Errors
    ///
    /// As [`api`](Self::api); [`EslError::Timeout`] after [`InboundConfig::job_timeout`].
    pub async fn bgapi(&self, command: &str) -> Result<String, EslError> {
        let output = self.job_output(command).await?;
        if is_error_reply(&output) {
            return Err(EslError::CommandFailed {
                server: self.server().to_owned(),
                command: format!("bgapi {command}"),
                reply: output.trim_end().to_owned(),
            });
        }
        Ok(without_newline(output))
    }

    /// Places a call with `bgapi originate` and waits until it is answered or fails. To see
    /// the call's events from its first one, set [`OriginateRequest::uuid`] and
    /// [`subscribe`](Self::subscribe) to it before calling this.
    ///
    /// # Errors
    ///
    /// [`EslError::InvalidRequest`] for a request that cannot be encoded,
    /// [`EslError::CommandFailed`] when FreeSWITCH refuses the command itself; connection
    /// errors. A call that is not answered is an [`OriginateOutcome`], not an error.
    pub async fn originate(&self, request: &OriginateRequest) -> Result<OriginateOutcome, EslError> {
        let uuid = request.uuid.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let command = request.to_command(&uuid)?;
        let output = self.job_output(&command).await?;
        OriginateOutcome::parse(&output).ok_or_else(|| EslError::CommandFailed {
            server: self.server().to_owned(),
            command: format!("bgapi {command}"),
            reply: output.trim_end().to_owned(),
        })
    }

    /// Hangs a call up (`uuid_kill <uuid> [cause]`).
    ///
    /// # Errors
    ///
    /// [`EslError::CommandFailed`] (`-ERR No such channel!`) when the call is already gone.
    pub async fn hangup(&self, uuid: &str, cause: Option<&str>) -> Result<(), EslError> {
        let command = match cause {
            Some(cause) => format!("{API_UUID_KILL} {uuid} {cause}"),
            None => format!("{API_UUID_KILL} {uuid}"),
        };
        self.api(&command).await.map(drop)
    }

    /// FreeSWITCH's `status`: uptime, sessions, limits.
    ///
    /// # Errors
    ///
    /// [`EslError::Protocol`] if the reply is not a status report; as [`api`](Self::api).
    pub async fn status(&self) -> Result<ServerStatus, EslError> {
        let text = self.api(API_STATUS).await?;
        ServerStatus::parse(&text).ok_or_else(|| EslError::Protocol {
            server: self.server().to_owned(),
            detail: format!("`api status` answered {text:?}"),
        })
    }

    /// The events of the call whose `Unique-ID` is `uuid`, from now on (and across
    /// reconnects). Only events the configuration subscribes to arrive. A second subscription
    /// for the same uuid replaces the first.
    pub fn subscribe(&self, uuid: &str) -> EventSubscription {
        self.inner().demux.subscribe(uuid)
    }

    /// Every event that no call subscription takes (events of unknown calls, `HEARTBEAT`,
    /// ...). Without this subscription such events are counted and discarded.
    pub fn subscribe_unrouted(&self) -> EventSubscription {
        self.inner().demux.subscribe_unrouted()
    }

    /// How many events arrived with no subscriber at all.
    pub fn discarded_events(&self) -> u64 {
        self.inner().demux.unrouted_count()
    }

    /// How many times the event reader stopped reading the socket because a subscriber's queue
    /// and the spill budget were full (each time, FreeSWITCH was slowed down, nothing lost).
    pub fn reader_pauses(&self) -> u64 {
        self.inner().demux.pause_count()
    }

    /// Adds an event filter, now and after every reconnect.
    ///
    /// # Errors
    ///
    /// [`EslError::InvalidRequest`] without an event subscription; FreeSWITCH's refusal;
    /// connection errors (the filter is still applied after the next reconnect).
    pub async fn add_filter(&self, filter: Filter) -> Result<(), EslError> {
        self.inner().lock_filters().push(filter.clone());
        self.event_command(EslCommand::Filter { header: filter.header, value: filter.value }).await
    }

    /// Removes an event filter added by the configuration or [`add_filter`](Self::add_filter).
    ///
    /// # Errors
    ///
    /// As [`add_filter`](Self::add_filter).
    pub async fn remove_filter(&self, filter: &Filter) -> Result<(), EslError> {
        self.inner().lock_filters().retain(|kept| kept != filter);
        self.event_command(EslCommand::FilterDelete {
            header: filter.header.clone(),
            value: Some(filter.value.clone()),
        })
        .await
    }

    /// Where the connection stands.
    pub fn state(&self) -> ConnectionState {
        match self.inner().link() {
            Link::Connecting { attempts, last_error } => ConnectionState::Connecting { attempts, last_error },
            Link::Up { generation, .. } => ConnectionState::Connected { generation },
            Link::Closed => ConnectionState::Closed,
        }
    }

    /// Waits until the client is connected with a connection newer than `after` (pass 0 for
    /// any), and returns that connection's generation (1 for the first, +1 per reconnect).
    ///
    /// # Errors
    ///
    /// [`EslError::Closed`] if the client is closed first.
    pub async fn wait_connected(&self, after: u64) -> Result<u64, EslError> {
        let mut link = self.inner().link.subscribe();
        let reached = link
            .wait_for(|link| match link {
                Link::Up { generation, .. } => *generation > after,
                Link::Closed => true,
                Link::Connecting { .. } => false,
            })
            .await
            .map(|link| link.clone());
        match reached {
            Ok(Link::Up { generation, .. }) => Ok(generation),
            _ => Err(self.inner().closed()),
        }
    }

    /// Says `exit` on both connections and stops reconnecting; pending requests fail with
    /// [`EslError::Closed`] and subscriptions end.
    pub async fn close(&self) {
        let inner = self.inner();
        inner.shutdown.cancel();
        let mut link = inner.link.subscribe();
        let _ = link.wait_for(|link| matches!(link, Link::Closed)).await;
    }

    async fn job_output(&self, command: &str) -> Result<String, EslError> {
        let connection = self.inner().commands()?;
        let event = connection.bgapi(command).await?;
        Ok(event.body().unwrap_or_default().to_owned())
    }

    async fn event_command(&self, command: EslCommand) -> Result<(), EslError> {
        let inner = self.inner();
        if inner.config.events.is_empty() {
            return Err(EslError::InvalidRequest(
                "filters need an event subscription (`events` in the configuration)".into(),
            ));
        }
        let connection = match inner.link() {
            Link::Up { events: Some(events), .. } => events,
            _ => return Err(inner.not_connected()),
        };
        let frame = connection.request(&command).await?;
        let label = String::from_utf8_lossy(&command.to_bytes()?).trim().to_owned();
        check_reply(&inner.server, &label, &frame).map(drop)
    }

    fn inner(&self) -> &Inner {
        &self.handle.inner
    }
}

/// Where a client's connection stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Closed by [`InboundClient::close`] or by dropping every clone.
    Closed,
    /// Up; `generation` counts successful connections (1 for the first).
    Connected {
        /// Which connection this is.
        generation: u64,
    },
    /// Not up: connecting for the first time or after a loss.
    Connecting {
        /// Failed attempts since the last success.
        attempts: u32,
        /// Why the last attempt failed or the last connection ended.
        last_error: Option<EslError>,
    },
}

/// Stops the supervisor once the last clone of the client is gone.
#[derive(Debug)]
struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.shutdown.cancel();
    }
}

#[derive(Debug)]
struct Inner {
    config: InboundConfig,
    server: String,
    /// Lives across connections so subscriptions survive reconnects.
    demux: Arc<Demux>,
    /// The filters to apply on the next event connection.
    filters: Mutex<Vec<Filter>>,
    link: watch::Sender<Link>,
    shutdown: CancellationToken,
}

impl Inner {
    /// The current link, cloned so no borrow of the watch is held while it is used (a nested
    /// borrow could deadlock against the supervisor's next write).
    fn link(&self) -> Link {
        self.link.borrow().clone()
    }

    fn commands(&self) -> Result<Arc<Connection>, EslError> {
        match self.link() {
            Link::Up { commands, .. } => Ok(commands),
            Link::Connecting { .. } => Err(self.not_connected()),
            Link::Closed => Err(self.closed()),
        }
    }

    fn not_connected(&self) -> EslError {
        let last_error = match self.link() {
            Link::Connecting { last_error: Some(err), .. } => err.to_string(),
            Link::Closed => return self.closed(),
            _ => "none yet".to_owned(),
        };
        EslError::NotConnected { server: self.server.clone(), last_error }
    }

    fn closed(&self) -> EslError {
        EslError::Closed { server: self.server.clone() }
    }

    fn lock_filters(&self) -> MutexGuard<'_, Vec<Filter>> {
        // Only pushes and clones happen under this lock; recovering from poison keeps it total.
        self.filters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn open(&self) -> Result<(Arc<Connection>, Option<Arc<Connection>>), EslError> {
        let commands = Connection::open(&self.config, Role::Commands).await?;
        let events = if self.config.events.is_empty() {
            None
        } else {
            let role = Role::Events {
                demux: self.demux.clone(),
                events: self.config.events.clone(),
                format: self.config.format,
                filters: self.lock_filters().clone(),
            };
            Some(Arc::new(Connection::open(&self.config, role).await?))
        };
        Ok((Arc::new(commands), events))
    }
}

#[derive(Clone, Debug)]
enum Link {
    Closed,
    Connecting { attempts: u32, last_error: Option<EslError> },
    Up { commands: Arc<Connection>, events: Option<Arc<Connection>>, generation: u64 },
}

/// Keeps the connections up: connect, wait for a loss, back off, reconnect.
async fn supervise(inner: Arc<Inner>) {
    let initial = inner.config.reconnect_initial;
    let mut delay = initial;
    let mut attempts = 0;
    let mut generation = 0;
    loop {
        let opened = tokio::select! {
            () = inner.shutdown.cancelled() => break,
            opened = inner.open() => opened,
        };
        match opened {
            Ok((commands, events)) => {
                generation += 1;
                attempts = 0;
                delay = initial;
                info!(server = %inner.server, name = %inner.config.name, generation, "connected to FreeSWITCH");
                inner.link.send_replace(Link::Up {
                    commands: commands.clone(),
                    events: events.clone(),
                    generation,
                });
                let lost = tokio::select! {
                    () = inner.shutdown.cancelled() => None,
                    err = commands.closed() => Some(err),
                    err = events_closed(events.as_deref()) => Some(err),
                };
                let Some(err) = lost else {
                    let events_exit = async {
                        if let Some(events) = &events {
                            events.exit().await;
                        }
                    };
                    tokio::join!(commands.exit(), events_exit);
                    break;
                };
                warn!(server = %inner.server, error = %err, "lost the connection to FreeSWITCH");
                inner.link.send_replace(Link::Connecting { attempts, last_error: Some(err.clone()) });
                // Both go together: fail whatever still waits on the surviving one now.
                commands.abort(err.clone());
                if let Some(events) = &events {
                    events.abort(err);
                }
                inner.demux.connection_lost();
            }
            Err(err) => {
                attempts += 1;
                warn!(server = %inner.server, attempt = attempts, error = %err, retry_in = ?delay, "cannot connect to FreeSWITCH");
                inner.link.send_replace(Link::Connecting { attempts, last_error: Some(err) });
            }
        }
        tokio::select! {
            () = inner.shutdown.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(inner.config.reconnect_max.max(initial));
    }
    // Subscriptions end first, so whoever sees `Closed` also sees their streams end.
    inner.demux.close();
    inner.link.send_replace(Link::Closed);
}

async fn events_closed(events: Option<&Connection>) -> EslError {
    match events {
        Some(events) => events.closed().await,
        None => std::future::pending().await,
    }
}

fn without_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
    }
    text
}

const API_STATUS: &str = "status";
const API_UUID_KILL: &str = "uuid_kill";
