//! `rivr run`: the runtime. It serves FreeSWITCH's outbound sockets: each call is routed to a
//! script, gets one task that drives its script's fiber on the call thread that accepted it
//! (`call_threads`), and is counted in `Calls`. The API, event sinks, NATS and reloads run on the
//! main runtime.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tracing::Instrument;

use crate::call::actor::CallServices;
use crate::call::fiber::Fibers;
use crate::call::{actor, CallInfo, CallState, Command, HangupCause};
use crate::call_threads::CallThreads;
use crate::config::Fallback;
use crate::events::{CallEvents, EventBus};
use crate::http::ReqwestHttp;
use crate::ops::calls::{CallEnding, CallIdentity, LiveCalls};
use crate::ops::metrics::Metrics;
use crate::reload::LiveConfig;
use crate::script::engine::STACK_SIZE;
use crate::script::runner::{self, CallJob};
use crate::script::watch::{ScriptWatcher, WatchOptions};
use crate::script::ScriptStore;
use crate::switch::freeswitch::channel::FsChannel;
use crate::switch::freeswitch::inbound::{InboundConfig, InboundPool, RIVR_SCRIPT_VARIABLE};
use crate::switch::freeswitch::outbound;
use crate::switch::freeswitch::settings::FsSettings;
use crate::switch::Channel;

/// Script stacks kept for the next calls once theirs ended.
const IDLE_SCRIPT_STACKS: usize = 1024;

