//! The configuration: `rivr.yaml`, typed, defaulted, validated with positions in every error.
//!
//! Every key has a default, so an empty file (or none at all: `Config::default()`) is a working
//! configuration that listens on `127.0.0.1:8084` and runs `scripts/main.rhai` for every call.
//! `examples/rivr.yaml` shows every key with a comment.
//!
//! Loading goes through three stages, and each reports problems as [`Diagnostic`]s with
//! `file:line:column`:
//!
//! 1. deserializing (serde-saphyr): YAML syntax, unknown keys, wrong types, out-of-range values,
//!    unknown hangup causes. This stage stops at the first problem.
//! 2. `Config::parse` then checks what needs the whole file, collecting every problem: regexes
//!    that do not compile, unset `${ENV}` variables, duplicate route and connection names,
//!    script paths that leave the scripts directory, unsafe `http.allow` prefixes, routes that
//!    can never match (a warning).
//! 3. `Config::check` looks at the filesystem: the scripts directory and each route's script.
//!
//! `Config::load` runs all three.
//!
//! `${NAME}` (or `${NAME:-default}`) takes a value from the environment in these fields:
//! `freeswitch[].name`, `.host` and `.password`, `http.allow[]`, and route `set` values. An
//! unset variable without a default is an error naming the variable and its position.
//!
//! This module knows nothing of Rhai or ESL; it borrows the leaf `cause::HangupCause` only to validate
//! cause names.

mod condition;
mod de;
mod diagnostic;
mod events;
mod fallback;
mod interpolate;
mod limits;
mod nats;
mod position;
mod route;
mod secret;
mod traces;
mod validate;

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cause::HangupCause;

pub(crate) use condition::Pattern;
pub use condition::{Condition, PatternError};
pub use diagnostic::{ConfigError, Diagnostic, DiagnosticKind, Severity};
pub use events::{is_publishable_type, Events, NatsSink, RivrEventType, Webhook};
pub use fallback::Fallback;
pub use limits::Limits;
pub(crate) use nats::is_subject;
pub use nats::{HangupCommands, Nats, NatsCommands, NatsUrls, OriginateQueue};
pub use position::{Position, Positioned};
pub use route::{CallField, LimitsOverride, Route, SetValue};
pub use secret::Secret;
pub use traces::{Fraction, MaskedVerb, TracePolicy, TraceRoute, Traces};

