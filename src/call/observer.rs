//! What the world outside a call may see of it and do to it while its actor runs: an observer
//! told about each verb as the switch carries it out, and a request to hang the call up. The
//! operations API's live call table is built on both; this module knows nothing of who watches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use crate::call::{CallError, Command, HangupCause, Origin, Outcome};

/// Told about every command a call's actor carries out, on the call's task. Implementations
/// must be quick and must not block: they run between a completion and the next command.
pub trait CallObserver: Send + Sync {
    /// The actor is about to carry out `command`, asked for at `origin`.
    fn verb_started(&self, command: &Command, origin: Option<&Origin>);
    /// The command last started finished after `switch_time` (time on the switch, not in the
    /// script) with `result`.
    fn verb_finished(&self, result: &Result<Outcome, CallError>, switch_time: Duration);
}

/// Several observers of one call (the live call table and a call trace), told in order.
pub struct Observers(pub Vec<std::sync::Arc<dyn CallObserver>>);

impl CallObserver for Observers {
    fn verb_started(&self, command: &Command, origin: Option<&Origin>) {
        for observer in &self.0 {
            observer.verb_started(command, origin);
        }
    }

    fn verb_finished(&self, result: &Result<Outcome, CallError>, switch_time: Duration) {
        for observer in &self.0 {
            observer.verb_finished(result, switch_time);
        }
    }
}

/// A request, from outside the call, to hang it up. The call's actor abandons the verb in
/// progress (or interrupts the computing script), hangs up with the requested cause, and the
/// script stops as on any hangup (`on_hangup` runs).
#[derive(Debug, Default)]
pub struct HangupRequest {
    /// Whether `cause` is set: read before every verb, so it is an atomic, not the lock.
    asked: AtomicBool,
    cause: Mutex<Option<HangupCause>>,
    notify: Notify,
}

impl HangupRequest {
    /// Ask for the call to be hung up with `cause`. Returns false when a hangup was already
    /// asked for: the first cause stands.
    pub fn request(&self, cause: HangupCause) -> bool {
        let mut slot = self.cause.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_some() {
            return false;
        }
        *slot = Some(cause);
        self.asked.store(true, Ordering::Release);
        drop(slot);
        // A permit is stored when the actor is not waiting yet, so the request is never lost.
        self.notify.notify_one();
        true
    }

    /// The cause asked for, if a hangup was asked for.
    pub fn requested(&self) -> Option<HangupCause> {
        if !self.asked.load(Ordering::Acquire) {
            return None;
        }
        self.cause.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Wait until a hangup is asked for; its cause.
    pub async fn wait(&self) -> HangupCause {
        loop {
            if let Some(cause) = self.requested() {
                return cause;
            }
            self.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hangup_asked_for_before_anyone_waits_is_not_lost_and_the_first_cause_stands() {
        let request = HangupRequest::default();
        assert!(request.request(HangupCause::normal()));
        let busy = HangupCause::parse("USER_BUSY").expect("a known cause");
        assert!(!request.request(busy));
        assert_eq!(request.wait().await, HangupCause::normal());
    }
}
