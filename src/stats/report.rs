//! `rivr stats`: call traces counted per flow (script and version) and per site.
//!
//! A site is a script's `ask`, `menu`, `digits` or `pin` call, named by `file:line`. Traces are
//! read on every core; a trace that cannot be read is reported with its file and line and left
//! out, so one corrupt file does not hide a day of calls.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::stats::visit::{Visit, VisitOutcome};
use crate::trace::format::{Trace, TraceResult, VerbRecord};
use crate::trace::TraceError;

/// Everything `rivr stats` found. Its JSON form is what `rivr graph --stats` reads.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StatsReport {
    /// Traces counted.
    pub traces: u64,
    /// One entry per flow (script and version), by script then version.
    pub flows: Vec<FlowStats>,
}

/// One flow: the calls that started on one version of one script.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FlowStats {
    /// The script the calls started on.
    pub script: String,
    /// Its version.
    pub version: String,
    /// Calls.
    pub calls: u64,
    /// Calls that ended with the caller hanging up.
    pub hung_up: u64,
    /// Each site, in funnel order.
    pub sites: Vec<SiteStats>,
}

/// One `ask`/`menu`/`collect` site of a flow.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SiteStats {
    /// `file:line` in the script.
    pub site: String,
    /// The file.
    pub file: String,
    /// The line.
    pub line: usize,
    /// `ask`, `menu`, `digits` or `pin`.
    pub function: String,
    /// Visits (a call that runs the site twice counts twice).
    pub reached: u64,
    /// Visits that ended with a valid answer.
    #[serde(rename = "match")]
    pub matched: u64,
    /// Visits whose last answer was wrong.
    pub nomatch: u64,
    /// Visits with no key on the last try.
    pub noinput: u64,
    /// Visits during which the call ended.
    pub hung_up: u64,
    /// Tries beyond the first.
    pub retries: u64,
    /// Menu choices taken, by key.
    pub choices: BTreeMap<String, u64>,
    /// The funnel step: calls that reached the site at least once.
    pub funnel: FunnelStep,
}

impl SiteStats {
    /// Add `other`'s visits, answers, retries, choices and funnel calls to these (the site's
    /// name and position stay; shares and medians are worked out afterwards).
    pub fn add(&mut self, other: &SiteStats) {
        self.reached += other.reached;
        self.matched += other.matched;
        self.nomatch += other.nomatch;
        self.noinput += other.noinput;
        self.hung_up += other.hung_up;
        self.retries += other.retries;
        for (choice, n) in &other.choices {
            *self.choices.entry(choice.clone()).or_default() += n;
        }
        self.funnel.calls += other.funnel.calls;
        self.funnel.dropped += other.funnel.dropped;
    }
}

/// A site's place in its flow's funnel.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FunnelStep {
    /// Calls that reached the site.
    pub calls: u64,
    /// Their share of the flow's calls, 0 to 1.
    pub share: f64,
    /// Calls whose caller hung up here or after it without reaching another site.
    pub dropped: u64,
    /// The median time from the call's start to its first arrival here, in ms.
    pub median_ms: u64,
}

/// What one trace contributes: per site, its visits; and the call's path.
#[derive(Default)]
struct Tally {
    flows: HashMap<(String, String), FlowTally>,
    traces: u64,
}

#[derive(Default)]
struct FlowTally {
    calls: u64,
    hung_up: u64,
    sites: HashMap<String, SiteTally>,
}

#[derive(Default)]
struct SiteTally {
    stats: SiteStats,
    first_reach_ms: Vec<u64>,
    /// For each call that reached the site, how many other sites it had reached before.
    first_reach_step: Vec<usize>,
}

/// Count the traces in `files`. Traces that cannot be read come back as errors, the rest is
/// counted.
pub fn gather(files: &[PathBuf]) -> (StatsReport, Vec<TraceError>) {
    let workers = std::thread::available_parallelism().map_or(1, usize::from).min(files.len().max(1));
    let chunk = files.len().div_ceil(workers).max(1);
    let results: Vec<(Tally, Vec<TraceError>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut tally = Tally::default();
                    let mut errors = Vec::new();
                    for file in part {
                        match Trace::read(file) {
                            Ok(trace) => tally.add(&trace),
                            Err(error) => errors.push(error),
                        }
                    }
                    (tally, errors)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a stats worker panicked")).collect()
    });
    let mut total = Tally::default();
    let mut errors = Vec::new();
    for (tally, errs) in results {
        total.merge(tally);
        errors.extend(errs);
    }
    (total.finish(), errors)
}

/// The stdlib call a verb counts under, or its own position for a plain `ask`: (`file:line`,
/// function, visit key, menu keys).
fn site_of(verb: &VerbRecord) -> Option<(String, String, Option<u64>, &[String])> {
    let strip_col = |at: &str| match at.rsplit_once(':') {
        Some((file_line, col)) if col.chars().all(|c| c.is_ascii_digit()) => file_line.to_string(),
        _ => at.to_string(),
    };
    match (&verb.site, verb.verb.as_str()) {
        (Some(site), _) => Some((strip_col(&site.at), site.function.clone(), Some(site.visit), &site.keys)),
        (None, "ask") => Some((strip_col(verb.origin.as_deref()?), "ask".into(), None, &[])),
        _ => None,
    }
}