/// The whole of `rivr.yaml`. Every key is optional.
///
/// Each field's doc says when a change takes effect if the file is reloaded while rivr runs:
/// "for new calls", or "on restart" (see [`Config::restart_required`]).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address rivr listens on for FreeSWITCH's outbound sockets (the dialplan's
    /// `socket 127.0.0.1:8084 async full`). Default `127.0.0.1:8084`; use `0.0.0.0:8084` when
    /// FreeSWITCH runs on another host. Takes effect on restart.
    pub listen: SocketAddr,
    /// Inbound event socket connections rivr opens to FreeSWITCH (port 8021) for `originate`,
    /// `api` and events. Default: none. Takes effect on restart.
    pub freeswitch: Vec<Inbound>,
    /// Directory holding the `.rhai` scripts, relative to the directory of the configuration
    /// file. Default `scripts`. Takes effect on restart.
    pub scripts: Positioned<PathBuf>,
    /// Routes, tried in order for each new call; the first whose conditions all hold picks the
    /// script. With no routes and no `default_route`, every call runs `main.rhai`. Takes effect
    /// for new calls.
    pub routes: Vec<Route>,
    /// Script for calls no route matches (relative to `scripts`); appears in logs as route
    /// `default_route`. Without it, such calls are rejected with `no_route.cause` (unless
    /// `routes` is empty: see `routes`). Takes effect for new calls.
    pub default_route: Option<Positioned<String>>,
    /// What happens to a call no route matches and no `default_route` takes. Takes effect for
    /// new calls.
    pub no_route: NoRoute,
    /// Sandbox limits for every script; routes may override them key by key. Takes effect for
    /// new calls.
    pub limits: Limits,
    /// Most calls handled at once; calls beyond it are rejected with `busy_cause`, so upstream
    /// can fail over instead of callers hearing silence. Default 10000. Takes effect for new
    /// calls.
    #[serde(deserialize_with = "de::nonzero_usize")]
    pub max_calls: NonZeroUsize,
    /// Hangup cause for calls beyond `max_calls`: a FreeSWITCH cause name or one of the aliases
    /// `busy`, `rejected`, `unavailable`, `no_answer`, `not_found`, `congestion`. Default
    /// `NORMAL_CIRCUIT_CONGESTION` (SIP 503, which makes a proxy try another node). Takes effect
    /// for new calls.
    #[serde(deserialize_with = "de::hangup_cause")]
    pub busy_cause: HangupCause,
    /// Longest a call may last, in seconds, before rivr hangs it up (`ALLOTTED_TIMEOUT`): a
    /// backstop against stuck calls and loops. Default 14400 (4 hours). Takes effect for new
    /// calls.
    #[serde(deserialize_with = "de::nonzero_u64")]
    pub max_call_duration_s: NonZeroU64,
    /// On shutdown, how long calls in progress may continue before rivr hangs them up, in
    /// seconds; 0 hangs up at once. New calls are refused meanwhile. Default 120.
    pub drain_timeout_s: u64,
    /// Threads that run calls, each call on one of them from start to end (`call_threads`).
    /// Default: one per CPU core but one (at least one). Takes effect on restart.
    #[serde(deserialize_with = "de::some_nonzero_usize")]
    pub call_threads: Option<NonZeroUsize>,
    /// Text-to-speech defaults for `say()`.
    pub tts: Tts,
    /// Prompt files and the language of `say_number()` and friends.
    pub sounds: Sounds,
    /// What scripts may reach with `http_get`/`http_post`.
    pub http: Http,
    /// What happens to a call whose script fails or breaks a sandbox limit; routes may override
    /// it. Default: say an apology and hang up with `NORMAL_TEMPORARY_FAILURE`.
    ///
    /// ```yaml
    /// fallback:
    ///   transfer: { extension: "0", context: default }
    /// ```
    pub fallback: Positioned<Fallback>,
    /// Directory where FreeSWITCH writes recordings made by `record()`, as the switch sees it
    /// (it is not resolved against the configuration file's directory, and need not exist on
    /// rivr's host; it must exist on the FreeSWITCH host). Default: none, meaning FreeSWITCH's
    /// own `recordings_dir`, which every install has.
    pub recordings: Option<PathBuf>,
    /// Logging.
    pub log: Log,
    /// The operations API and live view: health, live calls, metrics. Takes effect on restart.
    pub api: Api,
    /// Call traces (`rivr run`): off by default. For new calls, except `dir` and `queue`: on
    /// restart.
    pub traces: Traces,
    /// Call and script events out, to webhooks and NATS. Takes effect on restart.
    pub events: Events,
    /// The NATS connection that `events.nats` and the commands in use. Default: none. Takes
    /// effect on restart.
    pub nats: Option<Nats>,
    /// Where the configuration came from and what `parse` noticed; not part of the YAML.
    #[serde(skip)]
    meta: Meta,
}

