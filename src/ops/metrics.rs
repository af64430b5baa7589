//! `Metrics`: rivr's Prometheus metrics, exposed by `GET /metrics` in Prometheus' text format
//! (the `prometheus` crate writes it; nothing here formats exposition by hand).
//!
//! Labels take values from fixed sets (verbs, endings, failure kinds) or from the configuration
//! (route and connection names), never from calls: no uuids, numbers or free text, so the number
//! of series stays bounded whatever the traffic.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric rivr exports, registered once.
pub struct Metrics {
    registry: Registry,
    /// `rivr_calls_active`: calls running a script now.
    pub calls_active: IntGauge,
    /// `rivr_call_thread_calls{thread}`: the same, by the call thread they run on.
    call_thread_calls: IntGaugeVec,
    /// Each call thread's series of `call_thread_calls`, resolved once when the threads start
    /// rather than by formatting and hashing a label at every call.
    call_threads: std::sync::OnceLock<Vec<IntGauge>>,
    /// `rivr_calls_total{route, ending}`: calls by route and how they ended.
    pub calls_total: IntCounterVec,
    /// `rivr_call_duration_seconds{route}`: how long calls lasted, from connect to end.
    pub call_duration: HistogramVec,
    /// `rivr_verb_duration_seconds{verb}`: how long each verb took on the switch.
    pub verb_duration: HistogramVec,
    /// `rivr_script_errors_total{kind}`: scripts that failed, by kind.
    pub script_errors: IntCounterVec,
    /// `rivr_max_calls_rejections_total`: calls refused because `max_calls` were up.
    pub max_calls_rejections: IntCounter,
    /// `rivr_draining`: 1 while the node refuses new calls.
    pub draining: IntGauge,
    /// `rivr_traces_dropped_total`: call traces dropped because the trace queue was full.
    pub traces_dropped: IntCounter,
    /// `rivr_originate_total{via, outcome}`: calls rivr was asked to place, by how they were
    /// asked for (`api`, `nats`) and what came of it.
    pub originate: IntCounterVec,
    /// `rivr_menu_reached_total{script, line}`: visits to each ask/menu/collect site.
    pub menu_reached: IntCounterVec,
    /// `rivr_menu_outcomes_total{script, line, outcome}`: how the visits ended.
    pub menu_outcomes: IntCounterVec,
    /// `rivr_menu_retries_total{script, line}`: tries beyond the first.
    pub menu_retries: IntCounterVec,
    /// `rivr_menu_choices_total{script, line, choice}`: menu choices taken, by the menu's key.
    pub menu_choices: IntCounterVec,
    reloads: IntCounterVec,
    scripts_loaded: IntGauge,
    scripts_failing: IntGauge,
    fs_connected: IntGaugeVec,
    fs_reconnects: IntCounterVec,
    tasks_alive: IntGauge,
    events: IntCounterVec,
    events_queued: IntGaugeVec,
    /// No labels: a vector only so that it appears once set, on nodes with `nats:`.
    nats_connected: IntGaugeVec,
    /// Each verb's histogram, found by the verb's `&'static str` (a pointer comparison) instead
    /// of hashing its label on every verb of every call.
    verbs: std::sync::RwLock<Vec<(&'static str, Histogram)>>,
    /// Values read from elsewhere at scrape time, and what was last added for them: a counter
    /// only goes up, so each scrape adds the difference.
    seen: Mutex<HashMap<(String, String), u64>>,
}

/// Most keys a menu may have for its choices to be counted live by key (the `choice` label).
pub const MAX_CHOICE_KEYS: usize = 20;

/// Verb times, 1 ms to 10 minutes: a `set` takes a millisecond, a `dial` or a `record` minutes.
const VERB_BUCKETS: &[f64] =
    &[0.001, 0.005, 0.02, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0];

/// Call lengths, 1 s to 4 hours (the default `max_call_duration_s`).
const CALL_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0];

/// What the scrape reads from the rest of rivr.
#[derive(Debug, Default)]
pub struct Readings {
    /// Scripts served now, and scripts that do not compile now.
    pub scripts: (usize, usize),
    /// Script reloads applied and failed since start.
    pub script_reloads: (u64, u64),
    /// Configuration reloads applied and rejected since start.
    pub config_reloads: (u64, u64),
    /// Each FreeSWITCH connection: its name, whether it is up, and how many times it connected.
    pub connections: Vec<(String, bool, u64)>,
    /// Tasks alive on the runtime (two per live call, plus the listeners): a leak shows here.
    pub tasks: usize,
    /// Each event sink's counts.
    pub sinks: Vec<crate::events::sink::SinkReading>,
    /// Whether the NATS connection is up; `None` when `nats:` configures none (and the metric
    /// is left out, so that a node without NATS does not look disconnected).
    pub nats: Option<bool>,
}

