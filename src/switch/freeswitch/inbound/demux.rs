//! The event demultiplexer: one connection's events, routed by `Unique-ID` to per-call
//! subscribers, none dropped.
//!
//! Each subscriber owns a queue whose first [`InboundConfig::queue_capacity`] entries are its
//! own; beyond that an entry must take a permit from a spill budget shared by all subscribers
//! of the connection ([`InboundConfig::spill_capacity`]). The reader waits for a permit only
//! when both are used up, and while it waits it reads nothing: FreeSWITCH's writes block and
//! its own event queue grows, which is the TCP backpressure we want instead of loss. A permit
//! travels with its event and is released when the subscriber takes the event, so the budget
//! refills as subscribers catch up. One slow subscriber can thus hold up the others only after
//! it alone has filled the whole spill budget.
//!
//! [`InboundConfig::queue_capacity`]: super::InboundConfig::queue_capacity
//! [`InboundConfig::spill_capacity`]: super::InboundConfig::spill_capacity

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::switch::freeswitch::event::Event;

/// What a subscription yields.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received {
    /// An event for this subscription, in the order FreeSWITCH sent it.
    Event(Event),
    /// The event connection to FreeSWITCH dropped. FreeSWITCH does not keep events for a
    /// listener that is gone, so any sent until the client reconnects are lost; a call's owner
    /// should re-check the call (e.g. `uuid_exists`). The subscription itself stays and
    /// resumes after the reconnect.
    ConnectionLost,
}

/// A stream of events for one call (or, from [`super::InboundClient::subscribe_unrouted`],
/// every event no call subscription claimed). Dropping it unsubscribes.
#[derive(Debug)]
pub struct EventSubscription {
    rx: mpsc::UnboundedReceiver<Item>,
    key: Key,
    id: u64,
    demux: Weak<Demux>,
}

impl EventSubscription {
    /// The next event; `None` once the client is closed.
    pub async fn recv(&mut self) -> Option<Received> {
        // The permit in the item is dropped here, which returns its slot to the budget.
        self.rx.recv().await.map(|item| item.received)
    }

    /// The next event if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Received> {
        self.rx.try_recv().ok().map(|item| item.received)
    }

    /// The `Unique-ID` this subscription is for; `None` for the unrouted stream.
    pub fn uuid(&self) -> Option<&str> {
        match &self.key {
            Key::Call(uuid) => Some(uuid),
            Key::Unrouted => None,
        }
    }
}

impl Drop for EventSubscription {
    fn drop(&mut self) {
        if let Some(demux) = self.demux.upgrade() {
            demux.remove(&self.key, self.id);
        }
    }
}

/// Routes events to subscribers; shared by the client (which subscribes) and the event
/// connection's reader (which dispatches), and kept across reconnects.
#[derive(Debug)]
pub(crate) struct Demux {
    routes: Mutex<Routes>,
    /// Permits for events queued beyond a subscriber's own capacity.
    spill: Arc<Semaphore>,
    queue_capacity: usize,
    next_id: AtomicU64,
    /// Events nobody subscribed to (counted, then discarded).
    unrouted: AtomicU64,
    /// Times the reader had to stop and wait for a subscriber.
    pauses: AtomicU64,
}