impl Config {
    /// Reads, parses and checks a configuration file (the three stages in the module docs).
    /// Relative paths in it are resolved against the file's directory. Warnings do not fail the
    /// load: get them with [`Config::check`].
    ///
    /// # Errors
    ///
    /// `ConfigError::Read` when the file cannot be read; `ConfigError::Invalid` with every
    /// diagnostic found (warnings included) when any of them is an error.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let (config, diagnostics) = Config::parse_and_check(&text, &path.to_string_lossy())?;
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(ConfigError::Invalid(diagnostics));
        }
        Ok(config)
    }

    /// All three stages on `text` (read from the file `origin`), returning the configuration
    /// together with every diagnostic, errors included, in file order: for callers that must
    /// look further even when the configuration is unusable (`rivr check` compiles the routes'
    /// scripts of a file with a bad regex), or that must not apply a configuration with errors
    /// (a reload). `${NAME}` values come from the process environment.
    ///
    /// # Errors
    ///
    /// `ConfigError::Invalid` with the deserializer's one diagnostic when the text cannot be
    /// read as a configuration at all (bad YAML, unknown key, wrong type).
    pub fn parse_and_check(text: &str, origin: &str) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let (config, mut diagnostics) = Config::parse_all(text, origin, &env)?;
        // The filesystem is checked even when parsing found problems, so that one run reports
        // a bad regex and a missing script together.
        diagnostics.extend(validate::filesystem(&config));
        validate::sort(&mut diagnostics);
        Ok((config, diagnostics))
    }

    /// Parses configuration text, taking `${NAME}` values from the process environment.
    /// `origin` names the text in diagnostics and, read as a path, gives the directory relative
    /// paths are resolved against (`rivr.yaml` resolves against the working directory). Does not
    /// look at the filesystem: see [`Config::check`].
    ///
    /// # Errors
    ///
    /// `ConfigError::Invalid` with every problem found.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Config::parse_with_env(text, origin, &|name| std::env::var(name).ok())
    }

    /// `parse`, with `${NAME}` values from `env` instead of the process environment.
    ///
    /// # Errors
    ///
    /// `ConfigError::Invalid` with every problem found.
    pub fn parse_with_env(
        text: &str,
        origin: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let (config, diagnostics) = Config::parse_all(text, origin, env)?;
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(ConfigError::Invalid(diagnostics));
        }
        Ok(config)
    }

    /// Deserializes and runs the checks after parsing; returns the configuration with every
    /// diagnostic found (its warnings already stored), or the deserializer's one error.
    fn parse_all(
        text: &str,
        origin: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
        let options = serde_saphyr::options! {
            // Snippets are rendered by whoever prints the diagnostic, if at all.
            with_snippet: false,
            // `!include` and friends would be silently ignored otherwise.
            reject_unsupported_tags: true,
        };
        // An unknown key (a typo such as `lisen:`) stops the deserializer. So that it is reported
        // together with every other problem, its entry is commented out and the text read again;
        // line and column numbers stay those of the file.
        let mut unknown_keys = Vec::new();
        let mut edited = Cow::Borrowed(text);
        let mut config: Config = loop {
            match serde_saphyr::from_str_with_options(&edited, options.clone()) {
                Ok(config) => break config,
                Err(err) => {
                    let diagnostic = Diagnostic::from_yaml(origin, &err);
                    let without = (diagnostic.kind == DiagnosticKind::UnknownKey
                        && unknown_keys.len() < MAX_UNKNOWN_KEYS)
                        .then(|| comment_out_entry(&edited, diagnostic.line, diagnostic.column))
                        .flatten();
                    unknown_keys.push(diagnostic);
                    match without {
                        Some(text) => edited = Cow::Owned(text),
                        None => return Err(ConfigError::Invalid(unknown_keys)),
                    }
                }
            }
        };
        config.meta.origin = origin.to_string();
        let base = Path::new(origin).parent().unwrap_or(Path::new(""));
        if config.scripts.is_relative() {
            let resolved = base.join(config.scripts.value());
            *config.scripts.value_mut() = resolved;
        }
        if config.traces.dir.is_relative() {
            config.traces.dir = base.join(&config.traces.dir);
        }
        let mut diagnostics = validate::after_parse(&mut config, &edited, env);
        config.meta.warnings = diagnostics.iter().filter(|d| !d.is_error()).cloned().collect();
        diagnostics.extend(unknown_keys);
        validate::sort(&mut diagnostics);
        Ok((config, diagnostics))
    }

    /// Checks the filesystem (the scripts directory and every route's script) and returns those
    /// problems together with the warnings `parse` found, in file order. The configuration is
    /// usable when none of them is an error.
    pub fn check(&self) -> Vec<Diagnostic> {
        let mut diagnostics = self.meta.warnings.clone();
        diagnostics.extend(validate::filesystem(self));
        validate::sort(&mut diagnostics);
        diagnostics
    }

    /// The name diagnostics give this configuration (its file, or `<defaults>`).
    pub fn origin(&self) -> &str {
        &self.meta.origin
    }

    /// The script for calls no route matches: `default_route`, or `main.rhai` when there are no
    /// routes at all; `None` when such calls are rejected.
    pub fn default_script(&self) -> Option<&str> {
        match &self.default_route {
            Some(script) => Some(script.as_str()),
            None if self.routes.is_empty() => Some(IMPLICIT_SCRIPT),
            None => None,
        }
    }

    /// The path of a script named relative to the scripts directory.
    pub fn script_path(&self, script: &str) -> PathBuf {
        self.scripts.join(script)
    }

    /// The keys whose change, between this running configuration and `new`, only takes effect
    /// on restart (`listen`, `freeswitch`, `scripts`, `log.format`). Everything else applies to
    /// new calls as soon as `new` is in place.
    pub fn restart_required(&self, new: &Config) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.listen != new.listen {
            keys.push("listen");
        }
        if self.freeswitch != new.freeswitch {
            keys.push("freeswitch");
        }
        if self.scripts != new.scripts {
            keys.push("scripts");
        }
        if self.log.format != new.log.format {
            keys.push("log.format");
        }
        if self.api != new.api {
            keys.push("api");
        }
        if self.sounds.prefix != new.sounds.prefix {
            keys.push("sounds.prefix");
        }
        if self.events != new.events {
            keys.push("events");
        }
        if self.nats != new.nats {
            keys.push("nats");
        }
        if self.call_threads != new.call_threads {
            keys.push("call_threads");
        }
        keys
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_LISTEN_PORT),
            freeswitch: Vec::new(),
            scripts: Positioned::unplaced(PathBuf::from("scripts")),
            routes: Vec::new(),
            default_route: None,
            no_route: NoRoute::default(),
            limits: Limits::default(),
            max_calls: DEFAULT_MAX_CALLS,
            busy_cause: default_busy_cause(),
            max_call_duration_s: DEFAULT_MAX_CALL_DURATION_S,
            drain_timeout_s: 120,
            call_threads: None,
            tts: Tts::default(),
            sounds: Sounds::default(),
            http: Http::default(),
            fallback: Positioned::unplaced(Fallback::default()),
            recordings: None,
            log: Log::default(),
            api: Api::default(),
            traces: Traces::default(),
            events: Events::default(),
            nats: None,
            meta: Meta::default(),
        }
    }
}

