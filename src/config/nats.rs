//! `nats:`: the one NATS connection of a `rivr run` node, which the event sink (`events.nats`)
//! and the commands in share (see `crate::nats`).

use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::position::{Position, Positioned};
use super::secret::Secret;

/// The NATS connection (`rivr run` only). Takes effect on restart.
///
/// ```yaml
/// nats:
///   url: [nats://nats-1:4222, nats://nats-2:4222]   # or one URL
///   name: rivr-node-a             # client name the server shows; default rivr-<host name>
///   token: ${NATS_TOKEN}          # or user: and password:
///   connect_timeout_ms: 5000
/// ```
///
/// rivr starts without waiting for NATS: when no server answers, calls are served anyway and
/// the connection is made in the background, with backoff, as it is after a server goes away.
///
/// More settings that use the connection (the `originate` and `hangup` commands in) are fields
/// of this struct too, each defaulted, so that `nats:` stays the one place NATS is configured.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Nats {
    /// The servers: one `nats://host:port` URL (or `tls://`), or a list of them, tried in turn
    /// (the servers a cluster announces are added). `${ENV}` references are replaced.
    /// Credentials go in `token` or `user`/`password`, never in the URL, so that the URLs can be
    /// logged.
    pub url: NatsUrls,
    /// The client name the server shows (`nats server report connections`). Default
    /// `rivr-<host name>`.
    #[serde(default)]
    pub name: Option<Positioned<String>>,
    /// A token the server requires (`authorization { token: … }`). Write `${NATS_TOKEN}` to keep
    /// it out of the file. Never logged.
    #[serde(default)]
    pub token: Option<Secret>,
    /// User name the server requires, with `password`. `${ENV}` references are replaced.
    #[serde(default)]
    pub user: Option<Positioned<String>>,
    /// Password of `user`. Write `${NATS_PASSWORD}` to keep it out of the file. Never logged.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Longest one connection attempt to one server may take, in milliseconds. Default 5000.
    #[serde(default = "default_connect_timeout_ms", deserialize_with = "super::de::nonzero_u64")]
    pub connect_timeout_ms: NonZeroU64,
    /// Originate requests (a JetStream work queue every node shares) and hangups in over NATS
    /// (`crate::nats::commands`). Default: none taken.
    #[serde(default)]
    pub commands: Option<NatsCommands>,
}

impl Nats {
    /// The name this node's connection goes by (in the server's connection list, and as the
    /// `node` of NATS command replies): `name`, or `rivr-` and the host name.
    pub fn client_name(&self) -> String {
        self.name
            .as_ref()
            .map_or_else(|| format!("rivr-{}", crate::host::host_name()), |name| name.to_string())
    }

    /// A connection to `url` with every other setting defaulted.
    pub fn new(url: impl Into<String>) -> Self {
        Nats {
            url: NatsUrls { urls: vec![Positioned::unplaced(url.into())], position: Position::UNKNOWN },
            name: None,
            token: None,
            user: None,
            password: None,
            connect_timeout_ms: default_connect_timeout_ms(),
            commands: None,
        }
    }

    /// The connection attempt timeout as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms.get())
    }

    /// The interpolation pass needs the secrets' text.
    pub(crate) fn secrets_mut(&mut self) -> impl Iterator<Item = &mut Positioned<String>> {
        self.token.iter_mut().chain(self.password.iter_mut()).map(Secret::positioned_mut)
    }
}

/// `url:`, one server or several, each with its place in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsUrls {
    urls: Vec<Positioned<String>>,
    position: Position,
}

impl NatsUrls {
    /// The URLs in the order written.
    pub fn iter(&self) -> impl Iterator<Item = &Positioned<String>> {
        self.urls.iter()
    }

    /// Where `url:` was written (for an empty list).
    pub fn position(&self) -> Position {
        self.position
    }

