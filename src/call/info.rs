//! `CallInfo`: the data a call carries from the switch into routing and the script.
//!
//! A snapshot taken when the call arrives. It knows nothing of ESL or Rhai: the FreeSWITCH backend
//! fills it from channel data, the simulated switch from command-line flags or a scenario.

use crate::call::Variables;

/// What is known about a call when it reaches rivr.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallInfo {
    /// The switch's id for the call leg rivr controls (FreeSWITCH `Unique-ID`).
    pub uuid: String,
    /// Calling number (`Caller-Caller-ID-Number`).
    pub caller_id_number: String,
    /// Calling name (`Caller-Caller-ID-Name`).
    pub caller_id_name: String,
    /// Dialled number (`Caller-Destination-Number`).
    pub destination: String,
    /// Dialplan context the call came from (`Caller-Context`).
    pub context: String,
    /// Name of the route that picked the script, once routed.
    pub route: Option<String>,
    /// Channel variables (FreeSWITCH `variable_*` headers, without the prefix) plus any
    /// per-route variables from the configuration.
    pub variables: Variables,
}

impl CallInfo {
    /// A call with only a uuid, caller and destination set: what tests and the simulator start
    /// from.
    pub fn new(uuid: impl Into<String>, caller: impl Into<String>, destination: impl Into<String>) -> Self {
        CallInfo {
            uuid: uuid.into(),
            caller_id_number: caller.into(),
            destination: destination.into(),
            context: "default".into(),
            ..CallInfo::default()
        }
    }
}
