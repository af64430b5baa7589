//! [`InboundConfig`]: where a FreeSWITCH event socket is, how to log in, what to subscribe to,
//! and the limits of the client's queues and waits.

use std::fmt;
use std::time::Duration;

use crate::switch::freeswitch::command::EventFormat;

/// FreeSWITCH's default event socket port (`event_socket.conf.xml`, `listen-port`).
pub const DEFAULT_PORT: u16 = 8021;

/// How to reach and use one FreeSWITCH server's event socket.
///
/// Build it with [`InboundConfig::new`] and adjust the public fields; every field but the four
/// `new` takes has a working default.
#[derive(Clone)]
pub struct InboundConfig {
    /// A name for logs, health reports and [`super::InboundPool::client`], e.g. `fs1`.
    pub name: String,
    /// Host name or address of the event socket.
    pub host: String,
    /// Port of the event socket ([`DEFAULT_PORT`]).
    pub port: u16,
    /// The event socket password (`password` in `event_socket.conf.xml`). Never logged and
    /// left out of `Debug`.
    pub password: String,
    /// Event names to subscribe to for per-call subscribers, e.g. `CHANNEL_ANSWER`, `DTMF`,
    /// `ALL`, `CUSTOM sofia::register`. Empty: no event connection is opened.
    pub events: Vec<String>,
    /// How FreeSWITCH serializes the subscribed events.
    pub format: EventEncoding,
    /// `filter <header> <value>` lines applied to the event connection (before subscribing,
    /// and again after every reconnect). With filters, FreeSWITCH sends only events matching
    /// one of them.
    pub filters: Vec<Filter>,
    /// Events each subscriber may have queued before it starts drawing on the shared
    /// [`spill_capacity`](Self::spill_capacity).
    pub queue_capacity: usize,
    /// Events that may be queued, across all subscribers, beyond their own
    /// [`queue_capacity`](Self::queue_capacity). When it is used up the client stops reading
    /// the event socket until a subscriber catches up, so FreeSWITCH is slowed down (TCP
    /// backpressure) instead of events being dropped.
    pub spill_capacity: usize,
    /// How long to wait for the reply to one command (`api`, the `+OK Job-UUID` of `bgapi`).
    pub reply_timeout: Duration,
    /// How long to wait for a `bgapi` job's result. Covers an `originate`'s whole ring time.
    pub job_timeout: Duration,
    /// How long the TCP connect plus the `auth` and subscription handshake may take.
    pub connect_timeout: Duration,
    /// The wait before the first reconnect attempt; it doubles after each failure.
    pub reconnect_initial: Duration,
    /// The longest wait between reconnect attempts.
    pub reconnect_max: Duration,
}

impl InboundConfig {
    /// A configuration with defaults for everything but the address and the password: no
    /// event subscription, plain events, 64 events per subscriber plus 4096 shared, 10 s per
    /// reply, 120 s per background job, 5 s to connect, reconnect after 0.5 s doubling to 30 s.
    pub fn new(
        name: impl Into<String>,
        host: impl Into<String>,
        port: u16,
        password: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            host: host.into(),
            port,
            password: password.into(),
            events: Vec::new(),
            format: EventEncoding::Plain,
            filters: Vec::new(),
            queue_capacity: 64,
            spill_capacity: 4096,
            reply_timeout: Duration::from_secs(10),
            job_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            reconnect_initial: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
        }
    }

    /// `host:port`, as error messages and logs name the server.
    pub fn server(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for InboundConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundConfig")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("password", &"<redacted>")
            .field("events", &self.events)
            .field("format", &self.format)
            .field("filters", &self.filters)
            .field("queue_capacity", &self.queue_capacity)
            .field("spill_capacity", &self.spill_capacity)
            .field("reply_timeout", &self.reply_timeout)
            .field("job_timeout", &self.job_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_initial", &self.reconnect_initial)
            .field("reconnect_max", &self.reconnect_max)
            .finish()
    }
}

/// The serialization asked for with `event plain|json ...`. (XML is not offered: the codec does
/// not decode it.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EventEncoding {
    /// `text/event-json`.
    Json,
    /// `text/event-plain`, URL-encoded header lines (FreeSWITCH's own default).
    #[default]
    Plain,
}

impl EventEncoding {
    pub(crate) fn to_format(self) -> EventFormat {
        match self {
            Self::Json => EventFormat::Json,
            Self::Plain => EventFormat::Plain,
        }
    }
}

/// One `filter <header> <value>`: pass only events whose `header` equals `value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Filter {
    /// An event header name, e.g. `Event-Name` or `Unique-ID`.
    pub header: String,
    /// The value it must have.
    pub value: String,
}

impl Filter {
    /// A filter on `header` = `value`.
    pub fn new(header: impl Into<String>, value: impl Into<String>) -> Self {
        Self { header: header.into(), value: value.into() }
    }
}
