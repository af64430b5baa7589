//! `rivr run`: the runtime. It serves FreeSWITCH's outbound sockets: each call is routed to a
//! script, gets one task on the runtime that drives its script's fiber, and is counted in `Calls`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tracing::Instrument;

use crate::call::actor::CallServices;
use crate::call::fiber::Fibers;
use crate::call::{actor, CallInfo, CallState, Command, HangupCause};
use crate::config::Fallback;
use crate::http::ReqwestHttp;
use crate::reload::LiveConfig;
use crate::script::engine::STACK_SIZE;
use crate::script::runner::{self, CallJob, Ending};
use crate::script::watch::{ScriptWatcher, WatchOptions};
use crate::script::ScriptStore;
use crate::switch::freeswitch::channel::FsChannel;
use crate::switch::freeswitch::inbound::RIVR_SCRIPT_VARIABLE;
use crate::switch::freeswitch::outbound;
use crate::switch::freeswitch::settings::FsSettings;
use crate::switch::Channel;

/// Script stacks kept for the next calls once theirs ended.
const IDLE_SCRIPT_STACKS: usize = 1024;

/// The route name of calls rivr originated with a script of their own.
pub const ORIGINATE_ROUTE: &str = "originate";

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client for scripts: {0}")]
    Http(#[source] crate::http::HttpSetupError),
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr} for FreeSWITCH: {source} (is another rivr running? set `listen` in rivr.yaml)")]
    Listen {
        /// The address from the configuration.
        addr: std::net::SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// One live call, for listings and the drain on shutdown.
#[derive(Clone, Debug)]
pub struct LiveCall {
    /// The route that picked the script.
    pub route: String,
    /// The script it started on.
    pub script: String,
    /// When it started.
    pub started: Instant,
}

/// The registry of live calls, with counters.
#[derive(Debug, Default)]
pub struct Calls {
    live: Mutex<HashMap<String, LiveCall>>,
    /// Calls that ran a script.
    pub started: AtomicU64,
    /// Calls refused because `max_calls` were up.
    pub rejected_busy: AtomicU64,
    /// Calls that matched no route.
    pub rejected_no_route: AtomicU64,
    /// Calls whose script failed (the fallback ran).
    pub failed: AtomicU64,
}

impl Calls {
    /// How many calls are live.
    pub fn len(&self) -> usize {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no call is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the live calls by uuid.
    pub fn list(&self) -> Vec<(String, LiveCall)> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.iter().map(|(uuid, call)| (uuid.clone(), call.clone())).collect()
    }

    fn begin(&self, uuid: &str, call: LiveCall) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(uuid.to_string(), call);
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    fn end(&self, uuid: &str) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(uuid);
    }
}

/// Everything a new call needs, shared by every call.
pub struct Runtime {
    live: Arc<LiveConfig>,
    store: Arc<ScriptStore>,
    http: Arc<ReqwestHttp>,
    calls: Arc<Calls>,
    fibers: Arc<Fibers>,
}

impl Runtime {
    /// A runtime for the live configuration `live` with `store`'s scripts.
    ///
    /// # Errors
    /// When the HTTP client for scripts can't be built (TLS setup).
    pub fn new(live: Arc<LiveConfig>, store: Arc<ScriptStore>) -> Result<Arc<Self>, ServerError> {
        let http = Arc::new(ReqwestHttp::new(&live.current().config.http).map_err(ServerError::Http)?);
        live.attach_store(store.clone());
        live.attach_http(http.clone());
        Ok(Arc::new(Runtime {
            live,
            store,
            http,
            calls: Arc::new(Calls::default()),
            fibers: Fibers::new(STACK_SIZE, IDLE_SCRIPT_STACKS),
        }))
    }

    /// The live calls.
    pub fn calls(&self) -> &Arc<Calls> {
        &self.calls
    }

    /// The backend settings the configuration rivr started with implies.
    pub fn fs_settings(&self) -> FsSettings {
        let snapshot = self.live.current();
        let config = &snapshot.config;
        FsSettings {
            tts_engine: config.tts.engine.clone(),
            tts_voice: config.tts.voice.clone(),
            recordings_dir: config.recordings.as_ref().map(|dir| dir.display().to_string()),
            language: config.sounds.language.clone(),
            // A hard ceiling on sockets; calls above `max_calls` are answered with busy_cause.
            max_calls: config.max_calls.get().saturating_mul(2),
            ..FsSettings::default()
        }
    }

