//! `Router`: picks the script for a new call from the configuration's routes.
//!
//! Routes are tried in file order and the first whose conditions all hold wins, as in
//! Adhearsion's router. To keep that cheap with thousands of routes, each route is filed under
//! its most selective condition (the one fewest other routes share; see `PatternFrequencies`):
//! exact patterns in a hash map, prefixes in a hash map per prefix length, regexes in one
//! `RegexSet` per call field. A call then looks up its own values, gathers the few routes whose
//! filed condition holds, and checks only those, in order. Routes without conditions are
//! candidates for every call.
//!
//! The router decides; logging the decision is the caller's job:
//! `info!("call {} → {}", call.uuid, route_match)` prints `call … → route sales (sales.rhai)`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::{Regex, RegexSet};

use crate::call::{CallInfo, HangupCause};
use crate::config::{CallField, Condition, Config, Fallback, Limits, Pattern, Route, DEFAULT_ROUTE_NAME};

/// Picks a route for each call. Built once per configuration (regexes are compiled then), shared
/// by all calls.
#[derive(Debug)]
pub struct Router {
    /// Enabled routes, in file order; a route's index is its priority.
    routes: Vec<CompiledRoute>,
    /// One index per call field that some route is filed under.
    indexes: Vec<FieldIndex>,
    /// The first route without conditions: it takes every call that no earlier route takes.
    first_unconditional: Option<usize>,
    /// `default_route`, or the implicit `main.rhai` when there are no routes.
    default: Option<RouteMatch>,
    /// Cause to reject unrouted calls with.
    no_route_cause: HangupCause,
}

impl Router {
    /// Compiles the routes of `config`. Disabled routes are left out.
    pub fn new(config: &Config) -> Router {
        let routes: Vec<CompiledRoute> = config
            .routes
            .iter()
            .filter(|r| r.enabled)
            .map(|route| CompiledRoute::new(route, config))
            .collect();
        let frequencies = PatternFrequencies::count(&routes);
        let mut indexes: Vec<FieldIndex> = Vec::new();
        let mut first_unconditional = None;
        for (id, route) in routes.iter().enumerate() {
            let key = route
                .conditions
                .iter()
                .min_by_key(|(field, condition)| frequencies.cost(field, condition, routes.len()));
            let Some((field, condition)) = key else {
                first_unconditional.get_or_insert(id);
                continue;
            };
            let index = match indexes.iter().position(|i| i.field == *field) {
                Some(i) => i,
                None => {
                    indexes.push(FieldIndex::new(field.clone()));
                    indexes.len() - 1
                }
            };
            indexes[index].add(condition, id);
        }
        for index in &mut indexes {
            index.finish();
        }
        let default = config.default_script().map(|script| {
            RouteMatch::new(Target {
                name: DEFAULT_ROUTE_NAME.to_string(),
                script: script.to_string(),
                script_path: config.script_path(script),
                set: BTreeMap::new(),
                sensitive: BTreeSet::new(),
                limits: config.limits.clone(),
                fallback: config.fallback.value().clone(),
                is_default: true,
            })
        });
        Router {
            routes,
            indexes,
            first_unconditional,
            default,
            no_route_cause: config.no_route.cause.clone(),
        }
    }