/// One inbound event socket connection to FreeSWITCH (`mod_event_socket`, port 8021).
///
/// `name`, `host` and `password` may use `${ENV_NAME}` (and `${ENV_NAME:-default}`) to take
/// values from the environment; `$${` writes a literal `${`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Inbound {
    /// Name in logs and for scripts that pick a switch; default `host:port`. Must be unique.
    #[serde(default)]
    pub name: Option<Positioned<String>>,
    /// Host name or address of FreeSWITCH. Default `127.0.0.1`.
    #[serde(default = "default_host")]
    pub host: Positioned<String>,
    /// Event socket port (`event_socket.conf.xml` `listen-port`). Default 8021.
    #[serde(default = "default_esl_port")]
    pub port: u16,
    /// Event socket password (`event_socket.conf.xml` `password`). Default `ClueCon`, which
    /// every production switch should change: write `password: ${FS_PASSWORD}`. Never logged.
    #[serde(default = "default_password")]
    pub password: Secret,
}

impl Inbound {
    /// A connection to `host` with the default port and password.
    pub fn new(host: impl Into<String>) -> Self {
        Inbound {
            name: None,
            host: Positioned::unplaced(host.into()),
            port: DEFAULT_ESL_PORT,
            password: default_password(),
        }
    }

    /// The connection's name: `name`, or `host:port`.
    pub fn name(&self) -> String {
        match &self.name {
            Some(name) => name.value().clone(),
            None => format!("{}:{}", self.host.as_str(), self.port),
        }
    }
}

/// The operations API and live view (`rivr run` only).
///
/// ```yaml
/// api:
///   listen: 0.0.0.0:8085
///   token: ${RIVR_API_TOKEN}
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Api {
    /// Whether `rivr run` serves the API. Default true.
    pub enabled: bool,
    /// Address of the API and live view. Default `127.0.0.1:8085`, reachable from this host
    /// only. Any other address needs `token`: rivr refuses to start without one.
    pub listen: Positioned<SocketAddr>,
    /// Bearer token every request but `/health` and the live view's page must carry
    /// (`Authorization: Bearer …`). Write `token: ${RIVR_API_TOKEN}` to keep it out of the file.
    /// Never logged. Default: none, allowed only on a loopback address.
    pub token: Option<Secret>,
}

/// The API's default port, beside the outbound socket's 8084.
pub const DEFAULT_API_PORT: u16 = 8085;

impl Default for Api {
    fn default() -> Self {
        Api {
            enabled: true,
            listen: Positioned::unplaced(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_API_PORT)),
            token: None,
        }
    }
}

/// What happens to calls no route takes.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct NoRoute {
    /// Hangup cause the call is rejected with: a FreeSWITCH cause name or an alias (see
    /// `busy_cause`). Default `UNALLOCATED_NUMBER` (SIP 404).
    #[serde(deserialize_with = "de::hangup_cause")]
    pub cause: HangupCause,
}

