//! `rivr replay`: run a recorded call again, on the simulated switch, against a script version,
//! and say whether the flow did the same.
//!
//! The replayed caller presses the recorded keys: each `ask` of the new flow gets, in order, the
//! keys of the recorded asks, each at its recorded time since the ask started
//! (`CallerAction::PressAt`), so a key during the prompt barges in, a key typed ahead is there
//! as the ask starts, and a pause longer than the inter-digit timeout ends the collection as it
//! did. A version 1 trace has no key times: its keys come as one burst after the prompt. A key
//! the collection does not take is type-ahead for the next one, as on a switch, unless media
//! playing when it comes drops it (`SimChannel`'s `media_plays`). Dials (by target),
//! recordings (in order), `execute` (by application and argument), `get_var` (by name) and HTTP
//! requests (by method and URL) get the recorded answers. A call the caller or the far end
//! ended is ended at the same verb. The replay writes its own trace with a `TraceRecorder`, and
//! the two are compared verb by verb (verb, arguments, result; not times nor positions) and by
//! their ending.
//!
//! A replay that needs an answer the trace does not have (a dial to a new target, a variable
//! the call never read) stops there and is "could not replay", naming what was missing.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::call::actor::{self, CallServices};
use crate::call::fiber::Fibers;
use crate::call::http::{CannedHttp, HttpError, HttpRequest, HttpResponse};
use crate::call::{CallError, CallInfo, Command, DtmfKeys, HangupCause, KeyPress, Origin, Outcome, Pattern};
use crate::config::{Limits, MaskedVerb};
use crate::script::engine::STACK_SIZE;
use crate::script::runner::{self, CallJob};
use crate::script::store::Script;
use crate::script::ScriptStore;
use crate::switch::sim::{CallerAction, Journal, SimChannel, SimSetup, TimedKeys};
use crate::switch::Channel;
use crate::trace::format::{KeyRecord, Trace, TraceResult, VerbRecord};
use crate::trace::recorder::{RecorderSettings, TraceRecorder};

/// Which script version replays the traces.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// This script for every trace (`--script`); its directory serves imports and `pass`.
    pub script: Option<PathBuf>,
    /// The scripts directory: each trace's own script from it (`--scripts`, default `scripts`).
    pub scripts_dir: Option<PathBuf>,
    /// Sandbox limits.
    pub limits: Limits,
    /// Traces replayed at once (default: four per core).
    pub parallel: Option<usize>,
}

/// What came of one trace.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The same verbs with the same arguments and results, and the same ending.
    Same,
    /// The flow did something else.
    Diverged(Box<Divergence>),
    /// The trace could not be replayed; why.
    CouldNotReplay(String),
}

/// Where a replay went another way.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// 1-based number of the first verb that differs (one past the last for a different ending).
    pub at: usize,
    /// That verb as recorded (`None`: the recorded call had no more verbs).
    pub recorded: Option<VerbRecord>,
    /// That verb as replayed (`None`: the replayed flow had no more verbs).
    pub replayed: Option<VerbRecord>,
    /// The endings, when the verbs are the same but the calls ended differently.
    pub endings: Option<(String, String)>,
    /// Both transcripts.
    pub recorded_transcript: Vec<String>,
    /// Both transcripts.
    pub replayed_transcript: Vec<String>,
}

/// One trace's result.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayResult {
    /// The trace file.
    pub path: PathBuf,
    /// What came of it.
    pub verdict: Verdict,
}

