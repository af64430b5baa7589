//! `Journal`: what the simulated switch was asked to do, in order.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::call::{CallError, Command, Origin, Outcome, Prompt};

/// One executed command with its outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Virtual time since the call started.
    pub at: Duration,
    /// What the script asked for.
    pub command: Command,
    /// Where in the script.
    pub origin: Option<Origin>,
    /// What came of it.
    pub result: Result<Outcome, CallError>,
}

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

fn ms(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

impl Entry {
    /// The verb's main argument as plain text, for matching in scenarios: the prompts (speech
    /// without its `say:` prefix) joined with `, `, the text, the value, the targets, the
    /// extension, the cause.
    pub fn argument(&self) -> String {
        let prompts = |list: &[Prompt]| list.iter().map(Prompt::text).collect::<Vec<_>>().join(", ");
        match &self.command {
            Command::Answer | Command::PreAnswer | Command::Ring => String::new(),
            Command::Reject(cause) | Command::Hangup(cause) => cause.to_string(),
            Command::Play(list) => prompts(list),
            Command::Say(say) => say.text.clone(),
            Command::SayAs(say) => say.value.clone(),
            Command::Ask(ask) => prompts(&ask.prompts),
            Command::Dial(dial) => dial.targets.join(if dial.sequential { " | " } else { ", " }),
            Command::Record(record) => record.name.clone(),
            Command::Transfer(transfer) => match &transfer.context {
                Some(context) => format!("{} {context}", transfer.extension),
                None => transfer.extension.clone(),
            },
            Command::GetVar(name) => name.clone(),
            Command::SetVar { name, value } => format!("{name}={value}"),
            Command::SendDtmf(digits) => digits.to_string(),
            Command::Sleep(duration) => duration.as_millis().to_string(),
            Command::Execute { app, args } => format!("{app} {args}").trim_end().to_string(),
            Command::Http(request) => request.url.clone(),
            Command::Log(line) => line.text.clone(),
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = self.command.verb();
        match &self.command {
            Command::Answer | Command::PreAnswer | Command::Ring => write!(f, "{verb}")?,
            Command::Reject(cause) | Command::Hangup(cause) => write!(f, "{verb}: {cause}")?,
            Command::Play(prompts) => {
                let list: Vec<String> = prompts.iter().map(Prompt::shown).collect();
                write!(f, "{verb}: {}", list.join(", "))?
            }
            Command::Say(say) => write!(f, "{verb}: {:?}", say.text)?,
            Command::SayAs(say) => write!(f, "{verb}: {}", say.value)?,
            Command::Ask(ask) => {
                let list: Vec<String> = ask.prompts.iter().map(Prompt::shown).collect();
                write!(f, "{verb}: {}", list.join(", "))?
            }
            Command::Dial(dial) => {
                let joiner = if dial.sequential { " | " } else { ", " };
                write!(f, "{verb}: {}", dial.targets.join(joiner))?
            }
            Command::Record(record) => {
                write!(f, "{verb}: {} (max {})", record.name, ms(record.max_duration))?
            }
            Command::Transfer(transfer) => match &transfer.context {
                Some(context) => write!(f, "{verb}: {} {context}", transfer.extension)?,
                None => write!(f, "{verb}: {}", transfer.extension)?,
            },
            Command::GetVar(name) => write!(f, "{verb}: {name}")?,
            Command::SetVar { name, value } => write!(f, "{verb}: {name}={value}")?,
            Command::SendDtmf(digits) => write!(f, "{verb}: {digits}")?,
            Command::Sleep(duration) => write!(f, "{verb}: {}", ms(*duration))?,
            Command::Execute { app, args } => write!(f, "{verb}: {app} {args}")?,
            Command::Http(request) => write!(f, "{verb}: {} {}", request.method, request.url)?,
            Command::Log(line) => write!(f, "log {}: {}", line.level.as_str(), line.text)?,
        }
        match &self.result {
            Ok(Outcome::Ask(ask)) => {
                write!(f, " → {}", ask.status.as_str())?;
                if !ask.digits.is_empty() {
                    write!(f, " {:?}", ask.digits)?;
                }
            }
            Ok(Outcome::Dial(dial)) => {
                write!(f, " → {}", dial.status)?;
                if dial.duration > Duration::ZERO {
                    write!(f, " ({})", ms(dial.duration))?;
                }
            }
            Ok(Outcome::Record(record)) => {
                write!(f, " → {} {} ({})", record.status.as_str(), record.path, ms(record.duration))?
            }
            Ok(Outcome::Value(Some(value))) => write!(f, " → {value:?}")?,
            Ok(Outcome::Value(None)) => write!(f, " → unset")?,
            Ok(Outcome::Response(text)) if !text.is_empty() => write!(f, " → {text}")?,
            Ok(Outcome::Http(response)) => write!(f, " → {}", response.status)?,
            Ok(_) => {}
            Err(CallError::Hangup { cause }) => write!(f, " → caller hung up ({cause})")?,
            Err(CallError::Transferred) => write!(f, " → the call was transferred")?,
            Err(error) => write!(f, " → error: {error}")?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
