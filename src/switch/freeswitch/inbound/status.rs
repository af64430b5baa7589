//! [`ServerStatus`]: FreeSWITCH's `api status` reply, parsed for health checks and for choosing
//! the least loaded server.
//!
//! The reply is free text meant for people (`mod_commands.c`, `status_function`), e.g.:
//!
//! ```text
//! UP 0 years, 0 days, 0 hours, 0 minutes, 39 seconds, 355 milliseconds, 590 microseconds
//! FreeSWITCH (Version 1.10.12-release git a88d069 2024-08-02 21:02:27Z 64bit) is ready
//! 14 session(s) since startup
//! 0 session(s) - peak 3, last 5min 3
//! 0 session(s) per Sec out of max 100, peak 4, last 5min 4
//! 1000 session(s) max
//! min idle cpu 0.00/0.73
//! Current Stack Size/Max 240K/8192K
//! ```
//!
//! The uptime line and the current-sessions line are required; every other figure is optional,
//! so a FreeSWITCH that words one line differently still reports as healthy.

use std::time::Duration;

/// What `api status` says about a server.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerStatus {
    /// Time since FreeSWITCH started.
    pub uptime: Duration,
    /// `is ready` (accepting calls) rather than `is not ready` (starting or shutting down).
    pub ready: bool,
    /// The version string, e.g. `1.10.12-release git a88d069 2024-08-02 21:02:27Z 64bit`.
    pub version: Option<String>,
    /// Calls (channels) up now.
    pub sessions: u64,
    /// The most sessions up at once since startup.
    pub sessions_peak: Option<u64>,
    /// Sessions created since startup.
    pub sessions_since_startup: Option<u64>,
    /// The configured session limit (`max-sessions`).
    pub max_sessions: Option<u64>,
    /// The configured new-sessions-per-second limit (`sessions-per-second`).
    pub max_sessions_per_second: Option<u64>,
    /// The lowest idle CPU percentage FreeSWITCH allows and the current one.
    pub idle_cpu: Option<(f64, f64)>,
}

impl ServerStatus {
    /// Parses the body of `api status`; `None` if the uptime or session count is missing.
    pub fn parse(text: &str) -> Option<Self> {
        let mut uptime = None;
        let mut ready = false;
        let mut version = None;
        let mut sessions = None;
        let mut sessions_peak = None;
        let mut sessions_since_startup = None;
        let mut max_sessions = None;
        let mut max_sessions_per_second = None;
        let mut idle_cpu = None;
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix(UPTIME_PREFIX) {
                uptime = parse_uptime(rest);
            } else if let Some(rest) = line.strip_prefix(VERSION_PREFIX) {
                ready = line.ends_with(READY_SUFFIX) && !line.ends_with(NOT_READY_SUFFIX);
                version = rest.split_once(')').map(|(version, _)| version.trim().to_owned());
            } else if let Some(count) = line.strip_suffix(SINCE_STARTUP_SUFFIX) {
                sessions_since_startup = count.trim().parse().ok();
            } else if let Some((_, rest)) = line.split_once(PER_SECOND_INFIX) {
                max_sessions_per_second = first_number(rest);
            } else if let Some((count, rest)) = line.split_once(CURRENT_INFIX) {
                sessions = count.trim().parse().ok();
                sessions_peak = rest.strip_prefix(PEAK_PREFIX).and_then(first_number);
            } else if let Some(count) = line.strip_suffix(MAX_SUFFIX) {
                max_sessions = count.trim().parse().ok();
            } else if let Some(rest) = line.strip_prefix(IDLE_CPU_PREFIX) {
                idle_cpu = rest
                    .split_once('/')
                    .and_then(|(min, now)| Some((min.trim().parse().ok()?, now.trim().parse().ok()?)));
            }
        }
        Some(Self {
            uptime: uptime?,
            ready,
            version,
            sessions: sessions?,
            sessions_peak,
            sessions_since_startup,
            max_sessions,
            max_sessions_per_second,
            idle_cpu,
        })
    }

    /// Sessions that may still be started before `max-sessions`; `None` when the limit is
    /// unknown.
    pub fn free_sessions(&self) -> Option<u64> {
        self.max_sessions.map(|max| max.saturating_sub(self.sessions))
    }
}