impl Demux {
    pub(crate) fn new(queue_capacity: usize, spill_capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            routes: Mutex::new(Routes::default()),
            spill: Arc::new(Semaphore::new(spill_capacity)),
            // A zero capacity would make every event wait for the spill budget; one keeps the
            // configuration's meaning ("at least this many") without a special case.
            queue_capacity: queue_capacity.max(1),
            next_id: AtomicU64::new(1),
            unrouted: AtomicU64::new(0),
            pauses: AtomicU64::new(0),
        })
    }

    /// Subscribes to the events whose `Unique-ID` is `uuid`, replacing an earlier subscription
    /// for the same uuid (whose stream then ends).
    pub(crate) fn subscribe(self: &Arc<Self>, uuid: &str) -> EventSubscription {
        self.add(Key::Call(uuid.to_owned()))
    }

    /// Subscribes to every event no call subscription takes.
    pub(crate) fn subscribe_unrouted(self: &Arc<Self>) -> EventSubscription {
        self.add(Key::Unrouted)
    }

    /// Events that arrived with nobody to take them.
    pub(crate) fn unrouted_count(&self) -> u64 {
        self.unrouted.load(Ordering::Relaxed)
    }

    /// Times the reader stopped reading to wait for a subscriber (backpressure).
    pub(crate) fn pause_count(&self) -> u64 {
        self.pauses.load(Ordering::Relaxed)
    }

    /// Hands `event` to its subscriber, waiting while that subscriber's queue and the spill
    /// budget are both full. The caller (the connection's reader) reads nothing meanwhile.
    pub(crate) async fn dispatch(&self, event: Event) {
        let route = {
            let routes = self.lock();
            let by_uuid = event.unique_id().and_then(|uuid| routes.calls.get(uuid));
            by_uuid.or(routes.unrouted.as_ref()).cloned()
        };
        let Some(route) = route else {
            self.unrouted.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let permit = match route.own.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => match self.spill.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    self.pauses.fetch_add(1, Ordering::Relaxed);
                    // Whichever frees first: the subscriber taking one of its own events, or
                    // any subscriber releasing a spilled one. Neither semaphore is ever
                    // closed, so an error cannot happen; `None` would only mean an event
                    // outside the accounting.
                    tokio::select! {
                        permit = route.own.clone().acquire_owned() => permit.ok(),
                        permit = self.spill.clone().acquire_owned() => permit.ok(),
                    }
                }
            },
        };
        // A closed receiver means the subscription was dropped meanwhile: nobody wants it.
        let _ = route.tx.send(Item { received: Received::Event(event), _permit: permit });
    }

    /// Tells every subscriber that the connection dropped. Takes no permit: at most one such
    /// notice per disconnect, so it cannot grow a queue without bound.
    pub(crate) fn connection_lost(&self) {
        let routes = self.lock();
        for route in routes.calls.values().chain(routes.unrouted.iter()) {
            let _ = route.tx.send(Item { received: Received::ConnectionLost, _permit: None });
        }
    }

    /// Ends every subscription's stream (the client is closed).
    pub(crate) fn close(&self) {
        let mut routes = self.lock();
        routes.calls.clear();
        routes.unrouted = None;
    }

    fn add(self: &Arc<Self>, key: Key) -> EventSubscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        let route = Route { id, tx, own: Arc::new(Semaphore::new(self.queue_capacity)) };
        let mut routes = self.lock();
        match &key {
            Key::Call(uuid) => {
                routes.calls.insert(uuid.clone(), route);
            }
            Key::Unrouted => routes.unrouted = Some(route),
        }
        EventSubscription { rx, key, id, demux: Arc::downgrade(self) }
    }

    fn remove(&self, key: &Key, id: u64) {
        let mut routes = self.lock();
        match key {
            Key::Call(uuid) => {
                if routes.calls.get(uuid).is_some_and(|route| route.id == id) {
                    routes.calls.remove(uuid);
                }
            }
            Key::Unrouted => {
                if routes.unrouted.as_ref().is_some_and(|route| route.id == id) {
                    routes.unrouted = None;
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Routes> {
        // The lock is only held for map operations that cannot panic, so it is never poisoned;
        // recovering the guard keeps this total anyway.
        self.routes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Debug, Default)]
struct Routes {
    calls: HashMap<String, Route>,
    unrouted: Option<Route>,
}

/// Where one subscriber's events go.
#[derive(Clone, Debug)]
struct Route {
    /// Tells a replaced subscription's `Drop` not to remove its successor.
    id: u64,
    /// Unbounded by type, bounded in practice: every event in it holds a permit from `own` or
    /// from the spill budget.
    tx: mpsc::UnboundedSender<Item>,
    own: Arc<Semaphore>,
}

#[derive(Debug)]
struct Item {
    received: Received,
    /// Released when the subscriber takes the item.
    _permit: Option<OwnedSemaphorePermit>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Call(String),
    Unrouted,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switch::freeswitch::headers::Headers;

    fn event(uuid: &str, seq: u32) -> Event {
        let headers: Headers =
            [("Unique-ID", uuid.to_owned()), ("Seq", seq.to_string())].into_iter().collect();
        Event::new(headers, None)
    }

    fn seq(received: Option<Received>) -> u32 {
        match received {
            Some(Received::Event(event)) => event.header("Seq").and_then(|s| s.parse().ok()),
            _ => None,
        }
        .expect("an event")
    }

    #[tokio::test]
    async fn a_full_subscriber_spills_instead_of_blocking_the_others() {
        let demux = Demux::new(2, 3);
        let mut slow = demux.subscribe("slow");
        let mut fast = demux.subscribe("fast");
        for n in 0..5 {
            demux.dispatch(event("slow", n)).await;
            demux.dispatch(event("fast", n)).await;
            assert_eq!(seq(fast.try_recv()), n);
        }
        for n in 0..5 {
            assert_eq!(seq(slow.try_recv()), n);
        }
        assert!(slow.try_recv().is_none());
    }

    #[tokio::test]
    async fn dispatch_waits_when_queue_and_spill_are_full_and_resumes_when_drained() {
        let demux = Demux::new(1, 1);
        let mut slow = demux.subscribe("slow");
        demux.dispatch(event("slow", 0)).await;
        demux.dispatch(event("slow", 1)).await;
        let blocked = {
            let demux = demux.clone();
            tokio::spawn(async move { demux.dispatch(event("slow", 2)).await })
        };
        assert_eq!(seq(slow.recv().await), 0);
        blocked.await.expect("dispatch finished");
        assert_eq!(seq(slow.recv().await), 1);
        assert_eq!(seq(slow.recv().await), 2);
    }

    #[tokio::test]
    async fn events_without_a_subscriber_go_to_the_unrouted_stream_or_are_counted() {
        let demux = Demux::new(4, 4);
        demux.dispatch(event("nobody", 0)).await;
        assert_eq!(demux.unrouted_count(), 1);
        let mut unrouted = demux.subscribe_unrouted();
        demux.dispatch(event("nobody", 1)).await;
        assert_eq!(seq(unrouted.try_recv()), 1);
        assert_eq!(unrouted.uuid(), None);
    }

    #[tokio::test]
    async fn dropping_a_replaced_subscription_keeps_its_successor() {
        let demux = Demux::new(4, 4);
        let first = demux.subscribe("a");
        let mut second = demux.subscribe("a");
        drop(first);
        demux.dispatch(event("a", 7)).await;
        assert_eq!(seq(second.try_recv()), 7);
        drop(second);
        demux.dispatch(event("a", 8)).await;
        assert_eq!(demux.unrouted_count(), 1);
    }

    #[tokio::test]
    async fn connection_lost_reaches_every_subscriber() {
        let demux = Demux::new(1, 0);
        let mut a = demux.subscribe("a");
        demux.dispatch(event("a", 0)).await;
        demux.connection_lost();
        assert_eq!(seq(a.try_recv()), 0);
        assert_eq!(a.try_recv(), Some(Received::ConnectionLost));
    }
}
