//! `traces:`: which calls `rivr run` writes a call trace for, where, for how long, and what a
//! trace may hold (see `crate::trace` for the files themselves).

use std::collections::BTreeMap;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::position::Positioned;
use super::secret::Secret;

/// Call traces (`rivr run` only; off by default).
///
/// ```yaml
/// traces:
///   enabled: true
///   sample: 0.25              # one call in four
///   dir: /var/lib/rivr/traces
///   keep_files: 100000        # the oldest go first
///   keep_mb: 2048
///   variables: [account, language]
///   hash_caller: true
///   hash_key: ${RIVR_TRACE_KEY}
///   mask_dtmf: [ask]          # no digits typed on any ask reach a trace
///   routes:
///     payments: { sample: 1.0, mask_dtmf: [ask, send_dtmf] }
///     internal: { enabled: false }
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Traces {
    /// Whether calls are traced. Default false.
    pub enabled: bool,
    /// The fraction of calls traced, 0 to 1. Default 1.
    pub sample: Fraction,
    /// Where trace files go; relative to the configuration file's directory. Default `traces`.
    pub dir: PathBuf,
    /// Most trace files kept; the oldest are deleted first. Default 10,000.
    pub keep_files: Option<NonZeroUsize>,
    /// Most megabytes of trace files kept; the oldest are deleted first. Default: no limit.
    pub keep_mb: Option<NonZeroU64>,
    /// Channel variables a trace may hold (an allowlist; `rivr_now` is always kept). Default
    /// none: channel variables can carry secrets.
    pub variables: Vec<String>,
    /// Write a hash of the caller's number instead of the number. Default false.
    pub hash_caller: bool,
    /// Key mixed into the caller hash (write `${RIVR_TRACE_KEY}`), so that the hash of a phone
    /// number cannot be found by hashing every number. Never logged.
    pub hash_key: Option<Secret>,
    /// Verbs whose DTMF no trace keeps (only the count and timing): `ask`, `send_dtmf`.
    pub mask_dtmf: Vec<MaskedVerb>,
    /// Traces waiting to be written; when full, new ones are dropped (and counted), never
    /// waited for. Default 1024.
    pub queue: NonZeroUsize,
    /// Per-route changes to `enabled`, `sample` and `mask_dtmf`, by route name.
    pub routes: BTreeMap<String, TraceRoute>,
}

/// A route's own trace settings; what it leaves out comes from `traces:`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TraceRoute {
    /// Whether this route's calls are traced.
    pub enabled: Option<bool>,
    /// The fraction of this route's calls traced.
    pub sample: Option<Fraction>,
    /// Verbs whose DTMF is masked on this route (instead of `traces.mask_dtmf`).
    pub mask_dtmf: Option<Vec<MaskedVerb>>,
}

/// A verb whose DTMF can be masked in traces.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum MaskedVerb {
    /// The digits `ask` (and `menu`) collected.
    Ask,
    /// The digits `send_dtmf` sent.
    SendDtmf,
}

/// A fraction from 0 to 1 (`sample: 0.25`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fraction(f64);

impl Eq for Fraction {}

impl Fraction {
    /// All calls.
    pub const ALL: Fraction = Fraction(1.0);

    /// The fraction as a number from 0 to 1.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        if !(0.0..=1.0).contains(&value) {
            return Err(serde::de::Error::custom(format!(
                "sample must be a fraction from 0 to 1 (0.1 traces one call in ten), not {value}"
            )));
        }
        Ok(Fraction(value))
    }
}

/// Default directory for traces.
pub const DEFAULT_TRACE_DIR: &str = "traces";

impl Default for Traces {
    fn default() -> Self {
        Traces {
            enabled: false,
            sample: Fraction::ALL,
            dir: PathBuf::from(DEFAULT_TRACE_DIR),
            keep_files: NonZeroUsize::new(10_000),
            keep_mb: None,
            variables: Vec::new(),
            hash_caller: false,
            hash_key: None,
            mask_dtmf: Vec::new(),
            queue: NonZeroUsize::new(1024).unwrap_or(NonZeroUsize::MIN),
            routes: BTreeMap::new(),
        }
    }
}

/// What applies to one call of `route`.
#[derive(Clone, Debug, PartialEq)]
pub struct TracePolicy {
    /// The fraction of calls traced (0 when tracing is off).
    pub sample: f64,
    /// Verbs whose DTMF is masked.
    pub mask_dtmf: Vec<MaskedVerb>,
}

impl Traces {
    /// The settings for a call taken by `route` (none for calls without a route).
    pub fn policy(&self, route: Option<&str>) -> TracePolicy {
        let own = route.and_then(|name| self.routes.get(name));
        let enabled = own.and_then(|r| r.enabled).unwrap_or(self.enabled);
        let sample = own.and_then(|r| r.sample).unwrap_or(self.sample).get();
        TracePolicy {
            sample: if enabled { sample } else { 0.0 },
            mask_dtmf: own.and_then(|r| r.mask_dtmf.clone()).unwrap_or_else(|| self.mask_dtmf.clone()),
        }
    }

    /// The interpolation pass needs the key's text.
    pub(crate) fn hash_key_mut(&mut self) -> Option<&mut Positioned<String>> {
        self.hash_key.as_mut().map(Secret::positioned_mut)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, MaskedVerb};

    #[test]
    fn traces_are_off_by_default_and_a_route_can_turn_them_on_with_its_own_sample() {
        assert_eq!(Config::default().traces.policy(Some("sales")).sample, 0.0);
        let yaml = "traces:\n  sample: 0.5\n  mask_dtmf: [ask]\n  routes:\n    sales: { enabled: true, sample: 0.1 }\n";
        let config = Config::parse(yaml, "rivr.yaml").expect("valid");
        assert_eq!(config.traces.policy(Some("sales")).sample, 0.1);
        assert_eq!(config.traces.policy(Some("other")).sample, 0.0);
        assert_eq!(config.traces.policy(Some("sales")).mask_dtmf, vec![MaskedVerb::Ask]);
    }

    #[test]
    fn a_sample_outside_zero_to_one_and_an_unknown_masked_verb_are_errors_with_their_line() {
        let error = Config::parse("traces:\n  sample: 10\n", "rivr.yaml").expect_err("invalid");
        let text = error.to_string();
        assert!(text.contains("rivr.yaml:2") && text.contains("from 0 to 1"), "{text}");
        let error = Config::parse("traces:\n  mask_dtmf: [pin]\n", "rivr.yaml").expect_err("invalid");
        assert!(error.to_string().contains("rivr.yaml:2"), "{error}");
    }
}