/// `0 years, 0 days, 0 hours, 0 minutes, 39 seconds, 355 milliseconds, 590 microseconds`.
fn parse_uptime(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut any = false;
    for part in text.split(',') {
        let mut words = part.split_whitespace();
        let (Some(count), Some(unit)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(count) = count.parse::<u64>() else {
            continue;
        };
        let unit = match unit.trim_end_matches('s') {
            "year" => Duration::from_secs(365 * 24 * 3600),
            "day" => Duration::from_secs(24 * 3600),
            "hour" => Duration::from_secs(3600),
            "minute" => Duration::from_secs(60),
            "second" => Duration::from_secs(1),
            "millisecond" => Duration::from_millis(1),
            "microsecond" => Duration::from_micros(1),
            _ => continue,
        };
        total += unit.saturating_mul(u32::try_from(count).unwrap_or(u32::MAX));
        any = true;
    }
    any.then_some(total)
}

fn first_number(text: &str) -> Option<u64> {
    text.split(|c: char| !c.is_ascii_digit()).find(|word| !word.is_empty()).and_then(|word| word.parse().ok())
}

const UPTIME_PREFIX: &str = "UP ";
const VERSION_PREFIX: &str = "FreeSWITCH (Version ";
const READY_SUFFIX: &str = "is ready";
const NOT_READY_SUFFIX: &str = "is not ready";
const SINCE_STARTUP_SUFFIX: &str = "session(s) since startup";
const PER_SECOND_INFIX: &str = "session(s) per Sec out of max";
const CURRENT_INFIX: &str = "session(s) - ";
const PEAK_PREFIX: &str = "peak ";
const MAX_SUFFIX: &str = "session(s) max";
const IDLE_CPU_PREFIX: &str = "min idle cpu ";

#[cfg(test)]
mod tests {
    use super::*;

    /// The `bgapi status` body from the inbound-misc capture.
    const CAPTURED: &str = "UP 0 years, 0 days, 0 hours, 0 minutes, 39 seconds, 355 \
milliseconds, 590 microseconds\nFreeSWITCH (Version 1.10.12-release git a88d069 2024-08-02 \
21:02:27Z 64bit) is ready\n14 session(s) since startup\n0 session(s) - peak 3, last 5min 3 \n0 \
session(s) per Sec out of max 100, peak 4, last 5min 4 \n1000 session(s) max\nmin idle cpu \
0.00/0.73\nCurrent Stack Size/Max 240K/8192K\n";

    #[test]
    fn captured_status_parses_every_figure() {
        let status = ServerStatus::parse(CAPTURED).expect("parses");
        assert_eq!(status.uptime, Duration::from_micros(39_355_590));
        assert!(status.ready);
        assert_eq!(status.version.as_deref(), Some("1.10.12-release git a88d069 2024-08-02 21:02:27Z 64bit"));
        assert_eq!(status.sessions, 0);
        assert_eq!(status.sessions_peak, Some(3));
        assert_eq!(status.sessions_since_startup, Some(14));
        assert_eq!(status.max_sessions, Some(1000));
        assert_eq!(status.max_sessions_per_second, Some(100));
        assert_eq!(status.idle_cpu, Some((0.0, 0.73)));
        assert_eq!(status.free_sessions(), Some(1000));
    }

    #[test]
    fn a_server_that_is_not_ready_says_so() {
        let text = CAPTURED.replace("is ready", "is not ready");
        assert!(!ServerStatus::parse(&text).expect("parses").ready);
    }

    #[test]
    fn text_without_uptime_or_sessions_is_not_a_status() {
        assert_eq!(ServerStatus::parse("-ERR no reply"), None);
        assert_eq!(ServerStatus::parse("UP 0 years, 1 days"), None);
    }
}
