//! `Journal`: what the simulated switch was asked to do, in order.

use std::fmt;
use std::sync::{Arc, Mutex};

pub use crate::call::transcript::Entry;

/// Most entries a journal keeps: a flow that runs away is stopped by the limits
/// (`max_verbs_without_progress`, `max_call_duration_s`), and this bounds its transcript even
/// when they are raised.
pub const MAX_ENTRIES: usize = 10_000;

/// Called with every entry as it is written.
type Observer = Arc<dyn Fn(&Entry) + Send + Sync>;

/// A shared, append-only record of a simulated call. Cloning shares it.
#[derive(Clone, Default)]
pub struct Journal {
    /// Boxed: a `Vec` grows to four slots at its first push, and an `Entry` is a few hundred
    /// bytes, which a call blocked in its first verbs would hold unused (measured: 0.8 KiB per
    /// call with 10,000 calls blocked in `ask`, BENCHMARKS.md).
    #[allow(clippy::vec_box)]
    entries: Arc<Mutex<Vec<Box<Entry>>>>,
    /// Set when the call needed the caller and the caller had nothing left to do.
    input_exhausted: Arc<std::sync::atomic::AtomicBool>,
    /// How many caller actions the call used up.
    actions_taken: Arc<std::sync::atomic::AtomicUsize>,
    /// Entries past `MAX_ENTRIES`, counted but not kept.
    dropped: Arc<std::sync::atomic::AtomicUsize>,
    observer: Option<Observer>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal").field("entries", &self.entries()).finish()
    }
}

impl Journal {
    /// An empty journal.
    pub fn new() -> Self {
        Journal::default()
    }

    /// An empty journal that also hands every entry to `observer` as it is written (the console
    /// prints them).
    pub fn observed(observer: impl Fn(&Entry) + Send + Sync + 'static) -> Self {
        Journal { observer: Some(Arc::new(observer)), ..Journal::default() }
    }

    /// Append an entry.
    pub fn push(&self, entry: Entry) {
        if let Some(observer) = &self.observer {
            observer(&entry);
        }
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() < MAX_ENTRIES {
            entries.push(Box::new(entry));
        } else {
            self.dropped.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
    }

    /// Entries written after the journal held `MAX_ENTRIES`, which it did not keep.
    pub fn dropped(&self) -> usize {
        self.dropped.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Note that the call waited for the caller when the caller's actions had run out.
    pub fn mark_input_exhausted(&self) {
        self.input_exhausted.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether the call ever waited for the caller after the caller's actions ran out.
    pub fn input_exhausted(&self) -> bool {
        self.input_exhausted.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Count one caller action used up.
    pub fn note_action_taken(&self) {
        self.actions_taken.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// How many caller actions the call used up.
    pub fn actions_taken(&self) -> usize {
        self.actions_taken.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A copy of every entry so far.
    pub fn entries(&self) -> Vec<Entry> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.iter().map(|entry| Entry::clone(entry)).collect()
    }

    /// The transcript as readable lines, one per entry, and a last line saying how many were
    /// not kept.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.entries().iter().map(ToString::to_string).collect();
        let dropped = self.dropped();
        if dropped > 0 {
            lines.push(format!("… and {dropped} more verbs, not kept (a transcript keeps {MAX_ENTRIES})"));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::call::{Command, Outcome};

    #[test]
    fn a_journal_keeps_a_bounded_transcript_and_says_how_much_it_left_out() {
        let journal = Journal::new();
        for _ in 0..MAX_ENTRIES + 5 {
            journal.push(Entry {
                at: Duration::ZERO,
                command: Command::Answer,
                origin: None,
                result: Ok(Outcome::Done),
            });
        }
        assert_eq!(journal.entries().len(), MAX_ENTRIES);
        assert_eq!(journal.dropped(), 5);
        let lines = journal.lines();
        assert_eq!(
            lines.last().map(String::as_str),
            Some("… and 5 more verbs, not kept (a transcript keeps 10000)")
        );
    }
}
