//! `Route` and `LimitsOverride`: one entry of the `routes:` list.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::condition::Condition;
use super::fallback::Fallback;
use super::limits::Limits;
use super::position::Positioned;

/// One route: which calls it takes (all conditions must hold; a route without conditions takes
/// every call) and which script runs them. Routes are tried in file order; the first match wins.
///
/// ```yaml
/// routes:
///   - name: freephone
///     destination: ["0800*", "0808*"]
///     caller: '/^\+49/'
///     variables:
///       sip_h_X-Tenant: acme
///     script: freephone.rhai
///     set:
///       language: de
///     limits:
///       compute_budget_ms: 1000
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Unique name, shown in logs (`call … → route <name>`) and given to the script as the
    /// call's `route`.
    pub name: Positioned<String>,
    /// Condition on the dialled number (FreeSWITCH `Caller-Destination-Number`).
    #[serde(default)]
    pub destination: Option<Condition>,
    /// Condition on the calling number (`Caller-Caller-ID-Number`).
    #[serde(default)]
    pub caller: Option<Condition>,
    /// Condition on the calling name (`Caller-Caller-ID-Name`).
    #[serde(default)]
    pub caller_name: Option<Condition>,
    /// Condition on the dialplan context the call came from (`Caller-Context`).
    #[serde(default)]
    pub context: Option<Condition>,
    /// Conditions on channel variables, by variable name without the `variable_` prefix
    /// (`sip_h_X-Tenant`, `sip_from_host`). A variable the call does not have never matches,
    /// so `"*"` means "is set".
    #[serde(default)]
    pub variables: BTreeMap<String, Condition>,
    /// Script to run, relative to the scripts directory (`main.rhai`, `sales/menu.rhai`).
    pub script: Positioned<String>,
    /// Values handed to the script with the call (`call_info().variables`), added to the
    /// channel's own variables. `${ENV}` references are replaced, so API tokens can come from
    /// the environment; such values print as `***` in `Debug` output.
    #[serde(default)]
    pub set: BTreeMap<String, SetValue>,
    /// Sandbox limits for this route's calls, replacing the global `limits` key by key.
    #[serde(default)]
    pub limits: LimitsOverride,
    /// What to do when this route's script fails; the global `fallback` when absent.
    #[serde(default)]
    pub fallback: Option<Positioned<Fallback>>,
    /// `false` keeps the route in the file but out of routing (its script may then be
    /// missing: that is a warning, not an error).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

impl Route {
    /// A route without conditions (it takes every call) running `script`.
    pub fn new(name: impl Into<String>, script: impl Into<String>) -> Self {
        Route {
            name: Positioned::unplaced(name.into()),
            destination: None,
            caller: None,
            caller_name: None,
            context: None,
            variables: BTreeMap::new(),
            script: Positioned::unplaced(script.into()),
            set: BTreeMap::new(),
            limits: LimitsOverride::default(),
            fallback: None,
            enabled: true,
        }
    }

    /// Whether the route has no conditions and so takes every call.
    pub fn is_unconditional(&self) -> bool {
        self.conditions().next().is_none()
    }

    /// The route's conditions with the call field each one looks at.
    pub fn conditions(&self) -> impl Iterator<Item = (CallField<'_>, &Condition)> {
        let fixed = [
            (CallField::Destination, &self.destination),
            (CallField::Caller, &self.caller),
            (CallField::CallerName, &self.caller_name),
            (CallField::Context, &self.context),
        ];
        fixed
            .into_iter()
            .filter_map(|(field, condition)| condition.as_ref().map(|c| (field, c)))
            .chain(self.variables.iter().map(|(name, c)| (CallField::Variable(name), c)))
    }

    /// The values to hand to the script, without positions.
    pub fn set_values(&self) -> BTreeMap<String, String> {
        self.set.iter().map(|(k, v)| (k.clone(), v.as_str().to_string())).collect()
    }
}

/// A value of a route's `set` map. A value that came from the environment (`${TOKEN}`) may be a
/// secret, so `Debug` prints it as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SetValue {
    text: Positioned<String>,
    from_env: bool,
}

impl SetValue {
    /// A value written in code.
    pub fn new(text: impl Into<String>) -> Self {
        SetValue { text: Positioned::unplaced(text.into()), from_env: false }
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Where it was written.
    pub fn position(&self) -> super::position::Position {
        self.text.position()
    }

    /// Whether `${ENV}` interpolation produced (part of) it.
    pub fn is_from_env(&self) -> bool {
        self.from_env
    }

    /// The text, for interpolation; `from_env` records that interpolation changed it.
    pub(crate) fn text_mut(&mut self) -> &mut Positioned<String> {
        &mut self.text
    }

    pub(crate) fn mark_from_env(&mut self) {
        self.from_env = true;
    }
}

impl std::ops::Deref for SetValue {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Debug for SetValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.from_env {
            f.write_str("***")
        } else {
            self.text.fmt(f)
        }
    }
}