/// How often the inbound connections' health (`api status`) is checked.
const INBOUND_HEALTH_INTERVAL: Duration = Duration::from_secs(10);

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
    /// The OS refused the threads calls run on.
    #[error("cannot start the threads calls run on: {0} (lower `call_threads` in rivr.yaml, or raise the process' thread limit)")]
    CallThreads(#[source] std::io::Error),
    /// The API's address is taken or not ours.
    #[error("cannot listen on {addr} for the operations API: {source} (set `api.listen` in rivr.yaml, or `api.enabled: false`)")]
    ApiListen {
        /// The address from the configuration.
        addr: std::net::SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Everything a new call needs, shared by every call.
pub struct Runtime {
    live: Arc<LiveConfig>,
    store: Arc<ScriptStore>,
    http: Arc<ReqwestHttp>,
    calls: Arc<LiveCalls>,
    fibers: Arc<Fibers>,
    /// Where FreeSWITCH's outbound sockets reach rivr, once it listens.
    listening: std::sync::Mutex<Option<std::net::SocketAddr>>,
    /// The inbound connections to FreeSWITCH (`freeswitch:`), once serving started them.
    inbound: std::sync::OnceLock<Arc<InboundPool>>,
    /// Call traces (`traces:`), written by a thread of their own.
    traces: crate::trace::Tracing,
    /// Call and script events (`events:`), once serving started the sinks.
    events: std::sync::OnceLock<Arc<EventBus>>,
    /// The NATS connection (`nats:`), once serving started it.
    nats: std::sync::OnceLock<crate::nats::NatsConnection>,
    /// The threads FreeSWITCH's outbound calls run on, once serving started them.
    call_threads: std::sync::OnceLock<Arc<CallThreads>>,
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
        let metrics = Arc::new(Metrics::new());
        let dropped = metrics.traces_dropped.clone();
        let traces = crate::trace::Tracing::new(Some(Arc::new(move || dropped.inc())));
        Ok(Arc::new(Runtime {
            live,
            store,
            http,
            traces,
            calls: Arc::new(LiveCalls::new(metrics)),
            fibers: Fibers::new(STACK_SIZE, IDLE_SCRIPT_STACKS),
            listening: std::sync::Mutex::new(None),
            inbound: std::sync::OnceLock::new(),
            events: std::sync::OnceLock::new(),
            nats: std::sync::OnceLock::new(),
            call_threads: std::sync::OnceLock::new(),
        }))
    }

    /// The live calls.
    pub fn calls(&self) -> &Arc<LiveCalls> {
        &self.calls
    }

    /// The live configuration.
    pub fn live(&self) -> &Arc<LiveConfig> {
        &self.live
    }

    /// The scripts.
    pub fn store(&self) -> &Arc<ScriptStore> {
        &self.store
    }

    /// The address FreeSWITCH's outbound sockets reach, while rivr listens on it.
    pub fn listening_on(&self) -> Option<std::net::SocketAddr> {
        *self.listening.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set_listening(&self, addr: Option<std::net::SocketAddr>) {
        *self.listening.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = addr;
    }

    /// The inbound connections to FreeSWITCH, when `freeswitch:` configures any.
    pub fn inbound(&self) -> Option<&Arc<InboundPool>> {
        self.inbound.get()
    }

    /// Connect to the configured FreeSWITCH servers (inbound event socket), for `POST /calls`
    /// and readiness. Must run inside the tokio runtime; does nothing the second time.
    pub fn start_inbound(&self) {
        let servers = &self.live.started().freeswitch;
        if servers.is_empty() || self.inbound.get().is_some() {
            return;
        }
        let configs = servers
            .iter()
            .map(|fs| InboundConfig::new(fs.name(), fs.host.as_str(), fs.port, fs.password.expose()))
            .collect();
        let _ = self.inbound.set(Arc::new(InboundPool::start(configs, Some(INBOUND_HEALTH_INTERVAL))));
    }

    /// The threads outbound calls run on, once serving started them.
    pub fn call_threads(&self) -> Option<&Arc<CallThreads>> {
        self.call_threads.get()
    }

    /// Start the call threads (`call_threads`, by default one per core but one); the second time, the
    /// ones already running.
    ///
    /// # Errors
    /// When the OS refuses a thread.
    pub fn start_call_threads(&self) -> std::io::Result<Arc<CallThreads>> {
        if let Some(threads) = self.call_threads.get() {
            return Ok(threads.clone());
        }
        let count = CallThreads::count(self.live.started().call_threads);
        let threads = Arc::new(CallThreads::start(count)?);
        let threads = self.call_threads.get_or_init(|| threads).clone();
        self.calls.metrics().call_threads_started(threads.len());
        Ok(threads)
    }

    /// The NATS connection, when `nats:` configures one (connected or not: see its `state`).
    pub fn nats(&self) -> Option<&crate::nats::NatsConnection> {
        self.nats.get()
    }

    /// Start connecting to NATS, when `nats:` configures it, without waiting for it: calls are
    /// served whether NATS is up or not. Must run inside the tokio runtime; does nothing the
    /// second time.
    pub fn start_nats(&self) {
        if let Some(config) = &self.live.started().nats {
            if self.nats.get().is_none() {
                let _ = self.nats.set(crate::nats::NatsConnection::start(config));
            }
        }
    }

    /// The event bus, once serving started it (with no sink configured it sends nothing).
    pub fn events(&self) -> Option<&Arc<EventBus>> {
        self.events.get()
    }

    /// Start the event sinks `events:` configures and the bus in front of them, and tell the
    /// bus about script reloads. Must run inside the tokio runtime; does nothing the second
    /// time. A sink that cannot start is logged and left out: events are never a reason not to
    /// serve calls.
    pub fn start_events(&self) {
        if self.events.get().is_some() {
            return;
        }
        let config = &self.live.started().events;
        let mut sinks = Vec::new();
        if let Some(sink) = &config.nats {
            // Validation makes `events.nats` need `nats:`; starting it is idempotent.
            self.start_nats();
            match self.nats.get() {
                Some(nats) => {
                    let (queue, inbox) = crate::events::sink::queue("nats", "nats", sink.queue.get());
                    crate::events::nats::start_on(nats, sink, inbox);
                    queue.report_drops();
                    sinks.push(queue);
                }
                None => tracing::error!(
                    "events.nats is set without a `nats:` connection; its events are not sent"
                ),
            }
        }
        for webhook in &config.webhooks {
            let name = webhook.display_name();
            let (queue, inbox) = crate::events::sink::queue(&name, "webhook", webhook.queue.get());
            match crate::events::webhook::start(webhook, inbox) {
                Ok(_task) => {
                    queue.report_drops();
                    sinks.push(queue);
                }
                Err(error) => {
                    tracing::error!(sink = %name, %error, "cannot start the webhook sink; its events are not sent")
                }
            }
        }
        let bus = Arc::new(EventBus::new(config, sinks));
        if bus.is_active() {
            tracing::info!(
                source = bus.source(),
                sinks = bus.readings().len(),
                "sending call and script events"
            );
            let reloads = bus.clone();
            self.store.on_reload(Box::new(move |report, store| {
                for name in &report.updated {
                    if let Some(script) = store.get(name) {
                        reloads.script_reloaded(name, &script.version_tag());
                    }
                }
                for problem in &report.failed {
                    reloads.script_failed(problem);
                }
            }));
        }
        let _ = self.events.set(bus);
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
            sound_prefix: config.sounds.prefix.clone(),
            // A hard ceiling on sockets; calls above `max_calls` are answered with busy_cause.
            max_calls: config.max_calls.get().saturating_mul(2),
            ..FsSettings::default()
        }
    }

    /// Route and start one call that FreeSWITCH connected, on the runtime it is called on (the
    /// call thread of an outbound socket).
    pub fn start_call<C: Channel>(self: &Arc<Self>, mut info: CallInfo, channel: C) {
        // The configuration and script versions in force now stay with this call to its end.
        let snapshot = self.live.current();
        let config = &snapshot.config;
        if self.calls.is_draining() {
            let cause = config.busy_cause.clone();
            tracing::info!(uuid = %info.uuid, %cause, "draining; rejecting the call");
            self.refuse(&info, CallEnding::RejectedDraining, cause, channel);
            return;
        }
        if self.calls.len() >= config.max_calls.get() {
            let cause = config.busy_cause.clone();
            tracing::warn!(uuid = %info.uuid, max_calls = config.max_calls.get(), %cause, "max_calls reached; rejecting the call");
            self.refuse(&info, CallEnding::RejectedBusy, cause, channel);
            return;
        }
        let language = config.sounds.language.clone();
        let max_duration = Duration::from_secs(config.max_call_duration_s.get());
        // A call rivr originated names its script (`rivr originate`, `OriginateRequest::script`).
        if let Some(name) = info.variables.get(RIVR_SCRIPT_VARIABLE).map(str::to_string) {
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
                self.run_script(channel, job, max_duration, &config.traces);
                return;
            }
            tracing::warn!(uuid = %info.uuid, script = %name, "the originated call names a script that is not loaded; routing it instead");
        }
        let Some(route) = snapshot.router.route(&info) else {
            let cause = snapshot.router.no_route_cause().clone();
            tracing::warn!(uuid = %info.uuid, destination = %info.destination, caller = %info.caller_id_number, %cause, "call matched no route; rejecting it");
            self.refuse(&info, CallEnding::NoRoute, cause, channel);
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
            let identity = CallIdentity {
                uuid: info.uuid.clone(),
                caller: info.caller_id_number.clone(),
                destination: info.destination.clone(),
                route: route.name().to_string(),
                script: route.script().to_string(),
                version: String::new(),
            };
            let events = self.call_events(&info, &identity);
            self.run_fallback(channel, identity, route.fallback().clone(), events);
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
        self.run_script(channel, job, max_duration, &config.traces);
    }

    /// Count the call and run its script on a fiber, driven by a task of its own that hangs the
    /// call up after `max_duration`.
    fn run_script<C: Channel>(
        &self,
        channel: C,
        job: CallJob,
        max_duration: Duration,
        traces: &crate::config::Traces,
    ) {
        let identity = CallIdentity {
            uuid: job.info.uuid.clone(),
            caller: job.info.caller_id_number.clone(),
            destination: job.info.destination.clone(),
            route: job.info.route.clone().unwrap_or_default(),
            script: job.script.name.clone(),
            version: job.script.version_tag(),
        };
        let span = job.span();
        // The call's trace, if the call's own configuration says to keep one: another observer.
        let trace = self.traces.begin(traces, &job.info, &identity.script, &identity.version);
        let events = self.call_events(&job.info, &identity);
        let fiber = match runner::fiber(&self.fibers, job) {
            Ok(fiber) => fiber,
            Err(error) => {
                tracing::error!(uuid = %identity.uuid, %error, "cannot map a stack for the call's script; hanging the call up");
                // `call.started` went out: its call ends too, as one rivr stopped.
                if let Some(events) = &events {
                    events.finish(CallEnding::Cancelled, None);
                }
                tokio::spawn(channel.close());
                return;
            }
        };
        let (call, observer, hangup) = self.calls.begin(identity);
        let calls = self.calls.clone();
        let mut services = CallServices::with_http(self.http.clone())
            .with_max_duration(max_duration)
            .watched(observer, hangup);
        if let Some(trace) = &trace {
            services = services.also_observed(trace.observer());
        }
        match (&events, self.events.get()) {
            (Some(events), _) => services = services.also_observed(events.clone()).publishing(events.clone()),
            (None, Some(bus)) => services = services.publishing(bus.clone()),
            (None, None) => {}
        }
        tokio::spawn(
            async move {
                let report = actor::drive(channel, fiber, services).await;
                if let Some(trace) = trace {
                    trace.finish(Some(&report));
                }
                let ending = CallEnding::of(&report.ending);
                if let Some(events) = events {
                    events.finish(ending, Some(&report));
                }
                calls.end(&call, ending, Some(&report));
            }
            .instrument(span),
        );
    }

    /// Hang up a call rivr will not run, with `cause`: counted as `ending`, and its one event
    /// (`call.ended`) sent.
    fn refuse<C: Channel>(&self, info: &CallInfo, ending: CallEnding, cause: HangupCause, channel: C) {
        self.calls.refused("", ending);
        if let Some(bus) = self.events.get() {
            CallEvents::rejected(bus, info, ending, &cause);
        }
        tokio::spawn(reject(channel, cause));
    }

    /// The call's events, when a sink takes any: `call.started` goes out now.
    fn call_events(&self, info: &CallInfo, identity: &CallIdentity) -> Option<Arc<CallEvents>> {
        self.events.get().and_then(|bus| CallEvents::begin(bus, info, &identity.script, &identity.version))
    }

    /// Apply `fallback` to a call whose route has no script loaded.
    fn run_fallback<C: Channel>(
        &self,
        channel: C,
        identity: CallIdentity,
        fallback: Fallback,
        events: Option<Arc<CallEvents>>,
    ) {
        let body = move |handle| runner::apply_fallback(&handle, &fallback);
        match self.fibers.fiber(Arc::new(CallState::default()), body) {
            Ok(fiber) => {
                let (call, observer, hangup) = self.calls.begin(identity);
                let calls = self.calls.clone();
                let mut services = CallServices::with_http(self.http.clone()).watched(observer, hangup);
                if let Some(events) = &events {
                    services = services.also_observed(events.clone());
                }
                tokio::spawn(async move {
                    actor::drive(channel, fiber, services).await;
                    if let Some(events) = events {
                        events.finish(CallEnding::Fallback, None);
                    }
                    calls.end(&call, CallEnding::Fallback, None);
                });
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
/// for up to the drain timeout. With `api.enabled`, the operations API serves alongside on its
/// own listener until the drain is over.
///
/// # Errors
/// When the listen address (or the API's) can't be bound.
pub async fn serve(runtime: Arc<Runtime>, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
    let config = runtime.live.started().clone();
    let addr = config.listen;
    // A deep accept queue: a burst overflowing the default one loses connections silently.
    let listener = outbound::bind(addr).map_err(|source| ServerError::Listen { addr, source })?;
    runtime.start_call_threads().map_err(ServerError::CallThreads)?;
    let api_done = tokio_util::sync::CancellationToken::new();
    if config.api.enabled {
        let addr = *config.api.listen.value();
        let api_listener =
            TcpListener::bind(addr).await.map_err(|source| ServerError::ApiListen { addr, source })?;
        let bound = api_listener.local_addr().unwrap_or(addr);
        tracing::info!(addr = %bound, token = config.api.token.is_some(), "operations API listening; the live view is at http://{bound}/");
        let stop = api_done.clone();
        let runtime = runtime.clone();
        tokio::spawn(async move {
            let stopped = async move { stop.cancelled().await };
            if let Err(error) =
                crate::ops::api::serve_on(api_listener, runtime, config.api.token.clone(), stopped).await
            {
                tracing::error!(%error, "the operations API stopped");
            }
        });
    }
    serve_on(listener, runtime, shutdown).await;
    api_done.cancel();
    Ok(())
}

/// [`serve`] on a listener the caller bound (tests bind `127.0.0.1:0`), without the API (tests
/// serve it with `ops::api::serve_on`).
pub async fn serve_on(listener: TcpListener, runtime: Arc<Runtime>, shutdown: impl Future<Output = ()>) {
    let bound = listener.local_addr().ok();
    let addr = bound.map(|a| a.to_string()).unwrap_or_default();
    // Scripts and the configuration reload while rivr serves; the guards stop that at the end.
    let _scripts = ScriptWatcher::start_with(runtime.store.clone(), WatchOptions::default());
    let _config = runtime.live.watch(&WatchOptions::default());
    let _sighup =
        runtime.live.reload_on_sighup().map_err(|error| tracing::warn!(%error, "cannot catch SIGHUP")).ok();
    runtime.start_inbound();
    // Before the events: the NATS sink publishes over this connection.
    runtime.start_nats();
    runtime.start_events();
    let trimming = crate::memory::trim_periodically();
    runtime.set_listening(bound);
    // Originate and hangup commands over NATS, once answered calls can connect back. Draining
    // stops the originate pulls; hangups are served until the drain is over.
    let commands = crate::nats::commands::start_for(&runtime, runtime.nats());
    tracing::info!(%addr, scripts = ?runtime.store.names(), routes = runtime.live.current().router.len(), "rivr is listening for FreeSWITCH outbound sockets");
    let settings = Arc::new(runtime.fs_settings());
    let threads = match runtime.start_call_threads() {
        Ok(threads) => threads,
        Err(error) => {
            tracing::error!(%error, "cannot start the threads calls run on; not serving calls");
            return;
        }
    };
    tracing::info!(threads = threads.len(), "calls run on their own threads (call_threads)");
    let on_call = {
        let runtime = runtime.clone();
        move |info: CallInfo, channel: FsChannel| runtime.start_call(info, channel)
    };
    outbound::serve(listener, settings, threads, on_call, shutdown).await;
    runtime.set_listening(None);
    runtime.calls.set_draining(true);
    let drain = Duration::from_secs(runtime.live.current().config.drain_timeout_s);
    let deadline = Instant::now() + drain;
    while !runtime.calls.is_empty() && Instant::now() < deadline {
        tracing::info!(live = runtime.calls.len(), "draining: waiting for live calls to finish");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if !runtime.calls.is_empty() {
        tracing::warn!(live = runtime.calls.len(), "drain timeout reached; stopping with calls still live");
    }
    if let Some(commands) = commands {
        commands.stop().await;
    }
    trimming.abort();
    if let Some(pool) = runtime.inbound() {
        pool.close().await;
    }
}
