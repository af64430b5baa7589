//! [`InboundPool`]: inbound clients for several FreeSWITCH servers at once, with health from
//! `api status`, and a choice of server for each new call.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::status::ServerStatus;
use super::{ConnectionState, EslError, InboundClient, InboundConfig, OriginateOutcome, OriginateRequest};

/// Clients for several FreeSWITCH servers, each connecting and reconnecting on its own.
#[derive(Debug)]
pub struct InboundPool {
    servers: Vec<Server>,
    /// Stops the periodic health check.
    stop: CancellationToken,
}

impl InboundPool {
    /// Starts a client per configuration (they connect in the background) and, if `interval`
    /// is given, checks every server's health that often.
    ///
    /// Must be called within a tokio runtime.
    pub fn start(configs: Vec<InboundConfig>, interval: Option<Duration>) -> Self {
        let servers: Vec<Server> = configs
            .into_iter()
            .map(|config| Server {
                health: Arc::new(Mutex::new(ServerHealth::unchecked(&config))),
                client: InboundClient::start(config),
            })
            .collect();
        let stop = CancellationToken::new();
        if let Some(interval) = interval {
            let servers = servers.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = ticks.tick() => check_all(&servers).await,
                    }
                }
            });
        }
        Self { servers, stop }
    }

    /// The client of the server configured under `name`.
    pub fn client(&self, name: &str) -> Option<&InboundClient> {
        self.servers.iter().map(|server| &server.client).find(|client| client.name() == name)
    }

    /// Every client, in configuration order.
    pub fn clients(&self) -> impl Iterator<Item = &InboundClient> {
        self.servers.iter().map(|server| &server.client)
    }

    /// Checks every server's health now (`api status` on the connected ones) and returns it.
    pub async fn check_now(&self) -> Vec<ServerHealth> {
        check_all(&self.servers).await;
        self.health()
    }

    /// The last known health of every server, in configuration order.
    pub fn health(&self) -> Vec<ServerHealth> {
        self.servers.iter().map(|server| lock(&server.health).clone()).collect()
    }

    /// The server for a new call: among the connected, ready servers, the one with the most free
    /// sessions at the last check (a connected server never checked comes after those);
    /// `None` when no server is usable.
    pub fn pick(&self) -> Option<&InboundClient> {
        self.ranked().into_iter().next()
    }

    /// The usable servers, best first (see [`pick`](Self::pick)); ties keep configuration order.
    pub fn ranked(&self) -> Vec<&InboundClient> {
        let mut usable: Vec<(u64, &InboundClient)> = self
            .servers
            .iter()
            .filter(|server| matches!(server.client.state(), ConnectionState::Connected { .. }))
            .filter_map(|server| {
                let health = lock(&server.health);
                match &health.status {
                    Some(status) if !status.ready => None,
                    // No `session(s) max` line in the report: no known limit, so plenty of room.
                    Some(status) => Some((status.free_sessions().unwrap_or(u64::MAX), &server.client)),
                    None => Some((0, &server.client)),
                }
            })
            .collect();
        // Stable: equal servers stay in configuration order.
        usable.sort_by_key(|(free, _)| std::cmp::Reverse(*free));
        usable.into_iter().map(|(_, client)| client).collect()
    }

    /// Places a call on the best server ([`ranked`](Self::ranked)). A server that turns out
    /// to be disconnected before anything was sent is skipped for the next one; once the
    /// command has gone out, its result (or error) is final, so a call is never placed twice.
    ///
    /// # Errors
    ///
    /// [`EslError::NotConnected`] when no server is usable; otherwise as
    /// [`InboundClient::originate`].
    pub async fn originate(&self, request: &OriginateRequest) -> Result<OriginateOutcome, EslError> {
        let mut last = None;
        for client in self.ranked() {
            match client.originate(request).await {
                Err(err @ EslError::NotConnected { .. }) => last = Some(err),
                result => return result,
            }
        }
        Err(last.unwrap_or_else(|| EslError::NotConnected {
            server: self.servers.iter().map(|server| server.client.server()).collect::<Vec<_>>().join(", "),
            last_error: "no FreeSWITCH server is connected and ready".to_owned(),
        }))
    }

    /// Closes every client and stops the health checks.
    pub async fn close(&self) {
        self.stop.cancel();
        for server in &self.servers {
            server.client.close().await;
        }
    }
}

impl Drop for InboundPool {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One server's health as last checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerHealth {
    /// The configured name.
    pub name: String,
    /// `host:port`.
    pub server: String,
    /// Whether the client was connected at the check.
    pub connected: bool,
    /// The last `status`, if the check got one.
    pub status: Option<ServerStatus>,
    /// Why the server is not usable (connection or `status` failure), if it is not.
    pub error: Option<String>,
    /// When it was checked; `None` before the first check.
    pub checked_at: Option<Instant>,
}

impl ServerHealth {
    fn unchecked(config: &InboundConfig) -> Self {
        Self {
            name: config.name.clone(),
            server: config.server(),
            connected: false,
            status: None,
            error: None,
            checked_at: None,
        }
    }
}

#[derive(Clone, Debug)]
struct Server {
    client: InboundClient,
    health: Arc<Mutex<ServerHealth>>,
}

/// Checks every server at once, so one slow server does not delay the others' reports.
async fn check_all(servers: &[Server]) {
    let mut checks = tokio::task::JoinSet::new();
    for server in servers {
        let server = server.clone();
        checks.spawn(async move { check(&server).await });
    }
    while checks.join_next().await.is_some() {}
}

async fn check(server: &Server) {
    let (connected, result) = match server.client.state() {
        ConnectionState::Connected { .. } => (true, server.client.status().await),
        ConnectionState::Connecting { last_error: Some(err), .. } => (false, Err(err)),
        _ => (
            false,
            Err(EslError::NotConnected {
                server: server.client.server().to_owned(),
                last_error: "none yet".to_owned(),
            }),
        ),
    };
    let mut health = lock(&server.health);
    health.connected = connected;
    health.checked_at = Some(Instant::now());
    match result {
        Ok(status) => {
            health.status = Some(status);
            health.error = None;
        }
        Err(err) => {
            health.status = None;
            health.error = Some(err.to_string());
        }
    }
}

fn lock(health: &Mutex<ServerHealth>) -> MutexGuard<'_, ServerHealth> {
    // Only plain field writes happen under this lock; recovering from poison keeps it total.
    health.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