    /// The route for `call`: the first enabled route whose conditions all hold, else the
    /// default route; `None` when the call should be rejected with [`Router::no_route_cause`].
    pub fn route(&self, call: &CallInfo) -> Option<RouteMatch> {
        let mut candidates = Vec::new();
        for index in &self.indexes {
            if let Some(value) = index.field.value(call) {
                index.candidates(value, &mut candidates);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let limit = self.first_unconditional.unwrap_or(usize::MAX);
        candidates
            .into_iter()
            .take_while(|&id| id < limit)
            .map(|id| &self.routes[id])
            .find(|route| route.matches(call))
            .or_else(|| self.first_unconditional.map(|id| &self.routes[id]))
            .map(|route| route.target.clone())
            .or_else(|| self.default.clone())
    }

    /// The hangup cause for calls `route` returns `None` for (`no_route.cause`).
    pub fn no_route_cause(&self) -> &HangupCause {
        &self.no_route_cause
    }

    /// How many routes take part in routing (enabled ones, without the default route).
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no route takes part in routing (there may still be a default route).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// The outcome of routing a call: the route's name, its script, the values to hand to the
/// script and the effective sandbox limits and fallback. Cheap to clone (one shared
/// allocation), so a call can keep it for its whole life.
///
/// Displays as `route <name> (<script>)`. `Debug` shows `set` values that came from the
/// environment as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct RouteMatch(Arc<Target>);

impl fmt::Debug for RouteMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(PartialEq, Eq)]
struct Target {
    name: String,
    script: String,
    script_path: PathBuf,
    set: BTreeMap<String, String>,
    /// Keys of `set` whose values came from the environment: `***` in `Debug`.
    sensitive: BTreeSet<String>,
    limits: Limits,
    fallback: Fallback,
    is_default: bool,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set: BTreeMap<&str, &str> = self
            .set
            .iter()
            .map(|(k, v)| {
                let shown = if self.sensitive.contains(k) { "***" } else { v };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("RouteMatch")
            .field("name", &self.name)
            .field("script", &self.script)
            .field("script_path", &self.script_path)
            .field("set", &set)
            .field("limits", &self.limits)
            .field("fallback", &self.fallback)
            .field("is_default", &self.is_default)
            .finish()
    }
}

impl RouteMatch {
    fn new(target: Target) -> Self {
        RouteMatch(Arc::new(target))
    }

    /// The route's name (`default_route` for the default route).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The script, as written in the configuration (relative to the scripts directory).
    pub fn script(&self) -> &str {
        &self.0.script
    }

    /// The script's path: the scripts directory joined with `script`.
    pub fn script_path(&self) -> &Path {
        &self.0.script_path
    }

    /// The route's `set` values, to hand to the script with the call.
    pub fn set(&self) -> &BTreeMap<String, String> {
        &self.0.set
    }

    /// The sandbox limits for this call: the global limits with the route's overrides applied.
    pub fn limits(&self) -> &Limits {
        &self.0.limits
    }

    /// What to do if the script fails: the route's fallback, else the global one.
    pub fn fallback(&self) -> &Fallback {
        &self.0.fallback
    }

    /// Whether the call fell through to `default_route` (or the implicit `main.rhai`).
    pub fn is_default(&self) -> bool {
        self.0.is_default
    }

    /// Records the route in `call`: sets `route` and adds the `set` values to its variables
    /// (a route's value replaces a channel variable of the same name).
    pub fn apply_to(&self, call: &mut CallInfo) {
        call.route = Some(self.0.name.clone());
        call.variables.extend(self.0.set.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

impl fmt::Display for RouteMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "route {} ({})", self.0.name, self.0.script)
    }
}

/// A route ready to be matched.
#[derive(Debug)]
struct CompiledRoute {
    /// All must hold.
    conditions: Vec<(Field, Condition)>,
    target: RouteMatch,
}

impl CompiledRoute {
    fn new(route: &Route, config: &Config) -> Self {
        let conditions =
            route.conditions().map(|(field, condition)| (Field::from(field), condition.clone())).collect();
        let target = RouteMatch::new(Target {
            name: route.name.value().clone(),
            script: route.script.value().clone(),
            script_path: config.script_path(&route.script),
            set: route.set_values(),
            sensitive: route.set.iter().filter(|(_, v)| v.is_from_env()).map(|(k, _)| k.clone()).collect(),
            limits: route.limits.apply(&config.limits),
            fallback: route.fallback.as_ref().unwrap_or(&config.fallback).value().clone(),
            is_default: false,
        });
        CompiledRoute { conditions, target }
    }

    fn matches(&self, call: &CallInfo) -> bool {
        self.conditions
            .iter()
            .all(|(field, condition)| field.value(call).is_some_and(|v| condition.matches(v)))
    }
}

/// A call field, owned (the router outlives the configuration it was built from).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Field {
    Caller,
    CallerName,
    Context,
    Destination,
    Variable(String),
}

impl Field {
    fn value<'c>(&self, call: &'c CallInfo) -> Option<&'c str> {
        match self {
            Field::Caller => Some(&call.caller_id_number),
            Field::CallerName => Some(&call.caller_id_name),
            Field::Context => Some(&call.context),
            Field::Destination => Some(&call.destination),
            Field::Variable(name) => call.variables.get(name),
        }
    }
}

