//! The checks after deserialization: each one looks at the whole configuration and reports
//! every problem it finds, not only the first.

use std::collections::HashMap;
use std::path::{Component, Path};

use super::condition::{Condition, Pattern};
use super::de::parse_cause;
use super::diagnostic::{Diagnostic, DiagnosticKind};
use super::fallback::Fallback;
use super::interpolate::{interpolate, InterpolationError};
use super::position::{Position, Positioned};
use super::{Config, DEFAULT_ROUTE_NAME, IMPLICIT_SCRIPT};

/// Shortest API token accepted: anything shorter is guessable.
const MIN_TOKEN_LENGTH: usize = 16;

/// Interpolates `${ENV}`, compiles conditions, and checks names, script paths, URL prefixes,
/// causes and reachability. Errors and warnings, in file order.
pub(super) fn after_parse(
    config: &mut Config,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<Diagnostic> {
    let mut check = Checker { file: config.meta.origin.clone(), env, diagnostics: Vec::new() };

    let mut connections: HashMap<String, Position> = HashMap::new();
    for inbound in &mut config.freeswitch {
        if let Some(name) = &mut inbound.name {
            check.interpolate(name);
        }
        check.interpolate(&mut inbound.host);
        check.interpolate(inbound.password.positioned_mut());
        if inbound.host.is_empty() {
            check.error(
                inbound.host.position(),
                DiagnosticKind::InvalidValue,
                "the FreeSWITCH host is empty: give a host name or address",
            );
        }
        let name = inbound.name();
        let at = inbound.name.as_ref().map_or(inbound.host.position(), Positioned::position);
        if let Some(first) = connections.get(&name) {
            check.error(
                at,
                DiagnosticKind::DuplicateName,
                format!(
                    "a FreeSWITCH connection named `{name}` is already defined{}: give each \
                     connection a unique `name`",
                    at_line(*first)
                ),
            );
        } else {
            connections.insert(name, at);
        }
    }

    check.api(&mut config.api);
    if let Some(key) = config.traces.hash_key_mut() {
        check.interpolate(key);
    }

    let mut names: HashMap<String, Position> = HashMap::new();
    let mut catch_all: Option<(String, Position)> = None;
    for route in &mut config.routes {
        let at = route.name.position();
        if route.name.trim().is_empty() {
            check.error(
                at,
                DiagnosticKind::InvalidValue,
                "a route name cannot be empty: name the route after what it does",
            );
        }
        if let Some(first) = names.get(route.name.as_str()) {
            check.error(
                at,
                DiagnosticKind::DuplicateName,
                format!(
                    "a route named `{}` is already defined{}: give each route a unique name",
                    route.name.as_str(),
                    at_line(*first)
                ),
            );
        } else {
            names.insert(route.name.value().clone(), at);
        }

        for condition in
            [&mut route.destination, &mut route.caller, &mut route.caller_name, &mut route.context]
                .into_iter()
                .flatten()
                .chain(route.variables.values_mut())
        {
            check.condition(condition, source);
        }
        check.script_path(&route.script);
        for value in route.set.values_mut() {
            // Anything with a reference may hold a secret now (an escaped `$${` is redacted
            // too, which costs nothing).
            if value.contains("${") {
                check.interpolate(value.text_mut());
                value.mark_from_env();
            }
        }
        if let Some(fallback) = &mut route.fallback {
            check.fallback(fallback);
        }

        if !route.enabled {
            continue;
        }
        if let Some((name, position)) = &catch_all {
            check.warning(
                at,
                DiagnosticKind::UnreachableRoute,
                format!(
                    "route `{}` can never match: route `{name}`{} has no conditions and takes \
                     every call; move this route above it, or give `{name}` conditions",
                    route.name.as_str(),
                    at_line(*position)
                ),
            );
        } else if route.is_unconditional() {
            catch_all = Some((route.name.value().clone(), at));
        }
    }

    if let Some(script) = &config.default_route {
        check.script_path(script);
        if let Some(first) = names.get(DEFAULT_ROUTE_NAME) {
            check.error(
                *first,
                DiagnosticKind::DuplicateName,
                format!(
                    "`{DEFAULT_ROUTE_NAME}` is the name of the route `default_route:` creates: \
                     rename this route"
                ),
            );
        }
        if let Some((name, position)) = &catch_all {
            check.warning(
                script.position(),
                DiagnosticKind::UnreachableRoute,
                format!(
                    "`default_route` is never used: route `{name}`{} has no conditions and \
                     takes every call",
                    at_line(*position)
                ),
            );
        }
    }

    for prefix in &mut config.http.allow {
        if check.interpolate(prefix) {
            if let Err(reason) = url_prefix(prefix) {
                check.error(prefix.position(), DiagnosticKind::BadUrl, reason);
            }
        }
    }

    check.fallback(&mut config.fallback);
    check.events(&mut config.events);
    check.nats(config.nats.as_mut(), config.events.nats.as_ref(), source);

    sort(&mut check.diagnostics);
    check.diagnostics
}

/// Checks the scripts directory and every script a route names.
pub(super) fn filesystem(config: &Config) -> Vec<Diagnostic> {
    let file = config.origin();
    let mut diagnostics = Vec::new();
    let dir = config.scripts.as_path();
    if !dir.is_dir() {
        diagnostics.push(Diagnostic::error(
            file,
            config.scripts.position(),
            DiagnosticKind::MissingDirectory,
            format!(
                "the scripts directory `{}` does not exist: create it, or set `scripts:` to the \
                 directory holding your .rhai files",
                dir.display()
            ),
        ));
        return diagnostics;
    }
    let missing = |script: &str| !config.script_path(script).is_file();
    let message = |script: &str| {
        format!("script `{script}` does not exist in `{}`: create it, or fix the name", dir.display())
    };
    for route in &config.routes {
        if missing(&route.script) {
            let text = message(&route.script);
            diagnostics.push(if route.enabled {
                Diagnostic::error(file, route.script.position(), DiagnosticKind::MissingScript, text)
            } else {
                Diagnostic::warning(
                    file,
                    route.script.position(),
                    DiagnosticKind::MissingScript,
                    format!("{text} (the route is disabled)"),
                )
            });
        }
    }
    match &config.default_route {
        Some(script) if missing(script) => diagnostics.push(Diagnostic::error(
            file,
            script.position(),
            DiagnosticKind::MissingScript,
            message(script),
        )),
        None if config.routes.is_empty() && missing(IMPLICIT_SCRIPT) => {
            diagnostics.push(Diagnostic::warning(
                file,
                Position::UNKNOWN,
                DiagnosticKind::MissingScript,
                format!(
                    "there are no routes, so every call runs `{IMPLICIT_SCRIPT}`, which does not \
                     exist in `{}`: create it, or add routes",
                    dir.display()
                ),
            ))
        }
        _ => {}
    }
    diagnostics
}

/// File order; problems without a position last.
pub(super) fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| (d.line == 0, d.line, d.column));
}

