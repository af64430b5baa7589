//! The FreeSWITCH backend over the Event Socket (ESL).
//!
//! The codec layer is sans-I/O: it turns bytes into frames and events and commands into bytes,
//! and knows nothing of sockets, Rhai or the call model.
//!
//! - [`frame`]: [`frame::FrameDecoder`] cuts FreeSWITCH's byte stream into [`frame::Frame`]s
//!   (headers plus a `Content-Length` body) and writes frames back.
//! - [`event`]: [`event::Event`], decoded from `text/event-plain` / `text/event-json` bodies
//!   and from the outbound `connect` reply's URL-encoded headers.
//! - [`command`]: [`command::EslCommand`], what the app sends (`connect`, `sendmsg`, `api`, ...),
//!   encoded byte for byte as FreeSWITCH expects it.
//! - [`indexed`]: [`indexed::IndexedEvent`], a plain event indexed in place and decoded only
//!   where read: what a call's channel uses for the events it keeps.
//! - [`headers`]: the ordered, case-insensitive header list frames and events share.
//! - [`url`]: FreeSWITCH's percent encoding.
//! - `scan`: the word-at-a-time byte searches the line scanners share.
//! - [`protocol`]: every header name, content type and command word, in one place.
//! - [`inbound`]: [`inbound::InboundClient`], rivr's client on FreeSWITCH's event socket port
//!   (`api`, `bgapi`, `originate`, per-call events), and [`inbound::InboundPool`] for several servers.
//! - [`fuzz`]: the decoding entry point shared by the fuzz target and the property tests.
//!
//! The outbound backend (FreeSWITCH's `socket` application connects to rivr once per call):
//!
//! - [`outbound`]: [`bind`] and [`serve`], the listener, and the `connect`/`myevents`/`linger`
//!   handshake.
//! - [`channel`]: [`FsChannel`], one call's socket as a [`crate::switch::Channel`]: commands as
//!   `sendmsg` executions correlated by `Event-UUID`, hangups, close.
//! - [`mapping`]: every script verb as FreeSWITCH applications, and their outcomes (pure), one
//!   file per verb family (`mapping/dial.rs` is where `dial` meets `bridge`).
//! - [`escape`]: text escaped for FreeSWITCH's argument parsers, so it arrives as written.
//! - [`settings`]: [`FsSettings`], TTS defaults, recordings directory, linger, limits.

pub mod command;
pub mod event;
pub mod frame;
pub mod fuzz;
pub mod headers;
pub mod inbound;
pub mod indexed;
pub mod protocol;
mod scan;
pub mod url;

// The outbound backend: settings, the verb mapping, the channel and the listener.
pub mod channel;
pub mod escape;
pub mod mapping;
pub mod outbound;
pub mod settings;

pub use channel::FsChannel;
pub use outbound::{bind, serve, OutboundError};
pub use settings::FsSettings;