impl From<CallField<'_>> for Field {
    fn from(field: CallField<'_>) -> Self {
        match field {
            CallField::Caller => Field::Caller,
            CallField::CallerName => Field::CallerName,
            CallField::Context => Field::Context,
            CallField::Destination => Field::Destination,
            CallField::Variable(name) => Field::Variable(name.to_string()),
        }
    }
}

/// How many routes share each exact value and prefix, per field: the basis for choosing which
/// of a route's conditions to file it under. A route is filed under its most selective
/// condition, so that `context: default` on every route does not make every route a candidate
/// for every call.
struct PatternFrequencies<'a> {
    counts: HashMap<(&'a Field, bool, &'a str), usize>,
}

impl<'a> PatternFrequencies<'a> {
    fn count(routes: &'a [CompiledRoute]) -> Self {
        let mut counts = HashMap::new();
        for (field, condition) in routes.iter().flat_map(|r| &r.conditions) {
            for alternative in condition.alternatives() {
                let key = match &alternative.pattern {
                    Pattern::Exact(value) => (field, false, value.as_str()),
                    Pattern::Prefix(prefix) => (field, true, prefix.as_str()),
                    Pattern::Regex(_) | Pattern::Invalid(_) => continue,
                };
                *counts.entry(key).or_insert(0) += 1;
            }
        }
        PatternFrequencies { counts }
    }

    /// Roughly how many routes become candidates together with a route filed under
    /// `condition`: the routes sharing each exact value or prefix, a small constant for a
    /// regex (it is matched against its own value only), and every route for the prefix `*`.
    fn cost(&self, field: &'a Field, condition: &'a Condition, routes: usize) -> usize {
        const REGEX_COST: usize = 4;
        condition
            .alternatives()
            .iter()
            .map(|alternative| match &alternative.pattern {
                Pattern::Exact(value) => self.frequency(field, false, value),
                Pattern::Prefix(prefix) if prefix.is_empty() => routes,
                Pattern::Prefix(prefix) => self.frequency(field, true, prefix) + 1,
                Pattern::Regex(_) => REGEX_COST,
                Pattern::Invalid(_) => 0,
            })
            .sum()
    }

    fn frequency(&self, field: &'a Field, prefix: bool, text: &'a str) -> usize {
        // Every pattern was counted by `count`; 1 (this route alone) is the safe reading anyway.
        self.counts.get(&(field, prefix, text)).copied().unwrap_or(1)
    }
}

/// The routes filed under one call field, by pattern kind.
#[derive(Debug)]
struct FieldIndex {
    field: Field,
    /// Exact value → routes.
    exact: HashMap<String, Vec<usize>>,
    /// Prefix → routes.
    prefixes: HashMap<String, Vec<usize>>,
    /// The distinct lengths of `prefixes`' keys, ascending: the slices of a value to look up.
    prefix_lengths: Vec<usize>,
    /// Regexes with their routes, before `finish`.
    pending_regexes: Vec<(Regex, usize)>,
    regexes: RegexIndex,
}

#[derive(Debug)]
enum RegexIndex {
    /// No regexes under this field.
    Empty,
    /// All regexes in one set; `routes[i]` is the route of pattern `i`.
    Set { set: RegexSet, routes: Vec<usize> },
    /// The set could not be built (its size limit): each regex on its own.
    Each(Vec<(Regex, usize)>),
}

impl FieldIndex {
    fn new(field: Field) -> Self {
        FieldIndex {
            field,
            exact: HashMap::new(),
            prefixes: HashMap::new(),
            prefix_lengths: Vec::new(),
            pending_regexes: Vec::new(),
            regexes: RegexIndex::Empty,
        }
    }

