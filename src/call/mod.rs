//! A call as the script sees it: commands in, outcomes out.
//!
//! This module knows nothing of ESL or Rhai. `Command` and `Outcome` are the data that cross the
//! one seam between a script and its call (`CallHandle::execute`); the actor serves that seam
//! from whichever switch backend owns the call.

pub mod actor;
mod command;
mod dtmf;
mod error;
#[allow(unsafe_code)] // stack switching; the one module of rivr with unsafe code
pub mod fiber;
mod handle;
pub mod http;
mod info;
mod observer;
mod outcome;
mod pattern;
pub mod publish;
pub mod transcript;
mod variables;

pub use crate::cause::{CallEnd, HangupCause, KNOWN_CAUSES};
pub use command::{
    AskOptions, Command, DialOptions, LogLevel, LogLine, Prompt, RecordOptions, SayAs, SayKind, SayOptions,
    TransferOptions, SAY_PROMPT_PREFIX,
};
pub use dtmf::{DtmfKeys, DtmfTones, InvalidDtmf};
pub use error::{CallError, Fault};
pub use handle::{CallHandle, CallState, Origin, Site};
pub use http::{HttpClient, HttpError, HttpMethod, HttpRequest, HttpResponse};
pub use info::CallInfo;
pub use observer::{CallObserver, HangupRequest, Observers};
pub use outcome::{
    AskOutcome, AskStatus, DialOutcome, DialStatus, KeyPress, Outcome, RecordOutcome, RecordStatus,
};
pub use pattern::Pattern;
pub use publish::{EventName, Publication, Publisher};
pub use variables::Variables;