    /// Whether no URL is given (`url: []`).
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// The URLs joined with `, `, for log lines.
    pub fn joined(&self) -> String {
        self.urls.iter().map(|url| url.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// The interpolation pass replaces `${ENV}` references in place.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Positioned<String>> {
        self.urls.iter_mut()
    }
}

impl<'de> Deserialize<'de> for NatsUrls {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<RawUrls>::deserialize(deserializer)?;
        let position = Position::from_location(&spanned.referenced);
        let urls = match spanned.value {
            RawUrls::One(url) => vec![Positioned::new(url, position)],
            RawUrls::List(items) => items
                .into_iter()
                .map(|item| Positioned::new(item.value, Position::from_location(&item.referenced)))
                .collect(),
        };
        Ok(NatsUrls { urls, position })
    }
}

/// `url:` as YAML gives it.
enum RawUrls {
    One(String),
    List(Vec<serde_saphyr::Spanned<String>>),
}

impl<'de> Deserialize<'de> for RawUrls {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawUrlsVisitor)
    }
}

struct RawUrlsVisitor;

impl<'de> Visitor<'de> for RawUrlsVisitor {
    type Value = RawUrls;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a NATS server URL (nats://host:4222) or a list of them")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawUrls, E> {
        Ok(RawUrls::One(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<RawUrls, E> {
        Ok(RawUrls::One(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawUrls, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_saphyr::Spanned<String>>()? {
            items.push(item);
        }
        Ok(RawUrls::List(items))
    }
}

fn default_connect_timeout_ms() -> NonZeroU64 {
    NonZeroU64::new(5000).expect("non-zero")
}

/// Why a `nats.url` entry is unusable, in words for the configuration's author; `None` when it
/// is a `nats://` or `tls://` URL with a host and no credentials. Anything it accepts,
/// `async_nats::ServerAddr` parses, which `crate::nats` relies on.
pub(crate) fn url_problem(url: &str) -> Option<String> {
    let parsed = match url.parse::<async_nats::ServerAddr>() {
        Ok(parsed) => parsed.into_inner(),
        Err(e) => {
            return Some(format!("`{url}` is not a NATS server URL ({e}): write e.g. nats://nats-1:4222"));
        }
    };
    if !matches!(parsed.scheme(), "nats" | "tls") {
        return Some(format!(
            "`{url}` uses `{}://`, which rivr does not speak to NATS: write nats://host:4222, or \
             tls://host:4222 for TLS",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Some(format!("`{url}` has no host: write e.g. nats://nats-1:4222"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Some(format!(
            "`{url}` carries credentials, which would then appear in logs: move them to `nats.user` \
             and `nats.password` (or `nats.token`), written as ${{ENV}} references"
        ));
    }
    None
}

/// Why `events.nats`'s subjects or stream cannot be used, in words for the configuration's
/// author; `None` when they can. The subjects are `<subject_prefix>.<type>`, and JetStream's
/// stream takes `<subject_prefix>.>`, so the prefix must be plain subject words.
pub(crate) fn sink_problem(sink: &super::NatsSink) -> Option<String> {
    let word = |word: &str| {
        !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !sink.subject_prefix.split('.').all(word) {
        return Some(format!(
            "events.nats.subject_prefix `{}` is not a NATS subject prefix: use dot-separated words of \
             letters, digits, `_` and `-` without wildcards, e.g. `rivr.events`",
            sink.subject_prefix
        ));
    }
    if sink.jetstream && !word(&sink.stream) {
        return Some(format!(
            "events.nats.stream `{}` is not a JetStream stream name: use letters, digits, `_` and \
             `-`, e.g. `RIVR_EVENTS`",
            sink.stream
        ));
    }
    None
}

/// Where `events.nats` is written in `source`, for the error when there is no `nats:`
/// connection (`events.nats` is not a positioned value): its key in block style, else the
/// `events:` key, else unknown.
pub(crate) fn events_nats_position(source: &str) -> Position {
    nested_key_position(source, "events:", "nats:")
}

/// Where `nats.commands` is written in `source`, for its problems (it is not a positioned
/// value either).
pub(crate) fn nats_commands_position(source: &str) -> Position {
    nested_key_position(source, "nats:", "commands:")
}

/// Where `key` is written inside the top-level mapping `top` in block style; else where `top`
/// is; else unknown.
fn nested_key_position(source: &str, top: &str, key: &str) -> Position {
    let mut found = None;
    for (index, line) in source.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim_start();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        match found {
            None if indent == 0 && text.starts_with(top) => found = Some(index),
            None => {}
            // The mapping ends at the next top-level key.
            Some(_) if indent == 0 => break,
            Some(_) if text.starts_with(key) => return Position::new(index + 1, indent + 1),
            Some(_) => {}
        }
    }
    found.map_or(Position::UNKNOWN, |index| Position::new(index + 1, 1))
}

/// `nats.commands`: originate requests and hangups in over NATS. Present (even empty, `{}`)
/// means both are on, with these defaults:
///
/// ```yaml
/// nats:
///   url: nats://nats-1:4222
///   commands:
///     originate:
///       stream: RIVR_ORIGINATE            # work-queue stream, created when missing
///       subject: rivr.originate           # where requests are published
///       consumer: rivr-originate          # the durable pull consumer every node shares
///       outcome_subject: rivr.originate.outcome
///       max_in_flight: 50                 # requests this node places at once
///       ack_wait_s: 30                    # a dead node's requests go to another after this
///       max_deliver: 10                   # deliveries before a request is given up
///       recent_keys: 10000                # idempotency keys this node remembers
///     hangup:
///       subject: rivr.hangup
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct NatsCommands {
    /// Originate requests from the JetStream work queue.
    pub originate: OriginateQueue,
    /// Hangups by call uuid.
    pub hangup: HangupCommands,
}

/// `nats.commands.originate`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct OriginateQueue {
    /// The work-queue stream. Default `RIVR_ORIGINATE`.
    pub stream: String,
    /// The subject requests are published to. Default `rivr.originate`.
    pub subject: String,
    /// The durable pull consumer all nodes share. Default `rivr-originate`.
    pub consumer: String,
    /// Where every outcome is published too. Default `rivr.originate.outcome`.
    pub outcome_subject: String,
    /// Requests this node works on at once. Default 50.
    pub max_in_flight: NonZeroUsize,
    /// Seconds without an ack (or an "in progress") after which a request is delivered again,
    /// to any node. Default 30.
    pub ack_wait_s: NonZeroU64,
    /// Deliveries of one request before it is given up. Default 10.
    pub max_deliver: NonZeroU64,
    /// Idempotency keys this node remembers, so it never places one twice. Default 10000.
    pub recent_keys: NonZeroUsize,
}

impl Default for OriginateQueue {
    fn default() -> Self {
        OriginateQueue {
            stream: "RIVR_ORIGINATE".into(),
            subject: "rivr.originate".into(),
            consumer: "rivr-originate".into(),
            outcome_subject: "rivr.originate.outcome".into(),
            max_in_flight: NonZeroUsize::new(50).expect("non-zero"),
            ack_wait_s: NonZeroU64::new(30).expect("non-zero"),
            max_deliver: NonZeroU64::new(10).expect("non-zero"),
            recent_keys: NonZeroUsize::new(10_000).expect("non-zero"),
        }
    }
}

impl OriginateQueue {
    /// `ack_wait_s` as a duration.
    pub fn ack_wait(&self) -> Duration {
        Duration::from_secs(self.ack_wait_s.get())
    }

    /// `max_deliver` as JetStream counts deliveries.
    pub fn max_deliver(&self) -> i64 {
        i64::try_from(self.max_deliver.get()).unwrap_or(i64::MAX)
    }
}

/// `nats.commands.hangup`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct HangupCommands {
    /// The subject hangup requests are published to. Default `rivr.hangup`.
    pub subject: String,
}

impl Default for HangupCommands {
    fn default() -> Self {
        HangupCommands { subject: "rivr.hangup".into() }
    }
}

impl NatsCommands {
    /// What is wrong with the names, in words for the configuration's author; empty when they
    /// can be used.
    pub fn problems(&self) -> Vec<String> {
        let originate = &self.originate;
        let mut problems = Vec::new();
        for (key, subject) in [
            ("originate.subject", &originate.subject),
            ("originate.outcome_subject", &originate.outcome_subject),
            ("hangup.subject", &self.hangup.subject),
        ] {
            if !is_subject(subject) {
                problems.push(format!(
                    "nats.commands.{key} `{subject}` is not a NATS subject: dot-separated tokens, no blanks or wildcards"
                ));
            }
        }
        for (key, name) in
            [("originate.stream", &originate.stream), ("originate.consumer", &originate.consumer)]
        {
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>')) {
                problems.push(format!(
                    "nats.commands.{key} `{name}` is not a JetStream name: no dots, blanks or wildcards"
                ));
            }
        }
        if originate.outcome_subject == originate.subject {
            problems.push(
                "nats.commands.originate.outcome_subject must differ from its subject, or outcomes would be taken as requests"
                    .into(),
            );
        }
        problems
    }
}

/// A subject to publish to: dot-separated non-empty tokens, no blanks, no wildcards.
pub(crate) fn is_subject(subject: &str) -> bool {
    !subject.is_empty()
        && subject.split('.').all(|token| {
            !token.is_empty() && !token.contains(|c: char| c.is_whitespace() || matches!(c, '*' | '>'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError, DiagnosticKind};

    fn parse(yaml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::parse_with_env(yaml, "rivr.yaml", &move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn a_bad_commands_subject_is_a_configuration_error_at_its_commands_key() {
        let yaml =
            "nats:\n  url: nats://127.0.0.1:4222\n  commands:\n    hangup:\n      subject: \"rivr.*\"\n";
        let text = parse(yaml, &[]).expect_err("invalid").to_string();
        assert!(
            text.contains("rivr.yaml:3:3") && text.contains("hangup.subject `rivr.*` is not a NATS subject"),
            "{text}"
        );
    }

    fn problems(yaml: &str) -> Vec<(usize, usize, DiagnosticKind)> {
        match parse(yaml, &[]) {
            Ok(_) => Vec::new(),
            Err(error) => error.diagnostics().iter().map(|d| (d.line, d.column, d.kind)).collect(),
        }
    }

    #[test]
    fn one_url_or_a_list_with_the_rest_defaulted() {
        let config = parse("nats:\n  url: nats://127.0.0.1:4222\n", &[]).expect("valid");
        let nats = config.nats.expect("nats");
        assert_eq!(nats.url.joined(), "nats://127.0.0.1:4222");
        assert_eq!((&nats.name, &nats.token, &nats.user), (&None, &None, &None));
        assert_eq!(nats.connect_timeout(), Duration::from_secs(5));

        let config =
            parse("nats:\n  url:\n    - nats://a:4222\n    - tls://b:4222\n  connect_timeout_ms: 250\n", &[])
                .expect("valid");
        let nats = config.nats.expect("nats");
        let urls: Vec<_> = nats.url.iter().map(|url| (url.as_str(), url.position().line)).collect();
        assert_eq!(urls, [("nats://a:4222", 3), ("tls://b:4222", 4)]);
        assert_eq!(nats.connect_timeout(), Duration::from_millis(250));
    }

    #[test]
    fn secrets_and_urls_come_from_the_environment_and_never_show_in_a_dump() {
        let yaml = "nats:\n  url: 'nats://${NATS_HOST}:4222'\n  user: rivr\n  password: ${NATS_PASSWORD}\n";
        let config = parse(yaml, &[("NATS_HOST", "nats-1"), ("NATS_PASSWORD", "hunter2")]).expect("valid");
        let nats = config.nats.expect("nats");
        assert_eq!(nats.url.joined(), "nats://nats-1:4222");
        assert_eq!(nats.password.as_ref().map(Secret::expose), Some("hunter2"));
        assert!(!format!("{nats:?}").contains("hunter2"));

        assert_eq!(
            problems("nats:\n  url: nats://a:4222\n  token: ${NATS_TOKEN}\n"),
            [(3, 10, DiagnosticKind::UnsetEnv)]
        );
    }

    #[test]
    fn a_bad_url_is_an_error_at_its_place_that_says_what_to_write() {
        assert_eq!(
            problems("nats:\n  url: [nats://a:4222, 'http://b:80', 'nats://u:p@c:4222', 'nats://:4222']\n"),
            [
                (2, 24, DiagnosticKind::BadUrl),
                (2, 39, DiagnosticKind::BadUrl),
                (2, 60, DiagnosticKind::BadUrl)
            ]
        );
        let error = parse("nats:\n  url: 'nats://u:secret@c:4222'\n", &[]).expect_err("credentials");
        assert!(error.to_string().contains("rivr.yaml:2:8"), "{error}");
        assert!(error.to_string().contains("nats.password"), "{error}");
        assert_eq!(problems("nats:\n  url: []\n"), [(2, 8, DiagnosticKind::BadUrl)]);
    }

    #[test]
    fn events_over_nats_without_a_connection_is_an_error_and_so_is_half_a_login() {
        let error = parse("events:\n  nats:\n    jetstream: true\n", &[]).expect_err("no nats:");
        let d = &error.diagnostics()[0];
        assert_eq!((d.line, d.kind), (2, DiagnosticKind::MissingKey));
        assert!(d.message.contains("nats:"), "{d}");
        assert_eq!(
            problems("nats:\n  url: nats://a:4222\n  user: rivr\n"),
            [(3, 9, DiagnosticKind::MissingKey)]
        );
        assert_eq!(
            problems("nats:\n  url: nats://a:4222\n  token: t\n  user: u\n  password: p\n"),
            [(3, 10, DiagnosticKind::InvalidValue)]
        );
    }

    #[test]
    fn the_events_nats_key_is_found_in_block_style_and_falls_back_to_events() {
        let yaml = "listen: 127.0.0.1:0\nevents:\n  # a comment\n  webhooks: []\n  nats:\n    jetstream: true\nnats_x: 1\n";
        assert_eq!(events_nats_position(yaml), Position::new(5, 3));
        assert_eq!(events_nats_position("events: {nats: {}}\n"), Position::new(1, 1));
        assert_eq!(events_nats_position("listen: 127.0.0.1:0\n"), Position::UNKNOWN);
    }

    #[test]
    fn a_subject_prefix_with_wildcards_or_a_dotted_stream_name_is_an_error() {
        let yaml = "nats: {url: nats://a:4222}\nevents:\n  nats:\n    subject_prefix: rivr.*\n";
        assert_eq!(problems(yaml), [(3, 3, DiagnosticKind::InvalidValue)]);
        let yaml = "nats: {url: nats://a:4222}\nevents:\n  nats: {jetstream: true, stream: rivr.events}\n";
        assert_eq!(problems(yaml), [(3, 3, DiagnosticKind::InvalidValue)]);
        let yaml = "nats: {url: nats://a:4222}\nevents:\n  nats: {subject_prefix: acme.rivr-events, jetstream: true}\n";
        assert_eq!(problems(yaml), []);
    }

    #[test]
    fn a_changed_connection_needs_a_restart() {
        let before = parse("nats:\n  url: nats://a:4222\n", &[]).expect("valid");
        let after = parse("nats:\n  url: nats://b:4222\n", &[]).expect("valid");
        assert_eq!(before.restart_required(&after), ["nats"]);
        assert!(before.restart_required(&before.clone()).is_empty());
    }

    #[test]
    fn the_defaults_are_usable_and_bad_names_are_reported() {
        assert!(NatsCommands::default().problems().is_empty());
        let mut bad = NatsCommands::default();
        bad.originate.subject = "rivr.*".into();
        bad.originate.stream = "RIVR.ORIGINATE".into();
        bad.hangup.subject = "rivr hangup".into();
        let problems = bad.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("originate.subject"), "{problems:?}");
    }
}
