//! `Limits`: the sandbox limits every call's script runs under.

use std::time::Duration;

use serde::Deserialize;

/// Sandbox limits for one call's script. Every field has a safe default; the configuration can
/// override them globally and per route.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most Rhai operations one call may run in total (a runaway loop is also stopped by
    /// `compute_budget_ms`, usually much sooner).
    pub max_operations: u64,
    /// Deepest script function nesting. Bounded by the script's stack: see
    /// `script::STACK_SIZE`.
    pub max_call_depth: usize,
    /// Deepest expression nesting at the top level of a script.
    pub max_expr_depth: usize,
    /// Deepest expression nesting inside functions.
    pub max_function_expr_depth: usize,
    /// Longest string, in bytes.
    pub max_string_size: usize,
    /// Most elements in one array.
    pub max_array_size: usize,
    /// Most entries in one object map.
    pub max_map_size: usize,
    /// Most modules a script may import.
    pub max_modules: usize,
    /// Wall-clock time a script may compute between two verbs, in milliseconds.
    pub compute_budget_ms: u64,
    /// Most scripts one call may `pass` to or `invoke`, in total: a pass cycle (`a.rhai` passes
    /// to `b.rhai`, which passes back) never computes long between verbs, so only a count ends it.
    pub max_passes: usize,
    /// Most verbs in a row that play nothing and wait for no one (`answer`, `get_var`,
    /// `set_var`, a failed `play`, ...). A loop that only spins such verbs (`loop { answer(); }`)
    /// restarts the compute budget at every verb; this ends it instead of spinning for hours.
    /// A verb that plays media or waits (`play`, `say`, `ask`, `dial`, `record`, `sleep`)
    /// starts the count again.
    pub max_verbs_without_progress: u32,
}

impl Limits {
    /// The compute budget as a duration.
    pub fn compute_budget(&self) -> Duration {
        Duration::from_millis(self.compute_budget_ms)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 50_000_000,
            max_call_depth: 32,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 1024 * 1024,
            max_array_size: 100_000,
            max_map_size: 10_000,
            max_modules: 64,
            compute_budget_ms: 500,
            max_passes: 100,
            max_verbs_without_progress: 1_000,
        }
    }
}
