//! The node's NATS connection: started without waiting, reconnected with backoff, its state
//! readable at any time and its changes logged.
//!
//! async-nats does the connecting. With `retry_on_initial_connect`, `connect_with_options`
//! returns a client at once and makes the first connection in a task of its own, retrying
//! (with `reconnect_delay_callback`'s backoff and no limit on attempts) exactly as it does after
//! losing a connection; publishes meanwhile wait in the client's command channel. rivr's event
//! sink does not lean on that channel while disconnected: it checks the state and keeps events
//! in its own bounded queue, where drops are counted.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, ConnectOptions, Event, ServerAddr};

use crate::config::Nats;

/// The first wait before a reconnect attempt (after an immediate first one).
const BACKOFF_START: Duration = Duration::from_millis(100);
/// The longest wait between attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long the log line of a new connection waits for the server's `INFO` to name it.
const INFO_WAIT: Duration = Duration::from_millis(200);

/// Where the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatsState {
    /// Connected to a server: publishes go out now.
    Connected,
    /// Never connected yet (NATS was not reachable at startup); trying with backoff.
    Connecting,
    /// Lost the connection; reconnecting with backoff.
    Disconnected,
}

impl NatsState {
    /// `connected`, `connecting` or `disconnected`, as `/ready` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            NatsState::Connected => "connected",
            NatsState::Connecting => "connecting",
            NatsState::Disconnected => "disconnected",
        }
    }

    /// Whether publishes go out now.
    pub fn is_connected(self) -> bool {
        self == NatsState::Connected
    }
}

/// The node's one NATS connection. Cheap to clone: every clone is the same connection.
#[derive(Clone, Debug)]
pub struct NatsConnection {
    client: Client,
    servers: Arc<str>,
}

impl NatsConnection {
    /// Connect to `config`'s servers in the background and return at once, connected or not.
    /// Never fails and never waits for NATS. Must be called inside the tokio runtime (the
    /// client's tasks are spawned on it).
    ///
    /// # Panics
    ///
    /// When no URL of `config` is a NATS URL, which configuration validation rules out (every
    /// URL it accepts is one `async_nats::ServerAddr` parses); a configuration built in code
    /// must give a valid one.
    pub fn start(config: &Nats) -> NatsConnection {
        let servers: Vec<ServerAddr> = config
            .url
            .iter()
            .filter_map(|url| match url.parse::<ServerAddr>() {
                Ok(addr) => Some(addr),
                Err(error) => {
                    tracing::error!(url = url.as_str(), %error, "not a NATS server URL; left out");
                    None
                }
            })
            .collect();
        assert!(
            !servers.is_empty(),
            "nats.url has no usable server URL ({}); configuration validation should have refused it",
            config.url.joined()
        );
        let joined: Arc<str> = Arc::from(config.url.joined());
        let name = config.client_name();
        let watch = Arc::new(Watch { servers: joined.clone(), ..Watch::default() });

        let mut options = ConnectOptions::new()
            .name(name)
            .connection_timeout(config.connect_timeout())
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(reconnect_delay);
        if let Some(token) = &config.token {
            options = options.token(token.expose().to_string());
        }
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            options = options.user_and_password(user.to_string(), password.expose().to_string());
        }
        let events = watch.clone();
        options = options.event_callback(move |event| {
            let events = events.clone();
            async move { events.on(event).await }
        });

        let client = connect_now(async_nats::connect_with_options(servers, options));
        let _ = watch.client.set(client.clone());
        tracing::info!(servers = %joined, "connecting to NATS in the background");
        NatsConnection { client, servers: joined }
    }

    /// The client, for publishing and subscribing. Usable while disconnected: what it is given
    /// then waits in its bounded command channel until the connection is back.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Where the connection is now.
    pub fn state(&self) -> NatsState {
        client_state(&self.client)
    }

    /// The configured server URLs, joined with `, `.
    pub fn servers(&self) -> &str {
        &self.servers
    }
}

/// A client's state as rivr names it (for the sink, which holds only the client).
pub fn client_state(client: &Client) -> NatsState {
    match client.connection_state() {
        State::Connected => NatsState::Connected,
        State::Pending => NatsState::Connecting,
        State::Disconnected => NatsState::Disconnected,
    }
}

/// The client `connect_with_options` gives. With `retry_on_initial_connect` it awaits nothing
/// (async-nats 0.52, `lib.rs`: the connecting is spawned), so one poll completes it; the only
/// error it can return then is an unparsable server list, which `start` has ruled out.
fn connect_now(connect: impl Future<Output = Result<Client, async_nats::ConnectError>>) -> Client {
    let mut connect = pin!(connect);
    match connect.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(client)) => client,
        Poll::Ready(Err(error)) => panic!("async-nats refused the validated server list: {error}"),
        Poll::Pending => {
            panic!("async-nats waited to connect despite retry_on_initial_connect: check its version")
        }
    }
}

