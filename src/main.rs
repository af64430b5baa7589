//! The `rivr` command line: `run`, `sim`, `test`, `check`, `graph`, `originate`, `new`, `replay`,
//! `trace`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use rivr::call::actor::CallServices;
use rivr::call_threads::CallThreads;
use rivr::config::Limits;
use rivr::console::{self, SimOptions};
use rivr::switch::sim::{SimDial, SimSetup};

/// rivr: a scriptable IVR runtime for FreeSWITCH.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log filter (e.g. `info`, `rivr=debug`); also RIVR_LOG. Default: `warn`, and for `rivr
    /// run` RUST_LOG or the configuration's `log.level`.
    #[arg(long, global = true, env = "RIVR_LOG")]
    log: Option<String>,
    /// Colour in log lines: `auto` (only when stderr is a terminal and NO_COLOR is unset),
    /// `always` or `never`.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    color: Color,
    #[command(subcommand)]
    command: Command,
}

/// When log lines are coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Color {
    /// Only on a terminal, and not when NO_COLOR is set.
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether to write ANSI colour codes to stderr: files, pipes and journald get plain text.
    fn enabled(self) -> bool {
        use std::io::IsTerminal as _;
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve FreeSWITCH: route each call that connects to a script and run it.
    Run {
        /// The configuration file (default: ./rivr.yaml if it exists, otherwise built-in defaults
        /// serving ./scripts on 127.0.0.1:8084).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Log format: `text` or `json` (one JSON object per line, with the call's span fields).
        #[arg(long)]
        log_format: Option<String>,
    },
    /// Run one call on the simulated switch: verbs are printed, typed lines are the caller's keys.
    Sim {
        /// The script to run.
        script: PathBuf,
        /// Calling number.
        #[arg(long, default_value = "5551234")]
        from: String,
        /// Dialled number.
        #[arg(long, default_value = "1000")]
        to: String,
        /// A channel variable, `name=value` (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Outcome of the next dial: answered[:SECONDS], busy, no_answer or failed (repeatable,
        /// used in order; dials beyond the list are answered).
        #[arg(long = "dial", value_name = "OUTCOME")]
        dials: Vec<String>,
        /// The scripts directory for imports, pass and invoke (default: the script's directory).
        #[arg(long)]
        scripts: Option<PathBuf>,
        /// A rivr.yaml whose `http:` section (allowlist, timeouts) lets `http_get`/`http_post`
        /// reach real services; without it they fail with "HTTP is not configured".
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Write the call's trace to this file (for `rivr replay`).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
    },
    /// Place an outbound call through FreeSWITCH (inbound ESL) that runs a script once answered:
    /// FreeSWITCH connects the answered call back to rivr's `listen` address.
    Originate {
        /// The configuration naming the FreeSWITCH connection and rivr's `listen` address.
        #[arg(short, long, default_value = "rivr.yaml")]
        config: PathBuf,
        /// Which `freeswitch` entry to use (default: the first).
        #[arg(long)]
        server: Option<String>,
        /// The FreeSWITCH dial string, e.g. `sofia/gateway/carrier/15551234567` or `user/1000`.
        dial_string: String,
        /// The script the answered call runs (relative to the scripts directory).
        script: String,
        /// Caller id number shown to the callee.
        #[arg(long)]
        caller_id: Option<String>,
    },
    /// Run call scenarios (`*.test.yaml`) against scripts on the simulated switch.
    Test {
        /// Scenario files or directories (default: ./scripts).
        paths: Vec<PathBuf>,
        /// Output format: `text`, or `junit` (JUnit XML on standard output).
        #[arg(long, default_value = "text")]
        format: String,
        /// Also write JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Write each scenario's call trace into this directory.
        #[arg(long, value_name = "DIR")]
        traces: Option<PathBuf>,
    },
    /// Replay call traces on the simulated switch against a script version and report, per
    /// trace, same / diverged / could not replay.
    Replay {
        /// Trace files, or directories of `*.trace.jsonl`.
        #[arg(required = true)]
        traces: Vec<PathBuf>,
        /// Replay every trace against this script.
        #[arg(long, conflicts_with = "scripts")]
        script: Option<PathBuf>,
        /// Replay each trace against its own script from this directory (default: ./scripts).
        #[arg(long)]
        scripts: Option<PathBuf>,
        /// Exit 1 when a trace diverged or could not be replayed.
        #[arg(long)]
        fail_on_diverge: bool,
    },
    /// Per-menu analytics from call traces: per flow (script and version), a table of every
    /// ask/menu/collect site (reached, match, nomatch, noinput, hung up, retries, choices) and
    /// the funnel (share of calls reaching each site, drop-offs, median time to reach it).
    /// Traces that cannot be read are reported and skipped.
    Stats {
        /// Trace files, or directories of `*.trace.jsonl`.
        #[arg(required = true)]
        traces: Vec<PathBuf>,
        /// `text` (a table and a funnel per flow) or `json` (what `rivr graph --stats` reads).
        #[arg(long, default_value = "text")]
        format: String,
    },
    /// Work with call traces.
    Trace {
        #[command(subcommand)]
        action: TraceAction,
    },
    /// Create a new rivr project: rivr.yaml, scripts/main.rhai and its scenarios.
    New {
        /// Directory to create (must not exist or be empty).
        dir: PathBuf,
    },
    /// Compile scripts and report every error with file:line:col; exits 1 on any. Then the flow
    /// lint: warnings with file:line:col, the rule and a fix (they do not change the exit code
    /// unless --deny-warnings). With `-c rivr.yaml`: the whole configuration, every route's
    /// script and its imports.
    Check {
        /// Scripts or directories (default: ./scripts).
        paths: Vec<PathBuf>,
        /// Validate this configuration file and every script its routes use.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Run the flow lint (the default).
        #[arg(long, overrides_with = "no_lint")]
        lint: bool,
        /// Only compile: no flow lint.
        #[arg(long, overrides_with = "lint")]
        no_lint: bool,
        /// Exit 1 on lint warnings too, not only on errors.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Draw the flow graph of a script, or of every script in a directory, from their syntax
    /// (nothing runs): verbs with their prompts and file:line, the branches on outcomes, menu
    /// choices, pass and invoke across scripts.
    Graph {
        /// A script, or a directory of scripts.
        path: PathBuf,
        /// Output format: `mermaid` (renders on GitHub), `dot` (Graphviz) or `json` (for tools).
        #[arg(long, default_value = "mermaid")]
        format: String,
        /// Lay the counts of `rivr stats --format json` (this file) over the graph: on each
        /// ask/menu/collect and its choices, with menus where callers often give no input or no
        /// valid choice set apart.
        #[arg(long, value_name = "FILE")]
        stats: Option<PathBuf>,
    },
}

/// `rivr trace …`.
#[derive(Subcommand)]
enum TraceAction {
    /// Write a `*.test.yaml` scenario from a trace: the call's keys, dial and record results and
    /// HTTP answers, and every verb it did, as steps.
    ToScenario {
        /// The trace file.
        trace: PathBuf,
        /// Write the scenario here (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The script the scenario names, relative to the scenario file (default: the trace's).
        #[arg(long)]
        script: Option<String>,
    },
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // `rivr run` reads its configuration before anything is logged: its `log` section decides
    // the filter and the format. A configuration it cannot start with is reported as such.
    let served = match &mut cli.command {
        Command::Run { config, .. } => match load_config(config.take()) {
            Ok(served) => Some(served),
            Err(code) => return code,
        },
        _ => None,
    };
    let logging = Logging::choose(&cli, served.as_ref().map(|(live, _)| &live.started().log));
    // Dropped when `main` returns, which writes out the lines still queued.
    let (reload_level, _flush_on_exit) = logging.init(&cli);
    match (served, cli.command) {
        (Some((live, path)), Command::Run { log_format, .. }) => {
            if let Some(format) = log_format.as_deref().filter(|f| *f != "text" && *f != "json") {
                eprintln!("error: --log-format {format}: use text or json");
                return ExitCode::from(2);
            }
            if let Some(apply) = reload_level {
                live.attach_log_level(apply);
            }
            report(serve(live, path))
        }
        (_, command) => report(run(command)),
    }
}

fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Where log lines go and which: the filter and the format in force at start.
struct Logging {
    level: String,
    json: bool,
    /// The level is the configuration's, so a reload that changes `log.level` applies.
    from_config: bool,
}

impl Logging {
    /// `--log` (or RIVR_LOG) wins; for `rivr run`, then RUST_LOG, then the configuration's
    /// `log.level`; `--log-format` wins over `log.format`. Other commands log warnings.
    fn choose(cli: &Cli, config: Option<&rivr::config::Log>) -> Logging {
        let json_flag = match &cli.command {
            Command::Run { log_format, .. } => log_format.as_deref().map(|format| format == "json"),
            _ => None,
        };
        let json = json_flag
            .unwrap_or_else(|| config.is_some_and(|log| log.format == rivr::config::LogFormat::Json));
        if let Some(level) = &cli.log {
            return Logging { level: level.clone(), json, from_config: false };
        }
        let Some(config) = config else {
            return Logging { level: "warn".into(), json, from_config: false };
        };
        match std::env::var("RUST_LOG").ok().filter(|level| !level.is_empty()) {
            Some(level) => Logging { level, json, from_config: false },
            None => Logging { level: config.level.clone(), json, from_config: true },
        }
    }

    /// Install the subscriber. Returns how to change the filter later, when the configuration
    /// decides it, and the log thread's guard.
    fn init(&self, cli: &Cli) -> (Option<LevelSetter>, Option<tracing_appender::non_blocking::WorkerGuard>) {
        // `rivr run` writes its log through a thread of its own that batches lines into one
        // write whenever it catches up: a `write` per line on the call path was most of what
        // logging at `info` cost per call (BENCHMARKS.md). Under a flood the queue drops lines
        // rather than slow calls. Other commands write straight to stderr, in order with their
        // own output.
        let (writer, guard) = if matches!(cli.command, Command::Run { .. }) {
            let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .thread_name("rivr-log")
                .finish(std::io::BufWriter::new(std::io::stderr()));
            (tracing_subscriber::fmt::writer::BoxMakeWriter::new(writer), Some(guard))
        } else {
            (tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr), None)
        };
        let builder = tracing_subscriber::fmt().with_env_filter(filter(&self.level)).with_writer(writer);
        let apply = |set: Box<dyn Fn(tracing_subscriber::EnvFilter) -> bool + Send + Sync>| -> LevelSetter {
            Box::new(move |level: &str| {
                if !set(filter(level)) {
                    tracing::warn!(%level, "cannot apply log.level; the running filter stays");
                }
            })
        };
        let setter = if self.json {
            let builder =
                builder.json().with_current_span(true).with_span_list(false).with_filter_reloading();
            let handle = builder.reload_handle();
            builder.init();
            self.from_config.then(|| apply(Box::new(move |new| handle.reload(new).is_ok())))
        } else {
            let builder = builder.with_ansi(cli.color.enabled()).with_filter_reloading();
            let handle = builder.reload_handle();
            builder.init();
            self.from_config.then(|| apply(Box::new(move |new| handle.reload(new).is_ok())))
        };
        (setter, guard)
    }
}