impl ReplayResult {
    /// The report's lines for this trace.
    pub fn render(&self) -> String {
        let path = self.path.display();
        match &self.verdict {
            Verdict::Same => format!("SAME             {path}"),
            Verdict::CouldNotReplay(why) => format!("COULD NOT REPLAY {path}\n     {why}"),
            Verdict::Diverged(divergence) => {
                let mut out = format!("DIVERGED         {path}\n");
                match &divergence.endings {
                    Some((recorded, replayed)) => {
                        out.push_str(&format!(
                            "     the same verbs, but the call ended another way\n       recorded: {recorded}\n       replayed: {replayed}\n"
                        ));
                    }
                    None => {
                        let shown = |verb: &Option<VerbRecord>, what: &str| {
                            verb.as_ref()
                                .map_or(format!("(no verb: the {what} call had ended)"), VerbRecord::shown)
                        };
                        out.push_str(&format!(
                            "     at verb {}\n       recorded: {}\n       replayed: {}\n",
                            divergence.at,
                            shown(&divergence.recorded, "recorded"),
                            shown(&divergence.replayed, "replayed"),
                        ));
                    }
                }
                out.push_str("     recorded transcript:\n");
                for line in &divergence.recorded_transcript {
                    out.push_str(&format!("       {line}\n"));
                }
                out.push_str("     replayed transcript:\n");
                for line in &divergence.replayed_transcript {
                    out.push_str(&format!("       {line}\n"));
                }
                out.trim_end().to_string()
            }
        }
    }
}

/// `N same, N diverged, N could not replay`.
pub fn summary(results: &[ReplayResult]) -> String {
    let count = |f: fn(&Verdict) -> bool| results.iter().filter(|r| f(&r.verdict)).count();
    format!(
        "{} same, {} diverged, {} could not replay",
        count(|v| matches!(v, Verdict::Same)),
        count(|v| matches!(v, Verdict::Diverged(_))),
        count(|v| matches!(v, Verdict::CouldNotReplay(_))),
    )
}

/// Replay every trace file in `paths`, several at once; results in the order of `paths`. A
/// trace that cannot be read is "could not replay" with the reason; the others go on.
pub fn replay_all(paths: &[PathBuf], options: &ReplayOptions) -> Vec<ReplayResult> {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            return paths
                .iter()
                .map(|path| ReplayResult {
                    path: path.clone(),
                    verdict: Verdict::CouldNotReplay(format!("cannot start the simulator: {error}")),
                })
                .collect()
        }
    };
    let replayer = Replayer::new(options.clone());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ReplayResult>>> = Mutex::new(paths.iter().map(|_| None).collect());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let parallel = options.parallel.unwrap_or(cores * 4).max(1).min(paths.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..parallel {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = paths.get(index) else { break };
                let verdict = match Trace::read(path) {
                    Ok(trace) => replayer.replay(&runtime, &trace),
                    Err(error) => Verdict::CouldNotReplay(error.to_string()),
                };
                let result = ReplayResult { path: path.clone(), verdict };
                results.lock().unwrap_or_else(|p| p.into_inner())[index] = Some(result);
            });
        }
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().flatten().collect()
}

/// Replays traces, keeping compiled scripts and script stores between them.
pub struct Replayer {
    options: ReplayOptions,
    stores: Mutex<HashMap<PathBuf, Arc<ScriptStore>>>,
    scripts: Mutex<HashMap<PathBuf, Result<Arc<Script>, String>>>,
}

impl Replayer {
    /// A replayer with `options`.
    pub fn new(options: ReplayOptions) -> Self {
        Replayer { options, stores: Mutex::default(), scripts: Mutex::default() }
    }

    /// The script a trace replays against, compiled once per file.
    fn script_for(&self, trace: &Trace) -> Result<(Arc<ScriptStore>, Arc<Script>), String> {
        let path = match (&self.options.script, &self.options.scripts_dir) {
            (Some(script), _) => script.clone(),
            (None, Some(dir)) => dir.join(&trace.header.script),
            (None, None) => Path::new("scripts").join(&trace.header.script),
        };
        let dir = match (&self.options.script, &self.options.scripts_dir) {
            (Some(script), None) => script.parent().map(Path::to_path_buf).unwrap_or_default(),
            (_, Some(dir)) => dir.clone(),
            (None, None) => PathBuf::from("scripts"),
        };
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        let store = {
            let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
            stores
                .entry(dir.clone())
                .or_insert_with(|| Arc::new(ScriptStore::load(&dir, &self.options.limits).0))
                .clone()
        };
        let mut scripts = self.scripts.lock().unwrap_or_else(|p| p.into_inner());
        let script = scripts
            .entry(path.clone())
            .or_insert_with(|| {
                if !path.is_file() {
                    return Err(format!(
                        "the script {} does not exist (the trace ran {}; give --script FILE or --scripts DIR)",
                        path.display(),
                        trace.header.script
                    ));
                }
                store
                    .compiler()
                    .compile_file(&path)
                    .map(Arc::new)
                    .map_err(|problem| format!("the script does not compile: {problem}"))
            })
            .clone()?;
        Ok((store, script))
    }