struct Checker<'a> {
    file: String,
    env: &'a dyn Fn(&str) -> Option<String>,
    diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    /// The API's token comes from the environment, and only a loopback listener may go without.
    fn api(&mut self, api: &mut super::Api) {
        if let Some(token) = &mut api.token {
            let at = token.position();
            if self.interpolate(token.positioned_mut()) && token.expose().trim().len() < MIN_TOKEN_LENGTH {
                self.error(
                    at,
                    DiagnosticKind::UnprotectedApi,
                    format!(
                        "api.token is shorter than {MIN_TOKEN_LENGTH} characters: use a long random \
                         value, e.g. `openssl rand -hex 32`"
                    ),
                );
            }
        }
        if api.enabled && api.token.is_none() && !api.listen.ip().is_loopback() {
            self.error(
                api.listen.position(),
                DiagnosticKind::UnprotectedApi,
                format!(
                    "api.listen {} is reachable from other hosts, and the API can hang up and place \
                     calls: set `api.token: ${{RIVR_API_TOKEN}}`, or listen on 127.0.0.1",
                    api.listen.value()
                ),
            );
        }
    }

    /// Webhook URLs and secrets from the environment, and a `publish` allowlist of names that
    /// can be event types.
    fn events(&mut self, events: &mut super::Events) {
        if let Some(source) = &mut events.source {
            if self.interpolate(source) && source.trim().is_empty() {
                self.error(
                    source.position(),
                    DiagnosticKind::InvalidValue,
                    "events.source is empty: name this node, e.g. `rivr://node-a`, or leave it out",
                );
            }
        }
        for webhook in &mut events.webhooks {
            if self.interpolate(&mut webhook.url) {
                let url = webhook.url.as_str();
                let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
                if host.is_none_or(|rest| rest.is_empty() || rest.starts_with('/')) {
                    self.error(
                        webhook.url.position(),
                        DiagnosticKind::BadUrl,
                        format!(
                            "webhook url `{url}` is not an http:// or https:// URL with a host: write e.g. https://crm.example.com/rivr/events"
                        ),
                    );
                }
            }
            if let Some(secret) = webhook.secret_mut() {
                self.interpolate(secret);
            }
        }
        for pattern in &events.publish {
            let name = pattern.strip_suffix(".*").unwrap_or(pattern);
            if !super::is_publishable_type(name) {
                self.error(
                    pattern.position(),
                    DiagnosticKind::InvalidValue,
                    format!(
                        "events.publish entry `{}` is not an event type: use dot-separated words of letters, digits, `_` and `-` (`survey.completed`), or a prefix ending in `.*` (`survey.*`); `dev.rivr.` is rivr's own",
                        pattern.as_str()
                    ),
                );
            }
        }
    }

    /// The NATS connection: URLs and secrets from the environment, URLs rivr can connect to
    /// (and log), a whole login, and a connection wherever `events.nats` needs one, whose
    /// subjects and stream name NATS accepts.
    fn nats(&mut self, nats: Option<&mut super::Nats>, sink: Option<&super::NatsSink>, source: &str) {
        if let Some(problem) = sink.and_then(super::nats::sink_problem) {
            self.error(super::nats::events_nats_position(source), DiagnosticKind::InvalidValue, problem);
        }
        let Some(nats) = nats else {
            if sink.is_some() {
                self.error(
                    super::nats::events_nats_position(source),
                    DiagnosticKind::MissingKey,
                    "events.nats sends events over NATS, but there is no `nats:` section to connect \
                     with: add `nats:` with `url: nats://host:4222`, or remove events.nats",
                );
            }
            return;
        };
        if let Some(commands) = &nats.commands {
            for problem in commands.problems() {
                self.error(
                    super::nats::nats_commands_position(source),
                    DiagnosticKind::InvalidValue,
                    problem,
                );
            }
        }
        if nats.url.is_empty() {
            self.error(
                nats.url.position(),
                DiagnosticKind::BadUrl,
                "nats.url lists no server: give at least one, e.g. nats://127.0.0.1:4222",
            );
        }
        for url in nats.url.iter_mut() {
            if self.interpolate(url) {
                if let Some(problem) = super::nats::url_problem(url) {
                    self.error(url.position(), DiagnosticKind::BadUrl, format!("nats.url: {problem}"));
                }
            }
        }
        if let Some(name) = &mut nats.name {
            if self.interpolate(name) && name.trim().is_empty() {
                self.error(
                    name.position(),
                    DiagnosticKind::InvalidValue,
                    "nats.name is empty: name this node's connection, e.g. `rivr-node-a`, or leave it out",
                );
            }
        }
        if let Some(user) = &mut nats.user {
            self.interpolate(user);
        }
        for secret in nats.secrets_mut() {
            self.interpolate(secret);
        }
        match (&nats.token, &nats.user, &nats.password) {
            (Some(token), Some(_), _) | (Some(token), _, Some(_)) => self.error(
                token.position(),
                DiagnosticKind::InvalidValue,
                "nats.token and nats.user/password are two ways to log in: keep the one your NATS \
                 server is configured with",
            ),
            (None, Some(user), None) => self.error(
                user.position(),
                DiagnosticKind::MissingKey,
                "nats.user needs nats.password: add `password: ${NATS_PASSWORD}`",
            ),
            (None, None, Some(password)) => self.error(
                password.position(),
                DiagnosticKind::MissingKey,
                "nats.password needs nats.user: add the user name it belongs to",
            ),
            _ => {}
        }
    }

    fn error(&mut self, at: Position, kind: DiagnosticKind, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(&self.file, at, kind, message));
    }

    fn warning(&mut self, at: Position, kind: DiagnosticKind, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::warning(&self.file, at, kind, message));
    }

    /// Replaces `${ENV}` references in place; false (and diagnostics) when any is bad.
    fn interpolate(&mut self, value: &mut Positioned<String>) -> bool {
        let at = value.position();
        match interpolate(value.as_str(), self.env) {
            Ok(expanded) => {
                if let std::borrow::Cow::Owned(expanded) = expanded {
                    *value.value_mut() = expanded;
                }
                true
            }
            Err(errors) => {
                for error in errors {
                    match error {
                        InterpolationError::Unset(name) => self.error(
                            at,
                            DiagnosticKind::UnsetEnv,
                            format!(
                                "environment variable `{name}` is not set: set it before \
                                 starting rivr, or give a default with ${{{name}:-default}}"
                            ),
                        ),
                        InterpolationError::Malformed(reference) => self.error(
                            at,
                            DiagnosticKind::BadInterpolation,
                            format!(
                                "`{reference}` is not a valid environment reference: write \
                                 ${{NAME}} or ${{NAME:-default}}, or $${{ for a literal ${{"
                            ),
                        ),
                    }
                }
                false
            }
        }
    }

    /// Re-reads numeric spellings and reports patterns that do not compile.
    fn condition(&mut self, condition: &mut Condition, source: &str) {
        condition.respell(source);
        if condition.alternatives().is_empty() {
            self.error(
                condition.position(),
                DiagnosticKind::BadPattern,
                "an empty list matches no call: add patterns, or remove the condition",
            );
        }
        for alternative in condition.alternatives() {
            if let Pattern::Invalid(reason) = &alternative.pattern {
                self.error(
                    alternative.position,
                    DiagnosticKind::BadPattern,
                    format!("regex `{}` does not compile: {reason}", alternative.text),
                );
            }
        }
    }

    /// A script must be a relative `.rhai` path that stays inside the scripts directory.
    fn script_path(&mut self, script: &Positioned<String>) {
        let path = Path::new(script.as_str());
        let problem = if script.is_empty() {
            Some("the script name is empty: name a .rhai file in the scripts directory")
        } else if path.is_absolute() || path.has_root() {
            Some("the script must be relative to the scripts directory (`main.rhai`), not absolute")
        } else if path.components().any(|c| matches!(c, Component::ParentDir)) {
            Some("the script must stay inside the scripts directory: remove `..`")
        } else if path.extension().is_none_or(|e| e != "rhai") {
            Some("the script must be a .rhai file: add the extension (`main.rhai`)")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.error(
                script.position(),
                DiagnosticKind::BadScriptPath,
                format!("`{}`: {problem}", script.as_str()),
            );
        }
    }

    /// Validates and normalises a fallback's hangup cause.
    fn fallback(&mut self, fallback: &mut Positioned<Fallback>) {
        let at = fallback.position();
        if let Fallback::Hangup { cause, .. } = fallback.value_mut() {
            match parse_cause(cause) {
                Ok(parsed) => *cause = parsed.as_str().to_string(),
                Err(message) => self.error(at, DiagnosticKind::InvalidValue, message),
            }
        }
    }
}

