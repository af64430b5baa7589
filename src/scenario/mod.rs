//! Call-flow scenarios: YAML files that say what the caller does and what the flow must do, run
//! against scripts on the simulated switch (`rivr test`).
//!
//! ```yaml
//! script: main.rhai
//! scenarios:
//!   - name: caller picks sales, line busy
//!     call: { from: "5551234", to: "1000" }
//!     steps:
//!       - expect: answer
//!       - expect: say "Welcome*"
//!       - expect: ask
//!       - press: "1"
//!       - expect: dial user/1001*
//!         dial: busy
//!       - expect: say /sorry/i
//!       - expect: hangup
//! ```
//!
//! Time is simulated: a `wait: 30s` or a prompt timing out costs nothing.

pub mod cli;
mod file;
mod matcher;
mod report;
mod run;
pub mod scaffold;

pub use file::{load, parse, Expectation, Scenario, ScenarioFile, Step, StepAction};
pub use matcher::Pattern;
pub use report::{junit, summary, Outcome, ScenarioResult};
pub use run::{run_all, run_scenario, RunOptions};