impl Tally {
    fn add(&mut self, trace: &Trace) {
        self.traces += 1;
        let flow = self.flows.entry((trace.header.script.clone(), trace.header.version.clone())).or_default();
        flow.calls += 1;
        let hung_up = trace.end.as_ref().is_none_or(|end| end.ending == "hung_up");
        if hung_up {
            flow.hung_up += 1;
        }
        // The open visit: its site, its visit key, its keys, and its tries.
        let mut open: Option<(String, Option<u64>, Vec<String>, Visit)> = None;
        let mut reached: Vec<String> = Vec::new();
        let close = |flow: &mut FlowTally, open: Option<(String, Option<u64>, Vec<String>, Visit)>| {
            let Some((site, _, keys, visit)) = open else { return };
            let entry = &mut flow.sites.get_mut(&site).expect("opened before").stats;
            let (outcome, choice) = visit.outcome(&keys);
            match outcome {
                VisitOutcome::Match => entry.matched += 1,
                VisitOutcome::Nomatch => entry.nomatch += 1,
                VisitOutcome::Noinput => entry.noinput += 1,
                VisitOutcome::HungUp => entry.hung_up += 1,
            }
            entry.retries += u64::from(visit.retries());
            if let Some(choice) = choice {
                *entry.choices.entry(choice.to_string()).or_default() += 1;
            }
        };
        for verb in &trace.verbs {
            let Some((site, function, visit_key, keys)) = site_of(verb) else { continue };
            let same = matches!(&open, Some((s, Some(v), ..)) if *s == site && visit_key == Some(*v));
            if !same {
                close(flow, open.take());
                let tally = flow.sites.entry(site.clone()).or_insert_with(|| {
                    let (file, line) = site.rsplit_once(':').unwrap_or((&site, "0"));
                    SiteTally {
                        stats: SiteStats {
                            site: site.clone(),
                            file: file.to_string(),
                            line: line.parse().unwrap_or(0),
                            function: function.clone(),
                            ..SiteStats::default()
                        },
                        first_reach_ms: Vec::new(),
                        first_reach_step: Vec::new(),
                    }
                });
                tally.stats.reached += 1;
                if !reached.contains(&site) {
                    tally.first_reach_step.push(reached.len());
                    reached.push(site.clone());
                    tally.stats.funnel.calls += 1;
                    tally.first_reach_ms.push(verb.at_ms);
                }
                open = Some((site, visit_key, keys.to_vec(), Visit::default()));
            }
            let Some((.., visit)) = open.as_mut() else { continue };
            match &verb.result {
                TraceResult::Ask { status, digits, .. } => visit.answered(status, digits.as_deref()),
                TraceResult::Hangup { .. } => visit.hung_up(),
                _ => {}
            }
        }
        if hung_up {
            if let Some((.., visit)) = open.as_mut() {
                // The trace ended inside the visit: the caller left while it was running.
                if visit.tries == 0 || trace.end.is_none() {
                    visit.hung_up();
                }
            }
        }
        close(flow, open.take());
        if hung_up {
            if let Some(last) = reached.last() {
                flow.sites.get_mut(last).expect("reached").stats.funnel.dropped += 1;
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.traces += other.traces;
        for (key, flow) in other.flows {
            let mine = self.flows.entry(key).or_default();
            mine.calls += flow.calls;
            mine.hung_up += flow.hung_up;
            for (site, tally) in flow.sites {
                match mine.sites.get_mut(&site) {
                    None => {
                        mine.sites.insert(site, tally);
                    }
                    Some(m) => {
                        m.stats.add(&tally.stats);
                        m.first_reach_ms.extend(tally.first_reach_ms);
                        m.first_reach_step.extend(tally.first_reach_step);
                    }
                }
            }
        }
    }

    fn finish(self) -> StatsReport {
        let mut flows: Vec<FlowStats> = self
            .flows
            .into_iter()
            .map(|((script, version), flow)| {
                let mut sites: Vec<(usize, SiteStats)> = flow
                    .sites
                    .into_values()
                    .map(|mut tally| {
                        tally.stats.funnel.median_ms = median(&mut tally.first_reach_ms).unwrap_or(0);
                        let step = median(&mut tally.first_reach_step).unwrap_or(0);
                        tally.stats.funnel.share = if flow.calls == 0 {
                            0.0
                        } else {
                            tally.stats.funnel.calls as f64 / flow.calls as f64
                        };
                        (step, tally.stats)
                    })
                    .collect();
                // Funnel order: the order callers meet the sites along the path most calls take.
                // The step (how many sites a call had met before) orders them, not the arrival
                // time: milliseconds jitter between runs, and a site most callers skip would
                // otherwise jump ahead of one every caller passes.
                sites.sort_by(|(step_a, a), (step_b, b)| {
                    (step_a, a.funnel.median_ms, &a.file, a.line).cmp(&(
                        step_b,
                        b.funnel.median_ms,
                        &b.file,
                        b.line,
                    ))
                });
                let sites = sites.into_iter().map(|(_, site)| site).collect();
                FlowStats { script, version, calls: flow.calls, hung_up: flow.hung_up, sites }
            })
            .collect();
        flows.sort_by(|a, b| (&a.script, &a.version).cmp(&(&b.script, &b.version)));
        StatsReport { traces: self.traces, flows }
    }
}

/// The middle value (the upper one of an even count), sorting the values in place.
fn median<T: Copy + Ord>(values: &mut [T]) -> Option<T> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}