    /// Replay `trace` on `runtime`.
    pub fn replay(&self, runtime: &tokio::runtime::Runtime, trace: &Trace) -> Verdict {
        let Some(recorded_end) = &trace.end else {
            return Verdict::CouldNotReplay(format!(
                "{}: the trace has no `end` line: the call was cut short (rivr stopped while it ran)",
                trace.path.display()
            ));
        };
        let (store, script) = match self.script_for(trace) {
            Ok(found) => found,
            Err(why) => return Verdict::CouldNotReplay(why),
        };
        let plan = match Plan::of(trace) {
            Ok(plan) => plan,
            Err(why) => return Verdict::CouldNotReplay(why),
        };
        let stuck = Arc::new(Mutex::new(None::<(usize, String)>));
        let header = &trace.header;
        let mut info = CallInfo::new(
            header.call.uuid.clone(),
            header.call.caller.clone().or_else(|| header.call.caller_hash.clone()).unwrap_or_default(),
            header.call.destination.clone(),
        );
        info.caller_id_name = header.call.caller_name.clone();
        info.context = header.call.context.clone();
        info.route = header.call.route.clone();
        info.variables.extend(header.call.variables.iter().map(|(k, v)| (k.clone(), v.clone())));
        // "Now" is when the call ran, so office hours decide as they did then.
        if !info.variables.contains_key(NOW_VARIABLE) {
            info.variables.insert(NOW_VARIABLE.into(), header.started.clone());
        }
        let mut channel_info = info.clone();
        for (name, value) in &plan.variables {
            channel_info.variables.insert(name.clone(), value.clone());
        }

        let settings = RecorderSettings {
            recorder: "replay",
            mask_dtmf: header
                .mask_dtmf
                .iter()
                .filter_map(|verb| match verb.as_str() {
                    "ask" => Some(MaskedVerb::Ask),
                    "send_dtmf" => Some(MaskedVerb::SendDtmf),
                    _ => None,
                })
                .collect(),
            ..RecorderSettings::default()
        };
        let recorder = Arc::new(TraceRecorder::start(&info, &script.name, &script.version_tag(), &settings));
        let (tx, rx) = mpsc::unbounded_channel();
        for action in &plan.actions {
            let _ = tx.send(action.clone());
        }
        drop(tx);
        let known: HashSet<String> = info
            .variables
            .iter()
            .map(|(name, _)| name.to_string())
            .chain(plan.variables.iter().map(|(name, _)| name.clone()))
            .chain(plan.unset.iter().cloned())
            .collect();
        let sim = SimChannel::new(&channel_info, rx, SimSetup::default(), Journal::new());
        let channel = ReplayChannel {
            sim,
            dials: plan.dials.clone(),
            records: plan.records.clone(),
            executes: plan.executes.clone(),
            known,
            hangup_at: plan.hangup_at.clone(),
            media: 0,
            recorder: recorder.clone(),
            stuck: stuck.clone(),
        };
        let http = replay_http(plan.http.clone(), stuck.clone(), recorder.clone());
        let services = CallServices::with_http(Arc::new(http)).also_observed(recorder.clone());
        let job = CallJob {
            scripts: Some(store),
            limits: self.options.limits.clone(),
            ..CallJob::new(info, script)
        };
        let fiber = match runner::fiber(&stacks(), job) {
            Ok(fiber) => fiber,
            Err(error) => return Verdict::CouldNotReplay(format!("cannot start the script: {error}")),
        };
        let report = match runtime.block_on(runtime.spawn(actor::drive(channel, fiber, services))) {
            Ok(report) => report,
            Err(_) => return Verdict::CouldNotReplay("the script panicked".into()),
        };
        let finished = recorder.finish(Some(&report));
        let replayed = match Trace::parse(&finished.text, Path::new("<replay>")) {
            Ok(replayed) => replayed,
            Err(error) => {
                return Verdict::CouldNotReplay(format!("internal error reading the replay: {error}"))
            }
        };
        let stuck = stuck.lock().unwrap_or_else(|p| p.into_inner()).clone();
        compare(trace, recorded_end, &replayed, stuck)
    }
}