impl<'de> Deserialize<'de> for SetValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(SetValue { text: Positioned::deserialize(deserializer)?, from_env: false })
    }
}

fn enabled_by_default() -> bool {
    true
}

/// The field of a call a condition looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallField<'a> {
    /// The dialled number.
    Destination,
    /// The calling number.
    Caller,
    /// The calling name.
    CallerName,
    /// The dialplan context.
    Context,
    /// A channel variable.
    Variable(&'a str),
}

/// Per-route sandbox limits: each key present replaces the global value; absent keys keep it.
/// The keys are those of the global `limits` section.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsOverride {
    /// See `Limits::max_operations`.
    pub max_operations: Option<u64>,
    /// See `Limits::max_call_depth`.
    pub max_call_depth: Option<usize>,
    /// See `Limits::max_expr_depth`.
    pub max_expr_depth: Option<usize>,
    /// See `Limits::max_function_expr_depth`.
    pub max_function_expr_depth: Option<usize>,
    /// See `Limits::max_string_size`.
    pub max_string_size: Option<usize>,
    /// See `Limits::max_array_size`.
    pub max_array_size: Option<usize>,
    /// See `Limits::max_map_size`.
    pub max_map_size: Option<usize>,
    /// See `Limits::max_modules`.
    pub max_modules: Option<usize>,
    /// See `Limits::compute_budget_ms`.
    pub compute_budget_ms: Option<u64>,
    /// See `Limits::max_passes`.
    pub max_passes: Option<usize>,
    /// See `Limits::max_verbs_without_progress`.
    pub max_verbs_without_progress: Option<u32>,
}

impl LimitsOverride {
    /// `base` with this override's keys replaced.
    pub fn apply(&self, base: &Limits) -> Limits {
        // Destructured without `..` so that a field added to `Limits` fails to compile here
        // until it can be overridden too.
        let Limits {
            max_operations,
            max_call_depth,
            max_expr_depth,
            max_function_expr_depth,
            max_string_size,
            max_array_size,
            max_map_size,
            max_modules,
            compute_budget_ms,
            max_passes,
            max_verbs_without_progress,
        } = base.clone();
        Limits {
            max_operations: self.max_operations.unwrap_or(max_operations),
            max_call_depth: self.max_call_depth.unwrap_or(max_call_depth),
            max_expr_depth: self.max_expr_depth.unwrap_or(max_expr_depth),
            max_function_expr_depth: self.max_function_expr_depth.unwrap_or(max_function_expr_depth),
            max_string_size: self.max_string_size.unwrap_or(max_string_size),
            max_array_size: self.max_array_size.unwrap_or(max_array_size),
            max_map_size: self.max_map_size.unwrap_or(max_map_size),
            max_modules: self.max_modules.unwrap_or(max_modules),
            compute_budget_ms: self.compute_budget_ms.unwrap_or(compute_budget_ms),
            max_passes: self.max_passes.unwrap_or(max_passes),
            max_verbs_without_progress: self.max_verbs_without_progress.unwrap_or(max_verbs_without_progress),
        }
    }

    /// Whether the override changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == LimitsOverride::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_replaces_only_the_keys_it_sets() {
        let base = Limits::default();
        let o = LimitsOverride {
            compute_budget_ms: Some(2_000),
            max_call_depth: Some(8),
            ..LimitsOverride::default()
        };
        let merged = o.apply(&base);
        assert_eq!(merged.compute_budget_ms, 2_000);
        assert_eq!(merged.max_call_depth, 8);
        assert_eq!(merged.max_operations, base.max_operations);
        assert_eq!(merged.max_string_size, base.max_string_size);
    }

    #[test]
    fn a_route_can_raise_the_limits_on_endless_flows() {
        let o = LimitsOverride {
            max_passes: Some(500),
            max_verbs_without_progress: Some(5_000),
            ..LimitsOverride::default()
        };
        let merged = o.apply(&Limits::default());
        assert_eq!((merged.max_passes, merged.max_verbs_without_progress), (500, 5_000));
    }

    #[test]
    fn an_empty_override_keeps_the_base() {
        let base = Limits { max_operations: 7, ..Limits::default() };
        assert!(LimitsOverride::default().is_empty());
        assert_eq!(LimitsOverride::default().apply(&base), base);
    }

    #[test]
    fn a_route_without_conditions_is_unconditional() {
        let mut r = Route::new("all", "main.rhai");
        assert!(r.is_unconditional());
        r.variables.insert("x".into(), Condition::parse("*").unwrap());
        assert!(!r.is_unconditional());
        assert_eq!(r.conditions().next().unwrap().0, CallField::Variable("x"));
    }
}
