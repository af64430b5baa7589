//! A sink's queue: the bounded queue between the calls that emit events and the one task that
//! delivers them to a webhook or NATS, and the counts of what became of them.
//!
//! Emitting never waits: an event that finds the queue full is dropped and counted, so a slow
//! or dead receiver costs a call nothing. The drops are logged as totals, once per interval,
//! never once per event.
//!
//! The queue is a ring allocated once (`crossbeam-queue`), so queuing an event allocates
//! nothing, and the calls wake the sink's task only when it said it is waiting for an empty
//! queue. A sink that lingers to gather a batch is not waiting, and then a call queuing an event
//! costs one compare-and-swap and one read. (A channel that allocated a block every 32 events
//! on the call's thread and freed it on the sink's cost more than the rest of the queue.)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use tokio::sync::Notify;

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
    shared: Arc<Shared>,
    /// Dropped with the last clone, which closes the queue.
    _open: Arc<Open>,
    stats: Arc<SinkStats>,
}

/// The delivering side: what the sink's task reads.
#[derive(Debug)]
pub struct SinkInbox {
    /// The sink's name, for its log lines.
    pub name: Arc<str>,
    /// The events, in the order they were emitted.
    pub events: Inbox,
    /// Where the task counts what it delivered and what it gave up.
    pub stats: Arc<SinkStats>,
}

/// The receiving end of a sink's queue.
#[derive(Debug)]
pub struct Inbox {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    ring: ArrayQueue<Event>,
    /// Set by the sink's task before it waits on an empty queue: whoever queues next wakes it.
    waiting: AtomicBool,
    wake: Notify,
    /// Every emitting side is gone (rivr is stopping).
    closed: AtomicBool,
    /// The receiving end is gone (the sink's task ended).
    stopped: AtomicBool,
}

/// Closes the queue when the last emitting side goes.
#[derive(Debug)]
struct Open(Arc<Shared>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::SeqCst);
        self.0.wake.notify_one();
    }
}

/// A queue of `capacity` events for the sink `name` of `kind` (`webhook`, `nats`).
pub fn queue(name: &str, kind: &'static str, capacity: usize) -> (SinkQueue, SinkInbox) {
    let shared = Arc::new(Shared {
        ring: ArrayQueue::new(capacity.max(1)),
        waiting: AtomicBool::new(false),
        wake: Notify::new(),
        closed: AtomicBool::new(false),
        stopped: AtomicBool::new(false),
    });
    let stats = Arc::new(SinkStats::default());
    let name: Arc<str> = Arc::from(name);
    let open = Arc::new(Open(shared.clone()));
    (
        SinkQueue { name: name.clone(), kind, shared: shared.clone(), _open: open, stats: stats.clone() },
        SinkInbox { name, events: Inbox { shared }, stats },
    )
}

impl SinkQueue {
    /// Queue `event` without waiting: false (and counted) when the queue is full or the sink has
    /// stopped.
    pub fn offer(&self, event: Event) -> bool {
        let shared = &*self.shared;
        if shared.stopped.load(Ordering::Relaxed) || shared.ring.push(event).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        // Pairs with `Inbox::wait`: the push and this read are both sequentially consistent, so
        // either the task's check after raising `waiting` sees the event, or this sees `waiting`.
        if shared.waiting.load(Ordering::SeqCst) && shared.waiting.swap(false, Ordering::SeqCst) {
            shared.wake.notify_one();
        }
        true
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
            queued: self.shared.ring.len(),
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
                if queue.shared.stopped.load(Ordering::Relaxed) {
                    return;
                }
            }
        })
    }
}