    fn add(&mut self, condition: &Condition, route: usize) {
        for alternative in condition.alternatives() {
            match &alternative.pattern {
                Pattern::Exact(value) => self.exact.entry(value.clone()).or_default().push(route),
                Pattern::Prefix(prefix) => self.prefixes.entry(prefix.clone()).or_default().push(route),
                Pattern::Regex(regex) => self.pending_regexes.push((regex.clone(), route)),
                // Rejected by `Config::parse`; never matches.
                Pattern::Invalid(_) => {}
            }
        }
    }

    fn finish(&mut self) {
        let mut lengths: Vec<usize> = self.prefixes.keys().map(String::len).collect();
        lengths.sort_unstable();
        lengths.dedup();
        self.prefix_lengths = lengths;

        let regexes = std::mem::take(&mut self.pending_regexes);
        self.regexes = if regexes.is_empty() {
            RegexIndex::Empty
        } else {
            match RegexSet::new(regexes.iter().map(|(r, _)| r.as_str())) {
                Ok(set) => RegexIndex::Set { set, routes: regexes.iter().map(|(_, route)| *route).collect() },
                Err(_) => RegexIndex::Each(regexes),
            }
        };
    }

    /// Pushes the routes whose filed condition `value` satisfies.
    fn candidates(&self, value: &str, out: &mut Vec<usize>) {
        if let Some(routes) = self.exact.get(value) {
            out.extend_from_slice(routes);
        }
        for &len in &self.prefix_lengths {
            if len > value.len() {
                break;
            }
            if let Some(routes) = value.get(..len).and_then(|p| self.prefixes.get(p)) {
                out.extend_from_slice(routes);
            }
        }
        match &self.regexes {
            RegexIndex::Empty => {}
            RegexIndex::Set { set, routes } => {
                out.extend(set.matches(value).iter().map(|i| routes[i]));
            }
            RegexIndex::Each(regexes) => {
                out.extend(regexes.iter().filter(|(regex, _)| regex.is_match(value)).map(|(_, route)| *route))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = r#"
routes:
  - name: operator
    destination: "0"
    script: operator.rhai
  - name: support
    destination: "1000"
    script: support.rhai
  - name: freephone
    destination: "0800*"
    script: freephone.rhai
  - name: extensions
    destination: '/^1[0-9]{3}$/'
    script: extensions.rhai
  - name: tenant
    variables:
      sip_h_X-Tenant: acme
    script: acme.rhai
  - name: vip
    caller: ["+4930111", "+4930222"]
    destination: "2*"
    script: vip.rhai
  - name: lab
    context: lab
    script: lab.rhai
  - name: disabled
    destination: "3000"
    script: never.rhai
    enabled: false
  - name: three
    destination: "3*"
    script: three.rhai
"#;

    fn router(yaml: &str) -> Router {
        Router::new(&Config::parse_with_env(yaml, "rivr.yaml", &|_| None).unwrap())
    }

    fn call(destination: &str) -> CallInfo {
        CallInfo::new("uuid-1", "+4930999", destination)
    }

    fn route_name(router: &Router, call: &CallInfo) -> Option<String> {
        router.route(call).map(|m| m.name().to_string())
    }

    #[test]
    fn routers_and_matches_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Router>();
        shareable::<RouteMatch>();
        shareable::<Config>();
    }

    #[test]
    fn routing_table() {
        let r = router(ROUTES);
        let with_var = {
            let mut c = call("5555");
            c.variables.insert("sip_h_X-Tenant".into(), "acme".into());
            c
        };
        let vip = CallInfo::new("u", "+4930222", "2001");
        let not_vip = CallInfo::new("u", "+4930333", "2001");
        let lab = CallInfo { context: "lab".into(), ..call("9999") };
        let cases: &[(&str, &CallInfo, Option<&str>)] = &[
            ("exact", &call("0"), Some("operator")),
            ("exact beats a later regex", &call("1000"), Some("support")),
            ("exact is whole-value", &call("00"), None),
            ("prefix", &call("08001234567"), Some("freephone")),
            ("prefix alone", &call("0800"), Some("freephone")),
            ("regex", &call("1234"), Some("extensions")),
            ("regex is anchored as written", &call("12345"), None),
            ("channel variable", &with_var, Some("tenant")),
            ("list of callers and a prefix", &vip, Some("vip")),
            ("all conditions must hold", &not_vip, None),
            ("context", &lab, Some("lab")),
            ("disabled routes are skipped", &call("3000"), Some("three")),
            ("no match", &call("5555"), None),
        ];
        for (what, call, expected) in cases {
            assert_eq!(route_name(&r, call).as_deref(), *expected, "{what}");
        }
    }

    #[test]
    fn first_match_wins() {
        let r = router(
            "routes:\n  - {name: first, destination: '1*', script: a.rhai}\n  \
             - {name: second, destination: '1000', script: b.rhai}\n",
        );
        assert_eq!(route_name(&r, &call("1000")).as_deref(), Some("first"));
    }

    #[test]
    fn a_route_without_conditions_takes_what_earlier_routes_leave() {
        let r = router(
            "routes:\n  - {name: support, destination: '1000', script: s.rhai}\n  \
             - {name: everything, script: main.rhai}\n  \
             - {name: shadowed, destination: '2000', script: x.rhai}\n",
        );
        assert_eq!(route_name(&r, &call("1000")).as_deref(), Some("support"));
        assert_eq!(route_name(&r, &call("2000")).as_deref(), Some("everything"));
        assert_eq!(route_name(&r, &call("")).as_deref(), Some("everything"));
    }

    #[test]
    fn unmatched_calls_go_to_default_route() {
        let r =
            router("default_route: welcome.rhai\nroutes:\n  - {name: a, destination: '1', script: a.rhai}\n");
        let m = r.route(&call("2")).unwrap();
        assert_eq!(m.name(), "default_route");
        assert_eq!(m.script(), "welcome.rhai");
        assert!(m.is_default());
        assert!(!r.route(&call("1")).unwrap().is_default());
    }

    #[test]
    fn without_routes_every_call_runs_main() {
        let r = Router::new(&Config::default());
        let m = r.route(&call("anything")).unwrap();
        assert_eq!(m.script(), "main.rhai");
        assert_eq!(m.script_path(), Path::new("scripts/main.rhai"));
        assert!(r.is_empty());
    }

    #[test]
    fn unmatched_calls_are_rejected_with_the_configured_cause() {
        let r = router(
            "no_route: {cause: CALL_REJECTED}\nroutes:\n  - {name: a, destination: '1', script: a.rhai}\n",
        );
        assert!(r.route(&call("2")).is_none());
        assert_eq!(r.no_route_cause().as_str(), "CALL_REJECTED");
        let r = router("routes:\n  - {name: a, destination: '1', script: a.rhai}\n");
        assert_eq!(r.no_route_cause().as_str(), "UNALLOCATED_NUMBER");
    }

    #[test]
    fn a_missing_variable_never_matches_even_a_star() {
        let r = router("routes:\n  - name: a\n    variables: {x: '*'}\n    script: a.rhai\n");
        assert!(r.route(&call("1")).is_none());
        let mut c = call("1");
        c.variables.insert("x".into(), String::new());
        assert!(r.route(&c).is_some());
    }

    #[test]
    fn route_limits_override_global_limits_key_by_key() {
        let r = router(
            "limits: {max_operations: 1000, compute_budget_ms: 100}\nroutes:\n  \
             - name: slow\n    destination: '1'\n    script: a.rhai\n    \
             limits: {compute_budget_ms: 2000}\n  \
             - {name: plain, destination: '2', script: b.rhai}\n",
        );
        let slow = r.route(&call("1")).unwrap();
        assert_eq!(slow.limits().compute_budget_ms, 2000);
        assert_eq!(slow.limits().max_operations, 1000);
        assert_eq!(slow.limits().max_call_depth, Limits::default().max_call_depth);
        let plain = r.route(&call("2")).unwrap();
        assert_eq!(plain.limits().compute_budget_ms, 100);
    }

    #[test]
    fn route_fallback_replaces_the_global_one() {
        let r = router(
            "fallback: {transfer: {extension: '0'}}\nroutes:\n  \
             - name: sales\n    destination: '1'\n    script: a.rhai\n    \
             fallback: {transfer: {extension: '100', context: sales}}\n  \
             - {name: other, destination: '2', script: b.rhai}\n",
        );
        assert_eq!(
            r.route(&call("1")).unwrap().fallback(),
            &Fallback::Transfer { extension: "100".into(), context: Some("sales".into()) }
        );
        assert_eq!(
            r.route(&call("2")).unwrap().fallback(),
            &Fallback::Transfer { extension: "0".into(), context: None }
        );
    }

    #[test]
    fn a_match_carries_set_values_and_applies_them_to_the_call() {
        let r = router(
            "routes:\n  - name: de\n    destination: '49*'\n    script: de.rhai\n    \
             set: {language: de, queue: 7}\n",
        );
        let mut c = call("4930");
        c.variables.insert("language".into(), "en".into());
        let m = r.route(&c).unwrap();
        assert_eq!(m.set()["queue"], "7");
        m.apply_to(&mut c);
        assert_eq!(c.route.as_deref(), Some("de"));
        assert_eq!(&c.variables["language"], "de");
    }

    #[test]
    fn debug_hides_set_values_from_the_environment() {
        let config = Config::parse_with_env(
            "routes:\n  - name: crm\n    script: a.rhai\n    \
             set: {token: '${CRM_TOKEN}', queue: sales}\n",
            "rivr.yaml",
            &|_| Some("tok-123".into()),
        )
        .unwrap();
        assert!(!format!("{config:?}").contains("tok-123"));
        let m = Router::new(&config).route(&call("1")).unwrap();
        assert_eq!(m.set()["token"], "tok-123");
        let debug = format!("{m:?}");
        assert!(!debug.contains("tok-123"), "{debug}");
        assert!(debug.contains("sales"), "{debug}");
    }

    #[test]
    fn display_names_route_and_script() {
        let r = router("routes:\n  - {name: sales, script: sales.rhai}\n");
        let m = r.route(&call("1")).unwrap();
        assert_eq!(m.to_string(), "route sales (sales.rhai)");
        assert_eq!(format!("call {} → {m}", "abc"), "call abc → route sales (sales.rhai)");
    }

    #[test]
    fn many_regex_routes_find_the_first_match_in_order() {
        let mut yaml = String::from("routes:\n");
        for i in 0..200 {
            yaml.push_str(&format!("  - {{name: r{i}, destination: '/^{i}[0-9]*$/', script: a.rhai}}\n"));
        }
        let r = router(&yaml);
        // "150" matches r1, r15 and r150: the first in file order wins.
        assert_eq!(route_name(&r, &call("150")).as_deref(), Some("r1"));
        assert_eq!(route_name(&r, &call("x")), None);
    }

    #[test]
    fn routes_sharing_a_broad_condition_still_match_in_order() {
        let mut yaml = String::from("routes:\n");
        for i in 0..50 {
            yaml.push_str(&format!(
                "  - {{name: r{i}, context: default, destination: '{i}', script: a.rhai}}\n"
            ));
        }
        yaml.push_str("  - {name: any, destination: '*', caller: '+49111', script: a.rhai}\n");
        yaml.push_str("  - {name: lab, context: lab, destination: '/^7/', script: a.rhai}\n");
        let r = router(&yaml);
        let in_default = |destination: &str| CallInfo::new("u", "+4930", destination);
        assert_eq!(route_name(&r, &in_default("49")).as_deref(), Some("r49"));
        assert_eq!(route_name(&r, &in_default("50")), None);
        let vip = CallInfo::new("u", "+49111", "12");
        assert_eq!(route_name(&r, &vip).as_deref(), Some("r12"));
        let vip = CallInfo::new("u", "+49111", "999");
        assert_eq!(route_name(&r, &vip).as_deref(), Some("any"));
        let lab = CallInfo { context: "lab".into(), ..in_default("7") };
        assert_eq!(route_name(&r, &lab).as_deref(), Some("lab"));
    }

    #[test]
    fn prefixes_of_several_lengths_and_non_ascii_values_are_safe() {
        let r = router(
            "routes:\n  - {name: long, caller: '+4930*', script: a.rhai}\n  \
             - {name: short, caller: '+49*', script: b.rhai}\n",
        );
        let c = |caller: &str| CallInfo::new("u", caller, "1");
        assert_eq!(route_name(&r, &c("+4930123")).as_deref(), Some("long"));
        assert_eq!(route_name(&r, &c("+4940123")).as_deref(), Some("short"));
        assert_eq!(route_name(&r, &c("+4é")), None);
        assert_eq!(route_name(&r, &c("")), None);
    }

    mod agrees_with_a_linear_scan {
        use proptest::prelude::*;

        use super::*;

        /// A pattern over a tiny alphabet, so that routes and calls collide often.
        fn pattern() -> impl Strategy<Value = String> {
            let digits = "[0-2]{0,3}";
            prop_oneof![
                digits.prop_map(|d| d),
                digits.prop_map(|d| format!("{d}*")),
                digits.prop_map(|d| format!("/^{d}/")),
                digits.prop_map(|d| format!("/{d}$/")),
            ]
        }

        fn condition() -> impl Strategy<Value = Option<Condition>> {
            prop_oneof![
                2 => Just(None),
                1 => prop::collection::vec(pattern(), 1..3)
                    .prop_map(|p| Some(Condition::any_of(p).unwrap())),
            ]
        }

        fn route() -> impl Strategy<Value = (Option<Condition>, Option<Condition>, Option<Condition>, bool)> {
            (condition(), condition(), condition(), prop::bool::weighted(0.9))
        }

        fn call() -> impl Strategy<Value = CallInfo> {
            ("[0-2]{0,4}", "[0-2]{0,4}", prop::option::of("[0-2]{0,4}")).prop_map(
                |(destination, caller, var)| {
                    let mut call = CallInfo::new("u", caller, destination);
                    if let Some(var) = var {
                        call.variables.insert("v".into(), var);
                    }
                    call
                },
            )
        }

        proptest! {
            #[test]
            fn for_any_routes_and_call(
                specs in prop::collection::vec(route(), 0..24),
                calls in prop::collection::vec(call(), 1..16),
                with_default in any::<bool>(),
            ) {
                let mut config = Config::default();
                config.routes = specs
                    .iter()
                    .enumerate()
                    .map(|(i, (destination, caller, var, enabled))| {
                        let mut route = Route::new(format!("r{i}"), "a.rhai");
                        route.destination = destination.clone();
                        route.caller = caller.clone();
                        if let Some(var) = var {
                            route.variables.insert("v".into(), var.clone());
                        }
                        route.enabled = *enabled;
                        route
                    })
                    .collect();
                if with_default {
                    config.default_route = Some("d.rhai".to_string().into());
                }
                let router = Router::new(&config);
                for call in &calls {
                    let linear = config
                        .routes
                        .iter()
                        .filter(|r| r.enabled)
                        .find(|r| {
                            r.conditions().all(|(field, c)| {
                                let value = match field {
                                    CallField::Destination => Some(call.destination.as_str()),
                                    CallField::Caller => Some(call.caller_id_number.as_str()),
                                    CallField::Variable(name) => {
                                        call.variables.get(name)
                                    }
                                    _ => unreachable!("not generated"),
                                };
                                value.is_some_and(|v| c.matches(v))
                            })
                        })
                        .map(|r| r.name.value().clone())
                        .or_else(|| config.default_script().map(|_| DEFAULT_ROUTE_NAME.to_string()));
                    let indexed = router.route(call).map(|m| m.name().to_string());
                    prop_assert_eq!(indexed, linear, "call {:?}", call);
                }
            }
        }
    }
}