impl Default for NoRoute {
    fn default() -> Self {
        NoRoute { cause: HangupCause::parse("UNALLOCATED_NUMBER").unwrap_or_else(HangupCause::normal) }
    }
}

/// Text-to-speech defaults; a script can choose another voice per `say()`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Tts {
    /// FreeSWITCH TTS module (`speak` engine). Default `flite`.
    pub engine: String,
    /// Voice of that engine. Default `kal`.
    pub voice: String,
}

impl Default for Tts {
    fn default() -> Self {
        Tts { engine: "flite".into(), voice: "kal".into() }
    }
}

/// Where prompt files are found, and the language numbers are spoken in.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Sounds {
    /// Directory on the switch that relative prompt names are looked up in (FreeSWITCH's
    /// `sound_prefix`, e.g. `/usr/share/freeswitch/sounds/en/us/callie`): rivr joins it to
    /// every relative prompt file it plays, as FreeSWITCH does with its own. Default: none, the
    /// switch's own setting applies. Takes effect on restart.
    pub prefix: Option<String>,
    /// Language of `say_number`, `say_digits`, `say_time` and `say_money` (a `mod_say`
    /// language: `en`, `de`, `fr`, ...). Default `en`.
    pub language: String,
}

impl Default for Sounds {
    fn default() -> Self {
        Sounds { prefix: None, language: "en".into() }
    }
}

/// What `http_get` and `http_post` may reach from scripts.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    /// URL prefixes scripts may call. Each starts with `http://` or `https://` and has a `/`
    /// after the host (`https://crm.example.com/api/`), so that a prefix cannot be extended
    /// into another host name. `${ENV}` references are replaced. Default: none, so scripts can
    /// make no requests.
    pub allow: Vec<Positioned<String>>,
    /// Longest a request may take, in milliseconds, connection included. Default 5000.
    #[serde(deserialize_with = "de::nonzero_u64")]
    pub timeout_ms: NonZeroU64,
    /// Largest response body a script may receive, in bytes; a longer one fails the request.
    /// Default 1048576 (1 MiB).
    #[serde(deserialize_with = "de::nonzero_usize")]
    pub max_response_bytes: NonZeroUsize,
}

impl Http {
    /// Whether scripts may request `url`.
    pub fn allows(&self, url: &str) -> bool {
        self.allow.iter().any(|prefix| url.starts_with(prefix.as_str()))
    }

    /// The request timeout as a duration.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms.get())
    }
}

impl Default for Http {
    fn default() -> Self {
        Http {
            allow: Vec::new(),
            timeout_ms: DEFAULT_HTTP_TIMEOUT_MS,
            max_response_bytes: DEFAULT_HTTP_MAX_RESPONSE_BYTES,
        }
    }
}

/// Logging.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// Filter in `RUST_LOG` syntax (`info`, `rivr=debug,info`), applied again on reload; `--log`
    /// (or `RIVR_LOG`), then the `RUST_LOG` environment variable, win when set. Default `info`.
    #[serde(deserialize_with = "log_filter")]
    pub level: String,
    /// `text` for people, `json` (one object per line) for log collectors. Default `text`.
    /// Takes effect on restart.
    pub format: LogFormat,
}

impl Default for Log {
    fn default() -> Self {
        Log { level: "info".into(), format: LogFormat::Text }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    #[default]
    Text,
}

/// Not part of the YAML: where it came from and the warnings `parse` found.
#[derive(Clone, Debug)]
struct Meta {
    origin: String,
    warnings: Vec<Diagnostic>,
}

impl Default for Meta {
    fn default() -> Self {
        Meta { origin: DEFAULT_ORIGIN.into(), warnings: Vec::new() }
    }
}

impl PartialEq for Meta {
    /// Two configurations are equal when their settings are: the origin and warnings are not
    /// settings.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Meta {}

/// A `log.level` that `tracing_subscriber::EnvFilter` accepts.
fn log_filter<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct FilterVisitor;