/// The channel variable that gives a call its "now".
const NOW_VARIABLE: &str = "rivr_now";

/// The fiber stacks replays reuse.
fn stacks() -> Arc<Fibers> {
    static STACKS: OnceLock<Arc<Fibers>> = OnceLock::new();
    STACKS.get_or_init(|| Fibers::new(STACK_SIZE, 64)).clone()
}

/// Compare a trace with its replay.
fn compare(
    trace: &Trace,
    recorded_end: &crate::trace::format::EndRecord,
    replayed: &Trace,
    stuck: Option<(usize, String)>,
) -> Verdict {
    let same =
        |a: &VerbRecord, b: &VerbRecord| a.verb == b.verb && a.args == b.args && a.result.same_as(&b.result);
    let first_difference =
        trace.verbs.iter().zip(&replayed.verbs).position(|(a, b)| !same(a, b)).or_else(|| {
            (trace.verbs.len() != replayed.verbs.len()).then(|| trace.verbs.len().min(replayed.verbs.len()))
        });
    if let Some((at, why)) = stuck {
        // A divergence before the verb the trace had no answer for says more; at that verb, the
        // missing answer does.
        if first_difference.is_none_or(|index| index + 1 >= at) {
            return Verdict::CouldNotReplay(why);
        }
    }
    let transcript =
        |t: &Trace| t.verbs.iter().map(|v| format!("{:>3}  {}", v.n, v.shown())).collect::<Vec<_>>();
    if let Some(index) = first_difference {
        return Verdict::Diverged(Box::new(Divergence {
            at: index + 1,
            recorded: trace.verbs.get(index).cloned(),
            replayed: replayed.verbs.get(index).cloned(),
            endings: None,
            recorded_transcript: transcript(trace),
            replayed_transcript: transcript(replayed),
        }));
    }
    let replayed_end = replayed.end.as_ref();
    let same_end =
        replayed_end.is_some_and(|end| end.ending == recorded_end.ending && end.cause == recorded_end.cause);
    if same_end {
        return Verdict::Same;
    }
    Verdict::Diverged(Box::new(Divergence {
        at: trace.verbs.len() + 1,
        recorded: None,
        replayed: None,
        endings: Some((recorded_end.shown(), replayed_end.map_or("unknown".into(), |end| end.shown()))),
        recorded_transcript: transcript(trace),
        replayed_transcript: transcript(replayed),
    }))
}

/// What a replay answers with, read from a trace.
#[derive(Default)]
struct Plan {
    /// The caller's keys, ask by ask.
    actions: Vec<CallerAction>,
    /// Recorded dial results by target list.
    dials: HashMap<String, VecDeque<TraceResult>>,
    /// Recorded record results in order.
    records: VecDeque<TraceResult>,
    /// Recorded `execute` responses by application and argument.
    executes: HashMap<String, VecDeque<TraceResult>>,
    /// HTTP responses by method and URL.
    http: HashMap<String, VecDeque<TraceResult>>,
    /// Channel variables as first read.
    variables: Vec<(String, String)>,
    /// Variables the call read and found unset.
    unset: Vec<String>,
    /// The call ended from outside at this media command (1-based), with this cause.
    hangup_at: Option<(usize, String)>,
}