impl Metrics {
    /// Every metric, registered with a registry of their own plus the process collector (CPU
    /// seconds, resident memory, open file descriptors, threads).
    ///
    /// # Panics
    /// Never in practice: registration fails only for duplicate or malformed names, which are
    /// fixed here.
    pub fn new() -> Self {
        let registry = Registry::new();
        let calls_active = IntGauge::new("rivr_calls_active", "Calls running a script now.").expect("metric");
        let call_thread_calls = IntGaugeVec::new(
            Opts::new(
                "rivr_call_thread_calls",
                "Calls running a script now, by the call thread (call_threads) they run on.",
            ),
            &["thread"],
        )
        .expect("metric");
        let calls_total = IntCounterVec::new(
            Opts::new(
                "rivr_calls_total",
                "Calls by route and how they ended: completed, hung_up (the caller or the API hung up), \
                 transferred, script_error, limit, fallback (the route's script is not loaded), \
                 rejected_busy (max_calls), rejected_draining, no_route, cancelled (shutdown).",
            ),
            &["route", "ending"],
        )
        .expect("metric");
        let call_duration = HistogramVec::new(
            HistogramOpts::new("rivr_call_duration_seconds", "How long calls lasted, by route.")
                .buckets(CALL_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("metric");
        let verb_duration = HistogramVec::new(
            HistogramOpts::new(
                "rivr_verb_duration_seconds",
                "How long each verb took on the switch (not in the script), by verb.",
            )
            .buckets(VERB_BUCKETS.to_vec()),
            &["verb"],
        )
        .expect("metric");
        let script_errors = IntCounterVec::new(
            Opts::new(
                "rivr_script_errors_total",
                "Scripts that failed, by kind: error, compute_budget, max_operations, max_call_depth, \
                 data_too_large, limit, internal.",
            ),
            &["kind"],
        )
        .expect("metric");
        let max_calls_rejections = IntCounter::new(
            "rivr_max_calls_rejections_total",
            "Calls refused because max_calls calls were up.",
        )
        .expect("metric");
        let traces_dropped = IntCounter::new(
            "rivr_traces_dropped_total",
            "Call traces dropped because the trace writer's queue was full (traces.queue).",
        )
        .expect("metric");
        let draining =
            IntGauge::new("rivr_draining", "1 while the node refuses new calls (POST /drain or shutdown).")
                .expect("metric");
        // Labels: the script file and line of the site, and (choices) the menu's own keys, so
        // the series are bounded by the scripts, not by the traffic.
        let site_counter = |name: &str, help: &str, extra: Option<&str>| {
            let mut labels = vec!["script", "line"];
            labels.extend(extra);
            IntCounterVec::new(Opts::new(name, help), &labels).expect("metric")
        };
        let menu_reached = site_counter(
            "rivr_menu_reached_total",
            "Visits to each ask/menu/collect site, by script file and line of the call in the script.",
            None,
        );
        let menu_outcomes = site_counter(
            "rivr_menu_outcomes_total",
            "How visits to each ask/menu/collect site ended: match, nomatch, noinput, hung_up.",
            Some("outcome"),
        );
        let menu_retries = site_counter(
            "rivr_menu_retries_total",
            "Tries beyond the first at each ask/menu/collect site.",
            None,
        );
        let menu_choices = site_counter(
            "rivr_menu_choices_total",
            "Menu choices taken, by the menu's key as written in the script (menus of at most 20 keys).",
            Some("choice"),
        );
        let reloads = IntCounterVec::new(
            Opts::new("rivr_reloads_total", "Reloads of scripts and of the configuration, ok and failed."),
            &["what", "result"],
        )
        .expect("metric");
        let scripts_loaded =
            IntGauge::new("rivr_scripts_loaded", "Scripts serving calls now.").expect("metric");
        let scripts_failing = IntGauge::new(
            "rivr_scripts_failing",
            "Scripts that do not compile now (each may still serve its last good version).",
        )
        .expect("metric");
        let fs_connected = IntGaugeVec::new(
            Opts::new("rivr_freeswitch_connected", "1 while the inbound event socket connection is up."),
            &["connection"],
        )
        .expect("metric");
        let fs_reconnects = IntCounterVec::new(
            Opts::new(
                "rivr_freeswitch_reconnects_total",
                "Times an inbound event socket connection was re-established after a loss.",
            ),
            &["connection"],
        )
        .expect("metric");
        let tasks_alive = IntGauge::new(
            "rivr_runtime_tasks_alive",
            "Tasks alive on rivr's async runtimes (the main one and the call threads): about one per live call plus a few; a steady rise at \
             steady load is a leak.",
        )
        .expect("metric");
        let originate = IntCounterVec::new(
            Opts::new(
                "rivr_originate_total",
                "Calls rivr was asked to place, by `via` (api, nats) and outcome (answered, busy, no_answer, \
                 no_route, rejected, ended, failed, already_placed, refused).",
            ),
            &["via", "outcome"],
        )
        .expect("metric");
        let events = IntCounterVec::new(
            Opts::new(
                "rivr_events_total",
                "Events by sink and what became of them: sent (acknowledged), dropped (the sink's queue \
                 was full), failed (given up after the retries).",
            ),
            &["sink", "result"],
        )
        .expect("metric");
        let events_queued = IntGaugeVec::new(
            Opts::new("rivr_events_queued", "Events waiting in each sink's queue."),
            &["sink"],
        )
        .expect("metric");
        let nats_connected = IntGaugeVec::new(
            Opts::new("rivr_nats_connected", "1 while the NATS connection (nats:) is up."),
            &[],
        )
        .expect("metric");
        for collector in [
            Box::new(calls_active.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(call_thread_calls.clone()),
            Box::new(nats_connected.clone()),
            Box::new(events.clone()),
            Box::new(originate.clone()),
            Box::new(events_queued.clone()),
            Box::new(calls_total.clone()),
            Box::new(call_duration.clone()),
            Box::new(verb_duration.clone()),
            Box::new(script_errors.clone()),
            Box::new(max_calls_rejections.clone()),
            Box::new(draining.clone()),
            Box::new(traces_dropped.clone()),
            Box::new(menu_reached.clone()),
            Box::new(menu_outcomes.clone()),
            Box::new(menu_retries.clone()),
            Box::new(menu_choices.clone()),
            Box::new(reloads.clone()),
            Box::new(scripts_loaded.clone()),
            Box::new(scripts_failing.clone()),
            Box::new(fs_connected.clone()),
            Box::new(fs_reconnects.clone()),
            Box::new(tasks_alive.clone()),
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
        Metrics {
            registry,
            calls_active,
            call_thread_calls,
            call_threads: std::sync::OnceLock::new(),
            calls_total,
            call_duration,
            verb_duration,
            script_errors,
            max_calls_rejections,
            draining,
            traces_dropped,
            menu_reached,
            menu_outcomes,
            menu_retries,
            menu_choices,
            reloads,
            scripts_loaded,
            scripts_failing,
            fs_connected,
            fs_reconnects,
            tasks_alive,
            events,
            events_queued,
            originate,
            nats_connected,
            verbs: std::sync::RwLock::new(Vec::new()),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Show `count` call threads, each at 0 until it runs a call. Only the first count given
    /// counts: the threads start once.
    pub fn call_threads_started(&self, count: usize) {
        self.call_threads.get_or_init(|| {
            (0..count).map(|n| self.call_thread_calls.with_label_values(&[&n.to_string()])).collect()
        });
    }

    /// Call thread `thread`'s gauge of calls, once the threads have started.
    pub fn call_thread(&self, thread: usize) -> Option<&IntGauge> {
        self.call_threads.get()?.get(thread)
    }

    /// A caller reached the ask/menu/collect site at `script`:`line`.
    pub fn menu_reached(&self, script: &str, line: &str) {
        self.menu_reached.with_label_values(&[script, line]).inc();
    }

    /// A visit to the site at `script`:`line` ended with `outcome` after `retries` extra tries;
    /// `choice` is the menu key taken, counted only for menus of at most [`MAX_CHOICE_KEYS`]
    /// keys (`keys`), so a menu built from data cannot make the series grow without bound.
    pub fn menu_finished(
        &self,
        script: &str,
        line: &str,
        outcome: crate::stats::VisitOutcome,
        retries: u32,
        choice: Option<&str>,
        keys: usize,
    ) {
        self.menu_outcomes.with_label_values(&[script, line, outcome.as_str()]).inc();
        if retries > 0 {
            self.menu_retries.with_label_values(&[script, line]).inc_by(u64::from(retries));
        }
        if let Some(choice) = choice.filter(|_| keys <= MAX_CHOICE_KEYS) {
            self.menu_choices.with_label_values(&[script, line, choice]).inc();
        }
    }

    /// Count one `verb` that took `seconds` on the switch.
    pub fn observe_verb(&self, verb: &'static str, seconds: f64) {
        let same = |(name, _): &&(&'static str, Histogram)| std::ptr::eq(*name, verb);
        {
            let verbs = self.verbs.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some((_, histogram)) = verbs.iter().find(same) {
                histogram.observe(seconds);
                return;
            }
        }
        let histogram = self.verb_duration.with_label_values(&[verb]);
        histogram.observe(seconds);
        let mut verbs = self.verbs.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !verbs.iter().any(|entry| std::ptr::eq(entry.0, verb)) {
            verbs.push((verb, histogram));
        }
    }

    /// Everything in Prometheus' text format, after taking in `readings`.
    pub fn render(&self, readings: &Readings) -> String {
        self.tasks_alive.set(i64::try_from(readings.tasks).unwrap_or(i64::MAX));
        self.scripts_loaded.set(i64::try_from(readings.scripts.0).unwrap_or(i64::MAX));
        self.scripts_failing.set(i64::try_from(readings.scripts.1).unwrap_or(i64::MAX));
        let (applied, failed) = readings.script_reloads;
        self.catch_up(&self.reloads, &["scripts", "ok"], applied);
        self.catch_up(&self.reloads, &["scripts", "failed"], failed);
        let (applied, rejected) = readings.config_reloads;
        self.catch_up(&self.reloads, &["config", "ok"], applied);
        self.catch_up(&self.reloads, &["config", "failed"], rejected);
        for (name, up, connections) in &readings.connections {
            self.fs_connected.with_label_values(&[name.as_str()]).set(i64::from(*up));
            self.catch_up(&self.fs_reconnects, &[name.as_str()], connections.saturating_sub(1));
        }
        for sink in &readings.sinks {
            let name = sink.name.as_str();
            self.catch_up(&self.events, &[name, "sent"], sink.sent);
            self.catch_up(&self.events, &[name, "dropped"], sink.dropped);
            self.catch_up(&self.events, &[name, "failed"], sink.failed);
            self.events_queued.with_label_values(&[name]).set(i64::try_from(sink.queued).unwrap_or(i64::MAX));
        }
        if let Some(up) = readings.nats {
            self.nats_connected.with_label_values(&[] as &[&str]).set(i64::from(up));
        }
        let mut text = Vec::new();
        // Encoding into a Vec cannot fail but for a metric family without metrics, which the
        // registry never gathers.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut text);
        String::from_utf8(text).unwrap_or_default()
    }

    /// Bring a counter whose true value lives elsewhere up to `total`.
    fn catch_up(&self, counter: &IntCounterVec, labels: &[&str], total: u64) {
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let name = prometheus::core::Collector::desc(counter).first().map(|d| d.fq_name.clone());
        let key = (name.unwrap_or_default(), labels.join("\u{1f}"));
        let before = seen.entry(key).or_insert(0);
        let counter = counter.with_label_values(labels);
        if total > *before {
            counter.inc_by(total - *before);
            *before = total;
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_metric_and_counts_what_happened_elsewhere_once() {
        let metrics = Metrics::new();
        metrics.calls_total.with_label_values(&["sales", "completed"]).inc();
        metrics.observe_verb("ask", 0.3);
        let readings = Readings {
            scripts: (3, 1),
            script_reloads: (2, 1),
            config_reloads: (1, 0),
            connections: vec![("fs1".into(), true, 3)],
            tasks: 7,
            sinks: vec![crate::events::sink::SinkReading {
                name: "crm".into(),
                kind: "webhook",
                sent: 5,
                dropped: 2,
                failed: 1,
                queued: 3,
            }],
            nats: Some(false),
        };
        metrics.render(&readings);
        let text = metrics.render(&readings);
        for line in [
            "rivr_calls_total{ending=\"completed\",route=\"sales\"} 1",
            "rivr_verb_duration_seconds_bucket{verb=\"ask\",le=\"0.5\"} 1",
            "rivr_reloads_total{result=\"ok\",what=\"scripts\"} 2",
            "rivr_reloads_total{result=\"failed\",what=\"scripts\"} 1",
            "rivr_freeswitch_connected{connection=\"fs1\"} 1",
            "rivr_freeswitch_reconnects_total{connection=\"fs1\"} 2",
            "rivr_scripts_loaded 3",
            "rivr_calls_active 0",
            "rivr_runtime_tasks_alive 7",
            "rivr_events_total{result=\"sent\",sink=\"crm\"} 5",
            "rivr_events_total{result=\"dropped\",sink=\"crm\"} 2",
            "rivr_events_queued{sink=\"crm\"} 3",
            "rivr_nats_connected 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
        }
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
        let without_nats = Metrics::new().render(&Readings::default());
        assert!(!without_nats.contains("rivr_nats_connected"), "{without_nats}");
    }
}