    impl serde::de::Visitor<'_> for FilterVisitor {
        type Value = String;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a log filter such as info or rivr=debug,info")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            tracing_subscriber::EnvFilter::builder().parse(v).map(|_| v.to_string()).map_err(|err| {
                E::custom(format!(
                    "invalid log filter `{v}` ({err}): use a level (error, warn, info, \
                         debug, trace) or RUST_LOG syntax such as rivr=debug,info"
                ))
            })
        }
    }

    d.deserialize_str(FilterVisitor)
}

fn default_busy_cause() -> HangupCause {
    HangupCause::parse("NORMAL_CIRCUIT_CONGESTION").unwrap_or_else(HangupCause::normal)
}

fn default_host() -> Positioned<String> {
    Positioned::unplaced("127.0.0.1".into())
}

fn default_esl_port() -> u16 {
    DEFAULT_ESL_PORT
}

fn default_password() -> Secret {
    Secret::new("ClueCon")
}

/// The script every call runs when there are no routes and no `default_route`.
pub const IMPLICIT_SCRIPT: &str = "main.rhai";

/// The route name of calls taken by `default_route` (or the implicit `main.rhai`).
pub const DEFAULT_ROUTE_NAME: &str = "default_route";

/// `origin` of a configuration that was not read from a file.
pub const DEFAULT_ORIGIN: &str = "<defaults>";

/// FreeSWITCH's outbound socket port in rivr's examples.
const DEFAULT_LISTEN_PORT: u16 = 8084;

/// FreeSWITCH `mod_event_socket`'s default port.
const DEFAULT_ESL_PORT: u16 = 8021;

// The `unwrap`s below run at compile time: a zero would fail the build, never a running rivr.
const DEFAULT_MAX_CALLS: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();

/// Unknown keys reported in one pass before giving up on the file.
const MAX_UNKNOWN_KEYS: usize = 64;

/// `text` with the block-style mapping entry whose key starts at 1-based `line`:`column` commented out,
/// with every deeper-indented line below it (its value), or `None` when the key does not start
/// its line (a flow mapping `{a: 1, typo: 2}`), where commenting would lose its neighbours.
fn comment_out_entry(text: &str, line: usize, column: usize) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let index = line.checked_sub(1)?;
    let first = lines.get(index)?;
    let body = first.trim_start();
    let indent = first.len() - body.len();
    // A key after a sequence dash (`- name: x`) is the first key of that item.
    let key = body.strip_prefix("- ").map_or(body, str::trim_start);
    let key_column = first.len() - key.len();
    if key_column + 1 != column || key.starts_with(['{', '[', '#']) || !key.contains(':') {
        return None;
    }
    let mut end = index + 1;
    while let Some(next) = lines.get(end) {
        let trimmed = next.trim_start();
        let blank = trimmed.is_empty() || trimmed.starts_with('#');
        if !blank && next.len() - trimmed.len() <= key_column.max(indent) {
            break;
        }
        end += 1;
    }
    let mut edited: Vec<String> = lines.iter().map(|part| part.to_string()).collect();
    edited[index] = format!("{}#{}", &first[..key_column], &first[key_column..]);
    for part in &mut edited[index + 1..end] {
        part.insert(0, '#');
    }
    // A mapping whose only entry went (`limits:` above a lone typo) would read as null: give
    // its key an empty mapping instead.
    let live = |part: &str| {
        let trimmed = part.trim_start();
        !trimmed.is_empty() && !trimmed.starts_with('#')
    };
    let depth = |part: &str| part.len() - part.trim_start().len();
    if let Some(parent) = (0..index).rev().find(|&n| live(&edited[n]) && depth(&edited[n]) < key_column) {
        let parent_depth = depth(&edited[parent]);
        let orphaned = edited[parent + 1..]
            .iter()
            .take_while(|part| !live(part) || depth(part) > parent_depth)
            .all(|part| !live(part));
        let line = edited[parent].trim_end();
        if orphaned && line.ends_with(':') {
            let newline = if edited[parent].ends_with('\n') { "\n" } else { "" };
            edited[parent] = format!("{line} {{}}{newline}");
        }
    }
    let out = edited.concat();
    Some(out)
}

const DEFAULT_MAX_CALL_DURATION_S: NonZeroU64 = NonZeroU64::new(4 * 60 * 60).unwrap();

const DEFAULT_HTTP_TIMEOUT_MS: NonZeroU64 = NonZeroU64::new(5_000).unwrap();