impl Plan {
    fn of(trace: &Trace) -> Result<Plan, String> {
        let mut plan = Plan::default();
        let mut set: HashSet<String> = HashSet::new();
        let mut media = 0;
        let mut ended_by_script = false;
        for verb in &trace.verbs {
            let needs_media =
                !matches!(verb.verb.as_str(), "get_var" | "set_var" | "http_get" | "http_post" | "log");
            if needs_media {
                media += 1;
            }
            if let (TraceResult::Hangup { cause }, true, false, None) =
                (&verb.result, needs_media, ended_by_script, &plan.hangup_at)
            {
                plan.hangup_at = Some((media, cause.clone()));
            }
            if matches!(verb.verb.as_str(), "hangup" | "reject" | "transfer")
                && verb.result == TraceResult::Done
            {
                ended_by_script = true;
            }
            let arg = |key: &str| verb.args.get(key).cloned().unwrap_or_default();
            match verb.verb.as_str() {
                "ask" => plan.actions.extend(ask_actions(trace, verb)?),
                "dial" => {
                    plan.dials.entry(dial_key(&arg("targets"))).or_default().push_back(verb.result.clone())
                }
                "record" => plan.records.push_back(verb.result.clone()),
                "execute" => plan
                    .executes
                    .entry(format!("{} {}", arg("app"), arg("args")))
                    .or_default()
                    .push_back(verb.result.clone()),
                "http_get" | "http_post" => plan
                    .http
                    .entry(format!("{} {}", verb.verb, arg("url").as_str().unwrap_or_default()))
                    .or_default()
                    .push_back(verb.result.clone()),
                "set_var" => {
                    set.insert(arg("name").as_str().unwrap_or_default().to_string());
                }
                "get_var" => {
                    let name = arg("name").as_str().unwrap_or_default().to_string();
                    if !set.contains(&name) {
                        match &verb.result {
                            TraceResult::Value { value: Some(value) } => {
                                plan.variables.push((name, value.clone()))
                            }
                            TraceResult::Value { value: None } => plan.unset.push(name),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(plan)
    }
}

fn dial_key(targets: &serde_json::Value) -> String {
    match targets {
        serde_json::Value::Array(items) => {
            items.iter().map(|t| t.as_str().unwrap_or_default().to_string()).collect::<Vec<_>>().join(",")
        }
        other => other.to_string(),
    }
}

/// The caller actions that make `verb` (a recorded ask) come out as it did: each key at its
/// recorded time when the trace has them, else the keys as one burst.
fn ask_actions(trace: &Trace, verb: &VerbRecord) -> Result<Vec<CallerAction>, String> {
    let TraceResult::Ask { status, digits, digit_count, terminator, keys, .. } = &verb.result else {
        // A hangup or an error during the ask: the caller pressed nothing we know of.
        return Ok(Vec::new());
    };
    if let Some(keys) = keys {
        let keys = timed_keys(trace, verb, keys)?;
        // The first key came within the recorded timeout after the prompt (on the first try, or
        // later, which the result does not show): the prompt lasted at least the difference.
        let timeout =
            Duration::from_millis(verb.args.get("timeout_ms").and_then(|t| t.as_u64()).unwrap_or(0));
        let prompt_at_least = keys.first().map_or(Duration::ZERO, |first| first.at.saturating_sub(timeout));
        return Ok(vec![CallerAction::PressAt(TimedKeys { keys, prompt_at_least })]);
    }
    let tries = verb.args.get("tries").and_then(serde_json::Value::as_u64).unwrap_or(1).max(1) as usize;
    let digits = match digits {
        Some(digits) => digits.clone(),
        None => stand_in_digits(verb, *digit_count).ok_or_else(|| {
            format!(
                "{}: the ask at {} was masked ({} digits) and no {}-digit value satisfies its regex {}",
                trace.path.display(),
                verb.origin.as_deref().unwrap_or("?"),
                digit_count,
                digit_count,
                verb.args.get("regex").and_then(|r| r.as_str()).unwrap_or("")
            )
        })?,
    };
    let mut keys = digits;
    if let Some(terminator) = terminator {
        keys.push(*terminator);
    }
    if keys.is_empty() {
        return Ok(vec![CallerAction::Silence; tries]);
    }
    let press =
        DtmfKeys::parse(&keys).map_err(|e| format!("{}: ask {}: {e}", trace.path.display(), verb.n))?;
    Ok(match status.as_str() {
        // Every try got the same wrong answer, as far as the trace can tell.
        "nomatch" => vec![CallerAction::Press(press); tries],
        _ => vec![CallerAction::Press(press)],
    })
}

/// The keys of a recorded ask at their times. A masked ask's digits are stand-ins: the last
/// `digit_count` (the try that decided the ask) satisfy its regex; earlier tries' digits are
/// unknown and get stand-ins too.
pub(crate) fn timed_keys(
    trace: &Trace,
    verb: &VerbRecord,
    keys: &[KeyRecord],
) -> Result<Vec<KeyPress>, String> {
    let (digits, digit_count) = match &verb.result {
        TraceResult::Ask { digits, digit_count, .. } => (digits.as_deref(), *digit_count),
        _ => (None, 0),
    };
    let hidden = keys.iter().filter(|record| record.key.is_none()).count();
    let mut stand_ins = if hidden == 0 || digits.is_some() {
        String::new()
    } else {
        let last = digit_count.min(hidden);
        let earlier = stand_in_digits(verb, hidden - last).unwrap_or_else(|| "0".repeat(hidden - last));
        let decided = stand_in_digits(verb, last).ok_or_else(|| {
            format!(
                "{}: the ask at {} was masked ({last} digits) and no {last}-digit value satisfies its regex {}",
                trace.path.display(),
                verb.origin.as_deref().unwrap_or("?"),
                verb.args.get("regex").and_then(|r| r.as_str()).unwrap_or("")
            )
        })?;
        format!("{earlier}{decided}")
    }
    .chars()
    .collect::<VecDeque<char>>();
    keys.iter()
        .map(|record| {
            let key = record.key.or_else(|| stand_ins.pop_front()).ok_or_else(|| {
                format!("{}: ask {}: a key without its key in an unmasked ask", trace.path.display(), verb.n)
            })?;
            let key = DtmfKeys::parse(&key.to_string())
                .map_err(|e| format!("{}: ask {}: {e}", trace.path.display(), verb.n))?
                .keys()
                .next()
                .unwrap_or(key);
            Ok(KeyPress { key, at: Duration::from_millis(record.at_ms) })
        })
        .collect()
}

/// Digits of `count` keys that satisfy the recorded ask's regex, for a masked ask.
pub(crate) fn stand_in_digits(verb: &VerbRecord, count: usize) -> Option<String> {
    let regex = match verb.args.get("regex").and_then(serde_json::Value::as_str) {
        Some(source) => Some(Pattern::new(source).ok()?),
        None => None,
    };
    let fits = |candidate: &str| regex.as_ref().is_none_or(|re| re.is_match(candidate));
    for digit in '0'..='9' {
        let candidate: String = std::iter::repeat_n(digit, count).collect();
        if fits(&candidate) {
            return Some(candidate);
        }
    }
    // Short values: try them all (a PIN of up to five digits).
    if count <= 5 {
        let limit = 10u64.pow(count as u32);
        return (0..limit).map(|n| format!("{n:0count$}")).find(|candidate| fits(candidate));
    }
    None
}

/// The simulated switch, with the trace's answers for what the simulator cannot know.
struct ReplayChannel {
    sim: SimChannel,
    dials: HashMap<String, VecDeque<TraceResult>>,
    records: VecDeque<TraceResult>,
    executes: HashMap<String, VecDeque<TraceResult>>,
    known: HashSet<String>,
    hangup_at: Option<(usize, String)>,
    media: usize,
    /// The replay's own trace, which numbers the verbs.
    recorder: Arc<TraceRecorder>,
    stuck: Arc<Mutex<Option<(usize, String)>>>,
}

impl ReplayChannel {
    /// The trace has no answer for verb number `self.verbs`: note why and end the call.
    fn stuck(&mut self, why: String) -> Result<Outcome, CallError> {
        let mut stuck = self.stuck.lock().unwrap_or_else(|p| p.into_inner());
        stuck.get_or_insert((self.recorder.verbs_so_far() + 1, why));
        Err(CallError::hangup(HangupCause::normal()))
    }
}

/// The answer a recorded result gives.
fn answer(verb: &'static str, result: &TraceResult) -> Result<Outcome, CallError> {
    match result {
        TraceResult::Hangup { cause } => Err(CallError::hangup(cause.as_str())),
        TraceResult::Transferred => Err(CallError::Transferred),
        // The same text as recorded: a switch failure reads `<verb> failed: <reason>`.
        TraceResult::Error { message } => Err(CallError::Switch {
            verb,
            reason: message.strip_prefix(&format!("{verb} failed: ")).unwrap_or(message).to_string(),
        }),
        other => other.to_outcome().ok_or_else(|| CallError::Internal {
            verb,
            reason: format!("the trace's result {} cannot answer {verb}", other.shown()),
        }),
    }
}

impl Channel for ReplayChannel {
    async fn execute(&mut self, command: Command, origin: Option<Origin>) -> Result<Outcome, CallError> {
        let at = origin.as_ref().map(|o| format!(" at {o}")).unwrap_or_default();
        if command.needs_media() {
            self.media += 1;
            if let Some((at_media, cause)) = &self.hangup_at {
                if *at_media == self.media {
                    let cause = cause.clone();
                    // The simulator's own state must know too, so that `close` and later
                    // commands see an ended call.
                    let _ = self.sim.execute(Command::Hangup(cause.as_str().into()), None).await;
                    return Err(CallError::hangup(cause.as_str()));
                }
            }
        }
        match &command {
            Command::Dial(dial) => {
                let key = dial.targets.join(",");
                match self.dials.get_mut(&key).and_then(VecDeque::pop_front) {
                    Some(result) => answer("dial", &result),
                    None => {
                        let why = if self.dials.contains_key(&key) {
                            format!("dial {key}{at}: the recorded call dialled it fewer times; the trace has no answer")
                        } else {
                            format!("dial {key}{at}: the recorded call never dialled it, so the trace has no answer for it")
                        };
                        self.stuck(why)
                    }
                }
            }
            Command::Record(_) => match self.records.pop_front() {
                Some(result) => answer("record", &result),
                None => self.stuck(format!("record{at}: the recorded call made fewer recordings; the trace has no result")),
            },
            Command::Execute { app, args } => {
                let key = format!("{app} {args}");
                match self.executes.get_mut(&key).and_then(VecDeque::pop_front) {
                    Some(result) => answer("execute", &result),
                    None => self.stuck(format!("execute {key}{at}: the recorded call never ran it; the trace has no response")),
                }
            }
            Command::GetVar(name) if !self.known.contains(name) => self.stuck(format!(
                "get_var {name}{at}: the recorded call never read it and the trace does not keep it (add it to traces.variables)"
            )),
            Command::SetVar { name, .. } => {
                self.known.insert(name.clone());
                self.sim.execute(command, origin).await
            }
            _ => self.sim.execute(command, origin).await,
        }
    }

    async fn ended(&mut self) -> HangupCause {
        self.sim.ended().await
    }

    async fn close(self) {
        self.sim.close().await;
    }
}

/// HTTP answered from the trace; a request it has no answer for stops the replay.
fn replay_http(
    answers: HashMap<String, VecDeque<TraceResult>>,
    stuck: Arc<Mutex<Option<(usize, String)>>>,
    recorder: Arc<TraceRecorder>,
) -> CannedHttp<impl Fn(&HttpRequest) -> Result<HttpResponse, HttpError>> {
    let answers = Mutex::new(answers);
    CannedHttp(move |request: &HttpRequest| {
        let key = format!("{} {}", request.method.verb(), request.url);
        let found =
            answers.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&key).and_then(VecDeque::pop_front);
        match found {
            Some(TraceResult::Http { status, headers, body }) => {
                Ok(HttpResponse { status, headers, body: body.into_bytes() })
            }
            // The same text as recorded: the script sees `<verb>: <error>`, and `Invalid`
            // shows its text as it is.
            Some(TraceResult::Error { message }) => {
                let prefix = format!("{}: ", request.method.verb());
                Err(HttpError::Invalid(message.strip_prefix(&prefix).unwrap_or(&message).to_string()))
            }
            Some(other) => Err(HttpError::Failed { url: request.url.clone(), reason: other.shown() }),
            None => {
                let why =
                    format!("{key}: the recorded call never made this request; the trace has no response");
                let verbs = recorder.verbs_so_far() + 1;
                stuck.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert((verbs, why));
                Err(HttpError::Failed {
                    url: request.url.clone(),
                    reason: "no recorded response (replay)".into(),
                })
            }
        }
    })
}
