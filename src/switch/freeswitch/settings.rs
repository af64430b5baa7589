//! `FsSettings`: what the FreeSWITCH backend needs to know that the call model does not say.
//!
//! Defaults match a stock FreeSWITCH 1.10 with `mod_flite`, and the captures in
//! `tests/fixtures/esl/`. The integrator builds one from the YAML configuration; the backend
//! only reads it. This module knows nothing of Rhai.

use std::time::Duration;

use crate::switch::freeswitch::frame::FrameLimits;

/// Settings of the outbound (FreeSWITCH-connects-to-rivr) backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsSettings {
    /// TTS module used by `say()` and `say:` prompts when the script names none (`flite`).
    pub tts_engine: String,
    /// TTS voice used when the script names none (`kal`, flite's default voice).
    pub tts_voice: String,
    /// Directory *on the FreeSWITCH host* where `record` writes. It must exist and be writable
    /// by FreeSWITCH: `record` does not create directories, and when it cannot open its file
    /// FreeSWITCH hangs the call up (`mod_dptools.c`, `record_function`).
    pub recordings_dir: String,
    /// Language module for `say_*` when a command carries none (`en` = `mod_say_en`).
    pub language: String,
    /// Send `linger` after `myevents`, so FreeSWITCH keeps the socket open after the hangup and
    /// delivers the last events (`CHANNEL_HANGUP_COMPLETE`) until rivr sends `exit`.
    pub linger: bool,
    /// Most bytes a peer may make one connection buffer.
    pub frame_limits: FrameLimits,
    /// How long `connect`, `myevents` and `linger` may take before the connection is dropped.
    pub handshake_timeout: Duration,
    /// How long closing a call (hangup, linger notice, `exit`, FreeSWITCH's close) may take
    /// before rivr drops the socket anyway.
    pub close_timeout: Duration,
    /// Most calls served at once; further sockets wait in the accept queue.
    pub max_calls: usize,
}

impl Default for FsSettings {
    fn default() -> Self {
        FsSettings {
            tts_engine: DEFAULT_TTS_ENGINE.into(),
            tts_voice: DEFAULT_TTS_VOICE.into(),
            recordings_dir: DEFAULT_RECORDINGS_DIR.into(),
            language: DEFAULT_LANGUAGE.into(),
            linger: true,
            frame_limits: FrameLimits::default(),
            handshake_timeout: Duration::from_secs(5),
            close_timeout: Duration::from_secs(5),
            max_calls: DEFAULT_MAX_CALLS,
        }
    }
}

/// `mod_flite`, the TTS module FreeSWITCH ships and the captures used.
pub const DEFAULT_TTS_ENGINE: &str = "flite";
/// flite's default voice.
pub const DEFAULT_TTS_VOICE: &str = "kal";
/// A directory that exists on every Unix host; production sets its own.
pub const DEFAULT_RECORDINGS_DIR: &str = "/tmp";
/// `mod_say_en`.
pub const DEFAULT_LANGUAGE: &str = "en";
/// Far above what one rivr process serves on 2 cores, low enough to stop a connection flood
/// from exhausting file descriptors.
pub const DEFAULT_MAX_CALLS: usize = 4096;