const DEFAULT_HTTP_MAX_RESPONSE_BYTES: NonZeroUsize = NonZeroUsize::new(1024 * 1024).unwrap();

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse_with_env(text, "rivr.yaml", &|_| None)
    }

    fn only_diagnostic(text: &str) -> Diagnostic {
        let err = parse(text).unwrap_err();
        let diagnostics = err.diagnostics();
        assert_eq!(diagnostics.len(), 1, "{err}");
        diagnostics[0].clone()
    }

    #[test]
    fn defaults_match_the_documentation() {
        let c = Config::default();
        assert_eq!(c.listen, "127.0.0.1:8084".parse().unwrap());
        assert!(c.freeswitch.is_empty());
        assert_eq!(c.scripts.as_path(), Path::new("scripts"));
        assert!(c.routes.is_empty());
        assert_eq!(c.default_script(), Some("main.rhai"));
        assert_eq!(c.no_route.cause.as_str(), "UNALLOCATED_NUMBER");
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.max_calls.get(), 10_000);
        assert_eq!(c.busy_cause.as_str(), "NORMAL_CIRCUIT_CONGESTION");
        assert_eq!(c.max_call_duration_s.get(), 14_400);
        assert_eq!(c.tts.engine, "flite");
        assert_eq!(c.tts.voice, "kal");
        assert_eq!(c.sounds.language, "en");
        assert!(c.http.allow.is_empty());
        assert_eq!(c.http.timeout_ms.get(), 5_000);
        assert_eq!(c.http.max_response_bytes.get(), 1 << 20);
        assert_eq!(*c.fallback, Fallback::default());
        assert_eq!(c.recordings, None);
        assert_eq!(c.log.level, "info");
        assert_eq!(c.origin(), "<defaults>");
    }

    #[test]
    fn an_empty_file_is_the_default_configuration() {
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(parse("# nothing yet\n").unwrap(), Config::default());
    }

    #[test]
    fn relative_scripts_resolve_against_the_file_directory() {
        let c = Config::parse_with_env("scripts: flows\n", "/etc/rivr/rivr.yaml", &|_| None).unwrap();
        assert_eq!(c.scripts.as_path(), Path::new("/etc/rivr/flows"));
        assert_eq!(c.script_path("a.rhai"), Path::new("/etc/rivr/flows/a.rhai"));
        let c = Config::parse_with_env("", "/etc/rivr/rivr.yaml", &|_| None).unwrap();
        assert_eq!(c.scripts.as_path(), Path::new("/etc/rivr/scripts"));
        let c = Config::parse_with_env("scripts: /srv/flows\n", "/etc/rivr/rivr.yaml", &|_| None).unwrap();
        assert_eq!(c.scripts.as_path(), Path::new("/srv/flows"));
    }

    #[test]
    fn routes_without_default_route_reject_unmatched_calls() {
        let c = parse("routes:\n  - name: a\n    destination: '1'\n    script: a.rhai\n").unwrap();
        assert_eq!(c.default_script(), None);
        let c = parse("default_route: other.rhai\n").unwrap();
        assert_eq!(c.default_script(), Some("other.rhai"));
    }

    #[test]
    fn an_inbound_connection_is_named_after_host_and_port_by_default() {
        let c = parse("freeswitch:\n  - host: fs1\n  - host: fs2\n    port: 8022\n    name: b\n").unwrap();
        assert_eq!(c.freeswitch[0].name(), "fs1:8021");
        assert_eq!(c.freeswitch[0].password.expose(), "ClueCon");
        assert_eq!(c.freeswitch[1].name(), "b");
        assert_eq!(c.freeswitch[1].port, 8022);
    }

    #[test]
    fn yes_and_no_are_booleans_only_where_a_boolean_is_expected() {
        // serde-saphyr is type-driven: YAML 1.1 spellings become booleans in `bool` fields,
        // and strings stay strings (no "Norway problem").
        let c = parse(
            "routes:\n  - name: off\n    script: a.rhai\n    enabled: no\n    \
             set: {country: NO, vip: yes}\n  - name: on\n    script: b.rhai\n    enabled: yes\n",
        )
        .unwrap();
        assert!(!c.routes[0].enabled);
        assert!(c.routes[1].enabled);
        assert_eq!(c.routes[0].set["country"].as_str(), "NO");
        assert_eq!(c.routes[0].set["vip"].as_str(), "yes");
        assert_eq!(c.routes[0].name.as_str(), "off");
    }

    #[test]
    fn log_level_must_be_a_filter() {
        let d = only_diagnostic("log:\n  level: 'rivr=loud'\n");
        assert_eq!(d.kind, DiagnosticKind::InvalidValue);
        assert_eq!((d.line, d.column), (2, 10));
        let c = parse("log: {level: 'rivr=debug,info', format: json}\n").unwrap();
        assert_eq!(c.log.format, LogFormat::Json);
    }

    #[test]
    fn restart_is_required_only_for_sockets_scripts_and_log_format() {
        let old = parse("").unwrap();
        let live = parse("max_calls: 5\nroutes: []\ntts: {voice: slt}\n").unwrap();
        assert!(old.restart_required(&live).is_empty());
        let fixed =
            parse("listen: 0.0.0.0:8084\nfreeswitch: [{host: fs1}]\nscripts: other\nlog: {format: json}\n")
                .unwrap();
        assert_eq!(old.restart_required(&fixed), ["listen", "freeswitch", "scripts", "log.format"]);
    }

    #[test]
    fn a_changed_password_requires_a_restart() {
        let a = Config::parse_with_env("freeswitch: [{password: '${P}'}]\n", "f", &|_| Some("one".into()))
            .unwrap();
        let b = Config::parse_with_env("freeswitch: [{password: '${P}'}]\n", "f", &|_| Some("two".into()))
            .unwrap();
        assert_eq!(a.restart_required(&b), ["freeswitch"]);
    }

    #[test]
    fn moving_lines_around_changes_nothing() {
        let a = parse("routes:\n  - {name: a, script: a.rhai}\n").unwrap();
        let b = parse("\n\nroutes:\n\n  - name: a\n    script: a.rhai\n").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn http_allows_only_listed_prefixes() {
        let c = parse("http:\n  allow: ['https://crm.example.com/api/']\n").unwrap();
        assert!(c.http.allows("https://crm.example.com/api/customers?id=1"));
        assert!(!c.http.allows("https://crm.example.com/admin"));
        assert!(!Config::default().http.allows("https://crm.example.com/api/"));
    }

    #[test]
    fn zero_max_calls_is_rejected_at_the_value() {
        let d = only_diagnostic("max_calls: 0\n");
        assert_eq!((d.line, d.column, d.kind), (1, 12, DiagnosticKind::InvalidValue));
        assert!(d.message.contains("at least 1"), "{d}");
    }

    #[test]
    fn call_threads_default_to_one_per_core_but_one_and_zero_is_rejected_at_the_value() {
        assert_eq!(Config::default().call_threads, None);
        assert_eq!(parse("call_threads: 3\n").unwrap().call_threads.map(NonZeroUsize::get), Some(3));
        let d = only_diagnostic("call_threads: 0\n");
        assert_eq!((d.line, d.column, d.kind), (1, 15, DiagnosticKind::InvalidValue));
        assert!(d.message.contains("at least 1"), "{d}");
        let changed = parse("call_threads: 2\n").unwrap();
        assert_eq!(Config::default().restart_required(&changed), ["call_threads"]);
    }

    #[test]
    fn an_unknown_entry_is_commented_out_with_its_value_keeping_every_position() {
        let text = "listen: 127.0.0.1:1\nroutez:\n  - name: a\n    script: a.rhai\nscripts: s\n";
        assert_eq!(
            comment_out_entry(text, 2, 1).as_deref(),
            Some("listen: 127.0.0.1:1\n#routez:\n#  - name: a\n#    script: a.rhai\nscripts: s\n")
        );
        // The lone entry of a mapping leaves it empty, not null.
        assert_eq!(
            comment_out_entry("limits:\n  max_pases: 5\nscripts: s\n", 2, 3).as_deref(),
            Some("limits: {}\n  #max_pases: 5\nscripts: s\n")
        );
        // A key inside a flow mapping shares its line with others: left alone.
        assert_eq!(comment_out_entry("limits: {max_pases: 5}\n", 1, 10), None);
    }

    #[test]
    fn a_typo_still_stops_the_configuration_from_loading() {
        let error = Config::parse("lisen: 127.0.0.1:8084\n", "rivr.yaml").expect_err("refused");
        let shown: Vec<String> = error.diagnostics().iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(shown[0].starts_with("rivr.yaml:1:1: unknown key `lisen`"), "{shown:?}");
    }
}
