//! A sink's queue: the bounded channel between the calls that emit events and the one task that
//! delivers them to a webhook or NATS, and the counts of what became of them.
//!
//! Emitting never waits: an event that finds the queue full is dropped and counted, so a slow
//! or dead receiver costs a call nothing. The drops are logged as totals, once per interval,
//! never once per event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::Event;

/// How often a sink that dropped events says so in the log.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// What became of a sink's events. Read by `/metrics`.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Delivered: acknowledged by the receiver.
    pub sent: AtomicU64,
    /// Dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Given up after the retries (or refused by the receiver).
    pub failed: AtomicU64,
}

impl SinkStats {
    /// Count `n` events delivered.
    pub fn delivered(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Count `n` events given up.
    pub fn gave_up(&self, n: usize) {
        self.failed.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// One sink as the metrics see it.
#[derive(Clone, Debug)]
pub struct SinkReading {
    /// The sink's name (`webhook` entries' `name`, or `nats`).
    pub name: String,
    /// `webhook` or `nats`.
    pub kind: &'static str,
    /// Events delivered.
    pub sent: u64,
    /// Events dropped on a full queue.
    pub dropped: u64,
    /// Events given up.
    pub failed: u64,
    /// Events waiting now.
    pub queued: usize,
}

/// The emitting side of a sink's queue.
#[derive(Clone, Debug)]
pub struct SinkQueue {
    name: Arc<str>,
    kind: &'static str,
    tx: mpsc::Sender<Event>,
    stats: Arc<SinkStats>,
}

/// The delivering side: what the sink's task reads.
#[derive(Debug)]
pub struct SinkInbox {
    /// The sink's name, for its log lines.
    pub name: Arc<str>,
    /// The events, in the order they were emitted.
    pub events: mpsc::Receiver<Event>,
    /// Where the task counts what it delivered and what it gave up.
    pub stats: Arc<SinkStats>,
}

/// A queue of `capacity` events for the sink `name` of `kind` (`webhook`, `nats`).
pub fn queue(name: &str, kind: &'static str, capacity: usize) -> (SinkQueue, SinkInbox) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let stats = Arc::new(SinkStats::default());
    let name: Arc<str> = Arc::from(name);
    (SinkQueue { name: name.clone(), kind, tx, stats: stats.clone() }, SinkInbox { name, events: rx, stats })
}

impl SinkQueue {
    /// Queue `event` without waiting: false (and counted) when the queue is full or the sink has
    /// stopped.
    pub fn offer(&self, event: Event) -> bool {
        match self.tx.try_send(event) {
            Ok(()) => true,
            Err(_) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// The sink's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The counts so far.
    pub fn reading(&self) -> SinkReading {
        SinkReading {
            name: self.name.to_string(),
            kind: self.kind,
            sent: self.stats.sent.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            failed: self.stats.failed.load(Ordering::Relaxed),
            queued: self.tx.max_capacity() - self.tx.capacity(),
        }
    }

    /// Log the drop totals every interval in which there were new ones, until the sink stops.
    pub fn report_drops(&self) -> tokio::task::JoinHandle<()> {
        let queue = self.clone();
        tokio::spawn(async move {
            let mut reported = 0;
            let mut ticks = tokio::time::interval(DROP_REPORT_INTERVAL);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let dropped = queue.stats.dropped.load(Ordering::Relaxed);
                if dropped > reported {
                    tracing::warn!(
                        sink = %queue.name,
                        dropped_now = dropped - reported,
                        dropped_total = dropped,
                        failed_total = queue.stats.failed.load(Ordering::Relaxed),
                        "event sink is not keeping up: events dropped (its queue was full); calls are not slowed"
                    );
                    reported = dropped;
                }
                if queue.tx.is_closed() {
                    return;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RivrEventType;
    use crate::events::EventKind;

    fn event(n: u8) -> Event {
        Event { kind: EventKind::Rivr(RivrEventType::CallVerb), body: bytes::Bytes::from(vec![n]) }
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting_and_keeps_the_order_of_the_rest() {
        let (queue, mut inbox) = queue("crm", "webhook", 2);
        assert!(queue.offer(event(1)));
        assert!(queue.offer(event(2)));
        assert!(!queue.offer(event(3)));
        let reading = queue.reading();
        assert_eq!((reading.dropped, reading.queued), (1, 2));
        assert_eq!(inbox.events.recv().await.map(|e| e.body[0]), Some(1));
        assert_eq!(inbox.events.recv().await.map(|e| e.body[0]), Some(2));
        inbox.stats.delivered(2);
        assert_eq!(queue.reading().sent, 2);
    }
}