/// " (line N)" for messages pointing at an earlier definition, or nothing when unknown.
fn at_line(position: Position) -> String {
    if position.is_known() {
        format!(" (line {})", position.line)
    } else {
        String::new()
    }
}

/// Whether an `http.allow` entry is a URL prefix that cannot be extended into another host.
fn url_prefix(prefix: &str) -> Result<(), String> {
    let Some(rest) = prefix.strip_prefix("https://").or_else(|| prefix.strip_prefix("http://")) else {
        return Err(format!(
            "`{prefix}` is not an http:// or https:// URL prefix: write e.g. \
             `https://crm.example.com/api/`"
        ));
    };
    match rest.find('/') {
        Some(0) => Err(format!("`{prefix}` has no host: write e.g. `https://crm.example.com/`")),
        Some(_) => Ok(()),
        None => Err(format!(
            "`{prefix}` must end the host with `/` (`{prefix}/`): otherwise \
             `{prefix}.attacker.example` would be allowed too"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;

    fn problems(text: &str) -> Vec<(usize, usize, DiagnosticKind)> {
        match Config::parse_with_env(text, "rivr.yaml", &|name| (name == "SET").then(|| "value".to_string()))
        {
            Ok(config) => config
                .check()
                .iter()
                .filter(|d| d.kind != DiagnosticKind::MissingDirectory)
                .map(|d| (d.line, d.column, d.kind))
                .collect(),
            Err(ConfigError::Invalid(diagnostics)) => {
                diagnostics.iter().map(|d| (d.line, d.column, d.kind)).collect()
            }
            Err(err) => panic!("{err}"),
        }
    }

    #[test]
    fn script_paths_must_be_relative_rhai_files_inside_the_scripts_directory() {
        use DiagnosticKind::BadScriptPath as Bad;
        let text = "routes:\n  - {name: a, script: /etc/passwd.rhai, context: x}\n  \
                    - {name: b, script: ../x.rhai, context: x}\n  \
                    - {name: c, script: main.lua, context: x}\n  \
                    - {name: d, script: 'sub/ok.rhai', context: x}\ndefault_route: ''\n";
        assert_eq!(problems(text), [(2, 23, Bad), (3, 23, Bad), (4, 23, Bad), (6, 16, Bad)]);
    }

    #[test]
    fn an_empty_condition_list_is_an_error() {
        assert_eq!(
            problems("routes:\n  - {name: a, destination: [], script: a.rhai}\n"),
            [(2, 28, DiagnosticKind::BadPattern)]
        );
    }

    #[test]
    fn a_malformed_env_reference_is_an_error() {
        assert_eq!(
            problems("freeswitch:\n  - host: '${1HOST}'\n"),
            [(2, 11, DiagnosticKind::BadInterpolation)]
        );
    }

    #[test]
    fn env_references_work_in_hosts_names_urls_and_set_values() {
        let config = Config::parse_with_env(
            "freeswitch:\n  - {name: '${SET}-n', host: '${SET}'}\nhttp:\n  \
             allow: ['https://${SET}/']\nroutes:\n  - {name: a, script: a.rhai, \
             set: {k: 'x${SET}'}}\n",
            "rivr.yaml",
            &|_| Some("value".into()),
        )
        .unwrap();
        assert_eq!(config.freeswitch[0].name(), "value-n");
        assert_eq!(config.freeswitch[0].host.as_str(), "value");
        assert!(config.http.allows("https://value/x"));
        assert_eq!(&*config.routes[0].set["k"], "xvalue");
    }

    #[test]
    fn duplicate_connection_names_are_errors() {
        assert_eq!(
            problems("freeswitch:\n  - host: fs1\n  - host: fs1\n  - {host: fs2, name: fs1:8021}\n"),
            [(3, 11, DiagnosticKind::DuplicateName), (4, 23, DiagnosticKind::DuplicateName)]
        );
    }

    #[test]
    fn a_route_cannot_take_the_default_route_name() {
        assert_eq!(
            problems(
                "default_route: d.rhai\nroutes:\n  - {name: default_route, destination: '1', \
                 script: a.rhai}\n"
            ),
            [(3, 12, DiagnosticKind::DuplicateName)]
        );
    }

    #[test]
    fn a_bad_fallback_cause_points_at_the_fallback() {
        assert_eq!(problems("fallback:\n  hangup: {cause: NOPE}\n"), [(2, 3, DiagnosticKind::InvalidValue)]);
        let c = Config::parse_with_env("fallback: {hangup: {cause: busy}}\n", "f", &|_| None).unwrap();
        assert_eq!(*c.fallback, Fallback::Hangup { prompt: None, cause: "USER_BUSY".into() });
    }

    #[test]
    fn a_typo_in_route_limits_is_an_unknown_key_with_a_suggestion() {
        let err = Config::parse_with_env(
            "routes:\n  - name: a\n    script: a.rhai\n    limits:\n      compute_budget: 5\n",
            "rivr.yaml",
            &|_| None,
        )
        .unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!((d.line, d.column, d.kind), (5, 7, DiagnosticKind::UnknownKey));
        assert!(d.message.contains("did you mean `compute_budget_ms`?"), "{d}");
    }

    #[test]
    fn a_disabled_route_with_a_missing_script_is_only_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let text = "scripts: .\nroutes:\n  - {name: a, script: gone.rhai, enabled: false}\n";
        let origin = dir.path().join("rivr.yaml");
        let config = Config::parse_with_env(text, &origin.to_string_lossy(), &|_| None).unwrap();
        let diagnostics = config.check();
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert_eq!(diagnostics[0].severity, crate::config::Severity::Warning);
        assert_eq!(diagnostics[0].kind, DiagnosticKind::MissingScript);
    }

    #[test]
    fn url_prefixes_need_a_scheme_a_host_and_a_slash() {
        assert!(url_prefix("https://crm.example.com/").is_ok());
        assert!(url_prefix("http://10.0.0.1:8080/api/").is_ok());
        assert!(url_prefix("https://crm.example.com").unwrap_err().contains("attacker"));
        assert!(url_prefix("ftp://x/").is_err());
        assert!(url_prefix("https:///x").is_err());
    }

    #[test]
    fn diagnostics_sort_in_file_order_with_unplaced_last() {
        let d =
            |line, column| Diagnostic::error("f", Position::new(line, column), DiagnosticKind::Syntax, "x");
        let mut v = vec![d(0, 0), d(5, 1), d(2, 9), d(2, 3)];
        sort(&mut v);
        let order: Vec<_> = v.iter().map(|d| (d.line, d.column)).collect();
        assert_eq!(order, [(2, 3), (2, 9), (5, 1), (0, 0)]);
    }
}