impl Inbox {
    /// The next event, waiting for one; `None` once the queue is closed and empty. Cancel-safe:
    /// an event is taken only when it is returned.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.try_recv() {
                return Some(event);
            }
            if !self.wait().await {
                return self.try_recv();
            }
        }
    }

    /// Wait for one event, then take those already waiting, up to `limit` in all into `into`;
    /// 0 once the queue is closed and empty.
    pub async fn recv_many(&mut self, into: &mut Vec<Event>, limit: usize) -> usize {
        let Some(first) = self.recv().await else { return 0 };
        into.push(first);
        let mut taken = 1;
        while taken < limit {
            let Some(event) = self.try_recv() else { break };
            into.push(event);
            taken += 1;
        }
        taken
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.shared.ring.pop()
    }

    /// Whether every emitting side is gone: what is queued is all there will be.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Wait until the queue has an event or is closed; false when it is closed.
    async fn wait(&self) -> bool {
        let shared = &*self.shared;
        loop {
            if shared.closed.load(Ordering::SeqCst) {
                return false;
            }
            let woken = shared.wake.notified();
            tokio::pin!(woken);
            // Registered before `waiting` is raised, so a wake-up in between is not lost.
            woken.as_mut().enable();
            shared.waiting.store(true, Ordering::SeqCst);
            if !shared.ring.is_empty() || shared.closed.load(Ordering::SeqCst) {
                shared.waiting.store(false, Ordering::SeqCst);
                return !shared.ring.is_empty() || !shared.closed.load(Ordering::SeqCst);
            }
            woken.await;
            if !shared.ring.is_empty() {
                return true;
            }
        }
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
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

    #[tokio::test]
    async fn a_batch_takes_what_is_waiting_without_waiting_for_more() {
        let (queue, mut inbox) = queue("crm", "webhook", 16);
        for n in 0..3 {
            assert!(queue.offer(event(n)));
        }
        let mut batch = Vec::new();
        assert_eq!(inbox.events.recv_many(&mut batch, 10).await, 3);
        batch.clear();
        for n in 0..5 {
            queue.offer(event(n));
        }
        assert_eq!(inbox.events.recv_many(&mut batch, 2).await, 2, "at most the batch size");
        assert_eq!(&batch[0].body[..], [0]);
        drop(queue);
        batch.clear();
        assert_eq!(inbox.events.recv_many(&mut batch, 10).await, 3, "the rest after closing");
        batch.clear();
        assert_eq!(inbox.events.recv_many(&mut batch, 10).await, 0, "then the end");
    }

    #[test]
    fn a_place_in_the_ring_is_56_bytes_as_the_readme_says() {
        // crossbeam's slot is the event and an 8-byte stamp.
        assert_eq!(std::mem::size_of::<Event>() + 8, 56);
    }

    #[tokio::test]
    async fn a_closed_queue_hands_out_what_is_left_then_ends_and_a_stopped_sink_takes_nothing() {
        let (queue, mut inbox) = queue("crm", "webhook", 4);
        let other = queue.clone();
        assert!(queue.offer(event(1)));
        drop(queue);
        assert!(!inbox.events.is_closed(), "a clone still emits");
        assert!(other.offer(event(2)));
        drop(other);
        assert!(inbox.events.is_closed());
        assert_eq!(inbox.events.recv().await.map(|e| e.body[0]), Some(1));
        assert_eq!(inbox.events.recv().await.map(|e| e.body[0]), Some(2));
        assert!(inbox.events.recv().await.is_none());

        let (queue, inbox) = super::queue("crm", "webhook", 4);
        drop(inbox);
        assert!(!queue.offer(event(3)));
        assert_eq!(queue.reading().dropped, 1);
    }

    /// Four threads emit while the task keeps emptying the queue and waiting on it again; each
    /// thread, every few events, waits until the task has taken all it queued, so the task keeps
    /// going back to waiting on an empty queue. Every event queued arrives once, in its thread's
    /// order. A lost wake-up leaves the task waiting with events queued: the thread then gives
    /// up waiting for it and the test fails.
    #[test]
    fn every_event_queued_from_many_threads_reaches_a_task_that_keeps_waiting() {
        use std::sync::atomic::AtomicU32;
        const THREADS: usize = 4;
        const EACH: u32 = 20_000;
        let (queue, mut inbox) = queue("nats", "nats", 64);
        let taken: Arc<[AtomicU32; THREADS]> = Arc::new(Default::default());
        let emitters: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (queue, taken) = (queue.clone(), taken.clone());
                std::thread::spawn(move || {
                    let mut queued = 0u32;
                    for n in 0..EACH {
                        let body = [&[thread as u8][..], &n.to_be_bytes()].concat();
                        let event =
                            Event { kind: EventKind::Rivr(RivrEventType::CallVerb), body: body.into() };
                        queued += u32::from(queue.offer(event));
                        if n % 16 == 0 {
                            let deadline = std::time::Instant::now() + Duration::from_secs(20);
                            while taken[thread].load(Ordering::SeqCst) < queued {
                                assert!(std::time::Instant::now() < deadline, "the task never woke up");
                                std::thread::yield_now();
                            }
                        }
                    }
                    queued
                })
            })
            .collect();
        drop(queue);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        let received = runtime.block_on(async {
            let mut last = [None::<u32>; THREADS];
            let mut received = 0u32;
            let mut batch = Vec::new();
            let all = async {
                while inbox.events.recv_many(&mut batch, 16).await > 0 {
                    for event in batch.drain(..) {
                        let thread = usize::from(event.body[0]);
                        let n = u32::from_be_bytes(event.body[1..5].try_into().expect("four bytes"));
                        assert!(last[thread].replace(n).is_none_or(|p| p < n), "in order within a thread");
                        taken[thread].fetch_add(1, Ordering::SeqCst);
                        received += 1;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(30), all).await;
            received
        });
        let queued: u32 = emitters.into_iter().map(|t| t.join().expect("every event taken")).sum();
        assert_eq!(received, queued);
        assert_eq!(
            THREADS as u64 * u64::from(EACH) - u64::from(queued),
            inbox.stats.dropped.load(Ordering::Relaxed)
        );
    }
}