    /// Route and start one call that FreeSWITCH connected. Runs on the runtime.
    pub fn start_call<C: Channel>(self: &Arc<Self>, mut info: CallInfo, channel: C) {
        // The configuration and script versions in force now stay with this call to its end.
        let snapshot = self.live.current();
        let config = &snapshot.config;
        if self.calls.len() >= config.max_calls.get() {
            self.calls.rejected_busy.fetch_add(1, Ordering::Relaxed);
            let cause = config.busy_cause.clone();
            tracing::warn!(uuid = %info.uuid, max_calls = config.max_calls.get(), %cause, "max_calls reached; rejecting the call");
            tokio::spawn(reject(channel, cause));
            return;
        }
        let language = config.sounds.language.clone();
        let max_duration = Duration::from_secs(config.max_call_duration_s.get());
        // A call rivr originated names its script (`rivr originate`, `OriginateRequest::script`).
        if let Some(name) = info.variables.get(RIVR_SCRIPT_VARIABLE).cloned() {
            if let Some(script) = self.store.get(&name) {
                info.route = Some(ORIGINATE_ROUTE.into());
                tracing::info!("call {} → route {ORIGINATE_ROUTE} ({name})", info.uuid);
                let job = CallJob {
                    info,
                    script,
                    scripts: Some(self.store.clone()),
                    limits: config.limits.clone(),
                    fallback: Fallback::clone(&config.fallback),
                    language,
                };
                self.run_script(channel, job, max_duration);
                return;
            }
            tracing::warn!(uuid = %info.uuid, script = %name, "the originated call names a script that is not loaded; routing it instead");
        }
        let Some(route) = snapshot.router.route(&info) else {
            self.calls.rejected_no_route.fetch_add(1, Ordering::Relaxed);
            let cause = snapshot.router.no_route_cause().clone();
            tracing::warn!(uuid = %info.uuid, destination = %info.destination, caller = %info.caller_id_number, %cause, "call matched no route; rejecting it");
            tokio::spawn(reject(channel, cause));
            return;
        };
        route.apply_to(&mut info);
        tracing::info!(
            caller = %info.caller_id_number,
            destination = %info.destination,
            "call {} → route {} ({})",
            info.uuid,
            route.name(),
            route.script()
        );
        let Some(script) = self.store.get(route.script()) else {
            tracing::error!(uuid = %info.uuid, route = route.name(), script = route.script(), "the route's script is not loaded (missing, or it never compiled: see `rivr check`); applying the fallback");
            self.run_fallback(channel, route.fallback().clone());
            return;
        };
        let job = CallJob {
            info,
            script,
            scripts: Some(self.store.clone()),
            limits: route.limits().clone(),
            fallback: route.fallback().clone(),
            language,
        };
        self.run_script(channel, job, max_duration);
    }

    /// Count the call and run its script on a fiber, driven by a task of its own that hangs the
    /// call up after `max_duration`.
    fn run_script<C: Channel>(&self, channel: C, job: CallJob, max_duration: Duration) {
        let uuid = job.info.uuid.clone();
        let route = job.info.route.clone().unwrap_or_default();
        let live = LiveCall { route, script: job.script.name.clone(), started: Instant::now() };
        let span = job.span();
        let fiber = match runner::fiber(&self.fibers, job) {
            Ok(fiber) => fiber,
            Err(error) => {
                tracing::error!(%uuid, %error, "cannot map a stack for the call's script; hanging the call up");
                tokio::spawn(channel.close());
                return;
            }
        };
        self.calls.begin(&uuid, live);
        let calls = self.calls.clone();
        let services = CallServices::with_http(self.http.clone()).with_max_duration(max_duration);
        tokio::spawn(
            async move {
                let report = actor::drive(channel, fiber, services).await;
                if matches!(report.ending, Ending::Failed(_)) {
                    calls.failed.fetch_add(1, Ordering::Relaxed);
                }
                calls.end(&uuid);
            }
            .instrument(span),
        );
    }

    /// Apply `fallback` to a call whose route has no script loaded.
    fn run_fallback<C: Channel>(&self, channel: C, fallback: Fallback) {
        let body = move |handle| runner::apply_fallback(&handle, &fallback);
        match self.fibers.fiber(Arc::new(CallState::default()), body) {
            Ok(fiber) => {
                tokio::spawn(actor::drive(channel, fiber, CallServices::with_http(self.http.clone())));
            }
            Err(error) => {
                tracing::error!(%error, "cannot map a stack for the fallback; hanging the call up");
                tokio::spawn(channel.close());
            }
        }
    }
}

async fn reject<C: Channel>(mut channel: C, cause: HangupCause) {
    let _ = channel.execute(Command::Reject(cause), None).await;
    channel.close().await;
}

/// Serve FreeSWITCH outbound sockets for `runtime` until `shutdown`, then let live calls finish
/// for up to the drain timeout.
///
/// # Errors
/// When the listen address can't be bound.
pub async fn serve(runtime: Arc<Runtime>, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
    let addr = runtime.live.current().config.listen;
    // A deep accept queue: a burst overflowing the default one loses connections silently.
    let listener = outbound::bind(addr).map_err(|source| ServerError::Listen { addr, source })?;
    serve_on(listener, runtime, shutdown).await;
    Ok(())
}

/// [`serve`] on a listener the caller bound (tests bind `127.0.0.1:0`).
pub async fn serve_on(listener: TcpListener, runtime: Arc<Runtime>, shutdown: impl Future<Output = ()>) {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    // Scripts and the configuration reload while rivr serves; the guards stop that at the end.
    let _scripts = ScriptWatcher::start_with(runtime.store.clone(), WatchOptions::default());
    let _config = runtime.live.watch(&WatchOptions::default());
    let _sighup =
        runtime.live.reload_on_sighup().map_err(|error| tracing::warn!(%error, "cannot catch SIGHUP")).ok();
    tracing::info!(%addr, scripts = ?runtime.store.names(), routes = runtime.live.current().router.len(), "rivr is listening for FreeSWITCH outbound sockets");
    let settings = Arc::new(runtime.fs_settings());
    let on_call = {
        let runtime = runtime.clone();
        move |info: CallInfo, channel: FsChannel| runtime.start_call(info, channel)
    };
    outbound::serve(listener, settings, on_call, shutdown).await;
    let drain = Duration::from_secs(runtime.live.current().config.drain_timeout_s);
    let deadline = Instant::now() + drain;
    while !runtime.calls.is_empty() && Instant::now() < deadline {
        tracing::info!(live = runtime.calls.len(), "draining: waiting for live calls to finish");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if !runtime.calls.is_empty() {
        tracing::warn!(live = runtime.calls.len(), "drain timeout reached; stopping with calls still live");
    }
}