/// Sets the log filter of a running `rivr run` (`log.level` reloaded).
type LevelSetter = Box<dyn Fn(&str) + Send + Sync>;

/// The filter for `level`. The NATS client logs each reconnect attempt at info; rivr logs the
/// connection's state changes itself (src/nats/connection.rs), so the client's own lines start at
/// warn unless the filter names it.
fn filter(level: &str) -> tracing_subscriber::EnvFilter {
    let level =
        if level.contains("async_nats") { level.to_string() } else { format!("{level},async_nats=warn") };
    tracing_subscriber::EnvFilter::try_new(&level).unwrap_or_else(|_| "warn".into())
}

/// The configuration `rivr run` serves with: `path`, or ./rivr.yaml if it exists, or the
/// built-in defaults. A configuration with errors is reported and ends the process (exit 1).
fn load_config(
    path: Option<PathBuf>,
) -> Result<(std::sync::Arc<rivr::reload::LiveConfig>, Option<PathBuf>), ExitCode> {
    let path = path.or_else(|| Some(PathBuf::from("rivr.yaml")).filter(|p| p.exists()));
    let live = match &path {
        Some(path) => match rivr::reload::LiveConfig::load(path) {
            Ok(live) => live,
            Err(error) => {
                for problem in error.diagnostics() {
                    eprintln!("{problem}");
                }
                eprintln!("error: {} is not valid; nothing was started", path.display());
                return Err(ExitCode::from(1));
            }
        },
        None => rivr::reload::LiveConfig::fixed(rivr::config::Config::default()),
    };
    Ok((live, path))
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Sim { script, from, to, vars, dials, scripts, config, trace } => {
            let (services, limits, fallback, max_duration) = match config {
                None => (
                    CallServices::default(),
                    Limits::default(),
                    rivr::config::Fallback::default(),
                    SimSetup::default().max_duration,
                ),
                Some(path) => match rivr::config::Config::load(&path) {
                    Ok(config) => {
                        let http = rivr::http::ReqwestHttp::new(&config.http)
                            .with_context(|| format!("{}: building the HTTP client", path.display()))?;
                        let max_duration = Duration::from_secs(config.max_call_duration_s.get());
                        (
                            CallServices::with_http(std::sync::Arc::new(http)),
                            config.limits.clone(),
                            (*config.fallback).clone(),
                            max_duration,
                        )
                    }
                    Err(error) => {
                        for problem in error.diagnostics() {
                            eprintln!("{problem}");
                        }
                        return Ok(ExitCode::from(1));
                    }
                },
            };
            let variables = vars
                .iter()
                .map(|pair| {
                    pair.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .with_context(|| format!("--var {pair}: write name=value"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let dials = dials
                .iter()
                .map(|text| {
                    SimDial::parse(text).with_context(|| {
                        format!("--dial {text}: use answered[:SECONDS], busy, no_answer or failed")
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let options = SimOptions {
                script,
                scripts_dir: scripts,
                from,
                to,
                variables,
                dials,
                limits,
                fallback,
                services,
                max_duration,
                trace,
            };
            let interactive = console::stdin_is_terminal();
            let input = Box::new(std::io::BufReader::new(std::io::stdin()));
            match console::simulate(options, input, console::stdout_printer(), interactive) {
                Ok(report) => Ok(match report.ending {
                    rivr::script::runner::Ending::Failed(_) => ExitCode::from(1),
                    _ => ExitCode::SUCCESS,
                }),
                Err(console::SimError::Compile(problem)) => {
                    eprintln!("{problem}");
                    Ok(ExitCode::from(1))
                }
                Err(error) => Err(error.into()),
            }
        }
        Command::Test { paths, format, junit, traces } => {
            let paths = if paths.is_empty() { vec![PathBuf::from("scripts")] } else { paths };
            if format != "text" && format != "junit" {
                anyhow::bail!("--format {format}: use text or junit");
            }
            let outcome =
                rivr::scenario::cli::run(&paths, format == "junit", junit.as_deref(), traces.as_deref())?;
            Ok(if outcome { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Replay { traces, script, scripts, fail_on_diverge } => {
            let options = rivr::trace::ReplayOptions { script, scripts_dir: scripts, ..Default::default() };
            let all_same = rivr::trace::cli::replay(&traces, &options);
            Ok(if all_same || !fail_on_diverge { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Stats { traces, format } => {
            if format != "text" && format != "json" {
                anyhow::bail!("--format {format}: use text or json");
            }
            let files = rivr::trace::cli::trace_files(&traces);
            let (report, errors) = rivr::stats::report::gather(&files);
            for error in &errors {
                eprintln!("skipped: {error}");
            }
            if format == "json" {
                println!("{}", rivr::stats::render::json(&report));
            } else {
                print!("{}", rivr::stats::render::text(&report));
                if !errors.is_empty() {
                    eprintln!(
                        "{} of {} traces could not be read and were left out",
                        errors.len(),
                        files.len()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Trace { action: TraceAction::ToScenario { trace, output, script } } => {
            rivr::trace::cli::trace_to_scenario(&trace, output.as_deref(), script.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::New { dir } => {
            rivr::scenario::scaffold::create(&dir)?;
            println!(
                "created {}: try `rivr test {}` and `rivr sim {}`",
                dir.display(),
                dir.join("scripts").display(),
                dir.join("scripts/main.rhai").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        // Served from `main`, which reads the configuration before logging starts.
        Command::Run { .. } => unreachable!("rivr run is served from main"),
        Command::Originate { config, server, dial_string, script, caller_id } => {
            originate(&config, server.as_deref(), &dial_string, &script, caller_id)
        }
        Command::Check { paths, config: Some(config), no_lint, deny_warnings, .. } => {
            let report = rivr::check_config::check_config_with(&config, !no_lint);
            for problem in &report.problems {
                println!("{problem}");
            }
            for note in &report.notes {
                println!("note: {note}");
            }
            let errors = report.errors();
            let warnings = warnings_note(report.warnings());
            if errors == 0 {
                println!(
                    "{}: configuration and {} script(s) OK{warnings}",
                    config.display(),
                    report.scripts_checked
                );
            } else {
                println!("{}: {errors} problem(s){warnings}", config.display());
            }
            let failed = errors > 0 || (deny_warnings && report.warnings() > 0);
            let scripts_ok =
                if paths.is_empty() { true } else { check_scripts(&paths, !no_lint, deny_warnings) };
            Ok(if !failed && scripts_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Check { paths, config: None, no_lint, deny_warnings, .. } => {
            let paths = if paths.is_empty() { vec![PathBuf::from("scripts")] } else { paths };
            Ok(if check_scripts(&paths, !no_lint, deny_warnings) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Graph { path, format, stats } => {
            let format: rivr::flow::Format = format.parse().map_err(anyhow::Error::msg)?;
            let report = stats.as_deref().map(rivr::flow::overlay::read).transpose()?;
            match rivr::flow::graph_of(&path) {
                Ok(graph) => {
                    let overlay = report
                        .as_ref()
                        .zip(stats.as_deref())
                        .map(|(report, file)| rivr::flow::overlay::Overlay::new(&graph, report, file));
                    for warning in overlay.iter().flat_map(|o| &o.warnings) {
                        eprintln!("warning: {warning}");
                    }
                    print!("{}", rivr::flow::render::render_with(&graph, format, overlay.as_ref()));
                    Ok(ExitCode::SUCCESS)
                }
                Err(rivr::flow::FlowError::Syntax(problems)) => {
                    for problem in problems {
                        eprintln!("{problem}");
                    }
                    Ok(ExitCode::from(1))
                }
                Err(error) => Err(error.into()),
            }
        }
    }
}

/// `rivr check` on script paths: errors, then lint warnings, then a summary line. Whether they
/// pass: no errors, and no warnings either with `deny_warnings`.
fn check_scripts(paths: &[PathBuf], lint: bool, deny_warnings: bool) -> bool {
    let options = rivr::check::CheckOptions { lint, ..Default::default() };
    let report = rivr::check::check_paths_with(paths, &Limits::default(), &options);
    for problem in &report.problems {
        println!("{problem}");
    }
    for warning in &report.warnings {
        println!("{warning}");
    }
    let noun = if report.checked == 1 { "script" } else { "scripts" };
    let warnings = warnings_note(report.warnings.len());
    if report.problems.is_empty() {
        println!("checked {} {noun}: no problems{warnings}", report.checked);
    } else {
        println!("checked {} {noun}: {} problem(s){warnings}", report.checked, report.problems.len());
    }
    if !report.warnings.is_empty() {
        println!("(silence a warning with `// rivr: allow(RULE)` on its line or the line above)");
    }
    report.problems.is_empty() && (report.warnings.is_empty() || !deny_warnings)
}

/// ", N warning(s)" when there are any.
fn warnings_note(count: usize) -> String {
    if count == 0 {
        String::new()
    } else {
        format!(", {count} warning(s)")
    }
}

/// `rivr run` with the configuration `main` loaded: load the scripts, then serve until Ctrl-C
/// or SIGTERM.
fn serve(live: std::sync::Arc<rivr::reload::LiveConfig>, path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let snapshot = live.current();
    let config = &snapshot.config;
    for problem in config.check() {
        tracing::warn!("{problem}");
    }
    let (store, problems) = rivr::script::ScriptStore::load(config.scripts.as_path(), &config.limits);
    for problem in &problems {
        tracing::error!("{problem}");
    }
    tracing::info!(
        config = path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "(defaults)".into()),
        scripts_dir = %config.scripts.display(),
        scripts = ?store.names(),
        failed = problems.len(),
        "loaded"
    );
    let store = std::sync::Arc::new(store);
    let call_threads = CallThreads::count(config.call_threads);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CallThreads::main_workers(call_threads).get())
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let rivr = rivr::server::Runtime::new(live, store)?;
        let shutdown = async {
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async {
                    match terminate.as_mut() {
                        Some(signal) => { signal.recv().await; }
                        None => std::future::pending().await,
                    }
                } => {}
            }
            tracing::info!("shutting down: no new calls; live calls may finish");
        };
        rivr::server::serve(rivr, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `rivr originate`: one outbound call through the configured FreeSWITCH.
fn originate(
    config: &std::path::Path,
    server: Option<&str>,
    dial_string: &str,
    script: &str,
    caller_id: Option<String>,
) -> anyhow::Result<ExitCode> {
    use rivr::switch::freeswitch::inbound::{
        Destination, InboundClient, InboundConfig, OriginateOutcome, OriginateRequest,
    };
    let config = match rivr::config::Config::load(config) {
        Ok(config) => config,
        Err(error) => {
            for problem in error.diagnostics() {
                eprintln!("{problem}");
            }
            return Ok(ExitCode::from(1));
        }
    };
    let entry = match server {
        Some(name) => config.freeswitch.iter().find(|fs| fs.name() == name),
        None => config.freeswitch.first(),
    }
    .with_context(|| match server {
        Some(name) => format!("no `freeswitch` entry named {name} in the configuration"),
        None => "the configuration has no `freeswitch` entry: add one with host, port and password".into(),
    })?;
    let inbound = InboundConfig::new(entry.name(), entry.host.as_str(), entry.port, entry.password.expose());
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let outcome = runtime.block_on(async {
        let client = InboundClient::connect(inbound).await?;
        let mut request =
            OriginateRequest::new(dial_string, Destination::socket(config.listen.to_string())).script(script);
        if let Some(number) = caller_id {
            request = request.caller_id_number(number);
        }
        let outcome = client.originate(&request).await;
        client.close().await;
        outcome
    });
    match outcome {
        Ok(OriginateOutcome::Answered { uuid }) => {
            println!("answered: {uuid} (running {script})");
            Ok(ExitCode::SUCCESS)
        }
        Ok(other) => {
            println!("not answered: {other}");
            Ok(ExitCode::from(1))
        }
        Err(error) => Err(error).context(format!("originate {dial_string}")),
    }
}