/// The wait before reconnect attempt `attempts` (counting from 1, reset by a connection): none
/// for the first, then doubling from 100 ms up to 5 s, each drawn between half and all of that
/// so that many nodes losing one server do not all come back in the same instant.
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(16);
    let ceiling = BACKOFF_START.saturating_mul(1 << doublings).min(BACKOFF_MAX);
    // A random fraction in [0.5, 1) from the standard library's per-process random keys.
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let fraction = 0.5 + (random >> 11) as f64 / (1u64 << 53) as f64 / 2.0;
    ceiling.mul_f64(fraction)
}

/// What the event callback knows between events: to log each change once, with the server.
#[derive(Default)]
struct Watch {
    servers: Arc<str>,
    client: OnceLock<Client>,
    /// The `server_id` and address logged at the last connection.
    last_server: Mutex<Option<(String, String)>>,
    /// Whether a failed attempt has been logged at warn since the last connection: the rest
    /// of an outage's attempts are logged at debug.
    outage_reported: AtomicBool,
}

impl Watch {
    async fn on(&self, event: Event) {
        match event {
            Event::Connected => {
                let (server, server_name, version) = self.new_server().await;
                self.outage_reported.store(false, Ordering::Relaxed);
                tracing::info!(servers = %self.servers, %server, %server_name, %version, "connected to NATS");
            }
            Event::Disconnected => {
                self.outage_reported.store(true, Ordering::Relaxed);
                tracing::warn!(
                    servers = %self.servers,
                    server = %self.last_address(),
                    "lost the NATS connection; reconnecting with backoff (calls go on, events wait in their queues)"
                );
            }
            Event::ClientError(error) => {
                if self.outage_reported.swap(true, Ordering::Relaxed) {
                    tracing::debug!(servers = %self.servers, %error, "NATS connection attempt failed");
                } else {
                    tracing::warn!(
                        servers = %self.servers,
                        %error,
                        "cannot reach NATS; rivr serves calls and keeps trying with backoff"
                    );
                }
            }
            Event::ServerError(error) => {
                tracing::warn!(servers = %self.servers, server = %self.last_address(), %error, "the NATS server reported an error");
            }
            Event::LameDuckMode => {
                tracing::warn!(server = %self.last_address(), "the NATS server is shutting down (lame duck mode); rivr will move to another");
            }
            Event::SlowConsumer(sid) => {
                tracing::warn!(
                    subscription = sid,
                    "a NATS subscription is not keeping up; the server dropped messages for it"
                );
            }
            Event::Closed => tracing::info!(servers = %self.servers, "NATS connection closed"),
            Event::Draining => tracing::debug!(servers = %self.servers, "NATS connection draining"),
        }
    }

    /// The server just connected to, from its `INFO`: the client stores that right after
    /// announcing the connection, so wait briefly for an `INFO` from a server other than the
    /// last one (a restarted server has a new id; the same one reconnected is named right).
    async fn new_server(&self) -> (String, String, String) {
        let previous = self.last_server.lock().unwrap_or_else(|e| e.into_inner()).clone().map(|(id, _)| id);
        let deadline = tokio::time::Instant::now() + INFO_WAIT;
        let info = loop {
            let info = self.client.get().and_then(Client::try_server_info);
            let fresh = info.as_ref().is_some_and(|info| Some(&info.server_id) != previous.as_ref());
            if fresh || tokio::time::Instant::now() >= deadline {
                break info;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let Some(info) = info else {
            return (self.servers.to_string(), String::new(), String::new());
        };
        let address = format!("{}:{}", info.host, info.port);
        *self.last_server.lock().unwrap_or_else(|e| e.into_inner()) = Some((info.server_id, address.clone()));
        (address, info.server_name, info.version)
    }

    fn last_address(&self) -> String {
        match &*self.last_server.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((_, address)) => address.clone(),
            None => self.servers.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_back_off_from_at_once_to_at_most_five_seconds_with_jitter() {
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        let second = reconnect_delay(2);
        assert!(second >= BACKOFF_START / 2 && second < BACKOFF_START, "{second:?}");
        for attempts in [10, 100, usize::MAX] {
            let delay = reconnect_delay(attempts);
            assert!(delay >= BACKOFF_MAX / 2 && delay < BACKOFF_MAX, "{attempts}: {delay:?}");
        }
    }

    #[tokio::test]
    async fn starting_without_a_server_returns_at_once_and_is_connecting() {
        // Port 1 on loopback: nothing listens there.
        let connection = NatsConnection::start(&Nats::new("nats://127.0.0.1:1"));
        assert_eq!(connection.state(), NatsState::Connecting);
        assert_eq!(connection.servers(), "nats://127.0.0.1:1");
        assert!(!connection.state().is_connected());
    }
}
