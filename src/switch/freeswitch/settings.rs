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
    /// Directory *on the FreeSWITCH host* where `record` writes; `None` (the default) is
    /// FreeSWITCH's own `recordings_dir`, which exists on every install. A configured one must
    /// exist and be writable by FreeSWITCH: `record` does not create directories, and when it
    /// cannot open its file FreeSWITCH hangs the call up (`switch_ivr_record_file`).
    pub recordings_dir: Option<String>,
    /// Language module for `say_*` when a command carries none (`en` = `mod_say_en`).
    pub language: String,
    /// Directory on the switch that relative prompt files are played from (`sounds.prefix`).
    /// `None`: FreeSWITCH's own `sound_prefix` applies.
    pub sound_prefix: Option<String>,
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
            recordings_dir: None,
            language: DEFAULT_LANGUAGE.into(),
            sound_prefix: None,
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
/// `mod_say_en`.
pub const DEFAULT_LANGUAGE: &str = "en";
/// Far above what one rivr process serves on 2 cores, low enough to stop a connection flood
/// from exhausting file descriptors.
pub const DEFAULT_MAX_CALLS: usize = 4096;
